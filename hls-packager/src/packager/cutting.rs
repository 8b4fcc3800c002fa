//! Cutting: where segments start and end. The leading track cuts at the first keyframe
//! whose presentation time is at or after each multiple of the target duration; backward
//! steps and long gaps break the stream into a new epoch (`EXT-X-DISCONTINUITY`).

use bytes::Bytes;
use onair_media_types::{Frame, MediaKind, MediaTime};

use super::segment::{quantize, KeyRef, OpenSegment, Segment};
use super::{clock_of, Event, Packager, SegmentFormat, CLOCK};
use crate::crypto::encrypt_segment;
use crate::error::Error;

/// Where a segment or part ends, 90 kHz: in presentation time (what `EXTINF` measures and
/// where the other tracks' frames are divided) and in decode time (where the leading
/// track's last sample ends). They differ by the decode delay of a stream with B-frames.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    pub(super) present: i64,
    pub(super) decode: i64,
}

impl Cut {
    fn at(t: i64) -> Self {
        Self {
            present: t,
            decode: t,
        }
    }
}

impl Packager {
    /// Maps the start of the next segment to this wall-clock time (Unix milliseconds) for
    /// `EXT-X-PROGRAM-DATE-TIME`; later segments follow media time. Call at the start of the
    /// stream and after [`republish`](Self::republish). LL-HLS playlists need it.
    pub fn set_wallclock(&mut self, unix_ms: i64) {
        self.wallclock = Some(unix_ms);
    }

    /// Maps presentation time `media` to the wall-clock time `unix_ms` (Unix milliseconds) for
    /// `EXT-X-PROGRAM-DATE-TIME`, for the segments from the next epoch on, until set again or
    /// until [`republish`](Self::republish). Renditions of one ladder given the same mapping
    /// list the same dates whenever each of them starts.
    pub fn map_wallclock(&mut self, unix_ms: i64, media: MediaTime) {
        self.wall_map = Some((unix_ms, media.rescale(CLOCK)));
    }

