//! Recording a published stream to an FLV file, on a thread of its own so disk latency never
//! reaches the connection task. The file is finalized (onMetaData `duration` and `filesize`
//! patched) when the recorder is finished, whatever the reason the stream ended.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use onair_flv::{FlvTagType, FlvWriter};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::names::{create_recording_file, validate_app, validate_name, NameError};
use super::packet::{MediaPacket, MediaType, MetadataProps};

/// Commands queued to the writer thread. Bounded: if the disk cannot keep up the publisher is
/// slowed down rather than memory growing.
const CHANNEL_CAPACITY: usize = 2048;

#[derive(Debug)]
enum Command {
    Metadata(MetadataProps),
    Media(MediaPacket),
}

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
    /// The app or key cannot be a file name.
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
    tx: mpsc::Sender<Command>,
    done: oneshot::Receiver<Result<RecordingSummary, io::Error>>,
    path: PathBuf,
}

impl Recorder {
    /// Creates `dir/app/key.flv` (or `key-N.flv` beside an existing one) and starts the
    /// writer thread. An `app` of the form `app/instance` becomes two directory levels.
    pub(crate) fn start(dir: &Path, app: &str, key: &str) -> Result<Self, RecordError> {
        validate_app(app)?;
        validate_name(key)?;
        let app_dir: PathBuf = app.split('/').collect();
        let (file, path) = create_recording_file(dir, &app_dir.to_string_lossy(), key)?;
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

    pub(crate) async fn metadata(&self, props: MetadataProps) {
        if self.tx.send(Command::Metadata(props)).await.is_err() {
            error!(path = %self.path.display(), "recorder stopped early");
        }
    }

    pub(crate) async fn media(&self, packet: MediaPacket) {
        if self.tx.send(Command::Media(packet)).await.is_err() {
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

fn flv_io(e: onair_flv::FlvError) -> io::Error {
    io::Error::other(e.to_string())
}

fn write_loop(
    file: File,
    path: PathBuf,
    mut rx: mpsc::Receiver<Command>,
) -> Result<RecordingSummary, io::Error> {
    let mut writer =
        FlvWriter::new(BufWriter::with_capacity(256 * 1024, file), true, true).map_err(flv_io)?;
    let mut wrote_metadata = false;
    let mut tags = 0u64;
    let mut first_ts: Option<u64> = None;
    let mut last_ts = 0u64;
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Command::Metadata(props) => {
                // Only the first onMetaData is kept: it is the one patched at the end.
                if !wrote_metadata {
                    writer.write_metadata(&props).map_err(flv_io)?;
                    wrote_metadata = true;
                }
            }
            Command::Media(p) => {
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

    use super::*;

    #[tokio::test]
    async fn finish_patches_duration_and_filesize_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        for round in 0..2 {
            let r = Recorder::start(dir.path(), "live", "k").expect("start");
            r.metadata(Arc::new(vec![("width".into(), Amf0Value::Number(640.0))]))
                .await;
            r.media(MediaPacket::video(
                1000,
                Bytes::from_static(&[0x17, 0, 0, 0, 0]),
            ))
            .await;
            r.media(MediaPacket::video(
                1000,
                Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]),
            ))
            .await;
            r.media(MediaPacket::audio(
                1020,
                Bytes::from_static(&[0xaf, 1, 0x21]),
            ))
            .await;
            r.media(MediaPacket::video(
                3500,
                Bytes::from_static(&[0x27, 1, 0, 0, 0, 9]),
            ))
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
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
