//! The RTMP server: accept loop, per-connection tasks, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_rtmp_proto::ServerSessionConfig;
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::connection;
use super::control::RtmpControl;
use super::handler::RtmpHandler;
use super::queue::QueueLimits;
use super::registry::{Registry, WaitLimits};
use super::tap::StreamTap;
use crate::metrics::{GaugeGuard, Metrics};
use crate::tls::ServerTls;

/// How an [`RtmpServer`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RtmpServerConfig {
    /// Protocol limits and settings of every connection.
    pub session: ServerSessionConfig,
    /// Record each published stream to `DIR/APP/NAME.flv` when set, NAME being the public
    /// name its handler gave it (never the key).
    pub record_dir: Option<PathBuf>,
    /// Bounds of each player's queue.
    pub queue: QueueLimits,
    /// A connection that is not playing and sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// On shutdown, how long connections get to close and recordings to be finalized.
    pub shutdown_grace: Duration,
    /// Connections beyond this many are refused at once.
    pub max_connections: usize,
    /// `SO_SNDBUF` of every connection (None: the system's autotuning). A small buffer makes
    /// a slow player's backlog show in its queue sooner instead of in the kernel.
    pub send_buffer_size: Option<u32>,
    /// Players of a name nobody publishes are accepted (`NetStream.Play.Start`) and wait for a
    /// publisher, as nginx-rtmp's `idle_streams on` (its default). Players also stay when their
    /// publisher leaves, and are attached again when the name is published again. With `false`
    /// a name without publisher gets `NetStream.Play.StreamNotFound`.
    pub idle_streams: bool,
    /// Most players waiting for a publisher on one name (beyond: `StreamNotFound`). Every
    /// player of an unpublished name counts, including those its last publisher left.
    pub max_waiting_players_per_stream: usize,
    /// Most players waiting for a publisher on all names together.
    pub max_waiting_players: usize,
    /// When a publisher leaves, its players get `NetStream.Play.UnpublishNotify` and Stream EOF;
    /// when one starts, Stream Begin, `NetStream.Play.Start` and `NetStream.Play.PublishNotify`
    /// (nginx-rtmp's `publish_notify` and `play_restart` on). With `false` they get Stream
    /// EOF / Stream Begin only (nginx-rtmp's defaults): ffmpeg and librtmp players stop at
    /// UnpublishNotify, but keep playing across a republish without it.
    pub publish_notify: bool,
}

impl Default for RtmpServerConfig {
    fn default() -> Self {
        Self {
            // The session refuses invalid names (`onair_rtmp_proto::validate_name`) and over-long
            // ones with NetStream.Publish.BadName. 128 bytes keep `NAME-NNNN.flv` well within
            // the file-name limit of common file systems, and URLs short.
            session: ServerSessionConfig {
                max_name_length: 128,
                ..ServerSessionConfig::default()
            },
            record_dir: None,
            queue: QueueLimits::default(),
            idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 1024,
            send_buffer_size: None,
            idle_streams: true,
            max_waiting_players_per_stream: 64,
            max_waiting_players: 512,
            publish_notify: true,
        }
    }
}

impl RtmpServerConfig {
    /// The defaults, recording into `dir`.
    pub fn with_record_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.record_dir = Some(dir.into());
        self
    }
}

/// What every connection task shares.
pub(crate) struct Shared<H> {
    pub(crate) config: RtmpServerConfig,
    pub(crate) handler: H,
    pub(crate) registry: Arc<Registry>,
    pub(crate) started: Instant,
    pub(crate) taps: Vec<Arc<dyn StreamTap>>,
    pub(crate) metrics: Metrics,
}

impl<H: std::fmt::Debug> std::fmt::Debug for Shared<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("handler", &self.handler)
            .field("registry", &self.registry)
            .field("taps", &self.taps.len())
            .finish_non_exhaustive()
    }
}

/// A tokio RTMP server: publishers on `rtmp://HOST:PORT/APP/KEY`, players of live streams,
/// optional recording. See `examples/server.rs`.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};
/// let server = RtmpServer::bind("127.0.0.1:1935", RtmpServerConfig::default(), AcceptAll).await?;
/// server.run_until(onair::rtmp::shutdown_signal()).await
/// # }
/// ```
pub struct RtmpServer<H> {
    listener: TcpListener,
    /// The RTMPS listener and its TLS acceptor.
    tls_listener: Option<(TcpListener, TlsAcceptor)>,
    shared: Arc<Shared<H>>,
    pending_taps: Vec<Arc<dyn StreamTap>>,
    pending_metrics: Option<Metrics>,
}

