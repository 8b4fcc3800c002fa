//! HLS playlists read by m3u8-rs, a parser onair did not write, so that tests hold what
//! onair renders against an independent reading.
//!
//! m3u8-rs 6 has no Low-Latency HLS types and reads some tags differently from RFC 8216;
//! [`read_media`] makes up for it from what m3u8-rs does report:
//!
//! - LL-HLS tags (`EXT-X-PART`, `EXT-X-PART-INF`, `EXT-X-SKIP`, `EXT-X-PRELOAD-HINT`,
//!   `EXT-X-RENDITION-REPORT`, ...) come through as unknown tags of the segment they precede;
//!   the ones after the last segment are dropped, so a sentinel URI line is appended before
//!   parsing and its tags are the open segment's ([`MediaView::open_parts`], ...).
//! - m3u8-rs gives `EXT-X-KEY` and `EXT-X-MAP` to the next segment only; they apply to every
//!   later segment until the next one (RFC 8216 4.3.2.4, 4.3.2.5), as [`SegmentView`] has it.
//! - m3u8-rs refuses `EXT-X-KEY:METHOD=NONE` without an IV as a key and keeps it as an
//!   unknown tag, which is read here. onair writes it before any new key of the same segment.
//!
//! Both readers panic, with the playlist, when m3u8-rs cannot parse it or a rule of RFC 8216
//! that holds for every playlist is broken: a panic is how a test fails.

use m3u8_rs::{KeyMethod, MasterPlaylist, MediaPlaylist, MediaSegment, Playlist};

/// A URI no playlist uses, appended to collect the tags after the last segment.
const SENTINEL: &str = "onair-testkit-m3u8-sentinel";

