//! Adaptive bitrate transcoding for onair's media server: one incoming stream re-encoded
//! into a ladder of renditions (1080p, 720p, 480p, ...) whose keyframes sit at the same
//! presentation times, so that players switch between them at any segment boundary.
//!
//! - [`Transcoder`]: H.264 or H.265 video and AAC, MP3 or Opus audio in, as
//!   [`onair_media_types::Frame`]s with their [`TrackInfo`](onair_media_types::TrackInfo)s;
//!   per rendition, an H.264 (or H.265) video track and the shared AAC audio track out, as
//!   [`Output`]s drained with [`Transcoder::poll_output`]; [`Event`]s (renditions added or
//!   removed, passthrough verdicts, fallbacks, corrupt input) drained with
//!   [`Transcoder::poll_event`]. Timestamps stay on the input's clock (same timescale,
//!   B-frames allowed in the input).
//! - [`Ladder`] / [`Rung`]: what is asked for, in code or parsed from text
//!   (`source,720p,480p@1000k,640x360@800k`), and planned against the source: no
//!   upscaling, even sizes, the source's aspect ratio, no duplicates, rungs above the
//!   source's bitrate dropped.
//! - Keyframes aligned by construction: one decision per decoded picture, forced in every
//!   encoder (see [`Transcoder`]). A `source` rung passes the source through when its first
//!   GOP fits the segment target ([`PassthroughRefusal`] says why not).
//! - [`HardwarePolicy`]: libx264/libx265, or NVENC / VA-API / Quick Sync with or without a
//!   fallback to the CPU.
//!
//! It links FFmpeg (the system's 5.1 through `rsmpeg`) and reuses `onair-encoder`'s
//! encoders. No sockets, no async: the caller drives it, from one thread. Worker threads:
//! with [`TranscoderConfig::parallel`] (the default) each rung's encoder runs on a thread of
//! its own; decoding and scaling stay in the caller's thread.

mod audio;
mod config;
mod decode;
mod error;
mod ffi;
mod hardware;
mod keyframes;
mod ladder;
mod rendition;
mod scale;
mod transcoder;
mod worker;

pub use config::{EncoderSettings, HardwarePolicy, TranscoderConfig, UnknownHardwarePolicy};
pub use error::TranscodeError;
pub use keyframes::{PassthroughEnd, PassthroughRefusal};
pub use ladder::{DropReason, Ladder, LadderError, Rung, SourcePicture, MAX_RUNGS, NAMED_RUNGS};
pub use rendition::{
    Event, Output, RemovalReason, Rendition, RenditionId, RenditionKind, RenditionStats,
    TranscoderStats,
};
pub use transcoder::Transcoder;

pub use onair_encoder::{VideoBackend, VideoCodec};
pub use onair_media_types as media_types;
