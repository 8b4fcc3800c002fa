//! Low-Latency HLS: parts, preload hints, rendition reports, blocking reload and delta
//! updates.

use super::*;

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
    assert_m3u8_rs_agrees(&p, &request, &text);
    let listed = |tag: &str| text.lines().filter(|l| l.starts_with(tag)).count() as u64;
    assert_eq!(
        (p.segments_published(), p.parts_published()),
        (listed("#EXTINF:"), listed("#EXT-X-PART:")),
        "the totals count what the playlist lists"
    );
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
    let delta_request = PlaylistRequest {
        skip: true,
        rendition_reports: Vec::new(),
    };
    let delta_text = p.media_playlist(&delta_request);
    let delta = check_media_playlist(&delta_text).unwrap();
    assert_m3u8_rs_agrees(&p, &delta_request, &delta_text);
    assert_eq!(full.segments.len(), 9);
    // Segments ending 6 s or more before the end (9 s) are skipped: seg0..seg2.
    assert_eq!(delta.skipped, 3, "{delta_text}");
    assert_eq!(delta.segments[..], full.segments[3..]);
    assert!(delta_text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXT-X-MAP:"));
    // Parts are listed only for the last three target durations.
    assert_eq!(full.parts, 3 * 3);
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
