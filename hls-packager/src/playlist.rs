//! Media and master playlists, written by hand (RFC 8216, RFC 8216bis for LL-HLS) so that
//! the output is deterministic and carries every Low-Latency tag.

use std::collections::VecDeque;
use std::fmt::Write as _;

use crate::packager::{KeyRef, Packager, Part, PlaylistKind, Segment, SegmentFormat, VariantInfo};

/// What a client asked for when it requested the media playlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaylistRequest {
    /// `_HLS_skip=YES`: a delta update with `EXT-X-SKIP` (LL-HLS only).
    pub skip: bool,
    /// `EXT-X-RENDITION-REPORT`s of the other renditions (LL-HLS only).
    pub rendition_reports: Vec<RenditionReport>,
}

/// The delivery directives of a media playlist request (RFC 8216bis 6.2.5):
/// `_HLS_msn`, `_HLS_part` and `_HLS_skip`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryDirectives {
    /// `_HLS_msn`: block until this media sequence number is published.
    pub msn: Option<u64>,
    /// `_HLS_part`: with `msn`, block until this part of it is published.
    pub part: Option<u32>,
    /// `_HLS_skip=YES` (or `v2`): the client accepts a delta update.
    pub skip: bool,
}

impl DeliveryDirectives {
    /// Reads the directives from a URL query string (without the `?`); unknown parameters
    /// and malformed values are ignored.
    pub fn from_query(query: &str) -> Self {
        let mut d = Self::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "_HLS_msn" => d.msn = value.parse().ok(),
                "_HLS_part" => d.part = value.parse().ok(),
                "_HLS_skip" => d.skip = matches!(value, "YES" | "v2"),
                _ => {}
            }
        }
        // A part without a media sequence number is invalid (RFC 8216bis 6.2.5.2).
        if d.msn.is_none() {
            d.part = None;
        }
        d
    }
}

/// The last segment and part of another rendition (RFC 8216bis 4.4.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// URI of that rendition's media playlist, relative to this one.
    pub uri: String,
    /// Its last media sequence number.
    pub last_msn: u64,
    /// Its last part index.
    pub last_part: Option<u32>,
}

impl RenditionReport {
    /// The report of `packager` under `uri`; `None` before it published anything.
    pub fn of(packager: &Packager, uri: &str) -> Option<Self> {
        packager.last_published().map(|(msn, part)| Self {
            uri: uri.to_owned(),
            last_msn: msn,
            last_part: part,
        })
    }
}

/// Formats Unix milliseconds as an ISO 8601 date-time in UTC, e.g. `2026-11-26T10:00:00.000Z`.
pub(crate) fn format_date_time(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

fn write_part(out: &mut String, p: &Part) {
    let _ = write!(
        out,
        "#EXT-X-PART:DURATION={:.5},URI=\"{}\"",
        p.duration, p.uri
    );
    if p.independent {
        out.push_str(",INDEPENDENT=YES");
    }
    out.push('\n');
}

impl Packager {
    /// Renders the media playlist as it stands.
    ///
    /// Tags follow RFC 8216 (and RFC 8216bis for LL-HLS): `EXT-X-TARGETDURATION` is never
    /// below any rounded `EXTINF`; partial segments are listed for the last three target
    /// durations; `EXT-X-PRELOAD-HINT` names the next part; with `request.skip`, segments
    /// older than `CAN-SKIP-UNTIL` are replaced by `EXT-X-SKIP`.
    pub fn media_playlist(&self, request: &PlaylistRequest) -> String {
        self.render(
            &Listing {
                segments: &self.segments,
                media_sequence: self.media_sequence,
                discontinuity_sequence: self.discontinuity_sequence,
                kind: self.config().kind,
                ll: self.part_target_secs(),
                ended: self.ended,
            },
            request,
        )
    }

    /// The archive as a VOD playlist (see [`Packager::archive_playlist`]).
    pub(crate) fn render_archive(&self) -> String {
        self.render(
            &Listing {
                segments: &self.archive,
                media_sequence: self.archive.front().map_or(0, |s| s.msn),
                discontinuity_sequence: 0,
                kind: PlaylistKind::Vod,
                ll: None,
                ended: true,
            },
            &PlaylistRequest::default(),
        )
    }

    fn render(&self, listing: &Listing<'_>, request: &PlaylistRequest) -> String {
        let ll = listing.ll;
        let fmp4 = self.config().format == SegmentFormat::Fmp4;
        let target = self.target_duration_secs();
        let mut out = String::with_capacity(256 + listing.segments.len() * 96);
        out.push_str("#EXTM3U\n");
        let version = if ll.is_some() {
            9
        } else if fmp4 {
            6
        } else {
            3
        };
        let _ = writeln!(out, "#EXT-X-VERSION:{version}");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        let skip_until = 6.0 * target as f64;
        if let Some(part_target) = ll {
            let _ = writeln!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={:.1},PART-HOLD-BACK={:.3},HOLD-BACK={:.1}",
                skip_until,
                3.0 * part_target,
                3.0 * target as f64
            );
            let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.5}");
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", listing.media_sequence);
        if listing.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                listing.discontinuity_sequence
            );
        }
        match listing.kind {
            PlaylistKind::Event => out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
            PlaylistKind::Vod => out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
            PlaylistKind::Live { .. } | PlaylistKind::Dvr { .. } => {}
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");

        // Where the playlist ends in media time, to place parts and the skip boundary.
        let open = ll.and_then(|_| self.open_segment());
        let open_len: f64 = open
            .as_ref()
            .map_or(0.0, |o| o.parts.iter().map(|p| p.duration).sum());
        let total: f64 = listing.segments.iter().map(|s| s.duration).sum::<f64>() + open_len;
        let mut skipped = 0;
        if request.skip && ll.is_some() {
            let mut start = 0.0;
            for s in listing.segments {
                let end = start + s.duration;
                if total - end >= skip_until {
                    skipped += 1;
                } else {
                    break;
                }
                start = end;
            }
        }
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        let mut map: Option<&str> = None;
        let mut key: Option<&KeyRef> = None;
        let mut start = 0.0;
        for (i, s) in listing.segments.iter().enumerate() {
            let seg_start = start;
            start += s.duration;
            if i < skipped {
                continue;
            }
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if s.map.as_deref() != map {
                map = s.map.as_deref();
                if let Some(m) = map {
                    // An EXT-X-KEY applies to the EXT-X-MAP after it too (RFC 8216 4.3.2.4);
                    // init segments are not encrypted, so close the key around the map.
                    if key.is_some() {
                        out.push_str("#EXT-X-KEY:METHOD=NONE\n");
                        key = None;
                    }
                    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{m}\"");
                }
            }
            if s.key.as_ref() != key {
                key = s.key.as_ref();
                match key {
                    Some(k) => {
                        let _ = writeln!(
                            out,
                            "#EXT-X-KEY:METHOD=AES-128,URI=\"{}\",IV=0x{:032X}",
                            k.uri, k.iv
                        );
                    }
                    None => out.push_str("#EXT-X-KEY:METHOD=NONE\n"),
                }
            }
            if let Some(pdt) = s.pdt_ms {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", format_date_time(pdt));
            }
            if ll.is_some() && total - seg_start <= 3.0 * target as f64 {
                for p in &s.parts {
                    write_part(&mut out, p);
                }
            }
            let _ = writeln!(out, "#EXTINF:{:.5},\n{}", s.duration, s.uri);
        }
        if ll.is_some() && !listing.ended {
            if let Some(open) = open.filter(|o| !o.parts.is_empty()) {
                // The tags of the segment these parts belong to come before its first part.
                if open.discontinuity {
                    out.push_str("#EXT-X-DISCONTINUITY\n");
                }
                if let Some(m) = open.map.filter(|m| map != Some(*m)) {
                    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{m}\"");
                }
                if let Some(pdt) = open.pdt_ms {
                    let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", format_date_time(pdt));
                }
                for p in open.parts {
                    write_part(&mut out, p);
                }
            }
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                self.next_part_name()
            );
            for r in &request.rendition_reports {
                let _ = write!(
                    out,
                    "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}",
                    r.uri, r.last_msn
                );
                if let Some(p) = r.last_part {
                    let _ = write!(out, ",LAST-PART={p}");
                }
                out.push('\n');
            }
        }
        if listing.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

