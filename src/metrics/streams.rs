//! Series per live stream: made when its first handle is taken, removed with the last one,
//! so the number of label sets follows the number of live streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::api::{RenditionInfo, StreamInfo};
use super::lock;
use crate::hls::INDEX_PLAYLIST as INDEX;

/// The labels of a per-stream series: `app`, `name` and, for a rendition's series,
/// `rendition` (its media playlist's name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesLabels {
    app: Arc<str>,
    name: Arc<str>,
    rendition: Option<Arc<str>>,
}

impl EncodeLabelSet for SeriesLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        ("app", &*self.app).encode(encoder.encode_label())?;
        ("name", &*self.name).encode(encoder.encode_label())?;
        if let Some(r) = &self.rendition {
            ("rendition", &**r).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// A family of series labelled by stream, made by
/// [`Metrics::stream_family`](super::Metrics::stream_family); take a stream's series with
/// [`StreamHandle::series`]. Cheap to clone.
#[derive(Debug)]
pub struct StreamFamily<M> {
    pub(super) family: Family<SeriesLabels, M>,
}

impl<M> Clone for StreamFamily<M> {
    fn clone(&self) -> Self {
        Self {
            family: self.family.clone(),
        }
    }
}

impl<M: Default> Default for StreamFamily<M> {
    fn default() -> Self {
        Self {
            family: Family::default(),
        }
    }
}

/// The series every live stream has.
#[derive(Debug, Clone)]
struct BuiltIn {
    ingest_bytes: StreamFamily<Counter>,
    ingest_bitrate: StreamFamily<Gauge>,
    rtmp_players: StreamFamily<Gauge>,
    segments: StreamFamily<Counter>,
    parts: StreamFamily<Counter>,
    latency: Histogram,
}

/// What was counted of one live stream.
pub(crate) struct StreamStats {
    labels: SeriesLabels,
    since: SystemTime,
    ingest_bytes: Counter,
    ingest_bitrate: Gauge,
    rtmp_players: Gauge,
    renditions: Mutex<Vec<Arc<RenditionStats>>>,
    /// Removes the stream's series from their families, when it ends.
    cleanups: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl StreamStats {
    fn labels(&self, rendition: Option<&str>) -> SeriesLabels {
        SeriesLabels {
            rendition: rendition.map(Arc::from),
            ..self.labels.clone()
        }
    }

    fn series<M>(&self, family: &StreamFamily<M>, rendition: Option<&str>) -> M
    where
        M: Default + Clone + Send + Sync + 'static,
    {
        let labels = self.labels(rendition);
        let metric = family.family.get_or_create_owned(&labels);
        let family = family.family.clone();
        lock(&self.cleanups).push(Box::new(move || {
            family.remove(&labels);
        }));
        metric
    }
}

/// What was counted of one rendition of a live stream.
pub(crate) struct RenditionStats {
    playlist: Arc<str>,
    pub(super) segments: Counter,
    parts: Counter,
    latency: Histogram,
    pub(super) viewers: Mutex<Viewers>,
}

impl RenditionStats {
    fn info(&self, now: Instant) -> RenditionInfo {
        RenditionInfo {
            playlist: self.playlist.to_string(),
            viewers: lock(&self.viewers).count(now) as u64,
            segments: self.segments.get(),
            parts: self.parts.get(),
        }
    }
}

/// HTTP connections that fetched a media playlist lately.
pub(super) struct Viewers {
    window: Duration,
    seen: HashMap<u64, Instant>,
    pruned: Option<Instant>,
}

impl Viewers {
    fn touch(&mut self, connection: u64, now: Instant) {
        self.seen.insert(connection, now);
        if self
            .pruned
            .is_none_or(|t| now.saturating_duration_since(t) >= self.window)
        {
            self.prune(now);
        }
    }

    fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.seen
            .retain(|_, t| now.saturating_duration_since(*t) < window);
        self.pruned = Some(now);
    }

    pub(super) fn count(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.seen.len()
    }
}

struct Entry {
    stats: Arc<StreamStats>,
    holders: usize,
}

/// The live streams' stats by app, then name (looked up with the `&str`s of a request).
pub(crate) struct StreamTable {
    entries: Mutex<HashMap<String, HashMap<String, Entry>>>,
    builtin: BuiltIn,
}

impl StreamTable {
    pub(super) fn new(registry: &mut Registry, latency: Histogram) -> Self {
        let builtin = BuiltIn {
            ingest_bytes: StreamFamily::default(),
            ingest_bitrate: StreamFamily::default(),
            rtmp_players: StreamFamily::default(),
            segments: StreamFamily::default(),
            parts: StreamFamily::default(),
            latency,
        };
        registry.register(
            "onair_stream_ingest_bytes",
            "Media bytes received from the stream's publisher",
            builtin.ingest_bytes.family.clone(),
        );
        registry.register(
            "onair_stream_ingest_bits_per_second",
            "Media bit rate received from the stream's publisher, over about the last second",
            builtin.ingest_bitrate.family.clone(),
        );
        registry.register(
            "onair_stream_rtmp_players",
            "RTMP players of the stream",
            builtin.rtmp_players.family.clone(),
        );
        registry.register(
            "onair_hls_segments",
            "HLS segments published",
            builtin.segments.family.clone(),
        );
        registry.register(
            "onair_hls_parts",
            "LL-HLS partial segments published",
            builtin.parts.family.clone(),
        );
        Self {
            entries: Mutex::new(HashMap::new()),
            builtin,
        }
    }

    pub(super) fn len(&self) -> usize {
        lock(&self.entries).values().map(HashMap::len).sum()
    }

    pub(super) fn handle(self: &Arc<Self>, app: &str, name: &str) -> StreamHandle {
        let mut entries = lock(&self.entries);
        let names = entries.entry(app.to_owned()).or_default();
        if let Some(entry) = names.get_mut(name) {
            entry.holders += 1;
            return StreamHandle {
                stats: entry.stats.clone(),
                table: self.clone(),
            };
        }
        let mut stats = StreamStats {
            labels: SeriesLabels {
                app: Arc::from(app),
                name: Arc::from(name),
                rendition: None,
            },
            since: SystemTime::now(),
            ingest_bytes: Counter::default(),
            ingest_bitrate: Gauge::default(),
            rtmp_players: Gauge::default(),
            renditions: Mutex::new(Vec::new()),
            cleanups: Mutex::new(Vec::new()),
        };
        stats.ingest_bytes = stats.series(&self.builtin.ingest_bytes, None);
        stats.ingest_bitrate = stats.series(&self.builtin.ingest_bitrate, None);
        stats.rtmp_players = stats.series(&self.builtin.rtmp_players, None);
        let stats = Arc::new(stats);
        names.insert(
            name.to_owned(),
            Entry {
                stats: stats.clone(),
                holders: 1,
            },
        );
        StreamHandle {
            stats,
            table: self.clone(),
        }
    }

    fn release(&self, stats: &StreamStats) {
        let mut entries = lock(&self.entries);
        let (app, name) = (&*stats.labels.app, &*stats.labels.name);
        let Some(names) = entries.get_mut(app) else {
            return;
        };
        let Some(entry) = names.get_mut(name) else {
            return;
        };
        entry.holders = entry.holders.saturating_sub(1);
        if entry.holders > 0 {
            return;
        }
        if let Some(entry) = names.remove(name) {
            // Under the table lock: a new handle of the name must not get series that are
            // about to be removed.
            for cleanup in lock(&entry.stats.cleanups).drain(..) {
                cleanup();
            }
        }
        if names.is_empty() {
            entries.remove(app);
        }
    }

    fn get(&self, app: &str, name: &str) -> Option<Arc<StreamStats>> {
        let entries = lock(&self.entries);
        Some(entries.get(app)?.get(name)?.stats.clone())
    }

    pub(super) fn viewer(
        &self,
        app: &str,
        name: &str,
        playlist: &str,
        connection: u64,
        now: Instant,
    ) {
        let Some(stats) = self.get(app, name) else {
            return;
        };
        let renditions = lock(&stats.renditions);
        // `index.m3u8` names the first rendition when none has that name (a ladder's)
        let r = renditions
            .iter()
            .find(|r| &*r.playlist == playlist)
            .or_else(|| renditions.first().filter(|_| playlist == INDEX));
        if let Some(r) = r {
            lock(&r.viewers).touch(connection, now);
        }
    }

    pub(super) fn infos(&self) -> Vec<StreamInfo> {
        let now = Instant::now();
        let entries = lock(&self.entries);
        let mut infos: Vec<StreamInfo> = entries
            .values()
            .flat_map(HashMap::values)
            .map(|e| {
                let s = &e.stats;
                StreamInfo {
                    app: s.labels.app.to_string(),
                    name: s.labels.name.to_string(),
                    since_unix_ms: s
                        .since
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    ingest_bytes: s.ingest_bytes.get(),
                    ingest_bits_per_second: u64::try_from(s.ingest_bitrate.get()).unwrap_or(0),
                    rtmp_players: u64::try_from(s.rtmp_players.get()).unwrap_or(0),
                    hls: lock(&s.renditions).iter().map(|r| r.info(now)).collect(),
                }
            })
            .collect();
        infos.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        infos
    }
}

/// A live stream's place in the [`Metrics`](super::Metrics): its series exist while a handle
/// does. Take it once when the stream starts and keep the series it hands out; nothing is
/// looked up per packet.
pub struct StreamHandle {
    stats: Arc<StreamStats>,
    table: Arc<StreamTable>,
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle")
            .field("labels", &self.stats.labels)
            .finish_non_exhaustive()
    }
}

