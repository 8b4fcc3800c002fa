#![no_main]
//! Server and client handshakes on arbitrary bytes: no panic, only handshake bytes consumed,
//! and what they send has the sizes the protocol fixes.

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use onair_rtmp_proto::{ClientHandshake, HandshakeStatus, ServerHandshake, RANDOM_LEN};

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the input is split, to exercise partial input.
    let (split, bytes) = match data.split_first() {
        Some((&s, rest)) => (usize::from(s) * 16, rest),
        None => return,
    };
    let split = split.min(bytes.len());

    let mut server = ServerHandshake::new(1, &[0x5A; RANDOM_LEN]);
    let mut input = BytesMut::from(&bytes[..split]);
    let mut sent = BytesMut::new();
    let mut result = server.handle_input(&mut input);
    if result.is_ok() {
        input.extend_from_slice(&bytes[split..]);
        result = server.handle_input(&mut input);
    }
    server.poll_transmit(&mut sent);
    match result {
        Ok(HandshakeStatus::Done) => {
            assert!(server.is_complete());
            assert_eq!(sent.len(), 3073);
            assert_eq!(input.len(), bytes.len() - 3073);
        }
        Ok(HandshakeStatus::InProgress) => assert!(sent.is_empty() || sent.len() == 3073),
        Err(_) => {}
    }

    for mut client in [
        ClientHandshake::new(2, &[0xA5; RANDOM_LEN]),
        ClientHandshake::new_simple(2, &[0xA5; RANDOM_LEN]),
    ] {
        let mut out = BytesMut::new();
        client.poll_transmit(&mut out);
        assert_eq!(out.len(), 1537);
        let mut input = BytesMut::from(&bytes[..split]);
        let mut result = client.handle_input(&mut input);
        if result.is_ok() {
            input.extend_from_slice(&bytes[split..]);
            result = client.handle_input(&mut input);
        }
        out.clear();
        client.poll_transmit(&mut out);
        if let Ok(HandshakeStatus::Done) = result {
            assert_eq!(out.len(), 1536);
            assert_eq!(input.len(), bytes.len() - 3073);
        } else {
            assert!(out.is_empty());
        }
    }
});
