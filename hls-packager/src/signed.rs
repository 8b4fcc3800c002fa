//! Signed playback URLs, without IO: a token that proves the holder may fetch everything under
//! a path prefix until an expiry time, carried as one path segment right after that prefix
//! (the format: [`SigningKey`]).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first characters of a token segment.
pub const TOKEN_MARK: &str = "t.";

/// Length of an HMAC-SHA256 in unpadded base64url.
const SIGNATURE_LEN: usize = 43;

/// The shared secret that signs and verifies playback URLs. Its `Debug` never shows it.
///
/// A token proves that its holder may fetch everything under a path prefix until an expiry
/// time; it is one path segment right after that prefix:
///
/// ```text
/// /live/demo/t.1767225600.pFDV__S3pdn8cai_NwDDPDJ_3zXhyAfHCdUgsxhbTXk/master.m3u8
/// \________/ \_____________________________________________________/ \_________/
///   prefix     token: t.EXPIRES.SIGNATURE                              rest
/// ```
///
/// `SIGNATURE` is HMAC-SHA256 (RFC 2104, FIPS 180-4) keyed by the shared secret over the text
/// `EXPIRES:PREFIX` (expiry in UNIX seconds, decimal; the prefix exactly as it appears in the
/// request path, escapes included), in unpadded base64url (RFC 4648 5). The token is valid
/// while the time is before `EXPIRES`.
///
/// Why in the path: playlists list their segments, parts, init segments, preload hints and
/// other renditions by relative URIs, which a player resolves against the playlist's URL
/// (RFC 3986 5.2). A token in the path is carried along by every player without the origin
/// rewriting a playlist; a token in the query would be dropped by that resolution. A CDN
/// that knows the format can verify it and leave it out of its cache key, keeping one copy
/// of each file for every viewer.
///
/// The same check runs at the origin ([`verify_path`]) and at an edge in front of it (the
/// nginx edge, `deploy/onair-token.js`, computes the same HMAC in njs).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// A key from the secret's bytes; an empty secret is refused (it would sign nothing).
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, SignError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(SignError::EmptyKey);
        }
        Ok(Self(secret))
    }

    fn mac(&self, expires: u64, prefix: &str) -> [u8; 32] {
        // HMAC takes keys of any length
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return [0; 32];
        };
        mac.update(expires.to_string().as_bytes());
        mac.update(b":");
        mac.update(prefix.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Why a URL could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The secret is empty.
    #[error("empty signing key")]
    EmptyKey,
    /// The prefix does not start and end with `/`, or holds a dot or empty segment.
    #[error("the signed prefix must be an absolute path ending in '/' without '.', '..' or empty segments")]
    BadPrefix,
    /// The path does not start with the prefix.
    #[error("the path is not under the signed prefix")]
    OutsidePrefix,
    /// The path carries a token already.
    #[error("the path is signed already")]
    AlreadySigned,
    /// What was to be signed is neither an absolute path nor a URL with one.
    #[error("not a URL with an absolute path")]
    NoPath,
}

/// Why a request's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No path segment is a token.
    #[error("no token in the path")]
    Missing,
    /// A token segment that cannot be read, or a path with `.`, `..` or empty segments.
    #[error("malformed token or path")]
    Malformed,
    /// The token's time is over.
    #[error("token expired at {expires}, now {now}")]
    Expired {
        /// The token's expiry, UNIX seconds.
        expires: u64,
        /// The verifier's time, UNIX seconds.
        now: u64,
    },
    /// The signature is not the key's for this prefix and expiry.
    #[error("bad signature")]
    BadSignature,
}

/// The token segment for `prefix` until `expires` (UNIX seconds): `t.EXPIRES.SIGNATURE`.
pub fn path_token(key: &SigningKey, prefix: &str, expires: u64) -> Result<String, SignError> {
    if !valid_prefix(prefix) {
        return Err(SignError::BadPrefix);
    }
    let mut out = format!("{TOKEN_MARK}{expires}.");
    base64url_into(&mut out, &key.mac(expires, prefix));
    Ok(out)
}

/// `path` with a token for `prefix` (which `path` starts with, ending in `/`) inserted after
/// the prefix: `/live/demo/` and `/live/demo/master.m3u8` give
/// `/live/demo/t.EXPIRES.SIGNATURE/master.m3u8`.
pub fn sign_path(
    key: &SigningKey,
    path: &str,
    prefix: &str,
    expires: u64,
) -> Result<String, SignError> {
    let rest = path.strip_prefix(prefix).ok_or(SignError::OutsidePrefix)?;
    if find_token(path).is_some() {
        return Err(SignError::AlreadySigned);
    }
    let token = path_token(key, prefix, expires)?;
    Ok(format!("{prefix}{token}/{rest}"))
}

/// The expiry every viewer asking at `now` (UNIX seconds) gets for a lifetime of at least
/// `ttl` seconds: `now + ttl` rounded up to a multiple of `window` seconds. Viewers within one
/// window share one token, so a cache keyed by the full URL still holds one copy per window.
/// A `window` of 0 or 1 gives `now + ttl`.
pub fn shared_expiry(now: u64, ttl: u64, window: u64) -> u64 {
    let at_least = now.saturating_add(ttl);
    if window <= 1 {
        return at_least;
    }
    at_least.div_ceil(window).saturating_mul(window)
}

