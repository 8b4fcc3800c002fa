//! Errors of the muxer.

use onair_media_types::{CodecId, TrackId};

/// Why a track or frame could not be muxed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TsError {
    /// MPEG-TS carriage of this codec is not implemented (AV1, VP9).
    #[error("codec {codec:?} cannot be carried in mpeg-ts by this muxer")]
    UnsupportedCodec {
        /// The codec.
        codec: CodecId,
    },
    /// A frame names a track that was never added.
    #[error("frame for unknown track {track:?}")]
    UnknownTrack {
        /// The track of the frame.
        track: TrackId,
    },
    /// A track changed codec, or a frame's codec differs from its track's.
    #[error("track {track:?} is {expected:?}, got {found:?}")]
    CodecMismatch {
        /// The track.
        track: TrackId,
        /// The codec the track was added with.
        expected: CodecId,
        /// The codec found.
        found: CodecId,
    },
    /// No PID is left for another track (the configured PID range is exhausted).
    #[error("too many tracks: {count} already added")]
    TooManyTracks {
        /// Tracks already present.
        count: usize,
    },
    /// The configuration gives PIDs that collide or fall outside 0x0010..0x1ffe.
    #[error("invalid pid configuration: {pid:#x}")]
    InvalidPid {
        /// The offending PID value.
        pid: u16,
    },
    /// A frame's timescale is 0.
    #[error("track {track:?}: timescale 0")]
    ZeroTimescale {
        /// The track.
        track: TrackId,
    },
    /// A length-prefixed NAL unit runs past the end of the frame.
    #[error("track {track:?}: truncated nal unit in frame of {size} bytes")]
    TruncatedNalUnit {
        /// The track.
        track: TrackId,
        /// The frame size.
        size: usize,
    },
    /// An audio frame is too large for its framing (ADTS: 8191 bytes; audio PES: 65535).
    #[error("track {track:?}: frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The track.
        track: TrackId,
        /// The payload size.
        size: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// The AudioSpecificConfig cannot be expressed in an ADTS header.
    #[error(
        "aac object type {object_type} / channel configuration {channel_config} has no adts form"
    )]
    NoAdtsForm {
        /// The audio object type.
        object_type: u8,
        /// The channel configuration.
        channel_config: u8,
    },
}
