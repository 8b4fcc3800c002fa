//! The remux logic shared by the example binary and ts-mux's interop test: read an FLV or MP4
//! file held in memory into tracks and frames, then mux them to MPEG-TS.

use std::error::Error;
use std::io::{Read, Write};

use bytes::Bytes;
use onair_flv::{FlvReader, FlvTagType, MediaDemuxer, MediaEvent};
use onair_media_types::{Frame, MediaKind, TrackId, TrackInfo};
use onair_ts_mux::{TsMuxer, TsMuxerConfig};

#[path = "../input/mp4.rs"]
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

/// FLV through onair-flv: `FlvReader` for the tags, `MediaDemuxer` for tracks and frames.
fn read_flv(file: &Bytes) -> Result<Vec<Event>, BoxError> {
    let mut events = Vec::new();
    for_each_flv_event(FlvReader::<std::io::Empty>::from_bytes(file.clone()), |e| {
        events.push(e);
        Ok(())
    })?;
    Ok(events)
}

/// Calls `f` with every track and frame of an FLV stream, in file order.
fn for_each_flv_event<R: Read>(
    mut reader: FlvReader<R>,
    mut f: impl FnMut(Event) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    reader.read_header()?;
    let mut demuxer = MediaDemuxer::new();
    while let Some(tag) = reader.next_tag()? {
        let ms = u64::from(tag.timestamp);
        match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ms, &tag.data)?,
            FlvTagType::Audio => demuxer.push_audio(ms, &tag.data)?,
            _ => continue,
        }
        while let Some(event) = demuxer.poll_event() {
            f(match event {
                MediaEvent::Track(info) => Event::Track(info),
                MediaEvent::Frame(frame) => Event::Frame(frame),
                _ => continue,
            })?;
        }
    }
    Ok(())
}

/// Remuxes an FLV stream read incrementally (memory stays bounded whatever the file size).
/// Frames wait in a short queue until every track the FLV header announces has shown its
/// configuration, so the first PMT lists them all.
pub(crate) fn remux_flv_stream<R: Read, W: Write>(input: R, out: W) -> Result<Summary, BoxError> {
    // Tag bodies are slices of 256 KiB blocks read straight from `input`: no copy, no allocation.
    remux_flv(
        FlvReader::with_read_ahead(input, FlvReader::READ_AHEAD_BLOCK),
        out,
    )
}

/// Remuxes the FLV that `reader` reads (from a stream, or from bytes such as a memory map).
pub(crate) fn remux_flv<R: Read, W: Write>(
    mut reader: FlvReader<R>,
    out: W,
) -> Result<Summary, BoxError> {
    const MAX_WAITING: usize = 512;
    let header = reader.read_header()?;
    let expected = usize::from(header.has_audio) + usize::from(header.has_video);
    let mut mux = Mux::new(out)?;
    let mut waiting: Option<Vec<Event>> = Some(Vec::new());
    for_each_flv_event(reader, |event| {
        if let Some(queue) = &mut waiting {
            queue.push(event);
            let tracks = queue
                .iter()
                .filter(|e| matches!(e, Event::Track(_)))
                .count();
            if tracks >= expected || queue.len() >= MAX_WAITING {
                mux.announce(queue)?;
                for e in queue.drain(..) {
                    mux.event(&e)?;
                }
                waiting = None;
            }
            return Ok(());
        }
        mux.event(&event)
    })?;
    if let Some(queue) = waiting {
        mux.announce(&queue)?;
        for e in &queue {
            mux.event(e)?;
        }
    }
    mux.finish()
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

/// Muxes `events` to MPEG-TS into `out`, flushing every half megabyte.
pub(crate) fn mux_events<W: Write>(events: &[Event], out: W) -> Result<Summary, BoxError> {
    let mut mux = Mux::new(out)?;
    mux.announce(events)?;
    for event in events {
        mux.event(event)?;
    }
    mux.finish()
}

/// A muxer writing through a reused buffer.
struct Mux<W> {
    muxer: TsMuxer,
    buf: Vec<u8>,
    out: W,
    summary: Summary,
    kinds: Vec<(TrackId, MediaKind)>,
}

impl<W: Write> Mux<W> {
    /// Small enough that the packets are still in L2 cache when `write` copies them to the
    /// kernel, large enough for few system calls (measured: 4 MiB costs ~10% more CPU).
    const FLUSH_AT: usize = 512 << 10;

    fn new(out: W) -> Result<Self, BoxError> {
        Ok(Self {
            muxer: TsMuxer::new(TsMuxerConfig::default())?,
            buf: Vec::with_capacity(2 * Self::FLUSH_AT),
            out,
            summary: Summary::default(),
            kinds: Vec::new(),
        })
    }

    /// Adds the tracks of `events` before any frame: a file's tracks are known up front, and
    /// a PMT that changes version mid-stream makes some demuxers drop the PES in flight.
    fn announce(&mut self, events: &[Event]) -> Result<(), BoxError> {
        for event in events {
            if let Event::Track(info) = event {
                if !self.kinds.iter().any(|(id, _)| *id == info.id) {
                    self.muxer.add_track(info)?;
                    self.kinds.push((info.id, info.kind()));
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, event: &Event) -> Result<(), BoxError> {
        match event {
            Event::Track(info) => {
                self.muxer.add_track(info)?;
                if !self.kinds.iter().any(|(id, _)| *id == info.id) {
                    self.kinds.push((info.id, info.kind()));
                }
            }
            Event::Frame(frame) => {
                let n = self.muxer.write_frame(frame, &mut self.buf)?;
                let video = self
                    .kinds
                    .iter()
                    .any(|(id, k)| *id == frame.track && *k == MediaKind::Video);
                match (n, video) {
                    (0, _) => self.summary.dropped += 1,
                    (_, true) => self.summary.video_frames += 1,
                    (_, false) => self.summary.audio_frames += 1,
                }
                if self.buf.len() >= Self::FLUSH_AT {
                    self.flush_buf()?;
                }
            }
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), BoxError> {
        self.out.write_all(&self.buf)?;
        self.summary.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<Summary, BoxError> {
        self.flush_buf()?;
        self.out.flush()?;
        self.summary.tracks = self.kinds.len();
        Ok(self.summary)
    }
}
