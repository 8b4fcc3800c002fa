//! The sans-IO packager: frames in, files and playlist changes out.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use onair_media_types::{CodecConfig, Frame, MediaKind, MediaTime, TrackInfo};

use crate::crypto::{encrypt_segment, AesKey, KeySource};
use crate::error::Error;
use crate::fmp4::{self, Mp4Track, Sample, TrackRun};
use crate::ts::TsWriter;

/// 90 kHz: the packager's internal clock for cutting decisions.
pub(crate) const CLOCK: u32 = 90_000;

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

/// Configuration of one [`Packager`] (one media playlist, one rendition).
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
        }
    }
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

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub(crate) duration: f64,
    pub(crate) uri: String,
    pub(crate) independent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRef {
    pub(crate) uri: String,
    pub(crate) iv: u128,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) msn: u64,
    pub(crate) duration: f64,
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

struct OpenSegment {
    msn: u64,
    start: i64,
    data: Vec<u8>,
    parts: Vec<Part>,
    part_start: i64,
    part_independent: bool,
    part_frames: usize,
    discontinuity: bool,
    pdt_ms: Option<i64>,
    key: Option<(AesKey, u128)>,
    map: Option<String>,
}

struct Track {
    info: TrackInfo,
    mp4_id: u32,
    mp4_timescale: u32,
    pending: VecDeque<Frame>,
    /// Last accepted DTS, 90 kHz.
    last_dts: Option<i64>,
    /// Last DTS step, 90 kHz.
    last_step: i64,
    /// Last sample duration, track ticks.
    last_duration: u32,
}

impl Track {
    fn to_mp4(&self, f: &Frame) -> (i64, i64) {
        (
            f.dts_time().rescale(self.mp4_timescale),
            f.pts_time().rescale(self.mp4_timescale),
        )
    }
}

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

/// Packages one rendition: turns [`Frame`]s into segments, partial segments and a media
/// playlist (RFC 8216 / RFC 8216bis), without doing any IO.
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
    target: i64,
    part_target: Option<i64>,
    tracks: Vec<Track>,
    leader: Option<usize>,
    open: Option<OpenSegment>,
    next_boundary: i64,
    pub(crate) segments: VecDeque<Segment>,
    pub(crate) media_sequence: u64,
    pub(crate) discontinuity_sequence: u64,
    next_msn: u64,
    discontinuity_pending: bool,
    init_dirty: bool,
    init_count: u32,
    map: Option<String>,
    fragment_seq: u32,
    ts: Option<TsWriter>,
    events: VecDeque<Event>,
    generation: u64,
    playlist_dirty: bool,
    pub(crate) ended: bool,
    max_extinf_rounded: u64,
    max_part: f64,
    wallclock: Option<i64>,
    anchor: Option<(i64, i64)>,
    key: Option<(u64, AesKey)>,
    // statistics
    total_bytes: u64,
    total_secs: f64,
    peak_bps: u64,
    video_frames: u64,
    video_first_last: Option<(i64, i64)>,
    dropped: u64,
}

fn clock_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros() * u128::from(CLOCK) / 1_000_000).unwrap_or(i64::MAX)
}

/// Quantizes seconds to the 5 decimals the playlist prints.
fn quantize(secs: f64) -> f64 {
    (secs * 100_000.0).round() / 100_000.0
}

