//! The live HLS origin: every stream published over RTMP is packaged into HLS as it arrives
//! (MPEG-TS or fMP4 segments, optionally Low-Latency HLS parts) and served over HTTP(S) with
//! the cache rules CDNs need.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use onair::hls::{HlsConfig, HlsOrigin, HttpOrigin};
//! use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};
//!
//! let origin = HlsOrigin::new(HlsConfig::default()).map_err(std::io::Error::other)?;
//! let rtmp = RtmpServer::bind("127.0.0.1:1935", RtmpServerConfig::default(), AcceptAll)
//!     .await?
//!     .with_tap(Arc::new(origin.clone()));
//! let http = HttpOrigin::bind("127.0.0.1:8080", origin).await?;
//! // publish rtmp://127.0.0.1:1935/live/KEY, play http://127.0.0.1:8080/live/KEY/index.m3u8
//! tokio::spawn(http.run_until(onair::rtmp::shutdown_signal()));
//! rtmp.run_until(onair::rtmp::shutdown_signal()).await
//! # }
//! ```
//!
//! Data path: the publisher's connection task hands each FLV tag body to the stream's
//! [`TapSink`]; the sink demuxes it ([`MediaDemuxer`]) and feeds the stream's [`Packager`]
//! under a short lock; files land in the stream's [`MemoryStore`], leave it by the RFC 8216
//! 6.2.2 grace rule ([`Retention`] with [`Grace::Playlist`]), and the HTTP requests parked
//! until they exist (LL-HLS blocking playlist reload and preload hints, [`ReloadWaiters`])
//! are woken. A segment is served as the same reference-counted buffer the packager
//! produced: no copy per request.
//!
//! With a DVR window ([`HlsConfig::dvr`]) the live playlist lists a duration of media instead
//! of a count of segments, and what left it stays served for the window's duration again (RFC
//! 8216 6.2.2); [`HlsConfig::dvr_max_bytes`] bounds what a stream's playlists list in memory.
//! With [`HlsConfig::vod`], each publication is also recorded on disk as VOD HLS: its
//! segments are handed to a writer thread as they are made (the publisher never waits on the
//! disk: a recording that falls too far behind is dropped, not the live stream), and when the
//! publisher leaves, each rendition's playlist of the whole publication and a master are
//! written. Otherwise nothing is written to disk.
//!
//! Playback URLs can be signed ([`PlaybackSigning`], [`HttpOriginConfig::signing`]): one
//! token per stream and expiry window, in the path so that every relative URI of the
//! playlists carries it, verifiable by CDN edges as well; an [`HttpObserver`] is told of every
//! request answered.
//!
//! Time comes from a [`Clock`] ([`SystemClock`] unless [`HlsOrigin::with_clock`] says
//! otherwise).
//!
//! With [`HlsConfig::ladder`] (the `transcode` feature), or a ladder of its own that its
//! publisher's handler set ([`StreamOptions`](crate::rtmp::StreamOptions)), each stream with
//! video is transcoded into renditions whose keyframes sit at the same presentation times, all packaged with the
//! same segment numbers and listed in `master.m3u8` (`source.m3u8`, `720p.m3u8`, ...;
//! `index.m3u8` names the first). The ladder runs on a thread per stream behind a queue the
//! publisher never waits on; it sheds its costliest rendition when it falls behind, and a new
//! stream's ladder is shortened to fit the CPU budget (see [`LadderConfig`]).
//!
//! Stream lifetime (as nginx-rtmp's `hls_continuous`): when the publisher leaves, the open
//! segment is closed and the playlist stays, without `EXT-X-ENDLIST`; a new publisher of the
//! name continues it after an `EXT-X-DISCONTINUITY`. A stream nobody republishes within
//! [`HlsConfig::linger`] is removed (its URLs answer 404).
//!
//! [`MemoryStore`]: onair_hls_packager::MemoryStore
//! [`Retention`]: onair_hls_packager::Retention
//! [`ReloadWaiters`]: onair_hls_packager::ReloadWaiters

