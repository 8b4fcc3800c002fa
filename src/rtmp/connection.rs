//! One task per TCP connection, driving a sans-IO `ServerSession`: socket bytes in, events to
//! the registry and recorder, player queues out. Buffers live as long as the connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use onair_rtmp_proto::{
    MessageStreamId, RequestId, ServerEvent, ServerSession, SessionError, StreamKey, StreamName,
};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

use super::handler::{PlayRequest, PublishRequest, RtmpHandler};
use super::names::{validate_app, validate_name};
use super::packet::{MediaPacket, MetadataProps, Packet};
use super::queue::{PlayerSlot, PopOutcome};
use super::recorder::Recorder;
use super::registry::{Publication, SubscribeError, Subscription};
use super::server::Shared;
use super::tap::{TapMedia, TapSink};
use super::timeline::PlayerTimeline;

/// Stop pulling from player queues while this much is waiting to be written.
const HIGH_WATER: usize = 256 * 1024;
const READ_CHUNK: usize = 64 * 1024;

struct Publishing {
    app: String,
    name: StreamName,
    publication: Publication,
    recorder: Option<Recorder>,
    /// In a `Mutex` only so that `Publishing` is `Sync` (the connection is borrowed across
    /// awaits) without asking that of every sink; reached through `get_mut`, never locked.
    sinks: Vec<std::sync::Mutex<Box<dyn TapSink>>>,
}

fn sink_mut(sink: &mut std::sync::Mutex<Box<dyn TapSink>>) -> &mut dyn TapSink {
    sink.get_mut().unwrap_or_else(|e| e.into_inner()).as_mut()
}

struct Playing {
    stream_id: MessageStreamId,
    slot: Arc<PlayerSlot>,
    timeline: PlayerTimeline,
    _subscription: Subscription,
}

struct Connection<H: RtmpHandler> {
    id: u64,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    session: ServerSession,
    notify: Arc<Notify>,
    publishing: HashMap<u32, Publishing>,
    playing: HashMap<u32, Playing>,
}

#[derive(Debug)]
enum Exit {
    PeerClosed,
    Shutdown,
    Idle,
    SlowPlayer,
    Io(std::io::Error),
    Protocol(String),
    /// The session refused a name (it already told the peer with an onStatus).
    BadName(String),
}

fn session_exit(e: onair_rtmp_proto::Error) -> Exit {
    match e {
        onair_rtmp_proto::Error::Session(SessionError::InvalidName(_)) => {
            Exit::BadName(e.to_string())
        }
        e => Exit::Protocol(e.to_string()),
    }
}

