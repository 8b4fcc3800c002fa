//! TS bytes produced per second by `onair_ts_mux::TsMuxer` from in-memory frames
//! (the goal: at least 3 GB/s on one core).
//!
//! Input: 10 s of a 25 fps H.264 stream (one 120 kB keyframe per second, 20 kB P/B frames
//! with B-frame timestamps) and 48 kHz AAC, muxed into a buffer reserved once and reused.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onair_media_types::{AacConfig, AvcConfig, CodecConfig, CodecId, Frame, TrackId, TrackInfo};
use onair_ts_mux::{TsMuxer, TsMuxerConfig};

/// A length-prefixed access unit: one slice NAL unit of `size` bytes of type `nal_type`.
fn access_unit(nal_type: u8, size: usize, seed: u8) -> Bytes {
    let mut v = Vec::with_capacity(size + 4);
    v.extend_from_slice(&(size as u32).to_be_bytes());
    v.push(nal_type);
    v.extend((1..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1));
    Bytes::from(v)
}

fn workload() -> (Vec<TrackInfo>, Vec<Frame>) {
    let avc = AvcConfig::parse(Bytes::from_static(&[
        1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee,
    ]))
    .unwrap_or_else(|e| panic!("{e}"));
    let tracks = vec![
        TrackInfo {
            id: TrackId(0),
            timescale: 90_000,
            config: CodecConfig::Avc(avc),
        },
        TrackInfo {
            id: TrackId(1),
            timescale: 48_000,
            config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
        },
    ];
    let key = access_unit(0x65, 120_000, 1);
    let inter = access_unit(0x41, 20_000, 2);
    let audio = Bytes::from(vec![0x21u8; 400]);
    let mut frames = Vec::new();
    let mut next_audio = 0i64;
    for i in 0..250i64 {
        let dts = i * 3600;
        // Presentation order I P B B P B B ...: PTS two frames ahead of DTS.
        let pts = dts + 7200;
        while next_audio * 90_000 / 48_000 <= dts {
            frames.push(Frame {
                track: TrackId(1),
                codec: CodecId::Aac,
                timescale: 48_000,
                dts: next_audio,
                pts: next_audio,
                keyframe: true,
                data: audio.clone(),
            });
            next_audio += 1024;
        }
        frames.push(Frame {
            track: TrackId(0),
            codec: CodecId::H264,
            timescale: 90_000,
            dts,
            pts,
            keyframe: i % 25 == 0,
            data: if i % 25 == 0 {
                key.clone()
            } else {
                inter.clone()
            },
        });
    }
    (tracks, frames)
}

fn mux_all(tracks: &[TrackInfo], frames: &[Frame], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut muxer = TsMuxer::new(TsMuxerConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    for t in tracks {
        muxer.add_track(t).unwrap_or_else(|e| panic!("{e}"));
    }
    for f in frames {
        if f.keyframe && f.track == TrackId(0) {
            muxer.new_segment();
        }
        muxer.write_frame(f, out).unwrap_or_else(|e| panic!("{e}"));
    }
    out.len()
}

fn bench(c: &mut Criterion) {
    let (tracks, frames) = workload();
    let mut out = Vec::new();
    let ts_bytes = mux_all(&tracks, &frames, &mut out);
    let mut group = c.benchmark_group("ts_mux");
    group.throughput(Throughput::Bytes(ts_bytes as u64));
    group.bench_function("h264_aac_10s", |b| {
        b.iter(|| black_box(mux_all(black_box(&tracks), black_box(&frames), &mut out)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