mod clock;
mod http;
#[cfg(feature = "transcode")]
mod ladder;
#[cfg(feature = "transcode")]
mod ladder_series;
mod signing;
mod stream;
mod vod;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use onair_amf::amf0::Amf0Value;
use onair_flv::{MediaDemuxer, MediaEvent};
use onair_hls_packager::{
    Grace, Packager, PackagerConfig, PlaylistKind, SegmentFormat, VariantInfo,
};
use onair_media_types::{MediaKind, TrackInfo};
use tracing::{debug, info, warn};

use crate::metrics::{Metrics, StreamHandle};
#[cfg(feature = "transcode")]
use crate::rtmp::StreamLadder;
use crate::rtmp::{PublishedStream, StreamTap, TapMedia, TapSink};
/// The media playlist of a stream without a ladder (also the first rendition's with one).
pub(crate) use stream::INDEX as INDEX_PLAYLIST;
use stream::{lock, ListedLimit, LiveHls, Rendition, RenditionIndex, StreamState, Streams, INDEX};

pub use crate::tls::TlsError;
pub use clock::{Clock, SystemClock};
pub use http::{HttpObserver, HttpOrigin, HttpOriginConfig, ServedRequest};
#[cfg(feature = "transcode")]
pub use ladder::{LadderConfig, LadderReport};
pub use onair_hls_packager::SegmentFormat as HlsSegmentFormat;
pub use onair_hls_packager::{SignError, TokenError};
pub use signing::PlaybackSigning;
pub use stream::ListingStats;
pub use vod::VodConfig;

/// How published streams are packaged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HlsConfig {
    /// Segment container.
    pub format: SegmentFormat,
    /// Target segment duration. Segments are cut at the first keyframe at or after each
    /// multiple of it, so a GOP longer than this makes longer segments.
    pub segment_duration: Duration,
    /// Low-Latency HLS partial segment duration (`Some` turns LL-HLS on; fMP4 only).
    pub part_duration: Option<Duration>,
    /// Segments listed in the live playlist; with a [`dvr`](Self::dvr) window, the fewest
    /// it keeps when [`dvr_max_bytes`](Self::dvr_max_bytes) shortens it.
    pub window: usize,
    /// A DVR window: the live playlist lists up to this much media (however long a GOP
    /// makes the segments) instead of `window` segments, so players can seek back that far.
    /// A segment that left it is served for as long again (RFC 8216 6.2.2), so a stream holds
    /// about twice the window in memory: 60 s at 6 Mbit/s lists 45 MB per rendition, and
    /// holds up to 90 MB with the segments in their grace period.
    pub dvr: Option<Duration>,
    /// Most bytes of segments the playlists of a stream's renditions list together with a
    /// DVR window: past it, the oldest segments leave early (down to `window` segments), so
    /// a stream holds at most about twice this (its grace period).
    pub dvr_max_bytes: u64,
    /// Record every publication as VOD on disk (`None`: nothing is written).
    pub vod: Option<VodConfig>,
    /// How long a stream's playlist and segments stay after its publisher left, waiting for a
    /// new publisher of the name.
    pub linger: Duration,
    /// Most streams packaged at once; publishers beyond it are not packaged (they still play
    /// over RTMP).
    pub max_streams: usize,
    /// Frames held back at the start of a stream until every track it announced (by metadata)
    /// has shown its configuration, so that the first segment lists them all.
    pub max_held_frames: usize,
    /// Transcode every published stream with video into a ladder of renditions (`None`:
    /// package each stream as published). A stream's own ladder
    /// ([`StreamOptions::ladder`](crate::rtmp::StreamOptions::ladder), from its publisher's
    /// handler) takes the place of these rungs, with these settings.
    #[cfg(feature = "transcode")]
    pub ladder: Option<LadderConfig>,
    /// The settings (encoder, hardware, lag, CPU budget) of a stream's own ladder while
    /// `ladder` is `None`; their rungs are not used. `None`: [`LadderConfig::new`]'s.
    #[cfg(feature = "transcode")]
    pub ladder_settings: Option<LadderConfig>,
}