/// Serves one connection until the peer leaves, the session fails or the server shuts down.
/// Recordings of streams published here are finalized before this returns.
pub(crate) async fn serve<H: RtmpHandler>(
    shared: Arc<Shared<H>>,
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut random = [0u8; 1528];
    rand::thread_rng().fill_bytes(&mut random);
    // RTMP's epoch is a 32-bit millisecond counter that wraps: truncation is intended.
    let epoch = shared.started.elapsed().as_millis() as u32;
    let session = ServerSession::new(shared.config.session.clone(), epoch, &random);
    let _ = socket.set_nodelay(true);
    let mut conn = Connection {
        id,
        peer,
        shared,
        session,
        notify: Arc::new(Notify::new()),
        publishing: HashMap::new(),
        playing: HashMap::new(),
    };
    debug!(conn = id, %peer, "connection accepted");

    let (mut rd, mut wr) = socket.into_split();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let idle_timeout = conn.shared.config.idle_timeout;
    let mut last_input = Instant::now();
    let notify = conn.notify.clone();

    let exit = loop {
        if out.len() + conn.session.bytes_pending() < HIGH_WATER && !conn.playing.is_empty() {
            if let Err(e) = conn.drain_players() {
                break e;
            }
        }
        conn.session.poll_transmit(&mut out);
        let deadline = tokio::time::Instant::from_std(last_input + idle_timeout);
        let playing = !conn.playing.is_empty();
        tokio::select! {
            biased;
            _ = shutdown.changed() => break Exit::Shutdown,
            r = rd.read_buf(&mut inbuf) => {
                match r {
                    Ok(0) => break Exit::PeerClosed,
                    Ok(_) => {
                        last_input = Instant::now();
                        let result = conn.session.handle_input(&inbuf);
                        inbuf.clear();
                        if inbuf.capacity() < READ_CHUNK {
                            inbuf.reserve(READ_CHUNK);
                        }
                        // Events raised before an error still count (e.g. the last media).
                        conn.process_events().await;
                        if let Err(e) = result {
                            break session_exit(e);
                        }
                    }
                    Err(e) => break Exit::Io(e),
                }
            }
            r = wr.write_buf(&mut out), if !out.is_empty() => {
                if let Err(e) = r {
                    break Exit::Io(e);
                }
            }
            _ = notify.notified(), if playing && out.len() < HIGH_WATER => {}
            _ = tokio::time::sleep_until(deadline), if !playing => break Exit::Idle,
        }
    };

    if matches!(exit, Exit::Shutdown) {
        // What the peer sent before the shutdown still belongs in the recording.
        drain_received(&mut conn, &rd, &mut inbuf).await;
    }
    match &exit {
        Exit::PeerClosed | Exit::Shutdown => {
            debug!(conn = id, %peer, reason = ?exit, "connection closing")
        }
        Exit::Idle => info!(conn = id, %peer, "closing idle connection"),
        Exit::SlowPlayer => warn!(conn = id, %peer, "closing a player that stayed behind"),
        Exit::Io(e) => debug!(conn = id, %peer, error = %e, "connection i/o error"),
        Exit::BadName(e) => info!(conn = id, %peer, error = %e, "closing connection: refused name"),
        Exit::Protocol(e) => {
            warn!(conn = id, %peer, error = %e, "closing connection on protocol error")
        }
    }
    conn.close().await;
    // Best effort: the last onStatus / _error, briefly.
    conn.session.poll_transmit(&mut out);
    if !out.is_empty() && !matches!(exit, Exit::Io(_)) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), wr.write_all(&out)).await;
    }
    let _ = wr.shutdown().await;
}

