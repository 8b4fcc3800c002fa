//! Where segments and playlists go: a [`Store`] trait, an in-memory store (what an HTTP
//! origin serves from), a filesystem store (temporary name, then rename, so no reader ever
//! sees half a file), and [`Retention`], which deletes files only after they left the
//! playlist and a grace period passed.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use crate::packager::{Event, Packager};
use crate::playlist::PlaylistRequest;

/// Storage of named files.
pub trait Store {
    /// The error of this store.
    type Error;
    /// Stores `data` under `name`, replacing what was there, atomically for readers.
    fn put(&mut self, name: &str, data: Bytes) -> Result<(), Self::Error>;
    /// Deletes `name`; deleting a missing file is not an error.
    fn remove(&mut self, name: &str) -> Result<(), Self::Error>;
}

/// Files kept in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    files: HashMap<String, Bytes>,
}

impl MemoryStore {
    /// The content of `name`.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.files.get(name)
    }

    /// Names of all files, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl Store for MemoryStore {
    type Error = std::convert::Infallible;

    fn put(&mut self, name: &str, data: Bytes) -> Result<(), Self::Error> {
        self.files.insert(name.to_owned(), data);
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), Self::Error> {
        self.files.remove(name);
        Ok(())
    }
}

/// Files in a directory. Each file is written to `.<name>.tmp` and renamed into place.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
}

impl FsStore {
    /// A store writing into `dir`, which is created if needed.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> std::io::Result<PathBuf> {
        // Names come from the packager and the application; refuse anything that would
        // leave the directory.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "file name must be a plain name",
            ));
        }
        Ok(self.dir.join(name))
    }
}

impl Store for FsStore {
    type Error = std::io::Error;

    fn put(&mut self, name: &str, data: Bytes) -> Result<(), Self::Error> {
        let path = self.path(name)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        drop(f);
        std::fs::rename(&tmp, &path)
    }

    fn remove(&mut self, name: &str) -> Result<(), Self::Error> {
        match std::fs::remove_file(self.path(name)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Deletes expired files once `grace` has passed since they left the playlist. Make the
/// grace at least as long as any CDN or player may cache the playlist (a few target
/// durations), so nothing a player was told about disappears under it.
///
/// Times are whatever monotonic clock the caller uses, passed in as [`Duration`]s since an
/// origin of its choice.
#[derive(Debug, Clone)]
pub struct Retention {
    grace: Duration,
    queue: VecDeque<(Duration, String)>,
}

impl Retention {
    /// A retention queue with this grace period.
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            queue: VecDeque::new(),
        }
    }

    /// `name` left the playlist at `now`.
    pub fn expire(&mut self, now: Duration, name: String) {
        self.queue.push_back((now + self.grace, name));
    }

    /// The next file whose grace period is over at `now`; call until `None`.
    pub fn poll_due(&mut self, now: Duration) -> Option<String> {
        match self.queue.front() {
            Some((due, _)) if *due <= now => self.queue.pop_front().map(|(_, n)| n),
            _ => None,
        }
    }

    /// When the next deletion is due.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.queue.front().map(|(due, _)| *due)
    }

    /// Files waiting for deletion.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits for deletion.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Drains `packager`'s events into `store`: stores files, writes the playlist as
/// `playlist_name` on every change, schedules expired files in `retention` and deletes
/// those whose grace period is over at `now`. The glue a simple runtime needs.
pub fn drive<S: Store>(
    packager: &mut Packager,
    store: &mut S,
    retention: &mut Retention,
    playlist_name: &str,
    now: Duration,
) -> Result<(), S::Error> {
    let mut playlist_changed = false;
    while let Some(event) = packager.poll_event() {
        match event {
            Event::File { name, data } => store.put(&name, data)?,
            Event::PlaylistChanged => playlist_changed = true,
            Event::Expired { name } => retention.expire(now, name),
        }
    }
    if playlist_changed {
        let text = packager.media_playlist(&PlaylistRequest::default());
        store.put(playlist_name, Bytes::from(text))?;
    }
    while let Some(name) = retention.poll_due(now) {
        store.remove(&name)?;
    }
    Ok(())
}
