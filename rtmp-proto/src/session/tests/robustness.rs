//! Bad names, bad commands, bad bytes, limits and API misuse.

use bytes::BytesMut;

use super::*;

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
        (".hidden", NameError::LeadingDot),
        ("c:key", NameError::PathSeparator),
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
                code: OnStatusCode::NetStreamPublishBadName,
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
    for app in ["a/b/c", "..", "live/..", "", ".live", "live:x"] {
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
            [ClientEvent::Rejected { code, .. }] if *code == OnStatusCode::NetConnectionConnectRejected
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
    assert_eq!(error.status().code, OnStatusCode::NetConnectionCallFailed);
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
fn media_from_non_publishers_is_ignored_and_early_media_kept() {
    let mut pair = Pair::new();
    pair.connect();
    pair.server_events.clear();
    pair.client.publish("pending").unwrap();
    pair.drive();
    let Some(ServerEvent::PublishRequested { request, .. }) = pair.server_events.pop() else {
        panic!("no request");
    };
    // Stream 1 waits for the answer, stream 7 doesn't exist, stream 0 is the connection.
    for stream in [1, 7, 0] {
        pair.inject(MessageType::VIDEO, stream, 10, &[0x17, 1, 0, 0, 0]);
        pair.inject(MessageType::AUDIO, stream, 12, &[0xaf, 1]);
        let mut data = BytesMut::new();
        crate::metadata::DataMessage::write_set_data_frame(&[], &mut data);
        pair.inject(MessageType::DATA_AMF0, stream, 0, &data);
    }
    assert!(pair.server_events.is_empty(), "{:?}", pair.server_events);
    assert!(pair.server_error.is_none());
    // Accepting delivers what stream 1 sent early, in order, and nothing else.
    pair.server.accept(request).unwrap();
    let mut events = Vec::new();
    while let Some(e) = pair.server.poll_event() {
        events.push(e);
    }
    match &events[..] {
        [ServerEvent::Video {
            timestamp_ms: 10, ..
        }, ServerEvent::Audio {
            timestamp_ms: 12, ..
        }, ServerEvent::Metadata { stream_id, .. }] => assert_eq!(stream_id.0, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn early_media_is_bounded_and_dropped_on_reject() {
    let mut pair = Pair::new();
    pair.connect();
    pair.client.publish("flood").unwrap();
    pair.drive();
    let Some(ServerEvent::PublishRequested { request, .. }) = pair.server_events.pop() else {
        panic!("no request");
    };
    for i in 0..600 {
        pair.inject(MessageType::VIDEO, 1, i, &[0x27, 1, 0, 0, 0]);
    }
    pair.server.accept(request).unwrap();
    let mut kept = 0;
    while let Some(e) = pair.server.poll_event() {
        assert!(matches!(e, ServerEvent::Video { .. }));
        kept += 1;
    }
    assert_eq!(kept, 512);

    let mut pair = Pair::new();
    pair.connect();
    pair.client.publish("refused").unwrap();
    pair.drive();
    let Some(ServerEvent::PublishRequested { request, .. }) = pair.server_events.pop() else {
        panic!("no request");
    };
    pair.inject(MessageType::VIDEO, 1, 0, &[0x17, 0, 0, 0, 0]);
    pair.server.reject(request, "no").unwrap();
    assert_eq!(pair.server.poll_event(), None);
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
    let cmd = CommandMessage::on_status(&Status::new(OnStatusCode::from("X"), "y"));
    assert!(object_properties(&cmd.args[0]).is_some());
}

#[test]
fn bad_handshake_is_an_error() {
    let mut server = ServerSession::new(ServerSessionConfig::default(), 0, &[0; 1528]);
    // Version 6 is RTMPE, not served.
    let result = server.handle_input(&[6; 1537]);
    assert!(matches!(result, Err(Error::Handshake(_))), "{result:?}");
    assert!(server.is_closed());
    let mut client = ClientSession::new(ClientSessionConfig::default(), 0, &[0; 1528]);
    let result = client.handle_input(&[9; 3073]);
    assert!(matches!(result, Err(Error::Handshake(_))), "{result:?}");
}
