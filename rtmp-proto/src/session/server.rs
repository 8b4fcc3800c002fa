//! The server side of an RTMP connection: answers NetConnection/NetStream commands as
//! nginx-rtmp and SRS do, raises publish and play requests for the application to accept or
//! reject, forwards a publisher's media and serves media to players.

mod commands;

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use onair_amf::amf0::Amf0Value;
use onair_flv::StreamMetadata;

use crate::chunk::{ChunkDecoderConfig, MessageStreamId, MessageType};
use crate::command::{CommandMessage, ConnectParams, PublishType};
use crate::control::{ControlMessage, UserControlEvent};
use crate::error::{Error, SessionError};
use crate::handshake::ServerHandshake;
use crate::metadata::DataMessage;
use crate::session::names::{QueryString, RequestId, StreamKey, StreamName};
use crate::session::shared::{
    dispatch, session_io, Inbound, MessageHandler, Outbound, CSID_COMMAND, CSID_STREAM,
};
use crate::status::{OnStatusCode, Status};
use crate::timestamp::RtmpTimestamp;

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSessionConfig {
    /// Limits of the chunk decoder (chunk size, message length, partial messages).
    pub chunk: ChunkDecoderConfig,
    /// Chunk size this server sends with, announced right after `connect` (default 4096).
    pub out_chunk_size: u32,
    /// Window Acknowledgement Size announced to the client (default 2,500,000).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth announced to the client (default 2,500,000, dynamic).
    pub peer_bandwidth: u32,
    /// Longest accepted app, key or play name in bytes (default 256).
    pub max_name_length: usize,
}

impl Default for ServerSessionConfig {
    fn default() -> Self {
        Self {
            chunk: ChunkDecoderConfig::default(),
            out_chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            max_name_length: 256,
        }
    }
}

/// What a [`ServerSession`] reports to the application. Drain with
/// [`ServerSession::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// `connect` was received and answered with success (an invalid app name is refused by
    /// the session itself, as an error from `handle_input`).
    Connected {
        /// The application name (validated: one optional `/`, no dot segments).
        app: String,
        /// `tcUrl` as the client sent it.
        tc_url: Option<String>,
        /// Everything the client sent in its command object.
        params: ConnectParams,
    },
    /// A client wants to publish; answer with [`ServerSession::accept`] or
    /// [`ServerSession::reject`].
    PublishRequested {
        /// The request to answer.
        request: RequestId,
        /// The message stream the client publishes on.
        stream_id: MessageStreamId,
        /// The application of the connection.
        app: String,
        /// The secret publish key (validated), without the query string.
        key: StreamKey,
        /// What followed `?` in the publish name.
        query: Option<QueryString>,
        /// `live`, `record` or `append` as the client asked.
        publish_type: PublishType,
    },
    /// A client wants to play; answer with [`ServerSession::accept`] or
    /// [`ServerSession::reject`], then send media with `send_*`.
    PlayRequested {
        /// The request to answer.
        request: RequestId,
        /// The message stream to send media on.
        stream_id: MessageStreamId,
        /// The application of the connection.
        app: String,
        /// The public stream name (validated), without the query string.
        name: StreamName,
        /// What followed `?` in the play name.
        query: Option<QueryString>,
    },
    /// `@setDataFrame onMetaData` or `onMetaData` from an accepted publisher.
    Metadata {
        /// The publishing stream.
        stream_id: MessageStreamId,
        /// The parsed metadata.
        metadata: StreamMetadata,
    },
    /// A video message (an FLV video tag body) from an accepted publisher.
    Video {
        /// The publishing stream.
        stream_id: MessageStreamId,
        /// Monotonic media time in ms, extended past 2^32.
        timestamp_ms: u64,
        /// The tag body.
        data: Bytes,
    },
    /// An audio message (an FLV audio tag body) from an accepted publisher.
    Audio {
        /// The publishing stream.
        stream_id: MessageStreamId,
        /// Monotonic media time in ms, extended past 2^32.
        timestamp_ms: u64,
        /// The tag body.
        data: Bytes,
    },
    /// `FCUnpublish`, `closeStream` or `deleteStream` of an accepted publishing stream.
    PublishEnded {
        /// The stream that stopped publishing.
        stream_id: MessageStreamId,
    },
    /// `closeStream` or `deleteStream` of an accepted playing stream.
    PlayEnded {
        /// The stream that stopped playing.
        stream_id: MessageStreamId,
    },
}

