//! One task per TCP connection, driving a sans-IO `ServerSession`: socket bytes in, events to
//! the registry and recorder, player queues out. Buffers live as long as the connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use onair_rtmp_proto::{
    MessageStreamId, NameError, QueryString, RequestId, ServerEvent, ServerSession, SessionError,
    StreamKey, StreamName,
};
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

use super::handler::{PlayRequest, PublishDone, PublishRequest, Rejection, RtmpHandler};
use super::packet::{MediaPacket, MediaType, Packet};
use super::publication::{Publication, PublishedStream, StreamOptions};
use super::queue::{PlayerSlot, PopOutcome};
use super::recorder::{RecordError, Recorder};
use super::registry::{Publication as Fanout, PublisherLink, SubscribeError, Subscription};
use super::server::Shared;
use super::tap::{TapMedia, TapSink};
use super::timeline::PlayerTimeline;
use crate::metrics::{GaugeGuard, IngestMeter, StreamHandle};

/// Stop pulling from player queues while this much is waiting to be written.
const HIGH_WATER: usize = 256 * 1024;
/// Room reserved in the session's input buffer before each read (the most one read takes in).
const READ_CHUNK: usize = 64 * 1024;

struct Publishing {
    app: String,
    name: StreamName,
    options: StreamOptions,
    /// Who published with which key, for `on_publish_done`.
    publisher: Publisher,
    started: Instant,
    fanout: Fanout,
    recorder: Option<Recorder>,
    /// In a `Mutex` only so that `Publishing` is `Sync` (the connection is borrowed across
    /// awaits) without asking that of every sink; reached through `get_mut`, never locked.
    sinks: Vec<std::sync::Mutex<Box<dyn TapSink>>>,
    ingest: IngestMeter,
    /// The stream's series live as long as its publication.
    _stream: StreamHandle,
    _counted: GaugeGuard,
}

fn sink_mut(sink: &mut std::sync::Mutex<Box<dyn TapSink>>) -> &mut dyn TapSink {
    sink.get_mut().unwrap_or_else(|e| e.into_inner()).as_mut()
}

/// A publisher as it asked: kept for the handler's `on_publish_done`, never logged.
struct Publisher {
    key: StreamKey,
    query: Option<QueryString>,
}

/// The handler's answer to a request, with what the connection needs to act on it.
enum Decision {
    Publish {
        request: RequestId,
        stream_id: MessageStreamId,
        app: String,
        publisher: Publisher,
        verdict: Result<Publication, Rejection>,
    },
    Play {
        request: RequestId,
        stream_id: MessageStreamId,
        app: String,
        name: StreamName,
        published: bool,
        verdict: Result<(), Rejection>,
    },
}

struct Playing {
    stream_id: MessageStreamId,
    slot: Arc<PlayerSlot>,
    timeline: PlayerTimeline,
    _subscription: Subscription,
    _counted: GaugeGuard,
}

struct Connection<H: RtmpHandler> {
    id: u64,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    session: ServerSession,
    notify: Arc<Notify>,
    /// Notified when an operator drops a stream this connection publishes.
    kick: Arc<Notify>,
    publishing: HashMap<u32, Publishing>,
    playing: HashMap<u32, Playing>,
    /// The handler's decisions still to come; dropped (cancelled) with the connection.
    decisions: Decisions,
}

/// In a `Mutex` only so that `Connection` is `Sync` (it is borrowed across awaits) without
/// asking that of the handler's futures; reached through `get_mut`, never locked.
type Decisions = std::sync::Mutex<FuturesUnordered<BoxFuture<'static, Decision>>>;

fn decisions_mut(decisions: &mut Decisions) -> &mut FuturesUnordered<BoxFuture<'static, Decision>> {
    decisions.get_mut().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
