//! Golden playlists and behaviour of the packager on synthetic streams, each checked against
//! the RFC 8216 / 8216bis rules by `check_media_playlist`.

use std::time::Duration;

use bytes::Bytes;
use hex_literal::hex;
use onair_media_types::{AacConfig, AvcConfig, CodecConfig, CodecId, Frame, TrackId, TrackInfo};

use crate::*;

fn video_track() -> TrackInfo {
    let sps = hex!("6764000dacd94141fb0110000003001000000303c0f1429960");
    let mut rec = vec![1, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0, sps.len() as u8];
    rec.extend_from_slice(&sps);
    rec.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
    TrackInfo {
        id: TrackId(0),
        timescale: 90_000,
        config: CodecConfig::Avc(AvcConfig::parse(Bytes::from(rec)).unwrap()),
    }
}

fn audio_track() -> TrackInfo {
    TrackInfo {
        id: TrackId(1),
        timescale: 48_000,
        config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
    }
}

/// Video frame `i` of a 30 fps stream with a keyframe every `gop` frames.
fn vframe(i: i64, gop: i64, offset: i64) -> Frame {
    let key = i % gop == 0;
    Frame {
        track: TrackId(0),
        codec: CodecId::H264,
        timescale: 90_000,
        dts: offset + i * 3000,
        pts: offset + i * 3000,
        keyframe: key,
        data: Bytes::from_static(if key {
            &[0, 0, 0, 2, 0x65, 0x88]
        } else {
            &[0, 0, 0, 2, 0x41, 0x9a]
        }),
    }
}

fn aframe(i: i64) -> Frame {
    Frame {
        track: TrackId(1),
        codec: CodecId::Aac,
        timescale: 48_000,
        dts: i * 1024,
        pts: i * 1024,
        keyframe: true,
        data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]),
    }
}

/// Drains events into a memory store; returns every playlist rendered on a change.
fn drain(p: &mut Packager, store: &mut MemoryStore, expired: &mut Vec<String>) -> Vec<String> {
    let mut playlists = Vec::new();
    while let Some(e) = p.poll_event() {
        match e {
            Event::File { name, data } => store.put(&name, data).unwrap(),
            Event::PlaylistChanged => {
                let text = p.media_playlist(&PlaylistRequest::default());
                check_media_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
                playlists.push(text);
            }
            Event::Expired { name } => expired.push(name),
        }
    }
    playlists
}

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

fn ll_packager() -> Packager {
    let mut p = Packager::new(PackagerConfig {
        target_duration: Duration::from_secs(1),
        part_duration: Some(Duration::from_millis(334)),
        kind: PlaylistKind::Live { window: 10 },
        ..PackagerConfig::default()
    })
    .unwrap();
    p.set_wallclock(1_795_687_200_000);
    p.add_track(video_track()).unwrap();
    p.add_track(audio_track()).unwrap();
    p
}

/// Pushes `secs` seconds of interleaved audio and video.
fn push_av(p: &mut Packager, from_video: i64, to_video: i64) {
    let mut a = from_video * 3000 * 48_000 / 90_000 / 1024;
    for i in from_video..to_video {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        while a * 1024 * 90_000 / 48_000 < (i + 1) * 3000 {
            p.push_frame(aframe(a)).unwrap();
            a += 1;
        }
    }
}

