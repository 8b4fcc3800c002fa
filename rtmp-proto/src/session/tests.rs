//! A client and a server session wired back to back in memory (quinn's `Pair::drive`), plus
//! tests that poke the server with hand-made messages.

use bytes::BytesMut;

use super::*;
use crate::amf0::Amf0Value;
use crate::chunk::{
    ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, ChunkStreamId, MessageStreamId, MessageType,
    RawMessage,
};
use crate::command::{object_properties, property, CommandMessage};
use crate::control::{ControlMessage, UserControlEvent};
use crate::error::{Error, NameError, SessionError};
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

#[test]
fn connect_answers_like_nginx() {
    let mut pair = Pair::new();
    pair.connect();
    match &pair.server_events[..] {
        [ServerEvent::Connected {
            app,
            tc_url,
            params,
        }] => {
            assert_eq!(app, "live");
            assert_eq!(tc_url.as_deref(), Some("rtmp://127.0.0.1/live"));
            assert_eq!(params.fourcc_list, ["hvc1", "av01", "vp09", "Opus"]);
        }
        other => panic!("{other:?}"),
    }
    let messages = pair.server_messages();
    let control_messages = controls(&messages);
    assert_eq!(
        &control_messages[..3],
        &[
            ControlMessage::WindowAckSize(2_500_000),
            ControlMessage::SetPeerBandwidth {
                size: 2_500_000,
                limit: crate::control::PeerBandwidthLimit::Dynamic
            },
            ControlMessage::SetChunkSize(4096),
        ]
    );
    let result = &commands(&messages)[0];
    assert_eq!(result.name, "_result");
    assert_eq!(result.transaction_id, 1.0);
    let props = &result.command_object;
    assert_eq!(
        property(props, "fmsVer").and_then(Amf0Value::as_str),
        Some("FMS/3,0,1,123")
    );
    // Enhanced RTMP: the offered FourCC list is echoed.
    match property(props, "fourCcList") {
        Some(Amf0Value::StrictArray(list)) => assert_eq!(list.len(), 4),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        result.status().1,
        "NetConnection.Connect.Success".to_owned()
    );
    assert!(property(&result.args[0], "objectEncoding").is_some());
    // The client switched to 4096-byte chunks after connect, as ffmpeg does.
    let client_controls = controls(&decode_all(&pair.c2s[HANDSHAKE_LEN..]));
    assert!(client_controls.contains(&ControlMessage::SetChunkSize(4096)));
}

#[test]
fn publish_accept_media_metadata_unpublish() {
    let mut pair = Pair::new();
    pair.connect();
    pair.server_events.clear();
    pair.client.publish("cam1?token=abc&x=1").unwrap();
    pair.drive();
    let request = match &pair.server_events[..] {
        [ServerEvent::PublishRequested {
            request,
            stream_id,
            app,
            key,
            query,
            publish_type,
        }] => {
            assert_eq!(*stream_id, MessageStreamId(1));
            assert_eq!(app, "live");
            assert_eq!(key.as_str(), "cam1");
            let query = query.as_ref().unwrap();
            assert_eq!(query.get("token"), Some("abc"));
            assert_eq!(query.get("x"), Some("1"));
            assert_eq!(publish_type, "live");
            *request
        }
        other => panic!("{other:?}"),
    };
    pair.server_events.clear();
    // Nothing may be sent before the server accepts.
    assert_eq!(
        pair.client.send_video(0, &[0x17, 0]),
        Err(Error::Session(SessionError::NotPublishing))
    );
    pair.server.accept(request).unwrap();
    pair.drive();
    assert_eq!(
        pair.client_events,
        vec![ClientEvent::PublishStarted {
            stream_id: MessageStreamId(1)
        }]
    );
    assert!(
        controls(&pair.server_messages()).contains(&ControlMessage::UserControl(
            UserControlEvent::StreamBegin(1)
        ))
    );

    let props = vec![
        ("width".to_owned(), Amf0Value::Number(1280.0)),
        ("height".to_owned(), Amf0Value::Number(720.0)),
    ];
    pair.client.send_metadata(&props).unwrap();
    let big = vec![0x27; 10_000];
    pair.client
        .send_video(0, &[0x17, 0, 0, 0, 0, 1, 2])
        .unwrap();
    pair.client.send_audio(0, &[0xaf, 0, 0x11, 0x90]).unwrap();
    pair.client.send_video(33, &big).unwrap();
    pair.client.send_audio(21, &[0xaf, 1, 9]).unwrap();
    pair.drive();
    let sid = MessageStreamId(1);
    match &pair.server_events[..] {
        [ServerEvent::Metadata {
            stream_id,
            metadata,
        }, ServerEvent::Video {
            timestamp_ms: 0,
            data: v0,
            ..
        }, ServerEvent::Audio {
            timestamp_ms: 0,
            data: a0,
            ..
        }, ServerEvent::Video {
            timestamp_ms: 33,
            data: v1,
            ..
        }, ServerEvent::Audio {
            timestamp_ms: 21,
            data: a1,
            ..
        }] => {
            assert_eq!(*stream_id, sid);
            assert_eq!(metadata.width, Some(1280.0));
            assert_eq!(metadata.height, Some(720.0));
            assert_eq!(&v0[..], &[0x17, 0, 0, 0, 0, 1, 2]);
            assert_eq!(&a0[..], &[0xaf, 0, 0x11, 0x90]);
            assert_eq!(&v1[..], &big[..]);
            assert_eq!(&a1[..], &[0xaf, 1, 9]);
        }
        other => panic!("{other:?}"),
    }
    pair.server_events.clear();
    pair.client.close_stream().unwrap();
    pair.drive();
    // FCUnpublish ends the publish; the deleteStream that follows has nothing left to end.
    assert_eq!(
        pair.server_events,
        vec![ServerEvent::PublishEnded { stream_id: sid }]
    );
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        ClientEvent::Status { code, .. } if code == "NetStream.Unpublish.Success"
    )));
    assert!(pair.server_error.is_none() && pair.client_error.is_none());
}