impl<H: std::fmt::Debug> std::fmt::Debug for RtmpServer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmpServer")
            .field("listener", &self.listener)
            .field("rtmps", &self.tls_listener.as_ref().map(|(l, _)| l))
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// A TLS handshake that takes longer than this is given up (and its connection closed).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts on the listener if there is one; never completes otherwise.
async fn accept_on(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

impl<H: RtmpHandler> RtmpServer<H> {
    /// Binds the listening socket.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: RtmpServerConfig,
        handler: H,
    ) -> io::Result<Self> {
        let listener = listen(addr, config.send_buffer_size).await?;
        let limits = WaitLimits {
            idle_streams: config.idle_streams,
            per_stream: config.max_waiting_players_per_stream,
            total: config.max_waiting_players,
        };
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                handler,
                registry: Arc::new(Registry::new(limits)),
                started: Instant::now(),
                taps: Vec::new(),
                metrics: Metrics::new(),
            }),
            tls_listener: None,
            pending_taps: Vec::new(),
            pending_metrics: None,
        })
    }

    /// Also listens for RTMPS (RTMP over TLS, `rtmps://HOST:PORT/APP/KEY`) on `addr`,
    /// presenting `tls`'s certificate (reloadable: see [`ServerTls`]). Its connections join
    /// the same streams as the plain ones: publish over RTMPS, play over RTMP, or the other
    /// way round.
    pub async fn with_rtmps(
        mut self,
        addr: impl ToSocketAddrs,
        tls: &ServerTls,
    ) -> io::Result<Self> {
        let acceptor = tls.acceptor(&[]).map_err(io::Error::other)?;
        let listener = listen(addr, self.shared.config.send_buffer_size).await?;
        self.tls_listener = Some((listener, acceptor));
        Ok(self)
    }

    /// Counts into `metrics` (connections, publishers, players, bytes, each stream's ingest;
    /// see [`crate::metrics`]) instead of a registry of its own.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.pending_metrics = Some(metrics);
        self
    }

    /// A handle to act on this server's streams while it runs (drop a publisher).
    pub fn control(&self) -> RtmpControl {
        RtmpControl::new(self.shared.registry.clone())
    }

    /// The RTMPS address actually bound, if [`with_rtmps`](Self::with_rtmps) was called.
    pub fn rtmps_addr(&self) -> Option<io::Result<SocketAddr>> {
        self.tls_listener.as_ref().map(|(l, _)| l.local_addr())
    }

    /// Adds a tap: it is told of every stream published from now on and receives its media
    /// (see [`StreamTap`]), e.g. an [`HlsOrigin`](crate::hls::HlsOrigin).
    pub fn with_tap(mut self, tap: Arc<dyn StreamTap>) -> Self {
        self.pending_taps.push(tap);
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, closes every connection and
    /// waits (up to `shutdown_grace`) until recordings are finalized.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        if !self.pending_taps.is_empty() || self.pending_metrics.is_some() {
            // Nothing shares `shared` before the first connection: the taps join it here.
            match Arc::get_mut(&mut self.shared) {
                Some(shared) => {
                    shared.taps.append(&mut self.pending_taps);
                    if let Some(metrics) = self.pending_metrics.take() {
                        shared.metrics = metrics;
                    }
                }
                None => warn!("taps and metrics added after the server started are ignored"),
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut next_id = 0u64;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => {
                    let Some((socket, peer)) = self.admit(accepted, tasks.len()).await else {
                        continue;
                    };
                    next_id += 1;
                    let counted = GaugeGuard::new(&self.shared.metrics.rtmp().connections);
                    let serve = connection::serve(
                        self.shared.clone(),
                        socket,
                        peer,
                        next_id,
                        stop_rx.clone(),
                    );
                    tasks.spawn(async move {
                        serve.await;
                        drop(counted);
                    });
                }
                accepted = accept_on(self.tls_listener.as_ref().map(|(l, _)| l)) => {
                    let Some((socket, peer)) = self.admit(accepted, tasks.len()).await else {
                        continue;
                    };
                    let Some((_, acceptor)) = &self.tls_listener else {
                        continue;
                    };
                    next_id += 1;
                    let counted = GaugeGuard::new(&self.shared.metrics.rtmp().connections);
                    let (acceptor, shared, id, stop) =
                        (acceptor.clone(), self.shared.clone(), next_id, stop_rx.clone());
                    tasks.spawn(async move {
                        let handshake =
                            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket));
                        match handshake.await {
                            Ok(Ok(stream)) => {
                                connection::serve(shared, stream, peer, id, stop).await
                            }
                            Ok(Err(e)) => debug!(%peer, error = %e, "RTMPS handshake failed"),
                            Err(_) => debug!(%peer, "RTMPS handshake timed out"),
                        }
                        drop(counted);
                    });
                }
            }
        }
        drop(self.listener);
        drop(self.tls_listener);
        info!(connections = tasks.len(), "shutting down");
        let _ = stop_tx.send(true);
        let grace = self.shared.config.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!(
                remaining = tasks.len(),
                "connections did not close in time, aborting them"
            );
            tasks.shutdown().await;
        }
        info!("stopped");
        Ok(())
    }
}

impl<H> RtmpServer<H> {
    /// An accepted socket, unless the connection limit is reached or accepting failed (then
    /// after a pause: e.g. out of file descriptors, back off instead of spinning).
    async fn admit(
        &self,
        accepted: io::Result<(TcpStream, SocketAddr)>,
        open: usize,
    ) -> Option<(TcpStream, SocketAddr)> {
        match accepted {
            Ok((socket, peer)) => {
                if open >= self.shared.config.max_connections {
                    warn!(%peer, "too many connections, refusing");
                    return None;
                }
                let _ = socket.set_nodelay(true);
                Some((socket, peer))
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                None
            }
        }
    }
}

/// A listening socket on `addr`, with `SO_SNDBUF` of `send_buffer_size` when given.
async fn listen(
    addr: impl ToSocketAddrs,
    send_buffer_size: Option<u32>,
) -> io::Result<TcpListener> {
    let Some(size) = send_buffer_size else {
        return TcpListener::bind(addr).await;
    };
    let addr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    // accepted sockets inherit the listener's buffer sizes
    socket.set_send_buffer_size(size)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