/// Feeds the session whatever has already arrived, without waiting for more.
async fn drain_received<H: RtmpHandler>(
    conn: &mut Connection<H>,
    rd: &tokio::net::tcp::OwnedReadHalf,
    inbuf: &mut BytesMut,
) {
    loop {
        inbuf.clear();
        inbuf.reserve(READ_CHUNK);
        match rd.try_read_buf(inbuf) {
            Ok(n) if n > 0 => {
                let result = conn.session.handle_input(inbuf);
                conn.process_events().await;
                if result.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

impl<H: RtmpHandler> Connection<H> {
    async fn process_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Connected { app, tc_url, .. } => {
                    debug!(conn = self.id, %app, tc_url = tc_url.as_deref().unwrap_or(""), "connected");
                }
                ServerEvent::PublishRequested {
                    request,
                    stream_id,
                    app,
                    key,
                    query,
                    publish_type,
                } => {
                    self.on_publish(request, stream_id, app, key, query.as_ref(), &publish_type);
                }
                ServerEvent::PlayRequested {
                    request,
                    stream_id,
                    app,
                    name,
                    query,
                } => self.on_play(request, stream_id, app, name, query.as_ref()),
                ServerEvent::Metadata {
                    stream_id,
                    metadata,
                } => {
                    if let Some(p) = self.publishing.get_mut(&stream_id.0) {
                        for sink in &mut p.sinks {
                            sink_mut(sink).metadata(&metadata.properties);
                        }
                        let props: MetadataProps = Arc::new(metadata.properties);
                        p.publication.metadata(props.clone());
                        if let Some(r) = &p.recorder {
                            r.metadata(props).await;
                        }
                    }
                }
                ServerEvent::Video {
                    stream_id,
                    timestamp_ms,
                    data,
                } => {
                    if let Some(p) = self.publishing.get_mut(&stream_id.0) {
                        for sink in &mut p.sinks {
                            sink_mut(sink).media(TapMedia::Video, timestamp_ms, &data);
                        }
                        let packet = MediaPacket::video(timestamp_ms, data);
                        p.publication.media(packet.clone());
                        if let Some(r) = &p.recorder {
                            r.media(packet).await;
                        }
                    }
                }
                ServerEvent::Audio {
                    stream_id,
                    timestamp_ms,
                    data,
                } => {
                    if let Some(p) = self.publishing.get_mut(&stream_id.0) {
                        for sink in &mut p.sinks {
                            sink_mut(sink).media(TapMedia::Audio, timestamp_ms, &data);
                        }
                        let packet = MediaPacket::audio(timestamp_ms, data);
                        p.publication.media(packet.clone());
                        if let Some(r) = &p.recorder {
                            r.media(packet).await;
                        }
                    }
                }
                ServerEvent::PublishEnded { stream_id } => {
                    if let Some(p) = self.publishing.remove(&stream_id.0) {
                        self.end_publishing(p).await;
                    }
                }
                ServerEvent::PlayEnded { stream_id } if self.playing.contains_key(&stream_id.0) => {
                    self.playing.remove(&stream_id.0);
                    debug!(conn = self.id, "player stopped");
                }
                _ => {}
            }
        }
    }

    fn on_publish(
        &mut self,
        request: RequestId,
        stream_id: MessageStreamId,
        app: String,
        key: StreamKey,
        query: Option<&onair_rtmp_proto::QueryString>,
        publish_type: &str,
    ) {
        if let Err(e) = validate_app(&app).and_then(|()| validate_name(key.as_str())) {
            info!(conn = self.id, %app, error = %e, "publish refused: invalid name");
            self.reject(request, "invalid stream name");
            return;
        }
        let req = PublishRequest {
            peer: self.peer,
            app: &app,
            key: &key,
            query,
            publish_type,
        };
        let name = match self.shared.handler.on_publish(&req) {
            Ok(name) => name,
            Err(rejection) => {
                info!(conn = self.id, %app, "publish refused by the application");
                self.reject(request, &rejection.description);
                return;
            }
        };
        let publication = match self.shared.registry.publish(&app, name.as_str(), self.id) {
            Ok(p) => p,
            Err(_) => {
                info!(conn = self.id, %app, name = %name, "publish refused: already publishing");
                self.reject(request, "Already publishing");
                return;
            }
        };
        let recorder = match &self.shared.config.record_dir {
            Some(dir) => match Recorder::start(dir, &app, key.as_str()) {
                Ok(r) => Some(r),
                Err(super::recorder::RecordError::Name(e)) => {
                    info!(conn = self.id, %app, error = %e, "publish refused: name unusable for recording");
                    drop(publication);
                    self.reject(request, "invalid stream name");
                    return;
                }
                Err(e) => {
                    error!(conn = self.id, %app, error = %e, "cannot record, publishing without recording");
                    None
                }
            },
            None => None,
        };
        if let Err(e) = self.session.accept(request) {
            warn!(conn = self.id, error = %e, "accepting publish failed");
            return;
        }
        info!(conn = self.id, peer = %self.peer, %app, name = %name,
            recording = ?recorder.as_ref().map(|r| r.path().display().to_string()), "publishing");
        let sinks = self
            .shared
            .taps
            .iter()
            .filter_map(|tap| tap.on_publish(&app, &name))
            .map(std::sync::Mutex::new)
            .collect();
        self.publishing.insert(
            stream_id.0,
            Publishing {
                app,
                name,
                publication,
                recorder,
                sinks,
            },
        );
    }

    fn on_play(
        &mut self,
        request: RequestId,
        stream_id: MessageStreamId,
        app: String,
        name: StreamName,
        query: Option<&onair_rtmp_proto::QueryString>,
    ) {
        let req = PlayRequest {
            peer: self.peer,
            app: &app,
            name: &name,
            query,
            published: self.shared.registry.is_published(&app, name.as_str()),
        };
        if let Err(rejection) = self.shared.handler.on_play(&req) {
            info!(conn = self.id, %app, name = %name, "play refused by the application");
            self.reject(request, &rejection.description);
            return;
        }
        let slot = Arc::new(PlayerSlot::new(
            self.shared.config.queue.clone(),
            self.notify.clone(),
        ));
        let subscription =
            match self
                .shared
                .registry
                .subscribe(&app, name.as_str(), self.id, slot.clone())
            {
                Ok(s) => s,
                Err(e) => {
                    let description = match e {
                        SubscribeError::NotPublished => "No such stream",
                        SubscribeError::TooManyWaiting => "Too many players waiting",
                    };
                    info!(conn = self.id, %app, name = %name, reason = description, "play refused");
                    self.reject(request, description);
                    return;
                }
            };
        // Packets queued meanwhile are sent only once the player is in `playing`, after this.
        if let Err(e) = self.session.accept(request) {
            warn!(conn = self.id, error = %e, "accepting play failed");
            return;
        }
        info!(conn = self.id, peer = %self.peer, %app, name = %name, published = req.published, "playing");
        self.playing.insert(
            stream_id.0,
            Playing {
                stream_id,
                slot,
                timeline: PlayerTimeline::default(),
                _subscription: subscription,
            },
        );
    }

    fn reject(&mut self, request: RequestId, description: &str) {
        if let Err(e) = self.session.reject(request, description) {
            debug!(conn = self.id, error = %e, "rejecting failed");
        }
    }

    /// Moves queued packets into the session until enough is waiting to be written.
    fn drain_players(&mut self) -> Result<(), Exit> {
        for p in self.playing.values_mut() {
            while self.session.bytes_pending() < HIGH_WATER {
                let result = match p.slot.pop() {
                    PopOutcome::Empty => break,
                    PopOutcome::Disconnected => return Err(Exit::SlowPlayer),
                    PopOutcome::Packet(Packet::Metadata(props)) => {
                        self.session.send_metadata(p.stream_id, &props)
                    }
                    PopOutcome::Packet(Packet::Media(m)) => {
                        let ts = p.timeline.map(m.timestamp_ms);
                        match m.media {
                            super::packet::MediaType::Video => {
                                self.session.send_video(p.stream_id, ts, &m.data)
                            }
                            super::packet::MediaType::Audio => {
                                self.session.send_audio(p.stream_id, ts, &m.data)
                            }
                        }
                    }
                    PopOutcome::Packet(Packet::End) => {
                        debug!(
                            conn = self.id,
                            skips = p.slot.skipped_total(),
                            "stream ended for player, it waits for the next publisher"
                        );
                        if self.shared.config.publish_notify {
                            self.session.end_play(p.stream_id)
                        } else {
                            self.session.send_stream_eof(p.stream_id)
                        }
                    }
                    PopOutcome::Packet(Packet::Begin) => {
                        debug!(conn = self.id, "stream published, player attached");
                        p.timeline.restart();
                        if self.shared.config.publish_notify {
                            self.session.notify_publish(p.stream_id)
                        } else {
                            self.session.send_stream_begin(p.stream_id)
                        }
                    }
                };
                if let Err(e) = result {
                    return Err(Exit::Protocol(e.to_string()));
                }
            }
        }
        Ok(())
    }

    async fn end_publishing(&self, p: Publishing) {
        let Publishing {
            app,
            name,
            publication,
            recorder,
            mut sinks,
        } = p;
        drop(publication);
        for sink in &mut sinks {
            sink_mut(sink).end();
        }
        drop(sinks);
        self.shared.handler.on_unpublish(&app, &name);
        info!(conn = self.id, %app, name = %name, "publish ended");
        if let Some(r) = recorder {
            match r.finish().await {
                Ok(summary) => info!(
                    path = %summary.path.display(),
                    tags = summary.tags,
                    duration_ms = summary.duration_ms,
                    "recording complete"
                ),
                Err(e) => error!(error = %e, "recording failed"),
            }
        }
    }

    async fn close(&mut self) {
        self.playing.clear();
        let publishing: Vec<Publishing> = self.publishing.drain().map(|(_, p)| p).collect();
        for p in publishing {
            self.end_publishing(p).await;
        }
    }
}
