//! The keys file: which secret publish key is published under which public name, with which
//! ladder. [`KeysTable::parse`] reads the text (no IO); [`KeysFile`] reads a file, and reads
//! it again when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use onair_rtmp_proto::{validate_app, validate_name, NameError, StreamName};
use tracing::{info, warn};

use super::MAX_PUBLIC_NAME;
#[cfg(feature = "transcode")]
use crate::rtmp::StreamLadder;
use crate::rtmp::StreamOptions;

/// Longest app or key a keys file may hold, in bytes (the session's names are shorter).
const MAX_FIELD: usize = 256;
/// A keys file larger than this is refused rather than read into memory.
const MAX_FILE_SIZE: u64 = 16 << 20;

/// What one line of a keys file grants: the public name and the stream's options.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyEntry {
    /// The public name the key is published under.
    pub name: StreamName,
    /// The stream's options (its ladder, when the line has one).
    pub options: StreamOptions,
    /// The line of the file it was read from.
    pub line: usize,
}

/// The keys of a keys file, by application and key.
///
/// The format, one stream a line, fields separated by spaces or tabs:
///
/// ```text
/// # APP  KEY                 NAME     [LADDER]
/// live   4f9c2e1b7d0a        studio   source,720p,360p
/// live   a83e55c0f1d2        lobby    off
/// live   0be7d1c94a6f        backstage
/// ```
///
/// `#` starts a comment (at the start of a line or of a field); blank lines are ignored. APP
/// and KEY follow the session's name rules (KEY never starts with `#`), NAME too and is at
/// most 128 bytes, LADDER is `off` (packaged as published) or a ladder (`source,720p,360p`;
/// without it, the origin's ladder). A key is listed once per app; several keys may share a
/// name, but no name may be a key of its app. Errors name the line and what is wrong with
/// it, never the key.
///
/// ```
/// use onair::access::KeysTable;
/// let table = KeysTable::parse("live s3cr3t studio\n")?;
/// assert_eq!(table.get("live", "s3cr3t").map(|e| e.name.as_str()), Some("studio"));
/// assert!(table.get("live", "studio").is_none());
/// # Ok::<(), onair::access::KeysFileError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeysTable {
    /// (app, key) -> entry
    entries: HashMap<(String, String), KeyEntry>,
}

/// A line of a keys file that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct KeysFileError {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong with it.
    pub kind: KeysLineError,
}

/// What is wrong with a line of a keys file. Never shows the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KeysLineError {
    /// Not `APP KEY NAME [LADDER]`.
    #[error("expected `APP KEY NAME [LADDER]`, found {found} fields")]
    Fields {
        /// How many fields the line has.
        found: usize,
    },
    /// The application name breaks the name rules.
    #[error("invalid app: {0}")]
    App(NameError),
    /// The key breaks the name rules.
    #[error("invalid key: {0}")]
    Key(NameError),
    /// The public name breaks the name rules.
    #[error("invalid name: {0}")]
    Name(NameError),
    /// The ladder cannot be read.
    #[cfg(feature = "transcode")]
    #[error("invalid ladder: {0}")]
    Ladder(onair_transcode::LadderError),
    /// A ladder other than `off` in a build without transcoding.
    #[error("a ladder needs the `transcode` feature (only `off` is known)")]
    NoTranscoding,
    /// The key is listed for this app already.
    #[error("the key is listed already, on line {first}")]
    DuplicateKey {
        /// The line that lists it first.
        first: usize,
    },
    /// The public name is a key of the same app (this line's own, or another's): players
    /// would see the key.
    #[error("the name is the key of line {key_line}")]
    NameIsKey {
        /// The line whose key it is.
        key_line: usize,
    },
}