impl Default for HlsConfig {
    /// MPEG-TS, 2 s segments, a window of 6 (no DVR, at most 512 MiB listed with one), no
    /// VOD recording, 30 s linger.
    fn default() -> Self {
        Self {
            format: SegmentFormat::Ts,
            segment_duration: Duration::from_secs(2),
            part_duration: None,
            window: 6,
            dvr: None,
            dvr_max_bytes: 512 << 20,
            vod: None,
            linger: Duration::from_secs(30),
            max_streams: 256,
            max_held_frames: 120,
            #[cfg(feature = "transcode")]
            ladder: None,
            #[cfg(feature = "transcode")]
            ladder_settings: None,
        }
    }
}

impl HlsConfig {
    /// Low-Latency HLS: fMP4, 1 s segments, parts of about a third of a second, a window of 6.
    pub fn low_latency() -> Self {
        Self {
            format: SegmentFormat::Fmp4,
            segment_duration: Duration::from_secs(1),
            part_duration: Some(Duration::from_millis(334)),
            ..Self::default()
        }
    }

    fn packager_config(&self, name_prefix: String) -> PackagerConfig {
        PackagerConfig {
            format: self.format,
            target_duration: self.segment_duration,
            part_duration: self.part_duration,
            kind: match self.dvr {
                Some(duration) => PlaylistKind::Dvr { duration },
                None => PlaylistKind::Live {
                    window: self.window,
                },
            },
            name_prefix,
            archive_limit: self.vod.as_ref().map_or(0, |vod| {
                // segments are cut at target multiples: shorter ones only at breaks
                let per_target =
                    vod.max_duration.as_secs_f64() / self.segment_duration.as_secs_f64();
                (per_target.ceil() as usize).saturating_add(64)
            }),
            ..PackagerConfig::default()
        }
    }

    /// How long a file stays served after it left the playlist (RFC 8216 6.2.2).
    pub(crate) fn grace(&self) -> Grace {
        match self.dvr {
            Some(listed) => Grace::Listed { listed },
            None => Grace::Playlist {
                window: self.window,
            },
        }
    }

    /// What a stream's DVR windows may list together.
    fn listed_limit(&self) -> Option<ListedLimit> {
        self.dvr.map(|_| ListedLimit {
            max_bytes: self.dvr_max_bytes,
            keep: self.window.max(1),
        })
    }
}

/// A stream's name on the origin: `(app, name)`.
pub type StreamId = (String, String);

/// The live HLS packager of every published stream, shared by the RTMP server (as a
/// [`StreamTap`]) and the [`HttpOrigin`] that serves it. Cheap to clone.
#[derive(Clone)]
pub struct HlsOrigin {
    inner: Arc<OriginInner>,
}

impl std::fmt::Debug for HlsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlsOrigin")
            .field("config", &self.inner.config)
            .field("clock", &self.inner.clock)
            .field("streams", &lock(&self.inner.streams).len())
            .finish()
    }
}

struct OriginInner {
    config: HlsConfig,
    clock: Arc<dyn Clock>,
    /// The origin of the times handed to the packagers' retention.
    started: Instant,
    streams: Mutex<Streams>,
    /// When streams were last checked for removal (`sweep` runs at most every 250 ms).
    swept: Mutex<Option<Instant>>,
    /// The process's CPU, for admitting ladders.
    #[cfg(feature = "transcode")]
    cpu: ladder::CpuMeter,
    metrics: Metrics,
    /// Where VOD recordings are written (with [`HlsConfig::vod`]).
    vod: Option<vod::WriterHandle>,
}

