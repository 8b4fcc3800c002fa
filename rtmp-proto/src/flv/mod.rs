//! FLV: tag bodies as RTMP audio/video messages carry them (FLV 10.1 specification, annex E,
//! and Enhanced RTMP v2), FLV files, and the bridge to `onair_media_types` frames.
//!
//! - [`VideoTag`] / [`AudioTag`]: parse and write one tag body (an RTMP video/audio message
//!   payload), legacy or Enhanced RTMP; payloads stay slices of the input.
//! - [`FlvReader`] / [`FlvWriter`]: FLV files.
//! - [`MediaDemuxer`] / [`MediaMuxer`]: tag bodies to and from [`TrackInfo`] and [`Frame`].
//!
//! ```
//! use bytes::Bytes;
//! use onair_rtmp_proto::flv::{MediaDemuxer, MediaEvent};
//!
//! let mut demuxer = MediaDemuxer::new();
//! // AAC sequence header (AudioSpecificConfig: AAC-LC, 48 kHz, stereo), then one frame
//! demuxer.push_audio(0, &Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90])).unwrap();
//! demuxer.push_audio(21, &Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10])).unwrap();
//! let mut frames = 0;
//! while let Some(event) = demuxer.poll_event() {
//!     match event {
//!         MediaEvent::Track(info) => assert_eq!(info.config.rfc6381(), "mp4a.40.2"),
//!         MediaEvent::Frame(frame) => {
//!             assert_eq!((frame.dts, &frame.data[..]), (21, &[0x21, 0x10][..]));
//!             frames += 1;
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(frames, 1);
//! ```
//!
//! [`TrackInfo`]: onair_media_types::TrackInfo
//! [`Frame`]: onair_media_types::Frame

use onair_media_types::ConfigError;

mod file;
mod media;
mod tag;

pub use file::{FlvHeader, FlvReader, FlvTag, FlvTagType, FlvWriter};
pub use media::{MediaDemuxer, MediaEvent, MediaMuxer, MuxedTag};

pub use tag::{
    AacPacket, AudioBody, AudioPacket, AudioTag, AvcPacket, ChannelLayout, FourCc, Multitrack,
    MultitrackType, Track, VideoBody, VideoFrameType, VideoPacket, VideoTag,
};

use crate::amf0::AmfError;

/// Errors from FLV tag bodies and files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlvError {
    /// The data ended before a field it declares.
    #[error("{what}: needed {needed} bytes, {available} available")]
    NotEnoughData {
        /// Which structure was being read.
        what: &'static str,
        /// Bytes needed to continue.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A field has a value this reader does not support.
    #[error("{what}: unsupported value {value}")]
    Unsupported {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// The file does not start with the `FLV` signature.
    #[error("not an flv file (signature {signature:02x?})")]
    BadSignature {
        /// The first three bytes.
        signature: [u8; 3],
    },
    /// A tag declares a size beyond the reader's limit.
    #[error("tag of {size} bytes exceeds the limit of {max}")]
    TagTooLarge {
        /// The declared size.
        size: u32,
        /// The limit.
        max: u32,
    },
    /// Reading or writing the underlying file failed.
    #[error("io error: {kind}")]
    Io {
        /// What kind of failure.
        kind: std::io::ErrorKind,
    },
    /// A codec configuration record is malformed.
    #[error("codec configuration: {0}")]
    Config(#[from] ConfigError),
    /// A script data tag is malformed.
    #[error("script data: {0}")]
    Amf(#[from] AmfError),
    /// A frame arrived for a track that has no sequence header (decoder configuration) yet.
    #[error("frame of track {track} before its sequence header")]
    MissingSequenceHeader {
        /// The track index.
        track: u32,
    },
}

impl From<std::io::Error> for FlvError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return FlvError::NotEnoughData {
                what: "flv file",
                needed: 1,
                available: 0,
            };
        }
        FlvError::Io { kind: e.kind() }
    }
}
