//! The tracks of a rendition: announcing them, their per-track state, which one leads the
//! cuts, and forgetting them when the publisher comes back.

use std::collections::VecDeque;

use onair_media_types::{Frame, MediaKind, TrackInfo};

use super::{Packager, SegmentFormat};
use crate::error::Error;
use crate::fmp4::{self, Mp4Track};

/// A track and what the packager remembers of it.
pub(super) struct Track {
    pub(super) info: TrackInfo,
    pub(super) mp4_id: u32,
    pub(super) mp4_timescale: u32,
    /// Frames not yet written into a part or segment.
    pub(super) pending: VecDeque<Frame>,
    /// Last accepted DTS, 90 kHz.
    pub(super) last_dts: Option<i64>,
    /// Last DTS step, 90 kHz.
    pub(super) last_step: i64,
    /// Latest PTS since the last break, 90 kHz (with B-frames, later than the last DTS).
    pub(super) max_pts: Option<i64>,
    /// Last PTS accepted, and the smallest step between consecutive ones (a frame's
    /// duration, whatever the decode order), 90 kHz.
    pub(super) last_pts: Option<i64>,
    pub(super) min_pts_step: Option<i64>,
    /// Last sample duration, track ticks.
    pub(super) last_duration: u32,
}

impl Track {
    /// DTS and PTS of `f` in the track's fMP4 timescale.
    pub(super) fn to_mp4(&self, f: &Frame) -> (i64, i64) {
        (
            f.dts_time().rescale(self.mp4_timescale),
            f.pts_time().rescale(self.mp4_timescale),
        )
    }
}

impl Packager {
    /// Announces a track, or a new configuration of a known track. A new or changed track
    /// after media has started ends the current segment; the next one starts after an
    /// `EXT-X-DISCONTINUITY` (with a new `EXT-X-MAP` for fMP4).
    pub fn add_track(&mut self, info: TrackInfo) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Finished);
        }
        if let Some(t) = self.tracks.iter().find(|t| t.info.id == info.id) {
            if t.info == info {
                return Ok(());
            }
        }
        if self.config.format == SegmentFormat::Fmp4 {
            let probe = Mp4Track {
                id: 1,
                timescale: 1,
                config: info.config.clone(),
                width: 0,
                height: 0,
            };
            fmp4::write_init(&[probe])?;
        } else {
            crate::ts::check_codec(&info.config)?;
        }
        if self.open.is_some() {
            self.break_stream();
        }
        let mp4_timescale = fmp4::timescale_for(&info.config);
        match self.tracks.iter_mut().find(|t| t.info.id == info.id) {
            Some(t) => {
                t.info = info;
                t.mp4_timescale = mp4_timescale;
            }
            None => {
                let mp4_id = self.tracks.len() as u32 + 1;
                self.tracks.push(Track {
                    info,
                    mp4_id,
                    mp4_timescale,
                    pending: VecDeque::new(),
                    last_dts: None,
                    last_step: 0,
                    max_pts: None,
                    last_pts: None,
                    min_pts_step: None,
                    last_duration: 0,
                })
            }
        }
        self.leader = self
            .tracks
            .iter()
            .position(|t| t.info.kind() == MediaKind::Video)
            .or(if self.tracks.is_empty() {
                None
            } else {
                Some(0)
            });
        self.init_dirty = true;
        Ok(())
    }

    /// The publisher came back: ends the current segment, forgets the tracks (announce them
    /// again) and marks the next segment with `EXT-X-DISCONTINUITY`.
    pub fn republish(&mut self) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Finished);
        }
        self.break_stream();
        self.listed_tracks = self.tracks.drain(..).map(|t| t.info).collect();
        self.wall_map = None;
        self.leader = None;
        Ok(())
    }

    pub(super) fn tracks_info(&self) -> Vec<TrackInfo> {
        self.tracks.iter().map(|t| t.info.clone()).collect()
    }
}