/// A request whose stream ended before the application answered it.
#[derive(Debug)]
struct Cancelled {
    stream_id: MessageStreamId,
    /// `Some` with what the publisher sent meanwhile; `None` for a play request.
    publish: Option<Vec<ServerEvent>>,
}

/// Most events kept for a publisher the application has not answered yet (a client that
/// doesn't wait for `NetStream.Publish.Start`, or a runtime that answers asynchronously).
const MAX_EARLY_EVENTS: usize = 512;
/// Most payload bytes kept for such a publisher; what comes beyond is dropped.
const MAX_EARLY_BYTES: usize = 4 << 20;

#[derive(Debug)]
enum StreamState {
    /// Created by createStream, nothing requested yet.
    Idle,
    PublishPending {
        request: RequestId,
        key: StreamKey,
        /// Media and metadata that arrived before the answer, delivered on accept.
        early: Vec<ServerEvent>,
        early_bytes: usize,
    },
    Publishing {
        key: StreamKey,
    },
    PlayPending {
        request: RequestId,
        name: StreamName,
    },
    Playing,
}

/// The server side of one RTMP connection (RTMP 1.0 §7.2), sans-IO.
///
/// Read the socket into [`input_buffer`](Self::input_buffer) and call
/// [`process_input`](Self::process_input) (or hand bytes to
/// [`handle_input`](Self::handle_input)); after every input, and after every
/// `accept`/`reject`/`send_*`, drain [`poll_transmit`](Self::poll_transmit) into the socket
/// and [`poll_event`](Self::poll_event) until it returns `None`. The crate documentation
/// shows a whole run loop; over a blocking socket:
///
/// ```no_run
/// use std::io::{Read, Write};
/// use onair_rtmp_proto::{ServerEvent, ServerSession, ServerSessionConfig};
///
/// # fn serve(mut socket: std::net::TcpStream) -> std::io::Result<()> {
/// let mut session = ServerSession::new(ServerSessionConfig::default(), 0, &[7; 1528]);
/// let mut out = bytes::BytesMut::new();
/// loop {
///     // Straight into the session's buffer (with tokio: `read_buf(session.input_buffer())`).
///     let input = session.input_buffer();
///     let filled = input.len();
///     input.resize(filled + 4096, 0);
///     let n = socket.read(&mut input[filled..])?;
///     input.truncate(filled + n);
///     if n == 0 {
///         return Ok(());
///     }
///     let result = session.process_input();
///     while let Some(event) = session.poll_event() {
///         if let ServerEvent::PublishRequested { request, .. } = event {
///             let _ = session.accept(request);
///         }
///     }
///     session.poll_transmit(&mut out);
///     socket.write_all(&out)?;
///     out.clear();
///     if result.is_err() || session.is_closed() {
///         return Ok(());
///     }
/// }
/// # }
/// ```
///
/// Media or data from a stream that is not a publisher is ignored, as nginx-rtmp does. What a
/// publisher sends before its request is answered is kept (up to 512 messages / 4 MiB) and
/// delivered after `accept`, dropped on `reject`. Unknown commands with a transaction id get an
/// `_error`; they don't end the session.
pub struct ServerSession {
    config: ServerSessionConfig,
    handshake: Option<ServerHandshake>,
    inbound: Inbound,
    outbound: Outbound,
    events: VecDeque<ServerEvent>,
    app: Option<String>,
    streams: BTreeMap<u32, StreamState>,
    requests: HashMap<RequestId, MessageStreamId>,
    /// Requests whose stream the peer closed before the application answered.
    cancelled: HashMap<RequestId, Cancelled>,
    next_stream_id: u32,
    next_request: u64,
    closed: bool,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("app", &self.app)
            .field("streams", &self.streams)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl ServerSession {
    /// A session waiting for the client's C0/C1. `epoch` and `random` fill S1.
    pub fn new(config: ServerSessionConfig, epoch: u32, random: &[u8; 1528]) -> Self {
        let inbound = Inbound::new(config.chunk);
        Self {
            handshake: Some(ServerHandshake::new(epoch, random)),
            inbound,
            outbound: Outbound::new(),
            events: VecDeque::new(),
            app: None,
            streams: BTreeMap::new(),
            requests: HashMap::new(),
            cancelled: HashMap::new(),
            next_stream_id: 1,
            next_request: 1,
            closed: false,
            config,
        }
    }

    /// The application name once connected.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// Accepts a publish or play request: the publisher gets `NetStream.Publish.Start` and its
    /// media starts flowing as events; the player gets `NetStream.Play.Start` and may be sent
    /// media.
    ///
    /// If the client closed the stream before the answer (a deleteStream right behind the
    /// play, as ffmpeg sends when it gives up), this succeeds without sending anything and
    /// queues what a publisher sent meanwhile and then the matching
    /// `PublishEnded`/`PlayEnded`.
    pub fn accept(&mut self, request: RequestId) -> Result<(), Error> {
        if let Some(Cancelled { stream_id, publish }) = self.cancelled.remove(&request) {
            match publish {
                Some(early) => {
                    self.events.extend(early);
                    self.events
                        .push_back(ServerEvent::PublishEnded { stream_id });
                }
                None => self.events.push_back(ServerEvent::PlayEnded { stream_id }),
            }
            return Ok(());
        }
        let stream_id = self.take_request(request)?;
        match self.streams.remove(&stream_id.0) {
            Some(StreamState::PublishPending { key, early, .. }) => {
                self.streams
                    .insert(stream_id.0, StreamState::Publishing { key });
                self.events.extend(early);
                self.stream_begin(stream_id)?;
                self.status(
                    stream_id,
                    OnStatusCode::NetStreamPublishStart,
                    "Start publishing",
                )
            }
            Some(StreamState::PlayPending { name, .. }) => {
                self.streams.insert(stream_id.0, StreamState::Playing);
                self.stream_begin(stream_id)?;
                let reset = format!("Playing and resetting {name}.");
                self.status(stream_id, OnStatusCode::NetStreamPlayReset, &reset)?;
                let start = format!("Started playing {name}.");
                self.play_start(stream_id, &start)?;
                self.status(stream_id, OnStatusCode::NetStreamDataStart, "Started")
            }
            other => {
                if let Some(state) = other {
                    self.streams.insert(stream_id.0, state);
                }
                Err(SessionError::RequestNotPending {
                    request: request.as_u64(),
                }
                .into())
            }
        }
    }

    /// Rejects a publish request (`NetStream.Publish.BadName` with `description`) or a play
    /// request (`NetStream.Play.StreamNotFound`). The session is then closed: flush
    /// `poll_transmit` and close the connection.
    pub fn reject(&mut self, request: RequestId, description: &str) -> Result<(), Error> {
        if self.cancelled.remove(&request).is_some() {
            self.closed = true;
            return Ok(());
        }
        let stream_id = self.take_request(request)?;
        let code = match self.streams.get(&stream_id.0) {
            Some(StreamState::PublishPending { .. }) => OnStatusCode::NetStreamPublishBadName,
            Some(StreamState::PlayPending { .. }) => OnStatusCode::NetStreamPlayStreamNotFound,
            _ => {
                return Err(SessionError::RequestNotPending {
                    request: request.as_u64(),
                }
                .into())
            }
        };
        self.streams.insert(stream_id.0, StreamState::Idle);
        self.status(stream_id, code, description)?;
        self.closed = true;
        Ok(())
    }

    /// Sends `onMetaData` to a player.
    pub fn send_metadata(
        &mut self,
        stream_id: MessageStreamId,
        props: &[(String, Amf0Value)],
    ) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        let mut body = BytesMut::new();
        DataMessage::write_on_metadata(props, &mut body);
        self.outbound.data_raw(stream_id, &body)
    }

