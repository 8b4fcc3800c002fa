//! DVR windows (a duration of media, whatever the GOP), the early expiry a memory limit asks
//! for, and the archive that ends a live stream as a VOD playlist.

use super::*;

fn dvr_packager(secs: u64, target: u64) -> Packager {
    let mut p = Packager::new(PackagerConfig {
        kind: PlaylistKind::Dvr {
            duration: Duration::from_secs(secs),
        },
        target_duration: Duration::from_secs(target),
        archive_limit: 1000,
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    p
}

/// Seconds the playlist lists, by its own EXTINFs.
fn listed_secs(p: &Packager) -> f64 {
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
    s.segments.iter().map(|s| s.1).sum()
}

#[test]
fn a_dvr_window_is_a_duration_whatever_the_gop() {
    // 1 s target: with a 1 s GOP, 20 segments of 1 s; with a 4 s GOP, 5 segments of 4 s
    for (gop, segments) in [(30, 20), (120, 5)] {
        let mut p = dvr_packager(20, 1);
        let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
        for i in 0..60 * 30 {
            p.push_frame(vframe(i, gop, 0)).unwrap();
            drain(&mut p, &mut store, &mut expired);
            assert!(listed_secs(&p) <= 20.0 + 1e-6);
        }
        let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default())).unwrap();
        assert_eq!(s.segments.len(), segments, "GOP of {gop} frames");
        assert!((listed_secs(&p) - 20.0).abs() < 1e-6);
        assert_eq!(p.listed_duration(), Duration::from_secs(20));
        // what left the window was announced, oldest first
        let gop_secs = gop as u64 / 30;
        let closed = 60 / gop_secs - 1;
        assert_eq!(expired.len() as u64, closed - segments as u64);
        assert_eq!(expired.first().map(String::as_str), Some("seg0.m4s"));
        // the listed bytes are what the store holds for the listed segments
        let held: u64 = s
            .segments
            .iter()
            .map(|(uri, _, _)| store.get(uri).map_or(0, |b| b.len() as u64))
            .sum();
        assert_eq!(p.listed_bytes(), held);
    }
}

#[test]
fn expiring_early_keeps_the_floor() {
    let mut p = dvr_packager(60, 1);
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..30 * 30 + 1 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
    }
    drain(&mut p, &mut store, &mut expired);
    assert_eq!(listed_secs(&p), 30.0);
    let before = p.listed_bytes();
    assert!(p.expire_oldest(10));
    let played = drain(&mut p, &mut store, &mut expired);
    assert_eq!(played.len(), 1, "the playlist changed");
    assert_eq!(expired, ["seg0.m4s"]);
    assert!(p.listed_bytes() < before);
    let mut removed = 1;
    while p.expire_oldest(10) {
        removed += 1;
    }
    assert_eq!(removed, 20, "down to the 10 segments asked to keep");
    assert_eq!(listed_secs(&p), 10.0);
    // never below three target durations, whatever is asked
    while p.expire_oldest(0) {}
    assert_eq!(listed_secs(&p), 3.0);
    // a VOD playlist is never shortened
    let mut vod = Packager::new(PackagerConfig {
        kind: PlaylistKind::Vod,
        ..PackagerConfig::default()
    })
    .unwrap();
    vod.add_track(video_track()).unwrap();
    for i in 0..10 * 30 + 1 {
        vod.push_frame(vframe(i, 30, 0)).unwrap();
    }
    assert!(!vod.expire_oldest(0));
}

#[test]
fn the_archive_is_a_vod_playlist_of_a_publication() {
    let mut p = dvr_packager(3, 1);
    p.set_wallclock(1_795_687_200_000);
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    assert_eq!(p.archive_playlist(), Ok(None));
    for i in 0..6 * 30 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        drain(&mut p, &mut store, &mut expired);
    }
    p.republish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    // the live window lists 3 s, the archive every segment of the publication
    assert_eq!(listed_secs(&p), 3.0);
    let vod = p.archive_playlist().unwrap().unwrap();
    assert_eq!(
        vod,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"seginit0.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000Z\n#EXTINF:1.00000,\nseg0.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:01.000Z\n#EXTINF:1.00000,\nseg1.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:02.000Z\n#EXTINF:1.00000,\nseg2.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:03.000Z\n#EXTINF:1.00000,\nseg3.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:04.000Z\n#EXTINF:1.00000,\nseg4.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:05.000Z\n#EXTINF:1.00000,\nseg5.m4s\n\
         #EXT-X-ENDLIST\n"
    );
    let summary = check_media_playlist(&vod).unwrap();
    assert!(summary.ended);
    // the next publication is archived apart, without the discontinuity it starts with live
    p.restart_archive();
    assert_eq!(p.archive_playlist(), Ok(None));
    p.set_wallclock(1_795_687_300_000);
    p.add_track(video_track()).unwrap();
    for i in 0..3 * 30 + 1 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        drain(&mut p, &mut store, &mut expired);
    }
    let live = p.media_playlist(&PlaylistRequest::default());
    assert!(live.contains("#EXT-X-DISCONTINUITY\n"), "{live}");
    let second = p.archive_playlist().unwrap().unwrap();
    assert!(!second.contains("DISCONTINUITY"), "{second}");
    assert!(second.starts_with(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:6\n"
    ));
    assert!(second.contains("#EXT-X-MAP:URI=\"seginit1.mp4\"\n"));
    assert_eq!(check_media_playlist(&second).unwrap().segments.len(), 3);
}

#[test]
fn an_archive_past_its_limit_is_given_up() {
    let mut p = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        archive_limit: 4,
        part_duration: None,
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    for i in 0..4 * 30 + 1 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
    }
    assert!(p.archive_playlist().unwrap().is_some());
    for i in 4 * 30 + 1..6 * 30 + 1 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
    }
    assert_eq!(p.archive_playlist(), Err(Error::ArchiveFull { limit: 4 }));
    p.restart_archive();
    assert_eq!(p.archive_playlist(), Ok(None));
}

#[test]
fn a_dvr_window_of_zero_is_refused() {
    let refused = Packager::new(PackagerConfig {
        kind: PlaylistKind::Dvr {
            duration: Duration::ZERO,
        },
        ..PackagerConfig::default()
    });
    assert!(matches!(refused, Err(Error::InvalidConfig { .. })));
}
