//! Application, stream key and play names, and their validation.
//!
//! Runtimes turn these names into file paths (`DIR/APP/KEY.flv`), URL path segments
//! (`/APP/NAME/index.m3u8`) and registry keys, so the session refuses anything that could
//! escape a directory, hide a file or change what a relative URL means, before the application
//! ever sees it. This is the one validator: runtimes rely on it instead of checking again.
//! Rules, shared by publish keys and play names:
//!
//! - not empty, at most `max_name_length` bytes (after the query string is split off);
//! - no `/`, `\` or `:` (a path separator; `:` also names a drive or an alternate data
//!   stream on Windows and would read as a URL scheme in a relative link);
//! - not `.` alone and no `..` anywhere (a parent directory);
//! - no leading `.` (a hidden file or directory);
//! - no control characters (C0, DEL, C1): they break logs, file names and playlists.
//!
//! Application names (the `app` of `connect`) follow the same rules but may contain **one**
//! `/` between two non-empty parts: ffmpeg sends `app/instance` for
//! `rtmp://host/app/instance/key` (the Flash Media Server application-instance form). A
//! runtime that maps the app to a directory gets at most one nested level, still inside its
//! root.

use std::fmt;

use crate::error::NameError;

/// The secret key a publisher sent (`publish` name), without its query string.
///
/// Its `Debug` output never shows the key: keys end up in logs through `{:?}` of events.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StreamKey(String);

impl StreamKey {
    /// Validates `key` with the rules of this module.
    pub fn new(key: &str, max_len: usize) -> Result<Self, NameError> {
        validate_name(key, max_len)?;
        Ok(Self(key.to_owned()))
    }

    /// The key itself. Treat it as a secret.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(<redacted>)")
    }
}

/// A public stream name a player asked for (`play` name), without its query string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamName(String);

impl StreamName {
    /// Validates `name` with the rules of this module.
    pub fn new(name: &str, max_len: usize) -> Result<Self, NameError> {
        validate_name(name, max_len)?;
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What followed the first `?` of a publish or play name (`KEY?token=abc&x=1`), unparsed and
/// not percent-decoded.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QueryString(String);

impl QueryString {
    /// Wraps a raw query string (without the `?`).
    pub fn new(query: &str) -> Self {
        Self(query.to_owned())
    }

    /// The raw query string, without the `?`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw (not percent-decoded) value of the first `key=value` pair named `key`; a bare
    /// `key` gives `Some("")`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }
}

// Query strings often carry tokens: keep them out of logs like the key.
impl fmt::Debug for QueryString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueryString(<redacted>)")
    }
}

/// Identifies a publish or play request raised by a [`ServerSession`](crate::ServerSession),
/// to be answered with `accept` or `reject`. Unique within one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number behind the id (unique within its session).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Splits `name?query` at the first `?`; an empty query gives `None`.
pub(crate) fn split_query(raw: &str) -> (&str, Option<QueryString>) {
    match raw.split_once('?') {
        Some((name, query)) if !query.is_empty() => (name, Some(QueryString::new(query))),
        Some((name, _)) => (name, None),
        None => (raw, None),
    }
}