#[test]
fn play_accept_media_and_end() {
    let mut pair = Pair::new();
    let sid = pair.playing("show?sig=1");
    let play_request = pair
        .server_events
        .iter()
        .find(|e| matches!(e, ServerEvent::PlayRequested { .. }));
    assert!(play_request.is_none(), "popped by the helper");
    let props = vec![("width".to_owned(), Amf0Value::Number(640.0))];
    pair.server.send_metadata(sid, &props).unwrap();
    pair.server.send_video(sid, 0, &[0x17, 0, 0, 0, 0]).unwrap();
    pair.server.send_audio(sid, 5, &[0xaf, 1]).unwrap();
    pair.server
        .send_video(sid, 40, &[0x27, 1, 0, 0, 0])
        .unwrap();
    pair.drive();
    match &pair.client_events[..] {
        [ClientEvent::Metadata { metadata }, ClientEvent::Video {
            timestamp_ms: 0, ..
        }, ClientEvent::Audio {
            timestamp_ms: 5, ..
        }, ClientEvent::Video {
            timestamp_ms: 40,
            data,
        }] => {
            assert_eq!(metadata.width, Some(640.0));
            assert_eq!(&data[..], &[0x27, 1, 0, 0, 0]);
        }
        other => panic!("{other:?}"),
    }
    pair.client_events.clear();
    pair.server.end_play(sid).unwrap();
    pair.drive();
    let ended = pair
        .client_events
        .iter()
        .filter(|e| **e == ClientEvent::StreamEnded)
        .count();
    assert_eq!(ended, 1, "{:?}", pair.client_events);
    pair.server_events.clear();
    pair.client.close_stream().unwrap();
    pair.drive();
    assert_eq!(
        pair.server_events,
        vec![ServerEvent::PlayEnded { stream_id: sid }]
    );
    // The stream is gone: sending to it is an error.
    assert_eq!(
        pair.server.send_video(sid, 80, &[0x27]),
        Err(Error::Session(SessionError::NotPlaying { stream_id: 1 }))
    );
}

