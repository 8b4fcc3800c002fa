//! What a [`Packager`](super::Packager) is told at creation: container, durations, playlist
//! kind, limits and encryption.

use std::fmt;
use std::time::Duration;

use crate::crypto::KeySource;
use crate::error::Error;

/// The container of media segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentFormat {
    /// MPEG-2 transport stream segments (`.ts`), written by `onair-ts-mux`.
    Ts,
    /// Fragmented MP4 / CMAF segments (`.m4s`) with an init segment named by `EXT-X-MAP`.
    Fmp4,
}

/// How the media playlist evolves (RFC 8216 4.3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    /// A live sliding window of `window` segments; older segments expire. The window keeps
    /// at least three target durations however small `window` is (RFC 8216 6.2.2).
    Live {
        /// Segments kept in the playlist.
        window: usize,
    },
    /// A live sliding window of up to `duration` of media, however long the segments are (a
    /// GOP longer than the target makes longer segments, and fewer of them fit): players can
    /// seek back that far (DVR). The window keeps at least three target durations and one
    /// segment; [`Packager::expire_oldest`](super::Packager::expire_oldest) shortens it
    /// further on the caller's request (a memory limit).
    Dvr {
        /// Media kept in the playlist.
        duration: Duration,
    },
    /// `EXT-X-PLAYLIST-TYPE:EVENT`: segments are only appended.
    Event,
    /// `EXT-X-PLAYLIST-TYPE:VOD`: like EVENT, and ends with `EXT-X-ENDLIST`.
    Vod,
}

/// AES-128 encryption of whole segments (RFC 8216 4.3.2.4).
pub struct EncryptionConfig {
    /// Rotate the key every this many segments (0 = one key for the whole stream).
    pub rotate_every: u32,
    /// Supplies the key and its URI for each key period.
    pub keys: Box<dyn KeySource>,
}

impl fmt::Debug for EncryptionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionConfig")
            .field("rotate_every", &self.rotate_every)
            .finish_non_exhaustive()
    }
}

/// Configuration of one [`Packager`](super::Packager) (one media playlist, one rendition).
#[derive(Debug)]
pub struct PackagerConfig {
    /// Segment container.
    pub format: SegmentFormat,
    /// Target segment duration; segments are cut at the first keyframe at or after each
    /// multiple of it, so renditions with the same keyframes cut at the same PTS.
    pub target_duration: Duration,
    /// Low-Latency HLS partial segment duration; `Some` turns LL-HLS on (fMP4 only).
    pub part_duration: Option<Duration>,
    /// Live window, EVENT or VOD.
    pub kind: PlaylistKind,
    /// A gap between two frames of the leading track longer than this, or any backwards step,
    /// starts a new segment with `EXT-X-DISCONTINUITY`.
    pub max_timestamp_gap: Duration,
    /// A segment that reaches this duration without a keyframe is cut anyway (bounds memory
    /// on streams with no keyframes).
    pub max_segment_duration: Duration,
    /// Prefix of segment file names (`<prefix><msn>.ts`, `<prefix><msn>.<part>.m4s`).
    pub name_prefix: String,
    /// Encrypt segments with AES-128.
    pub encryption: Option<EncryptionConfig>,
    /// Keep the listing (names, durations, tags; not the media) of up to this many segments
    /// after they leave a live window, for a VOD playlist of the whole stream
    /// ([`Packager::archive_playlist`](super::Packager::archive_playlist)); 0 keeps none.
    /// About 150 bytes each.
    pub archive_limit: usize,
}

impl PackagerConfig {
    /// Low-Latency HLS defaults: fMP4, 1 s segments, parts of about a third of a second
    /// (0.334 s), a live window of 6 segments.
    pub fn low_latency() -> Self {
        Self {
            part_duration: Some(Duration::from_millis(334)),
            ..Self::default()
        }
    }

    /// Refuses contradictions: what a packager could not honour later.
    pub(super) fn validate(&self) -> Result<(), Error> {
        if self.target_duration.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "target duration is zero",
            });
        }
        if let Some(p) = self.part_duration {
            if self.format != SegmentFormat::Fmp4 {
                return Err(Error::InvalidConfig {
                    reason: "low-latency hls needs fmp4 segments",
                });
            }
            if p.is_zero() || p > self.target_duration {
                return Err(Error::InvalidConfig {
                    reason: "part duration must be between zero and the target duration",
                });
            }
            if self.encryption.is_some() {
                return Err(Error::InvalidConfig {
                    reason: "encryption of partial segments is not supported",
                });
            }
        }
        match self.kind {
            PlaylistKind::Live { window: 0 } => {
                return Err(Error::InvalidConfig {
                    reason: "live window of zero segments",
                });
            }
            PlaylistKind::Dvr { duration } if duration.is_zero() => {
                return Err(Error::InvalidConfig {
                    reason: "dvr window of zero seconds",
                });
            }
            _ => {}
        }
        Ok(())
    }
}

impl Default for PackagerConfig {
    fn default() -> Self {
        Self {
            format: SegmentFormat::Fmp4,
            target_duration: Duration::from_secs(1),
            part_duration: None,
            kind: PlaylistKind::Live { window: 6 },
            max_timestamp_gap: Duration::from_secs(5),
            max_segment_duration: Duration::from_secs(30),
            name_prefix: "seg".to_owned(),
            encryption: None,
            archive_limit: 0,
        }
    }
}
