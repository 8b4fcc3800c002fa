//! H.265 output checked by a real Enhanced RTMP peer: frames are muxed to FLV with
//! onair-flv's `MediaMuxer` (Enhanced RTMP `hvc1` tags, the bodies the RTMP client sends)
//! and `FlvWriter`, then read back by FFmpeg 9 (Debian's 5.1 refuses HEVC in FLV).
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

use onair_encoder::{EncoderError, RawVideoFrame, VideoCodec, VideoEncoder, VideoEncoderConfig};
use onair_flv::{FlvWriter, MediaMuxer};
use onair_media_types::{CodecConfig, CodecId};
use onair_testkit::{ffmpeg9, run, run_ok};

mod common;
use common::*;

fn hevc_config(bitrate_bps: u64, gop: u32) -> VideoEncoderConfig {
    let mut config = VideoEncoderConfig::new(W, H, FPS, bitrate_bps);
    config.codec = VideoCodec::H265;
    config.gop = gop;
    config
}

/// The `nal_unit_type`s of a length-prefixed access unit; panics if the lengths do not add
/// up to the payload.
fn nal_types(data: &[u8]) -> Vec<u8> {
    let (mut pos, mut types) = (0, Vec::new());
    while pos < data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        types.push((data[pos + 4] >> 1) & 0x3f);
        pos += 4 + len;
    }
    assert_eq!(pos, data.len(), "NAL lengths add up to the payload");
    types
}