#[test]
fn low_latency_parts_preload_hint_and_reports() {
    let mut p = ll_packager();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    push_av(&mut p, 0, 41);
    drain(&mut p, &mut store, &mut expired);
    let mut other = ll_packager();
    push_av(&mut other, 0, 21);
    let request = PlaylistRequest {
        skip: false,
        rendition_reports: vec![RenditionReport::of(&other, "../low/index.m3u8").unwrap()],
    };
    let text = p.media_playlist(&request);
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,PART-HOLD-BACK=1.002,HOLD-BACK=3.0\n\
         #EXT-X-PART-INF:PART-TARGET=0.33400\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MAP:URI=\"seginit0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000Z\n\
         #EXT-X-PART:DURATION=0.33333,URI=\"seg0.0.m4s\",INDEPENDENT=YES\n\
         #EXT-X-PART:DURATION=0.33333,URI=\"seg0.1.m4s\"\n\
         #EXT-X-PART:DURATION=0.33333,URI=\"seg0.2.m4s\"\n\
         #EXTINF:1.00000,\nseg0.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:01.000Z\n\
         #EXT-X-PART:DURATION=0.33333,URI=\"seg1.0.m4s\",INDEPENDENT=YES\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg1.1.m4s\"\n\
         #EXT-X-RENDITION-REPORT:URI=\"../low/index.m3u8\",LAST-MSN=0,LAST-PART=1\n"
    );
    check_media_playlist(&text).unwrap();
    // Blocking reload: what is published and what is not yet.
    assert!(p.is_published(0, Some(2)));
    assert!(p.is_published(1, Some(0)));
    assert!(!p.is_published(1, Some(1)));
    assert!(!p.is_published(2, None));
    let mut waiters = ReloadWaiters::default();
    assert_eq!(waiters.wait(&p, 1, Some(0), "a"), ReloadWait::Ready("a"));
    assert!(matches!(
        waiters.wait(&p, 1, None, "c"),
        ReloadWait::Parked(_)
    ));
    assert!(matches!(
        waiters.wait(&p, 1, Some(1), "b"),
        ReloadWait::Parked(_)
    ));
    let ReloadWait::Parked(timed_out) = waiters.wait(&p, 1, Some(1), "d") else {
        panic!("part 1 of segment 1 is not published yet")
    };
    assert_eq!(waiters.cancel(timed_out), Some("d"));
    assert_eq!(waiters.poll_ready(&p), None);
    push_av(&mut p, 41, 51);
    assert_eq!(waiters.poll_ready(&p), Some("b"));
    assert_eq!(waiters.poll_ready(&p), None);
    push_av(&mut p, 51, 61);
    assert_eq!(waiters.poll_ready(&p), Some("c"));
    assert!(matches!(
        waiters.wait(&p, 3, None, "e"),
        ReloadWait::Parked(_)
    ));
    assert_eq!(waiters.release_all().collect::<Vec<_>>(), ["e"]);
    assert!(waiters.is_empty());
    // A part is one fragment; the segment is its parts back to back.
    drain(&mut p, &mut store, &mut expired);
    let parts: Vec<u8> = (0..3)
        .flat_map(|i| store.get(&format!("seg0.{i}.m4s")).unwrap().to_vec())
        .collect();
    assert_eq!(store.get("seg0.m4s").unwrap().as_ref(), parts.as_slice());
    assert_eq!(&parts[4..8], b"moof");
}

