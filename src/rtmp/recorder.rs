//! Recording a published stream to an FLV file, on a thread of its own so disk latency never
//! reaches the connection task. The file is finalized (onMetaData `duration` and `filesize`
//! patched) when the recorder is finished, whatever the reason the stream ended.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use onair_flv::{FlvTagType, FlvWriter};
use onair_rtmp_proto::{validate_app, validate_name, NameError};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::packet::{MediaType, Packet};

/// Longest file or directory name on common file systems (ext4, XFS, APFS, NTFS), in bytes.
const MAX_FILE_NAME: usize = 255;
/// What a recording adds to the key: `-9999.flv` at most.
const MAX_FILE_SUFFIX: usize = "-9999.flv".len();

/// Packets queued to the writer thread. Bounded: if the disk cannot keep up the publisher is
/// slowed down rather than memory growing.
const CHANNEL_CAPACITY: usize = 2048;

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Where it was written.
    pub path: PathBuf,
    /// Audio and video tags written.
    pub tags: u64,
    /// Last timestamp minus first timestamp, in milliseconds.
    pub duration_ms: u64,
}

/// Why a recording could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The app or name cannot be a file name (too long for one, or refused by
    /// [`validate_name`](onair_rtmp_proto::validate_name)).
    #[error("invalid recording name: {0}")]
    Name(#[from] NameError),
    /// The file could not be created or written.
    #[error("recording i/o error: {0}")]
    Io(#[from] io::Error),
}

/// A running recording. Call [`Recorder::finish`] to close the file cleanly; dropping it also
/// finalizes the file, on the writer thread, without waiting for it.
#[derive(Debug)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Packet>,
    done: oneshot::Receiver<Result<RecordingSummary, io::Error>>,
    path: PathBuf,
}