enum Exit {
    PeerClosed,
    Shutdown,
    /// An operator dropped the publisher.
    Dropped,
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

/// Why the runtime refused a publish or play request.
#[derive(Debug)]
enum Refusal {
    /// The application's handler refused.
    Handler(Rejection),
    /// Somebody publishes the name already.
    AlreadyPublishing(StreamName),
    /// The key can't be the name of a recording file.
    Unrecordable(NameError),
    /// The player can't subscribe to the name.
    Subscribe(SubscribeError),
}

impl Refusal {
    /// What the peer is told, in the error `onStatus`.
    fn description(&self) -> &str {
        match self {
            Refusal::Handler(rejection) => &rejection.description,
            Refusal::AlreadyPublishing(_) => "Already publishing",
            Refusal::Unrecordable(_) => "invalid stream name",
            Refusal::Subscribe(SubscribeError::NotPublished) => "No such stream",
            Refusal::Subscribe(SubscribeError::TooManyWaiting) => "Too many players waiting",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Handler(_) => f.write_str("refused by the application"),
            Refusal::AlreadyPublishing(name) => write!(f, "{name} is published already"),
            Refusal::Unrecordable(e) => write!(f, "name unusable for recording: {e}"),
            Refusal::Subscribe(_) => f.write_str(self.description()),
        }
    }
}

/// Serves one connection until the peer leaves, the session fails or the server shuts down.
/// Recordings of streams published here are finalized before this returns.
pub(crate) async fn serve<H: RtmpHandler, S>(
    shared: Arc<Shared<H>>,
    socket: S,
    peer: SocketAddr,
    id: u64,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut random = [0u8; 1528];
    rand::thread_rng().fill_bytes(&mut random);
    // RTMP's epoch is a 32-bit millisecond counter that wraps: truncation is intended.
    let epoch = shared.started.elapsed().as_millis() as u32;
    let session = ServerSession::new(shared.config.session.clone(), epoch, &random);
    let mut conn = Connection {
        id,
        peer,
        shared,
        session,
        notify: Arc::new(Notify::new()),
        kick: Arc::new(Notify::new()),
        publishing: HashMap::new(),
        playing: HashMap::new(),
        decisions: Decisions::default(),
    };
    debug!(conn = id, %peer, "connection accepted");

    let (mut rd, mut wr) = tokio::io::split(socket);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let idle_timeout = conn.shared.config.idle_timeout;
    let mut last_input = Instant::now();
    let notify = conn.notify.clone();
    let kick = conn.kick.clone();
    let counts = conn.shared.metrics.rtmp().clone();

    let exit = loop {
        if out.len() + conn.session.bytes_pending() < HIGH_WATER && !conn.playing.is_empty() {
            if let Err(e) = conn.drain_players() {
                break e;
            }
        }
        conn.session.poll_transmit(&mut out);
        let deadline = tokio::time::Instant::from_std(last_input + idle_timeout);
        let playing = !conn.playing.is_empty();
        let input = conn.session.input_buffer();
        input.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            _ = shutdown.changed() => break Exit::Shutdown,
            _ = kick.notified() => break Exit::Dropped,
            r = rd.read_buf(input) => {
                match r {
                    Ok(0) => break Exit::PeerClosed,
                    Ok(n) => {
                        counts.received_bytes.inc_by(n as u64);
                        last_input = Instant::now();
                        if let Err(e) = conn.take_input().await {
                            break session_exit(e);
                        }
                    }
                    Err(e) => break Exit::Io(e),
                }
            }
            r = wr.write_buf(&mut out), if !out.is_empty() => {
                match r {
                    Ok(n) => {
                        counts.sent_bytes.inc_by(n as u64);
                    }
                    Err(e) => break Exit::Io(e),
                }
            }
            Some(decision) = decisions_mut(&mut conn.decisions).next(),
                if !decisions_mut(&mut conn.decisions).is_empty() => {
                conn.decide(decision).await;
            }
            _ = notify.notified(), if playing && out.len() < HIGH_WATER => {}
            _ = tokio::time::sleep_until(deadline), if !playing => break Exit::Idle,
        }
    };

