use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

use super::*;

/// The samples of `text` whose series name is `name`, as (labels, value).
fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (n == name).then(|| (labels.to_owned(), value.parse().unwrap_or(f64::NAN)))
        })
        .collect()
}

#[test]
fn a_streams_series_live_from_its_first_handle_to_its_last() {
    let m = Metrics::new();
    let a = m.stream("live", "studio");
    let b = m.stream("live", "studio");
    let rendition = a.rendition("index.m3u8", Duration::from_secs(6));
    rendition.segments.inc_by(3);
    let mut ingest = IngestMeter::new(&b, Instant::now());
    ingest.record(1000, Instant::now());
    let text = m.encode();
    assert_eq!(
        samples(&text, "onair_stream_ingest_bytes_total"),
        [(r#"app="live",name="studio""#.to_owned(), 1000.0)]
    );
    assert_eq!(
        samples(&text, "onair_hls_segments_total"),
        [(
            r#"app="live",name="studio",rendition="index.m3u8""#.to_owned(),
            3.0
        )]
    );
    assert_eq!(m.streams().len(), 1);
    assert_eq!(m.streams()[0].hls[0].segments, 3);

    drop(a);
    assert_eq!(
        samples(&m.encode(), "onair_stream_ingest_bytes_total").len(),
        1,
        "one handle is left"
    );
    drop(b);
    let text = m.encode();
    for name in [
        "onair_stream_ingest_bytes_total",
        "onair_stream_ingest_bits_per_second",
        "onair_stream_rtmp_players",
        "onair_hls_segments_total",
        "onair_hls_parts_total",
        "onair_hls_viewers",
    ] {
        assert!(
            samples(&text, name).is_empty(),
            "{name} after the end:\n{text}"
        );
    }
    assert!(m.streams().is_empty());
    // a new life of the name starts from zero
    let again = m.stream("live", "studio");
    assert_eq!(
        samples(&m.encode(), "onair_stream_ingest_bytes_total"),
        [(r#"app="live",name="studio""#.to_owned(), 0.0)]
    );
    drop(again);
    drop(rendition);
}

#[test]
fn families_of_other_parts_follow_the_stream() {
    let m = Metrics::new();
    let speed = m.stream_family::<Gauge<f64, std::sync::atomic::AtomicU64>>(
        "onair_transcode_speed",
        "Transcoding speed, times real time",
    );
    let s = m.stream("live", "a");
    s.series(&speed, Some("720p")).set(1.5);
    s.series(&speed, Some("480p")).set(2.25);
    let mut got = samples(&m.encode(), "onair_transcode_speed");
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (r#"app="live",name="a",rendition="480p""#.to_owned(), 2.25),
            (r#"app="live",name="a",rendition="720p""#.to_owned(), 1.5),
        ]
    );
    drop(s);
    assert!(samples(&m.encode(), "onair_transcode_speed").is_empty());
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    let _s = m.stream("live", "a\"b\\c");
    assert_eq!(
        samples(&m.encode(), "onair_stream_rtmp_players"),
        [(r#"app="live",name="a\"b\\c""#.to_owned(), 0.0)]
    );
}

#[test]
fn segments_parts_and_listing_delays_are_counted() {
    let m = Metrics::new();
    let s = m.stream("live", "a");
    let stats = s.rendition("index.m3u8", Duration::from_secs(6));
    let mut meter = RenditionMeter::default();
    // totals from before this publication are not counted
    meter.attach(stats, (5, 10));
    meter.drained((5, 11));
    meter.drained((5, 12));
    meter.drained((6, 13));
    meter.listed(Duration::from_millis(33));
    meter.drained((7, 13));
    meter.listed(Duration::from_millis(150));
    meter.detach();
    meter.drained((8, 14));
    meter.listed(Duration::from_millis(10));
    let info = &m.streams()[0].hls[0];
    assert_eq!((info.segments, info.parts), (2, 3));
    let text = m.encode();
    assert_eq!(
        samples(&text, "onair_hls_segment_latency_seconds_count"),
        [(String::new(), 2.0)]
    );
    let sum = samples(&text, "onair_hls_segment_latency_seconds_sum")[0].1;
    assert!((sum - 0.183).abs() < 1e-9, "33 ms + 150 ms: {sum}");
    let le = |bound: &str| {
        samples(&text, "onair_hls_segment_latency_seconds_bucket")
            .into_iter()
            .find(|(l, _)| l == &format!("le=\"{bound}\""))
            .map(|(_, v)| v)
    };
    assert_eq!(le("0.032"), Some(0.0));
    assert_eq!(le("0.064"), Some(1.0));
    assert_eq!(le("0.256"), Some(2.0));
}

#[test]
fn viewers_are_connections_seen_within_the_window() {
    let m = Metrics::new();
    let s = m.stream("live", "a");
    let r = s.rendition("index.m3u8", Duration::from_secs(6));
    let t = Instant::now();
    let table = &m.inner.streams;
    table.viewer("live", "a", "index.m3u8", 1, t);
    table.viewer("live", "a", "index.m3u8", 2, t);
    table.viewer("live", "a", "index.m3u8", 1, t + Duration::from_secs(4));
    table.viewer("live", "a", "other.m3u8", 3, t);
    table.viewer("live", "nobody", "index.m3u8", 4, t);
    let count = |at| lock(&r.viewers).count(at);
    assert_eq!(count(t + Duration::from_secs(5)), 2);
    assert_eq!(
        count(t + Duration::from_secs(7)),
        1,
        "2 was last seen 7 s ago"
    );
    assert_eq!(count(t + Duration::from_secs(11)), 0);
}

#[test]
fn http_answers_are_counted_by_status() {
    let m = Metrics::new();
    m.http().response(StatusCode::OK, 1000);
    m.http().response(StatusCode::OK, 24);
    m.http().response(StatusCode::NOT_FOUND, 0);
    let text = m.encode();
    let mut got = samples(&text, "onair_http_responses_total");
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (r#"status="200""#.to_owned(), 2.0),
            (r#"status="404""#.to_owned(), 1.0)
        ]
    );
    assert_eq!(
        samples(&text, "onair_http_sent_bytes_total"),
        [(String::new(), 1024.0)]
    );
    assert_eq!(samples(&text, "process_threads").len(), 1);
    assert!(samples(&text, "process_cpu_seconds_total")[0].1 >= 0.0);
}

#[test]
fn the_ingest_bit_rate_is_measured_over_about_a_second() {
    let m = Metrics::new();
    let s = m.stream("live", "a");
    let t = Instant::now();
    let mut meter = IngestMeter::new(&s, t);
    for i in 0..=50u32 {
        // 12.5 kB every 20 ms: 5 Mbit/s
        meter.record(12_500, t + Duration::from_millis(20 * u64::from(i)));
    }
    let info = &m.streams()[0];
    assert_eq!(info.ingest_bytes, 51 * 12_500);
    assert_eq!(info.ingest_bits_per_second, 5_100_000, "51 messages in 1 s");
}