/// Why an [`HlsOrigin`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HlsConfigError {
    /// The packaging configuration contradicts itself.
    #[error("invalid HLS configuration: {0}")]
    Packaging(#[from] onair_hls_packager::Error),
    /// The VOD writer thread could not start.
    #[error("cannot start the VOD writer: {0}")]
    VodWriter(#[source] std::io::Error),
}

impl HlsOrigin {
    /// An origin packaging with `config` (checked here, so publishing cannot fail on it), on
    /// the system's clocks.
    pub fn new(config: HlsConfig) -> Result<Self, HlsConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An origin packaging with `config` and reading the time from `clock`.
    pub fn with_clock(config: HlsConfig, clock: Arc<dyn Clock>) -> Result<Self, HlsConfigError> {
        Packager::new(config.packager_config(String::new()))?;
        let vod = match &config.vod {
            Some(vod) => Some(vod::WriterHandle(
                vod::VodWriter::start(vod).map_err(HlsConfigError::VodWriter)?,
            )),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(OriginInner {
                config,
                started: clock.now(),
                clock,
                streams: Mutex::new(Streams::default()),
                swept: Mutex::new(None),
                #[cfg(feature = "transcode")]
                cpu: ladder::CpuMeter::new(),
                metrics: Metrics::new(),
                vod,
            }),
        })
    }

    /// Counts into `metrics` (segments, parts, segment listing delay, viewers, what the
    /// ladders shed and dropped; and the answers of the [`HttpOrigin`]s serving it) instead
    /// of a registry of its own. Call it once, before sharing the origin (with the RTMP
    /// server, an `HttpOrigin`): later it is ignored.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        let Some(inner) = Arc::get_mut(&mut self.inner) else {
            warn!("metrics given to an HLS origin already shared are ignored");
            return self;
        };
        inner.metrics = metrics.clone();
        #[cfg(feature = "transcode")]
        metrics.register_collector(Box::new(ladder_series::LadderCollector(Arc::downgrade(
            &self.inner,
        ))));
        self
    }

    /// Waits until the VOD recordings of the publications begun are written (a stream still
    /// published keeps this waiting: call it once the RTMP server stopped, before the process
    /// exits), or `timeout` passed; returns whether all were. Blocks the calling thread.
    pub fn flush_recordings(&self, timeout: Duration) -> bool {
        self.inner
            .vod
            .as_ref()
            .is_none_or(|handle| handle.0.flush(timeout))
    }

    /// The registry it counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// How recently an HTTP connection fetched a media playlist to count as a viewer: players
    /// reload about once per target duration, some skip a reload.
    fn viewer_window(&self) -> Duration {
        (self.inner.config.segment_duration * 3).max(Duration::from_secs(3))
    }

    /// The packaging configuration.
    pub fn config(&self) -> &HlsConfig {
        &self.inner.config
    }

    /// The streams served now (published, or lingering after their publisher left).
    pub fn streams(&self) -> Vec<StreamId> {
        self.sweep(true);
        let mut ids = lock(&self.inner.streams).ids();
        ids.sort();
        ids
    }

    /// Drops the streams whose publisher left more than `linger` ago; unless `force`d, at
    /// most every 250 ms (it runs on every HTTP request).
    fn sweep(&self, force: bool) {
        let now = self.inner.clock.now();
        {
            let mut swept = lock(&self.inner.swept);
            if !force && swept.is_some_and(|t| now.saturating_duration_since(t) < SWEEP_INTERVAL) {
                return;
            }
            *swept = Some(now);
        }
        let linger = self.inner.config.linger;
        lock(&self.inner.streams).retain(|app, name, stream| {
            let mut state = stream.lock();
            let keep = state
                .left_at
                .is_none_or(|t| now.saturating_duration_since(t) < linger);
            if !keep {
                info!(%app, %name, "HLS stream removed after its publisher left");
                state.release_all();
            }
            keep
        });
    }

    pub(crate) fn stream(&self, app: &str, name: &str) -> Option<Arc<LiveHls>> {
        self.sweep(false);
        lock(&self.inner.streams).get(app, name)
    }

    /// The time for retention: since the origin started, by its clock.
    pub(crate) fn elapsed(&self) -> Duration {
        self.inner
            .clock
            .now()
            .saturating_duration_since(self.inner.started)
    }

    /// Wall-clock time, by the origin's clock.
    pub(crate) fn wall_clock(&self) -> SystemTime {
        self.inner.clock.wall_clock()
    }

    pub(crate) fn unix_ms(&self) -> i64 {
        self.wall_clock()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// A new stream, unless the limit is reached.
    fn add_stream(&self, streams: &mut Streams, app: &str, name: &str) -> Option<Arc<LiveHls>> {
        let config = &self.inner.config;
        if streams.len() >= config.max_streams {
            warn!(%app, %name, max = config.max_streams, "too many HLS streams, not packaging this one");
            return None;
        }
        let stream = Arc::new(LiveHls::new(config.listed_limit()));
        streams.insert(app, name, stream.clone());
        Some(stream)
    }

    /// A packager for a new rendition (`None`: the stream as published). Segment names
    /// differ between renditions, between two lives of a name and between runs of the
    /// server, so a CDN never serves an old segment under a new name.
    pub(crate) fn packager(&self, rendition: Option<&str>) -> Option<Packager> {
        self.packager_named(rendition, &self.life_tag())
    }

    /// A tag for a new life of a stream: its start in Unix milliseconds, base 36.
    pub(crate) fn life_tag(&self) -> String {
        base36(self.unix_ms().unsigned_abs())
    }

    /// [`packager`](Self::packager) for a rendition of the life tagged `life`, so that all
    /// renditions of a ladder share the tag.
    pub(crate) fn packager_named(&self, rendition: Option<&str>, life: &str) -> Option<Packager> {
        let prefix = match rendition {
            Some(name) => format!("{name}-{life}-"),
            None => format!("{life}-"),
        };
        Packager::new(self.inner.config.packager_config(prefix))
            .map_err(|e| warn!(error = %e, "cannot package HLS"))
            .ok()
    }

    /// What a stream's renditions and ladder did: its publication's listing delays, shed
    /// rungs, dropped input. `None` for a stream the origin does not serve.
    pub fn stream_summary(&self, app: &str, name: &str) -> Option<StreamSummary> {
        let stream = lock(&self.inner.streams).get(app, name)?;
        let state = stream.lock();
        Some(StreamSummary {
            publishing: state.publishing,
            renditions: state
                .renditions()
                .map(|(_, r)| RenditionSummary {
                    playlist: r.playlist.clone(),
                    variant: r.packager.variant_info(),
                    listing: r.listing,
                })
                .collect(),
            #[cfg(feature = "transcode")]
            ladder: state.ladder.clone(),
        })
    }
}

