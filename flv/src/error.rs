//! The error of FLV tag bodies, files and the media bridge.

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
    Config(#[from] onair_media_types::ConfigError),
    /// A script data tag is malformed.
    #[error("script data: {0}")]
    Amf(#[from] onair_amf::AmfError),
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
