//! The client side of an RTMP connection: connect, then publish or play one stream, as
//! ffmpeg's `rtmp` protocol does.

mod responses;

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use onair_amf::amf0::Amf0Value;
use onair_flv::StreamMetadata;

use crate::chunk::{ChunkDecoderConfig, MessageStreamId, MessageType};
use crate::command::CommandMessage;
use crate::control::{ControlMessage, UserControlEvent};
use crate::error::{Error, SessionError};
use crate::handshake::ClientHandshake;
use crate::metadata::DataMessage;
use crate::session::shared::{
    dispatch, session_io, Inbound, MessageHandler, Outbound, CSID_COMMAND,
};
use crate::status::{OnStatusCode, StatusLevel};

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSessionConfig {
    /// Limits of the chunk decoder.
    pub chunk: ChunkDecoderConfig,
    /// Chunk size used after `connect` succeeds (default 4096, as ffmpeg).
    pub out_chunk_size: u32,
    /// Window Acknowledgement Size announced to the server (default 2,500,000).
    pub window_ack_size: u32,
    /// Use the complex (HMAC-SHA256 digest) handshake, as ffmpeg and Flash do (default true).
    pub complex_handshake: bool,
    /// `flashVer` sent in `connect`.
    pub flash_ver: String,
    /// Enhanced RTMP `fourCcList` sent in `connect`; empty to send none (default `hvc1`,
    /// `av01`, `vp09`, `Opus`).
    pub fourcc_list: Vec<String>,
    /// Buffer length announced before `play`, in ms (default 3000).
    pub buffer_length_ms: u32,
    /// Give `releaseStream` and `FCPublish` their own transaction ids, as ffmpeg and librtmp
    /// (OBS) do (default true); false sends them with id 0 (no answer expected), as
    /// GStreamer's rtmp2sink does.
    pub numbered_publish_setup: bool,
}

impl Default for ClientSessionConfig {
    fn default() -> Self {
        Self {
            chunk: ChunkDecoderConfig::default(),
            out_chunk_size: 4096,
            window_ack_size: 2_500_000,
            complex_handshake: true,
            flash_ver: "FMLE/3.0 (compatible; onair)".to_owned(),
            fourcc_list: ["hvc1", "av01", "vp09", "Opus"].map(str::to_owned).to_vec(),
            buffer_length_ms: 3000,
            numbered_publish_setup: true,
        }
    }
}

