//! The operators' HTTP endpoint: `/metrics` for Prometheus and the JSON API.
//!
//! - `GET /metrics`: every series, Prometheus text format 0.0.4;
//! - `GET /api/streams`: `{"streams": [...]}`, the live streams ([`StreamInfo`]);
//! - `DELETE /api/publishers/APP/NAME`: disconnects the publisher of `APP/NAME` (its players
//!   stay and wait for the next one); 404 when nobody publishes it.
//!
//! It has no authentication: bind it to an address only operators reach (loopback, a
//! management network), never the public port.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::api::StreamInfo;
use super::Metrics;
use crate::rtmp::RtmpControl;

type Resp = Response<Full<Bytes>>;

/// Serves `/metrics` and the JSON API of a [`Metrics`] (see the module documentation of
/// [`crate::metrics`]).
pub struct MetricsServer {
    listener: TcpListener,
    metrics: Metrics,
    rtmp: Option<RtmpControl>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("listener", &self.listener)
            .field("rtmp", &self.rtmp.is_some())
            .finish_non_exhaustive()
    }
}

/// The most connections served at once: scrapers and operators' scripts, not an audience.
const MAX_CONNECTIONS: usize = 64;

impl MetricsServer {
    /// Binds the listening socket. Without [`with_rtmp`](Self::with_rtmp), dropping a
    /// publisher answers 503.
    pub async fn bind(addr: impl ToSocketAddrs, metrics: Metrics) -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            metrics,
            rtmp: None,
        })
    }

    /// The RTMP server whose publishers `DELETE /api/publishers/APP/NAME` drops.
    pub fn with_rtmp(mut self, control: RtmpControl) -> Self {
        self.rtmp = Some(control);
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; requests in flight are cut then.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Self {
            listener,
            metrics,
            rtmp,
        } = self;
        info!(addr = %listener.local_addr()?, "metrics and API listening");
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
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
            if tasks.len() >= MAX_CONNECTIONS {
                debug!(%peer, "too many metrics connections, refusing");
                continue;
            }
            let (metrics, rtmp) = (metrics.clone(), rtmp.clone());
            tasks.spawn(async move {
                let service = service_fn(move |req| {
                    let answer = handle(&metrics, rtmp.as_ref(), &req);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10));
                if let Err(e) = builder
                    .serve_connection(TokioIo::new(socket), service)
                    .await
                {
                    debug!(%peer, error = %e, "metrics connection ended with an error");
                }
            });
        }
        tasks.shutdown().await;
        Ok(())
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json(status: StatusCode, value: &impl Serialize) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => answer(status, "application/json", body),
        Err(e) => {
            warn!(error = %e, "cannot write JSON");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "")
        }
    }
}

#[derive(Serialize)]
struct Streams {
    streams: Vec<StreamInfo>,
}

#[derive(Serialize)]
struct Dropped<'a> {
    dropped: bool,
    app: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct Failure<'a> {
    error: &'a str,
}

const PUBLISHERS: &str = "/api/publishers/";

fn handle(metrics: &Metrics, rtmp: Option<&RtmpControl>, req: &Request<Incoming>) -> Resp {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/metrics") => answer(
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            metrics.encode(),
        ),
        (&Method::GET | &Method::HEAD, "/api/streams") => json(
            StatusCode::OK,
            &Streams {
                streams: metrics.streams(),
            },
        ),
        (&Method::DELETE, p) if p.starts_with(PUBLISHERS) => {
            drop_publisher(rtmp, &p[PUBLISHERS.len()..])
        }
        (_, "/metrics" | "/api/streams") => {
            let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        _ => json(StatusCode::NOT_FOUND, &Failure { error: "not found" }),
    }
}

/// `APP/NAME` (the app may hold slashes, as on the origin), percent-decoded.
fn stream_path(path: &str) -> Option<(String, String)> {
    let (app, name) = path.rsplit_once('/')?;
    let decode = onair_hls_packager::percent_decode;
    let (app, name) = (decode(app)?, decode(name)?);
    (!app.is_empty() && !name.is_empty() && !name.contains('/')).then_some((app, name))
}

fn drop_publisher(rtmp: Option<&RtmpControl>, path: &str) -> Resp {
    let Some((app, name)) = stream_path(path) else {
        return json(
            StatusCode::NOT_FOUND,
            &Failure {
                error: "expected /api/publishers/APP/NAME",
            },
        );
    };
    let Some(rtmp) = rtmp else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Failure {
                error: "no RTMP server attached",
            },
        );
    };
    if rtmp.drop_publisher(&app, &name) {
        info!(%app, %name, "publisher dropped through the API");
        json(
            StatusCode::OK,
            &Dropped {
                dropped: true,
                app: &app,
                name: &name,
            },
        )
    } else {
        json(
            StatusCode::NOT_FOUND,
            &Failure {
                error: "nobody publishes this stream",
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_paths_split_app_and_name() {
        assert_eq!(
            stream_path("live/studio"),
            Some(("live".into(), "studio".into()))
        );
        assert_eq!(
            stream_path("app/inst/my%20cam"),
            Some(("app/inst".into(), "my cam".into()))
        );
        assert_eq!(stream_path("studio"), None);
        assert_eq!(stream_path("live/"), None);
        assert_eq!(stream_path("/studio"), None);
        assert_eq!(stream_path("live/a%2Fb"), None, "a name has no slash");
        assert_eq!(stream_path("live/%zz"), None);
    }
}
