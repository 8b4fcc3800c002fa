//! Arbitrary frames -> TsMuxer -> a small independent TS/PES reader -> the same payloads.
//!
//! Checks every packet is 188 bytes with a sync byte, continuity counters advance by one per
//! PID, adaptation fields are well formed, PES headers carry the frame's PTS/DTS (33-bit
//! wrap), and each PES payload is exactly the codec framing the muxer promises around the
//! frame's bytes (Annex B with AUD and parameter sets, ADTS, Opus control header, MP3 as is).
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, CodecId, Frame, MediaTime, Mp3Config, OpusConfig, TrackId,
    TrackInfo,
};
use onair_ts_mux::{TsError, TsMuxer, TsMuxerConfig};

#[derive(Arbitrary, Debug)]
enum Op {
    Video {
        nals: Vec<Vec<u8>>,
        keyframe: bool,
        dts: i64,
        cts: i16,
    },
    Audio {
        track: u8,
        data: Vec<u8>,
        dts: i64,
    },
    NewSegment,
    Discontinuity,
}

#[derive(Arbitrary, Debug)]
struct Input {
    video_timescale: u32,
    audio_timescale: u32,
    sps: Vec<u8>,
    pps: Vec<u8>,
    ops: Vec<Op>,
}

const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];

fn ts90(ticks: i64, timescale: u32) -> u64 {
    (MediaTime::new(ticks, timescale).rescale(90_000) as u64) & ((1 << 33) - 1)
}

fn read_ts(field: &[u8]) -> u64 {
    (u64::from(field[0] >> 1 & 7) << 30)
        | (u64::from(field[1]) << 22)
        | (u64::from(field[2] >> 1) << 15)
        | (u64::from(field[3]) << 7)
        | u64::from(field[4] >> 1)
}

/// PES packets per PID, with a check of packet structure and continuity.
fn demux(ts: &[u8]) -> HashMap<u16, Vec<Vec<u8>>> {
    assert_eq!(ts.len() % 188, 0);
    let mut pes: HashMap<u16, Vec<Vec<u8>>> = HashMap::new();
    let mut cc: HashMap<u16, u8> = HashMap::new();
    for p in ts.chunks(188) {
        assert_eq!(p[0], 0x47);
        let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
        let counter = p[3] & 0x0f;
        if let Some(prev) = cc.insert(pid, counter) {
            assert_eq!(counter, (prev + 1) & 0x0f, "continuity on pid {pid}");
        }
        let start = match p[3] & 0x30 {
            0x10 => 4,
            0x30 => {
                let len = usize::from(p[4]);
                assert!(len <= 182, "adaptation field of {len} bytes with payload");
                if len > 0 {
                    let flags = p[5];
                    let pcr = usize::from(flags & 0x10 != 0) * 6;
                    assert_eq!(flags & 0x0f, 0, "unexpected adaptation field flags");
                    assert!(p[6 + pcr..5 + len].iter().all(|b| *b == 0xff), "stuffing");
                }
                5 + len
            }
            other => panic!("adaptation_field_control {other:#x}"),
        };
        if pid == 0 || pid == 0x1000 {
            continue;
        }
        let list = pes.entry(pid).or_default();
        if p[1] & 0x40 != 0 {
            list.push(Vec::new());
        }
        list.last_mut()
            .expect("payload before a unit start")
            .extend_from_slice(&p[start..]);
    }
    pes
}

