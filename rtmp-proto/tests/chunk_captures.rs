//! The chunk streams of real RTMP sessions (tests/data/captures, recorded against nginx-rtmp)
//! decode into the expected messages, re-encode and decode to the same messages, and decode
//! the same however the bytes are split.

use std::collections::BTreeMap;

use bytes::BytesMut;
use onair_rtmp_proto::{ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, MessageType, RawMessage};

/// C0 + C1 + C2 (or S0 + S1 + S2): the chunk stream starts after them.
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn decode_in_pieces(wire: &[u8], mut next_len: impl FnMut() -> usize) -> Vec<RawMessage> {
    let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
    let mut input = BytesMut::new();
    let mut messages = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let n = next_len().clamp(1, rest.len());
        input.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(m) = decoder.decode(&mut input).expect("capture decodes") {
            messages.push(m);
        }
    }
    assert_eq!(decoder.bytes_received() as usize + input.len(), wire.len());
    messages
}

fn decode_whole(wire: &[u8]) -> (Vec<RawMessage>, usize) {
    let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
    let mut input = BytesMut::from(wire);
    let mut messages = Vec::new();
    while let Some(m) = decoder.decode(&mut input).expect("capture decodes") {
        messages.push(m);
    }
    (messages, input.len())
}

fn counts(messages: &[RawMessage]) -> BTreeMap<u8, usize> {
    let mut counts = BTreeMap::new();
    for m in messages {
        *counts.entry(m.type_id.0).or_default() += 1;
    }
    counts
}

/// Re-encodes every message (applying Set Chunk Size as the sender did) and decodes again.
fn reencode(messages: &[RawMessage]) -> BytesMut {
    let mut encoder = ChunkEncoder::new();
    let mut wire = BytesMut::new();
    for m in messages {
        encoder.encode_message(m, &mut wire).expect("encodes");
        if m.type_id == MessageType::SET_CHUNK_SIZE {
            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
            encoder.set_chunk_size(size).unwrap();
        }
    }
    wire
}

/// xorshift64*: a deterministic source of piece lengths.
fn piece_lengths(seed: u64, max: u64) -> impl FnMut() -> usize {
    let mut state = seed;
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % max) as usize + 1
    }
}

fn check_capture(name: &str, expected: &[(u8, usize)]) {
    let data = capture(name);
    let wire = &data[HANDSHAKE_LEN..];
    let (messages, leftover) = decode_whole(wire);
    let counts = counts(&messages);
    for (type_id, count) in expected {
        assert_eq!(
            counts.get(type_id).copied().unwrap_or(0),
            *count,
            "{name}: messages of type {type_id} (all counts: {counts:?})"
        );
    }

    let mut again = reencode(&messages);
    let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
    let mut round_trip = Vec::new();
    while let Some(m) = decoder
        .decode(&mut again)
        .expect("re-encoded stream decodes")
    {
        round_trip.push(m);
    }
    assert!(again.is_empty());
    assert_eq!(round_trip, messages, "{name}: round trip");

    for (seed, max) in [(1, 7), (0x9E37_79B9_7F4A_7C15, 300), (42, 5000)] {
        let pieces = decode_in_pieces(wire, piece_lengths(seed, max));
        assert_eq!(pieces, messages, "{name}: pieces of 1..={max} bytes");
    }
    assert!(
        leftover < 128 + 18,
        "{name}: at most one partial chunk left over"
    );
}

/// Counts FLV tag bodies by kind: AVC (codec 7) NALU packets, AVC sequence headers, and AAC
/// (sound format 10) raw frames and sequence headers.
fn media_counts(messages: &[RawMessage]) -> [usize; 4] {
    let mut counts = [0; 4];
    for m in messages {
        let codec_and_packet = (m.payload.first().copied(), m.payload.get(1).copied());
        match (m.type_id, codec_and_packet) {
            (MessageType::VIDEO, (Some(b), Some(1))) if b & 0x0F == 7 => counts[0] += 1,
            (MessageType::VIDEO, (Some(b), Some(0))) if b & 0x0F == 7 => counts[1] += 1,
            (MessageType::AUDIO, (Some(b), Some(1))) if b >> 4 == 10 => counts[2] += 1,
            (MessageType::AUDIO, (Some(b), Some(0))) if b >> 4 == 10 => counts[3] += 1,
            _ => {}
        }
    }
    counts
}

