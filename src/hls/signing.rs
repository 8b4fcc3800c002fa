//! Signed, expiring playback URLs that a CDN can cache: one token per path prefix and expiry
//! window, the same for every viewer in that window.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use onair_hls_packager::{
    shared_expiry, sign_path, verify_path, SignError, SigningKey, TokenError,
};

/// Signs and verifies playback URLs with one shared secret. Cheap to clone; its `Debug` never
/// shows the secret.
///
/// A token is one path segment after the prefix it signs (the format and its reasons:
/// [`SigningKey`](onair_hls_packager::SigningKey)):
///
/// ```text
/// https://cdn.example/live/demo/t.1767225600.pFDV__S3pdn8cai_NwDDPDJ_3zXhyAfHCdUgsxhbTXk/master.m3u8
/// ```
///
/// The master playlist, the media playlists it lists, their segments, parts, init segments,
/// LL-HLS blocking reloads and preload hints are all named by relative URIs, so a player that
/// opened the signed master URL asks for every one of them under the same token. An origin
/// whose [`HttpOriginConfig::signing`](super::HttpOriginConfig::signing) is set answers a
/// request without a valid token `403` with `Cache-Control: no-store`.
///
/// Expiries are rounded up to a window ([`PlaybackSigning::with_window`], 5 minutes by
/// default): everyone who gets a URL signed within one window gets the same URL, so even a
/// cache keyed by the whole URL keeps one copy per window. An edge that verifies the token
/// itself can leave it out of its cache key and keep one copy for all windows
/// (`deploy/nginx-edge.conf`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use onair::hls::PlaybackSigning;
///
/// let signing = PlaybackSigning::new("a shared secret")?;
/// let now = UNIX_EPOCH + Duration::from_secs(1_767_225_000);
/// let url = signing.sign_url("https://cdn.example/live/demo/master.m3u8", Duration::from_secs(3600), now)?;
/// assert!(url.starts_with("https://cdn.example/live/demo/t.1767228600."));
/// // the origin (or an edge) checks a request path
/// let path = &url["https://cdn.example".len()..];
/// assert_eq!(signing.verify(path, now).as_deref(), Ok("/live/demo/master.m3u8"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PlaybackSigning {
    key: Arc<SigningKey>,
    window: Duration,
}

impl fmt::Debug for PlaybackSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaybackSigning")
            .field("key", &self.key)
            .field("window", &self.window)
            .finish()
    }
}

impl PlaybackSigning {
    /// Expiries are rounded up to multiples of this by default.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

    /// Signing with `secret` (any bytes, not empty; 32 random bytes or more is a good key).
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, SignError> {
        Ok(Self {
            key: Arc::new(SigningKey::new(secret)?),
            window: Self::DEFAULT_WINDOW,
        })
    }

    /// Rounds expiries up to multiples of `window` (whole seconds; zero: no rounding). A
    /// longer window shares one URL among more viewers and lets a token live up to `window`
    /// past its asked lifetime.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The expiry window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The expiry (UNIX seconds) of a URL signed at `now` to live at least `ttl`.
    pub fn expiry(&self, ttl: Duration, now: SystemTime) -> u64 {
        shared_expiry(unix_secs(now), ttl.as_secs(), self.window.as_secs())
    }

    /// `url` (`scheme://host/path?query`, or an absolute path) signed for the folder of its
    /// path, the stream's for a master or media playlist URL, until [`expiry`](Self::expiry).
    pub fn sign_url(&self, url: &str, ttl: Duration, now: SystemTime) -> Result<String, SignError> {
        let (_, path, _) = split_url(url)?;
        let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        self.sign_url_for_prefix(url, folder, ttl, now)
    }

    /// `url` signed for every path under `prefix` (a path ending in `/`: `/live/` signs all
    /// streams of the `live` application).
    pub fn sign_url_for_prefix(
        &self,
        url: &str,
        prefix: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, SignError> {
        let (base, path, tail) = split_url(url)?;
        let signed = sign_path(&self.key, path, prefix, self.expiry(ttl, now))?;
        Ok(format!("{base}{signed}{tail}"))
    }

    /// Checks the token in a request path (without query) at `now`; the path without the
    /// token when it is valid.
    pub fn verify(&self, path: &str, now: SystemTime) -> Result<String, TokenError> {
        verify_path(&self.key, path, unix_secs(now))
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `(scheme://authority, /path, ?query#fragment)` of a URL or an absolute path.
fn split_url(url: &str) -> Result<(&str, &str, &str), SignError> {
    let path_start = match url.find("://") {
        Some(i) => url[i + 3..].find('/').ok_or(SignError::NoPath)? + i + 3,
        None if url.starts_with('/') => 0,
        None => return Err(SignError::NoPath),
    };
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    Ok((
        &url[..path_start],
        &url[path_start..path_end],
        &url[path_end..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn signing() -> PlaybackSigning {
        PlaybackSigning::new("k").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn urls_keep_their_host_and_query_and_sign_their_folder() {
        let s = signing().with_window(Duration::from_secs(60));
        let url = s
            .sign_url(
                "http://127.0.0.1:8080/live/cam/index.m3u8?_HLS_msn=3",
                Duration::from_secs(30),
                at(1000),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let token = url
            .strip_prefix("http://127.0.0.1:8080/live/cam/t.1080.")
            .and_then(|r| r.strip_suffix("/index.m3u8?_HLS_msn=3"))
            .unwrap_or_else(|| panic!("{url}"));
        assert_eq!(token.len(), 43);
        let path = url
            .strip_prefix("http://127.0.0.1:8080")
            .and_then(|p| p.split('?').next())
            .unwrap_or("");
        assert_eq!(
            s.verify(path, at(1079)).as_deref(),
            Ok("/live/cam/index.m3u8")
        );
        assert!(matches!(
            s.verify(path, at(1080)),
            Err(TokenError::Expired { .. })
        ));
        assert_eq!(
            s.sign_url("/live/cam/master.m3u8", Duration::ZERO, at(1)),
            s.sign_url("/live/cam/master.m3u8", Duration::ZERO, at(59)),
            "one URL for everyone in a window"
        );
        assert_eq!(
            s.sign_url("cam/master.m3u8", Duration::ZERO, at(1)),
            Err(SignError::NoPath)
        );
        assert_eq!(
            s.sign_url("http://host", Duration::ZERO, at(1)),
            Err(SignError::NoPath)
        );
        let debug = format!("{s:?}");
        assert!(
            debug.contains("<redacted>") && !debug.contains("\"k\""),
            "{debug}"
        );
    }

    #[test]
    fn a_prefix_token_signs_a_whole_application() {
        let s = signing();
        let url = s
            .sign_url_for_prefix(
                "/live/a/master.m3u8",
                "/live/",
                Duration::from_secs(10),
                at(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let other = url.replace("/a/", "/b/");
        assert_eq!(
            s.verify(&other, at(1)).as_deref(),
            Ok("/live/b/master.m3u8")
        );
    }
}