    /// Feeds one frame. Frames of each track must come in decode order; the leading track
    /// (the video track, or the first audio track of an audio-only stream) decides the cuts.
    pub fn push_frame(&mut self, frame: Frame) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Finished);
        }
        let idx = self
            .tracks
            .iter()
            .position(|t| t.info.id == frame.track)
            .ok_or(Error::UnknownTrack {
                track: frame.track.0,
            })?;
        let t = frame.dts_time().rescale(CLOCK);
        if Some(idx) == self.leader {
            self.push_leader(idx, t, frame);
        } else {
            let track = &mut self.tracks[idx];
            let backwards = track.last_dts.is_some_and(|last| t < last);
            if self.open.is_none() || backwards {
                self.stats.dropped += 1;
                return Ok(());
            }
            if let Some(last) = track.last_dts {
                track.last_step = t.saturating_sub(last);
            }
            track.last_dts = Some(t);
            track.pending.push_back(frame);
        }
        Ok(())
    }

    /// The stream ended: closes the last segment and, for EVENT and VOD playlists (and live
    /// ones too), appends `EXT-X-ENDLIST`.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.ended {
            return Ok(());
        }
        if self.open.is_some() {
            let end = self.leader_end();
            self.close_segment(end, true);
        }
        self.ended = true;
        self.changed();
        Ok(())
    }

    fn push_leader(&mut self, idx: usize, t: i64, frame: Frame) {
        let last = self.tracks[idx].last_dts;
        if let (Some(last), Some(_)) = (last, &self.open) {
            let gap = clock_of(self.config.max_timestamp_gap);
            if t < last || t.saturating_sub(last) > gap {
                self.break_stream();
            }
        }
        let keyframe = frame.keyframe;
        let pts = frame.pts_time().rescale(CLOCK);
        // A keyframe cuts at its presentation time: renditions with the same keyframes cut
        // at the same points and measure the same EXTINF whatever their decode delay
        // (B-frames or not).
        let mut cut = Cut {
            present: if keyframe { pts.max(t) } else { t },
            decode: t,
        };
        if let Some(open) = &self.open {
            // Presentation times that step back (broken input) never make a segment end
            // before it starts.
            cut.present = cut.present.max(open.start);
        }
        match &self.open {
            None => {
                if !keyframe {
                    self.stats.dropped += 1;
                    return;
                }
                self.start_segment(cut.present, true);
            }
            Some(open) => {
                let max_seg = clock_of(self.config.max_segment_duration);
                if (keyframe && cut.present >= self.next_boundary)
                    || t.saturating_sub(open.start) >= max_seg
                {
                    self.close_segment(cut, false);
                    self.start_segment(cut.present, keyframe);
                } else if let Some(part_target) = self.part_target {
                    let step = last.map_or(0, |l| t.saturating_sub(l));
                    if open.part_frames > 0
                        && t.saturating_sub(open.part_start).saturating_add(step) > part_target
                    {
                        self.close_part(Cut::at(t), false, keyframe);
                    }
                }
            }
        }
        let track = &mut self.tracks[idx];
        if let Some(last) = track.last_dts {
            track.last_step = t.saturating_sub(last);
        }
        track.last_dts = Some(t);
        track.max_pts = Some(track.max_pts.map_or(pts, |m| m.max(pts)));
        if let Some(step) = track
            .last_pts
            .map(|l| pts.saturating_sub(l).saturating_abs())
        {
            if step > 0 {
                track.min_pts_step = Some(track.min_pts_step.map_or(step, |m| m.min(step)));
            }
        }
        track.last_pts = Some(pts);
        if track.info.kind() == MediaKind::Video {
            self.stats.video_frame(t);
        }
        track.pending.push_back(frame);
        if let Some(open) = &mut self.open {
            open.part_frames += 1;
        }
    }

    /// Ends the current segment with everything pending and starts a new epoch.
    pub(super) fn break_stream(&mut self) {
        if self.open.is_some() {
            let end = self.leader_end();
            self.close_segment(end, true);
        }
        for t in &mut self.tracks {
            t.pending.clear();
            t.last_dts = None;
            t.max_pts = None;
            t.last_pts = None;
        }
        self.discontinuity_pending = true;
        self.init_dirty = true;
        self.anchor = None;
        if let Some(ts) = &mut self.ts {
            ts.reset();
        }
    }

    /// Where the leader's last frame ends, 90 kHz: after the latest presentation time and
    /// after the last decode time, one frame on.
    fn leader_end(&self) -> Cut {
        let Some(track) = self.leader.and_then(|i| self.tracks.get(i)) else {
            return Cut::at(self.open.as_ref().map_or(0, |o| o.start));
        };
        let step = if track.last_step > 0 {
            track.last_step
        } else {
            i64::from(CLOCK) / 30
        };
        let decode = track.last_dts.map_or(0, |d| d.saturating_add(step));
        // The presentation end comes from presentation times alone (the latest one plus a
        // frame), so that renditions of the same pictures end their last segment alike
        // whatever their decode order.
        let present = track.max_pts.map_or(decode, |max| {
            max.saturating_add(track.min_pts_step.unwrap_or(step))
        });
        Cut { present, decode }
    }

    fn start_segment(&mut self, t: i64, independent: bool) {
        if self.init_dirty && self.config.format == SegmentFormat::Fmp4 {
            self.write_init();
        }
        self.init_dirty = false;
        let first_of_epoch = self.anchor.is_none();
        if first_of_epoch {
            if let Some(map) = self.wall_map {
                self.anchor = Some(map);
            } else if let Some(wall) = self.wallclock.take() {
                self.anchor = Some((wall, t));
            }
        }
        // Boundaries sit on multiples of the target duration in media time, not relative to
        // the first frame, so renditions that joined at different times still cut together.
        self.next_boundary = t
            .div_euclid(self.target)
            .saturating_add(1)
            .saturating_mul(self.target);
        let msn = self.next_msn;
        let key = self.segment_key(msn);
        let pdt_ms = self.anchor.map(|(wall, media)| {
            wall.saturating_add(MediaTime::new(t.saturating_sub(media), CLOCK).as_millis())
        });
        let infos = self.tracks_info();
        if let Some(ts) = &mut self.ts {
            ts.start_segment(&infos);
        }
        self.open = Some(OpenSegment {
            msn,
            start: t,
            data: Vec::new(),
            parts: Vec::new(),
            part_start: t,
            part_independent: independent,
            part_frames: 0,
            discontinuity: std::mem::take(&mut self.discontinuity_pending) && msn > 0,
            pdt_ms,
            key,
            map: self.map.clone(),
        });
    }

    fn close_segment(&mut self, cut: Cut, flush: bool) {
        self.close_part(cut, flush, true);
        let Some(open) = self.open.take() else {
            return;
        };
        let end = cut.present.max(open.start);
        let duration =
            quantize(MediaTime::new(end.saturating_sub(open.start), CLOCK).as_secs_f64());
        let ext = match self.config.format {
            SegmentFormat::Ts => "ts",
            SegmentFormat::Fmp4 => "m4s",
        };
        let uri = format!("{}{}.{}", self.config.name_prefix, open.msn, ext);
        let mut data = open.data;
        let key = open.key.map(|(key, iv)| {
            data = encrypt_segment(&key.key, iv, &data);
            KeyRef { uri: key.uri, iv }
        });
        let bytes = data.len() as u64;
        self.stats.segment(bytes, duration);
        self.listed_bytes += bytes + open.parts.iter().map(|p| p.bytes).sum::<u64>();
        self.events.push_back(Event::File {
            name: uri.clone(),
            data: Bytes::from(data),
        });
        self.max_extinf_rounded = self.max_extinf_rounded.max((duration + 0.5).floor() as u64);
        let segment = Segment {
            msn: open.msn,
            end,
            duration,
            bytes,
            uri,
            parts: open.parts,
            discontinuity: open.discontinuity,
            pdt_ms: open.pdt_ms,
            key,
            map: open.map,
        };
        self.archive_segment(&segment);
        self.segments.push_back(segment);
        self.next_msn = open.msn + 1;
        self.slide_window();
        self.changed();
    }
}
