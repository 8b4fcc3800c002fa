//! `Cache-Control` of every answer: what a CDN in front of a live origin needs. Playlists
//! change every segment (or part), so they are cached for about half a target duration; a
//! blocking-reload answer names what it contains in its URL, so it keeps a little longer;
//! segment names are never reused, so segments are immutable; errors are not cached, so a
//! stream that starts is seen at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hyper::header::HeaderValue;

/// How long an answer may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum CacheRule {
    NoStore,
    MaxAge(u64),
    Immutable(u64),
}

impl CacheRule {
    /// A media or master playlist: about half a segment, in the whole seconds max-age can say.
    pub(super) fn playlist(target: Duration) -> Self {
        CacheRule::MaxAge(playlist_max_age(target))
    }

    /// A playlist answered to a blocking reload (`_HLS_msn`): its URL names the update it
    /// holds, which a later update only extends.
    pub(super) fn blocking_playlist(target: Duration) -> Self {
        CacheRule::MaxAge(playlist_max_age(target) * 6)
    }

    /// Segments, parts and init segments: their names are never reused.
    pub(super) fn media(max_age_secs: u64) -> Self {
        CacheRule::Immutable(max_age_secs)
    }

    /// A file that does not change while the server runs (the player script, a CORS
    /// preflight answer).
    pub(super) const fn static_file() -> Self {
        CacheRule::MaxAge(86400)
    }

    /// The `Cache-Control` value, formatted once per distinct rule (an origin uses a handful)
    /// and shared afterwards: no allocation per response.
    pub(super) fn header_value(self) -> HeaderValue {
        static MEMO: OnceLock<Mutex<HashMap<CacheRule, HeaderValue>>> = OnceLock::new();
        if self == CacheRule::NoStore {
            return HeaderValue::from_static("no-store");
        }
        let memo = MEMO.get_or_init(Mutex::default);
        let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = memo.get(&self) {
            return v.clone();
        }
        let text = match self {
            CacheRule::Immutable(secs) => format!("public, max-age={secs}, immutable"),
            CacheRule::MaxAge(secs) => format!("public, max-age={secs}"),
            CacheRule::NoStore => "no-store".to_owned(),
        };
        let value = HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("no-cache"));
        if memo.len() < 64 {
            memo.insert(self, value.clone());
        }
        value
    }
}

fn playlist_max_age(target: Duration) -> u64 {
    (target.as_secs_f64() / 2.0).round().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_are_cached_for_half_a_segment() {
        assert_eq!(playlist_max_age(Duration::from_secs(1)), 1);
        assert_eq!(playlist_max_age(Duration::from_secs(2)), 1);
        assert_eq!(playlist_max_age(Duration::from_secs(6)), 3);
    }

    #[test]
    fn header_values_say_each_rule() {
        let text = |rule: CacheRule| rule.header_value().to_str().unwrap_or("").to_owned();
        assert_eq!(text(CacheRule::NoStore), "no-store");
        assert_eq!(
            text(CacheRule::playlist(Duration::from_secs(6))),
            "public, max-age=3"
        );
        assert_eq!(
            text(CacheRule::blocking_playlist(Duration::from_secs(1))),
            "public, max-age=6"
        );
        assert_eq!(
            text(CacheRule::media(31_536_000)),
            "public, max-age=31536000, immutable"
        );
        // the memoized value is the same the second time
        assert_eq!(
            text(CacheRule::media(31_536_000)),
            "public, max-age=31536000, immutable"
        );
    }
}