    /// Sends a video tag body to a player; the media time wraps to the 32-bit RTMP timestamp.
    pub fn send_video(
        &mut self,
        stream_id: MessageStreamId,
        timestamp_ms: u64,
        tag_body: &[u8],
    ) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        self.outbound
            .media(MessageType::VIDEO, stream_id, timestamp_ms, tag_body)
    }

    /// Sends an audio tag body to a player; the media time wraps to the 32-bit RTMP timestamp.
    pub fn send_audio(
        &mut self,
        stream_id: MessageStreamId,
        timestamp_ms: u64,
        tag_body: &[u8],
    ) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        self.outbound
            .media(MessageType::AUDIO, stream_id, timestamp_ms, tag_body)
    }

    /// Sends a player only the User Control Stream EOF (RTMP 1.0 §7.1.7), without any
    /// `onStatus`: what nginx-rtmp sends when a publisher leaves and `publish_notify` is off.
    /// Clients that stop at `NetStream.Play.UnpublishNotify` (ffmpeg, librtmp) keep waiting.
    pub fn send_stream_eof(&mut self, stream_id: MessageStreamId) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        self.outbound
            .control(&ControlMessage::UserControl(UserControlEvent::StreamEof(
                stream_id.0,
            )))
    }

    /// Sends a player only the User Control Stream Begin, without any `onStatus`: what
    /// nginx-rtmp sends when a publisher starts and `play_restart`/`publish_notify` are off.
    pub fn send_stream_begin(&mut self, stream_id: MessageStreamId) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        self.stream_begin(stream_id)
    }

    /// Tells a player its source ended: `NetStream.Play.UnpublishNotify` and Stream EOF.
    pub fn end_play(&mut self, stream_id: MessageStreamId) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        self.status(
            stream_id,
            OnStatusCode::NetStreamPlayUnpublishNotify,
            "The stream was unpublished.",
        )?;
        self.outbound
            .control(&ControlMessage::UserControl(UserControlEvent::StreamEof(
                stream_id.0,
            )))
    }

    /// Tells a player that its source is published (again) after [`end_play`](Self::end_play)
    /// or while it waited for a publisher: Stream Begin, `NetStream.Play.Start`,
    /// `|RtmpSampleAccess` and `NetStream.Play.PublishNotify`, as nginx-rtmp sends with
    /// `play_restart` and `publish_notify` on. Media sent afterwards may restart its timestamps.
    pub fn notify_publish(&mut self, stream_id: MessageStreamId) -> Result<(), Error> {
        self.check_playing(stream_id)?;
        self.stream_begin(stream_id)?;
        self.play_start(stream_id, "Start live")?;
        self.status(
            stream_id,
            OnStatusCode::NetStreamPlayPublishNotify,
            "Start publishing",
        )
    }

    fn check_playing(&self, stream_id: MessageStreamId) -> Result<(), Error> {
        match self.streams.get(&stream_id.0) {
            Some(StreamState::Playing) if !self.closed => Ok(()),
            _ => Err(SessionError::NotPlaying {
                stream_id: stream_id.0,
            }
            .into()),
        }
    }

    fn take_request(&mut self, request: RequestId) -> Result<MessageStreamId, Error> {
        self.requests.remove(&request).ok_or_else(|| {
            SessionError::RequestNotPending {
                request: request.as_u64(),
            }
            .into()
        })
    }

    fn stream_begin(&mut self, stream_id: MessageStreamId) -> Result<(), Error> {
        self.outbound
            .control(&ControlMessage::UserControl(UserControlEvent::StreamBegin(
                stream_id.0,
            )))
    }

    /// An `onStatus` with the level `code` is sent with.
    fn status(
        &mut self,
        stream_id: MessageStreamId,
        code: OnStatusCode,
        description: &str,
    ) -> Result<(), Error> {
        let cmd = CommandMessage::on_status(&Status::new(code, description));
        self.outbound.command(CSID_STREAM, stream_id, &cmd)
    }

    /// `NetStream.Play.Start` and `|RtmpSampleAccess` (which lets Flash players read the
    /// stream's pixels and samples), as nginx-rtmp sends them.
    fn play_start(&mut self, stream_id: MessageStreamId, description: &str) -> Result<(), Error> {
        self.status(stream_id, OnStatusCode::NetStreamPlayStart, description)?;
        self.outbound.data(
            stream_id,
            RtmpTimestamp(0),
            &[
                Amf0Value::String("|RtmpSampleAccess".to_owned()),
                Amf0Value::Boolean(true),
                Amf0Value::Boolean(true),
            ],
        )
    }

    fn reply(&mut self, cmd: &CommandMessage) -> Result<(), Error> {
        self.outbound.command(CSID_COMMAND, MessageStreamId(0), cmd)
    }

    fn process(&mut self) -> Result<(), Error> {
        if let Some(handshake) = &mut self.handshake {
            handshake.handle_input(&mut self.inbound.buffer)?;
            handshake.poll_transmit(self.outbound.raw());
            if !handshake.is_complete() {
                return Ok(());
            }
            self.handshake = None;
        }
        while let Some((message, control)) = self.inbound.next_message(&mut self.outbound)? {
            let command = match control {
                Some(_) => None,
                None => dispatch(self, message)?,
            };
            if let Some((stream_id, command)) = command {
                self.handle_command(stream_id, command)?;
            }
            if self.closed {
                break;
            }
        }
        Ok(())
    }

    /// Queues a media or metadata event of a publisher, or keeps it (bounded) until the
    /// publish request is answered.
    fn deliver(&mut self, stream_id: MessageStreamId, event: ServerEvent, size: usize) {
        match self.streams.get_mut(&stream_id.0) {
            Some(StreamState::Publishing { .. }) => self.events.push_back(event),
            Some(StreamState::PublishPending {
                early, early_bytes, ..
            }) if early.len() < MAX_EARLY_EVENTS && *early_bytes + size <= MAX_EARLY_BYTES => {
                *early_bytes += size;
                early.push(event);
            }
            _ => {}
        }
    }
}

session_io!(ServerSession, ServerEvent);

impl MessageHandler for ServerSession {
    /// An accepted publisher, or one waiting for the application's answer (its media is kept
    /// until then).
    fn takes_media(&self, stream_id: MessageStreamId) -> bool {
        matches!(
            self.streams.get(&stream_id.0),
            Some(StreamState::Publishing { .. } | StreamState::PublishPending { .. })
        )
    }

    fn on_metadata(&mut self, stream_id: MessageStreamId, metadata: StreamMetadata, size: usize) {
        let event = ServerEvent::Metadata {
            stream_id,
            metadata,
        };
        self.deliver(stream_id, event, size);
    }

    fn on_media(
        &mut self,
        stream_id: MessageStreamId,
        type_id: MessageType,
        timestamp_ms: u64,
        data: Bytes,
    ) {
        let size = data.len();
        let event = if type_id == MessageType::VIDEO {
            ServerEvent::Video {
                stream_id,
                timestamp_ms,
                data,
            }
        } else {
            ServerEvent::Audio {
                stream_id,
                timestamp_ms,
                data,
            }
        };
        self.deliver(stream_id, event, size);
    }

    fn inbound(&mut self) -> &mut Inbound {
        &mut self.inbound
    }
}
