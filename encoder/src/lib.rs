//! The publishing end of onair: raw video and audio in, an RTMP stream out.
//!
//! **Status: not written yet.** This crate holds no functionality today; it exists so the
//! workspace layout and the `encoder` feature of the `onair` umbrella crate (on by default) are
//! decided once.
//!
//! What it will hold: compressing raw frames with FFmpeg (H.264/AAC, and H.265 when the peer
//! announces Enhanced RTMP support), and publishing them through `onair-rtmp-proto`'s
//! `ClientSession` over tokio. When the upload link cannot carry the bitrate it lowers bitrate
//! or resolution instead of stalling. It is the only crate besides `onair-transcode` that links
//! FFmpeg.

pub use onair_media_types as media_types;
