//! Where segments start and end: the live window, discontinuities, long GOPs, audio-only
//! streams, renditions joining late, and input the packager must refuse or survive.

use super::*;

#[test]
fn live_window_slides() {
    let mut p = Packager::new(PackagerConfig {
        kind: PlaylistKind::Live { window: 3 },
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    let mut last_seq = 0;
    for i in 0..150 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        for text in drain(&mut p, &mut store, &mut expired) {
            let s = check_media_playlist(&text).unwrap();
            assert!(s.media_sequence >= last_seq);
            assert!(s.segments.len() <= 3);
            last_seq = s.media_sequence;
        }
    }
    // Four segments closed (the fifth is open): seg0 left the window.
    assert_eq!(
        p.media_playlist(&PlaylistRequest::default()),
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"seginit0.mp4\"\n\
         #EXTINF:1.00000,\nseg1.m4s\n#EXTINF:1.00000,\nseg2.m4s\n#EXTINF:1.00000,\nseg3.m4s\n"
    );
    assert_eq!(expired, vec!["seg0.m4s".to_owned()]);
    assert!(store.get("seginit0.mp4").is_some());
    p.finish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    assert!(s.ended);
    assert_eq!(s.media_sequence, 2);
    assert_eq!(s.segments.last().map(|s| s.0.as_str()), Some("seg4.m4s"));
}

#[test]
fn republish_gives_discontinuity_and_new_map() {
    let mut p = Packager::new(PackagerConfig {
        kind: PlaylistKind::Live { window: 4 },
        target_duration: Duration::from_secs(2),
        ..PackagerConfig::default()
    })
    .unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    p.set_wallclock(1_795_687_200_000);
    p.add_track(video_track()).unwrap();
    for i in 0..120 {
        p.push_frame(vframe(i, 60, 0)).unwrap();
    }
    p.republish().unwrap();
    p.set_wallclock(1_795_687_210_000);
    p.add_track(video_track()).unwrap();
    // the new publisher's timestamps start again at zero
    for i in 0..61 {
        p.push_frame(vframe(i, 60, 0)).unwrap();
    }
    drain(&mut p, &mut store, &mut expired);
    assert_eq!(
        p.media_playlist(&PlaylistRequest::default()),
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"seginit0.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000Z\n#EXTINF:2.00000,\nseg0.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:02.000Z\n#EXTINF:2.00000,\nseg1.m4s\n\
         #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"seginit1.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:10.000Z\n#EXTINF:2.00000,\nseg2.m4s\n"
    );
    // Slide the window past the discontinuity: the sequence counts the removed tag.
    for i in 61..400 {
        p.push_frame(vframe(i, 60, 0)).unwrap();
    }
    drain(&mut p, &mut store, &mut expired);
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    assert_eq!(s.discontinuity_sequence, 1);
    assert!(s.segments.iter().all(|s| !s.2));
    assert!(expired.contains(&"seginit0.mp4".to_owned()));
}

#[test]
fn timestamp_jump_and_backwards_step_are_discontinuities() {
    let mut p = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        kind: PlaylistKind::Event,
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..60 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
    }
    for i in 0..60 {
        p.push_frame(vframe(i, 30, 90_000 * 100)).unwrap();
    }
    for i in 0..60 {
        p.push_frame(vframe(i, 30, 90_000 * 50)).unwrap();
    }
    p.finish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    let text = p.media_playlist(&PlaylistRequest::default());
    let s = check_media_playlist(&text).unwrap();
    let disc: Vec<bool> = s.segments.iter().map(|s| s.2).collect();
    assert_eq!(disc, vec![false, false, true, false, true, false], "{text}");
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    let seg = store.get("seg0.ts").unwrap();
    assert_eq!(seg.len() % 188, 0);
    assert_eq!(seg[0], 0x47);
    assert!(expired.is_empty());
}