/// What [`HlsOrigin::stream_summary`] tells of a stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// A publisher is on it now.
    pub publishing: bool,
    /// The renditions served, in the order they were made.
    pub renditions: Vec<RenditionSummary>,
    /// What its ladder did (with one).
    #[cfg(feature = "transcode")]
    pub ladder: Option<LadderReport>,
}

/// One rendition of a [`StreamSummary`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RenditionSummary {
    /// Its media playlist (`index.m3u8`, `720p.m3u8`).
    pub playlist: String,
    /// What the master playlist says of it.
    pub variant: VariantInfo,
    /// How promptly its segments were listed after their last frame arrived.
    pub listing: ListingStats,
}

const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

impl StreamTap for HlsOrigin {
    fn on_publish(&self, published: &PublishedStream) -> Option<Box<dyn TapSink>> {
        let (app, name) = (published.app.as_str(), &published.name);
        self.sweep(true);
        let stream = {
            let mut streams = lock(&self.inner.streams);
            match streams.get(app, name.as_str()) {
                Some(s) => s,
                None => self.add_stream(&mut streams, app, name.as_str())?,
            }
        };
        let metrics = self.inner.metrics.stream(app, name.as_str());
        let life = {
            let mut state = stream.lock();
            state.life += 1;
            state.publishing = true;
            state.left_at = None;
            state.arrivals.clear();
            state.unsettle();
            state.attach_metrics(metrics.clone(), self.viewer_window());
            #[cfg(feature = "transcode")]
            {
                state.ladder = None;
            }
            if let Some(writer) = &self.inner.vod {
                state.start_vod(&writer.0, app, name.as_str(), &self.life_tag());
            }
            state.life
        };
        info!(%app, %name, "HLS packaging started");
        Some(Box::new(HlsSink {
            origin: self.clone(),
            stream,
            _metrics: metrics,
            id: format!("{app}/{name}"),
            life,
            demuxer: MediaDemuxer::new(),
            held: Some(Vec::new()),
            route: Route::Holding,
            expected: None,
            seen: (false, false),
            max_held: self.inner.config.max_held_frames,
            errors: 0,
            frame_rate: None,
            video_kbps: None,
            #[cfg(feature = "transcode")]
            ladder: published.options.ladder.clone(),
        }))
    }
}

