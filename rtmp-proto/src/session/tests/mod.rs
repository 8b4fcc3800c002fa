//! A client and a server session wired back to back in memory (quinn's `Pair::drive`), plus
//! helpers that poke the server with hand-made messages and decode what it sent.

use bytes::BytesMut;
use onair_amf::amf0::Amf0Value;

use super::*;

mod flows;
mod robustness;

use crate::chunk::{
    ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, ChunkStreamId, MessageStreamId, MessageType,
    RawMessage,
};
use crate::command::{object_properties, property, CommandMessage, PublishType};
use crate::control::{ControlMessage, UserControlEvent};
use crate::error::{Error, NameError, SessionError};
use crate::status::{OnStatusCode, Status};
use crate::timestamp::RtmpTimestamp;

const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

struct Pair {
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    /// Everything the server sent, to check messages no event reports (acks, `_error`).
    s2c: Vec<u8>,
    c2s: Vec<u8>,
    server_error: Option<Error>,
    client_error: Option<Error>,
}

impl Pair {
    fn new() -> Self {
        Self::with(
            ClientSessionConfig::default(),
            ServerSessionConfig::default(),
        )
    }

    fn with(client: ClientSessionConfig, server: ServerSessionConfig) -> Self {
        Self {
            client: ClientSession::new(client, 1000, &[0x5a; 1528]),
            server: ServerSession::new(server, 2000, &[0xa5; 1528]),
            client_events: Vec::new(),
            server_events: Vec::new(),
            s2c: Vec::new(),
            c2s: Vec::new(),
            server_error: None,
            client_error: None,
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn drive(&mut self) {
        loop {
            let mut progress = false;
            let mut buf = BytesMut::new();
            if self.client.poll_transmit(&mut buf) {
                progress = true;
                self.c2s.extend_from_slice(&buf);
                if self.server_error.is_none() {
                    if let Err(e) = self.server.handle_input(&buf) {
                        self.server_error = Some(e);
                    }
                }
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            buf.clear();
            if self.server.poll_transmit(&mut buf) {
                progress = true;
                self.s2c.extend_from_slice(&buf);
                if self.client_error.is_none() {
                    if let Err(e) = self.client.handle_input(&buf) {
                        self.client_error = Some(e);
                    }
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            if !progress {
                break;
            }
        }
    }

    fn connect(&mut self) {
        self.client
            .connect("live", "rtmp://127.0.0.1/live")
            .unwrap();
        self.drive();
        assert_eq!(self.client_events, vec![ClientEvent::Connected]);
        self.client_events.clear();
    }

    /// Connects, publishes `key`, accepts, and returns the server-side stream id.
    fn publishing(&mut self, key: &str) -> MessageStreamId {
        self.connect();
        self.client.publish(key).unwrap();
        self.drive();
        let request = match self.server_events.pop() {
            Some(ServerEvent::PublishRequested { request, .. }) => request,
            other => panic!("expected PublishRequested, got {other:?}"),
        };
        self.server.accept(request).unwrap();
        self.drive();
        match self.client_events.pop() {
            Some(ClientEvent::PublishStarted { stream_id }) => stream_id,
            other => panic!("expected PublishStarted, got {other:?}"),
        }
    }

    fn playing(&mut self, name: &str) -> MessageStreamId {
        self.connect();
        self.client.play(name).unwrap();
        self.drive();
        let (request, stream_id) = match self.server_events.pop() {
            Some(ServerEvent::PlayRequested {
                request, stream_id, ..
            }) => (request, stream_id),
            other => panic!("expected PlayRequested, got {other:?}"),
        };
        self.server.accept(request).unwrap();
        self.drive();
        assert!(self
            .client_events
            .contains(&ClientEvent::PlayStarted { stream_id }));
        self.client_events.clear();
        stream_id
    }

    fn server_messages(&self) -> Vec<RawMessage> {
        decode_all(&self.s2c[HANDSHAKE_LEN..])
    }

    /// Sends a hand-made message to the server as if the client had, on a chunk stream the
    /// client session doesn't use.
    fn inject(&mut self, type_id: MessageType, stream_id: u32, ts: u32, payload: &[u8]) {
        let mut encoder = ChunkEncoder::new();
        let mut buf = BytesMut::new();
        encoder
            .encode(
                ChunkStreamId(60),
                RtmpTimestamp(ts),
                type_id,
                MessageStreamId(stream_id),
                payload,
                &mut buf,
            )
            .unwrap();
        if let Err(e) = self.server.handle_input(&buf) {
            self.server_error = Some(e);
        }
        self.drive();
    }

    fn inject_command(&mut self, stream_id: u32, command: &CommandMessage) {
        let mut payload = BytesMut::new();
        command.write(&mut payload);
        self.inject(MessageType::COMMAND_AMF0, stream_id, 0, &payload);
    }
}

fn decode_all(bytes: &[u8]) -> Vec<RawMessage> {
    let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
    let mut input = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(message) = decoder.decode(&mut input).unwrap() {
        out.push(message);
    }
    assert!(input.is_empty(), "trailing partial chunk");
    out
}

fn commands(messages: &[RawMessage]) -> Vec<CommandMessage> {
    messages
        .iter()
        .filter(|m| m.type_id == MessageType::COMMAND_AMF0)
        .map(|m| CommandMessage::parse(m.type_id, &m.payload).unwrap())
        .collect()
}

fn controls(messages: &[RawMessage]) -> Vec<ControlMessage> {
    messages
        .iter()
        .filter_map(|m| ControlMessage::parse(m.type_id, &m.payload).unwrap())
        .collect()
}

fn str_value(s: &str) -> Amf0Value {
    Amf0Value::String(s.to_owned())
}