#[test]
fn low_latency_delta_update_skips_old_segments() {
    let mut p = ll_packager();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    push_av(&mut p, 0, 30 * 9 + 5);
    drain(&mut p, &mut store, &mut expired);
    let full = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    let delta_text = p.media_playlist(&PlaylistRequest {
        skip: true,
        rendition_reports: Vec::new(),
    });
    let delta = check_media_playlist(&delta_text).unwrap();
    assert_eq!(full.segments.len(), 9);
    // Segments ending 6 s or more before the end (9 s) are skipped: seg0..seg2.
    assert_eq!(delta.skipped, 3, "{delta_text}");
    assert_eq!(delta.segments[..], full.segments[3..]);
    assert!(delta_text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXT-X-MAP:"));
    // Parts are listed only for the last three target durations.
    assert_eq!(full.parts, 3 * 3);
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
fn encrypted_segments_carry_key_and_iv() {
    let mut p = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        kind: PlaylistKind::Vod,
        encryption: Some(EncryptionConfig {
            rotate_every: 2,
            keys: Box::new(|period: u64| AesKey {
                key: [period as u8; 16],
                uri: format!("key{period}.bin"),
            }),
        }),
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..90 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
    }
    p.finish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    let text = p.media_playlist(&PlaylistRequest::default());
    assert!(text.contains(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key0.bin\",IV=0x00000000000000000000000000000000\n"
    ));
    assert!(text.contains(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key0.bin\",IV=0x00000000000000000000000000000001\n"
    ));
    assert!(text.contains(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key1.bin\",IV=0x00000000000000000000000000000002\n"
    ));
    let seg = store.get("seg0.ts").unwrap();
    assert_eq!(seg.len() % 16, 0);
    assert_ne!(seg[0], 0x47);
}

#[test]
fn master_playlist_from_measurements() {
    let mut p = ll_packager();
    push_av(&mut p, 0, 91);
    let info = p.variant_info();
    assert_eq!(info.codecs, "avc1.64000D,mp4a.40.2");
    assert_eq!(info.resolution, Some((320, 240)));
    assert_eq!(info.frame_rate.map(|f| f.round()), Some(30.0));
    assert!(info.bandwidth >= info.average_bandwidth && info.average_bandwidth > 0);
    let text = master_playlist(&[Variant {
        uri: "hi/index.m3u8".into(),
        info,
    }]);
    assert!(text.contains("CODECS=\"avc1.64000D,mp4a.40.2\",RESOLUTION=320x240,FRAME-RATE=30.000"));
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

#[test]
fn retention_waits_for_the_grace_period() {
    let mut r = Retention::new(Duration::from_secs(10));
    let target = Duration::from_secs(1);
    r.expire(Duration::from_secs(5), "a.ts".into(), target);
    r.expire(Duration::from_secs(6), "b.ts".into(), target);
    assert_eq!(r.poll_due(Duration::from_secs(14)), None);
    assert_eq!(r.poll_due(Duration::from_secs(15)), Some("a.ts".into()));
    assert_eq!(r.poll_due(Duration::from_secs(15)), None);
    assert_eq!(r.poll_timeout(), Some(Duration::from_secs(16)));
}

#[test]
fn fs_store_renames_into_place() {
    let dir = std::env::temp_dir().join(format!("hls-fs-store-{}", std::process::id()));
    let mut s = FsStore::new(&dir).unwrap();
    s.put("a.m3u8", Bytes::from_static(b"#EXTM3U\n")).unwrap();
    assert_eq!(std::fs::read(dir.join("a.m3u8")).unwrap(), b"#EXTM3U\n");
    assert!(!dir.join(".a.m3u8.tmp").exists());
    assert!(s.put("../x", Bytes::new()).is_err());
    s.remove("a.m3u8").unwrap();
    s.remove("a.m3u8").unwrap();
    assert!(!dir.join("a.m3u8").exists());
    std::fs::remove_dir_all(dir).unwrap();
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
fn files_are_deleted_only_after_leaving_the_playlist_and_the_grace_period() {
    let dir = std::env::temp_dir().join(format!("hls-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = FsStore::new(&dir).unwrap();
    let mut p = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        kind: PlaylistKind::Live { window: 3 },
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let grace = Duration::from_secs(4);
    let mut retention = Retention::new(grace);
    let mut left_at = std::collections::HashMap::new();
    for i in 0..600 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        // media time is wall time here: 30 frames a second
        let now = Duration::from_millis(i as u64 * 1000 / 30);
        drive(&mut p, &mut store, &mut retention, "index.m3u8", now).unwrap();
        let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap_or_default();
        for msn in 0..20u64 {
            let name = format!("seg{msn}.ts");
            let listed = text.lines().any(|l| l == name);
            let exists = dir.join(&name).exists();
            if listed {
                assert!(exists, "{name} listed but missing");
            } else if msn < p.media_sequence() {
                left_at.entry(msn).or_insert(now);
            }
            if let Some(left) = left_at.get(&msn) {
                if now < *left + grace - Duration::from_millis(40) {
                    assert!(exists, "{name} deleted before its grace period ended");
                }
            }
        }
    }
    // By the end, the early segments are gone and the window's are there.
    assert!(!dir.join("seg0.ts").exists());
    assert!(dir.join("seg18.ts").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn low_latency_republish_tags_come_before_the_open_parts() {
    let mut p = ll_packager();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    push_av(&mut p, 0, 45);
    p.republish().unwrap();
    p.set_wallclock(1_795_687_260_000);
    p.add_track(video_track()).unwrap();
    p.add_track(audio_track()).unwrap();
    push_av(&mut p, 0, 11);
    drain(&mut p, &mut store, &mut expired);
    let text = p.media_playlist(&PlaylistRequest::default());
    check_media_playlist(&text).unwrap();
    assert!(
        text.ends_with(
            "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"seginit1.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:01:00.000Z\n\
             #EXT-X-PART:DURATION=0.33333,URI=\"seg2.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg2.1.m4s\"\n"
        ),
        "{text}"
    );
}
