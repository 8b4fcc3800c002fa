//! The listener: plain TCP or TLS (ALPN h2 and http/1.1), one task per connection under a
//! connection limit, and a graceful shutdown that lets requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use onair_hls_packager::{without_token, OriginPath};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::observe::{HttpObserver, ServedRequest};
use super::routes::{self, Options};
use super::HttpOriginConfig;
use crate::hls::HlsOrigin;
use crate::metrics::Metrics;
use crate::tls::{ServerTls, TlsError};

/// Serves an [`HlsOrigin`] over HTTP or HTTPS (HTTP/1.1, and HTTP/2 by ALPN or prior knowledge).
pub struct HttpOrigin {
    listener: TcpListener,
    origin: HlsOrigin,
    config: HttpOriginConfig,
    tls: Option<TlsAcceptor>,
    observer: Option<Arc<dyn HttpObserver>>,
}

impl std::fmt::Debug for HttpOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOrigin")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .field("observer", &self.observer.is_some())
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
            observer: None,
        })
    }

    /// Tells `observer` of every request answered (counters, metrics, access logs).
    pub fn with_observer(mut self, observer: Arc<dyn HttpObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: HttpOriginConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves HTTPS with this certificate chain and private key (PEM: `-----BEGIN
    /// CERTIFICATE-----` blocks, then a PKCS#8, PKCS#1 or SEC1 key). ALPN offers h2 and
    /// http/1.1.
    pub fn with_tls(self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        self.with_server_tls(&ServerTls::from_pem(cert_chain_pem, key_pem)?)
    }

    /// Serves HTTPS with `tls`'s certificate, which follows its reloads (see [`ServerTls`]).
    /// ALPN offers h2 and http/1.1.
    pub fn with_server_tls(mut self, tls: &ServerTls) -> Result<Self, TlsError> {
        self.tls = Some(tls.acceptor(&[b"h2", b"http/1.1"])?);
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
            observer,
        } = self;
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(addr = %listener.local_addr()?, scheme, "HLS origin listening");
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut next_id = 0u64;
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
            next_id += 1;
            let connection = next_id;
            let origin = origin.clone();
            let config = config.clone();
            let tls = tls.clone();
            let observer = observer.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let opts = Options::new(&config);
                let service = service_fn(move |req: Request<Incoming>| {
                    let origin = origin.clone();
                    let opts = opts.clone();
                    let observer = observer.clone();
                    async move {
                        let head = req.method() == Method::HEAD;
                        // Playlist requests count viewers, and an observer sees every request:
                        // the URI is shared, not copied.
                        let uri = (observer.is_some() || req.uri().path().ends_with(".m3u8"))
                            .then(|| req.uri().clone());
                        let method = observer.as_ref().map(|_| req.method().clone());
                        let started = std::time::Instant::now();
                        let answer = routes::handle(&origin, &opts, req).await;
                        let playlist = uri.as_ref().filter(|u| u.path().ends_with(".m3u8"));
                        count(origin.metrics(), &answer, head, playlist, connection);
                        if let (Some(observer), Some(method), Some(uri)) =
                            (&observer, &method, &uri)
                        {
                            observer.served(&ServedRequest {
                                peer,
                                method,
                                path: uri.path(),
                                query: uri.query(),
                                status: answer.status(),
                                elapsed: started.elapsed(),
                            });
                        }
                        Ok::<_, Infallible>(answer)
                    }
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

/// Counts an answer: its status and body bytes; a media playlist served makes the
/// connection a viewer of that rendition.
fn count(
    metrics: &Metrics,
    answer: &Response<Full<Bytes>>,
    head: bool,
    playlist: Option<&hyper::Uri>,
    connection: u64,
) {
    let status = answer.status();
    let body = if head {
        0
    } else {
        answer.body().size_hint().exact().unwrap_or(0)
    };
    metrics.http().response(status, body);
    if status != StatusCode::OK {
        return;
    }
    // under a playback token the answer was given already, so the token was good
    let path = playlist.map(|u| without_token(u.path()));
    if let Some(OriginPath { app, name, file }) = path.as_deref().and_then(OriginPath::parse) {
        if file != "master.m3u8" {
            metrics.hls_viewer(&app, &name, &file, connection);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use onair_hls_packager::{sign_path, SigningKey};

    fn answer(status: StatusCode, body: &'static [u8]) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from_static(body)));
        *r.status_mut() = status;
        r
    }

    #[test]
    fn media_playlists_served_make_viewers_also_under_a_token() {
        let metrics = Metrics::new();
        let stream = metrics.stream("live", "demo");
        let _rendition = stream.rendition("index.m3u8", Duration::from_secs(6));
        let key = SigningKey::new("a shared secret").expect("key");
        let signed =
            sign_path(&key, "/live/demo/index.m3u8", "/live/", 4_000_000_000).expect("signs");
        let uri = |p: &str| p.parse::<hyper::Uri>().expect("uri");
        let ok = answer(StatusCode::OK, b"#EXTM3U\n");
        count(&metrics, &ok, false, Some(&uri("/live/demo/index.m3u8")), 1);
        count(&metrics, &ok, false, Some(&uri(&signed)), 2);
        count(&metrics, &ok, true, Some(&uri("/live/demo/master.m3u8")), 3);
        let missing = answer(StatusCode::NOT_FOUND, b"404 Not Found\n");
        count(
            &metrics,
            &missing,
            false,
            Some(&uri("/live/demo/index.m3u8")),
            4,
        );
        count(&metrics, &ok, false, None, 5);
        let info = metrics.streams();
        assert_eq!(info[0].hls[0].viewers, 2, "connections 1 and 2: {info:?}");
        let text = metrics.encode();
        assert!(
            text.contains("onair_http_responses_total{status=\"200\"} 4"),
            "{text}"
        );
        assert!(text.contains("onair_http_responses_total{status=\"404\"} 1"));
        // three playlist bodies and the error's; the HEAD answer's body is not sent
        assert!(text.contains("onair_http_sent_bytes_total 38\n"), "{text}");
    }
}
