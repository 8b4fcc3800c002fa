#![no_main]
//! The chunk decoder on arbitrary bytes with small limits (no panic, limits respected), and a
//! round-trip oracle: messages built from the input, encoded and decoded, come back equal.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use onair_rtmp_proto::{
    ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, ChunkStreamId, MessageStreamId, MessageType,
    RawMessage, RtmpTimestamp,
};

const SMALL: ChunkDecoderConfig = ChunkDecoderConfig {
    max_chunk_size: 4096,
    max_message_length: 8192,
    max_partial_messages: 4,
    max_chunk_streams: 8,
};

#[derive(Debug, Arbitrary)]
enum Op {
    Message {
        csid: u16,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        len: u16,
        fill: u8,
    },
    SmallTimestep {
        csid: u8,
        step: u8,
        len: u8,
    },
    SetChunkSize(u16),
}

fn decode_arbitrary(data: &[u8]) {
    let mut decoder = ChunkDecoder::new(SMALL);
    // feed in two parts to exercise incomplete chunks
    let split = data.len() / 3;
    let mut input = BytesMut::from(&data[..split]);
    let mut fed_rest = false;
    loop {
        match decoder.decode(&mut input) {
            Ok(Some(m)) => {
                assert!(m.payload.len() <= SMALL.max_message_length as usize);
                assert!(decoder.chunk_size() <= SMALL.max_chunk_size);
            }
            Ok(None) if !fed_rest => {
                input.extend_from_slice(&data[split..]);
                fed_rest = true;
            }
            Ok(None) | Err(_) => break,
        }
    }
    assert!(decoder.bytes_received() <= data.len() as u64);
}

fn round_trip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut encoder = ChunkEncoder::new();
    let mut wire = BytesMut::new();
    let mut sent = Vec::new();
    let mut last_ts = 0u32;
    // `arbitrary` keeps producing default values from exhausted input: stop by hand
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let message = match op {
            Op::Message {
                csid,
                timestamp,
                type_id,
                stream_id,
                len,
                fill,
            } => {
                // types 1 and 2 change the decoder's state; they get their own op
                let type_id = if type_id == 1 || type_id == 2 {
                    8
                } else {
                    type_id
                };
                RawMessage {
                    csid: ChunkStreamId(3 + u32::from(csid)),
                    timestamp: RtmpTimestamp(timestamp),
                    type_id: MessageType(type_id),
                    stream_id: MessageStreamId(stream_id),
                    payload: Bytes::from(vec![fill; usize::from(len) % 700]),
                }
            }
            Op::SmallTimestep { csid, step, len } => RawMessage {
                csid: ChunkStreamId(3 + u32::from(csid % 4)),
                timestamp: RtmpTimestamp(last_ts.wrapping_add(u32::from(step))),
                type_id: MessageType::VIDEO,
                stream_id: MessageStreamId(1),
                payload: Bytes::from(vec![len; usize::from(len)]),
            },
            Op::SetChunkSize(size) => {
                // small sizes give many chunks per message; below 32 they only slow the fuzzer
                let size = 32 + u32::from(size % 4064);
                let m = RawMessage {
                    csid: ChunkStreamId::PROTOCOL_CONTROL,
                    timestamp: RtmpTimestamp(0),
                    type_id: MessageType::SET_CHUNK_SIZE,
                    stream_id: MessageStreamId(0),
                    payload: Bytes::copy_from_slice(&size.to_be_bytes()),
                };
                encoder.encode_message(&m, &mut wire).unwrap();
                encoder.set_chunk_size(size).unwrap();
                sent.push(m);
                continue;
            }
        };
        last_ts = message.timestamp.0;
        encoder.encode_message(&message, &mut wire).unwrap();
        sent.push(message);
    }
    let mut decoder = ChunkDecoder::new(ChunkDecoderConfig {
        max_chunk_streams: 70_000,
        ..ChunkDecoderConfig::default()
    });
    let mut received = Vec::new();
    while let Some(m) = decoder.decode(&mut wire).expect("our own encoding decodes") {
        received.push(m);
    }
    assert!(wire.is_empty());
    assert_eq!(received, sent);
}

fuzz_target!(|data: &[u8]| {
    decode_arbitrary(data);
    round_trip(data);
});
