//! The remux logic shared by the example binary and ts-mux's interop test: read an FLV or MP4
//! file held in memory into tracks and frames, then mux them to MPEG-TS.

use std::error::Error;
use std::io::Write;

use bytes::Bytes;
use onair_media_types::{Frame, MediaKind, TrackInfo};
use onair_ts_mux::{TsMuxer, TsMuxerConfig};

#[path = "mp4.rs"]
pub(crate) mod mp4;

/// Boxed error of the example.
pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// What a demuxer produced, in file order.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A track appeared or its configuration changed.
    Track(TrackInfo),
    /// A frame of a track announced before.
    Frame(Frame),
}

/// Reads a whole FLV or MP4 file into events (payloads are slices of `file`, not copies).
pub(crate) fn read_events(file: &Bytes) -> Result<Vec<Event>, BoxError> {
    if file.starts_with(b"FLV") {
        return read_flv(file);
    }
    let (tracks, frames) = mp4::read_mp4(file)?;
    let mut events: Vec<Event> = tracks.into_iter().map(Event::Track).collect();
    events.extend(frames.into_iter().map(Event::Frame));
    Ok(events)
}

fn read_flv(_file: &Bytes) -> Result<Vec<Event>, BoxError> {
    Err("flv input needs rtmp-proto's FlvReader and MediaDemuxer".into())
}

/// Counts of what went through the muxer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Tracks muxed.
    pub(crate) tracks: usize,
    /// Video frames written.
    pub(crate) video_frames: u64,
    /// Audio frames written.
    pub(crate) audio_frames: u64,
    /// Frames the muxer dropped (video before the first keyframe).
    pub(crate) dropped: u64,
    /// TS bytes written.
    pub(crate) bytes: u64,
}

/// Muxes `events` to MPEG-TS into `out`, flushing every few megabytes.
pub(crate) fn mux_events<W: Write>(events: &[Event], mut out: W) -> Result<Summary, BoxError> {
    const FLUSH_AT: usize = 4 << 20;
    let mut muxer = TsMuxer::new(TsMuxerConfig::default())?;
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + (1 << 20));
    let mut summary = Summary::default();
    let mut kinds = Vec::new();
    for event in events {
        match event {
            Event::Track(info) => {
                muxer.add_track(info)?;
                if !kinds.iter().any(|(id, _)| *id == info.id) {
                    kinds.push((info.id, info.kind()));
                }
            }
            Event::Frame(frame) => {
                let n = muxer.write_frame(frame, &mut buf)?;
                let video = kinds
                    .iter()
                    .any(|(id, k)| *id == frame.track && *k == MediaKind::Video);
                match (n, video) {
                    (0, _) => summary.dropped += 1,
                    (_, true) => summary.video_frames += 1,
                    (_, false) => summary.audio_frames += 1,
                }
                if buf.len() >= FLUSH_AT {
                    out.write_all(&buf)?;
                    summary.bytes += buf.len() as u64;
                    buf.clear();
                }
            }
        }
    }
    out.write_all(&buf)?;
    summary.bytes += buf.len() as u64;
    out.flush()?;
    summary.tracks = kinds.len();
    Ok(summary)
}
