//! The publish and play flows end to end, timestamps, acknowledgements and pings.

use bytes::BytesMut;

use super::*;

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
        result.status().code,
        OnStatusCode::NetConnectionConnectSuccess
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
            assert_eq!(*publish_type, PublishType::Live);
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
        ClientEvent::Status { code, .. } if *code == OnStatusCode::NetStreamUnpublishSuccess
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
fn a_player_is_notified_of_a_republish_and_gets_media_again() {
    let mut pair = Pair::new();
    let sid = pair.playing("show");
    pair.server
        .send_video(sid, 500, &[0x17, 1, 0, 0, 0])
        .unwrap();
    pair.server.end_play(sid).unwrap();
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::StreamEnded));
    pair.client_events.clear();
    pair.server.notify_publish(sid).unwrap();
    // the new publisher's timestamps start again at 0
    pair.server.send_video(sid, 0, &[0x17, 0, 0, 0, 0]).unwrap();
    pair.server.end_play(sid).unwrap();
    pair.drive();
    let codes: Vec<&OnStatusCode> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    assert!(
        codes.contains(&&OnStatusCode::NetStreamPlayPublishNotify),
        "{codes:?}"
    );
    assert!(
        pair.client_events.iter().any(|e| matches!(
            e,
            ClientEvent::Video {
                timestamp_ms: 0,
                ..
            }
        )),
        "{:?}",
        pair.client_events
    );
    // Stream Begin re-armed the client: the second end is reported too.
    assert_eq!(
        pair.client_events
            .iter()
            .filter(|e| **e == ClientEvent::StreamEnded)
            .count(),
        1,
        "{:?}",
        pair.client_events
    );
    assert!(pair.server_error.is_none() && pair.client_error.is_none());
    assert_eq!(
        pair.server.notify_publish(MessageStreamId(9)),
        Err(Error::Session(SessionError::NotPlaying { stream_id: 9 }))
    );
}

#[test]
fn bare_stream_eof_and_begin_carry_no_status() {
    let mut pair = Pair::new();
    let sid = pair.playing("show");
    pair.client_events.clear();
    pair.server.send_stream_eof(sid).unwrap();
    pair.server.send_stream_begin(sid).unwrap();
    pair.server.send_video(sid, 0, &[0x17, 0, 0, 0, 0]).unwrap();
    pair.server.send_stream_eof(sid).unwrap();
    pair.drive();
    match &pair.client_events[..] {
        [ClientEvent::StreamEnded, ClientEvent::Video { .. }, ClientEvent::StreamEnded] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pair.server.send_stream_begin(MessageStreamId(9)),
        Err(Error::Session(SessionError::NotPlaying { stream_id: 9 }))
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
            code: OnStatusCode::NetStreamPublishBadName,
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
            code: OnStatusCode::NetStreamPlayStreamNotFound,
            description: "no such stream".to_owned()
        }]
    );
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
fn request_cancelled_by_delete_stream_ends_cleanly() {
    let mut pair = Pair::new();
    pair.connect();
    pair.server_events.clear();
    pair.client.play("gone").unwrap();
    pair.drive();
    let Some(ServerEvent::PlayRequested {
        request, stream_id, ..
    }) = pair.server_events.pop()
    else {
        panic!("no request");
    };
    // The player gives up before the application answers.
    pair.client.close_stream().unwrap();
    pair.drive();
    assert!(pair.server_events.is_empty());
    pair.server.accept(request).unwrap();
    assert_eq!(
        pair.server.poll_event(),
        Some(ServerEvent::PlayEnded { stream_id })
    );
    assert!(!pair.server.is_closed());
    assert_eq!(
        pair.server.accept(request),
        Err(Error::Session(SessionError::RequestNotPending {
            request: request.as_u64()
        }))
    );
    // The connection is still good for another stream.
    pair.client.play("other").unwrap();
    pair.drive();
    assert!(matches!(
        pair.server_events.last(),
        Some(ServerEvent::PlayRequested { name, .. }) if name.as_str() == "other"
    ));
}