/// Feeds one publication into its stream: straight into the packager, or through a ladder.
struct HlsSink {
    origin: HlsOrigin,
    stream: Arc<LiveHls>,
    /// The stream's series live as long as its publication.
    _metrics: StreamHandle,
    /// `app/name`, for logs.
    id: String,
    /// The stream's life this publication is.
    life: u64,
    demuxer: MediaDemuxer,
    /// Events held until every expected track showed its configuration (`None`: flowing).
    held: Option<Vec<MediaEvent>>,
    route: Route,
    /// (video, audio) announced by the metadata, if it came first.
    expected: Option<(bool, bool)>,
    /// (video, audio) configurations seen.
    seen: (bool, bool),
    max_held: usize,
    errors: u64,
    /// `framerate` and `videodatarate` of the metadata, for admitting a ladder.
    frame_rate: Option<f64>,
    video_kbps: Option<f64>,
    /// The stream's own ladder, in place of the origin's (`None`: the origin's).
    #[cfg(feature = "transcode")]
    ladder: Option<StreamLadder>,
}

/// Where a publication's media goes.
enum Route {
    /// Not decided: held until the tracks are known.
    Holding,
    /// Packaged as published, as this rendition.
    Direct(RenditionIndex),
    /// Into a ladder's queue.
    #[cfg(feature = "transcode")]
    Ladder(ladder::LadderFeed),
}

impl HlsSink {
    fn ready(&self) -> bool {
        let (video, audio) = self.expected.unwrap_or((true, true));
        (!video || self.seen.0) && (!audio || self.seen.1)
    }

    fn count_error(&mut self, e: &dyn std::fmt::Display) {
        self.errors += 1;
        // the first few in full, then one in a thousand: a broken stream must not flood
        if self.errors <= 3 || self.errors % 1000 == 0 {
            warn!(error = %e, errors = self.errors, "HLS packaging refused media");
        }
    }

    fn feed(&mut self, state: &mut StreamState, event: MediaEvent) {
        if let MediaEvent::Frame(frame) = &event {
            if frame.codec.kind() == MediaKind::Video {
                state
                    .arrivals
                    .record(frame.pts_time(), self.origin.inner.clock.now());
            }
        }
        match &self.route {
            Route::Holding => {}
            Route::Direct(index) => {
                let Some(rendition) = state.rendition_mut(*index) else {
                    return;
                };
                let result = match event {
                    MediaEvent::Track(info) => rendition.add_track(info),
                    MediaEvent::Frame(frame) => rendition.push_frame(frame),
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    self.count_error(&e);
                }
            }
            #[cfg(feature = "transcode")]
            Route::Ladder(feed) => match event {
                MediaEvent::Track(info) => feed.push(ladder::Input::Track(info)),
                MediaEvent::Frame(frame) => {
                    feed.push(ladder::Input::Frame(frame, self.origin.inner.clock.now()));
                }
                _ => {}
            },
        }
    }

