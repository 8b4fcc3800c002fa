//! Writing media: pending frames go into the open segment one part at a time (an MPEG-TS
//! run, or one fMP4 fragment per part), each part a file of its own with LL-HLS; and the fMP4
//! init segment that `EXT-X-MAP` names.

use bytes::Bytes;
use onair_media_types::{Frame, MediaKind, MediaTime};

use super::cutting::Cut;
use super::segment::{quantize, Part};
use super::tracks::Track;
use super::{Event, Packager, CLOCK};
use crate::fmp4::{self, Mp4Track, Sample, TrackRun};

impl Packager {
    pub(super) fn write_init(&mut self) {
        let tracks: Vec<Mp4Track> = self
            .tracks
            .iter()
            .map(|t| {
                let (width, height) = t.info.config.picture_size().unwrap_or((0, 0));
                Mp4Track {
                    id: t.mp4_id,
                    timescale: t.mp4_timescale,
                    config: t.info.config.clone(),
                    width: u16::try_from(width).unwrap_or(0),
                    height: u16::try_from(height).unwrap_or(0),
                }
            })
            .collect();
        // Every track was checked by add_track, so this cannot fail; an empty init would
        // only be written for a stream without tracks, which has no frames either.
        let data = fmp4::write_init(&tracks).unwrap_or_default();
        let name = format!("{}init{}.mp4", self.config.name_prefix, self.init_count);
        self.init_count += 1;
        self.map = Some(name.clone());
        self.events.push_back(Event::File {
            name,
            data: Bytes::from(data),
        });
    }

    /// Closes the current part at `end` (90 kHz). `flush` takes every pending frame.
    pub(super) fn close_part(&mut self, cut: Cut, flush: bool, next_independent: bool) {
        let Some(open) = &mut self.open else {
            return;
        };
        let end = cut.present.max(open.part_start);
        let mut runs = Vec::new();
        let mut ts_frames = Vec::new();
        for (i, track) in self.tracks.iter_mut().enumerate() {
            let is_leader = Some(i) == self.leader;
            let mut frames = Vec::new();
            while let Some(f) = track.pending.front() {
                if !flush && !is_leader && f.dts_time().rescale(CLOCK) >= end {
                    break;
                }
                if let Some(f) = track.pending.pop_front() {
                    frames.push(f);
                }
            }
            if frames.is_empty() {
                continue;
            }
            if self.ts.is_some() {
                ts_frames.extend(frames);
                continue;
            }
            let end_ticks = if is_leader {
                Some(MediaTime::new(cut.decode, CLOCK).rescale(track.mp4_timescale))
            } else {
                track.pending.front().map(|f| track.to_mp4(f).0)
            };
            runs.push(track_run(track, &frames, end_ticks));
        }
        let start = open.data.len();
        if let Some(ts) = &mut self.ts {
            ts_frames.sort_by_key(|f| f.dts_time().rescale(CLOCK));
            for f in &ts_frames {
                ts.write_frame(f, &mut open.data);
            }
        } else if !runs.is_empty() {
            self.fragment_seq = self.fragment_seq.wrapping_add(1);
            fmp4::write_fragment(self.fragment_seq, &runs, &mut open.data);
        }
        let part_data = &open.data[start..];
        if self.part_target.is_some() && !part_data.is_empty() {
            let duration =
                quantize(MediaTime::new(end.saturating_sub(open.part_start), CLOCK).as_secs_f64());
            let uri = format!(
                "{}{}.{}.m4s",
                self.config.name_prefix,
                open.msn,
                open.parts.len()
            );
            self.max_part = self.max_part.max(duration);
            self.stats.parts += 1;
            open.parts.push(Part {
                duration,
                bytes: part_data.len() as u64,
                uri: uri.clone(),
                independent: open.part_independent,
            });
            self.events.push_back(Event::File {
                name: uri,
                data: Bytes::copy_from_slice(part_data),
            });
            self.changed();
        }
        if let Some(open) = &mut self.open {
            open.part_start = end;
            open.part_independent = next_independent;
            open.part_frames = 0;
        }
    }
}

/// The fMP4 samples of `frames` (non-empty, decode order). Each lasts until the next frame;
/// the last until `end_ticks` (the part's end for the leader, the next pending frame for the
/// others), or as long as the track's previous sample when that is unknown.
fn track_run(track: &mut Track, frames: &[Frame], end_ticks: Option<i64>) -> TrackRun {
    let mut samples = Vec::with_capacity(frames.len());
    let base = track.to_mp4(&frames[0]).0;
    for (j, f) in frames.iter().enumerate() {
        let (dts, pts) = track.to_mp4(f);
        let next = frames.get(j + 1).map(|n| track.to_mp4(n).0).or(end_ticks);
        let duration = match next {
            Some(n) if n > dts => u32::try_from(n.saturating_sub(dts)).unwrap_or(u32::MAX),
            _ => track.last_duration,
        };
        track.last_duration = duration;
        samples.push(Sample {
            duration,
            keyframe: f.keyframe || track.info.kind() == MediaKind::Audio,
            cto: i32::try_from(pts.saturating_sub(dts)).unwrap_or(0),
            data: f.data.clone(),
        });
    }
    TrackRun {
        track_id: track.mp4_id,
        base_decode_time: u64::try_from(base).unwrap_or(0),
        samples,
    }
}