impl Clone for StreamHandle {
    fn clone(&self) -> Self {
        let mut entries = lock(&self.table.entries);
        if let Some(entry) = entries
            .get_mut(&*self.stats.labels.app)
            .and_then(|names| names.get_mut(&*self.stats.labels.name))
        {
            entry.holders += 1;
        }
        Self {
            stats: self.stats.clone(),
            table: self.table.clone(),
        }
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.table.release(&self.stats);
    }
}

impl StreamHandle {
    /// This stream's series in `family` (labelled `rendition` too when given), removed from
    /// the family when the stream ends.
    pub fn series<M>(&self, family: &StreamFamily<M>, rendition: Option<&str>) -> M
    where
        M: Default + Clone + Send + Sync + 'static,
    {
        self.stats.series(family, rendition)
    }

    /// The stream's RTMP player count, set by the registry as players come and go.
    pub(crate) fn rtmp_players(&self) -> Gauge {
        self.stats.rtmp_players.clone()
    }

    /// The stats of the rendition whose media playlist is `playlist`; viewers are the HTTP
    /// connections that fetched it within `viewer_window`.
    pub(crate) fn rendition(&self, playlist: &str, viewer_window: Duration) -> Arc<RenditionStats> {
        let mut renditions = lock(&self.stats.renditions);
        if let Some(r) = renditions.iter().find(|r| &*r.playlist == playlist) {
            return r.clone();
        }
        let builtin = &self.table.builtin;
        let r = Arc::new(RenditionStats {
            playlist: Arc::from(playlist),
            segments: self.stats.series(&builtin.segments, Some(playlist)),
            parts: self.stats.series(&builtin.parts, Some(playlist)),
            latency: builtin.latency.clone(),
            viewers: Mutex::new(Viewers {
                window: viewer_window,
                seen: HashMap::new(),
                pruned: None,
            }),
        });
        renditions.push(r.clone());
        r
    }
}