/// A media playlist as m3u8-rs reads it, with RFC 8216 scoping and LL-HLS tags applied.
#[derive(Debug, Clone)]
pub struct MediaView {
    /// What m3u8-rs returned (without the sentinel segment).
    pub playlist: MediaPlaylist,
    /// The segments, with the key, map and parts that apply to each.
    pub segments: Vec<SegmentView>,
    /// `SKIPPED-SEGMENTS` of `EXT-X-SKIP` (0 without).
    pub skipped: u64,
    /// `PART-TARGET` of `EXT-X-PART-INF`.
    pub part_target: Option<f64>,
    /// The attributes of `EXT-X-SERVER-CONTROL`.
    pub server_control: Option<Vec<(String, String)>>,
    /// `EXT-X-PART`s after the last segment: the open segment's.
    pub open_parts: Vec<PartView>,
    /// `EXT-X-DISCONTINUITY` before the open segment's parts.
    pub open_discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` of the open segment, Unix milliseconds.
    pub open_pdt_ms: Option<i64>,
    /// `URI` of `EXT-X-PRELOAD-HINT`.
    pub preload_hint: Option<String>,
    /// `EXT-X-RENDITION-REPORT`s: `URI`, `LAST-MSN`, `LAST-PART`.
    pub rendition_reports: Vec<(String, u64, Option<u64>)>,
}

/// One segment of a [`MediaView`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentView {
    /// Media sequence number: `EXT-X-MEDIA-SEQUENCE` plus skipped and earlier segments.
    pub msn: u64,
    /// URI.
    pub uri: String,
    /// `EXTINF` duration (m3u8-rs reads it as `f32`).
    pub duration: f64,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// The AES-128 key in force: `URI` and `IV` as written.
    pub key: Option<(String, Option<String>)>,
    /// The `EXT-X-MAP` URI in force.
    pub map: Option<String>,
    /// `EXT-X-PROGRAM-DATE-TIME`, Unix milliseconds.
    pub pdt_ms: Option<i64>,
    /// Its `EXT-X-PART`s.
    pub parts: Vec<PartView>,
}

/// One `EXT-X-PART`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartView {
    /// `URI`.
    pub uri: String,
    /// `DURATION`, seconds.
    pub duration: f64,
    /// `INDEPENDENT=YES`.
    pub independent: bool,
}

impl MediaView {
    /// Sum of the `EXTINF` durations.
    pub fn total_duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }
}

/// The attributes of a tag's attribute list, quotes removed (RFC 8216 4.2).
pub fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap_or(quoted.len());
                let next = quoted.get(end + 1..).unwrap_or("");
                (&quoted[..end], next.strip_prefix(',').unwrap_or(next))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.push((name.trim().to_owned(), value.to_owned()));
        rest = next;
    }
    out
}

fn attribute<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn number<T: std::str::FromStr>(value: Option<&str>, what: &str, text: &str) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: missing or malformed {value:?}:\n{text}"))
}

/// What a segment's unknown tags (and those before it) say.
#[derive(Default)]
struct Tags {
    parts: Vec<PartView>,
    key_none: bool,
}

/// Reads `text` as a media playlist with m3u8-rs, and checks what holds for any playlist:
/// it parses as a media playlist; every rounded `EXTINF` is at most `EXT-X-TARGETDURATION`
/// (RFC 8216 4.3.3.1); a segment's parts add up to its `EXTINF`; no part is longer than
/// `PART-TARGET` (RFC 8216bis 4.4.4.9); an AES-128 key has a URI.
///
/// # Panics
/// When m3u8-rs cannot read it or a rule is broken, with the playlist.
pub fn read_media(text: &str) -> MediaView {
    let mut input = text.to_owned();
    if !input.ends_with('\n') {
        input.push('\n');
    }
    input.push_str(SENTINEL);
    input.push('\n');
    let mut playlist = match m3u8_rs::parse_playlist_res(input.as_bytes()) {
        Ok(Playlist::MediaPlaylist(p)) => p,
        Ok(Playlist::MasterPlaylist(_)) => panic!("m3u8-rs reads a master playlist:\n{text}"),
        Err(e) => panic!("m3u8-rs cannot parse it ({e:?}):\n{text}"),
    };
    let tail = match playlist.segments.pop() {
        Some(s) if s.uri == SENTINEL => s,
        other => panic!("m3u8-rs lost the sentinel line (last segment {other:?}):\n{text}"),
    };
    let mut view = MediaView {
        playlist: playlist.clone(),
        segments: Vec::with_capacity(playlist.segments.len()),
        skipped: 0,
        part_target: None,
        server_control: None,
        open_parts: Vec::new(),
        open_discontinuity: tail.discontinuity,
        open_pdt_ms: tail.program_date_time.map(|t| t.timestamp_millis()),
        preload_hint: None,
        rendition_reports: Vec::new(),
    };
    let mut key = None;
    let mut map = None;
    for segment in &playlist.segments {
        let tags = read_tags(&mut view, segment, text);
        if tags.key_none {
            key = None;
        }
        if let Some(k) = &segment.key {
            key = match k.method {
                KeyMethod::None => None,
                KeyMethod::AES128 => Some((
                    k.uri
                        .clone()
                        .unwrap_or_else(|| panic!("AES-128 key without URI:\n{text}")),
                    k.iv.clone(),
                )),
                ref other => panic!("unexpected key method {other:?}:\n{text}"),
            };
        }
        if let Some(m) = &segment.map {
            map = Some(m.uri.clone());
        }
        view.segments.push(SegmentView {
            msn: playlist.media_sequence + view.skipped + view.segments.len() as u64,
            uri: segment.uri.clone(),
            duration: f64::from(segment.duration),
            discontinuity: segment.discontinuity,
            key: key.clone(),
            map: map.clone(),
            pdt_ms: segment.program_date_time.map(|t| t.timestamp_millis()),
            parts: tags.parts,
        });
    }
    view.open_parts = read_tags(&mut view, &tail, text).parts;
    check_media(&view, text);
    view
}

/// Reads the unknown tags m3u8-rs attached to `segment`; playlist-wide LL-HLS tags go into
/// `view`.
fn read_tags(view: &mut MediaView, segment: &MediaSegment, text: &str) -> Tags {
    let mut tags = Tags::default();
    for tag in &segment.unknown_tags {
        let rest = tag.rest.as_deref().unwrap_or("");
        let attrs = attributes(rest);
        match tag.tag.as_str() {
            "X-PART" => tags.parts.push(PartView {
                uri: attribute(&attrs, "URI")
                    .unwrap_or_else(|| panic!("EXT-X-PART without URI:\n{text}"))
                    .to_owned(),
                duration: number(attribute(&attrs, "DURATION"), "EXT-X-PART DURATION", text),
                independent: attribute(&attrs, "INDEPENDENT") == Some("YES"),
            }),
            "X-PART-INF" => {
                view.part_target = Some(number(
                    attribute(&attrs, "PART-TARGET"),
                    "PART-TARGET",
                    text,
                ));
            }
            "X-SERVER-CONTROL" => view.server_control = Some(attrs),
            "X-SKIP" => {
                view.skipped = number(attribute(&attrs, "SKIPPED-SEGMENTS"), "EXT-X-SKIP", text);
            }
            "X-PRELOAD-HINT" => {
                view.preload_hint = attribute(&attrs, "URI").map(str::to_owned);
            }
            "X-RENDITION-REPORT" => view.rendition_reports.push((
                attribute(&attrs, "URI")
                    .unwrap_or_else(|| panic!("EXT-X-RENDITION-REPORT without URI:\n{text}"))
                    .to_owned(),
                number(attribute(&attrs, "LAST-MSN"), "LAST-MSN", text),
                attribute(&attrs, "LAST-PART").map(|p| number(Some(p), "LAST-PART", text)),
            )),
            "X-KEY" if attribute(&attrs, "METHOD") == Some("NONE") => tags.key_none = true,
            other => panic!("m3u8-rs did not know EXT-{other}:{rest}:\n{text}"),
        }
    }
    tags
}

fn check_media(view: &MediaView, text: &str) {
    let target = view.playlist.target_duration;
    // EXTINF has five decimals: parts add up to it within their rounding.
    let tolerance = |n: usize| 1e-5 * (n + 1) as f64 + 1e-6;
    for s in &view.segments {
        let rounded = (s.duration + 0.5).floor() as u64;
        assert!(
            rounded <= target,
            "{}: EXTINF {} rounds to {rounded} s, above EXT-X-TARGETDURATION {target}:\n{text}",
            s.uri,
            s.duration
        );
        if !s.parts.is_empty() {
            let sum: f64 = s.parts.iter().map(|p| p.duration).sum();
            assert!(
                (sum - s.duration).abs() <= tolerance(s.parts.len()),
                "{}: parts add up to {sum} s, EXTINF says {}:\n{text}",
                s.uri,
                s.duration
            );
        }
    }
    let parts = view.segments.iter().flat_map(|s| &s.parts);
    for p in parts.chain(&view.open_parts) {
        let part_target = view
            .part_target
            .unwrap_or_else(|| panic!("EXT-X-PART without EXT-X-PART-INF:\n{text}"));
        assert!(
            p.duration <= part_target + 1e-9,
            "part {} lasts {} s, above PART-TARGET {part_target}:\n{text}",
            p.uri,
            p.duration
        );
    }
}

/// Reads `text` as a master playlist with m3u8-rs; every variant has a URI and a `BANDWIDTH`.
///
/// # Panics
/// When m3u8-rs cannot read it as a master playlist or a variant lacks those, with the text.
pub fn read_master(text: &str) -> MasterPlaylist {
    let master = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        Ok(Playlist::MediaPlaylist(_)) => panic!("m3u8-rs reads a media playlist:\n{text}"),
        Err(e) => panic!("m3u8-rs cannot parse it ({e:?}):\n{text}"),
    };
    assert!(!master.variants.is_empty(), "no variant:\n{text}");
    for v in &master.variants {
        assert!(!v.uri.is_empty(), "variant without URI:\n{text}");
        assert!(
            v.bandwidth > 0,
            "variant {} without BANDWIDTH:\n{text}",
            v.uri
        );
    }
    master
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ll_hls_tags_keys_and_the_open_segment() {
        let text = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002\n\
             #EXT-X-PART-INF:PART-TARGET=0.33400\n#EXT-X-MEDIA-SEQUENCE:4\n\
             #EXT-X-MAP:URI=\"init0.mp4\"\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"k.bin\",IV=0x00000000000000000000000000000004\n\
             #EXT-X-PART:DURATION=0.5,URI=\"s4.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.5,URI=\"s4.1.m4s\"\n#EXTINF:1.00000,\ns4.m4s\n\
             #EXTINF:1.00000,\ns5.m4s\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:1.00000,\ns6.m4s\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000Z\n\
             #EXT-X-PART:DURATION=0.33,URI=\"s7.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s7.1.m4s\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../lo/i.m3u8\",LAST-MSN=7,LAST-PART=0\n";
        let err = std::panic::catch_unwind(|| read_media(text)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("s4.0.m4s lasts 0.5 s, above PART-TARGET"),
            "{msg}"
        );
        let v = read_media(
            &text
                .replace("0.5,", "0.25,")
                .replace("EXTINF:1.00000,\ns4", "EXTINF:0.50000,\ns4"),
        );
        assert_eq!(v.part_target, Some(0.334));
        assert_eq!(
            v.segments.iter().map(|s| s.msn).collect::<Vec<_>>(),
            [4, 5, 6]
        );
        let keys: Vec<_> = v
            .segments
            .iter()
            .map(|s| s.key.as_ref().map(|k| k.0.as_str()))
            .collect();
        assert_eq!(keys, [Some("k.bin"), Some("k.bin"), None]);
        assert!(v
            .segments
            .iter()
            .all(|s| s.map.as_deref() == Some("init0.mp4")));
        assert_eq!(v.segments[0].parts.len(), 2);
        assert!(v.segments[0].parts[0].independent && !v.segments[0].parts[1].independent);
        assert_eq!(v.open_parts.len(), 1);
        assert!(v.open_discontinuity);
        assert_eq!(v.open_pdt_ms, Some(1_795_687_200_000));
        assert_eq!(v.preload_hint.as_deref(), Some("s7.1.m4s"));
        assert_eq!(
            v.rendition_reports,
            [("../lo/i.m3u8".to_owned(), 7, Some(0))]
        );
        assert_eq!(
            attribute(v.server_control.as_deref().unwrap(), "PART-HOLD-BACK"),
            Some("1.002")
        );
    }

    #[test]
    fn refuses_an_extinf_above_the_target_duration() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.50000,\na.ts\n#EXT-X-ENDLIST\n";
        let err = std::panic::catch_unwind(|| read_media(text)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("rounds to 3 s"), "{msg}");
        let ok = read_media(&text.replace("2.50000", "2.49000"));
        assert!(ok.playlist.end_list);
        assert_eq!(ok.segments.len(), 1);
    }

    #[test]
    fn reads_variants() {
        let m = read_master(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900,CODECS=\"avc1.64001F,mp4a.40.2\",\
             RESOLUTION=640x360\nhi/index.m3u8\n",
        );
        assert_eq!(m.variants[0].bandwidth, 900);
        assert_eq!(
            m.variants[0].codecs.as_deref(),
            Some("avc1.64001F,mp4a.40.2")
        );
        assert_eq!(
            m.variants[0].resolution.map(|r| (r.width, r.height)),
            Some((640, 360))
        );
    }
}