/// Checks the token of a request path (without query) at `now` (UNIX seconds) and returns the
/// path without it (`/live/demo/master.m3u8`). The token is the first segment of the form
/// `t.DIGITS.SIGNATURE`; the path must have no `.`, `..` or empty segments, so that what
/// follows the token cannot climb out of the signed prefix (a folder, ending in `/`, is
/// accepted: the player page).
pub fn verify_path(key: &SigningKey, path: &str, now: u64) -> Result<String, TokenError> {
    let (prefix, token, rest) = find_token(path).ok_or(TokenError::Missing)?;
    let (expires, signature) = token
        .strip_prefix(TOKEN_MARK)
        .and_then(|t| t.split_once('.'))
        .ok_or(TokenError::Malformed)?;
    let digits = expires;
    let expires: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    // only the canonical decimal form is ever signed
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(TokenError::Malformed);
    }
    if !valid_prefix(prefix) || !valid_rest(rest) {
        return Err(TokenError::Malformed);
    }
    let mut expected = String::with_capacity(SIGNATURE_LEN);
    base64url_into(&mut expected, &key.mac(expires, prefix));
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(TokenError::BadSignature);
    }
    if now >= expires {
        return Err(TokenError::Expired { expires, now });
    }
    Ok(format!("{prefix}{rest}"))
}

/// The path without the segment that looks like a playback token, not checked: for a request
/// already answered under a verified token (logs, metrics). Borrowed when there is none.
pub fn without_token(path: &str) -> std::borrow::Cow<'_, str> {
    match find_token(path) {
        Some((prefix, _, rest)) => format!("{prefix}{rest}").into(),
        None => path.into(),
    }
}

/// `(prefix, token, rest)` of a path whose segment after `prefix` looks like a token.
fn find_token(path: &str) -> Option<(&str, &str, &str)> {
    let mut start = path.find('/')? + 1;
    loop {
        let end = path[start..].find('/').map(|i| start + i)?;
        let segment = &path[start..end];
        if looks_like_token(segment) {
            return Some((&path[..start], segment, &path[end + 1..]));
        }
        start = end + 1;
    }
}

