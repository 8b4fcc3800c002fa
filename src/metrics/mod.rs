//! Operator metrics and a small control API: what the server is doing, in the Prometheus
//! text format (through `prometheus-client`), and a JSON view of the live streams with a way
//! to drop a publisher.
//!
//! One [`Metrics`] is shared by the parts of a server: give it to the
//! [`RtmpServer`](crate::rtmp::RtmpServer::with_metrics) and the
//! [`HlsOrigin`](crate::hls::HlsOrigin::with_metrics) (whose [`HttpOrigin`](crate::hls::HttpOrigin)s count their
//! answers into it), and serve it with a [`MetricsServer`], on an address of its own that
//! only operators reach.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use onair::hls::{HlsConfig, HlsOrigin};
//! use onair::metrics::{Metrics, MetricsServer};
//! use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};
//!
//! let metrics = Metrics::new();
//! let origin = HlsOrigin::new(HlsConfig::default())
//!     .map_err(std::io::Error::other)?
//!     .with_metrics(metrics.clone());
//! let rtmp = RtmpServer::bind("127.0.0.1:1935", RtmpServerConfig::default(), AcceptAll)
//!     .await?
//!     .with_metrics(metrics.clone())
//!     .with_tap(Arc::new(origin.clone()));
//! let ops = MetricsServer::bind("127.0.0.1:9100", metrics).await?.with_rtmp(rtmp.control());
//! tokio::spawn(ops.run_until(onair::rtmp::shutdown_signal()));
//! // curl http://127.0.0.1:9100/metrics ; curl http://127.0.0.1:9100/api/streams
//! rtmp.run_until(onair::rtmp::shutdown_signal()).await
//! # }
//! ```
//!
//! The series (`_total` on counters):
//!
//! | series | labels | what |
//! |---|---|---|
//! | `onair_rtmp_connections` | | open RTMP(S) connections |
//! | `onair_rtmp_publishers` | | streams being published |
//! | `onair_rtmp_players` | | RTMP players (also those waiting for a publisher) |
//! | `onair_rtmp_received_bytes_total`, `onair_rtmp_sent_bytes_total` | | RTMP bytes in and out |
//! | `onair_stream_ingest_bytes_total` | app, name | media bytes from the stream's publisher |
//! | `onair_stream_ingest_bits_per_second` | app, name | the same, over the last second or so |
//! | `onair_stream_rtmp_players` | app, name | RTMP players of the stream |
//! | `onair_hls_viewers` | app, name, rendition | HLS viewers (below) |
//! | `onair_hls_segments_total`, `onair_hls_parts_total` | app, name, rendition | published |
//! | `onair_hls_segment_latency_seconds` | | histogram: a segment's last frame arriving to the playlist listing it |
//! | `onair_ladder_shed_renditions_total`, `onair_ladder_dropped_frames_total`, `onair_ladder_lag_seconds`, `onair_ladder_max_lag_seconds` | app, name | a stream's transcoding ladder (with the `transcode` feature) |
//! | `onair_http_responses_total` | status | HLS origin answers |
//! | `onair_http_sent_bytes_total` | | HLS origin body bytes |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, ... | | from `/proc/self` |
//!
//! Cardinality stays bounded: series labelled by stream exist while the stream is published
//! and are removed when its publisher leaves; labels carry the public stream name, never the
//! publish key (an [`RtmpHandler`](crate::rtmp::RtmpHandler) maps one to the other). An HLS
//! viewer is an HTTP connection that fetched the rendition's media playlist within the last
//! three target durations (behind a CDN: the edge's connections).
//!
//! Counting costs the media path atomics only: every per-stream handle is looked up once,
//! when the stream starts. Other parts add their own series with [`Metrics::register`], or,
//! per stream and removed with it, with [`Metrics::stream_family`] and
//! [`StreamHandle::series`].

mod api;
mod process;
mod server;
mod streams;

use std::sync::{Arc, Mutex, MutexGuard};

use hyper::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

pub use api::{RenditionInfo, StreamInfo};
pub use server::MetricsServer;
pub(crate) use streams::{IngestMeter, RenditionMeter};
pub use streams::{SeriesLabels, StreamFamily, StreamHandle};

/// The metrics registry of a server and the handles its parts count with. Cheap to clone;
/// see the [module documentation](self).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("streams", &self.inner.streams.len())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

struct Inner {
    registry: Mutex<Registry>,
    rtmp: RtmpMetrics,
    http: HttpMetrics,
    streams: Arc<streams::StreamTable>,
}