/// What a [`ClientSession`] reports. Drain with [`ClientSession::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// `connect` succeeded; `publish` or `play` may be called.
    Connected,
    /// The server accepted the publish (`NetStream.Publish.Start`): send media now.
    PublishStarted {
        /// The message stream publishing.
        stream_id: MessageStreamId,
    },
    /// The server started playing (`NetStream.Play.Start`).
    PlayStarted {
        /// The message stream playing.
        stream_id: MessageStreamId,
    },
    /// `onMetaData` from the server while playing.
    Metadata {
        /// The metadata.
        metadata: StreamMetadata,
    },
    /// A video tag body while playing.
    Video {
        /// Monotonic media time in ms, extended past 2^32.
        timestamp_ms: u64,
        /// The tag body.
        data: Bytes,
    },
    /// An audio tag body while playing.
    Audio {
        /// Monotonic media time in ms, extended past 2^32.
        timestamp_ms: u64,
        /// The tag body.
        data: Bytes,
    },
    /// Another `onStatus` from the server.
    Status {
        /// `status`, `warning` or `error`.
        level: StatusLevel,
        /// e.g. `NetStream.Play.PublishNotify`.
        code: OnStatusCode,
        /// Free text.
        description: String,
    },
    /// The played stream ended (Stream EOF, `NetStream.Play.Stop` or
    /// `NetStream.Play.UnpublishNotify`).
    StreamEnded,
    /// The server refused `connect`, `publish` or `play` (an `_error`, or an `onStatus` of
    /// level `error`).
    Rejected {
        /// e.g. `NetStream.Publish.BadName`.
        code: OnStatusCode,
        /// The server's description.
        description: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Intent {
    Publish { key: String },
    Play { name: String },
}

#[derive(Debug)]
enum Pending {
    Connect,
    CreateStream(Intent),
}

#[derive(Debug)]
struct ActiveStream {
    id: MessageStreamId,
    intent: Intent,
    started: bool,
    ended: bool,
}

/// The client side of one RTMP connection, sans-IO: connect, then publish or play.
///
/// Drain [`poll_transmit`](Self::poll_transmit) right after construction (C0/C1) and after
/// every call; drain [`poll_event`](Self::poll_event) until `None` after every input
/// ([`input_buffer`](Self::input_buffer) + [`process_input`](Self::process_input), or
/// [`handle_input`](Self::handle_input)). `connect` may be called at once: it is sent when the
/// handshake completes. The crate documentation shows a whole run loop.
///
/// ```no_run
/// # use onair_rtmp_proto::{ClientEvent, ClientSession, ClientSessionConfig};
/// # fn read(_: &mut [u8]) -> usize { 0 } fn write(_: &[u8]) {}
/// let mut client = ClientSession::new(ClientSessionConfig::default(), 0, &[7; 1528]);
/// client.connect("live", "rtmp://127.0.0.1/live").unwrap();
/// client.publish("key?token=abc").unwrap(); // pipelined behind connect
/// let (mut buf, mut out) = ([0u8; 4096], bytes::BytesMut::new());
/// loop {
///     client.poll_transmit(&mut out);
///     write(&out);
///     out.clear();
///     let n = read(&mut buf);
///     client.handle_input(&buf[..n]).unwrap();
///     while let Some(event) = client.poll_event() {
///         if let ClientEvent::PublishStarted { .. } = event {
///             client.send_video(0, &[0x17, 0, 0, 0, 0]).unwrap();
///         }
///     }
/// }
/// ```
pub struct ClientSession {
    config: ClientSessionConfig,
    handshake: Option<ClientHandshake>,
    inbound: Inbound,
    outbound: Outbound,
    events: VecDeque<ClientEvent>,
    /// Commands waiting for the handshake (`connect`, and `publish`/`play` issued early).
    queued: Vec<CommandMessage>,
    connected: bool,
    pending: HashMap<u64, Pending>,
    next_tx: u64,
    stream: Option<ActiveStream>,
    closed: bool,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("connected", &self.connected)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A session that starts with C0/C1 (drain `poll_transmit`). `epoch` and `random` fill
    /// C1.
    pub fn new(config: ClientSessionConfig, epoch: u32, random: &[u8; 1528]) -> Self {
        let handshake = if config.complex_handshake {
            ClientHandshake::new(epoch, random)
        } else {
            ClientHandshake::new_simple(epoch, random)
        };
        let mut outbound = Outbound::new();
        let mut handshake = handshake;
        handshake.poll_transmit(outbound.raw());
        Self {
            inbound: Inbound::new(config.chunk),
            config,
            handshake: Some(handshake),
            outbound,
            events: VecDeque::new(),
            queued: Vec::new(),
            connected: false,
            pending: HashMap::new(),
            next_tx: 1,
            stream: None,
            closed: false,
        }
    }

    /// Sends `connect` for `app` (queued until the handshake completes).
    pub fn connect(&mut self, app: &str, tc_url: &str) -> Result<(), Error> {
        if self.connected || self.pending_connect() || self.closed {
            return Err(SessionError::InvalidState {
                operation: "connect",
            }
            .into());
        }
        let mut object = vec![
            ("app".to_owned(), Amf0Value::from(app)),
            ("type".to_owned(), Amf0Value::from("nonprivate")),
            (
                "flashVer".to_owned(),
                Amf0Value::from(self.config.flash_ver.as_str()),
            ),
            ("tcUrl".to_owned(), Amf0Value::from(tc_url)),
            ("fpad".to_owned(), Amf0Value::Boolean(false)),
            ("capabilities".to_owned(), Amf0Value::Number(15.0)),
            ("audioCodecs".to_owned(), Amf0Value::Number(4071.0)),
            ("videoCodecs".to_owned(), Amf0Value::Number(252.0)),
            ("videoFunction".to_owned(), Amf0Value::Number(1.0)),
        ];
        if !self.config.fourcc_list.is_empty() {
            let list = self
                .config
                .fourcc_list
                .iter()
                .map(|f| Amf0Value::from(f.as_str()))
                .collect();
            object.push(("fourCcList".to_owned(), Amf0Value::StrictArray(list)));
        }
        let tx = self.transaction(Pending::Connect);
        let command = CommandMessage::new("connect", tx, Amf0Value::Object(object), Vec::new());
        self.send_command(command)
    }

    /// Starts publishing `key` (which may carry `?query`): releaseStream, FCPublish,
    /// createStream, then publish. [`ClientEvent::PublishStarted`] follows on success.
    ///
    /// May be called right after `connect`, before [`ClientEvent::Connected`]: the commands
    /// are pipelined behind `connect`, as ffmpeg does.
    pub fn publish(&mut self, key: &str) -> Result<(), Error> {
        self.check_can_start("publish")?;
        let name = Amf0Value::from(key);
        for command in ["releaseStream", "FCPublish"] {
            let tx = if self.config.numbered_publish_setup {
                self.bare_transaction()
            } else {
                0.0
            };
            let cmd = CommandMessage::new(command, tx, Amf0Value::Null, vec![name.clone()]);
            self.send_command(cmd)?;
        }
        self.create_stream(Intent::Publish {
            key: key.to_owned(),
        })
    }

    /// Starts playing `name`: createStream, then play. [`ClientEvent::PlayStarted`] follows.
    /// May be called right after `connect`, like `publish`.
    pub fn play(&mut self, name: &str) -> Result<(), Error> {
        self.check_can_start("play")?;
        self.create_stream(Intent::Play {
            name: name.to_owned(),
        })
    }

    /// Sends `@setDataFrame onMetaData` with `props` on the publishing stream.
    pub fn send_metadata(&mut self, props: &[(String, Amf0Value)]) -> Result<(), Error> {
        let id = self.publishing()?;
        let mut body = BytesMut::new();
        DataMessage::write_set_data_frame(props, &mut body);
        self.outbound.data_raw(id, &body)
    }

    /// Sends a video tag body; the media time wraps to the 32-bit RTMP timestamp.
    pub fn send_video(&mut self, timestamp_ms: u64, tag_body: &[u8]) -> Result<(), Error> {
        let id = self.publishing()?;
        self.outbound
            .media(MessageType::VIDEO, id, timestamp_ms, tag_body)
    }

    /// Sends an audio tag body; the media time wraps to the 32-bit RTMP timestamp.
    pub fn send_audio(&mut self, timestamp_ms: u64, tag_body: &[u8]) -> Result<(), Error> {
        let id = self.publishing()?;
        self.outbound
            .media(MessageType::AUDIO, id, timestamp_ms, tag_body)
    }

    /// Ends the publish (FCUnpublish + deleteStream) or the play (deleteStream).
    pub fn close_stream(&mut self) -> Result<(), Error> {
        let Some(stream) = self.stream.take() else {
            return Err(SessionError::InvalidState {
                operation: "close_stream",
            }
            .into());
        };
        if let Intent::Publish { key } = &stream.intent {
            let tx = self.bare_transaction();
            let cmd = CommandMessage::new(
                "FCUnpublish",
                tx,
                Amf0Value::Null,
                vec![key.as_str().into()],
            );
            self.outbound
                .command(CSID_COMMAND, MessageStreamId(0), &cmd)?;
        }
        let tx = self.bare_transaction();
        let cmd = CommandMessage::new(
            "deleteStream",
            tx,
            Amf0Value::Null,
            vec![Amf0Value::Number(stream.id.0.into())],
        );
        self.outbound
            .command(CSID_COMMAND, MessageStreamId(0), &cmd)?;
        self.inbound.forget_stream(stream.id);
        Ok(())
    }

    fn pending_connect(&self) -> bool {
        self.pending.values().any(|p| matches!(p, Pending::Connect))
    }

    fn check_can_start(&self, operation: &'static str) -> Result<(), Error> {
        let busy = self.stream.is_some()
            || self
                .pending
                .values()
                .any(|p| matches!(p, Pending::CreateStream(_)));
        if !(self.connected || self.pending_connect()) || busy || self.closed {
            return Err(SessionError::InvalidState { operation }.into());
        }
        Ok(())
    }

    fn publishing(&self) -> Result<MessageStreamId, Error> {
        match &self.stream {
            Some(ActiveStream {
                id,
                intent: Intent::Publish { .. },
                started: true,
                ..
            }) if !self.closed => Ok(*id),
            _ => Err(SessionError::NotPublishing.into()),
        }
    }

    fn transaction(&mut self, pending: Pending) -> f64 {
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, pending);
        tx as f64
    }

    fn bare_transaction(&mut self) -> f64 {
        let tx = self.next_tx;
        self.next_tx += 1;
        tx as f64
    }

    fn create_stream(&mut self, intent: Intent) -> Result<(), Error> {
        let tx = self.transaction(Pending::CreateStream(intent));
        let cmd = CommandMessage::new("createStream", tx, Amf0Value::Null, Vec::new());
        self.send_command(cmd)
    }

    /// Sends a NetConnection command now, or after the handshake.
    fn send_command(&mut self, command: CommandMessage) -> Result<(), Error> {
        if self.handshake.is_some() {
            self.queued.push(command);
            return Ok(());
        }
        self.outbound
            .command(CSID_COMMAND, MessageStreamId(0), &command)?;
        if command.name == "connect" {
            self.outbound
                .control(&ControlMessage::WindowAckSize(self.config.window_ack_size))?;
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), Error> {
        if let Some(handshake) = &mut self.handshake {
            handshake.handle_input(&mut self.inbound.buffer)?;
            handshake.poll_transmit(self.outbound.raw());
            if !handshake.is_complete() {
                return Ok(());
            }
            self.handshake = None;
            for command in std::mem::take(&mut self.queued) {
                self.send_command(command)?;
            }
        }
        while let Some((message, control)) = self.inbound.next_message(&mut self.outbound)? {
            match control {
                Some(ControlMessage::UserControl(UserControlEvent::StreamEof(id))) => {
                    self.stream_ended(MessageStreamId(id));
                }
                Some(ControlMessage::UserControl(UserControlEvent::StreamBegin(id))) => {
                    if let Some(stream) = self.stream.as_mut().filter(|s| s.id.0 == id) {
                        stream.ended = false;
                    }
                }
                Some(ControlMessage::SetPeerBandwidth { size, .. })
                    if size != self.config.window_ack_size =>
                {
                    // RTMP 1.0 §5.4.5: answer a new peer bandwidth with our window size.
                    self.config.window_ack_size = size;
                    self.outbound
                        .control(&ControlMessage::WindowAckSize(size))?;
                }
                Some(_) => {}
                None => {
                    if let Some((stream_id, command)) = dispatch(self, message)? {
                        self.handle_command(stream_id, command)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn stream_ended(&mut self, id: MessageStreamId) {
        if let Some(stream) = self.stream.as_mut().filter(|s| s.id == id) {
            if matches!(stream.intent, Intent::Play { .. }) && !stream.ended {
                stream.ended = true;
                self.events.push_back(ClientEvent::StreamEnded);
            }
        }
    }
}

session_io!(ClientSession, ClientEvent);

impl MessageHandler for ClientSession {
    /// The stream this client plays.
    fn takes_media(&self, stream_id: MessageStreamId) -> bool {
        matches!(
            &self.stream,
            Some(ActiveStream { id, intent: Intent::Play { .. }, .. }) if *id == stream_id
        )
    }

    fn on_metadata(&mut self, _: MessageStreamId, metadata: StreamMetadata, _: usize) {
        self.events.push_back(ClientEvent::Metadata { metadata });
    }

    fn on_media(
        &mut self,
        _: MessageStreamId,
        type_id: MessageType,
        timestamp_ms: u64,
        data: Bytes,
    ) {
        self.events.push_back(if type_id == MessageType::VIDEO {
            ClientEvent::Video { timestamp_ms, data }
        } else {
            ClientEvent::Audio { timestamp_ms, data }
        });
    }

    fn inbound(&mut self) -> &mut Inbound {
        &mut self.inbound
    }
}
