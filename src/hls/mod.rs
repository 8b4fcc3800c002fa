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
//! are woken. Nothing is written to disk, and a segment is served as the same
//! reference-counted buffer the packager produced: no copy per request.
//!
//! Time comes from a [`Clock`] ([`SystemClock`] unless [`HlsOrigin::with_clock`] says
//! otherwise).
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
mod stream;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use onair_amf::amf0::Amf0Value;
use onair_flv::{MediaDemuxer, MediaEvent};
use onair_hls_packager::{Grace, Packager, PackagerConfig, PlaylistKind, SegmentFormat};
use onair_media_types::MediaKind;
use onair_rtmp_proto::StreamName;
use tracing::{debug, info, warn};

use crate::rtmp::{StreamTap, TapMedia, TapSink};
use stream::{lock, LiveHls, Rendition, StreamState, Streams};

pub use clock::{Clock, SystemClock};
pub use http::{HttpOrigin, HttpOriginConfig, TlsError};
pub use onair_hls_packager::SegmentFormat as HlsSegmentFormat;

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
    /// Segments listed in the live playlist.
    pub window: usize,
    /// How long a stream's playlist and segments stay after its publisher left, waiting for a
    /// new publisher of the name.
    pub linger: Duration,
    /// Most streams packaged at once; publishers beyond it are not packaged (they still play
    /// over RTMP).
    pub max_streams: usize,
    /// Frames held back at the start of a stream until every track it announced (by metadata)
    /// has shown its configuration, so that the first segment lists them all.
    pub max_held_frames: usize,
}

impl Default for HlsConfig {
    /// MPEG-TS, 2 s segments, a window of 6, 30 s linger.
    fn default() -> Self {
        Self {
            format: SegmentFormat::Ts,
            segment_duration: Duration::from_secs(2),
            part_duration: None,
            window: 6,
            linger: Duration::from_secs(30),
            max_streams: 256,
            max_held_frames: 120,
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
            kind: PlaylistKind::Live {
                window: self.window,
            },
            name_prefix,
            ..PackagerConfig::default()
        }
    }

    /// How long a file stays served after it left the playlist (RFC 8216 6.2.2).
    fn grace(&self) -> Grace {
        Grace::Playlist {
            window: self.window,
        }
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
}

/// Why an [`HlsOrigin`] could not be made.
#[derive(Debug, thiserror::Error)]
#[error("invalid HLS configuration: {0}")]
pub struct HlsConfigError(#[from] onair_hls_packager::Error);

impl HlsOrigin {
    /// An origin packaging with `config` (checked here, so publishing cannot fail on it), on
    /// the system's clocks.
    pub fn new(config: HlsConfig) -> Result<Self, HlsConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An origin packaging with `config` and reading the time from `clock`.
    pub fn with_clock(config: HlsConfig, clock: Arc<dyn Clock>) -> Result<Self, HlsConfigError> {
        Packager::new(config.packager_config(String::new()))?;
        Ok(Self {
            inner: Arc::new(OriginInner {
                config,
                started: clock.now(),
                clock,
                streams: Mutex::new(Streams::default()),
                swept: Mutex::new(None),
            }),
        })
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
    fn elapsed(&self) -> Duration {
        self.inner
            .clock
            .now()
            .saturating_duration_since(self.inner.started)
    }

    fn unix_ms(&self) -> i64 {
        self.inner
            .clock
            .wall_clock()
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
        // Segment names differ between two lives of a name (and between runs of the server),
        // so a CDN never serves an old segment under a new name.
        let prefix = format!("{}-", base36(self.unix_ms().unsigned_abs()));
        let packager = match Packager::new(config.packager_config(prefix)) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "cannot package HLS");
                return None;
            }
        };
        let source = Rendition::new("index.m3u8".to_owned(), packager, config.grace());
        let stream = Arc::new(LiveHls::new(source));
        streams.insert(app, name, stream.clone());
        Some(stream)
    }
}

const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

impl StreamTap for HlsOrigin {
    fn on_publish(&self, app: &str, name: &StreamName) -> Option<Box<dyn TapSink>> {
        self.sweep(true);
        let stream = {
            let mut streams = lock(&self.inner.streams);
            match streams.get(app, name.as_str()) {
                Some(s) => s,
                None => self.add_stream(&mut streams, app, name.as_str())?,
            }
        };
        {
            let mut state = stream.lock();
            state.publishing = true;
            state.left_at = None;
            state.source.packager.set_wallclock(self.unix_ms());
        }
        info!(%app, %name, "HLS packaging started");
        Some(Box::new(HlsSink {
            origin: self.clone(),
            stream,
            demuxer: MediaDemuxer::new(),
            held: Some(Vec::new()),
            expected: None,
            seen: (false, false),
            max_held: self.inner.config.max_held_frames,
            errors: 0,
        }))
    }
}

/// Feeds one publication into its stream's packager.
struct HlsSink {
    origin: HlsOrigin,
    stream: Arc<LiveHls>,
    demuxer: MediaDemuxer,
    /// Events held until every expected track showed its configuration (`None`: flowing).
    held: Option<Vec<MediaEvent>>,
    /// (video, audio) announced by the metadata, if it came first.
    expected: Option<(bool, bool)>,
    /// (video, audio) configurations seen.
    seen: (bool, bool),
    max_held: usize,
    errors: u64,
}

impl HlsSink {
    fn ready(&self) -> bool {
        let (video, audio) = self.expected.unwrap_or((true, true));
        (!video || self.seen.0) && (!audio || self.seen.1)
    }

    fn feed(&mut self, state: &mut StreamState, event: MediaEvent) {
        let packager = &mut state.source.packager;
        let result = match event {
            MediaEvent::Track(info) => packager.add_track(info),
            MediaEvent::Frame(frame) => packager.push_frame(frame),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.errors += 1;
            // the first few in full, then one in a thousand: a broken stream must not flood
            if self.errors <= 3 || self.errors % 1000 == 0 {
                warn!(error = %e, errors = self.errors, "HLS packaging refused media");
            }
        }
    }

    /// Feeds what was held back at the start, tracks first (so the first PMT or init segment
    /// lists them all); from then on media flows straight through.
    fn release_held(&mut self, state: &mut StreamState) {
        let Some(held) = self.held.take() else {
            return;
        };
        let (tracks, frames): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|e| matches!(e, MediaEvent::Track(_)));
        for e in tracks.into_iter().chain(frames) {
            self.feed(state, e);
        }
    }

    /// Moves the packager's output into the stream's store and wakes the requests waiting
    /// for it.
    fn drain(&self, state: &mut StreamState) {
        state.source.drain(self.origin.elapsed());
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
        self.drain(&mut state);
    }

    fn metadata(&mut self, properties: &[(String, Amf0Value)]) {
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
        // Close the open segment so players get the tail; a new publisher continues after a
        // discontinuity.
        if let Err(e) = state.source.packager.republish() {
            debug!(error = %e, "HLS: closing the stream");
        }
        state.publishing = false;
        state.left_at = Some(self.origin.inner.clock.now());
        self.drain(&mut state);
        // nothing more comes until a new publisher: parked requests get their answer now
        state.release_all();
        info!("HLS packaging paused: publisher left");
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
