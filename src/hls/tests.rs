//! The origin's packaging side, fed through its tap with a synthetic FLV stream (real H.264
//! and AAC sequence headers from an ffmpeg-made file; frame payloads are opaque to the muxers),
//! on a clock the tests move by hand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use onair_amf::amf0::Amf0Value;
use onair_rtmp_proto::StreamName;

use super::*;

const AVC_SEQUENCE_HEADER: &str = "17000000000164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000468efbcb0fdf8f800";
const AAC_SEQUENCE_HEADER: &str = "af00120856e500";

fn hex(s: &str) -> Bytes {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect();
    Bytes::from(v)
}

fn video_frame(key: bool, n: u8) -> Bytes {
    let nal: [u8; 6] = if key {
        [0x65, 0x88, 0x84, n, 0x10, 0x20]
    } else {
        [0x41, 0x9a, 0x02, n, 0x10, 0x20]
    };
    let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 0, 0, 0, 6];
    v.extend_from_slice(&nal);
    Bytes::from(v)
}

fn audio_frame(n: u8) -> Bytes {
    let mut v = vec![0xaf, 0x01];
    v.extend(std::iter::repeat_n(n, 24));
    Bytes::from(v)
}

/// Time that passes only when a test says so. Wall-clock time starts at
/// 2026-11-26T10:00:00Z.
#[derive(Debug)]
struct ManualClock {
    /// Any instant: std has no other way to make one.
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

    fn advance(&self, by: Duration) {
        *lock(&self.elapsed) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *lock(&self.elapsed)
    }

    fn wall_clock(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_795_687_200_000) + *lock(&self.elapsed)
    }
}

fn origin(config: HlsConfig) -> (HlsOrigin, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let origin = HlsOrigin::with_clock(config, clock.clone()).unwrap_or_else(|e| panic!("{e}"));
    (origin, clock)
}

fn config(window: usize) -> HlsConfig {
    HlsConfig {
        segment_duration: Duration::from_secs(1),
        window,
        ..HlsConfig::default()
    }
}

fn published(s: &str) -> PublishedStream {
    PublishedStream::new(
        "live",
        StreamName::new(s, 64).unwrap_or_else(|e| panic!("{e}")),
    )
}

/// Feeds `seconds` of 30 fps video (a keyframe every second) and 44.1 kHz AAC, from `start_ms`.
fn feed(sink: &mut dyn TapSink, start_ms: u64, seconds: u64, audio: bool) {
    sink.media(TapMedia::Video, start_ms, &hex(AVC_SEQUENCE_HEADER));
    if audio {
        sink.media(TapMedia::Audio, start_ms, &hex(AAC_SEQUENCE_HEADER));
    }
    let mut next_audio = 0.0f64;
    for i in 0..seconds * 30 {
        let t = i * 1000 / 30;
        while audio && next_audio <= t as f64 {
            sink.media(
                TapMedia::Audio,
                start_ms + next_audio as u64,
                &audio_frame(i as u8),
            );
            next_audio += 1024.0 * 1000.0 / 44100.0;
        }
        sink.media(
            TapMedia::Video,
            start_ms + t,
            &video_frame(i % 30 == 0, i as u8),
        );
    }
}

