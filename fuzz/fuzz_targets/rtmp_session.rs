#![no_main]
//! A `ServerSession` after a valid (simple) handshake, fed arbitrary bytes in pieces, through
//! `handle_input` and through its own input buffer (`input_buffer` + `process_input`) in
//! turn. Every publish and play request is accepted, and players are sent a little media, so
//! the fuzzer reaches the publishing and playing states. Oracles: no panic; after an error the
//! session stays closed; queued output stays bounded by what the input could cause, and so
//! does what the input buffer keeps between calls.

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use onair_rtmp_proto::{
    ChunkDecoderConfig, Error, ServerEvent, ServerSession, ServerSessionConfig, SessionError,
};

fuzz_target!(|data: &[u8]| {
    let config = ServerSessionConfig {
        chunk: ChunkDecoderConfig {
            max_chunk_size: 65_536,
            max_message_length: 1 << 20,
            max_partial_messages: 8,
            max_chunk_streams: 16,
        },
        ..ServerSessionConfig::default()
    };
    let mut session = ServerSession::new(config, 0, &[0x42; 1528]);
    let mut handshake = vec![3u8];
    handshake.resize(1 + 1536 * 2, 0);
    session
        .handle_input(&handshake)
        .expect("a simple handshake is valid");
    let mut out = BytesMut::new();
    session.poll_transmit(&mut out);
    for (n, piece) in data.chunks(1009).enumerate() {
        let result = if n % 2 == 0 {
            session.handle_input(piece)
        } else {
            session.input_buffer().extend_from_slice(piece);
            session.process_input()
        };
        // What stays is one incomplete chunk: a header and at most one message.
        assert!(session.input_buffer().len() <= 18 + (1 << 20));
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::PublishRequested { request, .. } => {
                    let _ = session.accept(request);
                }
                ServerEvent::PlayRequested {
                    request, stream_id, ..
                } => {
                    if session.accept(request).is_ok() {
                        let _ = session.send_metadata(stream_id, &[]);
                        let _ = session.send_video(stream_id, 1 << 32, &[0x17, 0, 0, 0, 0]);
                        let _ = session.send_audio(stream_id, 5, &[0xaf, 1]);
                        let _ = session.end_play(stream_id);
                    }
                }
                _ => {}
            }
        }
        out.clear();
        session.poll_transmit(&mut out);
        // Answers are small: a few KB per command at most.
        assert!(out.len() <= 64 * 1024 + 32 * piece.len(), "{}", out.len());
        if result.is_err() {
            assert_eq!(
                session.handle_input(b"\x03"),
                Err(Error::Session(SessionError::Closed))
            );
            break;
        }
    }
});
