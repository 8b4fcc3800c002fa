//! The RTMP server: accept loop, per-connection tasks, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_rtmp_proto::ServerSessionConfig;
use tokio::net::{TcpListener, TcpSocket, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::connection;
use super::handler::RtmpHandler;
use super::queue::QueueLimits;
use super::registry::{Registry, WaitLimits};
use super::tap::StreamTap;

/// How an [`RtmpServer`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RtmpServerConfig {
    /// Protocol limits and settings of every connection.
    pub session: ServerSessionConfig,
    /// Record each published stream to `DIR/APP/KEY.flv` when set.
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
            // ones with NetStream.Publish.BadName. 128 bytes keep `KEY-NNNN.flv` well within
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
    shared: Arc<Shared<H>>,
    pending_taps: Vec<Arc<dyn StreamTap>>,
}

impl<H: std::fmt::Debug> std::fmt::Debug for RtmpServer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmpServer")
            .field("listener", &self.listener)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<H: RtmpHandler> RtmpServer<H> {
    /// Binds the listening socket.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: RtmpServerConfig,
        handler: H,
    ) -> io::Result<Self> {
        let listener = match config.send_buffer_size {
            None => TcpListener::bind(addr).await?,
            Some(size) => {
                let addr = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")
                })?;
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.set_reuseaddr(true)?;
                // accepted sockets inherit the listener's buffer sizes
                socket.set_send_buffer_size(size)?;
                socket.bind(addr)?;
                socket.listen(1024)?
            }
        };
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
            }),
            pending_taps: Vec::new(),
        })
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
        if !self.pending_taps.is_empty() {
            // Nothing shares `shared` before the first connection: the taps join it here.
            match Arc::get_mut(&mut self.shared) {
                Some(shared) => shared.taps.append(&mut self.pending_taps),
                None => warn!("taps added after the server started are ignored"),
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
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        if tasks.len() >= self.shared.config.max_connections {
                            warn!(%peer, "too many connections, refusing");
                            continue;
                        }
                        next_id += 1;
                        tasks.spawn(connection::serve(
                            self.shared.clone(),
                            socket,
                            peer,
                            next_id,
                            stop_rx.clone(),
                        ));
                    }
                    Err(e) => {
                        // e.g. out of file descriptors: back off instead of spinning
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self.listener);
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