    /// Decides where the publication goes once its tracks are known, then feeds what was
    /// held back at the start, tracks first (so the first PMT or init segment lists them
    /// all); from then on media flows straight through.
    fn release_held(&mut self, state: &mut StreamState) {
        let Some(held) = self.held.take() else {
            return;
        };
        let (tracks, frames): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|e| matches!(e, MediaEvent::Track(_)));
        let video = tracks.iter().find_map(|e| match e {
            MediaEvent::Track(t) if t.kind() == MediaKind::Video => Some(t),
            _ => None,
        });
        self.route = self.choose_route(state, video);
        for e in tracks.into_iter().chain(frames) {
            self.feed(state, e);
        }
    }

    fn choose_route(&self, state: &mut StreamState, video: Option<&TrackInfo>) -> Route {
        #[cfg(feature = "transcode")]
        if let Some(feed) = video.and_then(|v| self.start_ladder(state, v)) {
            return Route::Ladder(feed);
        }
        #[cfg(not(feature = "transcode"))]
        let _ = video;
        self.start_direct(state)
    }

    /// The stream as published: one rendition, `index.m3u8`.
    fn start_direct(&self, state: &mut StreamState) -> Route {
        let index = match state.find(INDEX) {
            Some(index) => index,
            None => match self.origin.packager(None) {
                Some(packager) => state.add(Rendition::new(
                    INDEX.to_owned(),
                    packager,
                    self.origin.config().grace(),
                )),
                None => return Route::Holding,
            },
        };
        if let Some(r) = state.revive(index) {
            r.begin_life(self.life);
            r.packager.set_wallclock(self.origin.unix_ms());
        }
        state.retire_others(self.life);
        state.settle();
        Route::Direct(index)
    }

    /// The ladder this stream is transcoded into: its own (with the settings of the
    /// origin's ladder, else of its `ladder_settings`, else the defaults), else the
    /// origin's; `None` when the stream is packaged as published.
    #[cfg(feature = "transcode")]
    fn ladder_config(&self) -> Option<LadderConfig> {
        let config = self.origin.config();
        match &self.ladder {
            None => config.ladder.clone(),
            Some(StreamLadder::Off) => None,
            Some(StreamLadder::Ladder(ladder)) => Some(
                match config.ladder.as_ref().or(config.ladder_settings.as_ref()) {
                    Some(settings) => LadderConfig {
                        ladder: ladder.clone(),
                        ..settings.clone()
                    },
                    None => LadderConfig::new(ladder.clone()),
                },
            ),
        }
    }

    /// The ladder, as admission shortens it to fit the CPU budget; `None` when there is no
    /// ladder, nothing of it fits, or it cannot start (the stream is packaged as published).
    #[cfg(feature = "transcode")]
    fn start_ladder(
        &self,
        state: &mut StreamState,
        video: &TrackInfo,
    ) -> Option<ladder::LadderFeed> {
        let config = self.ladder_config()?;
        let config = &config;
        let (width, height) = video.config.picture_size()?;
        let fps = match &video.config {
            onair_media_types::CodecConfig::Avc(avc) => avc.frame_rate(),
            _ => None,
        }
        .or(self.frame_rate)
        .filter(|f| (1.0..=240.0).contains(f))
        .unwrap_or(30.0);
        let source = ladder::Source { width, height, fps };
        let admission = ladder::admit(config, source, &self.origin.inner.cpu);
        let id = &self.id;
        let report = state.ladder.get_or_insert_with(Default::default);
        report.admission_dropped = admission.dropped.iter().map(|r| r.to_string()).collect();
        if !admission.dropped.is_empty() {
            warn!(
                stream = %id,
                dropped = ?report.admission_dropped,
                cpu_cores = format!("{:.2}", admission.measured),
                ladder_cores = format!("{:.2}", admission.estimate),
                "CPU budget: the ladder starts shorter"
            );
        }
        let Some(ladder) = admission.ladder else {
            warn!(stream = %id, "CPU budget: no transcoded rung fits, packaged as published");
            return None;
        };
        report.admitted = ladder.to_string();
        info!(
            stream = %id,
            ladder = %ladder,
            source = format!("{width}x{height}@{fps:.2}"),
            ladder_cores = format!("{:.2}", admission.estimate),
            "ladder starting"
        );
        let mut transcoder = onair_transcode::TranscoderConfig::new(ladder);
        transcoder.segment_target = self.origin.config().segment_duration;
        transcoder.encoder = config.encoder.clone();
        transcoder.hardware = config.hardware;
        transcoder.source_bitrate_bps = self.video_kbps.map(|k| (k * 1000.0) as u64);
        let transcoder = match onair_transcode::Transcoder::new(transcoder) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(stream = %id, error = %e, "ladder cannot start, packaged as published");
                return None;
            }
        };
        ladder::start(
            self.origin.clone(),
            self.stream.clone(),
            self.life,
            config.clone(),
            transcoder,
            admission.modelled,
            format!("ladder {id}"),
        )
        .map_err(|e| tracing::error!(stream = %id, error = %e, "ladder thread"))
        .ok()
    }
}

