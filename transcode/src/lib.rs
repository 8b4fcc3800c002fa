//! Transcoding for onair's media server: one input stream into a ladder of qualities.
//!
//! **Status: not written yet.** This crate holds no functionality today; it exists so the
//! workspace layout, the feature flags of the `onair` umbrella crate (`transcode`, on by
//! default) and the FFmpeg build set-up are decided once.
//!
//! What it will hold: decoding [`onair_media_types::Frame`]s with FFmpeg (through `rsmpeg`,
//! against the system FFmpeg 5.1 on Debian 12), scaling into renditions (e.g. 1080p/720p/480p),
//! re-encoding them with H.264/AAC at the ladder's bitrates with aligned keyframes so that
//! every rendition can be cut at the same PTS, and handing frames back in the same vocabulary.
//! It is the only crate besides `onair-encoder` that links FFmpeg.

pub use onair_media_types as media_types;
