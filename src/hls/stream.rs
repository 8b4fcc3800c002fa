//! The origin's streams: each with its renditions (a packager and the files it made, in
//! memory) and the HTTP requests parked until a rendition publishes what they wait for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_hls_packager::Error as PackagerError;
use onair_hls_packager::{
    drive_with, master_playlist, parse_media_name, Grace, MemoryStore, Packager, PlaylistRequest,
    ReloadWait, ReloadWaiters, RenditionReport, Retention, Store, Variant, WaitKey,
};
use onair_media_types::{Frame, MediaTime, TrackInfo};
use tokio::sync::oneshot;

use super::vod::{Recording, VodWriter};
use super::StreamId;
use crate::metrics::{RenditionMeter, StreamHandle};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The streams by application, then name: looked up on every request with the `&str`s of its
/// path, without building an owned key.
#[derive(Default)]
pub(crate) struct Streams {
    by_app: HashMap<String, HashMap<String, Arc<LiveHls>>>,
    len: usize,
}

impl Streams {
    pub(crate) fn get(&self, app: &str, name: &str) -> Option<Arc<LiveHls>> {
        self.by_app.get(app)?.get(name).cloned()
    }

    pub(crate) fn insert(&mut self, app: &str, name: &str, stream: Arc<LiveHls>) {
        let names = self.by_app.entry(app.to_owned()).or_default();
        if names.insert(name.to_owned(), stream).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn ids(&self) -> Vec<StreamId> {
        self.by_app
            .iter()
            .flat_map(|(app, names)| names.keys().map(move |name| (app.clone(), name.clone())))
            .collect()
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &str, &Arc<LiveHls>) -> bool) {
        let mut len = 0;
        self.by_app.retain(|app, names| {
            names.retain(|name, stream| keep(app, name, stream));
            len += names.len();
            !names.is_empty()
        });
        self.len = len;
    }
}

/// One stream: shared by its publisher's sink (and ladder worker) and the HTTP requests for
/// it.
pub(crate) struct LiveHls {
    state: Mutex<StreamState>,
}

/// How much a stream's DVR windows may hold together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListedLimit {
    /// Bytes the playlists of every rendition list together.
    pub(crate) max_bytes: u64,
    /// Segments each keeps whatever the limit.
    pub(crate) keep: usize,
}