#[test]
fn play_request_carries_name_and_query() {
    let mut pair = Pair::new();
    pair.connect();
    pair.server_events.clear();
    pair.client.play("show?sig=1").unwrap();
    pair.drive();
    match &pair.server_events[..] {
        [ServerEvent::PlayRequested {
            name, query, app, ..
        }] => {
            assert_eq!(name.as_str(), "show");
            assert_eq!(query.as_ref().and_then(|q| q.get("sig")), Some("1"));
            assert_eq!(app, "live");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejected_publish_closes_the_session() {
    let mut pair = Pair::new();
    pair.connect();
    pair.client.publish("taken").unwrap();
    pair.drive();
    let Some(ServerEvent::PublishRequested { request, .. }) = pair.server_events.pop() else {
        panic!("no request");
    };
    pair.server.reject(request, "stream is taken").unwrap();
    assert!(pair.server.is_closed());
    pair.drive();
    assert_eq!(
        pair.client_events,
        vec![ClientEvent::Rejected {
            code: "NetStream.Publish.BadName".to_owned(),
            description: "stream is taken".to_owned()
        }]
    );
    // Answered once only.
    assert_eq!(
        pair.server.accept(request),
        Err(Error::Session(SessionError::RequestNotPending {
            request: request.as_u64()
        }))
    );
    assert_eq!(
        pair.server.handle_input(&[0]),
        Err(Error::Session(SessionError::Closed))
    );
}

#[test]
fn rejected_play() {
    let mut pair = Pair::new();
    pair.connect();
    pair.client.play("missing").unwrap();
    pair.drive();
    let Some(ServerEvent::PlayRequested { request, .. }) = pair.server_events.pop() else {
        panic!("no request");
    };
    pair.server.reject(request, "no such stream").unwrap();
    pair.drive();
    assert_eq!(
        pair.client_events,
        vec![ClientEvent::Rejected {
            code: "NetStream.Play.StreamNotFound".to_owned(),
            description: "no such stream".to_owned()
        }]
    );
}

#[test]
fn bad_publish_names_are_refused() {
    for (key, error) in [
        ("../etc", NameError::PathSeparator),
        ("..etc", NameError::DotSegment),
        ("a/b", NameError::PathSeparator),
        ("a\\b", NameError::PathSeparator),
        ("", NameError::Empty),
        ("?token=1", NameError::Empty),
        ("a\u{7}b", NameError::ControlCharacter),
    ] {
        let mut pair = Pair::new();
        pair.connect();
        pair.client.publish(key).unwrap();
        pair.drive();
        assert_eq!(
            pair.server_error,
            Some(Error::Session(SessionError::InvalidName(error))),
            "{key:?}"
        );
        assert!(
            !pair
                .server_events
                .iter()
                .any(|e| matches!(e, ServerEvent::PublishRequested { .. })),
            "{key:?}"
        );
        // The client still hears why.
        assert_eq!(
            pair.client_events,
            vec![ClientEvent::Rejected {
                code: "NetStream.Publish.BadName".to_owned(),
                description: "invalid name".to_owned()
            }]
        );
    }
    // Too long.
    let config = ServerSessionConfig {
        max_name_length: 8,
        ..ServerSessionConfig::default()
    };
    let mut pair = Pair::with(ClientSessionConfig::default(), config);
    pair.connect();
    pair.client.play("123456789?q=long-query-is-fine").unwrap();
    pair.drive();
    assert_eq!(
        pair.server_error,
        Some(Error::Session(SessionError::InvalidName(
            NameError::TooLong { len: 9, max: 8 }
        )))
    );
}

#[test]
fn bad_app_names_are_refused() {
    for app in ["a/b/c", "..", "live/..", ""] {
        let mut pair = Pair::new();
        pair.client.connect(app, "rtmp://h/x").unwrap();
        pair.drive();
        assert!(
            matches!(
                pair.server_error,
                Some(Error::Session(SessionError::InvalidName(_)))
            ),
            "{app:?}: {:?}",
            pair.server_error
        );
        assert!(pair.server_events.is_empty());
        assert!(matches!(
            &pair.client_events[..],
            [ClientEvent::Rejected { code, .. }] if code == "NetConnection.Connect.Rejected"
        ));
    }
    // One instance level is fine.
    let mut pair = Pair::new();
    pair.client
        .connect("live/inst", "rtmp://h/live/inst")
        .unwrap();
    pair.drive();
    assert!(matches!(
        &pair.server_events[..],
        [ServerEvent::Connected { app, .. }] if app == "live/inst"
    ));
}

#[test]
fn timestamps_extend_past_32_bits_both_ways() {
    let base = 1u64 << 32;
    let times = [
        base - 100,
        base + 50,
        base + (1 << 30),
        base + (1 << 31),
        base + (1 << 31) + (1 << 30),
        2 * base + 5,
    ];
    let mut pair = Pair::new();
    pair.publishing("wrap");
    pair.server_events.clear();
    for t in times {
        pair.client.send_video(t, &[0x27, 1, 0, 0, 0]).unwrap();
    }
    pair.drive();
    let got: Vec<u64> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Video { timestamp_ms, .. } => Some(*timestamp_ms),
            _ => None,
        })
        .collect();
    assert_eq!(got, times);

    let mut pair = Pair::new();
    let sid = pair.playing("wrap");
    for t in times {
        pair.server.send_video(sid, t, &[0x27, 1, 0, 0, 0]).unwrap();
    }
    pair.drive();
    let got: Vec<u64> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Video { timestamp_ms, .. } => Some(*timestamp_ms),
            _ => None,
        })
        .collect();
    assert_eq!(got, times);
}

