use onair_media_types::CodecId;

use crate::SegmentFormat;

/// Errors of the packager core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame named a track that was never announced with [`Packager::add_track`](crate::Packager::add_track).
    #[error("frame for unknown track {track}")]
    UnknownTrack {
        /// The track id of the frame.
        track: u32,
    },
    /// The codec cannot be carried in the chosen segment format.
    #[error("codec {codec:?} is not supported in {format:?} segments")]
    UnsupportedCodec {
        /// The codec.
        codec: CodecId,
        /// The segment format.
        format: SegmentFormat,
    },
    /// The configuration contradicts itself.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// Frames or tracks arrived after [`Packager::finish`](crate::Packager::finish).
    #[error("the stream has already finished")]
    Finished,
    /// [`Packager::start_at_sequence`](crate::Packager::start_at_sequence) after the first
    /// segment started.
    #[error("the first segment has already started")]
    AlreadyStarted,
    /// More segments closed since the archive started than
    /// [`PackagerConfig::archive_limit`](crate::PackagerConfig::archive_limit) keeps: there is
    /// no VOD playlist of them.
    #[error("the archive outgrew its limit of {limit} segments")]
    ArchiveFull {
        /// The limit.
        limit: usize,
    },
}
