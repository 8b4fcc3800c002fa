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
//! under a short lock; files land in the stream's in-memory store and a watch channel wakes
//! the HTTP requests that wait for them (LL-HLS blocking playlist reload and preload hints).
//! Nothing is written to disk, and a segment is served as the same reference-counted buffer
//! the packager produced: no copy per request.
//!
//! Stream lifetime (as nginx-rtmp's `hls_continuous`): when the publisher leaves, the open
//! segment is closed and the playlist stays, without `EXT-X-ENDLIST`; a new publisher of the
//! name continues it after an `EXT-X-DISCONTINUITY`. A stream nobody republishes within
//! [`HlsConfig::linger`] is removed (its URLs answer 404).

mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use onair_hls_packager::{
    master_playlist, parse_media_name, Event, Packager, PackagerConfig, PlaylistKind,
    PlaylistRequest, SegmentFormat, Variant,
};
use onair_media_types::MediaKind;
use onair_rtmp_proto::amf0::Amf0Value;
use onair_rtmp_proto::flv::{MediaDemuxer, MediaEvent};
use onair_rtmp_proto::StreamName;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::rtmp::{StreamTap, TapMedia, TapSink};

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

    /// How long a file stays served after it left the playlist: its duration plus that of the
    /// longest playlist that listed it (RFC 8216 6.2.2), in whole target durations as the
    /// playlist declares them (a GOP longer than the configured duration makes them longer).
    fn grace(&self, declared_target_secs: u64) -> Duration {
        let target = self
            .segment_duration
            .max(Duration::from_secs(declared_target_secs));
        target
            * (u32::try_from(self.window)
                .unwrap_or(u32::MAX)
                .saturating_add(2))
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
            .field("streams", &lock(&self.inner.streams).len())
            .finish()
    }
}