    if matches!(exit, Exit::Shutdown) {
        // What the peer sent before the shutdown still belongs in the recording.
        drain_received(&mut conn, &mut rd).await;
    }
    match &exit {
        Exit::PeerClosed | Exit::Shutdown => {
            debug!(conn = id, %peer, reason = ?exit, "connection closing")
        }
        Exit::Idle => info!(conn = id, %peer, "closing idle connection"),
        Exit::Dropped => info!(conn = id, %peer, "closing a dropped publisher"),
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
async fn drain_received<H: RtmpHandler, S: AsyncRead>(
    conn: &mut Connection<H>,
    rd: &mut ReadHalf<S>,
) {
    loop {
        let input = conn.session.input_buffer();
        input.reserve(READ_CHUNK);
        // Polled once: what is buffered (in the socket or the TLS layer) and nothing more.
        match rd.read_buf(input).now_or_never() {
            Some(Ok(n)) if n > 0 => {
                if conn.take_input().await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

impl<H: RtmpHandler> Connection<H> {
    /// Processes what was read into the session's input buffer, then its events. Events
    /// raised before an error still count (e.g. the last media).
    async fn take_input(&mut self) -> Result<(), onair_rtmp_proto::Error> {
        let result = self.session.process_input();
        self.process_events().await;
        result
    }

    async fn process_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            let video = matches!(event, ServerEvent::Video { .. });
            match event {
                ServerEvent::Connected { app, tc_url, .. } => {
                    // a query string in tcUrl may carry a token: not logged
                    let tc_url = tc_url.as_deref().unwrap_or("");
                    let tc_url = tc_url.split_once('?').map_or(tc_url, |(url, _)| url);
                    debug!(conn = self.id, %app, tc_url, "connected");
                }
                ServerEvent::PublishRequested {
                    request,
                    stream_id,
                    app,
                    key,
                    query,
                    publish_type,
                } => {
                    let publisher = Publisher {
                        key: key.clone(),
                        query: query.clone(),
                    };
                    let req = PublishRequest {
                        peer: self.peer,
                        app: app.clone(),
                        key,
                        query,
                        publish_type,
                    };
                    let shared = self.shared.clone();
                    decisions_mut(&mut self.decisions).push(Box::pin(async move {
                        let verdict = shared.handler.on_publish(req).await;
                        Decision::Publish {
                            request,
                            stream_id,
                            app,
                            publisher,
                            verdict,
                        }
                    }));
                }
                ServerEvent::PlayRequested {
                    request,
                    stream_id,
                    app,
                    name,
                    query,
                } => {
                    let published = self.shared.registry.is_published(&app, name.as_str());
                    let req = PlayRequest {
                        peer: self.peer,
                        app: app.clone(),
                        name: name.clone(),
                        query,
                        published,
                    };
                    let shared = self.shared.clone();
                    decisions_mut(&mut self.decisions).push(Box::pin(async move {
                        let verdict = shared.handler.on_play(req).await;
                        Decision::Play {
                            request,
                            stream_id,
                            app,
                            name,
                            published,
                            verdict,
                        }
                    }));
                }
                ServerEvent::Metadata {
                    stream_id,
                    metadata,
                } => {
                    let packet = Packet::Metadata(Arc::new(metadata.properties));
                    self.forward(stream_id, packet).await;
                }
                ServerEvent::Video {
                    stream_id,
                    timestamp_ms,
                    data,
                }
                | ServerEvent::Audio {
                    stream_id,
                    timestamp_ms,
                    data,
                } => {
                    let packet = if video {
                        MediaPacket::video(timestamp_ms, data)
                    } else {
                        MediaPacket::audio(timestamp_ms, data)
                    };
                    self.forward(stream_id, Packet::Media(packet)).await;
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

    /// Acts on the handler's answer: the request is accepted (and the stream or player set
    /// up) or refused, and what the session held back meanwhile is processed.
    async fn decide(&mut self, decision: Decision) {
        match decision {
            Decision::Publish {
                request,
                stream_id,
                app,
                publisher,
                verdict,
            } => {
                let admitted = verdict
                    .map_err(Refusal::Handler)
                    .and_then(|publication| self.admit_publisher(&app, publisher, publication));
                if let Some(mut p) = self.answer(request, "publish", &app, admitted) {
                    info!(conn = self.id, peer = %self.peer, %app, name = %p.name,
                        recording = ?p.recorder.as_ref().map(|r| r.path().display().to_string()), "publishing");
                    let stream =
                        PublishedStream::new(app, p.name.clone()).with_options(p.options.clone());
                    p.sinks = self
                        .shared
                        .taps
                        .iter()
                        .filter_map(|tap| tap.on_publish(&stream))
                        .map(std::sync::Mutex::new)
                        .collect();
                    self.publishing.insert(stream_id.0, p);
                }
            }
            Decision::Play {
                request,
                stream_id,
                app,
                name,
                published,
                verdict,
            } => {
                let admitted = verdict
                    .map_err(Refusal::Handler)
                    .and_then(|()| self.admit_player(stream_id, &app, &name));
                // Packets queued meanwhile are sent only once the player is in `playing`.
                if let Some(p) = self.answer(request, "play", &app, admitted) {
                    info!(conn = self.id, peer = %self.peer, %app, name = %name, published, "playing");
                    self.playing.insert(stream_id.0, p);
                }
            }
        }
        // an accepted publisher's early media, or a stream the peer closed meanwhile
        self.process_events().await;
    }

    /// What the registry and the recorder say to a publisher the handler accepted. Its taps
    /// are opened once it is accepted.
    fn admit_publisher(
        &self,
        app: &str,
        publisher: Publisher,
        publication: Publication,
    ) -> Result<Publishing, Refusal> {
        let Publication { name, options } = publication;
        let stream = self.shared.metrics.stream(app, name.as_str());
        let link = PublisherLink {
            kick: Some(self.kick.clone()),
            players: Some(stream.rtmp_players()),
        };
        let fanout = self
            .shared
            .registry
            .publish_linked(app, name.as_str(), self.id, link)
            .map_err(|_| Refusal::AlreadyPublishing(name.clone()))?;
        // named after the public name: the key stays out of the file system
        let recorder = match &self.shared.config.record_dir {
            Some(dir) => match Recorder::start(dir, app, name.as_str()) {
                Ok(r) => Some(r),
                Err(RecordError::Name(e)) => return Err(Refusal::Unrecordable(e)),
                Err(e) => {
                    error!(conn = self.id, %app, error = %e, "cannot record, publishing without recording");
                    None
                }
            },
            None => None,
        };
        Ok(Publishing {
            app: app.to_owned(),
            name,
            options,
            publisher,
            started: Instant::now(),
            fanout,
            recorder,
            sinks: Vec::new(),
            ingest: IngestMeter::new(&stream, Instant::now()),
            _stream: stream,
            _counted: GaugeGuard::new(&self.shared.metrics.rtmp().publishers),
        })
    }

    /// What the registry says to a player the handler accepted.
    fn admit_player(
        &self,
        stream_id: MessageStreamId,
        app: &str,
        name: &StreamName,
    ) -> Result<Playing, Refusal> {
        let slot = Arc::new(PlayerSlot::new(
            self.shared.config.queue.clone(),
            self.notify.clone(),
        ));
        let subscription = self
            .shared
            .registry
            .subscribe(app, name.as_str(), self.id, slot.clone())
            .map_err(Refusal::Subscribe)?;
        Ok(Playing {
            stream_id,
            slot,
            timeline: PlayerTimeline::default(),
            _subscription: subscription,
            _counted: GaugeGuard::new(&self.shared.metrics.rtmp().players),
        })
    }

    /// Answers a publish or play request: refused with the refusal's description, or
    /// accepted, giving back what was admitted.
    fn answer<T>(
        &mut self,
        request: RequestId,
        what: &'static str,
        app: &str,
        admitted: Result<T, Refusal>,
    ) -> Option<T> {
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(refusal) => {
                info!(conn = self.id, %app, reason = %refusal, "{what} refused");
                if let Err(e) = self.session.reject(request, refusal.description()) {
                    debug!(conn = self.id, error = %e, "rejecting failed");
                }
                return None;
            }
        };
        match self.session.accept(request) {
            Ok(()) => Some(admitted),
            Err(e) => {
                warn!(conn = self.id, error = %e, "accepting {what} failed");
                None
            }
        }
    }

    /// Hands what a publisher sent to its taps, its players and its recording, in that order.
    async fn forward(&mut self, stream_id: MessageStreamId, packet: Packet) {
        let Some(p) = self.publishing.get_mut(&stream_id.0) else {
            return;
        };
        if let Packet::Media(m) = &packet {
            p.ingest.record(m.data.len(), Instant::now());
        }
        for sink in &mut p.sinks {
            let sink = sink_mut(sink);
            match &packet {
                Packet::Metadata(props) => sink.metadata(props),
                Packet::Media(m) => {
                    let kind = match m.media {
                        MediaType::Audio => TapMedia::Audio,
                        MediaType::Video => TapMedia::Video,
                    };
                    sink.media(kind, m.timestamp_ms, &m.data);
                }
                Packet::End | Packet::Begin => {}
            }
        }
        p.fanout.push(packet.clone());
        if let Some(r) = &p.recorder {
            r.record(packet).await;
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
                            MediaType::Video => self.session.send_video(p.stream_id, ts, &m.data),
                            MediaType::Audio => self.session.send_audio(p.stream_id, ts, &m.data),
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
            publisher,
            started,
            fanout,
            recorder,
            mut sinks,
            ..
        } = p;
        drop(fanout);
        for sink in &mut sinks {
            sink_mut(sink).end();
        }
        drop(sinks);
        info!(conn = self.id, %app, name = %name, "publish ended");
        let done = PublishDone {
            peer: self.peer,
            app,
            key: publisher.key,
            query: publisher.query,
            name,
            duration: started.elapsed(),
        };
        let shared = self.shared.clone();
        // a notification: the connection neither waits for it nor cancels it
        tokio::spawn(async move { shared.handler.on_publish_done(done).await });
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
