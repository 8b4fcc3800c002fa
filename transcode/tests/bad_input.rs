//! Bad input never crashes the ladder: a corrupt packet is counted and decoding resumes at
//! the next keyframe, a resolution change re-plans the ladder, a missing decoder
//! configuration is a typed error, MP3 and Opus audio come out as AAC.

use bytes::Bytes;
use onair_media_types::{AvcConfig, CodecConfig, CodecId, Frame, MediaKind, TrackId, TrackInfo};
use onair_testkit::{ffmpeg9, probe_streams, tool, Lavfi};
use onair_transcode::{Event, Ladder, TranscodeError, Transcoder, TranscoderConfig};

mod common;
use common::*;

fn config(ladder: &str) -> TranscoderConfig {
    TranscoderConfig::new(ladder.parse::<Ladder>().expect("ladder"))
}

fn video_frames(items: &mut [Item]) -> Vec<&mut Frame> {
    items
        .iter_mut()
        .filter_map(|i| match i {
            Item::Frame(f) if f.codec.kind() == MediaKind::Video => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn corrupt_packets_are_counted_and_decoding_resumes_at_the_next_keyframe() {
    // 6 s at 30 fps, a keyframe every second, no B-frames.
    let input = Lavfi {
        video: "testsrc2=size=640x360:rate=30",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 6,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-b:v",
            "1M",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ],
    }
    .cached(tool("ffmpeg"), &media_dir(), "h264_360p_1s_gop_6s.flv");
    let mut items = read_flv(&input);
    {
        let mut frames = video_frames(&mut items);
        // Frame 40 (second GOP): the slice data scrambled, lengths intact.
        let f = &mut frames[40];
        let mut data = f.data.to_vec();
        let mut seed = 0x1234_5678_u32;
        for b in data.iter_mut().skip(12) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = (seed >> 16) as u8;
        }
        f.data = Bytes::from(data);
        // Frame 100 (fourth GOP): a NAL length running past the packet.
        let f = &mut frames[100];
        let mut data = f.data.to_vec();
        data[..4].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        f.data = Bytes::from(data);
    }
    let run = run_ladder(config("360p@600k,240p@300k"), items, |_, _| {});
    let corrupt: Vec<_> = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::CorruptInput { .. }))
        .collect();
    assert_eq!(run.stats.corrupt_packets, 2, "{:?}", run.events);
    assert_eq!(corrupt.len(), 2);
    // Frames 40..60 and 100..120 are missing: 180 - 40.
    for p in run.renditions.values() {
        assert_eq!(p.stats.frames, 140, "{}", p.info.name);
        assert_eq!(decodes_clean(&p.playlist()), 140, "{}", p.info.name);
    }
    assert_aligned(&run, 1.0 / 30.0);
}

/// `items` with every timestamp moved `ms` later.
fn shifted(items: Vec<Item>, ms: i64) -> Vec<Item> {
    items
        .into_iter()
        .map(|i| match i {
            Item::Frame(mut f) => {
                let d = onair_media_types::MediaTime::new(ms, 1000).rescale(f.timescale);
                f.pts += d;
                f.dts += d;
                Item::Frame(f)
            }
            track => track,
        })
        .collect()
}

#[test]
fn a_resolution_change_replans_the_ladder_and_the_output_decodes_cleanly() {
    // 3 s of 4:3 640x480, then (a new sequence header) 3 s of 16:9 640x360.
    let part = |name: &str, size: &str| {
        h264_flv(name, &format!("testsrc2=size={size}:rate=30"), 3, 30, 1000)
    };
    let mut items = read_flv(&part("h264_480p43_3s.flv", "640x480"));
    items.extend(shifted(
        read_flv(&part("h264_360p169_3s.flv", "640x360")),
        3000,
    ));
    let run = run_ladder(config("360p,240p"), items, |_, _| {});
    let reinit: Vec<_> = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Reinitialized { .. }))
        .collect();
    assert_eq!(
        reinit,
        [&Event::Reinitialized {
            width: 640,
            height: 360
        }]
    );
    assert_eq!(run.stats.reinitializations, 1);
    // The same two renditions throughout, their picture width following the new aspect.
    assert_eq!(run.names(), ["240p", "360p"]);
    for (name, before, after) in [("360p", 480, 640), ("240p", 320, 426)] {
        let p = run.by_name(name);
        let playlist = std::fs::read_to_string(p.playlist()).unwrap();
        assert_eq!(
            playlist.matches("#EXT-X-DISCONTINUITY\n").count(),
            1,
            "{playlist}"
        );
        let segments = p.segments();
        let first = probe_streams(&segments[0]);
        let last = probe_streams(&segments[segments.len() - 1]);
        assert!(
            first.iter().any(|s| s.kind == "video" && s.width == before),
            "{first:?}"
        );
        assert!(
            last.iter().any(|s| s.kind == "video" && s.width == after),
            "{last:?}"
        );
        assert_eq!(p.stats.frames, 180, "{name}");
        let decoded: u64 = segments.iter().map(|s| decodes_clean(s)).sum();
        assert_eq!(decoded, 180, "{name}");
    }
    assert_aligned(&run, 1.0 / 30.0);
}