struct OriginInner {
    config: HlsConfig,
    streams: Mutex<Streams>,
    clock: Instant,
    /// When streams were last checked for removal (`sweep` runs at most every 250 ms).
    swept: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why an [`HlsOrigin`] could not be made.
#[derive(Debug, thiserror::Error)]
#[error("invalid HLS configuration: {0}")]
pub struct HlsConfigError(#[from] onair_hls_packager::Error);

impl HlsOrigin {
    /// An origin packaging with `config` (checked here, so publishing cannot fail on it).
    pub fn new(config: HlsConfig) -> Result<Self, HlsConfigError> {
        Packager::new(config.packager_config(String::new()))?;
        Ok(Self {
            inner: Arc::new(OriginInner {
                config,
                streams: Mutex::new(Streams::default()),
                clock: Instant::now(),
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
        {
            let mut swept = lock(&self.inner.swept);
            if !force && swept.is_some_and(|t| t.elapsed() < Duration::from_millis(250)) {
                return;
            }
            *swept = Some(Instant::now());
        }
        let linger = self.inner.config.linger;
        lock(&self.inner.streams).retain(|app, name, stream| {
            let keep = lock(&stream.state)
                .left_at
                .is_none_or(|t| t.elapsed() < linger);
            if !keep {
                info!(%app, %name, "HLS stream removed after its publisher left");
                stream.notify();
            }
            keep
        });
    }

    pub(crate) fn stream(&self, app: &str, name: &str) -> Option<Arc<LiveHls>> {
        self.sweep(false);
        lock(&self.inner.streams).get(app, name)
    }

    fn now(&self) -> Duration {
        self.inner.clock.elapsed()
    }
}

impl StreamTap for HlsOrigin {
    fn on_publish(&self, app: &str, name: &StreamName) -> Option<Box<dyn TapSink>> {
        self.sweep(true);
        let config = &self.inner.config;
        let stream = {
            let mut streams = lock(&self.inner.streams);
            if let Some(s) = streams.get(app, name.as_str()) {
                s
            } else {
                if streams.len() >= config.max_streams {
                    warn!(%app, %name, max = config.max_streams, "too many HLS streams, not packaging this one");
                    return None;
                }
                // Segment names differ between two lives of a name (and between runs of the
                // server), so a CDN never serves an old segment under a new name.
                let prefix = format!("{}-", base36(unix_ms().unsigned_abs()));
                let packager = match Packager::new(config.packager_config(prefix)) {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(error = %e, "cannot package HLS");
                        return None;
                    }
                };
                let (changed, _) = watch::channel(0);
                let s = Arc::new(LiveHls {
                    state: Mutex::new(HlsState {
                        packager,
                        files: HashMap::new(),
                        playlist: Bytes::new(),
                        expiring: std::collections::VecDeque::new(),
                        publishing: false,
                        left_at: None,
                        has_media: false,
                        has_segment: false,
                    }),
                    changed,
                });
                streams.insert(app, name.as_str(), s.clone());
                s
            }
        };
        {
            let mut state = lock(&stream.state);
            state.publishing = true;
            state.left_at = None;
            state.packager.set_wallclock(unix_ms());
        }
        info!(%app, %name, "HLS packaging started");
        Some(Box::new(HlsSink {
            origin: self.clone(),
            stream,
            demuxer: MediaDemuxer::new(),
            held: Some(Vec::new()),
            expected: None,
            seen: (false, false),
            max_held: config.max_held_frames,
            errors: 0,
        }))
    }
}

/// The streams by application, then name: looked up on every request with the `&str`s of its
/// path, without building an owned key.
#[derive(Default)]
struct Streams {
    by_app: HashMap<String, HashMap<String, Arc<LiveHls>>>,
    len: usize,
}

impl Streams {
    fn get(&self, app: &str, name: &str) -> Option<Arc<LiveHls>> {
        self.by_app.get(app)?.get(name).cloned()
    }

    fn insert(&mut self, app: &str, name: &str, stream: Arc<LiveHls>) {
        let names = self.by_app.entry(app.to_owned()).or_default();
        if names.insert(name.to_owned(), stream).is_none() {
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn ids(&self) -> Vec<StreamId> {
        self.by_app
            .iter()
            .flat_map(|(app, names)| names.keys().map(move |name| (app.clone(), name.clone())))
            .collect()
    }

    fn retain(&mut self, mut keep: impl FnMut(&str, &str, &Arc<LiveHls>) -> bool) {
        let mut len = 0;
        self.by_app.retain(|app, names| {
            names.retain(|name, stream| keep(app, name, stream));
            len += names.len();
            !names.is_empty()
        });
        self.len = len;
    }
}

/// One stream's packager and files.
pub(crate) struct LiveHls {
    state: Mutex<HlsState>,
    /// Bumped whenever the playlist changed or the stream ended.
    changed: watch::Sender<u64>,
}

pub(crate) struct HlsState {
    pub(crate) packager: Packager,
    pub(crate) files: HashMap<String, Bytes>,
    /// The playlist as plain requests get it, rendered once per change.
    pub(crate) playlist: Bytes,
    /// Files that left the playlist, with the time they stop being served.
    expiring: std::collections::VecDeque<(Duration, String)>,
    pub(crate) publishing: bool,
    left_at: Option<Instant>,
    pub(crate) has_media: bool,
    /// A whole segment was published (before that, an LL-HLS playlist lists parts only, which
    /// players that ignore parts cannot start with, and the target duration is not final).
    pub(crate) has_segment: bool,
}

impl HlsState {
    /// The master playlist (one variant: this stream as published).
    pub(crate) fn master(&self) -> String {
        master_playlist(&[Variant {
            uri: "index.m3u8".to_owned(),
            info: self.packager.variant_info(),
        }])
    }

    /// The media playlist for a request with or without `_HLS_skip`.
    pub(crate) fn media(&self, skip: bool) -> Bytes {
        if skip && self.packager.config().part_duration.is_some() {
            let request = PlaylistRequest {
                skip: true,
                ..PlaylistRequest::default()
            };
            Bytes::from(self.packager.media_playlist(&request))
        } else {
            self.playlist.clone()
        }
    }
}

impl LiveHls {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HlsState> {
        lock(&self.state)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn notify(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
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

    fn feed(&mut self, state: &mut HlsState, event: MediaEvent) {
        let result = match event {
            MediaEvent::Track(info) => state.packager.add_track(info),
            MediaEvent::Frame(frame) => {
                state.has_media = true;
                state.packager.push_frame(frame)
            }
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
    fn release_held(&mut self, state: &mut HlsState) {
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

    /// Moves the packager's output into the stream's store and wakes waiting requests.
    fn drain(&self, state: &mut HlsState) {
        let now = self.origin.now();
        let mut changed = false;
        while let Some(event) = state.packager.poll_event() {
            match event {
                Event::File { name, data } => {
                    let prefix = &state.packager.config().name_prefix;
                    if matches!(parse_media_name(&name, prefix), Some((_, None))) {
                        state.has_segment = true;
                    }
                    state.files.insert(name, data);
                }
                Event::PlaylistChanged => changed = true,
                Event::Expired { name } => {
                    let grace = self
                        .origin
                        .inner
                        .config
                        .grace(state.packager.target_duration_secs());
                    state.expiring.push_back((now + grace, name));
                }
            }
        }
        while state.expiring.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, name)) = state.expiring.pop_front() {
                state.files.remove(&name);
            }
        }
        if changed {
            state.playlist =
                Bytes::from(state.packager.media_playlist(&PlaylistRequest::default()));
            self.stream.notify();
        }
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
        if let Err(e) = state.packager.republish() {
            debug!(error = %e, "HLS: closing the stream");
        }
        state.publishing = false;
        state.left_at = Some(Instant::now());
        self.drain(&mut state);
        self.stream.notify();
        info!("HLS packaging paused: publisher left");
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