/// Checks a stream key or play name against the rules of this module, with `max_len` bytes
/// at most. A name that passes is safe as one file name and one URL path segment.
///
/// ```
/// use onair_rtmp_proto::{validate_name, NameError};
/// assert_eq!(validate_name("cam-1", 128), Ok(()));
/// assert_eq!(validate_name("../etc", 128), Err(NameError::PathSeparator));
/// assert_eq!(validate_name(".hidden", 128), Err(NameError::LeadingDot));
/// ```
pub fn validate_name(name: &str, max_len: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > max_len {
        return Err(NameError::TooLong {
            len: name.len(),
            max: max_len,
        });
    }
    if name.contains(['/', '\\', ':']) {
        return Err(NameError::PathSeparator);
    }
    if name == "." || name.contains("..") {
        return Err(NameError::DotSegment);
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(())
}

/// Checks an application name: a name as [`validate_name`], or `app/instance` made of two,
/// `max_len` bytes at most in all.
pub fn validate_app(app: &str, max_len: usize) -> Result<(), NameError> {
    if app.len() > max_len {
        return Err(NameError::TooLong {
            len: app.len(),
            max: max_len,
        });
    }
    match app.split_once('/') {
        Some((app, instance)) => {
            validate_name(app, max_len)?;
            validate_name(instance, max_len)
        }
        None => validate_name(app, max_len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_is_redacted() {
        let key = StreamKey::new("s3cr3t", 256).unwrap();
        assert_eq!(format!("{key:?}"), "StreamKey(<redacted>)");
        assert!(!format!("{:?}", Some(&key)).contains("s3cr3t"));
        assert_eq!(key.as_str(), "s3cr3t");
        let query = QueryString::new("token=abc");
        assert!(!format!("{query:?}").contains("abc"));
    }

    #[test]
    fn query_split_and_lookup() {
        let (name, query) = split_query("cap1?token=abc&x=1&flag&x=2");
        assert_eq!(name, "cap1");
        let query = query.unwrap();
        assert_eq!(query.as_str(), "token=abc&x=1&flag&x=2");
        assert_eq!(query.get("token"), Some("abc"));
        assert_eq!(query.get("x"), Some("1"));
        assert_eq!(query.get("flag"), Some(""));
        assert_eq!(query.get("missing"), None);
        assert_eq!(split_query("cap1?"), ("cap1", None));
        assert_eq!(split_query("cap1"), ("cap1", None));
        let (name, query) = split_query("k?a=b?c");
        assert_eq!((name, query.unwrap().as_str()), ("k", "a=b?c"));
    }

    #[test]
    fn names_are_validated() {
        for name in ["cap1", "my-stream_01.x", "KEY_123", "a-b.c", "stream@1"] {
            assert_eq!(validate_name(name, 256), Ok(()), "{name}");
        }
        assert_eq!(validate_name("", 256), Err(NameError::Empty));
        assert_eq!(
            validate_name("abcd", 3),
            Err(NameError::TooLong { len: 4, max: 3 })
        );
        assert_eq!(validate_name(&"x".repeat(128), 128), Ok(()));
        assert_eq!(
            validate_name(&"x".repeat(129), 128),
            Err(NameError::TooLong { len: 129, max: 128 })
        );
        assert_eq!(validate_name("a/b", 256), Err(NameError::PathSeparator));
        assert_eq!(validate_name("a/../b", 256), Err(NameError::PathSeparator));
        assert_eq!(validate_name("a\\b", 256), Err(NameError::PathSeparator));
        assert_eq!(validate_name("c:key", 256), Err(NameError::PathSeparator));
        assert_eq!(validate_name("..", 256), Err(NameError::DotSegment));
        assert_eq!(validate_name("a..b", 256), Err(NameError::DotSegment));
        assert_eq!(validate_name(".", 256), Err(NameError::DotSegment));
        assert_eq!(validate_name(".hidden", 256), Err(NameError::LeadingDot));
        assert_eq!(validate_name("a\nb", 256), Err(NameError::ControlCharacter));
        assert_eq!(validate_name("a\0", 256), Err(NameError::ControlCharacter));
        assert_eq!(
            validate_name("a\u{85}", 256),
            Err(NameError::ControlCharacter)
        );
    }

    #[test]
    fn app_may_have_one_instance_level() {
        assert_eq!(validate_app("live", 256), Ok(()));
        assert_eq!(validate_app("live/inst", 256), Ok(()));
        assert_eq!(validate_app("live/a/b", 256), Err(NameError::PathSeparator));
        assert_eq!(validate_app("live/", 256), Err(NameError::Empty));
        assert_eq!(validate_app("/live", 256), Err(NameError::Empty));
        assert_eq!(validate_app("live/..", 256), Err(NameError::DotSegment));
        assert_eq!(validate_app("", 256), Err(NameError::Empty));
        assert_eq!(validate_app(".live/inst", 256), Err(NameError::LeadingDot));
        assert_eq!(
            validate_app("live/inst", 5),
            Err(NameError::TooLong { len: 9, max: 5 })
        );
    }

    #[test]
    fn constructors_validate() {
        assert!(StreamKey::new("a/b", 256).is_err());
        assert_eq!(StreamName::new("cam", 256).unwrap().to_string(), "cam");
    }
}
