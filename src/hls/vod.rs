//! VOD recordings of live streams: each publication's segments are written to disk as they
//! are made, and when the publisher leaves, a VOD playlist per rendition (the packager's
//! archive, [`Packager::archive_playlist`](onair_hls_packager::Packager::archive_playlist))
//! and a master playlist complete it.
//!
//! The publisher's task never touches the disk: files go to one writer thread through a
//! queue bounded in bytes. A disk too slow to keep up fills it; the publication being
//! recorded is then given up (its files deleted, a warning logged) rather than live
//! packaging made to wait.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_hls_packager::{FsStore, Store};
use tracing::{info, warn};

use super::stream::lock;

/// Where and how the origin records each publication as VOD.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VodConfig {
    /// Recordings go to `DIR/APP/NAME/<publication>/`: `master.m3u8`, a media playlist per
    /// rendition (named as live) and the segments. `<publication>` is the time the publisher
    /// started, Unix milliseconds in base 36 (as the segment names).
    pub dir: PathBuf,
    /// Bytes waiting for the disk, all streams together, before a recording is given up.
    pub max_queued_bytes: u64,
    /// Longest publication recorded; a longer one is given up when it ends (the listing of its
    /// segments is kept in memory until then, about 150 bytes a segment).
    pub max_duration: Duration,
}

impl VodConfig {
    /// Recording into `dir`, with 64 MiB of queue and publications up to 24 hours.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_queued_bytes: 64 << 20,
            max_duration: Duration::from_secs(24 * 3600),
        }
    }
}

/// The writer thread's queue, shared by every stream of an origin. Cheap to clone.
#[derive(Clone)]
pub(crate) struct VodWriter {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Jobs arrived.
    work: Condvar,
    /// The queue ran empty.
    idle: Condvar,
    max_queued: u64,
    dir: PathBuf,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Bytes of the files queued.
    bytes: u64,
    /// Recordings begun and not yet finished or given up.
    open: usize,
    /// The writer is at a job.
    busy: bool,
    /// The origin is gone: the thread ends once the queue is empty.
    closed: bool,
}

enum Job {
    Put {
        recording: Arc<Recording>,
        name: String,
        data: Bytes,
    },
    Finish {
        recording: Arc<Recording>,
        files: Vec<(String, Bytes)>,
    },
    Abandon {
        dir: PathBuf,
        stream: String,
    },
}

/// One publication being recorded.
pub(crate) struct Recording {
    dir: PathBuf,
    /// `app/name`, for logs.
    stream: String,
    /// Given up: nothing more is written, and what was is deleted when it ends.
    dropped: AtomicBool,
    /// Finished or given up (counted out of `open`).
    done: AtomicBool,
    writer: Weak<Shared>,
}

impl Recording {
    /// Gives the recording up (once; logged).
    fn drop_with(&self, why: &str) {
        if !self.dropped.swap(true, Ordering::Relaxed) {
            warn!(stream = %self.stream, dir = %self.dir.display(), why, "VOD recording dropped");
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // a publication that never ended properly: its partial files go
        if !self.done.swap(true, Ordering::Relaxed) {
            if let Some(shared) = self.writer.upgrade() {
                let mut q = lock(&shared.queue);
                q.open = q.open.saturating_sub(1);
                q.jobs.push_back(Job::Abandon {
                    dir: std::mem::take(&mut self.dir),
                    stream: std::mem::take(&mut self.stream),
                });
                shared.work.notify_one();
            }
        }
    }
}

impl VodWriter {
    /// Starts the writer thread.
    pub(crate) fn start(config: &VodConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            idle: Condvar::new(),
            max_queued: config.max_queued_bytes,
            dir: config.dir.clone(),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("hls-vod".into())
            .spawn(move || run(&worker))?;
        Ok(Self { shared })
    }

    /// A recording of publication `tag` of stream `app/name`.
    pub(crate) fn begin(&self, app: &str, name: &str, tag: &str) -> Arc<Recording> {
        lock(&self.shared.queue).open += 1;
        Arc::new(Recording {
            dir: self.shared.dir.join(app).join(name).join(tag),
            stream: format!("{app}/{name}"),
            dropped: AtomicBool::new(false),
            done: AtomicBool::new(false),
            writer: Arc::downgrade(&self.shared),
        })
    }