#[test]
fn hevc_two_seconds_to_enhanced_flv_read_by_ffmpeg9() {
    let enc = encode_two_seconds(hevc_config(800_000, 30)).unwrap();

    // What the encoder says.
    let CodecConfig::Hevc(hevc) = &enc.video_track.config else {
        panic!("video track is not HEVC: {:?}", enc.video_track.config)
    };
    assert_eq!(
        (
            hevc.vps.len(),
            hevc.sps.len(),
            hevc.pps.len(),
            hevc.nal_length_size
        ),
        (1, 1, 1, 4)
    );
    // Main profile (1), 4:2:0 8-bit: the record's chroma and bit-depth bytes.
    assert_eq!(hevc.profile_idc, 1);
    assert_eq!(&hevc.record[16..19], &[0xfd, 0xf8, 0xf8]);
    eprintln!(
        "hvcC: {} bytes, codecs={}",
        hevc.record.len(),
        hevc.rfc6381()
    );
    assert_eq!(enc.video.len(), 60);
    assert!(enc.video.iter().all(|f| f.codec == CodecId::H265));
    let keys: Vec<usize> = (0..60).filter(|i| enc.video[*i].keyframe).collect();
    assert_eq!(
        keys,
        vec![0, 30, 45],
        "keyframe flags on the encoder's frames"
    );
    for (i, f) in enc.video.iter().enumerate() {
        assert_eq!((f.pts, f.dts), (i as i64 * 3000, i as i64 * 3000));
        let types = nal_types(&f.data);
        // closed GOPs: every keyframe is an IDR (19 IDR_W_RADL or 20 IDR_N_LP)
        assert_eq!(
            types.iter().any(|t| (19..=20).contains(t)),
            f.keyframe,
            "frame {i}: IDR iff keyframe ({types:?})"
        );
        assert!(
            !types.iter().any(|t| (32..=34).contains(t)),
            "frame {i}: no parameter sets in the stream ({types:?})"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pattern.flv");
    write_flv(&enc, &path);

    // What FFmpeg 9 says: the streams and each decoded frame (showinfo's `iskey`).
    let info = run(Command::new("timeout")
        .arg("20")
        .arg(ffmpeg9())
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(&path)
        .args(["-map", "0:v", "-vf", "showinfo", "-f", "null", "-"]));
    let log = info.stderr;
    assert!(info.success, "ffmpeg 9 failed: {log}");
    let video_line = log
        .lines()
        .find(|l| l.contains("Stream #0") && l.contains("Video:"))
        .unwrap_or_else(|| panic!("no video stream: {log}"));
    assert!(video_line.contains("Video: hevc"), "{video_line}");
    assert!(video_line.contains("320x240"), "{video_line}");
    let audio_line = log
        .lines()
        .find(|l| l.contains("Stream #0") && l.contains("Audio:"))
        .unwrap_or_else(|| panic!("no audio stream: {log}"));
    assert!(
        audio_line.contains("aac") && audio_line.contains("48000 Hz"),
        "{audio_line}"
    );
    let frames: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Parsed_showinfo") && l.contains(" n:"))
        .collect();
    assert_eq!(frames.len(), 60, "decoded frames: {log}");
    let decoded_keys: Vec<usize> = (0..frames.len())
        .filter(|i| frames[*i].contains("iskey:1"))
        .collect();
    assert_eq!(decoded_keys, vec![0, 30, 45], "keyframes the decoder found");

    // A clean decode of both streams prints nothing at `-v error`.
    assert_decodes_clean(&ffmpeg9(), &path, "ffmpeg 9");
}

#[test]
fn hevc_bitrate_follows_the_config() {
    let mut out = Vec::new();
    for target in [300_000u64, 1_200_000] {
        let mut video = VideoEncoder::new(hevc_config(target, 60)).unwrap();
        let mut frames = Vec::new();
        let mut seed = 0x1234_5678_9abc_def1;
        for n in 0..60i64 {
            let picture = noise_picture(&mut seed);
            let raw = RawVideoFrame::from_i420(W, H, &picture).unwrap();
            video.encode(&raw, n * 3000).unwrap();
            frames.extend(std::iter::from_fn(|| video.poll_frame()));
        }
        assert_eq!(frames.len(), 60, "zerolatency: one frame out per picture");
        out.push(kbps(&frames[15..]));
    }
    eprintln!(
        "hevc noise: {:.0} kbit/s at 300 kbit/s target, {:.0} kbit/s at 1200",
        out[0], out[1]
    );
    assert!((150.0..450.0).contains(&out[0]), "300k: {:.0}", out[0]);
    assert!((800.0..1600.0).contains(&out[1]), "1200k: {:.0}", out[1]);
}

/// Decodes `path` with FFmpeg 9's `showinfo`: its log and, per decoded video frame, whether
/// it is a keyframe.
fn ffmpeg9_decoded_keys(path: &Path) -> (String, Vec<bool>) {
    let info = run(Command::new("timeout")
        .arg("20")
        .arg(ffmpeg9())
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-vf", "showinfo", "-f", "null", "-"]));
    assert!(info.success, "ffmpeg 9 failed: {}", info.stderr);
    let keys = info
        .stderr
        .lines()
        .filter(|l| l.contains("Parsed_showinfo") && l.contains(" n:"))
        .map(|l| l.contains("iskey:1"))
        .collect();
    (info.stderr, keys)
}

/// The decode of `path` with FFmpeg 9 at `-v error` (empty when clean).
fn ffmpeg9_errors(path: &Path) -> String {
    run_ok(
        Command::new("timeout")
            .arg("20")
            .arg(ffmpeg9())
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"]),
    )
    .stderr
}

#[test]
fn hevc_set_bitrate_reopens_libx265_in_the_same_stream() {
    let mut video = VideoEncoder::new(hevc_config(2_000_000, 60)).unwrap();
    let track = video.track_info().clone();
    let mut frames = Vec::new();
    let mut seed = 0x1234_5678_9abc_def1;
    for n in 0..180i64 {
        if n == 90 {
            video.set_bitrate(500_000).unwrap();
        }
        let picture = noise_picture(&mut seed);
        let raw = RawVideoFrame::from_i420(W, H, &picture).unwrap();
        video.encode(&raw, n * 3000).unwrap();
        frames.extend(std::iter::from_fn(|| video.poll_frame()));
    }
    video.flush().unwrap();
    frames.extend(std::iter::from_fn(|| video.poll_frame()));
    assert_eq!(video.bitrate(), 500_000);
    assert_eq!(
        video.track_info(),
        &track,
        "same parameter sets after the switch"
    );
    assert_eq!(frames.len(), 180);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.pts, f.dts), (i as i64 * 3000, i as i64 * 3000));
    }
    let keys: Vec<usize> = (0..180).filter(|i| frames[*i].keyframe).collect();
    assert_eq!(
        keys,
        vec![0, 60, 90, 150],
        "an IDR at the switch, then the GOP"
    );
    // Leave 30 frames for the rate control to settle after each start.
    let (before, after) = (kbps(&frames[30..90]), kbps(&frames[120..180]));
    eprintln!("hevc set_bitrate: {before:.0} kbit/s at 2000, then {after:.0} at 500");
    assert!(
        (1500.0..2600.0).contains(&before),
        "before: {before:.0} kbit/s"
    );
    assert!((350.0..650.0).contains(&after), "after: {after:.0} kbit/s");

    // One FLV, one sequence header: FFmpeg 9 decodes across the switch.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switch.flv");
    let file = std::fs::File::create(&path).unwrap();
    let mut flv = FlvWriter::new(std::io::BufWriter::new(file), false, true).unwrap();
    let mut muxer = MediaMuxer::new();
    let header = muxer.track(&track).unwrap().unwrap();
    flv.write_tag(header.tag_type, 0, &header.data).unwrap();
    for frame in &frames {
        let tag = muxer.frame(frame).unwrap();
        let ts = u32::try_from(tag.timestamp_ms).unwrap();
        flv.write_tag(tag.tag_type, ts, &tag.data).unwrap();
    }
    flv.into_inner();
    let (log, decoded) = ffmpeg9_decoded_keys(&path);
    assert_eq!(decoded.len(), 180, "decoded frames: {log}");
    let decoded_keys: Vec<usize> = (0..180).filter(|i| decoded[*i]).collect();
    assert_eq!(decoded_keys, vec![0, 60, 90, 150]);
    assert_eq!(ffmpeg9_errors(&path), "", "ffmpeg 9 decode errors");
}

#[test]
fn hevc_set_bitrate_refusals() {
    let mut config = hevc_config(800_000, 30);
    config.b_frames = 2;
    config.zerolatency = false;
    let mut with_b = VideoEncoder::new(config).unwrap();
    assert_eq!(
        with_b.set_bitrate(400_000),
        Err(EncoderError::Unsupported {
            what: "changing the bitrate of libx265 with b-frames"
        })
    );
    assert_eq!(with_b.bitrate(), 800_000);

    let mut video = VideoEncoder::new(hevc_config(800_000, 30)).unwrap();
    assert!(matches!(
        video.set_bitrate(999),
        Err(EncoderError::InvalidConfig {
            what: "bitrate_bps",
            value: 999
        })
    ));
    video.flush().unwrap();
    assert_eq!(video.set_bitrate(400_000), Err(EncoderError::Flushed));
}