fn looks_like_token(segment: &str) -> bool {
    let Some((digits, signature)) = segment
        .strip_prefix(TOKEN_MARK)
        .and_then(|t| t.split_once('.'))
    else {
        return false;
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && signature.len() == SIGNATURE_LEN
        && signature
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Segments without `.` or `..`, only the last one empty (a folder: `/live/demo/TOKEN/` is
/// the stream's player page).
fn valid_rest(rest: &str) -> bool {
    let mut segments = rest.split('/').peekable();
    while let Some(s) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(s, "." | "..") || (s.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// `/`, or `/A/.../Z/` without empty, `.` or `..` segments.
fn valid_prefix(prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    prefix
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix('/'))
        .is_some_and(|inner| inner.split('/').all(|s| !matches!(s, "" | "." | "..")))
}

fn base64url_into(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
}

/// Equality whose time depends on the lengths only, not on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(b"secret".to_vec()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_expiry_and_prefix_in_base64url() {
        // printf '%s' '123:/live/x/' | openssl dgst -sha256 -hmac secret -binary | basenc --base64url
        assert_eq!(
            path_token(&key(), "/live/x/", 123),
            Ok("t.123.pFDV__S3pdn8cai_NwDDPDJ_3zXhyAfHCdUgsxhbTXk".to_owned())
        );
        // RFC 4648 10 test vectors, unpadded
        for (input, output) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64url_into(&mut out, input.as_bytes());
            assert_eq!(out, output);
        }
        let mut out = String::new();
        base64url_into(&mut out, &[0xfb, 0xff]);
        assert_eq!(out, "-_8");
    }

    #[test]
    fn a_signed_path_verifies_until_it_expires() {
        let k = key();
        let signed = sign_path(&k, "/live/demo/master.m3u8", "/live/demo/", 1000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(signed.starts_with("/live/demo/t.1000."), "{signed}");
        assert!(signed.ends_with("/master.m3u8"), "{signed}");
        assert_eq!(
            verify_path(&k, &signed, 999).as_deref(),
            Ok("/live/demo/master.m3u8")
        );
        // what relative URIs resolve to under the same token
        let dir = signed.trim_end_matches("master.m3u8");
        for rest in [
            "index.m3u8",
            "720p/index.m3u8",
            "abc-12.3.m4s",
            "abc-init0.mp4",
        ] {
            assert_eq!(
                verify_path(&k, &format!("{dir}{rest}"), 999),
                Ok(format!("/live/demo/{rest}"))
            );
        }
        assert_eq!(
            verify_path(&k, &signed, 1000),
            Err(TokenError::Expired {
                expires: 1000,
                now: 1000
            })
        );
    }

    #[test]
    fn tampered_foreign_and_missing_tokens_are_refused() {
        let k = key();
        let signed = sign_path(&k, "/live/demo/index.m3u8", "/live/demo/", 1000)
            .unwrap_or_else(|e| panic!("{e}"));
        let other = SigningKey::new(b"other".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            verify_path(&other, &signed, 0),
            Err(TokenError::BadSignature)
        );
        // a longer expiry, another stream, another application
        for forged in [
            signed.replace("t.1000.", "t.2000."),
            signed.replace("/demo/", "/other/"),
            signed.replace("/live/", "/vod/"),
        ] {
            assert_eq!(verify_path(&k, &forged, 0), Err(TokenError::BadSignature));
        }
        // one character of the signature changed
        let sig_at = signed.find("t.1000.").unwrap_or(0) + 7;
        let mut bytes = signed.clone().into_bytes();
        bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(verify_path(&k, &flipped, 0), Err(TokenError::BadSignature));
        assert_eq!(
            verify_path(&k, "/live/demo/index.m3u8", 0),
            Err(TokenError::Missing)
        );
        // a token that is not followed by a slash is no token; one that is signs the folder
        let bare = signed.trim_end_matches("/index.m3u8");
        assert_eq!(verify_path(&k, bare, 0), Err(TokenError::Missing));
        assert_eq!(
            verify_path(&k, &format!("{bare}/"), 0).as_deref(),
            Ok("/live/demo/")
        );
    }

    #[test]
    fn nothing_after_the_token_climbs_out_of_the_prefix() {
        let k = key();
        let token = path_token(&k, "/live/demo/", 1000).unwrap_or_default();
        for rest in ["../other/index.m3u8", "./x.ts", "a//x.ts", "x/..", "/x.ts"] {
            let path = format!("/live/demo/{token}/{rest}");
            assert_eq!(
                verify_path(&k, &path, 0),
                Err(TokenError::Malformed),
                "{path}"
            );
        }
        // a prefix with dot segments is never signed, nor accepted
        assert_eq!(path_token(&k, "/live/../x/", 1), Err(SignError::BadPrefix));
        let forged = format!(
            "/live/../{}/x.ts",
            path_token(&k, "/live/x/", 1000).unwrap_or_default()
        );
        assert!(verify_path(&k, &forged, 0).is_err());
    }

    #[test]
    fn broad_prefixes_cover_every_stream_under_them() {
        let k = key();
        let signed =
            sign_path(&k, "/live/a/master.m3u8", "/live/", 50).unwrap_or_else(|e| panic!("{e}"));
        let token = signed
            .strip_prefix("/live/")
            .and_then(|s| s.split('/').next())
            .unwrap_or("");
        assert_eq!(
            verify_path(&k, &format!("/live/{token}/b/index.m3u8"), 10),
            Ok("/live/b/index.m3u8".to_owned())
        );
        let root = sign_path(&k, "/live/a/x.ts", "/", 50).unwrap_or_default();
        assert_eq!(verify_path(&k, &root, 10), Ok("/live/a/x.ts".to_owned()));
    }

    #[test]
    fn signing_refuses_what_it_cannot_sign() {
        let k = key();
        assert_eq!(SigningKey::new(Vec::new()), Err(SignError::EmptyKey));
        assert_eq!(format!("{k:?}"), "SigningKey(<redacted>)");
        assert_eq!(
            sign_path(&k, "/vod/a/x.ts", "/live/", 1),
            Err(SignError::OutsidePrefix)
        );
        for prefix in ["live/", "/live", "//", "/a//b/"] {
            assert_eq!(
                sign_path(&k, &format!("{prefix}x"), prefix, 1),
                Err(SignError::BadPrefix),
                "{prefix}"
            );
        }
        let signed = sign_path(&k, "/live/a/x.ts", "/live/a/", 1).unwrap_or_default();
        assert_eq!(
            sign_path(&k, &signed, "/live/a/", 1),
            Err(SignError::AlreadySigned)
        );
    }

    #[test]
    fn a_path_loses_its_token_unchecked() {
        let signed =
            sign_path(&key(), "/live/demo/index.m3u8", "/live/", 1_767_225_600).expect("signs");
        assert_ne!(signed, "/live/demo/index.m3u8");
        assert_eq!(without_token(&signed), "/live/demo/index.m3u8");
        assert!(matches!(
            without_token("/live/demo/index.m3u8"),
            std::borrow::Cow::Borrowed("/live/demo/index.m3u8")
        ));
    }

    #[test]
    fn expiries_round_up_to_the_window() {
        assert_eq!(shared_expiry(1000, 3600, 300), 4800);
        assert_eq!(shared_expiry(1001, 3600, 300), 4800);
        assert_eq!(shared_expiry(1200, 3600, 300), 4800);
        assert_eq!(shared_expiry(1201, 3600, 300), 5100);
        assert_eq!(shared_expiry(1201, 3600, 0), 4801);
        assert_eq!(shared_expiry(u64::MAX - 1, 3600, 300), u64::MAX);
    }
}