fuzz_target!(|input: Input| {
    let vts = input.video_timescale.max(1);
    let ats = input.audio_timescale.max(1);
    let mut sps = vec![0x67];
    sps.extend_from_slice(&input.sps);
    let mut pps = vec![0x68];
    pps.extend_from_slice(&input.pps);
    let mut record = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1];
    record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    record.extend_from_slice(&sps);
    record.push(1);
    record.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    record.extend_from_slice(&pps);
    let Ok(avc) = AvcConfig::parse(Bytes::from(record)) else {
        return;
    };
    let opus_head = Bytes::from_static(b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
    let tracks = [
        (CodecId::H264, CodecConfig::Avc(avc)),
        (CodecId::Aac, CodecConfig::Aac(AacConfig::new(2, 4, 2))),
        (
            CodecId::Mp3,
            CodecConfig::Mp3(Mp3Config {
                sample_rate: 44_100,
                channels: 2,
            }),
        ),
        (
            CodecId::Opus,
            CodecConfig::Opus(OpusConfig::parse(opus_head).expect("static head")),
        ),
    ];
    let mut muxer = TsMuxer::new(TsMuxerConfig::default()).expect("default config");
    let mut pids = Vec::new();
    for (i, (_, config)) in tracks.iter().enumerate() {
        let timescale = if i == 0 { vts } else { ats };
        let info = TrackInfo {
            id: TrackId(i as u32),
            timescale,
            config: config.clone(),
        };
        pids.push(muxer.add_track(&info).expect("supported codec"));
    }

    let mut out = Vec::new();
    let mut expected: HashMap<u16, Vec<(Vec<u8>, u64, Option<u64>)>> = HashMap::new();
    let mut awaiting_keyframe = true;
    let mut param_sets = Vec::new();
    for nal in [&sps, &pps] {
        param_sets.extend_from_slice(&[0, 0, 0, 1]);
        param_sets.extend_from_slice(nal);
    }
    for op in input.ops.iter().take(64) {
        match op {
            Op::NewSegment => {
                muxer.new_segment();
                awaiting_keyframe = true;
            }
            Op::Discontinuity => muxer.set_discontinuity(),
            Op::Video {
                nals,
                keyframe,
                dts,
                cts,
            } => {
                let mut data = Vec::new();
                let mut es = AUD.to_vec();
                let mut body = Vec::new();
                let mut has_ps = false;
                let mut has_idr = false;
                for nal in nals.iter().take(16) {
                    data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    data.extend_from_slice(nal);
                    match nal.first().map(|b| b & 0x1f) {
                        None | Some(9) => continue,
                        Some(7 | 8) => has_ps = true,
                        Some(5) => has_idr = true,
                        _ => {}
                    }
                    body.extend_from_slice(&[0, 0, 0, 1]);
                    body.extend_from_slice(nal);
                }
                if (*keyframe || has_idr) && !has_ps {
                    es.extend_from_slice(&param_sets);
                }
                es.extend_from_slice(&body);
                let pts = dts.saturating_add(i64::from(*cts));
                let frame = Frame {
                    track: TrackId(0),
                    codec: CodecId::H264,
                    timescale: vts,
                    dts: *dts,
                    pts,
                    keyframe: *keyframe,
                    data: Bytes::from(data),
                };
                let n = muxer
                    .write_frame(&frame, &mut out)
                    .expect("valid video frame");
                if awaiting_keyframe && !keyframe {
                    assert_eq!(n, 0);
                    continue;
                }
                awaiting_keyframe = false;
                let (p, d) = (ts90(pts, vts), ts90(*dts, vts));
                expected
                    .entry(pids[0].get())
                    .or_default()
                    .push((es, p, (p != d).then_some(d)));
            }
            Op::Audio { track, data, dts } => {
                let index = 1 + usize::from(track % 3);
                let (codec, _) = &tracks[index];
                let frame = Frame {
                    track: TrackId(index as u32),
                    codec: *codec,
                    timescale: ats,
                    dts: *dts,
                    pts: *dts,
                    keyframe: true,
                    data: Bytes::from(data.clone()),
                };
                let result = muxer.write_frame(&frame, &mut out);
                let es = match codec {
                    CodecId::Aac => {
                        if data.len() + 7 > 0x1fff {
                            assert!(matches!(result, Err(TsError::FrameTooLarge { .. })));
                            continue;
                        }
                        let len = data.len() + 7;
                        let mut es = vec![
                            0xff,
                            0xf1,
                            0x50,
                            0x80 | (len >> 11) as u8,
                            (len >> 3) as u8,
                            ((len & 7) as u8) << 5 | 0x1f,
                            0xfc,
                        ];
                        es.extend_from_slice(data);
                        es
                    }
                    CodecId::Opus => {
                        let mut es = vec![0x7f, 0xe0];
                        es.extend(std::iter::repeat_n(0xff, data.len() / 255));
                        es.push((data.len() % 255) as u8);
                        es.extend_from_slice(data);
                        es
                    }
                    _ => data.clone(),
                };
                result.expect("valid audio frame");
                expected
                    .entry(pids[index].get())
                    .or_default()
                    .push((es, ts90(*dts, ats), None));
            }
        }
    }

    let got = demux(&out);
    for pid in &pids {
        let want = expected.remove(&pid.get()).unwrap_or_default();
        let have = got.get(&pid.get()).cloned().unwrap_or_default();
        assert_eq!(have.len(), want.len(), "PES count on pid {pid}");
        for (pes, (es, pts, dts)) in have.iter().zip(want) {
            assert_eq!(&pes[..3], &[0, 0, 1]);
            let header_len = 9 + usize::from(pes[8]);
            assert_eq!(read_ts(&pes[9..14]), pts, "pts");
            match dts {
                Some(d) => {
                    assert_eq!(pes[7], 0xc0);
                    assert_eq!(read_ts(&pes[14..19]), d, "dts");
                }
                None => assert_eq!(pes[7], 0x80),
            }
            let declared = usize::from(u16::from_be_bytes([pes[4], pes[5]]));
            if declared != 0 {
                assert_eq!(declared + 6, pes.len(), "PES_packet_length");
            }
            assert_eq!(&pes[header_len..], &es[..], "payload on pid {pid}");
        }
    }
});