fn playlist(origin: &HlsOrigin, app: &str, key: &str) -> String {
    let stream = origin
        .stream(app, key)
        .unwrap_or_else(|| panic!("no stream {app}/{key}"));
    let text = stream
        .lock()
        .by_playlist("index.m3u8")
        .and_then(|(_, r)| r.media_playlist())
        .unwrap_or_default();
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// A file of the stream as the origin would serve it now.
fn file(origin: &HlsOrigin, app: &str, key: &str, name: &str) -> Option<Bytes> {
    let stream = origin.stream(app, key)?;
    let data = stream
        .lock()
        .by_playlist("index.m3u8")
        .and_then(|(_, r)| r.file(name));
    data
}

fn segment_names(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_published_stream_becomes_a_live_playlist_of_ts_segments() {
    let (origin, _) = origin(config(3));
    let mut sink = origin
        .on_publish(&published("cam"))
        .unwrap_or_else(|| panic!("no sink"));
    sink.metadata(&[
        ("videocodecid".into(), Amf0Value::Number(7.0)),
        ("audiocodecid".into(), Amf0Value::Number(10.0)),
    ]);
    feed(sink.as_mut(), 0, 5, true);

    let text = playlist(&origin, "live", "cam");
    let summary =
        onair_hls_packager::check_media_playlist(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    let names = segment_names(&text);
    // 5 s with a keyframe every second: 4 closed 1 s segments, the window keeps the last 3
    assert_eq!(names.len(), 3, "{text}");
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{text}");
    assert!(!text.contains("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(summary.target_duration, 1, "{text}");
    let stream = origin
        .stream("live", "cam")
        .unwrap_or_else(|| panic!("stream"));
    {
        let state = stream.lock();
        for n in &names {
            let data = state
                .by_playlist("index.m3u8")
                .and_then(|(_, r)| r.file(n))
                .unwrap_or_else(|| panic!("{n} not stored"));
            assert_eq!(data.len() % 188, 0, "{n}");
            assert!(data.chunks(188).all(|p| p[0] == 0x47), "{n}");
        }
        let master = state.master();
        assert!(
            master.contains("CODECS=\"avc1.64001E,mp4a.40.2\""),
            "{master}"
        );
        assert!(master.contains("RESOLUTION=640x360"), "{master}");
    }

    // The publisher leaves: the open segment is closed, the playlist stays live (no
    // ENDLIST) for a new publisher, who continues it after a discontinuity.
    sink.end();
    drop(sink);
    let text = playlist(&origin, "live", "cam");
    let after = segment_names(&text);
    // the 5th second was flushed (0.999 s: so the window keeps 4 segments, as RFC 8216 6.2.2
    // forbids shrinking the playlist below three target durations)
    assert!(after.last().is_some_and(|n| n.ends_with("-4.ts")), "{text}");
    assert_eq!(after.len(), 4, "{text}");
    assert!(!text.contains("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(
        origin.streams(),
        vec![("live".to_owned(), "cam".to_owned())]
    );

    let mut sink = origin
        .on_publish(&published("cam"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 3, true);
    let text = playlist(&origin, "live", "cam");
    onair_hls_packager::check_media_playlist(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
}

#[test]
fn segment_names_differ_between_lives_of_a_name() {
    let mut c = config(3);
    c.linger = Duration::from_secs(2);
    let (origin, clock) = origin(c);
    let mut first = Vec::new();
    for round in 0..2 {
        let mut sink = origin
            .on_publish(&published("again"))
            .unwrap_or_else(|| panic!("no sink"));
        feed(sink.as_mut(), 0, 3, true);
        let names = segment_names(&playlist(&origin, "live", "again"));
        assert!(!names.is_empty());
        sink.end();
        if round == 0 {
            first = names;
            // the next publisher comes after the linger time: the stream was dropped
            clock.advance(Duration::from_secs(2));
            assert!(origin.streams().is_empty());
        } else {
            assert!(
                names.iter().all(|n| !first.contains(n)),
                "{first:?} {names:?}"
            );
        }
    }
}

#[test]
fn video_only_streams_announced_by_metadata_are_not_held_back() {
    let (origin, _) = origin(config(6));
    let mut sink = origin
        .on_publish(&published("vonly"))
        .unwrap_or_else(|| panic!("no sink"));
    sink.metadata(&[("videocodecid".into(), Amf0Value::Number(7.0))]);
    feed(sink.as_mut(), 0, 3, false);
    let text = playlist(&origin, "live", "vonly");
    assert_eq!(segment_names(&text).len(), 2, "{text}");

    // Without metadata the origin waits for an audio track, but only so long.
    let mut sink = origin
        .on_publish(&published("nometa"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 2, false);
    let stream = origin
        .stream("live", "nometa")
        .unwrap_or_else(|| panic!("stream"));
    assert!(
        stream
            .lock()
            .by_playlist("index.m3u8")
            .and_then(|(_, r)| r.media_playlist())
            .is_none(),
        "60 frames are held"
    );
    feed(sink.as_mut(), 2000, 4, false);
    let text = playlist(&origin, "live", "nometa");
    assert!(segment_names(&text).len() >= 3, "{text}");
}

#[test]
fn streams_beyond_the_limit_are_not_packaged_and_bad_media_is_skipped() {
    let mut c = config(6);
    c.max_streams = 1;
    let (origin, _) = origin(c);
    let mut sink = origin
        .on_publish(&published("one"))
        .unwrap_or_else(|| panic!("no sink"));
    assert!(origin.on_publish(&published("two")).is_none());
    // garbage before the real stream: refused by the demuxer / packager, not fatal
    sink.media(
        TapMedia::Video,
        0,
        &Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 99]),
    );
    sink.media(TapMedia::Audio, 0, &Bytes::from_static(&[0xff]));
    sink.media(TapMedia::Video, 0, &Bytes::new());
    feed(sink.as_mut(), 0, 3, true);
    let text = playlist(&origin, "live", "one");
    assert_eq!(segment_names(&text).len(), 2, "{text}");
}

#[test]
fn invalid_configurations_are_refused_up_front() {
    let parts_in_ts = HlsConfig {
        part_duration: Some(Duration::from_millis(300)), // parts need fMP4
        ..HlsConfig::default()
    };
    assert!(HlsOrigin::new(parts_in_ts).is_err());
    let zero = HlsConfig {
        segment_duration: Duration::ZERO,
        ..HlsConfig::default()
    };
    assert!(HlsOrigin::new(zero).is_err());
    assert!(HlsOrigin::new(HlsConfig::low_latency()).is_ok());
}

#[test]
fn a_segment_that_left_the_window_is_served_for_its_grace_period_then_gone() {
    let (origin, clock) = origin(config(3));
    let mut sink = origin
        .on_publish(&published("age"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 2, true);
    let first = segment_names(&playlist(&origin, "live", "age"))
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no segment after 2 s"));
    // 5 s: the fourth segment closed and the first left the window of three
    feed(sink.as_mut(), 2000, 3, true);
    let text = playlist(&origin, "live", "age");
    assert!(!segment_names(&text).contains(&first), "{text}");
    assert!(file(&origin, "live", "age", &first).is_some());

    // RFC 8216 6.2.2: (window + 2) declared target durations of 1 s. Expiry runs as media
    // comes in.
    clock.advance(Duration::from_millis(4999));
    feed(sink.as_mut(), 5000, 1, true);
    assert!(file(&origin, "live", "age", &first).is_some(), "gone early");
    clock.advance(Duration::from_millis(1));
    feed(sink.as_mut(), 6000, 1, true);
    assert!(
        file(&origin, "live", "age", &first).is_none(),
        "kept too long"
    );
    let text = playlist(&origin, "live", "age");
    for n in segment_names(&text) {
        assert!(
            file(&origin, "live", "age", &n).is_some(),
            "{n} listed, not served"
        );
    }
}

#[test]
fn a_stream_whose_publisher_left_lingers_then_goes() {
    let mut c = config(3);
    c.linger = Duration::from_secs(30);
    let (origin, clock) = origin(c);
    let mut sink = origin
        .on_publish(&published("gone"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 3, true);
    sink.end();
    drop(sink);
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(
        origin.streams(),
        vec![("live".to_owned(), "gone".to_owned())]
    );
    assert!(!playlist(&origin, "live", "gone").is_empty());
    clock.advance(Duration::from_millis(1));
    assert!(origin.streams().is_empty());
    assert!(origin.stream("live", "gone").is_none());

    // A stream that comes back within the linger time is not removed when it would have been.
    let mut sink = origin
        .on_publish(&published("back"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 2, true);
    sink.end();
    clock.advance(Duration::from_secs(20));
    let mut sink = origin
        .on_publish(&published("back"))
        .unwrap_or_else(|| panic!("no sink"));
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        origin.streams(),
        vec![("live".to_owned(), "back".to_owned())]
    );
    sink.end();
}

#[test]
fn program_date_time_and_segment_names_come_from_the_wall_clock() {
    let (origin, clock) = origin(config(3));
    clock.advance(Duration::from_millis(1500));
    let mut sink = origin
        .on_publish(&published("pdt"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 3, true);
    let text = playlist(&origin, "live", "pdt");
    assert!(
        text.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:01.500Z\n"),
        "{text}"
    );
    // named after the publish time in milliseconds, base 36
    let prefix = format!("{}-", base36(1_795_687_201_500));
    assert!(
        segment_names(&text).iter().all(|n| n.starts_with(&prefix)),
        "{prefix} {text}"
    );
}

#[test]
fn parked_requests_wake_when_published_or_when_the_publisher_leaves() {
    use tokio::sync::oneshot::error::TryRecvError::{Closed, Empty};
    let (origin, _) = origin(config(3));
    let mut sink = origin
        .on_publish(&published("wait"))
        .unwrap_or_else(|| panic!("no sink"));
    // 2 s: segment 0 closed at the keyframe of 1 s, segment 1 open
    feed(sink.as_mut(), 0, 2, true);
    let stream = origin
        .stream("live", "wait")
        .unwrap_or_else(|| panic!("stream"));
    assert!(
        stream.lock().park(0, 0, None).is_none(),
        "published already"
    );
    let Some((_, mut next)) = stream.lock().park(0, 1, None) else {
        panic!("segment 1 is open")
    };
    let Some((_, mut far)) = stream.lock().park(0, 3, None) else {
        panic!("segment 3 is to come")
    };
    let Some((timed_out, mut cancelled)) = stream.lock().park(0, 1, None) else {
        panic!("segment 1 is open")
    };
    stream.lock().cancel(0, timed_out);
    assert_eq!(cancelled.try_recv(), Err(Closed), "taken out, not woken");
    assert_eq!(next.try_recv(), Err(Empty));
    feed(sink.as_mut(), 2000, 1, true);
    assert_eq!(next.try_recv(), Ok(()), "segment 1 closed at 2 s");
    assert_eq!(far.try_recv(), Err(Empty));
    sink.end();
    assert_eq!(far.try_recv(), Ok(()), "the publisher left");
}

/// The sample `series` (name and labels exactly) of a `/metrics` text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_publication_counts_segments_and_listing_delays_into_its_series_until_it_ends() {
    let metrics = crate::metrics::Metrics::new();
    let (origin, clock) = origin(config(6));
    let origin = origin.with_metrics(metrics.clone());
    let mut sink = origin.on_publish(&published("m")).expect("packaged");
    // segments 0 and 1 are cut by the keyframes at 1 s and 2 s, on a clock that stands still
    feed(sink.as_mut(), 0, 3, true);
    clock.advance(Duration::from_millis(200));
    // the keyframe at 3 s cuts segment 2, 200 ms after its last frame arrived
    sink.media(TapMedia::Video, 3000, &video_frame(true, 90));
    let rendition = r#"{app="live",name="m",rendition="index.m3u8"}"#;
    let text = metrics.encode();
    assert_eq!(
        sample(&text, &format!("onair_hls_segments_total{rendition}")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "onair_hls_segment_latency_seconds_count"),
        Some(3.0)
    );
    let sum = sample(&text, "onair_hls_segment_latency_seconds_sum").unwrap_or(-1.0);
    assert!((sum - 0.2).abs() < 1e-9, "latency sum {sum}");
    assert_eq!(
        sample(
            &text,
            r#"onair_hls_segment_latency_seconds_bucket{le="0.128"}"#
        ),
        Some(2.0)
    );

    #[cfg(feature = "transcode")]
    {
        let stream = origin.stream("live", "m").expect("stream");
        let mut report = LadderReport::default();
        report.shed.push("720p".to_owned());
        report.dropped_frames = 7;
        report.lag = Duration::from_millis(400);
        report.max_lag = Duration::from_millis(2500);
        stream.lock().ladder = Some(report);
        let text = metrics.encode();
        let labels = r#"{app="live",name="m"}"#;
        assert_eq!(
            sample(
                &text,
                &format!("onair_ladder_shed_renditions_total{labels}")
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, &format!("onair_ladder_dropped_frames_total{labels}")),
            Some(7.0)
        );
        assert_eq!(
            sample(&text, &format!("onair_ladder_lag_seconds{labels}")),
            Some(0.4)
        );
        assert_eq!(
            sample(&text, &format!("onair_ladder_max_lag_seconds{labels}")),
            Some(2.5)
        );
    }

    sink.end();
    drop(sink);
    let text = metrics.encode();
    assert!(
        !text.contains(r#"name="m""#),
        "the stream's series outlived it:\n{text}"
    );
    assert!(metrics.streams().is_empty());
    // the stream itself lingers for a new publisher
    assert!(origin.stream("live", "m").is_some());
}

fn dvr_config(dvr_secs: u64) -> HlsConfig {
    HlsConfig {
        dvr: Some(Duration::from_secs(dvr_secs)),
        ..config(3)
    }
}

/// Seconds the playlist's EXTINFs add up to.
fn listed_secs(text: &str) -> f64 {
    onair_hls_packager::check_media_playlist(text)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"))
        .segments
        .iter()
        .map(|s| s.1)
        .sum()
}

#[test]
fn a_dvr_window_lists_its_duration_and_serves_what_left_it_through_the_grace() {
    let (origin, clock) = origin(dvr_config(20));
    let mut sink = origin
        .on_publish(&published("dvr"))
        .unwrap_or_else(|| panic!("no sink"));
    // a second of media per second of the clock
    sink.media(TapMedia::Video, 0, &hex(AVC_SEQUENCE_HEADER));
    let mut left: Vec<(String, Duration)> = Vec::new();
    let mut listed_before = Vec::new();
    for i in 0..60 * 30u64 {
        sink.media(
            TapMedia::Video,
            i * 1000 / 30,
            &video_frame(i % 30 == 0, i as u8),
        );
        if i % 30 == 29 {
            clock.advance(Duration::from_secs(1));
        }
        let listed = segment_names(&playlist(&origin, "live", "dvr"));
        for gone in listed_before.iter().filter(|n| !listed.contains(*n)) {
            left.push((String::clone(gone), origin.elapsed()));
        }
        listed_before = listed;
    }
    let text = playlist(&origin, "live", "dvr");
    assert_eq!(listed_secs(&text), 20.0, "{text}");
    assert_eq!(segment_names(&text).len(), 20, "{text}");
    // RFC 8216 6.2.2: a segment that left a playlist of 20 s stays for 20 s and two target
    // durations more
    let now = origin.elapsed();
    let grace = Duration::from_secs(22);
    assert!(left.len() >= 30, "{left:?}");
    for (segment, at) in &left {
        let served = file(&origin, "live", "dvr", segment).is_some();
        let due = *at + grace;
        // expiry runs as media arrives: within a frame (and a clock second) of its due time
        if now + Duration::from_secs(1) < due {
            assert!(served, "{segment} left at {at:?}, gone at {now:?}");
        } else if now > due + Duration::from_secs(1) {
            assert!(!served, "{segment} left at {at:?}, still served at {now:?}");
        }
    }
}

#[test]
fn a_dvr_window_within_the_byte_limit_keeps_the_live_window() {
    let mut c = dvr_config(60);
    // about 20 one-second segments of this synthetic stream
    c.dvr_max_bytes = 20 * 30 * 2 * 188;
    let (small, _) = origin(c);
    let mut sink = small
        .on_publish(&published("small"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 40, false);
    let stream = small
        .stream("live", "small")
        .unwrap_or_else(|| panic!("stream"));
    let (listed, bytes) = {
        let state = stream.lock();
        let (_, r) = state
            .by_playlist("index.m3u8")
            .unwrap_or_else(|| panic!("rendition"));
        (r.packager.listed_duration(), r.packager.listed_bytes())
    };
    assert!(bytes <= 20 * 30 * 2 * 188, "{bytes} listed");
    assert!(
        listed < Duration::from_secs(39) && listed >= Duration::from_secs(3),
        "{listed:?}"
    );

    // a limit below the live window keeps the live window
    let mut c = dvr_config(60);
    c.dvr_max_bytes = 1;
    let (tiny, _) = origin(c);
    let mut sink = tiny
        .on_publish(&published("tiny"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 20, false);
    let text = playlist(&tiny, "live", "tiny");
    assert_eq!(segment_names(&text).len(), 3, "{text}");
}

/// Files of a directory, by name.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn each_publication_is_recorded_as_vod() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (origin, clock) = origin(HlsConfig {
        vod: Some(VodConfig::new(dir.path())),
        ..config(3)
    });
    let mut lives = Vec::new();
    for seconds in [5, 3] {
        let mut sink = origin
            .on_publish(&published("rec"))
            .unwrap_or_else(|| panic!("no sink"));
        feed(sink.as_mut(), 0, seconds, true);
        let live = playlist(&origin, "live", "rec");
        sink.end();
        assert!(origin.flush_recordings(Duration::from_secs(10)));
        lives.push((seconds, live));
        clock.advance(Duration::from_secs(1));
    }
    let stream_dir = dir.path().join("live").join("rec");
    let recordings = files_in(&stream_dir);
    assert_eq!(recordings.len(), 2, "{recordings:?}");
    for ((seconds, live), recording) in lives.iter().zip(&recordings) {
        let path = stream_dir.join(recording);
        let text = std::fs::read_to_string(path.join("index.m3u8")).unwrap_or_default();
        let summary = onair_hls_packager::check_media_playlist(&text)
            .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert!(summary.ended, "{text}");
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
        assert!(!text.contains("DISCONTINUITY"), "{text}");
        // the whole publication, though the live window listed 3 s of it
        let secs = listed_secs(&text);
        assert!((secs - *seconds as f64).abs() < 0.05, "{secs} s:\n{text}");
        // every segment is on disk; the names are the live ones
        let names = segment_names(&text);
        assert_eq!(names.len(), *seconds as usize);
        let on_disk = files_in(&path);
        for n in &names {
            assert!(on_disk.contains(n), "{n} not in {on_disk:?}");
            let data = std::fs::read(path.join(n)).unwrap_or_default();
            assert!(!data.is_empty() && data.len() % 188 == 0);
        }
        // what the live playlist listed of this publication (after its discontinuity, for
        // the second) is in it
        let this_life = live
            .rsplit("#EXT-X-DISCONTINUITY\n")
            .next()
            .unwrap_or_default();
        let live_names = segment_names(this_life);
        assert!(!live_names.is_empty() && live_names.iter().all(|n| names.contains(n)));
        let master = std::fs::read_to_string(path.join("master.m3u8")).unwrap_or_default();
        assert!(
            master.contains("CODECS=\"avc1.64001E,mp4a.40.2\""),
            "{master}"
        );
        assert!(master.ends_with("\nindex.m3u8\n"), "{master}");
        assert_eq!(on_disk.len(), names.len() + 2, "{on_disk:?}");
    }
}

#[test]
fn a_recording_the_disk_cannot_take_is_dropped_not_waited_for() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut vod = VodConfig::new(dir.path());
    // less than a segment can wait for the disk
    vod.max_queued_bytes = 1000;
    let (origin, _) = origin(HlsConfig {
        vod: Some(vod),
        ..config(3)
    });
    let mut sink = origin
        .on_publish(&published("slow"))
        .unwrap_or_else(|| panic!("no sink"));
    feed(sink.as_mut(), 0, 5, true);
    // live packaging went on
    assert_eq!(segment_names(&playlist(&origin, "live", "slow")).len(), 3);
    sink.end();
    assert!(origin.flush_recordings(Duration::from_secs(10)));
    assert_eq!(
        files_in(&dir.path().join("live").join("slow")),
        Vec::<String>::new()
    );

    // a publication without media leaves no recording either
    let mut sink = origin
        .on_publish(&published("empty"))
        .unwrap_or_else(|| panic!("no sink"));
    sink.end();
    assert!(origin.flush_recordings(Duration::from_secs(10)));
    assert_eq!(
        files_in(&dir.path().join("live").join("empty")),
        Vec::<String>::new()
    );
}