    /// Queues a segment or init segment of `recording`; never waits. A full queue gives the
    /// recording up.
    pub(crate) fn put(&self, recording: &Arc<Recording>, name: &str, data: Bytes) {
        if recording.dropped.load(Ordering::Relaxed) {
            return;
        }
        let mut q = lock(&self.shared.queue);
        let len = data.len() as u64;
        if q.bytes.saturating_add(len) > self.shared.max_queued {
            drop(q);
            recording.drop_with("the disk does not keep up: the write queue is full");
            return;
        }
        q.bytes += len;
        q.jobs.push_back(Job::Put {
            recording: recording.clone(),
            name: name.to_owned(),
            data,
        });
        self.shared.work.notify_one();
    }

    /// Completes `recording` with its playlists (written after every segment queued before),
    /// or, with none or when it was given up, deletes what was written of it.
    pub(crate) fn finish(&self, recording: &Arc<Recording>, files: Vec<(String, Bytes)>) {
        if recording.done.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut q = lock(&self.shared.queue);
        q.open = q.open.saturating_sub(1);
        let job = if files.is_empty() || recording.dropped.load(Ordering::Relaxed) {
            Job::Abandon {
                dir: recording.dir.clone(),
                stream: recording.stream.clone(),
            }
        } else {
            Job::Finish {
                recording: recording.clone(),
                files,
            }
        };
        q.jobs.push_back(job);
        self.shared.work.notify_one();
    }

    /// Gives `recording` up: what was written of it is deleted.
    pub(crate) fn abandon(&self, recording: &Arc<Recording>, why: &str) {
        recording.drop_with(why);
        self.finish(recording, Vec::new());
    }

    /// Waits until every recording begun is finished and written, or `timeout` passed;
    /// returns whether all were.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.shared.queue);
        while q.open > 0 || !q.jobs.is_empty() || q.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = self
                .shared
                .idle
                .wait_timeout(q, left.min(Duration::from_millis(100)))
                .map_or_else(|e| e.into_inner().0, |(q, _)| q);
        }
        true
    }
}

/// Tells the writer thread to end once its queue is written, when the last handle goes.
pub(crate) struct WriterHandle(pub(crate) VodWriter);

impl Drop for WriterHandle {
    fn drop(&mut self) {
        lock(&self.0.shared.queue).closed = true;
        self.0.shared.work.notify_all();
    }
}

/// The writer thread: one job at a time, in order.
fn run(shared: &Shared) {
    loop {
        let job = {
            let mut q = lock(&shared.queue);
            q.busy = false;
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    if let Job::Put { data, .. } = &job {
                        q.bytes = q.bytes.saturating_sub(data.len() as u64);
                    }
                    q.busy = true;
                    break job;
                }
                shared.idle.notify_all();
                if q.closed {
                    return;
                }
                q = shared.work.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        match job {
            Job::Put {
                recording,
                name,
                data,
            } => {
                if recording.dropped.load(Ordering::Relaxed) {
                    continue;
                }
                if let Err(e) = FsStore::new(&recording.dir).and_then(|mut s| s.put(&name, data)) {
                    recording.drop_with(&format!("cannot write {name}: {e}"));
                }
            }
            Job::Finish { recording, files } => {
                if recording.dropped.load(Ordering::Relaxed) {
                    remove(&recording.dir, &recording.stream);
                    continue;
                }
                let written = FsStore::new(&recording.dir).and_then(|mut store| {
                    for (name, data) in files.iter() {
                        store.put(name, data.clone())?;
                    }
                    Ok(())
                });
                match written {
                    Ok(()) => info!(
                        stream = %recording.stream,
                        dir = %recording.dir.display(),
                        playlists = files.len(),
                        "VOD recording written"
                    ),
                    Err(e) => {
                        recording.drop_with(&format!("cannot write its playlists: {e}"));
                        remove(&recording.dir, &recording.stream);
                    }
                }
            }
            Job::Abandon { dir, stream } => remove(&dir, &stream),
        }
    }
}

/// Deletes what was written of a recording given up.
fn remove(dir: &Path, stream: &str) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => info!(%stream, dir = %dir.display(), "incomplete VOD recording deleted"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(%stream, dir = %dir.display(), error = %e, "cannot delete an incomplete VOD recording")
        }
    }
}
