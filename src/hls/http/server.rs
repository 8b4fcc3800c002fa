//! The HTTP(S) side of the origin: playlists and segments with CDN cache rules, CORS,
//! LL-HLS blocking playlist reload and preload-hint requests, HTTP/1.1 and HTTP/2.
//!
//! URLs, for a stream published as `rtmp://HOST/APP/NAME`:
//! - `/APP/NAME/index.m3u8`: the media playlist (`_HLS_msn`, `_HLS_part`, `_HLS_skip`);
//! - `/APP/NAME/master.m3u8`: a master playlist with the measured bandwidth and codecs;
//! - `/APP/NAME/<file>`: segments, parts and init segments named by the playlist.
//!
//! Cache rules (what a CDN in front needs for live): playlists `max-age` of half a target
//! duration (at least 1 s), blocking-reload answers a little longer (their URL names what they
//! contain), segments a year and `immutable` (their names are never reused), errors `no-store`.
//! A segment that left the playlist is served for the RFC 8216 6.2.2 grace period, then 404.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use onair_hls_packager::{
    parse_media_name, percent_decode, percent_encode_segment, DeliveryDirectives, OriginPath,
    SegmentFormat,
};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::{HlsOrigin, HlsState, LiveHls};

/// How an [`HttpOrigin`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOriginConfig {
    /// Connections beyond this many wait to be accepted.
    pub max_connections: usize,
    /// A request whose headers take longer than this to arrive is dropped (slowloris).
    pub header_timeout: Duration,
    /// `Cache-Control: max-age` of segments, parts and init segments.
    pub segment_max_age: Duration,
    /// On shutdown, how long open requests get to finish.
    pub shutdown_grace: Duration,
    /// Serve a page listing the live streams at `/` and a player page at `/APP/NAME/` (uses
    /// the browser's own HLS support, else hls.js from the jsDelivr CDN). Off by default: an
    /// origin behind a CDN serves media only.
    pub player_pages: bool,
    /// hls.js for the player pages, served at `/hls.min.js` (e.g. the file from the `hls.js`
    /// npm package); `None` makes the pages load it from the jsDelivr CDN.
    pub player_script: Option<Bytes>,
}

impl Default for HttpOriginConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            segment_max_age: Duration::from_secs(365 * 24 * 3600),
            shutdown_grace: Duration::from_secs(5),
            player_pages: false,
            player_script: None,
        }
    }
}

/// A certificate or key that could not be used for HTTPS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM text holds no certificate.
    #[error("no certificate in the PEM data")]
    NoCertificate,
    /// The PEM text holds no private key.
    #[error("no private key in the PEM data")]
    NoKey,
    /// PEM could not be read.
    #[error("bad PEM data: {0}")]
    Pem(String),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Serves an [`HlsOrigin`] over HTTP or HTTPS (HTTP/1.1, and HTTP/2 by ALPN or prior knowledge).
pub struct HttpOrigin {
    listener: TcpListener,
    origin: HlsOrigin,
    config: HttpOriginConfig,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for HttpOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOrigin")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpOrigin {
    /// Binds the listening socket (plain HTTP until [`with_tls`](Self::with_tls)).
    pub async fn bind(addr: impl ToSocketAddrs, origin: HlsOrigin) -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            origin,
            config: HttpOriginConfig::default(),
            tls: None,
        })
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: HttpOriginConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves HTTPS with this certificate chain and private key (PEM: `-----BEGIN
    /// CERTIFICATE-----` blocks, then a PKCS#8, PKCS#1 or SEC1 key). ALPN offers h2 and
    /// http/1.1.
    pub fn with_tls(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey,
            e => TlsError::Pem(e.to_string()),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        self.tls = Some(TlsAcceptor::from(Arc::new(config)));
        Ok(self)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and gives open requests
    /// `shutdown_grace` to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Self {
            listener,
            origin,
            config,
            tls,
        } = self;
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(addr = %listener.local_addr()?, scheme, "HLS origin listening");
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                a = listener.accept() => a,
            };
            let (socket, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let origin = origin.clone();
            let config = config.clone();
            let tls = tls.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let opts = Options {
                    segment_max_age: config.segment_max_age.as_secs(),
                    player_pages: config.player_pages,
                    player_script: config.player_script.clone(),
                };
                let service = service_fn(move |req| {
                    let origin = origin.clone();
                    let opts = opts.clone();
                    async move { Ok::<_, Infallible>(handle(&origin, &opts, req).await) }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(config.header_timeout);
                // each parked request (blocking reload, preload hint) is a stream: bound them
                builder
                    .http2()
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(128);
                let result = match tls {
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(config.header_timeout, acceptor.accept(socket));
                        match handshake.await {
                            Ok(Ok(stream)) => {
                                let conn = builder.serve_connection(TokioIo::new(stream), service);
                                serve(conn, &mut stop).await
                            }
                            Ok(Err(e)) => {
                                debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        }
                    }
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(socket), service);
                        serve(conn, &mut stop).await
                    }
                };
                if let Err(e) = result {
                    debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
            });
        }
        drop(listener);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.shutdown().await;
        }
        info!("HLS origin stopped");
        Ok(())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Drives one connection; on shutdown, lets the request in flight finish, then closes.