fn check_publish(name: &str, expected_types: &[(u8, usize)]) {
    check_capture(name, expected_types);
    let data = capture(name);
    let (messages, leftover) = decode_whole(&data[HANDSHAKE_LEN..]);
    assert_eq!(leftover, 0, "{name}: the capture ends on a chunk boundary");
    // 120 H.264 frames + 188 AAC frames (README), each codec with one sequence header
    assert_eq!(media_counts(&messages), [120, 1, 188, 1], "{name}");
    // a 4 s recording: media timestamps stay within it and never go backwards per type
    for type_id in [MessageType::AUDIO, MessageType::VIDEO] {
        let times: Vec<u32> = messages
            .iter()
            .filter(|m| m.type_id == type_id)
            .map(|m| m.timestamp.0)
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {type_id:?}"
        );
        let last = *times.last().unwrap();
        assert!(
            (3900..4100).contains(&last),
            "{name}: last {type_id:?} at {last} ms"
        );
    }
}

#[test]
fn ffmpeg_publish() {
    // Set Chunk Size, 7 commands, @setDataFrame; video includes the AVC end of sequence
    check_publish(
        "ffmpeg_publish.c2s.bin",
        &[(1, 1), (20, 7), (18, 1), (8, 189), (9, 122)],
    );
}

#[test]
fn gstreamer_publish() {
    check_publish(
        "gstreamer_publish.c2s.bin",
        &[(1, 1), (5, 1), (20, 7), (8, 189), (9, 122)],
    );
}

/// Server-to-client streams of the play sessions: the player got the sequence headers and
/// about 4 s (rtmpdump) or 2 s (ffmpeg) of media.
fn check_play(name: &str, min_video: usize, min_audio: usize) {
    check_capture(&format!("{name}.s2c.bin"), &[]);
    check_capture(&format!("{name}.c2s.bin"), &[(20, 5)]);
    let data = capture(&format!("{name}.s2c.bin"));
    let (messages, _) = decode_whole(&data[HANDSHAKE_LEN..]);
    let [video, video_headers, audio, audio_headers] = media_counts(&messages);
    assert_eq!((video_headers, audio_headers), (1, 1), "{name}");
    assert!(
        video >= min_video && audio >= min_audio,
        "{name}: {video} video, {audio} audio"
    );
}

#[test]
fn rtmpdump_play() {
    check_play("rtmpdump_play", 90, 140);
}

#[test]
fn ffmpeg_play() {
    check_play("ffmpeg_play", 40, 70);
}

/// The server handshake consumes exactly C0+C1+C2 of each client, in pieces, and the chunk
/// decoder takes over from the same buffer.
#[test]
fn handshake_then_chunk_stream() {
    use onair_rtmp_proto::{HandshakeStatus, ServerHandshake};
    for (name, complex, media) in [
        ("ffmpeg_publish.c2s.bin", true, 308),
        ("gstreamer_publish.c2s.bin", false, 308),
        ("ffmpeg_play.c2s.bin", true, 0),
        ("rtmpdump_play.c2s.bin", false, 0),
    ] {
        let data = capture(name);
        let mut server = ServerHandshake::new(0, &[0x33; 1528]);
        let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
        let mut input = BytesMut::new();
        let mut sent = BytesMut::new();
        let mut messages = Vec::new();
        let mut lengths = piece_lengths(7, 1000);
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = lengths().min(rest.len());
            input.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if !server.is_complete() {
                let status = server.handle_input(&mut input).expect("handshake");
                server.poll_transmit(&mut sent);
                if status == HandshakeStatus::InProgress {
                    continue;
                }
            }
            while let Some(m) = decoder.decode(&mut input).expect("chunk stream") {
                messages.push(m);
            }
        }
        assert_eq!(sent.len(), 3073, "{name}");
        assert_eq!(server.digest_scheme().is_some(), complex, "{name}");
        assert_eq!(
            decoder.bytes_received() as usize,
            data.len() - HANDSHAKE_LEN
        );
        let [video, _, audio, _] = media_counts(&messages);
        assert_eq!(video + audio, media, "{name}");
        // the first command is connect (AMF0 string "connect")
        let first_command = messages
            .iter()
            .find(|m| m.type_id == MessageType::COMMAND_AMF0)
            .expect("a command");
        assert_eq!(
            &first_command.payload[..10],
            b"\x02\x00\x07connect",
            "{name}"
        );
    }
}