#[test]
fn acknowledgements_follow_the_window() {
    // The client asks for an ack every 5000 bytes (and confirms the server's peer bandwidth
    // with the same size, RTMP 1.0 §5.4.5).
    let client = ClientSessionConfig {
        window_ack_size: 5000,
        ..ClientSessionConfig::default()
    };
    let server = ServerSessionConfig {
        peer_bandwidth: 5000,
        ..ServerSessionConfig::default()
    };
    let mut pair = Pair::with(client, server);
    let sid = pair.publishing("acks");
    for i in 0..10 {
        pair.client.send_video(i * 33, &[0x27; 2000]).unwrap();
        pair.drive();
    }
    let acks: Vec<u32> = controls(&pair.server_messages())
        .into_iter()
        .filter_map(|c| match c {
            ControlMessage::Acknowledgement(n) => Some(n),
            _ => None,
        })
        .collect();
    // About 20 KB after the handshake, one ack per 5000 bytes received.
    assert!((3..=5).contains(&acks.len()), "{acks:?}");
    assert!(acks.windows(2).all(|w| w[1] - w[0] >= 5000), "{acks:?}");

    assert!(pair.server_error.is_none());
    let _ = sid;
}

#[test]
fn client_acknowledges_what_it_plays() {
    let server = ServerSessionConfig {
        window_ack_size: 3000,
        ..ServerSessionConfig::default()
    };
    let mut pair = Pair::with(ClientSessionConfig::default(), server);
    let sid = pair.playing("acks");
    let before = pair.s2c.len();
    for i in 0..10 {
        pair.server.send_video(sid, i * 33, &[0x27; 2000]).unwrap();
        pair.drive();
    }
    let acks: Vec<u32> = controls(&decode_all(&pair.c2s[HANDSHAKE_LEN..]))
        .into_iter()
        .filter_map(|c| match c {
            ControlMessage::Acknowledgement(n) => Some(n),
            _ => None,
        })
        .collect();
    let sent = pair.s2c.len() - HANDSHAKE_LEN;
    assert!(sent - (before - HANDSHAKE_LEN) > 20_000);
    // Acks go out at message boundaries once a 3000-byte window is crossed: with
    // 2000-byte messages, one every two messages.
    assert!((4..=7).contains(&acks.len()), "{acks:?} of {sent}");
    assert!(acks.windows(2).all(|w| w[1] - w[0] >= 3000), "{acks:?}");
    assert!(sent as u32 - acks.last().unwrap() < 3000 + 2100);
}

#[test]
fn pings_are_answered() {
    let mut pair = Pair::new();
    pair.connect();
    let mut payload = BytesMut::new();
    ControlMessage::UserControl(UserControlEvent::PingRequest(0xdead_beef)).write(&mut payload);
    pair.inject(MessageType::USER_CONTROL, 0, 0, &payload);
    assert!(
        controls(&pair.server_messages()).contains(&ControlMessage::UserControl(
            UserControlEvent::PingResponse(0xdead_beef)
        ))
    );
    assert!(pair.server_error.is_none());
}

#[test]
fn unknown_commands_get_error_and_session_survives() {
    let mut pair = Pair::new();
    pair.connect();
    pair.inject_command(
        0,
        &CommandMessage::new("fooBar", 7.0, Amf0Value::Null, vec![]),
    );
    pair.inject_command(
        0,
        &CommandMessage::new("noAnswer", 0.0, Amf0Value::Null, vec![]),
    );
    pair.inject_command(
        0,
        &CommandMessage::new(
            "getStreamLength",
            8.0,
            Amf0Value::Null,
            vec![str_value("x")],
        ),
    );
    assert!(pair.server_error.is_none());
    let cmds = commands(&pair.server_messages());
    let error = cmds.iter().find(|c| c.transaction_id == 7.0).unwrap();
    assert_eq!(error.name, "_error");
    assert_eq!(error.status().1, "NetConnection.Call.Failed");
    assert!(!cmds
        .iter()
        .any(|c| c.transaction_id == 0.0 && c.name == "_error"));
    let length = cmds.iter().find(|c| c.transaction_id == 8.0).unwrap();
    assert_eq!(length.name, "_result");
    // Still usable.
    pair.client.publish("after").unwrap();
    pair.drive();
    assert!(matches!(
        pair.server_events.last(),
        Some(ServerEvent::PublishRequested { .. })
    ));
}

