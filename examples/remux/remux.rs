//! The remux logic shared by the example binary and ts-mux's interop test: read an FLV or MP4
//! file held in memory into tracks and frames, then mux them to MPEG-TS.

use std::error::Error;
use std::io::Write;

use bytes::Bytes;
use onair_media_types::{Frame, MediaKind, TrackInfo};
use onair_rtmp_proto::flv::{FlvReader, FlvTagType, MediaDemuxer, MediaEvent};
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

/// FLV through rtmp-proto: `FlvReader` for the tags, `MediaDemuxer` for tracks and frames.
fn read_flv(file: &Bytes) -> Result<Vec<Event>, BoxError> {
    let mut reader = FlvReader::<std::io::Empty>::from_bytes(file.clone());
    reader.read_header()?;
    let mut demuxer = MediaDemuxer::new();
    let mut events = Vec::new();
    while let Some(tag) = reader.next_tag()? {
        let ms = u64::from(tag.timestamp);
        match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ms, &tag.data)?,
            FlvTagType::Audio => demuxer.push_audio(ms, &tag.data)?,
            _ => continue,
        }
        while let Some(event) = demuxer.poll_event() {
            events.push(match event {
                MediaEvent::Track(info) => Event::Track(info),
                MediaEvent::Frame(frame) => Event::Frame(frame),
                _ => continue,
            });
        }
    }
    Ok(events)
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
    // Announce every track in the first PMT: a file's tracks are known up front, and a PMT
    // that changes version mid-stream makes some demuxers drop the PES packets in flight.
    for event in events {
        if let Event::Track(info) = event {
            if !kinds.iter().any(|(id, _)| *id == info.id) {
                muxer.add_track(info)?;
                kinds.push((info.id, info.kind()));
            }
        }
    }
    for event in events {
        match event {
            Event::Track(info) => {
                muxer.add_track(info)?;
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
