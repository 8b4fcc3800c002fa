//! What the packager measures for the master playlist (bit rates, frame rate) and for
//! monitoring (dropped frames).

use onair_media_types::{CodecConfig, MediaTime, TrackInfo};

use super::{Packager, CLOCK};

/// Measured properties of the rendition, for the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantInfo {
    /// Peak segment bit rate, bits per second (`BANDWIDTH`).
    pub bandwidth: u64,
    /// Average bit rate over all segments, bits per second (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// RFC 6381 codec strings of the tracks, comma-separated (`CODECS`).
    pub codecs: String,
    /// Picture size from the SPS (`RESOLUTION`).
    pub resolution: Option<(u32, u32)>,
    /// Frames per second from the SPS timing info, else measured from the frames (`FRAME-RATE`).
    pub frame_rate: Option<f64>,
}

/// Running totals over the closed segments and the leading video track.
#[derive(Debug, Default)]
pub(super) struct Stats {
    total_bytes: u64,
    total_secs: f64,
    peak_bps: u64,
    video_frames: u64,
    /// DTS of the first and the last video frame, 90 kHz.
    video_first_last: Option<(i64, i64)>,
    /// Frames dropped by the cutting (the MPEG-TS muxer counts its own).
    pub(super) dropped: u64,
    /// Segments closed and partial segments written, since the packager was made.
    pub(super) segments: u64,
    pub(super) parts: u64,
}

impl Stats {
    /// A segment of `size` bytes lasting `duration` seconds was closed.
    pub(super) fn segment(&mut self, size: u64, duration: f64) {
        self.segments += 1;
        if duration > 0.0 {
            self.total_bytes += size;
            self.total_secs += duration;
            self.peak_bps = self.peak_bps.max((size as f64 * 8.0 / duration) as u64);
        }
    }

    /// A video frame of the leading track at `dts` (90 kHz) was accepted.
    pub(super) fn video_frame(&mut self, dts: i64) {
        self.video_frames += 1;
        self.video_first_last = Some(match self.video_first_last {
            Some((first, _)) => (first, dts),
            None => (dts, dts),
        });
    }
}

impl Packager {
    /// Frames dropped: before the first keyframe, going backwards on a non-leading track, or
    /// refused by the MPEG-TS muxer.
    pub fn dropped_frames(&self) -> u64 {
        self.stats.dropped + self.ts.as_ref().map_or(0, |ts| ts.refused)
    }

    /// Segments published since the packager was made (also those that left the window).
    pub fn segments_published(&self) -> u64 {
        self.stats.segments
    }

    /// Partial segments published since the packager was made (LL-HLS; 0 without parts).
    pub fn parts_published(&self) -> u64 {
        self.stats.parts
    }

    /// Measured bit rates, codecs, resolution and frame rate, for the master playlist.
    pub fn variant_info(&self) -> VariantInfo {
        let stats = &self.stats;
        // Between a publisher leaving and the next announcing its tracks, the listed
        // segments are still those of the tracks before.
        let tracks: Vec<&TrackInfo> = if self.tracks.is_empty() {
            self.listed_tracks.iter().collect()
        } else {
            self.tracks.iter().map(|t| &t.info).collect()
        };
        let codecs = tracks
            .iter()
            .map(|t| t.config.rfc6381())
            .collect::<Vec<_>>()
            .join(",");
        let resolution = tracks.iter().find_map(|t| t.config.picture_size());
        let measured = stats.video_first_last.and_then(|(first, last)| {
            (last > first && stats.video_frames > 1).then(|| {
                (stats.video_frames - 1) as f64
                    / MediaTime::new(last.saturating_sub(first), CLOCK).as_secs_f64()
            })
        });
        // The SPS timing info is exact; millisecond timestamps (FLV) make measurements wobble.
        let from_sps = tracks.iter().find_map(|t| match &t.config {
            CodecConfig::Avc(c) => c.frame_rate(),
            _ => None,
        });
        let frame_rate = from_sps.or(measured);
        VariantInfo {
            bandwidth: stats.peak_bps,
            average_bandwidth: if stats.total_secs > 0.0 {
                (stats.total_bytes as f64 * 8.0 / stats.total_secs) as u64
            } else {
                0
            },
            codecs,
            resolution,
            frame_rate,
        }
    }
}