#[test]
fn media_from_unaccepted_streams_is_ignored() {
    let mut pair = Pair::new();
    pair.connect();
    pair.client.publish("pending").unwrap();
    pair.drive();
    pair.server_events.clear();
    // Stream 1 is pending, stream 7 doesn't exist, stream 0 is the connection.
    for stream in [1, 7, 0] {
        pair.inject(MessageType::VIDEO, stream, 10, &[0x17, 1, 0, 0, 0]);
        pair.inject(MessageType::AUDIO, stream, 10, &[0xaf, 1]);
        let mut data = BytesMut::new();
        crate::metadata::DataMessage::write_set_data_frame(&[], &mut data);
        pair.inject(MessageType::DATA_AMF0, stream, 0, &data);
    }
    assert!(pair.server_events.is_empty(), "{:?}", pair.server_events);
    assert!(pair.server_error.is_none());
}

#[test]
fn commands_before_connect_are_fatal() {
    let mut pair = Pair::new();
    pair.drive();
    pair.inject_command(
        0,
        &CommandMessage::new("createStream", 2.0, Amf0Value::Null, vec![]),
    );
    assert_eq!(
        pair.server_error,
        Some(Error::Session(SessionError::NotConnected))
    );
}

#[test]
fn client_api_misuse_is_an_error() {
    let mut pair = Pair::new();
    assert_eq!(
        pair.client.publish("x"),
        Err(Error::Session(SessionError::InvalidState {
            operation: "publish"
        }))
    );
    pair.connect();
    pair.client.play("x").unwrap();
    assert_eq!(
        pair.client.publish("y"),
        Err(Error::Session(SessionError::InvalidState {
            operation: "publish"
        }))
    );
    assert!(pair.client.connect("live", "rtmp://h/live").is_err());
}

#[test]
fn stream_limit_and_aggregate() {
    let mut pair = Pair::new();
    let sid = pair.publishing("agg");
    pair.server_events.clear();
    // An aggregate of two video sub-messages at 100 and 140 ms, sent at 1000 ms.
    let mut body = Vec::new();
    for ts in [100u32, 140] {
        body.extend_from_slice(&[9, 0, 0, 2, 0, 0, ts as u8, 0, 0, 0, 0, 0x27, 1]);
        body.extend_from_slice(&13u32.to_be_bytes());
    }
    pair.inject(MessageType::AGGREGATE, sid.0, 1000, &body);
    let times: Vec<u64> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Video { timestamp_ms, .. } => Some(*timestamp_ms),
            _ => None,
        })
        .collect();
    assert_eq!(times, [1000, 1040]);

    for tx in 0..20 {
        pair.inject_command(
            0,
            &CommandMessage::new(
                "createStream",
                100.0 + f64::from(tx),
                Amf0Value::Null,
                vec![],
            ),
        );
    }
    let cmds = commands(&pair.server_messages());
    let errors = cmds
        .iter()
        .filter(|c| c.transaction_id >= 100.0 && c.name == "_error")
        .count();
    // One stream exists already; 15 more fit.
    assert_eq!(errors, 20 - 15);
    assert!(pair.server_error.is_none());
}

#[test]
fn malformed_input_never_panics() {
    // A cheap deterministic fuzz of the post-handshake input.
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for _ in 0..300 {
        let mut pair = Pair::new();
        pair.connect();
        let len = (next() % 600) as usize;
        let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if pair.server.handle_input(&garbage).is_err() {
            errors += 1;
            assert_eq!(
                pair.server.handle_input(b"x"),
                Err(Error::Session(SessionError::Closed))
            );
        }
        while pair.server.poll_event().is_some() {}
    }
    assert!(errors > 0);
}

#[test]
fn malformed_command_is_an_error() {
    let mut pair = Pair::new();
    pair.connect();
    pair.inject(MessageType::COMMAND_AMF0, 0, 0, &[0x02, 0x00, 0x09, b'a']);
    assert!(matches!(pair.server_error, Some(Error::Command(_))));
    let mut pair = Pair::new();
    pair.connect();
    pair.inject(MessageType::USER_CONTROL, 0, 0, &[0x00]);
    assert!(matches!(pair.server_error, Some(Error::Control(_))));
}

#[test]
fn status_objects_are_objects() {
    let cmd = CommandMessage::on_status("status", "X", "y");
    assert!(object_properties(&cmd.args[0]).is_some());
}
