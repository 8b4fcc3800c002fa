//! The sans-IO packager: frames in, files and playlist changes out.
//!
//! The [`Packager`] state lives here with its outputs (events, what is published); the
//! rest is split by concern: `config` (what it is told), `tracks` (the tracks and the
//! leader), `cutting` (where segments start and end), `parts` (writing media, one part at a
//! time), `segment` (the segments listed and the live window), `keys` (key rotation),
//! `stats` (what the master playlist reports) and `archive` (the listing of a whole stream
//! for its VOD playlist).

use std::collections::VecDeque;
use std::time::Duration;

use crate::crypto::AesKey;
use crate::error::Error;
use crate::ts::TsWriter;

mod archive;
mod config;
mod cutting;
mod keys;
mod parts;
mod segment;
mod stats;
mod tracks;

pub use config::{EncryptionConfig, PackagerConfig, PlaylistKind, SegmentFormat};
pub(crate) use segment::{KeyRef, Part, Segment};
pub use stats::VariantInfo;

use bytes::Bytes;
use onair_media_types::{MediaTime, TrackInfo};
use segment::OpenSegment;
use stats::Stats;
use tracks::Track;

/// 90 kHz: the packager's internal clock for cutting decisions.
pub(crate) const CLOCK: u32 = 90_000;

fn clock_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros() * u128::from(CLOCK) / 1_000_000).unwrap_or(i64::MAX)
}

/// What the packager asks its caller to do. Drain with [`Packager::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Store this file (init segment, partial segment or segment) under `name`, atomically.
    File {
        /// File name, relative to the playlist.
        name: String,
        /// Content.
        data: Bytes,
    },
    /// The media playlist changed: render it again ([`Packager::media_playlist`]) and wake
    /// blocked playlist requests ([`Packager::is_published`]).
    PlaylistChanged,
    /// This file has left the playlist: delete it once a grace period at least as long as
    /// the playlist may be cached has passed (see [`crate::Retention`]).
    Expired {
        /// File name.
        name: String,
    },
}

/// Packages one rendition: turns [`Frame`](onair_media_types::Frame)s into segments, partial
/// segments and a media playlist (RFC 8216 / RFC 8216bis), without doing any IO.
///
/// Feed it with [`add_track`](Self::add_track) then [`push_frame`](Self::push_frame); after
/// every call, drain [`poll_event`](Self::poll_event) until it returns `None`: store the
/// [`Event::File`]s, re-render the playlist on [`Event::PlaylistChanged`] and schedule the
/// deletion of [`Event::Expired`] files.
///
/// ```
/// use onair_hls_packager::{Event, MemoryStore, Packager, PackagerConfig, PlaylistRequest, Store};
/// # fn run(frames: Vec<onair_media_types::Frame>, track: onair_media_types::TrackInfo) -> Result<(), onair_hls_packager::Error> {
/// let mut packager = Packager::new(PackagerConfig::default())?;
/// let mut store = MemoryStore::default();
/// packager.add_track(track)?;
/// for frame in frames {
///     packager.push_frame(frame)?;
///     while let Some(event) = packager.poll_event() {
///         match event {
///             Event::File { name, data } => store.put(&name, data).unwrap(),
///             Event::PlaylistChanged => {
///                 let text = packager.media_playlist(&PlaylistRequest::default());
///                 store.put("index.m3u8", text.into()).unwrap();
///             }
///             Event::Expired { name } => { /* delete after a grace period */ }
///         }
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Packager {
    config: PackagerConfig,
    /// Target duration, 90 kHz.
    target: i64,
    /// Part target, 90 kHz (LL-HLS).
    part_target: Option<i64>,
    tracks: Vec<Track>,
    /// The tracks before the last [`republish`](Self::republish), which the listed segments
    /// still carry: what the master playlist describes until new tracks are announced.
    listed_tracks: Vec<TrackInfo>,
    /// Index of the track that decides the cuts.
    leader: Option<usize>,
    open: Option<OpenSegment>,
    /// The leader's next keyframe at or after this (90 kHz) closes the open segment.
    next_boundary: i64,
    pub(crate) segments: VecDeque<Segment>,
    /// Bytes of the listed segments and their parts.
    listed_bytes: u64,
    /// Every segment closed since the archive (re)started, without parts (`archive_limit`).
    pub(crate) archive: VecDeque<Segment>,
    /// The archive outgrew its limit.
    archive_full: bool,
    pub(crate) media_sequence: u64,
    pub(crate) discontinuity_sequence: u64,
    next_msn: u64,
    discontinuity_pending: bool,
    /// The tracks changed since the last init segment.
    init_dirty: bool,
    init_count: u32,
    /// Name of the current init segment.
    map: Option<String>,
    fragment_seq: u32,
    ts: Option<TsWriter>,
    events: VecDeque<Event>,
    generation: u64,
    playlist_dirty: bool,
    pub(crate) ended: bool,
    max_extinf_rounded: u64,
    max_part: f64,
    /// Wall-clock time (Unix ms) of the next segment start, from `set_wallclock`.
    wallclock: Option<i64>,
    /// (Unix ms, 90 kHz media time) of the same instant, for this epoch.
    anchor: Option<(i64, i64)>,
    /// The same for every epoch from `map_wallclock`.
    wall_map: Option<(i64, i64)>,
    /// The key of the current key period.
    key: Option<(u64, AesKey)>,
    stats: Stats,
}

