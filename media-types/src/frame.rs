use bytes::Bytes;

use crate::{CodecConfig, CodecId, MediaKind, MediaTime};

/// Identifies a track (an elementary stream) within one program or stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TrackId(pub u32);

/// What a consumer needs to know about a track before its first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// The track this describes.
    pub id: TrackId,
    /// Ticks per second of the timestamps of this track's frames.
    pub timescale: u32,
    /// The decoder configuration.
    pub config: CodecConfig,
}

impl TrackInfo {
    /// Whether the track carries video or audio.
    pub fn kind(&self) -> MediaKind {
        self.config.codec().kind()
    }
}

/// One access unit: a coded picture or an audio frame.
///
/// Video payloads are length-prefixed NAL units (AVCC/HVCC form, as FLV and MP4 carry them),
/// whose length size is [`AvcConfig::nal_length_size`](crate::AvcConfig) /
/// [`HevcConfig::nal_length_size`](crate::HevcConfig). Audio payloads are raw frames (AAC
/// without ADTS header). Payloads are reference-counted [`Bytes`], so handing a frame on never
/// copies the media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The track the frame belongs to.
    pub track: TrackId,
    /// The codec of the payload.
    pub codec: CodecId,
    /// Ticks per second of `pts` and `dts`.
    pub timescale: u32,
    /// Decode timestamp.
    pub dts: i64,
    /// Presentation timestamp (equal to `dts` unless the stream has B-frames).
    pub pts: i64,
    /// A random access point: an IDR/IRAP picture, or any audio frame.
    pub keyframe: bool,
    /// The coded data.
    pub data: Bytes,
}

impl Frame {
    /// The decode time as a [`MediaTime`].
    pub fn dts_time(&self) -> MediaTime {
        MediaTime::new(self.dts, self.timescale)
    }

    /// The presentation time as a [`MediaTime`].
    pub fn pts_time(&self) -> MediaTime {
        MediaTime::new(self.pts, self.timescale)
    }

    /// Composition offset (PTS - DTS) in this frame's timescale.
    pub fn composition_offset(&self) -> i64 {
        self.pts - self.dts
    }
}