/// What a media playlist lists: the live window, or the archive of a whole stream.
struct Listing<'a> {
    segments: &'a VecDeque<Segment>,
    media_sequence: u64,
    discontinuity_sequence: u64,
    kind: PlaylistKind,
    /// The part target of an LL-HLS playlist: parts, server control, preload hint.
    ll: Option<f64>,
    ended: bool,
}

/// One entry of a master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// URI of the rendition's media playlist.
    pub uri: String,
    /// What was measured (see [`Packager::variant_info`]).
    pub info: VariantInfo,
}

/// Renders a master (multivariant) playlist (RFC 8216 4.3.4.2), the variants by ascending
/// `BANDWIDTH` as Apple's HLS authoring examples list them (players that start with the first
/// listed variant then start low and climb; equal bandwidths keep their order).
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let mut ordered: Vec<&Variant> = variants.iter().collect();
    ordered.sort_by_key(|v| v.info.bandwidth);
    for v in ordered {
        let i = &v.info;
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", i.bandwidth.max(1));
        if i.average_bandwidth > 0 {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={}", i.average_bandwidth);
        }
        if !i.codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", i.codecs);
        }
        if let Some((w, h)) = i.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = i.frame_rate {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        let _ = writeln!(out, "\n{}", v.uri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_delivery_directives() {
        assert_eq!(
            DeliveryDirectives::from_query("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&x=1"),
            DeliveryDirectives {
                msn: Some(12),
                part: Some(3),
                skip: true
            }
        );
        assert_eq!(
            DeliveryDirectives::from_query("_HLS_part=3&_HLS_msn=bad"),
            DeliveryDirectives::default()
        );
        assert_eq!(
            DeliveryDirectives::from_query(""),
            DeliveryDirectives::default()
        );
    }

    #[test]
    fn formats_dates() {
        assert_eq!(format_date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_date_time(1_795_687_200_123),
            "2026-11-26T10:00:00.123Z"
        );
        assert_eq!(
            format_date_time(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_date_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn master_lists_variants() {
        let v = Variant {
            uri: "720p/index.m3u8".into(),
            info: VariantInfo {
                bandwidth: 2_500_000,
                average_bandwidth: 2_000_000,
                codecs: "avc1.64001F,mp4a.40.2".into(),
                resolution: Some((1280, 720)),
                frame_rate: Some(30.0),
            },
        };
        assert_eq!(
            master_playlist(&[v]),
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2000000,\
             CODECS=\"avc1.64001F,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000\n\
             720p/index.m3u8\n"
        );
    }
}
