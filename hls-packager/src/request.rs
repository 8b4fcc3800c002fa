//! Reading what a player asks an HLS origin for, without IO: the request path
//! (`/APP/NAME/FILE`, percent-decoded) and the media sequence number and part a file name
//! stands for. The query's delivery directives are [`crate::DeliveryDirectives`].

use std::borrow::Cow;

/// A request path of an origin that serves streams as `/APP/NAME/FILE`. The application may
/// itself contain slashes (`app/instance`); the last two segments are the name and the file.
/// Parts without escapes borrow from the path (no allocation on the common request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPath<'a> {
    /// The application, percent-decoded (`live`, or `app/instance`).
    pub app: Cow<'a, str>,
    /// The stream name, percent-decoded.
    pub name: Cow<'a, str>,
    /// The file: `index.m3u8`, `master.m3u8`, a segment, part or init segment.
    pub file: Cow<'a, str>,
}

impl<'a> OriginPath<'a> {
    /// Splits and decodes `path` (without query). `None` for fewer than three segments, an
    /// empty segment, a bad percent escape or a result that is not UTF-8.
    pub fn parse(path: &'a str) -> Option<Self> {
        let path = path.strip_prefix('/')?;
        let (rest, file) = path.rsplit_once('/')?;
        let (app, name) = rest.rsplit_once('/')?;
        let app = if app.contains('%') {
            Cow::Owned(
                app.split('/')
                    .map(segment)
                    .collect::<Option<Vec<_>>>()?
                    .join("/"),
            )
        } else {
            if app.split('/').any(str::is_empty) {
                return None;
            }
            Cow::Borrowed(app)
        };
        Some(Self {
            app,
            name: segment(name)?,
            file: segment(file)?,
        })
    }
}

/// One decoded, non-empty path segment without a slash in it.
fn segment(s: &str) -> Option<Cow<'_, str>> {
    let decoded = if s.contains('%') {
        Cow::Owned(percent_decode(s)?)
    } else {
        Cow::Borrowed(s)
    };
    (!decoded.is_empty() && !decoded.contains('/')).then_some(decoded)
}

/// Decodes `%XX` escapes; `None` on a malformed escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = char::from(hex[0]).to_digit(16)?;
            let lo = char::from(hex[1]).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes everything but RFC 3986 unreserved characters: one path segment.
pub fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// The media sequence number and part index of a segment or part named by a packager with
/// this `name_prefix`: `<prefix><msn>.<ext>` or `<prefix><msn>.<part>.m4s`. `None` for
/// anything else (init segments, keys, other prefixes).
pub fn parse_media_name(file: &str, prefix: &str) -> Option<(u64, Option<u32>)> {
    let rest = file.strip_prefix(prefix)?;
    let (stem, ext) = rest.rsplit_once('.')?;
    if ext.is_empty() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match stem.split_once('.') {
        Some((msn, part)) if digits(msn) && digits(part) => {
            Some((msn.parse().ok()?, Some(part.parse().ok()?)))
        }
        None if digits(stem) => Some((stem.parse().ok()?, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(app: &'static str, name: &'static str, file: &'static str) -> Option<OriginPath<'static>> {
        Some(OriginPath {
            app: app.into(),
            name: name.into(),
            file: file.into(),
        })
    }

    #[test]
    fn paths_split_into_app_name_and_file() {
        assert_eq!(
            OriginPath::parse("/live/key/index.m3u8"),
            p("live", "key", "index.m3u8")
        );
        assert_eq!(
            OriginPath::parse("/app/inst/my%20key/seg1.ts"),
            p("app/inst", "my key", "seg1.ts")
        );
        assert_eq!(OriginPath::parse("/index.m3u8"), None);
        assert_eq!(OriginPath::parse("live/key/index.m3u8"), None);
        assert_eq!(OriginPath::parse("/live//index.m3u8"), None);
        assert_eq!(
            OriginPath::parse("/a//key/x.ts"),
            None,
            "empty application segment"
        );
        assert_eq!(OriginPath::parse("//key/x.ts"), None);
        let plain = OriginPath::parse("/app/inst/key/seg-1.ts");
        assert!(plain
            .is_some_and(|p| matches!(p.app, Cow::Borrowed("app/inst"))
                && matches!(p.file, Cow::Borrowed(_))));
        assert_eq!(OriginPath::parse("/live/key/%zz"), None);
        assert_eq!(OriginPath::parse("/live/key/%2"), None);
        assert_eq!(
            OriginPath::parse("/live/a%2Fb/x.ts"),
            None,
            "no slash smuggled in a name"
        );
        assert_eq!(OriginPath::parse("/live/key/%ff"), None, "not UTF-8");
    }

    #[test]
    fn encoding_a_segment_round_trips() {
        for s in ["plain", "with space", "ümlaut/slash?&=%", ""] {
            let e = percent_encode_segment(s);
            assert!(e
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            assert_eq!(percent_decode(&e).as_deref(), Some(s));
        }
    }

    #[test]
    fn media_names_parse_to_sequence_and_part() {
        assert_eq!(parse_media_name("ab-12.ts", "ab-"), Some((12, None)));
        assert_eq!(parse_media_name("ab-12.3.m4s", "ab-"), Some((12, Some(3))));
        assert_eq!(parse_media_name("ab-init1.mp4", "ab-"), None);
        assert_eq!(parse_media_name("other-1.ts", "ab-"), None);
        assert_eq!(parse_media_name("ab-+1.ts", "ab-"), None);
        assert_eq!(parse_media_name("ab-1.ts.", "ab-"), None);
        assert_eq!(parse_media_name("ab-99999999999999999999.ts", "ab-"), None);
    }
}