impl KeysTable {
    /// Reads a keys file's text; the first line in error fails the whole table.
    pub fn parse(text: &str) -> Result<Self, KeysFileError> {
        let mut entries: HashMap<(String, String), KeyEntry> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let at = |kind| KeysFileError {
                line: line_no,
                kind,
            };
            let fields: Vec<&str> = line
                .split_whitespace()
                .take_while(|f| !f.starts_with('#'))
                .collect();
            let (app, key, name, ladder) = match fields[..] {
                [] => continue,
                [app, key, name] => (app, key, name, None),
                [app, key, name, ladder] => (app, key, name, Some(ladder)),
                _ => {
                    return Err(at(KeysLineError::Fields {
                        found: fields.len(),
                    }))
                }
            };
            validate_app(app, MAX_FIELD).map_err(|e| at(KeysLineError::App(e)))?;
            validate_name(key, MAX_FIELD).map_err(|e| at(KeysLineError::Key(e)))?;
            let name =
                StreamName::new(name, MAX_PUBLIC_NAME).map_err(|e| at(KeysLineError::Name(e)))?;
            let options = match ladder {
                Some(ladder) => options_with_ladder(ladder).map_err(at)?,
                None => StreamOptions::default(),
            };
            let slot = (app.to_owned(), key.to_owned());
            if let Some(first) = entries.get(&slot) {
                return Err(at(KeysLineError::DuplicateKey { first: first.line }));
            }
            entries.insert(
                slot,
                KeyEntry {
                    name,
                    options,
                    line: line_no,
                },
            );
        }
        // a public name that is also a key would publish that key to every player
        let mut named_keys: Vec<(usize, usize)> = entries
            .iter()
            .filter_map(|((app, _), entry)| {
                let key = entries.get(&(app.clone(), entry.name.as_str().to_owned()))?;
                Some((entry.line, key.line))
            })
            .collect();
        named_keys.sort_unstable();
        if let Some(&(line, key_line)) = named_keys.first() {
            return Err(KeysFileError {
                line,
                kind: KeysLineError::NameIsKey { key_line },
            });
        }
        Ok(Self { entries })
    }

    /// Whether `name` is a key of `app` (players asking for it are refused, so that nothing
    /// is ever served, or waited for, under a key).
    pub fn is_key(&self, app: &str, name: &str) -> bool {
        self.get(app, name).is_some()
    }

    /// The entry of `key` in `app`.
    pub fn get(&self, app: &str, key: &str) -> Option<&KeyEntry> {
        // the map is keyed by owned strings; a look-up per publish is cheap enough to build one
        self.entries.get(&(app.to_owned(), key.to_owned()))
    }

    /// How many keys it lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it lists no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(feature = "transcode")]
fn options_with_ladder(text: &str) -> Result<StreamOptions, KeysLineError> {
    let ladder: StreamLadder = text.parse().map_err(KeysLineError::Ladder)?;
    Ok(StreamOptions {
        ladder: Some(ladder),
    })
}

#[cfg(not(feature = "transcode"))]
fn options_with_ladder(text: &str) -> Result<StreamOptions, KeysLineError> {
    if text.eq_ignore_ascii_case("off") {
        Ok(StreamOptions::default())
    } else {
        Err(KeysLineError::NoTranscoding)
    }
}

/// Why a keys file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The file could not be read (or is not UTF-8, or is too large).
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line is wrong.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line and what is wrong with it.
        source: KeysFileError,
    },
}

/// A keys file ([`KeysTable`]'s format), loaded at start and read again while the server
/// runs: on [`reload`](Self::reload) (e.g. on SIGHUP) and, with
/// [`reload_on_change`](Self::reload_on_change), when its modification time or size
/// changes. A file that fails to load keeps the previous table in force (and says which
/// line is wrong). Cheap to clone: clones share the table.
#[derive(Clone)]
pub struct KeysFile {
    inner: Arc<KeysInner>,
}

struct KeysInner {
    path: PathBuf,
    table: RwLock<Arc<KeysTable>>,
    /// What the file looked like when last read.
    stamp: Mutex<Option<FileStamp>>,
}