/// The RTMP server's own counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct RtmpMetrics {
    pub(crate) connections: Gauge,
    pub(crate) publishers: Gauge,
    pub(crate) players: Gauge,
    pub(crate) received_bytes: Counter,
    pub(crate) sent_bytes: Counter,
}

/// The HTTP origin's answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpMetrics {
    responses: Family<[(&'static str, u16); 1], Counter>,
    sent_bytes: Counter,
}

impl HttpMetrics {
    /// One answer with `body` bytes (0 for HEAD: the body is not sent).
    pub(crate) fn response(&self, status: StatusCode, body: u64) {
        self.responses
            .get_or_create(&[("status", status.as_u16())])
            .inc();
        self.sent_bytes.inc_by(body);
    }
}

/// Segment latency buckets, seconds: 1 ms to about 16 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// A registry with every series of the server (at zero) and the process's CPU and memory.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let rtmp = RtmpMetrics::default();
        registry.register(
            "onair_rtmp_connections",
            "Open RTMP and RTMPS connections",
            rtmp.connections.clone(),
        );
        registry.register(
            "onair_rtmp_publishers",
            "Streams being published over RTMP",
            rtmp.publishers.clone(),
        );
        registry.register(
            "onair_rtmp_players",
            "RTMP players, also those waiting for a publisher",
            rtmp.players.clone(),
        );
        registry.register(
            "onair_rtmp_received_bytes",
            "Bytes received on RTMP connections",
            rtmp.received_bytes.clone(),
        );
        registry.register(
            "onair_rtmp_sent_bytes",
            "Bytes sent on RTMP connections",
            rtmp.sent_bytes.clone(),
        );
        let http = HttpMetrics::default();
        registry.register(
            "onair_http_responses",
            "HLS origin responses by status code",
            http.responses.clone(),
        );
        registry.register(
            "onair_http_sent_bytes",
            "HLS origin response body bytes",
            http.sent_bytes.clone(),
        );
        let segment_latency = Histogram::new(latency_buckets());
        registry.register(
            "onair_hls_segment_latency_seconds",
            "From the arrival of a segment's last frame to the playlist that lists it",
            segment_latency.clone(),
        );
        let streams = Arc::new(streams::StreamTable::new(&mut registry, segment_latency));
        registry.register_collector(Box::new(streams::ViewerCollector(streams.clone())));
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                rtmp,
                http,
                streams,
            }),
        }
    }

    /// Adds a series of another part of the server (e.g. a transcoder's counters). `name`
    /// without `_total`: counters get it when encoded.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        lock(&self.inner.registry).register(name, help, metric);
    }

    /// Adds series computed when scraped.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        lock(&self.inner.registry).register_collector(collector);
    }

    /// Adds a family of series labelled by stream (`app`, `name`, and `rendition` when given):
    /// one series per live stream through [`StreamHandle::series`], removed when the stream
    /// ends.
    pub fn stream_family<M>(&self, name: &str, help: &str) -> StreamFamily<M>
    where
        M: Metric + prometheus_client::metrics::TypedMetric + Default + Clone,
    {
        let family = StreamFamily::default();
        self.register(name, help, family.family.clone());
        family
    }

    /// The handle of live stream `app/name` (by its public name, never its key): the first
    /// one creates the stream's series, dropping the last removes them.
    pub fn stream(&self, app: &str, name: &str) -> StreamHandle {
        self.inner.streams.handle(app, name)
    }

    /// The live streams with what was counted of them, by app and name.
    pub fn streams(&self) -> Vec<StreamInfo> {
        self.inner.streams.infos()
    }

    /// Every series in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = lock(&self.inner.registry);
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).is_err() {
            // Writing to a String only fails if a collector does; what was written stands.
            tracing::warn!("a metrics collector failed");
        }
        text
    }

    pub(crate) fn rtmp(&self) -> &RtmpMetrics {
        &self.inner.rtmp
    }

    pub(crate) fn http(&self) -> &HttpMetrics {
        &self.inner.http
    }

    /// An HTTP connection fetched the media playlist `playlist` of `app/name`.
    pub(crate) fn hls_viewer(&self, app: &str, name: &str, playlist: &str, connection: u64) {
        self.inner
            .streams
            .viewer(app, name, playlist, connection, std::time::Instant::now());
    }
}

/// Counts one in a gauge while alive (a connection, a publisher, a player).
#[derive(Debug)]
pub(crate) struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub(crate) fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
