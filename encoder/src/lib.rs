//! The publishing end of onair: raw video and audio in, compressed frames out, ready for an
//! RTMP publisher.
//!
//! What exists:
//! - [`VideoEncoder`]: planar YUV 4:2:0 pictures ([`RawVideoFrame`]) to H.264 with libx264
//!   (through FFmpeg and `rsmpeg`): AVCC [`Frame`](onair_media_types::Frame)s in a 90 kHz
//!   timescale and a [`TrackInfo`](onair_media_types::TrackInfo) carrying the
//!   AVCDecoderConfigurationRecord. GOP, preset, `zerolatency`, B-frames, forced keyframes,
//!   and [`VideoEncoder::set_bitrate`] to change the target bitrate of the running encoder.
//! - [`AudioEncoder`]: interleaved `f32` or `i16` PCM of any length to AAC-LC with FFmpeg's
//!   native encoder, with the AudioSpecificConfig in its `TrackInfo`.
//!
//! Both are push/poll: input goes in with `encode`/`push_*`, compressed frames are drained
//! with `poll_frame` until `None`, and `flush` drains the encoder's delay at the end. The
//! frames and track infos feed `onair-rtmp-proto`'s `MediaMuxer` (FLV tag bodies) and so
//! the umbrella crate's RTMP client.
//!
//! Not there yet: H.265 (for peers announcing Enhanced RTMP), the publishing loop over tokio,
//! and adapting bitrate or resolution to the upload link (the building block,
//! `set_bitrate`, is here). Besides `onair-transcode` this is the only crate that links
//! FFmpeg.

mod audio;
mod error;
mod ffi;
mod nal;
mod video;

pub use audio::{AudioEncoder, AudioEncoderConfig};
pub use error::EncoderError;
pub use video::{FrameRate, RawVideoFrame, VideoEncoder, VideoEncoderConfig, VIDEO_TIMESCALE};

pub use onair_media_types as media_types;
