//! The segment model: what the playlist lists (closed segments and their parts, the open
//! segment) and how a live window slides over it.

use std::time::Duration;

use super::{Event, Packager, PlaylistKind};
use crate::crypto::AesKey;

/// A partial segment (RFC 8216bis 4.4.4.9).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub(crate) duration: f64,
    /// Size of its file.
    pub(crate) bytes: u64,
    pub(crate) uri: String,
    pub(crate) independent: bool,
}

/// The `EXT-X-KEY` of an encrypted segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRef {
    pub(crate) uri: String,
    pub(crate) iv: u128,
}

/// A closed segment, as the playlist lists it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) msn: u64,
    /// Where it ends in presentation time, 90 kHz.
    pub(crate) end: i64,
    pub(crate) duration: f64,
    /// Size of its file.
    pub(crate) bytes: u64,
    pub(crate) uri: String,
    pub(crate) parts: Vec<Part>,
    pub(crate) discontinuity: bool,
    pub(crate) pdt_ms: Option<i64>,
    pub(crate) key: Option<KeyRef>,
    pub(crate) map: Option<String>,
}

/// What the playlist lists of the open segment: its parts and the tags before them.
pub(crate) struct OpenView<'a> {
    pub(crate) parts: &'a [Part],
    pub(crate) discontinuity: bool,
    pub(crate) pdt_ms: Option<i64>,
    pub(crate) map: Option<&'a str>,
}

/// The segment being written: its bytes so far, its closed parts and the part in progress.
pub(super) struct OpenSegment {
    pub(super) msn: u64,
    /// Start, 90 kHz.
    pub(super) start: i64,
    pub(super) data: Vec<u8>,
    pub(super) parts: Vec<Part>,
    /// Start of the part in progress, 90 kHz.
    pub(super) part_start: i64,
    pub(super) part_independent: bool,
    /// Frames of the leading track in the part in progress.
    pub(super) part_frames: usize,
    pub(super) discontinuity: bool,
    pub(super) pdt_ms: Option<i64>,
    pub(super) key: Option<(AesKey, u128)>,
    pub(super) map: Option<String>,
}

/// Quantizes seconds to the 5 decimals the playlist prints.
pub(super) fn quantize(secs: f64) -> f64 {
    (secs * 100_000.0).round() / 100_000.0
}

impl Packager {
    /// Drops the oldest segments of a live playlist beyond its window (a count of segments,
    /// or a duration for a DVR window).
    pub(super) fn slide_window(&mut self) {
        let (count, span) = match self.config.kind {
            PlaylistKind::Live { window } => (window, f64::INFINITY),
            PlaylistKind::Dvr { duration } => (usize::MAX, duration.as_secs_f64() + 1e-6),
            PlaylistKind::Event | PlaylistKind::Vod => return,
        };
        let too_long = |listed: usize, total: f64| listed > count || total > span;
        let mut total: f64 = self.segments.iter().map(|s| s.duration).sum();
        while too_long(self.segments.len(), total) {
            let Some(front) = self.segments.front() else {
                break;
            };
            if !self.may_expire(front.duration, total) {
                break;
            }
            total -= front.duration;
            self.expire_front();
        }
    }

    /// RFC 8216 6.2.2: a live playlist never shrinks below three target durations, and it
    /// keeps a segment.
    fn may_expire(&self, oldest: f64, total: f64) -> bool {
        let min_secs = 3.0 * self.max_extinf_rounded as f64;
        self.segments.len() > 1 && total - oldest >= min_secs
    }

    /// Removes the oldest listed segment of a live or DVR playlist before its time (to keep
    /// a stream's memory within a limit), unless the playlist would list fewer than `keep`
    /// segments or three target durations. Its files are announced as
    /// [`Event::Expired`](super::Event::Expired) and the playlist changes. Returns whether
    /// a segment was removed.
    pub fn expire_oldest(&mut self, keep: usize) -> bool {
        if matches!(self.config.kind, PlaylistKind::Event | PlaylistKind::Vod)
            || self.segments.len() <= keep
        {
            return false;
        }
        let total: f64 = self.segments.iter().map(|s| s.duration).sum();
        let Some(oldest) = self.segments.front().map(|s| s.duration) else {
            return false;
        };
        if !self.may_expire(oldest, total) {
            return false;
        }
        self.expire_front();
        self.changed();
        true
    }

    /// Bytes of the segments the playlist lists, and of their parts: what a store serving
    /// the playlist holds for it (besides files that left it and wait out their grace).
    pub fn listed_bytes(&self) -> u64 {
        self.listed_bytes
    }

    /// Media the playlist lists, as the sum of its `EXTINF`s.
    pub fn listed_duration(&self) -> Duration {
        Duration::from_secs_f64(
            self.segments
                .iter()
                .map(|s| s.duration)
                .sum::<f64>()
                .max(0.0),
        )
    }

    fn expire_front(&mut self) {
        let Some(seg) = self.segments.pop_front() else {
            return;
        };
        self.media_sequence = seg.msn + 1;
        self.listed_bytes = self
            .listed_bytes
            .saturating_sub(seg.bytes + seg.parts.iter().map(|p| p.bytes).sum::<u64>());
        // RFC 8216 6.2.2: removing an EXT-X-DISCONTINUITY tag bumps the sequence.
        if seg.discontinuity {
            self.discontinuity_sequence += 1;
        }
        for p in seg.parts {
            self.events.push_back(Event::Expired { name: p.uri });
        }
        self.events.push_back(Event::Expired { name: seg.uri });
        if let Some(map) = seg.map {
            let still_used = self.segments.iter().any(|s| s.map.as_ref() == Some(&map))
                || self.open.as_ref().and_then(|o| o.map.as_ref()) == Some(&map)
                || self.map.as_ref() == Some(&map);
            if !still_used {
                self.events.push_back(Event::Expired { name: map });
            }
        }
    }

    /// The segment being written, as far as the playlist shows it.
    pub(crate) fn open_segment(&self) -> Option<OpenView<'_>> {
        self.open.as_ref().map(|o| OpenView {
            parts: &o.parts,
            discontinuity: o.discontinuity,
            pdt_ms: o.pdt_ms,
            map: o.map.as_deref(),
        })
    }

    pub(crate) fn next_part_name(&self) -> String {
        match &self.open {
            Some(o) => format!("{}{}.{}.m4s", self.config.name_prefix, o.msn, o.parts.len()),
            None => format!("{}{}.0.m4s", self.config.name_prefix, self.next_msn),
        }
    }
}