impl LiveHls {
    pub(crate) fn new(limit: Option<ListedLimit>) -> Self {
        Self {
            state: Mutex::new(StreamState {
                limit,
                limited: false,
                vod: None,
                renditions: Vec::new(),
                life: 0,
                publishing: false,
                left_at: None,
                arrivals: Arrivals::default(),
                settled: false,
                awaiting: Vec::new(),
                metrics: None,
                #[cfg(feature = "transcode")]
                ladder: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamState> {
        lock(&self.state)
    }
}

/// Which rendition of a stream: its place in [`StreamState`]'s list, stable for the
/// stream's life (a retired rendition keeps its place), so a parked request's index keeps
/// naming the rendition it waits on.
pub(crate) type RenditionIndex = usize;

pub(crate) struct StreamState {
    /// The bytes its playlists may list together (with a DVR window).
    limit: Option<ListedLimit>,
    /// The limit shortened the windows (logged once).
    limited: bool,
    /// The recording of the current publication, with the writer it goes to.
    vod: Option<(VodWriter, Arc<Recording>)>,
    /// The stream as published (one rendition, `index.m3u8`), or what a ladder makes of it;
    /// retired ones (shed, or gone in a new life) stay, not served, until the stream goes.
    renditions: Vec<Rendition>,
    /// Counts the publications of the stream: what is fed belongs to the current one.
    pub(crate) life: u64,
    pub(crate) publishing: bool,
    /// When the publisher left (monotonic clock of the origin).
    pub(crate) left_at: Option<Instant>,
    /// When the recent video frames arrived from the publisher.
    pub(crate) arrivals: Arrivals,
    /// This publication's renditions are all announced (a ladder announces its `source`
    /// once it judged it): a master playlist answered now lists them all.
    settled: bool,
    /// Requests waiting for the renditions to be settled.
    awaiting: Vec<oneshot::Sender<()>>,
    /// The current publication's series, and how recently a viewer must have fetched a
    /// playlist to count.
    metrics: Option<(StreamHandle, Duration)>,
    /// What the current publication's ladder did (with one).
    #[cfg(feature = "transcode")]
    pub(crate) ladder: Option<super::ladder::LadderReport>,
}

impl StreamState {
    /// The renditions served, in the order they were made.
    pub(crate) fn renditions(&self) -> impl Iterator<Item = (RenditionIndex, &Rendition)> {
        self.renditions.iter().enumerate().filter(|(_, r)| r.live)
    }

    /// Rendition `index`, while it is served.
    pub(crate) fn rendition(&self, index: RenditionIndex) -> Option<&Rendition> {
        self.renditions.get(index).filter(|r| r.live)
    }

    pub(crate) fn rendition_mut(&mut self, index: RenditionIndex) -> Option<&mut Rendition> {
        self.renditions.get_mut(index).filter(|r| r.live)
    }

    /// The served rendition whose media playlist is `uri`. `index.m3u8` names the first
    /// one when no rendition has that name (a ladder's renditions are named after their
    /// rungs), so the URL of a stream without a ladder keeps working with one.
    pub(crate) fn by_playlist(&self, uri: &str) -> Option<(RenditionIndex, &Rendition)> {
        self.renditions()
            .find(|(_, r)| r.playlist == uri)
            .or_else(|| (uri == INDEX).then(|| self.renditions().next()).flatten())
    }

    /// The rendition named `playlist`, served or retired (a new life of the stream takes a
    /// retired one up again, continuing its numbering and its files).
    pub(crate) fn find(&self, playlist: &str) -> Option<RenditionIndex> {
        self.renditions.iter().position(|r| r.playlist == playlist)
    }

    /// Adds a rendition, or takes up a retired one of the same name; returns its index.
    pub(crate) fn add(&mut self, rendition: Rendition) -> RenditionIndex {
        match self.find(&rendition.playlist) {
            Some(index) => {
                self.renditions[index] = rendition;
                index
            }
            None => {
                self.renditions.push(rendition);
                self.renditions.len() - 1
            }
        }
    }

    /// Serves retired rendition `index` again.
    pub(crate) fn revive(&mut self, index: RenditionIndex) -> Option<&mut Rendition> {
        let r = self.renditions.get_mut(index)?;
        r.live = true;
        Some(r)
    }

    /// Stops serving rendition `index` (its playlist and files answer 404 from now on) and
    /// wakes the requests parked on it.
    pub(crate) fn retire(&mut self, index: RenditionIndex) {
        if let Some(r) = self.renditions.get_mut(index) {
            r.live = false;
            for woken in r.waiters.release_all() {
                let _ = woken.send(());
            }
        }
    }

    /// Stops serving the renditions a former life made that this one (`life`) did not take
    /// up again.
    pub(crate) fn retire_others(&mut self, life: u64) {
        let stale: Vec<RenditionIndex> = self
            .renditions()
            .filter(|(_, r)| r.life != life)
            .map(|(i, _)| i)
            .collect();
        for index in stale {
            self.retire(index);
        }
    }

    /// The media sequence number a rendition joining now starts at, to share its siblings'
    /// numbering: the open (or next) segment's of the served renditions.
    #[cfg(feature = "transcode")]
    pub(crate) fn next_sequence(&self) -> u64 {
        self.renditions()
            .map(|(_, r)| r.packager.next_sequence())
            .max()
            .unwrap_or(0)
    }

    /// The first served rendition without a whole segment in its playlist yet; `None` once
    /// all have one (so the master playlist's bandwidths and codecs are measured).
    pub(crate) fn unready(&self) -> Option<RenditionIndex> {
        self.renditions()
            .find(|(_, r)| !r.ready())
            .map(|(index, _)| index)
    }

    /// The master playlist: every served rendition, with what was measured of it.
    pub(crate) fn master(&self) -> String {
        let variants: Vec<Variant> = self
            .renditions()
            .map(|(_, r)| Variant {
                uri: r.playlist.clone(),
                info: r.packager.variant_info(),
            })
            .collect();
        master_playlist(&variants)
    }

    /// Moves every served rendition's output into its store, with the other renditions'
    /// reports in LL-HLS playlists, and counts how late each new segment was listed.
    pub(crate) fn drain(&mut self, now: Duration, at: Instant) {
        let reports: Vec<(RenditionIndex, RenditionReport)> = if self.renditions().count() > 1 {
            self.renditions()
                .filter(|(_, r)| r.packager.config().part_duration.is_some())
                .filter_map(|(i, r)| Some((i, RenditionReport::of(&r.packager, &r.playlist)?)))
                .collect()
        } else {
            Vec::new()
        };
        for (index, r) in self.renditions.iter_mut().enumerate() {
            if !r.live {
                continue;
            }
            if !reports.is_empty() {
                r.reports.clear();
                r.reports.extend(
                    reports
                        .iter()
                        .filter(|(i, _)| *i != index)
                        .map(|(_, report)| report.clone()),
                );
            }
            if let Some((stream, window)) = &self.metrics {
                if !r.meter.is_attached() {
                    let totals = r.published();
                    r.meter
                        .attach(stream.rendition(&r.playlist, *window), totals);
                }
            }
            r.drain(now, self.vod.as_ref());
            r.count_listed(&self.arrivals, at);
        }
        self.keep_within_limit(now);
    }

    /// Over the limit, the renditions listing the oldest segment drop it (all of them, so
    /// they keep listing the same numbers), until the stream is within the limit or every
    /// playlist is down to what it keeps anyway.
    fn keep_within_limit(&mut self, now: Duration) {
        let Some(limit) = self.limit else {
            return;
        };
        let listed = |renditions: &[Rendition]| -> u64 {
            renditions
                .iter()
                .filter(|r| r.live)
                .map(|r| r.packager.listed_bytes())
                .sum()
        };
        let mut trimmed = false;
        while listed(&self.renditions) > limit.max_bytes {
            let Some(oldest) = self
                .renditions()
                .map(|(_, r)| r.packager.media_sequence())
                .min()
            else {
                break;
            };
            let mut expired = false;
            for r in self.renditions.iter_mut().filter(|r| r.live) {
                if r.packager.media_sequence() == oldest {
                    expired |= r.packager.expire_oldest(limit.keep);
                }
            }
            if !expired {
                break;
            }
            trimmed = true;
        }
        if !trimmed {
            return;
        }
        if !std::mem::replace(&mut self.limited, true) {
            let listed_s = self
                .renditions()
                .map(|(_, r)| r.packager.listed_duration())
                .max()
                .unwrap_or_default();
            tracing::warn!(
                max_bytes = limit.max_bytes,
                listed_s = listed_s.as_secs(),
                "DVR window shortened to keep the stream's memory within its limit"
            );
        }
        for r in self.renditions.iter_mut().filter(|r| r.live) {
            r.drain(now, self.vod.as_ref());
        }
    }

    /// Records this publication (`tag`) of stream `app/name` with `writer`: what its
    /// renditions make from now on is written, and [`finish_vod`](Self::finish_vod) completes
    /// it. A recording of a former publication still open is completed first.
    pub(crate) fn start_vod(&mut self, writer: &VodWriter, app: &str, name: &str, tag: &str) {
        self.finish_vod();
        for r in &mut self.renditions {
            r.packager.restart_archive();
        }
        self.vod = Some((writer.clone(), writer.begin(app, name, tag)));
    }

    /// Completes the recording of the publication: a VOD playlist for every rendition it
    /// fed, and a master of those still served (a shed rendition's playlist is written, not
    /// listed). A recording without segments, or whose listing outgrew its limit, is deleted.
    pub(crate) fn finish_vod(&mut self) {
        let Some((writer, recording)) = self.vod.take() else {
            return;
        };
        let mut files = Vec::new();
        let mut variants = Vec::new();
        for r in self.renditions.iter_mut().filter(|r| r.recorded) {
            r.recorded = false;
            match r.packager.archive_playlist() {
                Ok(Some(text)) => {
                    files.push((r.playlist.clone(), Bytes::from(text)));
                    if r.live {
                        variants.push(Variant {
                            uri: r.playlist.clone(),
                            info: r.packager.variant_info(),
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    writer.abandon(&recording, &e.to_string());
                    return;
                }
            }
            r.packager.restart_archive();
        }
        if !variants.is_empty() {
            files.push((
                "master.m3u8".to_owned(),
                Bytes::from(master_playlist(&variants)),
            ));
        }
        writer.finish(&recording, files);
    }

    /// Counts every rendition's output into `stream`'s series from now on (renditions made
    /// later too, from their first drain).
    pub(crate) fn attach_metrics(&mut self, stream: StreamHandle, viewer_window: Duration) {
        for r in &mut self.renditions {
            r.meter.detach();
        }
        self.metrics = Some((stream, viewer_window));
    }

    /// Stops counting: the publication's series are gone.
    pub(crate) fn detach_metrics(&mut self) {
        self.metrics = None;
        for r in &mut self.renditions {
            r.meter.detach();
        }
    }

    /// Parks a request until rendition `index` publishes `msn` (and `part`): the receiver
    /// completes then, or when the stream ends (it fails if the rendition is gone). `None`
    /// when that is published already.
    pub(crate) fn park(
        &mut self,
        index: RenditionIndex,
        msn: u64,
        part: Option<u32>,
    ) -> Option<(WaitKey, oneshot::Receiver<()>)> {
        let rendition = self.rendition_mut(index)?;
        let (woken, wake) = oneshot::channel();
        match rendition
            .waiters
            .wait(&rendition.packager, msn, part, woken)
        {
            ReloadWait::Ready(_) => None,
            ReloadWait::Parked(key) => Some((key, wake)),
        }
    }

    /// Takes back a parked request whose time ran out.
    pub(crate) fn cancel(&mut self, index: RenditionIndex, key: WaitKey) {
        if let Some(r) = self.renditions.get_mut(index) {
            r.waiters.cancel(key);
        }
    }

    /// Wakes every parked request: nothing more is coming (the publisher left).
    pub(crate) fn release_all(&mut self) {
        for rendition in &mut self.renditions {
            for woken in rendition.waiters.release_all() {
                let _ = woken.send(());
            }
        }
        self.settle();
    }

    /// Whether the renditions of this publication are all announced.
    pub(crate) fn settled(&self) -> bool {
        self.settled
    }

    /// A new publication: its renditions are to be announced.
    pub(crate) fn unsettle(&mut self) {
        self.settled = false;
    }

    /// Every rendition of this publication is announced: requests waiting for that go on.
    pub(crate) fn settle(&mut self) {
        self.settled = true;
        for woken in self.awaiting.drain(..) {
            let _ = woken.send(());
        }
    }

    /// A receiver that completes once the renditions are settled (or the stream ends).
    pub(crate) fn await_settled(&mut self) -> oneshot::Receiver<()> {
        self.awaiting.retain(|w| !w.is_closed());
        let (woken, wake) = oneshot::channel();
        self.awaiting.push(woken);
        wake
    }
}

/// The playlist of a stream without a ladder.
pub(crate) const INDEX: &str = "index.m3u8";

/// When the publisher's recent video frames arrived, by presentation time: what a segment's
/// listing is measured against.
#[derive(Default)]
pub(crate) struct Arrivals {
    /// (presentation time, 90 kHz; arrival), oldest first.
    recent: VecDeque<(i64, Instant)>,
}

impl Arrivals {
    /// About 30 s of video at 60 fps: longer than any segment a stream is listed with.
    const KEEP: usize = 2048;

    pub(crate) fn record(&mut self, pts: MediaTime, at: Instant) {
        if self.recent.len() == Self::KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back((pts.rescale(CLOCK), at));
    }

    /// When the last frame before `end` arrived: the latest arrival of a frame presented
    /// before it.
    fn last_before(&self, end: MediaTime) -> Option<Instant> {
        let end = end.rescale(CLOCK);
        self.recent
            .iter()
            .filter(|(pts, _)| *pts < end)
            .map(|(_, at)| *at)
            .max()
    }

    pub(crate) fn clear(&mut self) {
        self.recent.clear();
    }
}

const CLOCK: u32 = 90_000;

/// How promptly a rendition's segments were listed: from the arrival of a segment's last
/// frame to the playlist that lists it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ListingStats {
    /// Segments listed (and measured).
    pub segments: u64,
    /// Of which more than [`LATE`](ListingStats::LATE) after their last frame arrived.
    pub late: u64,
    /// The longest wait.
    pub max_delay: Duration,
    /// The sum of the waits (with `segments`, the mean).
    pub total_delay: Duration,
}

impl ListingStats {
    /// A segment listed later than this after its last frame arrived counts as late.
    pub const LATE: Duration = Duration::from_secs(1);

    fn record(&mut self, delay: Duration) {
        self.segments += 1;
        if delay > Self::LATE {
            self.late += 1;
        }
        self.max_delay = self.max_delay.max(delay);
        self.total_delay += delay;
    }
}

/// One rendition: its packager, and the files it made, served as the packager's buffers.
pub(crate) struct Rendition {
    /// Name of its media playlist, as the master playlist lists it.
    pub(crate) playlist: String,
    pub(crate) packager: Packager,
    store: MemoryStore,
    retention: Retention,
    waiters: ReloadWaiters<oneshot::Sender<()>>,
    /// Served (not shed, not left behind by a new life of the stream).
    live: bool,
    /// The media sequence number of its first segment.
    first_sequence: u64,
    /// `EXT-X-RENDITION-REPORT`s of its siblings, as of its last playlist.
    reports: Vec<RenditionReport>,
    /// The newest segment whose listing was measured.
    measured: Option<u64>,
    pub(crate) listing: ListingStats,
    /// The stream's life that feeds it.
    life: u64,
    /// Media came since it was last closed.
    fed: bool,
    /// Its files went to the publication's VOD recording.
    recorded: bool,
    meter: RenditionMeter,
}

impl Rendition {
    pub(crate) fn new(playlist: String, packager: Packager, grace: Grace) -> Self {
        let first_sequence = packager.next_sequence();
        Self {
            playlist,
            packager,
            store: MemoryStore::default(),
            retention: Retention::new(grace),
            waiters: ReloadWaiters::default(),
            live: true,
            first_sequence,
            reports: Vec::new(),
            measured: None,
            listing: ListingStats::default(),
            life: 0,
            fed: false,
            recorded: false,
            meter: RenditionMeter::default(),
        }
    }

    /// The packager's totals: (segments, parts) published.
    fn published(&self) -> (u64, u64) {
        (
            self.packager.segments_published(),
            self.packager.parts_published(),
        )
    }

    /// Fed by publication `life` from now on: a rendition a former life fed is closed first,
    /// so the new media follows a discontinuity.
    pub(crate) fn begin_life(&mut self, life: u64) {
        if self.life != life {
            self.close();
            self.life = life;
            self.packager.restart_archive();
        }
    }

    /// Announces a track (or its new configuration) to the packager.
    pub(crate) fn add_track(&mut self, track: TrackInfo) -> Result<(), PackagerError> {
        self.fed = true;
        self.packager.add_track(track)
    }

    /// Feeds a frame to the packager.
    pub(crate) fn push_frame(&mut self, frame: Frame) -> Result<(), PackagerError> {
        self.fed = true;
        self.packager.push_frame(frame)
    }

    /// Closes the open segment (players get the tail); what comes next follows a
    /// discontinuity.
    pub(crate) fn close(&mut self) {
        if std::mem::take(&mut self.fed) {
            if let Err(e) = self.packager.republish() {
                tracing::debug!(error = %e, playlist = %self.playlist, "closing a rendition");
            }
        }
    }

    /// The media sequence number of its first segment.
    pub(crate) fn first_sequence(&self) -> u64 {
        self.first_sequence
    }

    /// Measures the segments listed since the last call against when their last frames
    /// arrived (a segment whose frames are no longer remembered is not counted).
    fn count_listed(&mut self, arrivals: &Arrivals, now: Instant) {
        let Some((msn, end)) = self.packager.last_segment_end() else {
            return;
        };
        if self.measured.is_some_and(|m| m >= msn) {
            return;
        }
        self.measured = Some(msn);
        if let Some(arrived) = arrivals.last_before(end) {
            let delay = now.saturating_duration_since(arrived);
            self.listing.record(delay);
            self.meter.listed(delay);
        }
    }

    /// Moves the packager's output into the store (the playlist rendered once per change),
    /// and its segments into the publication's recording, if any; deletes the files whose
    /// grace period is over at `now`, and wakes the requests waiting for what was published.
    pub(crate) fn drain(&mut self, now: Duration, vod: Option<&(VodWriter, Arc<Recording>)>) {
        let request = PlaylistRequest {
            skip: false,
            rendition_reports: std::mem::take(&mut self.reports),
        };
        self.recorded |= vod.is_some();
        let prefix = self.packager.config().name_prefix.clone();
        let mut store = Recorded {
            memory: &mut self.store,
            vod,
            playlist: &self.playlist,
            prefix: &prefix,
        };
        let Ok(()) = drive_with(
            &mut self.packager,
            &mut store,
            &mut self.retention,
            &self.playlist,
            &request,
            now,
        );
        self.reports = request.rendition_reports;
        let totals = self.published();
        self.meter.drained(totals);
        while let Some(woken) = self.waiters.poll_ready(&self.packager) {
            let _ = woken.send(());
        }
    }

    /// Whether its playlist lists a whole segment, the first of which has media sequence
    /// number 0. Before that an LL-HLS playlist lists parts only, which players that ignore
    /// parts cannot start with, and its target duration is not final.
    pub(crate) fn ready(&self) -> bool {
        self.packager.is_published(self.first_sequence, None)
            && self.store.get(&self.playlist).is_some()
    }

    /// The media playlist as plain requests get it (rendered once per change).
    pub(crate) fn media_playlist(&self) -> Option<Bytes> {
        self.store.get(&self.playlist).cloned()
    }

    /// The media playlist for a request with `_HLS_skip`: a delta update (RFC 8216bis
    /// 6.2.5.1) when the playlist has parts, else the plain one.
    pub(crate) fn media_playlist_skip(&self) -> Option<Bytes> {
        if self.packager.config().part_duration.is_none() {
            return self.media_playlist();
        }
        let request = PlaylistRequest {
            skip: true,
            rendition_reports: self.reports.clone(),
        };
        Some(Bytes::from(self.packager.media_playlist(&request)))
    }

    /// A segment, part, init segment or key (never the playlist: that has its own route).
    pub(crate) fn file(&self, name: &str) -> Option<Bytes> {
        if name == self.playlist {
            return None;
        }
        self.store.get(name).cloned()
    }

    /// The media sequence number and part `name` stands for, if this rendition is about to
    /// publish it: not yet published, in the open segment or the next one, and not aged out.
    pub(crate) fn upcoming(&self, name: &str) -> Option<(u64, Option<u32>)> {
        let prefix = &self.packager.config().name_prefix;
        let (msn, part) = parse_media_name(name, prefix)?;
        let last = self.packager.last_published().map_or(0, |(m, _)| m);
        (!self.packager.is_published(msn, part)
            && msn <= last + 1
            && self.packager.media_sequence() <= msn)
            .then_some((msn, part))
    }
}

/// A rendition's store: its files in memory, and its segments and init segments (not its
/// parts or live playlist) to the VOD recording as well. Files leave memory only.
struct Recorded<'a> {
    memory: &'a mut MemoryStore,
    vod: Option<&'a (VodWriter, Arc<Recording>)>,
    playlist: &'a str,
    prefix: &'a str,
}

impl Store for Recorded<'_> {
    type Error = std::convert::Infallible;

    fn put(&mut self, name: &str, data: Bytes) -> Result<(), Self::Error> {
        if let Some((writer, recording)) = self.vod {
            let part = parse_media_name(name, self.prefix).is_some_and(|(_, part)| part.is_some());
            if name != self.playlist && !part {
                writer.put(recording, name, data.clone());
            }
        }
        self.memory.put(name, data)
    }

    fn remove(&mut self, name: &str) -> Result<(), Self::Error> {
        self.memory.remove(name)
    }
}