/// Counts a publisher's media: bytes, and the bit rate over windows of about a second.
pub(crate) struct IngestMeter {
    bytes: Counter,
    bitrate: Gauge,
    window_start: Instant,
    window_bytes: u64,
}

const INGEST_WINDOW: Duration = Duration::from_secs(1);

impl IngestMeter {
    pub(crate) fn new(stream: &StreamHandle, now: Instant) -> Self {
        Self {
            bytes: stream.stats.ingest_bytes.clone(),
            bitrate: stream.stats.ingest_bitrate.clone(),
            window_start: now,
            window_bytes: 0,
        }
    }

    pub(crate) fn record(&mut self, bytes: usize, now: Instant) {
        let bytes = bytes as u64;
        self.bytes.inc_by(bytes);
        self.window_bytes += bytes;
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= INGEST_WINDOW {
            let bps = self.window_bytes as f64 * 8.0 / elapsed.as_secs_f64();
            self.bitrate.set(bps as i64);
            self.window_start = now;
            self.window_bytes = 0;
        }
    }
}

/// What a rendition's packaging reports: segments and parts published, and how late each
/// segment was listed after its last frame arrived.
#[derive(Default)]
pub(crate) struct RenditionMeter {
    stats: Option<Arc<RenditionStats>>,
    /// The packager's (segments, parts) totals when last seen.
    seen: (u64, u64),
}

impl RenditionMeter {
    /// Counts into `stats` from now on; `published` are the packager's totals now.
    pub(crate) fn attach(&mut self, stats: Arc<RenditionStats>, published: (u64, u64)) {
        self.stats = Some(stats);
        self.seen = published;
    }

    pub(crate) fn detach(&mut self) {
        self.stats = None;
    }

    pub(crate) fn is_attached(&self) -> bool {
        self.stats.is_some()
    }

    /// The packager was drained; `published` are its totals now.
    pub(crate) fn drained(&mut self, published: (u64, u64)) {
        let segments = published.0.saturating_sub(self.seen.0);
        let parts = published.1.saturating_sub(self.seen.1);
        self.seen = published;
        if let Some(stats) = &self.stats {
            stats.segments.inc_by(segments);
            stats.parts.inc_by(parts);
        }
    }

    /// A segment was listed `delay` after its last frame arrived.
    pub(crate) fn listed(&self, delay: Duration) {
        if let Some(stats) = &self.stats {
            stats.latency.observe(delay.as_secs_f64());
        }
    }
}

/// `onair_hls_viewers`, counted when scraped (viewers leave without telling).
#[derive(Debug)]
pub(crate) struct ViewerCollector(pub(crate) Arc<StreamTable>);

impl std::fmt::Debug for StreamTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTable")
            .field("streams", &self.len())
            .finish_non_exhaustive()
    }
}

impl Collector for ViewerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let now = Instant::now();
        let entries = lock(&self.0.entries);
        let mut family = encoder.encode_descriptor(
            "onair_hls_viewers",
            "HTTP connections that fetched the rendition's media playlist lately",
            None,
            MetricType::Gauge,
        )?;
        for entry in entries.values().flat_map(HashMap::values) {
            for r in lock(&entry.stats.renditions).iter() {
                let labels = entry.stats.labels(Some(&*r.playlist));
                let count = lock(&r.viewers).count(now) as i64;
                ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
