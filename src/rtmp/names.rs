//! Names that become paths: validation of app and stream key names, and the choice of a
//! recording file that never overwrites an existing one.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Longest app or stream key name (in bytes) the server accepts.
pub const MAX_NAME_BYTES: usize = 128;

/// Why an app or stream key name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`].
    #[error("name is {len} bytes long, at most {max} allowed")]
    TooLong {
        /// Length of the refused name in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name starts with a dot (hidden files, `.` and `..`).
    #[error("name starts with a dot")]
    LeadingDot,
    /// The name holds a character that is not allowed in a file name.
    #[error("name contains the forbidden character {ch:?}")]
    ForbiddenChar {
        /// The first forbidden character.
        ch: char,
    },
}

/// Checks that `name` (an RTMP app or stream key, query string already split off) is safe to
/// use as one path component under a recording directory: not empty, at most
/// [`MAX_NAME_BYTES`], no leading `.`, no `/`, `\`, `:`, control characters or `..`.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            len: name.len(),
            max: MAX_NAME_BYTES,
        });
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    if let Some(ch) = name
        .chars()
        .find(|&c| c == '/' || c == '\\' || c == ':' || c.is_control())
    {
        return Err(NameError::ForbiddenChar { ch });
    }
    if name.contains("..") {
        return Err(NameError::ForbiddenChar { ch: '.' });
    }
    Ok(())
}

/// Checks an application name: one name as [`validate_name`], or `app/instance` made of two.
pub fn validate_app(app: &str) -> Result<(), NameError> {
    match app.split_once('/') {
        Some((a, instance)) => validate_name(a).and_then(|()| validate_name(instance)),
        None => validate_name(app),
    }
}

/// Creates a new recording file `dir/app/key.flv`, or `dir/app/key-1.flv`, `key-2.flv`, ... when
/// that exists: an existing file is never opened for writing. `app` and `key` must have passed
/// [`validate_name`]. Returns the open file and its path.
pub(crate) fn create_recording_file(
    dir: &Path,
    app: &str,
    key: &str,
) -> io::Result<(File, PathBuf)> {
    let app_dir = dir.join(app);
    std::fs::create_dir_all(&app_dir)?;
    for n in 0u32..10_000 {
        let file_name = if n == 0 {
            format!("{key}.flv")
        } else {
            format!("{key}-{n}.flv")
        };
        let path = app_dir.join(file_name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many recordings with the same name",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "live",
            "KEY_123",
            "a-b.c",
            "stream@1",
            "x".repeat(128).as_str(),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_names_that_escape_or_hide() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name(".."), Err(NameError::LeadingDot));
        assert_eq!(validate_name(".hidden"), Err(NameError::LeadingDot));
        assert_eq!(
            validate_name("a/../b"),
            Err(NameError::ForbiddenChar { ch: '/' })
        );
        assert_eq!(
            validate_name("a\\b"),
            Err(NameError::ForbiddenChar { ch: '\\' })
        );
        assert_eq!(
            validate_name("a\nb"),
            Err(NameError::ForbiddenChar { ch: '\n' })
        );
        assert_eq!(
            validate_name("a\0b"),
            Err(NameError::ForbiddenChar { ch: '\0' })
        );
        assert_eq!(
            validate_name("a..b"),
            Err(NameError::ForbiddenChar { ch: '.' })
        );
        assert_eq!(
            validate_name(&"x".repeat(129)),
            Err(NameError::TooLong { len: 129, max: 128 })
        );
    }

    #[test]
    fn never_overwrites_a_recording() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_f0, p0) = create_recording_file(dir.path(), "live", "key").expect("first");
        let (_f1, p1) = create_recording_file(dir.path(), "live", "key").expect("second");
        let (_f2, p2) = create_recording_file(dir.path(), "live", "key").expect("third");
        assert_eq!(p0, dir.path().join("live/key.flv"));
        assert_eq!(p1, dir.path().join("live/key-1.flv"));
        assert_eq!(p2, dir.path().join("live/key-2.flv"));
    }
}
