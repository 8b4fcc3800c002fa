//! What m3u8-rs reads in a rendered playlist must be what the packager's segment model
//! holds: same segments (URI, media sequence number, duration, discontinuity, key and IV,
//! map, date-time), same parts, same header values. `onair_testkit::m3u8` also checks the
//! rules every playlist keeps (rounded `EXTINF` within the target duration, parts adding up
//! to their segment).

use onair_testkit::m3u8::{read_master, read_media, SegmentView};

use super::*;
use crate::packager::{Part, Segment};

/// Seconds as m3u8-rs reads them (`f32`) against the packager's (`f64`, five decimals).
fn same_secs(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-5
}

fn same_parts(view: &[onair_testkit::m3u8::PartView], model: &[Part]) -> bool {
    view.len() == model.len()
        && view.iter().zip(model).all(|(v, m)| {
            v.uri == m.uri && v.independent == m.independent && same_secs(v.duration, m.duration)
        })
}

fn assert_segment(view: &SegmentView, model: &Segment, text: &str) {
    assert_eq!(view.uri, model.uri, "{text}");
    assert_eq!(view.msn, model.msn, "{}: {text}", view.uri);
    assert!(
        same_secs(view.duration, model.duration),
        "{}: m3u8-rs reads {} s, the packager has {} s:\n{text}",
        view.uri,
        view.duration,
        model.duration
    );
    assert_eq!(
        view.discontinuity, model.discontinuity,
        "{}: {text}",
        view.uri
    );
    let key = model
        .key
        .as_ref()
        .map(|k| (k.uri.clone(), Some(format!("0x{:032X}", k.iv))));
    assert_eq!(view.key, key, "{}: {text}", view.uri);
    // RFC 8216 5.2: without an explicit IV the media sequence number is the IV; ours is too.
    if let Some(k) = &model.key {
        assert_eq!(k.iv, u128::from(model.msn), "{}", view.uri);
    }
    assert_eq!(view.map, model.map, "{}: {text}", view.uri);
    assert_eq!(view.pdt_ms, model.pdt_ms, "{}: {text}", view.uri);
    // Parts are listed for the last three target durations only.
    assert!(
        view.parts.is_empty() || same_parts(&view.parts, &model.parts),
        "{}: parts {:?}, the packager has {:?}",
        view.uri,
        view.parts,
        model.parts
    );
}

/// Reads `text` (rendered by `p` for `request`) with m3u8-rs and compares it with `p`.
pub(super) fn assert_m3u8_rs_agrees(p: &Packager, request: &PlaylistRequest, text: &str) {
    let view = read_media(text);
    let pl = &view.playlist;
    assert_eq!(pl.target_duration, p.target_duration_secs(), "{text}");
    assert_eq!(pl.media_sequence, p.media_sequence(), "{text}");
    assert_eq!(
        pl.discontinuity_sequence, p.discontinuity_sequence,
        "{text}"
    );
    assert_eq!(pl.end_list, p.ended, "{text}");
    assert!(pl.independent_segments, "{text}");
    let listed: Vec<&Segment> = p.segments.iter().skip(view.skipped as usize).collect();
    assert_eq!(view.segments.len(), listed.len(), "segment count:\n{text}");
    for (v, m) in view.segments.iter().zip(&listed) {
        assert_segment(v, m, text);
    }
    let extinf_sum: f64 = listed.iter().map(|s| s.duration).sum();
    assert!(
        same_secs(view.total_duration(), extinf_sum),
        "EXTINFs add up to {} s, the packager's segments to {extinf_sum} s",
        view.total_duration()
    );
    let kind = match pl.playlist_type {
        None => "live",
        Some(m3u8_rs::MediaPlaylistType::Event) => "event",
        Some(m3u8_rs::MediaPlaylistType::Vod) => "vod",
        Some(_) => "other",
    };
    let expected = match p.config().kind {
        PlaylistKind::Live { .. } | PlaylistKind::Dvr { .. } => "live",
        PlaylistKind::Event => "event",
        PlaylistKind::Vod => "vod",
    };
    assert_eq!(kind, expected, "{text}");

    let low_latency = p.part_target_secs();
    match low_latency {
        Some(part_target) => {
            assert_eq!(pl.version, Some(9), "{text}");
            assert!(same_secs(view.part_target.unwrap_or(-1.0), part_target));
            assert!(view.server_control.is_some(), "{text}");
        }
        None => {
            let version = match p.config().format {
                SegmentFormat::Ts => 3,
                SegmentFormat::Fmp4 => 6,
            };
            assert_eq!(pl.version, Some(version), "{text}");
            assert_eq!(view.part_target, None, "{text}");
            assert!(view.segments.iter().all(|s| s.parts.is_empty()));
        }
    }
    let open = p
        .open_segment()
        .filter(|_| low_latency.is_some() && !p.ended);
    let open_parts = open.as_ref().map_or(&[][..], |o| o.parts);
    assert!(
        same_parts(&view.open_parts, open_parts),
        "open parts:\n{text}"
    );
    if let Some(o) = open.as_ref().filter(|o| !o.parts.is_empty()) {
        assert_eq!(view.open_discontinuity, o.discontinuity, "{text}");
        assert_eq!(view.open_pdt_ms, o.pdt_ms, "{text}");
    }
    let hint = (low_latency.is_some() && !p.ended).then(|| p.next_part_name());
    assert_eq!(view.preload_hint, hint, "{text}");
    let reports: Vec<_> = request
        .rendition_reports
        .iter()
        .filter(|_| low_latency.is_some() && !p.ended)
        .map(|r| (r.uri.clone(), r.last_msn, r.last_part.map(u64::from)))
        .collect();
    assert_eq!(view.rendition_reports, reports, "{text}");
}

/// Reads a master playlist with m3u8-rs and compares its variants with what was measured.
pub(super) fn assert_master_agrees(text: &str, variants: &[Variant]) {
    let master = read_master(text);
    assert!(master.independent_segments, "{text}");
    assert_eq!(master.variants.len(), variants.len(), "{text}");
    for (v, want) in master.variants.iter().zip(variants) {
        let info = &want.info;
        assert_eq!(v.uri, want.uri);
        assert_eq!(v.bandwidth, info.bandwidth.max(1));
        assert_eq!(
            v.average_bandwidth,
            (info.average_bandwidth > 0).then_some(info.average_bandwidth)
        );
        assert_eq!(v.codecs.as_deref(), Some(info.codecs.as_str()));
        assert_eq!(
            v.resolution.map(|r| (r.width, r.height)),
            info.resolution.map(|(w, h)| (u64::from(w), u64::from(h)))
        );
        match (v.frame_rate, info.frame_rate) {
            (Some(read), Some(measured)) => assert!((read - measured).abs() < 0.0005, "{text}"),
            (read, measured) => assert_eq!(read, measured, "{text}"),
        }
    }
}
