//! A sans-IO MPEG-TS muxer (ISO/IEC 13818-1) for H.264, H.265, AAC, MP3 and Opus.
//!
//! # Design
//!
//! [`TsMuxer`] turns [`onair_media_types`] tracks and frames into 188-byte transport packets
//! appended to a buffer the caller owns (`Vec<u8>` or `BytesMut`, see [`TsBuffer`]). It does
//! no IO, keeps no clock and never allocates per packet: each frame's packets are written
//! with slice copies into space reserved once per frame, and the per-frame scratch (PES
//! header, codec framing, the map of payload pieces) is reused.
//!
//! - One program; tracks get consecutive PIDs from [`TsMuxerConfig::first_pid`]. The PMT
//!   names the first video track as PCR PID (the first audio track when there is no video).
//! - PAT and PMT (with CRC-32/MPEG-2) at the start, at every [`TsMuxer::new_segment`] and
//!   every [`TsMuxerConfig::psi_interval`] of DTS.
//! - PCR in the first packet of the PCR PID's PES packets, at least every
//!   [`TsMuxerConfig::pcr_interval`] (and on keyframes), [`TsMuxerConfig::pcr_delay`] behind
//!   the DTS. `random_access_indicator` on keyframes, `discontinuity_indicator` on request
//!   ([`TsMuxer::set_discontinuity`]), adaptation-field stuffing in each PES packet's last
//!   transport packet, a continuity counter per PID.
//! - Timestamps of any timescale become 33-bit [`Timestamp90k`] values that wrap modulo 2^33
//!   (26.5 hours), as the standard wants; they are not shifted.
//! - H.264 / H.265 (stream types 0x1B / 0x24): length-prefixed NAL units become Annex B, an
//!   access unit delimiter opens every access unit, and the parameter sets of the track's
//!   decoder configuration record go before every IDR / IRAP picture that lacks them.
//! - AAC (0x0F): an ADTS header built from the AudioSpecificConfig before every frame.
//! - MP3 (0x03): frames as they are.
//! - Opus (0x06, PES stream id private_stream_1): a registration descriptor `Opus` and the
//!   DVB extension descriptor carrying the `opus_audio_descriptor` (channel count) in the
//!   PMT, and every packet behind an `opus_control_header` (11-bit sync 0x3FF, no trim
//!   fields, then the size in 0xFF-continued bytes), the ETSI Opus-in-TS carriage that FFmpeg
//!   reads and writes.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use onair_media_types::{AacConfig, CodecConfig, CodecId, Frame, TrackId, TrackInfo};
//! use onair_ts_mux::{TsMuxer, TsMuxerConfig};
//!
//! let mut muxer = TsMuxer::new(TsMuxerConfig::default())?;
//! let audio = TrackInfo {
//!     id: TrackId(1),
//!     timescale: 48_000,
//!     config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
//! };
//! let pid = muxer.add_track(&audio)?;
//! assert_eq!(pid.get(), 0x100);
//!
//! let mut out = Vec::with_capacity(1 << 20); // reserve once, reuse across segments
//! muxer.new_segment(); // PAT/PMT first
//! for i in 0..10 {
//!     let frame = Frame {
//!         track: TrackId(1),
//!         codec: CodecId::Aac,
//!         timescale: 48_000,
//!         dts: i * 1024,
//!         pts: i * 1024,
//!         keyframe: true,
//!         data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]),
//!     };
//!     muxer.write_frame(&frame, &mut out)?;
//! }
//! assert_eq!(out.len() % 188, 0);
//! assert_eq!(out.len(), 188 * 12); // PAT, PMT, one packet per frame
//! # Ok::<(), onair_ts_mux::TsError>(())
//! ```

mod crc;
mod error;
mod muxer;
mod packet;
mod psi;
mod stream;
mod types;

pub use error::TsError;
pub use muxer::{TsBuffer, TsMuxer, TsMuxerConfig, MAX_TRACKS};
pub use packet::PACKET_SIZE;
pub use types::{ContinuityCounter, Pid, Timestamp90k};