#[test]
fn long_gop_raises_target_duration() {
    let mut p = Packager::new(PackagerConfig {
        kind: PlaylistKind::Vod,
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..200 {
        p.push_frame(vframe(i, 75, 0)).unwrap();
    }
    p.finish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    assert_eq!(s.target_duration, 3);
    assert_eq!(
        s.segments.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![2.5, 2.5, 1.66667]
    );
}

#[test]
fn audio_only_cuts_by_time() {
    let mut p = Packager::new(PackagerConfig {
        target_duration: Duration::from_secs(2),
        kind: PlaylistKind::Vod,
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(audio_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..235 {
        p.push_frame(aframe(i)).unwrap();
    }
    p.finish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    assert_eq!(s.segments.len(), 3);
    assert!(s.segments.iter().all(|s| s.1 <= 2.1));
    let total: f64 = s.segments.iter().map(|s| s.1).sum();
    assert!((total - 235.0 * 1024.0 / 48_000.0).abs() < 0.001);
}

#[test]
fn renditions_cut_at_the_same_pts_even_when_joining_late() {
    let run = |from: i64| {
        let mut p = Packager::new(PackagerConfig {
            target_duration: Duration::from_secs(2),
            kind: PlaylistKind::Vod,
            ..PackagerConfig::default()
        })
        .unwrap();
        p.add_track(video_track()).unwrap();
        for i in from..300 {
            p.push_frame(vframe(i, 30, 0)).unwrap();
        }
        p.finish().unwrap();
        let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
        drain(&mut p, &mut store, &mut expired);
        let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
        // segment end times, in seconds
        s.segments
            .iter()
            .scan(from as f64 / 30.0, |t, s| {
                *t += s.1;
                Some((*t * 1000.0).round() as i64)
            })
            .collect::<Vec<_>>()
    };
    let full = run(0);
    let late = run(30);
    assert_eq!(full, vec![2000, 4000, 6000, 8000, 10000]);
    assert_eq!(late, full);
}

#[test]
fn live_window_keeps_three_target_durations() {
    let mut p = Packager::new(PackagerConfig {
        kind: PlaylistKind::Live { window: 1 },
        ..PackagerConfig::low_latency()
    })
    .unwrap();
    assert_eq!(p.config().part_duration, Some(Duration::from_millis(334)));
    p.add_track(video_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..300 {
        p.push_frame(vframe(i, 15, 0)).unwrap();
        drain(&mut p, &mut store, &mut expired);
    }
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    assert_eq!(s.segments.len(), 3);
    assert_eq!(s.media_sequence, 6);
}

#[test]
fn extreme_timestamps_do_not_panic() {
    for format in [SegmentFormat::Ts, SegmentFormat::Fmp4] {
        let mut p = Packager::new(PackagerConfig {
            format,
            part_duration: (format == SegmentFormat::Fmp4).then(|| Duration::from_millis(200)),
            ..PackagerConfig::default()
        })
        .unwrap();
        p.add_track(video_track()).unwrap();
        p.add_track(audio_track()).unwrap();
        for (i, dts) in [0, i64::MAX, i64::MIN, i64::MAX - 1, -5, i64::MIN + 1, 7]
            .into_iter()
            .enumerate()
        {
            let mut f = vframe(0, 1, 0);
            f.dts = dts;
            f.pts = dts.wrapping_neg();
            p.push_frame(f).unwrap();
            let mut a = aframe(0);
            a.dts = dts.wrapping_add(i as i64);
            p.push_frame(a).unwrap();
        }
        p.finish().unwrap();
        let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
        drain(&mut p, &mut store, &mut expired);
    }
}

#[test]
fn rejects_bad_configurations_and_unknown_tracks() {
    let ll_ts = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        part_duration: Some(Duration::from_millis(300)),
        ..PackagerConfig::default()
    });
    assert!(matches!(ll_ts, Err(Error::InvalidConfig { .. })));
    let mut p = Packager::new(PackagerConfig::default()).unwrap();
    assert_eq!(
        p.push_frame(vframe(0, 30, 0)),
        Err(Error::UnknownTrack { track: 0 })
    );
    p.finish().unwrap();
    assert_eq!(p.add_track(video_track()), Err(Error::Finished));
}

/// Renditions with the same keyframes but different decode delays (B-frames or not) cut
/// at the same presentation times and list the same EXTINF: segments are measured from
/// each keyframe's PTS, not its DTS.
#[test]
fn renditions_with_and_without_b_frames_cut_alike() {
    let playlist = |b_frame_delay: i64, format: SegmentFormat| {
        let mut p = Packager::new(PackagerConfig {
            format,
            target_duration: Duration::from_secs(2),
            kind: PlaylistKind::Vod,
            ..PackagerConfig::default()
        })
        .unwrap();
        p.add_track(video_track()).unwrap();
        p.add_track(audio_track()).unwrap();
        let mut store = MemoryStore::default();
        let mut a = 0;
        for i in 0..300 {
            // Keyframes every second for 2 s segments; with B-frames, DTS run
            // `b_frame_delay` frames behind PTS (a stream starting at PTS 0 has negative
            // DTS, as x264 gives), so a keyframe at a boundary has its DTS before it.
            let mut f = vframe(i, 30, 0);
            f.dts -= b_frame_delay * 3000;
            p.push_frame(f).unwrap();
            while aframe(a).pts_time().as_secs_f64() < (i + 1) as f64 / 30.0 {
                p.push_frame(aframe(a)).unwrap();
                a += 1;
            }
            drain(&mut p, &mut store, &mut Vec::new());
        }
        p.finish().unwrap();
        drain(&mut p, &mut store, &mut Vec::new());
        let text = p.media_playlist(&PlaylistRequest::default());
        text.lines()
            .filter(|l| l.starts_with("#EXTINF"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for format in [SegmentFormat::Ts, SegmentFormat::Fmp4] {
        let plain = playlist(0, format);
        assert_eq!(plain, vec!["#EXTINF:2.00000,".to_owned(); 5]);
        assert_eq!(playlist(2, format), plain, "{format:?}");
    }
}