impl TapSink for HlsSink {
    fn media(&mut self, kind: TapMedia, timestamp_ms: u64, data: &bytes::Bytes) {
        let pushed = match kind {
            TapMedia::Video => self.demuxer.push_video(timestamp_ms, data),
            TapMedia::Audio => self.demuxer.push_audio(timestamp_ms, data),
        };
        if let Err(e) = pushed {
            self.errors += 1;
            if self.errors <= 3 || self.errors % 1000 == 0 {
                debug!(error = %e, "HLS: unreadable media message");
            }
        }
        let stream = self.stream.clone();
        let mut state = stream.lock();
        while let Some(event) = self.demuxer.poll_event() {
            if let MediaEvent::Track(info) = &event {
                match info.kind() {
                    MediaKind::Video => self.seen.0 = true,
                    MediaKind::Audio => self.seen.1 = true,
                }
            }
            match &mut self.held {
                Some(held) => {
                    held.push(event);
                    let frames = held
                        .iter()
                        .filter(|e| matches!(e, MediaEvent::Frame(_)))
                        .count();
                    if self.ready() || frames >= self.max_held {
                        self.release_held(&mut state);
                    }
                }
                None => self.feed(&mut state, event),
            }
        }
        if let Route::Direct(_) = self.route {
            state.drain(self.origin.elapsed(), self.origin.inner.clock.now());
        }
    }

    fn metadata(&mut self, properties: &[(String, Amf0Value)]) {
        let number = |key: &str| {
            properties.iter().find_map(|(k, v)| match v {
                Amf0Value::Number(n) if k == key && n.is_finite() && *n > 0.0 => Some(*n),
                _ => None,
            })
        };
        self.frame_rate = number("framerate").or(self.frame_rate);
        self.video_kbps = number("videodatarate").or(self.video_kbps);
        if self.expected.is_some() {
            return;
        }
        let has = |key: &str| {
            properties.iter().any(|(k, v)| {
                k == key
                    && !matches!(v, Amf0Value::Null | Amf0Value::Undefined)
                    && !matches!(v, Amf0Value::Boolean(false))
                    && !matches!(v, Amf0Value::Number(n) if *n == 0.0)
            })
        };
        let video = has("videocodecid");
        let audio = has("audiocodecid");
        if video || audio {
            self.expected = Some((video, audio));
        }
    }

    fn end(&mut self) {
        let stream = self.stream.clone();
        let mut state = stream.lock();
        self.release_held(&mut state);
        if state.life != self.life {
            // a newer publisher of the name has the stream already
            return;
        }
        state.publishing = false;
        state.left_at = Some(self.origin.inner.clock.now());
        match &self.route {
            Route::Direct(index) => {
                // Close the open segment so players get the tail; a new publisher continues
                // after a discontinuity.
                if let Some(r) = state.rendition_mut(*index) {
                    r.close();
                }
                state.drain(self.origin.elapsed(), self.origin.inner.clock.now());
                // nothing more comes until a new publisher: parked requests get their answer
                state.release_all();
                state.finish_vod();
            }
            // the worker closes the renditions (and the recording) once the ladder's tail is
            // out
            #[cfg(feature = "transcode")]
            Route::Ladder(feed) => feed.end(),
            Route::Holding => {
                state.release_all();
                state.finish_vod();
            }
        }
        state.detach_metrics();
        info!(stream = %self.id, "HLS packaging paused: publisher left");
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
