//! Where segments and playlists go: a [`Store`] trait, an in-memory store (what an HTTP
//! origin serves from), a filesystem store (temporary name, then rename, so no reader ever
//! sees half a file), and [`Retention`], which deletes files only after they left the
//! playlist and a [`Grace`] period passed.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use crate::{Event, Packager, PlaylistRequest};

/// Storage of named files.
pub trait Store {
    /// The error of this store.
    type Error;
    /// Stores `data` under `name`, replacing what was there, atomically for readers.
    fn put(&mut self, name: &str, data: Bytes) -> Result<(), Self::Error>;
    /// Deletes `name`; deleting a missing file is not an error.
    fn remove(&mut self, name: &str) -> Result<(), Self::Error>;
}

/// Files kept in memory, as the [`Bytes`] the packager produced: [`get`](Self::get) hands out
/// the same reference-counted buffer to every reader, never a copy.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    files: HashMap<String, Bytes>,
    bytes: u64,
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

    /// Bytes of all files.
    pub fn bytes(&self) -> u64 {
        self.bytes
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
        self.bytes += data.len() as u64;
        // A playlist is put again on every change: reuse its key.
        match self.files.get_mut(name) {
            Some(old) => {
                self.bytes -= old.len() as u64;
                *old = data;
            }
            None => {
                self.files.insert(name.to_owned(), data);
            }
        }
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), Self::Error> {
        if let Some(old) = self.files.remove(name) {
            self.bytes -= old.len() as u64;
        }
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

/// How long a file stays after it left the playlist. Make it at least as long as any CDN or
/// player may cache the playlist, so nothing a player was told about disappears under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grace {
    /// The same period for every file.
    Fixed(Duration),
    /// RFC 8216 6.2.2: a segment stays available for its own duration plus that of the longest
    /// playlist that listed it. Counted in whole target durations as the playlist declares
    /// them when the file leaves it (a GOP longer than the configured duration raises the
    /// declared one): one for the segment, `window` for the listed segments and one for the
    /// segment being written, so `window + 2`.
    Playlist {
        /// Segments the live playlist lists.
        window: usize,
    },
    /// RFC 8216 6.2.2 for a playlist listing up to `listed` of media (a DVR window,
    /// [`PlaylistKind::Dvr`](crate::PlaylistKind::Dvr)): that, plus two declared target
    /// durations (the segment itself, and the one being written).
    Listed {
        /// Media the playlist lists at most.
        listed: Duration,
    },
}

impl Grace {
    /// The grace period of a file that leaves a playlist declaring `target_duration`
    /// (`EXT-X-TARGETDURATION`).
    pub fn period(self, target_duration: Duration) -> Duration {
        match self {
            Grace::Fixed(d) => d,
            Grace::Playlist { window } => {
                let durations = u32::try_from(window).unwrap_or(u32::MAX).saturating_add(2);
                target_duration.saturating_mul(durations)
            }
            Grace::Listed { listed } => listed.saturating_add(target_duration.saturating_mul(2)),
        }
    }
}

impl From<Duration> for Grace {
    fn from(d: Duration) -> Self {
        Grace::Fixed(d)
    }
}

/// Deletes expired files once their [`Grace`] period has passed since they left the playlist.
///
/// Times are whatever monotonic clock the caller uses, passed in as [`Duration`]s since an
/// origin of its choice.
#[derive(Debug, Clone)]
pub struct Retention {
    grace: Grace,
    /// By due time.
    queue: VecDeque<(Duration, String)>,
}

impl Retention {
    /// A retention queue with this grace period (a [`Duration`] for a fixed one).
    pub fn new(grace: impl Into<Grace>) -> Self {
        Self {
            grace: grace.into(),
            queue: VecDeque::new(),
        }
    }

    /// The grace period.
    pub fn grace(&self) -> Grace {
        self.grace
    }

