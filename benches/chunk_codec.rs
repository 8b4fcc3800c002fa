//! Decoding and re-encoding the chunk stream of a recorded ~3 Mbps publish session (ffmpeg,
//! `tests/data/captures/ffmpeg_publish.c2s.bin` of rtmp-proto, handshake skipped): what a
//! relay does with every byte. Our `ChunkDecoder` + `ChunkEncoder` against the `rml_rtmp`
//! crate's `ChunkDeserializer` + `ChunkSerializer` doing the same work, in the same group.
//!
//! Both read the stream in 16 KiB pieces (like socket reads), apply the sender's Set Chunk
//! Size, and re-encode every message with the sender's chunk size.
//!
//! A socket read is modelled as a copy into the buffer the reader hands the kernel: for
//! `ChunkDecoder` that is its own input `BytesMut` (a relay reads straight into it), for
//! `rml_rtmp` a read buffer of the caller's, which `ChunkDeserializer` then copies into its own.
//! Each side pays exactly the copies it would pay behind a real socket.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onair_rtmp_proto::{ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, MessageType};

/// C0 + C1 + C2.
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;
/// Bytes handed over per "socket read".
const READ_LEN: usize = 16 * 1024;

fn chunk_stream() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rtmp-proto/tests/data/captures/ffmpeg_publish.c2s.bin"
    );
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    data[HANDSHAKE_LEN..].to_vec()
}

fn chunk_size_of(payload: &[u8]) -> u32 {
    match payload.get(..4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => panic!("short Set Chunk Size"),
    }
}

/// Returns (messages, bytes written).
fn onair(wire: &[u8]) -> (usize, usize) {
    let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
    let mut encoder = ChunkEncoder::new();
    let mut input = BytesMut::with_capacity(READ_LEN * 2);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let (mut messages, mut written) = (0, 0);
    for read in wire.chunks(READ_LEN) {
        // the socket read, straight into the decoder's input buffer
        input.extend_from_slice(read);
        while let Some(message) = decoder.decode(&mut input).expect("decodes") {
            encoder.encode_message(&message, &mut out).expect("encodes");
            if message.type_id == MessageType::SET_CHUNK_SIZE {
                encoder
                    .set_chunk_size(chunk_size_of(&message.payload))
                    .expect("valid size");
            }
            messages += 1;
        }
        // what a relay does with its output buffer: hand it to the socket
        written += out.len();
        black_box(&out[..]);
        out.clear();
    }
    (messages, written)
}

fn rml(wire: &[u8]) -> (usize, usize) {
    use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
    let mut deserializer = ChunkDeserializer::new();
    let mut serializer = ChunkSerializer::new();
    let mut read_buf = vec![0u8; READ_LEN];
    let (mut messages, mut written) = (0, 0);
    for read in wire.chunks(READ_LEN) {
        // the socket read into the caller's buffer
        let read_buf = &mut read_buf[..read.len()];
        read_buf.copy_from_slice(read);
        let mut next = deserializer
            .get_next_message(black_box(read_buf))
            .expect("decodes");
        while let Some(message) = next {
            if message.type_id == MessageType::SET_CHUNK_SIZE.0 {
                let size = chunk_size_of(&message.data);
                deserializer
                    .set_max_chunk_size(size as usize)
                    .expect("valid size");
                let packet = serializer
                    .set_max_chunk_size(size, message.timestamp)
                    .expect("valid size");
                written += black_box(packet.bytes).len();
            } else {
                let packet = serializer
                    .serialize(&message, false, false)
                    .expect("encodes");
                written += black_box(packet.bytes).len();
            }
            messages += 1;
            next = deserializer.get_next_message(&[]).expect("decodes");
        }
    }
    (messages, written)
}

fn chunk_codec(c: &mut Criterion) {
    let wire = chunk_stream();
    // both see the same messages (and the re-encoding is about the input's size)
    let (ours, ours_written) = onair(&wire);
    let (theirs, theirs_written) = rml(&wire);
    assert_eq!(ours, theirs, "message counts differ");
    assert!(ours_written.abs_diff(wire.len()) < wire.len() / 50);
    assert!(theirs_written.abs_diff(wire.len()) < wire.len() / 50);

    let mut group = c.benchmark_group("chunk_codec");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("onair_decode_reencode", |b| {
        b.iter(|| onair(black_box(&wire)))
    });
    group.bench_function("rml_rtmp_decode_reencode", |b| {
        b.iter(|| rml(black_box(&wire)))
    });
    group.finish();
}

criterion_group!(benches, chunk_codec);
criterion_main!(benches);
