//! The renditions a ladder produces: what each is, what it outputs, what it costs.

use std::fmt;
use std::time::Duration;

use onair_encoder::EncoderError;
use onair_media_types::{CodecId, Frame, MediaTime, TrackId, TrackInfo};

use crate::{DropReason, PassthroughEnd, PassthroughRefusal, Rung};

/// Identifies a rendition for the life of a [`Transcoder`](crate::Transcoder); ids are
/// never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RenditionId(pub u32);

impl fmt::Display for RenditionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a rendition's video is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionKind {
    /// The source's own frames, untouched.
    Passthrough,
    /// Decoded, scaled and encoded.
    Transcoded,
}

/// What a rendition is: for the master playlist and for the caller's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Its id.
    pub id: RenditionId,
    /// `source`, `720p`, `1280x720`: unique among the live renditions, usable as a folder
    /// name.
    pub name: String,
    /// The rung it comes from (a transcoded stand-in for a refused `source` says
    /// [`Rung::Source`]).
    pub rung: Rung,
    /// Passed through or transcoded.
    pub kind: RenditionKind,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Target video bitrate (for passthrough: the source's, when known; else 0).
    pub bitrate_bps: u64,
    /// Video codec.
    pub codec: CodecId,
    /// The FFmpeg encoder (`libx264`, `h264_nvenc`, ...), `copy` for passthrough.
    pub encoder: &'static str,
}

/// What a rendition hands out, in order: its tracks before their frames, and a track again
/// when it changes (the packager turns that into a discontinuity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A track of this rendition: its video, or the audio all renditions share.
    Track(TrackInfo),
    /// A frame of one of its tracks (video in decode order; audio in order).
    Frame(Frame),
}

/// Counters and costs of one rendition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenditionStats {
    /// Video frames handed out.
    pub frames: u64,
    /// Of which keyframes.
    pub keyframes: u64,
    /// Video bytes handed out.
    pub bytes: u64,
    /// CPU time spent encoding (the worker's thread CPU time with
    /// [`parallel`](crate::TranscoderConfig::parallel); else the calling thread's CPU time
    /// inside the encoder, which misses the encoder's own threads if it has any).
    pub encode_cpu: Duration,
    /// CPU time spent scaling this rendition's pictures (calling thread).
    pub scale_cpu: Duration,
    /// Presentation time of the latest video frame handed out.
    pub last_pts: Option<MediaTime>,
}

impl RenditionStats {
    /// Encoding and scaling CPU time per video frame: what to compare to find the most
    /// expensive rendition.
    pub fn cpu_per_frame(&self) -> Option<Duration> {
        let frames = u32::try_from(self.frames).ok().filter(|f| *f > 0)?;
        Some((self.encode_cpu + self.scale_cpu) / frames)
    }
}

/// Why a rendition stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemovalReason {
    /// [`Transcoder::shed`](crate::Transcoder::shed) asked for it.
    Shed,
    /// The source's keyframes stopped; its passthrough ended.
    PassthroughEnded,
    /// Re-planned against a changed source, its rung no longer fits (larger than the new
    /// source, or a duplicate).
    SourceChanged,
}

/// Something the caller should know (log, count, act on). Drain with
/// [`Transcoder::poll_event`](crate::Transcoder::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A rendition starts: add it to the master playlist and drain its outputs with
    /// [`poll_output`](crate::Transcoder::poll_output). Outputs made before this event
    /// (while a `source` rung was judged) are there already.
    RenditionAdded {
        /// The rendition ([`Transcoder::rendition`](crate::Transcoder::rendition) tells
        /// what it is).
        id: RenditionId,
    },
    /// A rendition stopped: drain what is left of its outputs, then end its playlist.
    RenditionRemoved {
        /// The rendition.
        id: RenditionId,
        /// Why.
        reason: RemovalReason,
    },
    /// Planning dropped a rung of the ladder for this source.
    RungDropped {
        /// The rung.
        rung: Rung,
        /// Why.
        reason: DropReason,
    },
    /// The source's keyframes are regular: the `source` rung is passed through and every
    /// rendition has its keyframes where the source has them.
    PassthroughAccepted {
        /// The source's GOP.
        gop: Duration,
    },
    /// The `source` rung is not passed through; a transcoded rung at the source's size
    /// takes its place and the ladder places keyframes on its own clock.
    PassthroughRefused {
        /// Why.
        reason: PassthroughRefusal,
    },
    /// A passed-through source's keyframes stopped; the `source` rendition ends and the
    /// ladder places keyframes on its own clock from here.
    PassthroughEnded {
        /// Why.
        reason: PassthroughEnd,
    },
    /// A passed-through source had a GOP unlike its first; every rendition follows it, so
    /// they stay aligned, but a segment may be longer or shorter than the target.
    IrregularSourceGop {
        /// The GOP.
        gop: Duration,
    },
    /// A GPU encoder did not open and libx264/libx265 encodes instead
    /// ([`HardwarePolicy::GpuThenCpu`](crate::HardwarePolicy::GpuThenCpu)).
    HardwareFallback {
        /// The rendition, or `None` for the check when the transcoder was created.
        rendition: Option<RenditionId>,
        /// The GPU encoders tried, with their errors.
        tried: Vec<(&'static str, EncoderError)>,
        /// The encoder used instead.
        using: &'static str,
    },
    /// The source changed picture size or format: the ladder was planned again, every
    /// transcoded rendition restarts with an IDR picture and announces its track again.
    Reinitialized {
        /// The new source width.
        width: u32,
        /// The new source height.
        height: u32,
    },
    /// A corrupt video packet: decoding resumes at the next keyframe; the pictures in
    /// between are missing from the transcoded renditions.
    CorruptInput {
        /// The track.
        track: TrackId,
        /// The packet's presentation time.
        pts: MediaTime,
    },
}

/// Counters of the whole transcoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TranscoderStats {
    /// Video frames pushed.
    pub video_in: u64,
    /// Audio frames pushed.
    pub audio_in: u64,
    /// Pictures decoded.
    pub decoded: u64,
    /// Corrupt video packets (each is also an [`Event::CorruptInput`]).
    pub corrupt_packets: u64,
    /// Video frames not decoded: before the first keyframe, or after a corrupt packet until
    /// the next keyframe.
    pub skipped_frames: u64,
    /// Audio frames dropped (before the first video keyframe, or undecodable).
    pub dropped_audio: u64,
    /// GPU encoders that did not open where libx264/libx265 took over.
    pub hardware_fallbacks: u64,
    /// Times the ladder was planned again for a changed source.
    pub reinitializations: u64,
    /// GOPs of a passed-through source unlike its first.
    pub irregular_source_gops: u64,
    /// CPU time spent decoding (calling thread).
    pub decode_cpu: Duration,
    /// Presentation time of the latest video frame pushed.
    pub last_input_pts: Option<MediaTime>,
}