impl Recorder {
    /// Creates `dir/app/name.flv` (or `name-N.flv` beside an existing one) and starts the
    /// writer thread. An `app` of the form `app/instance` becomes two directory levels.
    ///
    /// The names come from the session, which has validated them already, within its
    /// `max_name_length`; checking them here again, against the file system's name length,
    /// keeps the one place that makes paths safe on its own.
    pub(crate) fn start(dir: &Path, app: &str, key: &str) -> Result<Self, RecordError> {
        validate_app(app, MAX_FILE_NAME)?;
        validate_name(key, MAX_FILE_NAME - MAX_FILE_SUFFIX)?;
        let app_dir: PathBuf = app.split('/').collect();
        let (file, path) = create_recording_file(dir, &app_dir, key)?;
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (done_tx, done) = oneshot::channel();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("onair-recorder".into())
            .spawn(move || {
                let result = write_loop(file, thread_path, rx);
                let _ = done_tx.send(result);
            })?;
        info!(path = %path.display(), "recording started");
        Ok(Self { tx, done, path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Queues what the publisher sent (metadata or media) for writing; waits while the
    /// writer is behind.
    pub(crate) async fn record(&self, packet: Packet) {
        if self.tx.send(packet).await.is_err() {
            error!(path = %self.path.display(), "recorder stopped early");
        }
    }

    /// Closes the channel and waits until the file is finalized.
    pub(crate) async fn finish(self) -> Result<RecordingSummary, io::Error> {
        drop(self.tx);
        match self.done.await {
            Ok(r) => r,
            Err(_) => Err(io::Error::other("recorder thread ended without a result")),
        }
    }
}

/// Creates a new recording file `dir/app/name.flv`, or `dir/app/name-1.flv`, `name-2.flv`, ...
/// when that exists: an existing file is never opened for writing. Returns the open file and
/// its path.
fn create_recording_file(dir: &Path, app: &Path, key: &str) -> io::Result<(File, PathBuf)> {
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

fn flv_io(e: onair_flv::FlvError) -> io::Error {
    io::Error::other(e.to_string())
}

fn write_loop(
    file: File,
    path: PathBuf,
    mut rx: mpsc::Receiver<Packet>,
) -> Result<RecordingSummary, io::Error> {
    let mut writer =
        FlvWriter::new(BufWriter::with_capacity(256 * 1024, file), true, true).map_err(flv_io)?;
    let mut wrote_metadata = false;
    let mut tags = 0u64;
    let mut first_ts: Option<u64> = None;
    let mut last_ts = 0u64;
    while let Some(packet) = rx.blocking_recv() {
        match packet {
            Packet::Metadata(props) => {
                // Only the first onMetaData is kept: it is the one patched at the end.
                if !wrote_metadata {
                    writer.write_metadata(&props).map_err(flv_io)?;
                    wrote_metadata = true;
                }
            }
            Packet::Media(p) => {
                if !wrote_metadata {
                    writer.write_metadata(&[]).map_err(flv_io)?;
                    wrote_metadata = true;
                }
                let tag_type = match p.media {
                    MediaType::Audio => FlvTagType::Audio,
                    MediaType::Video => FlvTagType::Video,
                };
                // FLV timestamps are 32 bits (with the extended byte); they wrap like RTMP's.
                writer
                    .write_tag(tag_type, p.timestamp_ms as u32, &p.data)
                    .map_err(flv_io)?;
                tags += 1;
                first_ts.get_or_insert(p.timestamp_ms);
                last_ts = last_ts.max(p.timestamp_ms);
            }
            Packet::End | Packet::Begin => {}
        }
    }
    let duration_ms = last_ts.saturating_sub(first_ts.unwrap_or(0));
    if !wrote_metadata {
        writer.write_metadata(&[]).map_err(flv_io)?;
    }
    let inner = writer.finish(duration_ms).map_err(flv_io)?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    info!(path = %path.display(), tags, duration_ms, "recording finalized");
    Ok(RecordingSummary {
        path,
        tags,
        duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use onair_amf::amf0::{self, Amf0Value};
    use onair_flv::{FlvReader, FlvTagType};

    use super::super::packet::MediaPacket;

    use super::*;

    #[tokio::test]
    async fn finish_patches_duration_and_filesize_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        for round in 0..2 {
            let r = Recorder::start(dir.path(), "live", "k").expect("start");
            r.record(Packet::Metadata(Arc::new(vec![(
                "width".into(),
                Amf0Value::Number(640.0),
            )])))
            .await;
            r.record(Packet::Media(MediaPacket::video(
                1000,
                Bytes::from_static(&[0x17, 0, 0, 0, 0]),
            )))
            .await;
            r.record(Packet::Media(MediaPacket::video(
                1000,
                Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]),
            )))
            .await;
            r.record(Packet::Media(MediaPacket::audio(
                1020,
                Bytes::from_static(&[0xaf, 1, 0x21]),
            )))
            .await;
            r.record(Packet::Media(MediaPacket::video(
                3500,
                Bytes::from_static(&[0x27, 1, 0, 0, 0, 9]),
            )))
            .await;
            let summary = r.finish().await.expect("finish");
            let name = if round == 0 { "k.flv" } else { "k-1.flv" };
            assert_eq!(summary.path, dir.path().join("live").join(name));
            assert_eq!(summary.tags, 4);
            assert_eq!(summary.duration_ms, 2500);

            let bytes = std::fs::read(&summary.path).expect("read");
            let mut reader = FlvReader::from_bytes(bytes.clone());
            reader.read_header().expect("header");
            let meta = reader.next_tag().expect("tag").expect("metadata tag");
            assert_eq!(meta.tag_type, FlvTagType::Script);
            let values = amf0::decode_all(&meta.data).expect("amf0");
            let props = values[1].properties().expect("props");
            let get = |k: &str| {
                props
                    .iter()
                    .find(|(n, _)| n == k)
                    .and_then(|(_, v)| v.as_number())
            };
            assert_eq!(get("width"), Some(640.0));
            assert_eq!(get("duration"), Some(2.5));
            assert_eq!(get("filesize"), Some(bytes.len() as f64));
            let mut timestamps = Vec::new();
            while let Some(tag) = reader.next_tag().expect("tag") {
                timestamps.push(tag.timestamp);
            }
            assert_eq!(timestamps, vec![1000, 1000, 1020, 3500]);
        }
    }

    #[test]
    fn refuses_names_that_escape() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            Recorder::start(dir.path(), "live", "../x"),
            Err(RecordError::Name(_))
        ));
        assert!(matches!(
            Recorder::start(dir.path(), "..", "x"),
            Err(RecordError::Name(_))
        ));
        assert!(matches!(
            Recorder::start(dir.path(), "live/../..", "x"),
            Err(RecordError::Name(_))
        ));
        assert!(matches!(
            Recorder::start(dir.path(), "live", &"k".repeat(247)),
            Err(RecordError::Name(NameError::TooLong { len: 247, max: 246 }))
        ));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn never_overwrites_a_recording() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = Path::new("live");
        let (_f0, p0) = create_recording_file(dir.path(), app, "key").expect("first");
        let (_f1, p1) = create_recording_file(dir.path(), app, "key").expect("second");
        let (_f2, p2) = create_recording_file(dir.path(), app, "key").expect("third");
        assert_eq!(p0, dir.path().join("live/key.flv"));
        assert_eq!(p1, dir.path().join("live/key-1.flv"));
        assert_eq!(p2, dir.path().join("live/key-2.flv"));
    }
}
