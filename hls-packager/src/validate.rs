//! A checker for the media playlist rules this crate promises (RFC 8216 4.3, RFC 8216bis
//! 4.4). Tests, the fuzz target and tools use it on rendered playlists.

/// A rule a media playlist broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaylistViolation {
    /// The first line is not `#EXTM3U`.
    #[error("playlist does not start with #EXTM3U")]
    MissingHeader,
    /// A required tag is absent (or appears twice).
    #[error("tag {tag} missing or repeated")]
    Tag {
        /// The tag.
        tag: &'static str,
    },
    /// A tag's value does not parse.
    #[error("bad value on line {line}")]
    BadValue {
        /// 1-based line number.
        line: usize,
    },
    /// `EXTINF` rounded to the nearest integer exceeds `EXT-X-TARGETDURATION` (RFC 8216 4.3.3.1).
    #[error("segment {uri} lasts {duration}s, above target duration {target}")]
    SegmentTooLong {
        /// Segment URI.
        uri: String,
        /// Its `EXTINF`.
        duration: f64,
        /// The target duration.
        target: u64,
    },
    /// A partial segment is longer than `PART-TARGET` (RFC 8216bis 4.4.4.9).
    #[error("part {uri} lasts {duration}s, above part target {target}")]
    PartTooLong {
        /// Part URI.
        uri: String,
        /// Its duration.
        duration: f64,
        /// `PART-TARGET`.
        target: f64,
    },
    /// A server-control value is below what RFC 8216bis 4.4.3.8 requires.
    #[error("server control {attribute} too small")]
    ServerControl {
        /// The attribute.
        attribute: &'static str,
    },
    /// A tag appears where it may not (e.g. a segment URI without `EXTINF`, a tag after
    /// `EXT-X-ENDLIST`, LL-HLS tags without `EXT-X-PART-INF`).
    #[error("misplaced tag on line {line}")]
    Misplaced {
        /// 1-based line number.
        line: usize,
    },
}

