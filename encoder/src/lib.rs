//! The publishing end of onair: raw video and audio in, compressed frames out, ready for an
//! RTMP publisher.
//!
//! What exists:
//! - [`VideoEncoder`]: planar YUV 4:2:0 pictures ([`RawVideoFrame`]) to H.264 with libx264
//!   (through FFmpeg and `rsmpeg`): AVCC [`Frame`](onair_media_types::Frame)s in a 90 kHz
//!   timescale and a [`TrackInfo`](onair_media_types::TrackInfo) carrying the
//!   AVCDecoderConfigurationRecord. GOP, preset, `zerolatency`, B-frames, forced keyframes,
//!   and [`VideoEncoder::set_bitrate`] to change the target bitrate of the running encoder.
//!   With [`VideoCodec::H265`] in the config it encodes H.265 with libx265 instead, for peers
//!   that announce `hvc1` in Enhanced RTMP: length-prefixed NAL units and the
//!   HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) built from libx265's
//!   VPS/SPS/PPS; keyframes are IRAP pictures (closed GOPs: IDR). libx265 cannot change its
//!   bitrate while running, so `set_bitrate` reopens it (an IDR at the switch, same
//!   parameter sets).
//! - [`AudioEncoder`]: interleaved `f32` or `i16` PCM of any length to AAC-LC with FFmpeg's
//!   native encoder, with the AudioSpecificConfig in its `TrackInfo`.
//! - [`RateController`]: bitrate adaptation to the upload link, without IO: told how much
//!   media waits to be sent and how many bytes the link took, it answers with bitrate changes
//!   for [`VideoEncoder::set_bitrate`] and says when to drop video up to the next keyframe.
//!   The umbrella crate's `onair::publish::LivePublisher` runs it with these encoders over
//!   RTMP.
//! - For transcoders: [`VideoEncoder::encode_picture`] takes a picture that is already in an
//!   FFmpeg frame (a decoder's or scaler's output) without copying it, on the caller's clock
//!   ([`VideoEncoderConfig::timescale`]), with an IDR where asked; the config carries the
//!   VBV, profile, level, threads, lookahead, constant frame rate, and a
//!   [`VideoBackend`] (libx264/libx265, or NVENC, VA-API, Quick Sync where the machine has
//!   them).
//!
//! Both are push/poll: input goes in with `encode`/`push_*`, compressed frames are drained
//! with `poll_frame` until `None`, and `flush` drains the encoder's delay at the end. The
//! frames and track infos feed `onair-flv`'s `MediaMuxer` (FLV tag bodies) and so
//! the umbrella crate's RTMP client.
//!
//! ```
//! use onair_encoder::{
//!     AudioEncoder, AudioEncoderConfig, FrameRate, RawVideoFrame, VideoEncoder,
//!     VideoEncoderConfig,
//! };
//! use onair_flv::MediaMuxer;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fps = FrameRate::new(30, 1);
//! let mut video = VideoEncoder::new(VideoEncoderConfig::new(320, 240, fps, 500_000))?;
//! let mut audio = AudioEncoder::new(AudioEncoderConfig::new(48_000, 2, 128_000))?;
//!
//! // The sequence headers go first (over RTMP: `send_video`/`send_audio` at time 0).
//! let mut muxer = MediaMuxer::new();
//! let mut tags = Vec::new();
//! for track in [video.track_info(), audio.track_info()] {
//!     tags.extend(muxer.track(track)?);
//! }
//!
//! let picture = vec![128u8; RawVideoFrame::i420_len(320, 240)];
//! let silence = vec![0.0f32; 2 * 1600]; // 1/30 s of stereo at 48 kHz
//! for n in 0..3 {
//!     let raw = RawVideoFrame::from_i420(320, 240, &picture)?;
//!     video.encode(&raw, n * fps.frame_duration())?;
//!     audio.push_f32(&silence)?;
//!     while let Some(frame) = video.poll_frame() {
//!         tags.push(muxer.frame(&frame)?); // an FLV video tag body, `tag.timestamp_ms`
//!     }
//!     while let Some(frame) = audio.poll_frame() {
//!         tags.push(muxer.frame(&frame)?);
//!     }
//! }
//! video.flush()?;
//! audio.flush()?;
//! while let Some(frame) = video.poll_frame().or_else(|| audio.poll_frame()) {
//!     tags.push(muxer.frame(&frame)?);
//! }
//! // Video keyframe tags (FLV frame type 1): the sequence header and frame 0.
//! assert_eq!(tags.iter().filter(|t| t.data[0] >> 4 == 1).count(), 2);
//! # Ok(()) }
//! ```
//!
//! Not there yet: changing the picture size of a running stream (adaptation changes the
//! bitrate only). Besides `onair-transcode` this is the only crate that links FFmpeg.

mod audio;
mod backend;
mod error;
mod ffi;
mod hevc;
mod hwframes;
mod nal;
mod queue;
mod rate;
mod video;

pub use audio::{AudioEncoder, AudioEncoderConfig};
pub use backend::VideoBackend;
pub use error::EncoderError;
pub use rate::{RateChange, RateConfig, RateController};
pub use video::{
    FrameRate, RawVideoFrame, VideoCodec, VideoEncoder, VideoEncoderConfig, VIDEO_TIMESCALE,
};

pub use onair_media_types as media_types;