async fn serve<C>(conn: C, stop: &mut watch::Receiver<bool>) -> Result<(), BoxError>
where
    C: Future<Output = Result<(), BoxError>> + GracefulShutdown,
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return r,
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().shutdown();
    conn.await
}

/// The graceful shutdown of hyper-util's auto connection, pinned.
trait GracefulShutdown {
    fn shutdown(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> GracefulShutdown for auto::Connection<'_, I, S, E>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>>,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, Full<Bytes>>,
{
    fn shutdown(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

type Resp = Response<Full<Bytes>>;

fn response(status: StatusCode, body: Bytes, content_type: &'static str, cache: CacheRule) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::CACHE_CONTROL, cache_control(cache));
    r
}

/// The `Cache-Control` value of a rule, formatted once per distinct rule (an origin uses a
/// handful) and shared afterwards: no allocation per response.
fn cache_control(rule: CacheRule) -> HeaderValue {
    static MEMO: OnceLock<Mutex<HashMap<CacheRule, HeaderValue>>> = OnceLock::new();
    if rule == CacheRule::NoStore {
        return HeaderValue::from_static("no-store");
    }
    let memo = MEMO.get_or_init(Mutex::default);
    let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = memo.get(&rule) {
        return v.clone();
    }
    let text = match rule {
        CacheRule::Immutable(secs) => format!("public, max-age={secs}, immutable"),
        CacheRule::MaxAge(secs) => format!("public, max-age={secs}"),
        CacheRule::NoStore => "no-store".to_owned(),
    };
    let value = HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("no-cache"));
    if memo.len() < 64 {
        memo.insert(rule, value.clone());
    }
    value
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CacheRule {
    NoStore,
    MaxAge(u64),
    Immutable(u64),
}

fn error(status: StatusCode) -> Resp {
    let text = status.canonical_reason().unwrap_or("error");
    response(
        status,
        Bytes::from(format!("{} {text}\n", status.as_u16())),
        "text/plain; charset=utf-8",
        CacheRule::NoStore,
    )
}

/// What every request of a connection needs from the configuration.
#[derive(Debug, Clone)]
struct Options {
    segment_max_age: u64,
    player_pages: bool,
    player_script: Option<Bytes>,
}

/// Answers one request.
async fn handle(origin: &HlsOrigin, opts: &Options, req: Request<Incoming>) -> Resp {
    // HEAD gets the same headers; hyper leaves the body out.
    match *req.method() {
        Method::GET | Method::HEAD => {
            let path = req.uri().path();
            if opts.player_pages {
                if path == "/" || path.ends_with('/') {
                    let script = if opts.player_script.is_some() {
                        "/hls.min.js"
                    } else {
                        HLS_JS
                    };
                    return page(origin, path, script);
                }
                if let (Some(js), "/hls.min.js") = (&opts.player_script, path) {
                    return response(
                        StatusCode::OK,
                        js.clone(),
                        "text/javascript",
                        CacheRule::MaxAge(86400),
                    );
                }
            }
            get(origin, opts.segment_max_age, path, req.uri().query()).await
        }
        Method::OPTIONS => preflight(&req),
        _ => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            r
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const HLS_JS: &str = "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js";

/// `/`: the live streams; `/APP/NAME/`: a player for one of them.
fn page(origin: &HlsOrigin, path: &str, script: &str) -> Resp {
    let html = if path == "/" {
        let mut items = String::new();
        for (app, name) in origin.streams() {
            let href = format!(
                "/{}/{}/",
                app.split('/')
                    .map(percent_encode_segment)
                    .collect::<Vec<_>>()
                    .join("/"),
                percent_encode_segment(&name)
            );
            items.push_str(&format!(
                "<li><a href=\"{}\">{}/{}</a></li>\n",
                html_escape(&href),
                html_escape(&app),
                html_escape(&name)
            ));
        }
        if items.is_empty() {
            items.push_str("<li>nothing is published yet: publish to rtmp://HOST/APP/NAME</li>\n");
        }
        format!(
            "<!doctype html><meta charset=utf-8><title>onair</title>\n<h1>Live streams</h1>\n<ul>\n{items}</ul>\n"
        )
    } else {
        let Some((app, name)) = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix('/'))
            .and_then(|p| p.rsplit_once('/'))
            .and_then(|(a, n)| Some((percent_decode(a)?, percent_decode(n)?)))
        else {
            return error(StatusCode::NOT_FOUND);
        };
        if origin.stream(&app, &name).is_none() {
            return error(StatusCode::NOT_FOUND);
        }
        let title = html_escape(&format!("{app}/{name}"));
        let low_latency = origin.config().part_duration.is_some();
        format!(
            r#"<!doctype html><meta charset=utf-8><title>{title}</title>
<style>body{{margin:0;background:#000}}video{{width:100vw;height:100vh}}</style>
<video id=v controls autoplay muted playsinline></video>
<script src="{script}"></script>
<script>
const v = document.getElementById('v'), src = 'master.m3u8';
if (window.Hls && Hls.isSupported()) {{
  const hls = new Hls({{ lowLatencyMode: {low_latency} }});
  hls.loadSource(src); hls.attachMedia(v);
}} else if (v.canPlayType('application/vnd.apple.mpegurl')) {{
  v.src = src;
}}
</script>
"#
        )
    };
    response(
        StatusCode::OK,
        Bytes::from(html),
        "text/html; charset=utf-8",
        CacheRule::NoStore,
    )
}

/// CORS preflight: any origin may GET, with any request headers (Range, for one).
fn preflight(req: &Request<Incoming>) -> Resp {
    let mut r = response(
        StatusCode::NO_CONTENT,
        Bytes::new(),
        "text/plain",
        CacheRule::MaxAge(86400),
    );
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    let allow_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

async fn get(origin: &HlsOrigin, max_age: u64, path: &str, query: Option<&str>) -> Resp {
    let Some(OriginPath { app, name, file }) = OriginPath::parse(path) else {
        return error(StatusCode::NOT_FOUND);
    };
    let Some(stream) = origin.stream(&app, &name) else {
        return error(StatusCode::NOT_FOUND);
    };
    let target = origin.config().segment_duration;
    match file.as_ref() {
        "index.m3u8" => playlist(&stream, target, query.unwrap_or("")).await,
        "master.m3u8" => {
            // A player that starts with the publisher waits for the first segment, which is
            // when bandwidth and codecs are known.
            if let Err(code) = first_segment(&stream, target).await {
                return error(code);
            }
            let text = stream.lock().master();
            response(
                StatusCode::OK,
                Bytes::from(text),
                "application/vnd.apple.mpegurl",
                CacheRule::MaxAge(playlist_max_age(target)),
            )
        }
        _ => media_file(origin, &stream, &file, target, max_age).await,
    }
}

fn playlist_max_age(target: Duration) -> u64 {
    // about half a segment, in the whole seconds max-age can say
    (target.as_secs_f64() / 2.0).round().max(1.0) as u64
}

/// How long a request may wait for a playlist update or a hinted part: three target
/// durations (RFC 8216bis 6.2.5.2), and at least 3 s.
fn block_limit(target: Duration) -> Duration {
    (target * 3).max(Duration::from_secs(3))
}

/// Waits (up to the blocking limit) until the stream has its first whole segment (an LL-HLS
/// playlist of parts only would stop players that ignore parts, and its target duration is
/// not settled until a segment closed); a stream whose publisher left before that, or that
/// takes too long, is 404.
async fn first_segment(stream: &Arc<LiveHls>, target: Duration) -> Result<(), StatusCode> {
    // the first segment can take a whole (long) GOP: wait longer than for a part
    let limit = block_limit(target).max(Duration::from_secs(8));
    wait_for(stream, limit, StatusCode::NOT_FOUND, |state| {
        if state.has_segment && !state.playlist.is_empty() {
            Some(Ok(()))
        } else if !state.publishing {
            Some(Err(StatusCode::NOT_FOUND))
        } else {
            None
        }
    })
    .await
    .and_then(|r| r)
}

/// Re-checks the stream's state each time it changes until `check` decides (`Some`), or
/// fails with `timeout` once `limit` has passed.
async fn wait_for<T>(
    stream: &Arc<LiveHls>,
    limit: Duration,
    timeout: StatusCode,
    mut check: impl FnMut(&HlsState) -> Option<T>,
) -> Result<T, StatusCode> {
    let mut changed = stream.subscribe();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(decided) = check(&stream.lock()) {
            return Ok(decided);
        }
        match tokio::time::timeout_at(deadline, changed.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Err(timeout),
        }
    }
}

async fn playlist(stream: &Arc<LiveHls>, target: Duration, query: &str) -> Resp {
    let mut directives = DeliveryDirectives::from_query(query);
    let low_latency = stream.lock().packager.config().part_duration.is_some();
    if !low_latency {
        // delivery directives belong to LL-HLS playlists (CAN-BLOCK-RELOAD); ignore them
        directives = DeliveryDirectives::default();
    }
    if let Some(msn) = directives.msn {
        // Blocking playlist reload (RFC 8216bis 6.2.5.2).
        let ready = wait_for(
            stream,
            block_limit(target),
            StatusCode::SERVICE_UNAVAILABLE,
            |state| {
                if state.packager.is_published(msn, directives.part) {
                    return Some(true);
                }
                // More than two segments ahead of the last one: the client is confused.
                let last = state.packager.last_published().map_or(0, |(m, _)| m);
                (msn > last + 2 || !state.publishing).then_some(false)
            },
        )
        .await;
        match ready {
            Ok(true) => {}
            Ok(false) => return error(StatusCode::BAD_REQUEST),
            Err(code) => return error(code),
        }
        let body = stream.lock().media(directives.skip);
        return response(
            StatusCode::OK,
            body,
            "application/vnd.apple.mpegurl",
            CacheRule::MaxAge(playlist_max_age(target) * 6),
        );
    }
    // A plain request before the first segment waits a little for it rather than answer
    // 404, so that a player starting with the publisher does not give up.
    if let Err(code) = first_segment(stream, target).await {
        return error(code);
    }
    let body = stream.lock().media(directives.skip);
    response(
        StatusCode::OK,
        body,
        "application/vnd.apple.mpegurl",
        CacheRule::MaxAge(playlist_max_age(target)),
    )
}

fn content_type(file: &str, format: SegmentFormat) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("ts") => "video/mp2t",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("aac") => "audio/aac",
        Some("key") => "application/octet-stream",
        _ => match format {
            SegmentFormat::Ts => "video/mp2t",
            _ => "video/mp4",
        },
    }
}

async fn media_file(
    origin: &HlsOrigin,
    stream: &Arc<LiveHls>,
    file: &str,
    target: Duration,
    max_age: u64,
) -> Resp {
    let format = origin.config().format;
    let found = wait_for(
        stream,
        block_limit(target),
        StatusCode::NOT_FOUND,
        |state| {
            if let Some(data) = state.files.get(file) {
                return Some(Some(data.clone()));
            }
            // A part or segment that is about to be published (an LL-HLS preload hint, or a
            // client slightly ahead): hold the request until it exists. Anything else, such as a
            // segment that aged out of the window, is gone.
            let prefix = &state.packager.config().name_prefix;
            let upcoming = parse_media_name(file, prefix).is_some_and(|(msn, part)| {
                let last = state.packager.last_published().map_or(0, |(m, _)| m);
                state.publishing
                    && !state.packager.is_published(msn, part)
                    && msn <= last + 1
                    && state.packager.media_sequence() <= msn
            });
            (!upcoming).then_some(None)
        },
    )
    .await;
    match found {
        Ok(Some(data)) => response(
            StatusCode::OK,
            data,
            content_type(file, format),
            CacheRule::Immutable(max_age),
        ),
        Ok(None) => error(StatusCode::NOT_FOUND),
        Err(code) => error(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_are_cached_for_half_a_segment() {
        assert_eq!(playlist_max_age(Duration::from_secs(1)), 1);
        assert_eq!(playlist_max_age(Duration::from_secs(2)), 1);
        assert_eq!(playlist_max_age(Duration::from_secs(6)), 3);
    }
}