    /// `name` left the playlist at `now`, when the playlist declared `target_duration` (what
    /// [`Packager::target_duration_secs`] says; [`Grace::Playlist`] and [`Grace::Listed`]
    /// count in it).
    pub fn expire(&mut self, now: Duration, name: String, target_duration: Duration) {
        let due = now.saturating_add(self.grace.period(target_duration));
        // Due times only grow with a steady clock and target duration; a caller whose do not
        // still gets its files deleted in due order.
        let at = self.queue.partition_point(|(d, _)| *d <= due);
        self.queue.insert(at, (due, name));
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
    drive_with(
        packager,
        store,
        retention,
        playlist_name,
        &PlaylistRequest::default(),
        now,
    )
}

/// [`drive`], rendering the playlist as `request` asks: with the other renditions'
/// `EXT-X-RENDITION-REPORT`s, for a rendition of a ladder served with LL-HLS.
pub fn drive_with<S: Store>(
    packager: &mut Packager,
    store: &mut S,
    retention: &mut Retention,
    playlist_name: &str,
    request: &PlaylistRequest,
    now: Duration,
) -> Result<(), S::Error> {
    let mut playlist_changed = false;
    while let Some(event) = packager.poll_event() {
        match event {
            Event::File { name, data } => store.put(&name, data)?,
            Event::PlaylistChanged => playlist_changed = true,
            Event::Expired { name } => {
                let target = Duration::from_secs(packager.target_duration_secs());
                retention.expire(now, name, target);
            }
        }
    }
    if playlist_changed {
        let text = packager.media_playlist(request);
        store.put(playlist_name, Bytes::from(text))?;
    }
    while let Some(name) = retention.poll_due(now) {
        store.remove(&name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_playlist_grace_counts_declared_target_durations() {
        let grace = Grace::Playlist { window: 3 };
        assert_eq!(grace.period(S(2)), S(10));
        assert_eq!(Grace::from(S(7)).period(S(2)), S(7));
        assert_eq!(Grace::Listed { listed: S(60) }.period(S(3)), S(66));
        let mut r = Retention::new(grace);
        r.expire(S(0), "a.ts".into(), S(1));
        // a longer GOP raised the declared target duration: later files stay longer
        r.expire(S(1), "b.ts".into(), S(3));
        r.expire(S(2), "c.ts".into(), S(1));
        assert_eq!(r.poll_timeout(), Some(S(5)));
        assert_eq!(r.poll_due(S(6)), Some("a.ts".into()));
        assert_eq!(r.poll_due(S(6)), None);
        assert_eq!(r.poll_due(S(7)), Some("c.ts".into()));
        assert_eq!(r.poll_due(S(15)), None);
        assert_eq!(r.poll_due(S(16)), Some("b.ts".into()));
        assert!(r.is_empty());
    }

    #[test]
    fn the_memory_store_shares_the_buffers_it_was_given() {
        let mut store = MemoryStore::default();
        let data = Bytes::from(vec![0x47; 188]);
        let Ok(()) = store.put("a.ts", data.clone());
        let Ok(()) = store.put("index.m3u8", Bytes::from_static(b"#EXTM3U\n"));
        let Ok(()) = store.put(
            "index.m3u8",
            Bytes::from_static(b"#EXTM3U\n#EXT-X-VERSION:3\n"),
        );
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.bytes(),
            188 + b"#EXTM3U\n#EXT-X-VERSION:3\n".len() as u64
        );
        let served = store.get("a.ts").cloned().unwrap_or_default();
        assert_eq!(
            served.as_ptr(),
            data.as_ptr(),
            "the same buffer, not a copy"
        );
        assert_eq!(
            store.get("index.m3u8").map(|b| b.len()),
            Some(b"#EXTM3U\n#EXT-X-VERSION:3\n".len())
        );
        let Ok(()) = store.remove("a.ts");
        let Ok(()) = store.remove("a.ts");
        assert!(store.get("a.ts").is_none());
        assert_eq!(store.names().collect::<Vec<_>>(), ["index.m3u8"]);
        assert_eq!(store.bytes(), b"#EXTM3U\n#EXT-X-VERSION:3\n".len() as u64);
    }
}