#[test]
fn a_missing_decoder_configuration_is_a_typed_error() {
    let mut ladder = Transcoder::new(config("240p")).unwrap();
    let frame = Frame {
        track: TrackId(1),
        codec: CodecId::H264,
        timescale: 1000,
        dts: 0,
        pts: 0,
        keyframe: true,
        data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
    };
    // A frame before any sequence header.
    assert_eq!(
        ladder.push_frame(frame.clone()),
        Err(TranscodeError::MissingDecoderConfig { track: 1 })
    );
    // A sequence header without SPS and PPS.
    let empty = AvcConfig::parse(Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0])).unwrap();
    let track = TrackInfo {
        id: TrackId(1),
        timescale: 1000,
        config: CodecConfig::Avc(empty),
    };
    assert_eq!(
        ladder.push_track(track),
        Err(TranscodeError::MissingDecoderConfig { track: 1 })
    );
    assert_eq!(
        ladder.push_frame(frame),
        Err(TranscodeError::MissingDecoderConfig { track: 1 })
    );
    // Nothing was made, nothing panicked, and the ladder still flushes.
    assert_eq!(ladder.renditions().count(), 0);
    ladder.flush().unwrap();
}

/// MP3 and Opus sources: the renditions carry AAC, starting with the video, decodable.
fn assert_audio_becomes_aac(input: &std::path::Path, source_audio: &str) {
    let run = run_ladder(config("240p@300k,144p@150k"), read_flv(input), |_, _| {});
    assert_eq!(run.names(), ["144p", "240p"]);
    for p in run.renditions.values() {
        let streams = probe_streams(&p.playlist());
        assert!(
            streams
                .iter()
                .any(|s| s.kind == "audio" && s.codec == "aac"),
            "{source_audio} -> {}: {streams:?}",
            p.info.name
        );
        let out = onair_testkit::run(
            std::process::Command::new(tool("ffmpeg"))
                .args(["-v", "error", "-i"])
                .arg(p.playlist())
                .args(["-map", "0:a", "-f", "null", "-"]),
        );
        assert!(
            out.success && out.stderr.trim().is_empty(),
            "{}",
            out.stderr
        );
        let audio = onair_testkit::probe_packets(&p.playlist())
            .into_iter()
            .filter(|q| q.kind == "audio")
            .count();
        // 4 s of AAC at 48 kHz is about 187 frames of 1024 samples.
        assert!((170..=200).contains(&audio), "{audio} AAC frames");
    }
    assert_aligned(&run, 1.0 / 25.0);
}

#[test]
fn mp3_audio_comes_out_as_aac() {
    let input = Lavfi {
        video: "testsrc2=size=426x240:rate=25",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 4,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
            "-sc_threshold",
            "0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-f",
            "flv",
        ],
    }
    .cached(tool("ffmpeg"), &media_dir(), "h264_mp3_4s.flv");
    assert_audio_becomes_aac(&input, "mp3");
}

#[test]
fn opus_audio_comes_out_as_aac() {
    let input = Lavfi {
        video: "testsrc2=size=426x240:rate=25",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 4,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
            "-sc_threshold",
            "0",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
            "-f",
            "flv",
        ],
    }
    .cached(ffmpeg9(), &media_dir(), "h264_opus_4s.flv");
    assert_audio_becomes_aac(&input, "opus");
}