impl Packager {
    /// A packager for one rendition.
    pub fn new(config: PackagerConfig) -> Result<Self, Error> {
        if config.target_duration.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "target duration is zero",
            });
        }
        if let Some(p) = config.part_duration {
            if config.format != SegmentFormat::Fmp4 {
                return Err(Error::InvalidConfig {
                    reason: "low-latency hls needs fmp4 segments",
                });
            }
            if p.is_zero() || p > config.target_duration {
                return Err(Error::InvalidConfig {
                    reason: "part duration must be between zero and the target duration",
                });
            }
            if config.encryption.is_some() {
                return Err(Error::InvalidConfig {
                    reason: "encryption of partial segments is not supported",
                });
            }
        }
        if matches!(config.kind, PlaylistKind::Live { window: 0 }) {
            return Err(Error::InvalidConfig {
                reason: "live window of zero segments",
            });
        }
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
            leader: None,
            open: None,
            next_boundary: 0,
            segments: VecDeque::new(),
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
            key: None,
            total_bytes: 0,
            total_secs: 0.0,
            peak_bps: 0,
            video_frames: 0,
            video_first_last: None,
            dropped: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PackagerConfig {
        &self.config
    }

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

    /// Maps the start of the next segment to this wall-clock time (Unix milliseconds) for
    /// `EXT-X-PROGRAM-DATE-TIME`; later segments follow media time. Call at the start of the
    /// stream and after [`republish`](Self::republish). LL-HLS playlists need it.
    pub fn set_wallclock(&mut self, unix_ms: i64) {
        self.wallclock = Some(unix_ms);
    }

    /// The publisher came back: ends the current segment, forgets the tracks (announce them
    /// again) and marks the next segment with `EXT-X-DISCONTINUITY`.
    pub fn republish(&mut self) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Finished);
        }
        self.break_stream();
        self.tracks.clear();
        self.leader = None;
        Ok(())
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
                self.dropped += 1;
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

    fn push_leader(&mut self, idx: usize, t: i64, frame: Frame) {
        let last = self.tracks[idx].last_dts;
        if let (Some(last), Some(_)) = (last, &self.open) {
            let gap = clock_of(self.config.max_timestamp_gap);
            if t < last || t.saturating_sub(last) > gap {
                self.break_stream();
            }
        }
        let keyframe = frame.keyframe;
        match &self.open {
            None => {
                if !keyframe {
                    self.dropped += 1;
                    return;
                }
                self.start_segment(t, true);
            }
            Some(open) => {
                let max_seg = clock_of(self.config.max_segment_duration);
                if (keyframe && t >= self.next_boundary) || t.saturating_sub(open.start) >= max_seg
                {
                    self.close_segment(t, false);
                    self.start_segment(t, keyframe);
                } else if let Some(part_target) = self.part_target {
                    let step = last.map_or(0, |l| t.saturating_sub(l));
                    if open.part_frames > 0
                        && t.saturating_sub(open.part_start).saturating_add(step) > part_target
                    {
                        self.close_part(t, false, keyframe);
                    }
                }
            }
        }
        let track = &mut self.tracks[idx];
        if let Some(last) = track.last_dts {
            track.last_step = t.saturating_sub(last);
        }
        track.last_dts = Some(t);
        if track.info.kind() == MediaKind::Video {
            self.video_frames += 1;
            self.video_first_last = Some(match self.video_first_last {
                Some((first, _)) => (first, t),
                None => (t, t),
            });
        }
        track.pending.push_back(frame);
        if let Some(open) = &mut self.open {
            open.part_frames += 1;
        }
    }

    /// Ends the current segment with everything pending and starts a new epoch.
    fn break_stream(&mut self) {
        if self.open.is_some() {
            let end = self.leader_end();
            self.close_segment(end, true);
        }
        for t in &mut self.tracks {
            t.pending.clear();
            t.last_dts = None;
        }
        self.discontinuity_pending = true;
        self.init_dirty = true;
        self.anchor = None;
        if let Some(ts) = &mut self.ts {
            ts.reset();
        }
    }

    /// Where the leader's last frame ends, 90 kHz.
    fn leader_end(&self) -> i64 {
        let Some(track) = self.leader.and_then(|i| self.tracks.get(i)) else {
            return self.open.as_ref().map_or(0, |o| o.start);
        };
        let step = if track.last_step > 0 {
            track.last_step
        } else {
            i64::from(CLOCK) / 30
        };
        track.last_dts.map_or(0, |d| d.saturating_add(step))
    }

    fn start_segment(&mut self, t: i64, independent: bool) {
        if self.init_dirty && self.config.format == SegmentFormat::Fmp4 {
            self.write_init();
        }
        self.init_dirty = false;
        let first_of_epoch = self.anchor.is_none();
        if first_of_epoch {
            if let Some(wall) = self.wallclock.take() {
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

    fn tracks_info(&self) -> Vec<TrackInfo> {
        self.tracks.iter().map(|t| t.info.clone()).collect()
    }

    fn segment_key(&mut self, msn: u64) -> Option<(AesKey, u128)> {
        let enc = self.config.encryption.as_mut()?;
        let period = if enc.rotate_every == 0 {
            0
        } else {
            msn / u64::from(enc.rotate_every)
        };
        match &self.key {
            Some((p, key)) if *p == period => Some((key.clone(), u128::from(msn))),
            _ => {
                let key = enc.keys.key(period);
                self.key = Some((period, key.clone()));
                Some((key, u128::from(msn)))
            }
        }
    }

    fn write_init(&mut self) {
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
    fn close_part(&mut self, end: i64, flush: bool, next_independent: bool) {
        let Some(open) = &mut self.open else {
            return;
        };
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
                Some(MediaTime::new(end, CLOCK).rescale(track.mp4_timescale))
            } else {
                track.pending.front().map(|f| track.to_mp4(f).0)
            };
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
            runs.push(TrackRun {
                track_id: track.mp4_id,
                base_decode_time: u64::try_from(base).unwrap_or(0),
                samples,
            });
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
            open.parts.push(Part {
                duration,
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

    fn close_segment(&mut self, end: i64, flush: bool) {
        self.close_part(end, flush, true);
        let Some(open) = self.open.take() else {
            return;
        };
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
        let size = data.len() as u64;
        self.events.push_back(Event::File {
            name: uri.clone(),
            data: Bytes::from(data),
        });
        if duration > 0.0 {
            self.total_bytes += size;
            self.total_secs += duration;
            self.peak_bps = self.peak_bps.max((size as f64 * 8.0 / duration) as u64);
        }
        self.max_extinf_rounded = self.max_extinf_rounded.max((duration + 0.5).floor() as u64);
        self.segments.push_back(Segment {
            msn: open.msn,
            duration,
            uri,
            parts: open.parts,
            discontinuity: open.discontinuity,
            pdt_ms: open.pdt_ms,
            key,
            map: open.map,
        });
        self.next_msn = open.msn + 1;
        if let PlaylistKind::Live { window } = self.config.kind {
            // RFC 8216 6.2.2: never shrink a live playlist below three target durations.
            let min_secs = 3.0 * self.max_extinf_rounded as f64;
            let mut total: f64 = self.segments.iter().map(|s| s.duration).sum();
            while self.segments.len() > window {
                let Some(front) = self.segments.front() else {
                    break;
                };
                if total - front.duration < min_secs {
                    break;
                }
                total -= front.duration;
                self.expire_front();
            }
        }
        self.changed();
    }

    fn expire_front(&mut self) {
        let Some(seg) = self.segments.pop_front() else {
            return;
        };
        self.media_sequence = seg.msn + 1;
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

    /// The playlist changed; [`Event::PlaylistChanged`] is reported after every file of
    /// this input, so a playlist rendered then never names a file not yet stored.
    fn changed(&mut self) {
        self.generation += 1;
        self.playlist_dirty = true;
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

    /// Frames dropped: before the first keyframe, going backwards on a non-leading track, or
    /// refused by the MPEG-TS muxer.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped + self.ts.as_ref().map_or(0, |ts| ts.refused)
    }

    /// Target duration as declared: the configured one rounded up, raised if a segment
    /// ever had to be longer (a GOP longer than the target).
    pub fn target_duration_secs(&self) -> u64 {
        self.max_extinf_rounded
    }

    pub(crate) fn part_target_secs(&self) -> Option<f64> {
        self.config.part_duration.map(|_| self.max_part)
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

    /// Measured bit rates, codecs, resolution and frame rate, for the master playlist.
    pub fn variant_info(&self) -> VariantInfo {
        let codecs = self
            .tracks
            .iter()
            .map(|t| t.info.config.rfc6381())
            .collect::<Vec<_>>()
            .join(",");
        let resolution = self
            .tracks
            .iter()
            .find_map(|t| t.info.config.picture_size());
        let measured = self.video_first_last.and_then(|(first, last)| {
            (last > first && self.video_frames > 1).then(|| {
                (self.video_frames - 1) as f64
                    / MediaTime::new(last.saturating_sub(first), CLOCK).as_secs_f64()
            })
        });
        // The SPS timing info is exact; millisecond timestamps (FLV) make measurements wobble.
        let from_sps = self.tracks.iter().find_map(|t| match &t.info.config {
            CodecConfig::Avc(c) => c.frame_rate(),
            _ => None,
        });
        let frame_rate = from_sps.or(measured);
        VariantInfo {
            bandwidth: self.peak_bps,
            average_bandwidth: if self.total_secs > 0.0 {
                (self.total_bytes as f64 * 8.0 / self.total_secs) as u64
            } else {
                0
            },
            codecs,
            resolution,
            frame_rate,
        }
    }
}