impl std::fmt::Debug for KeysFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysFile")
            .field("path", &self.inner.path)
            .field("keys", &self.table().len())
            .finish()
    }
}

/// A file's modification time and size (and inode on Unix: a file replaced by rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

impl KeysFile {
    /// Loads `path`; fails if it cannot be read or a line is wrong.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, KeysError> {
        let path = path.into();
        let seen = stamp(&path);
        let table = read_table(&path)?;
        info!(path = %path.display(), keys = table.len(), "keys file loaded");
        Ok(Self {
            inner: Arc::new(KeysInner {
                path,
                table: RwLock::new(Arc::new(table)),
                stamp: Mutex::new(seen),
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The table in force.
    pub fn table(&self) -> Arc<KeysTable> {
        self.inner
            .table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The entry of `key` in `app`, in the table in force.
    pub fn get(&self, app: &str, key: &str) -> Option<KeyEntry> {
        self.table().get(app, key).cloned()
    }

    /// Reads the file again; on error the previous table stays in force. Returns how many
    /// keys the new table lists.
    pub fn reload(&self) -> Result<usize, KeysError> {
        let seen = stamp(&self.inner.path);
        *self.inner.stamp.lock().unwrap_or_else(|e| e.into_inner()) = seen;
        let table = read_table(&self.inner.path)?;
        let keys = table.len();
        *self.inner.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(keys)
    }

    /// Checks the file every `interval` and reads it again when its modification time, size
    /// or inode changed (an editor's save or an atomic rename); what cannot be loaded is
    /// logged with its line and the previous table stays. Runs until dropped: spawn it.
    pub async fn reload_on_change(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = stamp(&self.inner.path);
            let seen = *self.inner.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if now == seen {
                continue;
            }
            self.reload_logged("changed");
        }
    }

    /// [`reload`](Self::reload), saying how it went in the log; `why` says what prompted it.
    pub fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(keys) => info!(path = %self.inner.path.display(), keys, why, "keys file reloaded"),
            Err(e) => warn!(error = %e, why, "keys file not reloaded, the previous keys stay"),
        }
    }
}

fn read_table(path: &Path) -> Result<KeysTable, KeysError> {
    let io = |source| KeysError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_SIZE {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_SIZE} bytes"),
        )));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    KeysTable::parse(&text).map_err(|source| KeysError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_ladders() {
        let text = "# APP KEY NAME [LADDER]\n\
                    \n\
                    live  k1  studio\n\
                    \tlive\tk2\tlobby\toff   # no transcoding\n\
                    live/inst k1 other # another app\n";
        let table = KeysTable::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.len(), 3);
        let studio = table.get("live", "k1").expect("k1");
        assert_eq!((studio.name.as_str(), studio.line), ("studio", 3));
        assert_eq!(studio.options, StreamOptions::default());
        let lobby = table.get("live", "k2").expect("k2");
        assert_eq!(lobby.name.as_str(), "lobby");
        #[cfg(feature = "transcode")]
        assert_eq!(lobby.options.ladder, Some(StreamLadder::Off));
        assert_eq!(
            table.get("live/inst", "k1").map(|e| e.name.as_str()),
            Some("other")
        );
        assert!(table.get("live", "studio").is_none(), "names are not keys");
        assert!(table.is_key("live", "k1") && !table.is_key("live", "studio"));
        assert!(
            table.get("other", "k1").is_none(),
            "keys belong to their app"
        );
    }

    #[cfg(feature = "transcode")]
    #[test]
    fn a_ladder_per_key() {
        let table = KeysTable::parse("live k n source,720p,360p@700k\n").unwrap();
        let entry = table.get("live", "k").expect("k");
        let Some(StreamLadder::Ladder(ladder)) = &entry.options.ladder else {
            panic!("no ladder: {entry:?}");
        };
        assert_eq!(ladder.to_string(), "source,720p,360p@700k");
    }

    #[test]
    fn errors_name_the_line_never_the_key() {
        let secret = "hunter2";
        let cases: Vec<(String, KeysFileError)> = vec![
            (
                format!("live {secret}\n"),
                KeysFileError {
                    line: 1,
                    kind: KeysLineError::Fields { found: 2 },
                },
            ),
            (
                format!("# ok\nlive {secret} a b c\n"),
                KeysFileError {
                    line: 2,
                    kind: KeysLineError::Fields { found: 5 },
                },
            ),
            (
                format!("live ../{secret} studio\n"),
                KeysFileError {
                    line: 1,
                    kind: KeysLineError::Key(NameError::PathSeparator),
                },
            ),
            (
                format!("a/b/c {secret} studio\n"),
                KeysFileError {
                    line: 1,
                    kind: KeysLineError::App(NameError::PathSeparator),
                },
            ),
            (
                format!("live {secret} .hidden\n"),
                KeysFileError {
                    line: 1,
                    kind: KeysLineError::Name(NameError::LeadingDot),
                },
            ),
            (
                format!("live {secret} {}\n", "n".repeat(129)),
                KeysFileError {
                    line: 1,
                    kind: KeysLineError::Name(NameError::TooLong { len: 129, max: 128 }),
                },
            ),
            (
                format!("live {secret} a\n\nlive {secret} b\n"),
                KeysFileError {
                    line: 3,
                    kind: KeysLineError::DuplicateKey { first: 1 },
                },
            ),
            (
                format!("live {secret} {secret}\n"),
                KeysFileError {
                    line: 1,
                    kind: KeysLineError::NameIsKey { key_line: 1 },
                },
            ),
            (
                format!("live k1 ok\nlive k2 {secret}\nlive {secret} other\n"),
                KeysFileError {
                    line: 2,
                    kind: KeysLineError::NameIsKey { key_line: 3 },
                },
            ),
        ];
        for (text, expected) in cases {
            let e = KeysTable::parse(&text).expect_err(&text);
            assert_eq!(e, expected, "{text}");
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn a_bad_ladder_is_an_error() {
        let e = KeysTable::parse("live k n 720q\n").expect_err("720q");
        assert_eq!(e.line, 1);
        #[cfg(feature = "transcode")]
        assert!(matches!(e.kind, KeysLineError::Ladder(_)), "{e}");
        #[cfg(not(feature = "transcode"))]
        assert_eq!(e.kind, KeysLineError::NoTranscoding);
    }

    #[test]
    fn a_file_that_fails_keeps_the_previous_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "live k1 one\n").unwrap();
        let keys = KeysFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            keys.get("live", "k1")
                .map(|e| e.name.to_string())
                .as_deref(),
            Some("one")
        );

        std::fs::write(&path, "live k1 one\nlive k2\n").unwrap();
        let e = keys.reload().expect_err("line 2 is short");
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(keys.get("live", "k1").is_some(), "the previous table stays");
        assert!(keys.get("live", "k2").is_none());

        std::fs::write(&path, "live k2 two\n").unwrap();
        assert_eq!(keys.reload().unwrap_or_else(|e| panic!("{e}")), 1);
        assert!(keys.get("live", "k1").is_none(), "a removed key is gone");
        assert_eq!(
            keys.get("live", "k2")
                .map(|e| e.name.to_string())
                .as_deref(),
            Some("two")
        );

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(keys.reload(), Err(KeysError::Io { .. })));
        assert!(
            keys.get("live", "k2").is_some(),
            "a missing file keeps the table"
        );
    }

    #[tokio::test]
    async fn changes_are_picked_up_by_polling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "live k1 one\n").unwrap();
        let keys = KeysFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let watcher = tokio::spawn(keys.clone().reload_on_change(Duration::from_millis(50)));
        // a different size: seen whatever the file system's time resolution
        std::fs::write(&path, "live k1 one\nlive k22 twenty-two\n").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(keys.get("live", "k22").is_some(), "{:?}", keys.table());
        watcher.abort();
    }
}
