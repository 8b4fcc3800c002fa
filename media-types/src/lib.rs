//! The shared vocabulary of onair: media frames, codec configurations and timestamps.
//!
//! Every crate of the toolkit hands media to the next through these types, so that the RTMP
//! stack, the MPEG-TS muxer, the HLS packager and the transcoder never need to know each other.
//!
//! - [`Frame`]: one access unit (a video picture or an audio frame) with PTS/DTS in the
//!   timescale of its track. Video payloads are *length-prefixed* NAL units as in FLV and MP4
//!   (the length size comes from the decoder configuration record); audio payloads are raw
//!   (AAC without ADTS, one Opus packet, one MP3 frame).
//! - [`CodecConfig`]: what a decoder needs before the first frame: the AVC/HEVC decoder
//!   configuration record (ISO/IEC 14496-15), the AAC AudioSpecificConfig (ISO/IEC 14496-3),
//!   the Opus identification header (RFC 7845), parsed and kept in their raw form.
//! - [`MediaTime`]: a timestamp in an explicit timescale, rescaled without overflow.
//! - RFC 6381 codec strings ([`CodecConfig::rfc6381`]) for HLS `CODECS` attributes, and the
//!   picture size ([`CodecConfig::picture_size`]) the sequence parameter set declares, for
//!   `RESOLUTION` and MP4 sample entries. H.264 parameter sets are read by `h264-reader`;
//!   H.265 ones by the same crate's RBSP bit reader.
//!
//! No IO, no clocks: this crate only describes media.

mod avc;
mod codec;
mod error;
mod frame;
mod hevc;
mod time;

pub use avc::AvcConfig;
pub use codec::{AacConfig, CodecConfig, CodecId, MediaKind, Mp3Config, NalUnits, OpusConfig};
pub use error::ConfigError;
pub use frame::{Frame, TrackId, TrackInfo};
pub use hevc::HevcConfig;
pub use time::MediaTime;