impl Packager {
    /// A packager for one rendition.
    pub fn new(config: PackagerConfig) -> Result<Self, Error> {
        config.validate()?;
        let target = clock_of(config.target_duration).max(1);
        let part_target = config.part_duration.map(|p| clock_of(p).max(1));
        let max_extinf_rounded = config.target_duration.as_secs_f64().ceil().max(1.0) as u64;
        let max_part = config.part_duration.map_or(0.0, |p| p.as_secs_f64());
        let ts = (config.format == SegmentFormat::Ts).then(TsWriter::new);
        Ok(Self {
            config,
            target,
            part_target,
            tracks: Vec::new(),
            listed_tracks: Vec::new(),
            leader: None,
            open: None,
            next_boundary: 0,
            segments: VecDeque::new(),
            listed_bytes: 0,
            archive: VecDeque::new(),
            archive_full: false,
            media_sequence: 0,
            discontinuity_sequence: 0,
            next_msn: 0,
            discontinuity_pending: false,
            init_dirty: true,
            init_count: 0,
            map: None,
            fragment_seq: 0,
            ts,
            events: VecDeque::new(),
            generation: 0,
            playlist_dirty: false,
            ended: false,
            max_extinf_rounded,
            max_part,
            wallclock: None,
            anchor: None,
            wall_map: None,
            key: None,
            stats: Stats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PackagerConfig {
        &self.config
    }

    /// The playlist changed; [`Event::PlaylistChanged`] is reported after every file of
    /// this input, so a playlist rendered then never names a file not yet stored.
    fn changed(&mut self) {
        self.generation += 1;
        self.playlist_dirty = true;
    }

    /// Next thing to do; call until `None` after every input.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events
            .pop_front()
            .or_else(|| std::mem::take(&mut self.playlist_dirty).then_some(Event::PlaylistChanged))
    }

    /// Bumped every time the playlist changes. A runtime can compare it to decide whether
    /// to re-check blocked requests.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether media sequence number `msn` (and partial segment `part` of it, when given)
    /// is in the playlist already: the test behind blocking playlist reload
    /// (`_HLS_msn` / `_HLS_part`, RFC 8216bis 6.2.5.2).
    pub fn is_published(&self, msn: u64, part: Option<u32>) -> bool {
        if msn < self.next_msn {
            return true;
        }
        match (&self.open, part) {
            (Some(open), Some(p)) if open.msn == msn => (p as usize) < open.parts.len(),
            _ => false,
        }
    }

    /// The media sequence number of the open segment, or of the next one when none is open.
    pub fn next_sequence(&self) -> u64 {
        self.open.as_ref().map_or(self.next_msn, |open| open.msn)
    }

    /// Numbers the first segment `msn` instead of 0, so that a rendition joining a ladder
    /// late shares its siblings' numbering. Only before the first segment starts; later it
    /// fails with [`Error::AlreadyStarted`].
    pub fn start_at_sequence(&mut self, msn: u64) -> Result<(), Error> {
        if self.open.is_some() || !self.segments.is_empty() || self.next_msn != 0 {
            return Err(Error::AlreadyStarted);
        }
        self.next_msn = msn;
        self.media_sequence = msn;
        Ok(())
    }

    /// The newest closed segment: its media sequence number and where it ends in
    /// presentation time.
    pub fn last_segment_end(&self) -> Option<(u64, MediaTime)> {
        self.segments
            .back()
            .map(|s| (s.msn, MediaTime::new(s.end, CLOCK)))
    }

    /// `EXT-X-MEDIA-SEQUENCE`: the media sequence number of the first listed segment.
    pub fn media_sequence(&self) -> u64 {
        self.media_sequence
    }

    /// The last published media sequence number and part index (for
    /// `EXT-X-RENDITION-REPORT`); `None` before the first part or segment.
    pub fn last_published(&self) -> Option<(u64, Option<u32>)> {
        if let Some(open) = &self.open {
            if !open.parts.is_empty() {
                return Some((open.msn, Some(open.parts.len() as u32 - 1)));
            }
        }
        self.segments
            .back()
            .map(|s| (s.msn, s.parts.len().checked_sub(1).map(|p| p as u32)))
    }

    /// Target duration as declared: the configured one rounded up, raised if a segment
    /// ever had to be longer (a GOP longer than the target).
    pub fn target_duration_secs(&self) -> u64 {
        self.max_extinf_rounded
    }

    pub(crate) fn part_target_secs(&self) -> Option<f64> {
        self.config.part_duration.map(|_| self.max_part)
    }
}