/// What a valid media playlist says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylistSummary {
    /// `EXT-X-TARGETDURATION`.
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE` (0 when absent).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `SKIPPED-SEGMENTS` of `EXT-X-SKIP`.
    pub skipped: u64,
    /// Segments listed (after any skipped ones): URI, duration, preceded by
    /// `EXT-X-DISCONTINUITY`.
    pub segments: Vec<(String, f64, bool)>,
    /// `EXT-X-PART` tags.
    pub parts: usize,
    /// `EXT-X-PART-INF` `PART-TARGET`.
    pub part_target: Option<f64>,
    /// `EXT-X-PRELOAD-HINT` URI.
    pub preload_hint: Option<String>,
    /// Has `EXT-X-ENDLIST`.
    pub ended: bool,
}

fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    // Attribute lists are NAME=VALUE pairs separated by commas outside quotes.
    let mut rest = list;
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if key == name {
            return Some(value);
        }
        rest = tail.strip_prefix(',').unwrap_or(tail);
    }
    None
}

/// Checks `text` against the rules of RFC 8216 / 8216bis this crate follows and returns a
/// summary of it.
pub fn check_media_playlist(text: &str) -> Result<MediaPlaylistSummary, PlaylistViolation> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    if lines.next().map(|(_, l)| l) != Some("#EXTM3U") {
        return Err(PlaylistViolation::MissingHeader);
    }
    let mut s = MediaPlaylistSummary::default();
    let mut target = None;
    let mut server_control = None;
    let mut pending_extinf: Option<f64> = None;
    let mut pending_disc = false;
    let mut part_uris = Vec::new();
    for (n, line) in lines {
        let bad = PlaylistViolation::BadValue { line: n };
        if s.ended && !line.is_empty() {
            return Err(PlaylistViolation::Misplaced { line: n });
        }
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            if target.is_some() {
                return Err(PlaylistViolation::Tag {
                    tag: "EXT-X-TARGETDURATION",
                });
            }
            target = Some(v.parse::<u64>().map_err(|_| bad)?);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            s.media_sequence = v.parse().map_err(|_| bad)?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            s.discontinuity_sequence = v.parse().map_err(|_| bad)?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
            server_control = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:") {
            let t = attr(v, "PART-TARGET").ok_or(bad.clone())?;
            s.part_target = Some(t.parse().map_err(|_| bad)?);
        } else if let Some(v) = line.strip_prefix("#EXT-X-SKIP:") {
            let skipped = attr(v, "SKIPPED-SEGMENTS").ok_or(bad.clone())?;
            s.skipped = skipped.parse().map_err(|_| bad)?;
            if server_control
                .as_deref()
                .and_then(|c| attr(c, "CAN-SKIP-UNTIL"))
                .is_none()
                || !s.segments.is_empty()
            {
                return Err(PlaylistViolation::Misplaced { line: n });
            }
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            let Some(part_target) = s.part_target else {
                return Err(PlaylistViolation::Misplaced { line: n });
            };
            let d: f64 = attr(v, "DURATION")
                .ok_or(bad.clone())?
                .parse()
                .map_err(|_| bad.clone())?;
            let uri = attr(v, "URI").ok_or(bad)?.to_owned();
            if d > part_target + 1e-9 {
                return Err(PlaylistViolation::PartTooLong {
                    uri,
                    duration: d,
                    target: part_target,
                });
            }
            part_uris.push(uri);
            s.parts += 1;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            if s.part_target.is_none() {
                return Err(PlaylistViolation::Misplaced { line: n });
            }
            s.preload_hint = Some(attr(v, "URI").ok_or(bad)?.to_owned());
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("");
            pending_extinf = Some(d.parse().map_err(|_| bad)?);
        } else if line == "#EXT-X-DISCONTINUITY" {
            pending_disc = true;
        } else if line == "#EXT-X-ENDLIST" {
            s.ended = true;
        } else if !line.starts_with('#') && !line.is_empty() {
            let Some(d) = pending_extinf.take() else {
                return Err(PlaylistViolation::Misplaced { line: n });
            };
            s.segments
                .push((line.to_owned(), d, std::mem::take(&mut pending_disc)));
        }
    }
    s.target_duration = target.ok_or(PlaylistViolation::Tag {
        tag: "EXT-X-TARGETDURATION",
    })?;
    for (uri, d, _) in &s.segments {
        if (d + 0.5).floor() as u64 > s.target_duration {
            return Err(PlaylistViolation::SegmentTooLong {
                uri: uri.clone(),
                duration: *d,
                target: s.target_duration,
            });
        }
    }
    if let Some(part_target) = s.part_target {
        let c = server_control.as_deref().ok_or(PlaylistViolation::Tag {
            tag: "EXT-X-SERVER-CONTROL",
        })?;
        let num = |name: &'static str| -> Result<f64, PlaylistViolation> {
            attr(c, name)
                .and_then(|v| v.parse().ok())
                .ok_or(PlaylistViolation::ServerControl { attribute: name })
        };
        let td = s.target_duration as f64;
        if num("PART-HOLD-BACK")? < 2.0 * part_target {
            return Err(PlaylistViolation::ServerControl {
                attribute: "PART-HOLD-BACK",
            });
        }
        if num("CAN-SKIP-UNTIL")? < 6.0 * td {
            return Err(PlaylistViolation::ServerControl {
                attribute: "CAN-SKIP-UNTIL",
            });
        }
        if num("HOLD-BACK")? < 3.0 * td {
            return Err(PlaylistViolation::ServerControl {
                attribute: "HOLD-BACK",
            });
        }
        if !s.ended && s.preload_hint.is_none() {
            return Err(PlaylistViolation::Tag {
                tag: "EXT-X-PRELOAD-HINT",
            });
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes_with_quotes() {
        let l = "DURATION=0.33333,URI=\"a,b.m4s\",INDEPENDENT=YES";
        assert_eq!(attr(l, "URI"), Some("a,b.m4s"));
        assert_eq!(attr(l, "INDEPENDENT"), Some("YES"));
        assert_eq!(attr(l, "GAP"), None);
    }

    #[test]
    fn rejects_long_segments() {
        let p = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.6,\na.ts\n";
        assert!(matches!(
            check_media_playlist(p),
            Err(PlaylistViolation::SegmentTooLong { .. })
        ));
        let p = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.4,\na.ts\n#EXT-X-ENDLIST\n";
        let s = check_media_playlist(p).unwrap();
        assert_eq!(s.segments, vec![("a.ts".to_owned(), 2.4, false)]);
        assert!(s.ended);
    }
}
