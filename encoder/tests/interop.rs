//! The encoder's output checked by Debian's real ffprobe/ffmpeg 5.1: frames are muxed to FLV
//! with onair-flv's `MediaMuxer` and `FlvWriter` (the same tag bodies the RTMP client sends)
//! and read back.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

use onair_encoder::{
    AudioEncoder, AudioEncoderConfig, EncoderError, RawVideoFrame, VideoEncoder, VideoEncoderConfig,
};
use onair_media_types::{CodecConfig, Frame};
use onair_testkit::{run_ok, tool};

mod common;
use common::*;

fn ffprobe(args: &[&str], file: &Path) -> String {
    run_ok(
        Command::new("timeout")
            .arg("20")
            .arg(tool("ffprobe"))
            .args(["-v", "error"])
            .args(args)
            .args(["-of", "csv=p=0"])
            .arg(file),
    )
    .stdout
}

#[test]
fn two_seconds_to_flv_read_back_by_ffprobe() {
    let enc = encode_two_seconds({
        let mut config = VideoEncoderConfig::new(W, H, FPS, 800_000);
        config.gop = 30;
        config
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pattern.flv");
    write_flv(&enc, &path);

    // What the encoder says.
    let CodecConfig::Avc(avc) = &enc.video_track.config else {
        panic!("video track is not AVC: {:?}", enc.video_track.config)
    };
    assert_eq!(
        (avc.sps.len(), avc.pps.len(), avc.nal_length_size),
        (1, 1, 4)
    );
    let CodecConfig::Aac(aac) = &enc.audio_track.config else {
        panic!("audio track is not AAC")
    };
    assert_eq!(
        (aac.object_type, aac.sample_rate, aac.channel_config),
        (2, 48_000, 2)
    );
    assert_eq!(enc.video.len(), 60);
    let keys: Vec<usize> = (0..60).filter(|i| enc.video[*i].keyframe).collect();
    assert_eq!(
        keys,
        vec![0, 30, 45],
        "keyframe flags on the encoder's frames"
    );
    for (i, f) in enc.video.iter().enumerate() {
        assert_eq!((f.pts, f.dts), (i as i64 * 3000, i as i64 * 3000));
        // every NAL unit is length-prefixed and the lengths add up to the payload
        let (mut pos, mut idr) = (0, false);
        while pos < f.data.len() {
            let len = u32::from_be_bytes(f.data[pos..pos + 4].try_into().unwrap()) as usize;
            idr |= f.data[pos + 4] & 0x1f == 5;
            pos += 4 + len;
        }
        assert_eq!(pos, f.data.len(), "frame {i}: AVCC lengths");
        assert_eq!(idr, f.keyframe, "frame {i}: IDR NAL iff keyframe");
    }

    // What ffprobe says.
    let streams = ffprobe(
        &[
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_rate,channels",
        ],
        &path,
    );
    let streams: Vec<&str> = streams.lines().collect();
    assert!(
        streams.contains(&"h264,video,320,240"),
        "streams: {streams:?}"
    );
    assert!(
        streams.contains(&"aac,audio,48000,2"),
        "streams: {streams:?}"
    );

    let decoded = ffprobe(
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "frame=key_frame,pict_type",
        ],
        &path,
    );
    let frames: Vec<&str> = decoded.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(frames.len(), 60, "decoded video frames");
    let decoded_keys: Vec<usize> = (0..frames.len())
        .filter(|i| frames[*i].starts_with("1,I"))
        .collect();
    assert_eq!(
        decoded_keys,
        vec![0, 30, 45],
        "keyframes the decoder found: {frames:?}"
    );

    let packets = ffprobe(
        &[
            "-select_streams",
            "a",
            "-show_entries",
            "packet=pts_time,duration_time",
        ],
        &path,
    );
    let last = packets.lines().rfind(|l| !l.is_empty()).unwrap();
    let (pts, dur) = last.split_once(',').unwrap();
    let audio_end: f64 = pts.parse::<f64>().unwrap() + dur.parse::<f64>().unwrap();
    eprintln!(
        "audio ends at {audio_end:.3} s; {} audio packets",
        packets.lines().count()
    );
    assert!(
        (1.99..=2.1).contains(&audio_end),
        "audio duration {audio_end}"
    );

    assert_decodes_clean(&tool("ffmpeg"), &path, "ffmpeg");
}

#[test]
fn set_bitrate_lowers_the_output_rate() {
    let encoder = || {
        let mut config = VideoEncoderConfig::new(W, H, FPS, 2_000_000);
        config.gop = 60;
        VideoEncoder::new(config).unwrap()
    };
    let (mut adapted, mut control) = (encoder(), encoder());
    let (mut out_adapted, mut out_control) = (Vec::new(), Vec::new());
    let mut seed = 0x1234_5678_9abc_def1;
    for n in 0..180i64 {
        if n == 90 {
            adapted.set_bitrate(500_000).unwrap();
        }
        let picture = noise_picture(&mut seed);
        let raw = RawVideoFrame::from_i420(W, H, &picture).unwrap();
        adapted.encode(&raw, n * 3000).unwrap();
        control.encode(&raw, n * 3000).unwrap();
        out_adapted.extend(std::iter::from_fn(|| adapted.poll_frame()));
        out_control.extend(std::iter::from_fn(|| control.poll_frame()));
    }
    assert_eq!((out_adapted.len(), out_control.len()), (180, 180));
    assert_eq!(adapted.bitrate(), 500_000);
    // Leave the first 30 frames of each half for the rate control to settle.
    let before = kbps(&out_adapted[30..90]);
    let after = kbps(&out_adapted[120..180]);
    let control_after = kbps(&out_control[120..180]);
    eprintln!(
        "set_bitrate: {before:.0} kbit/s at 2000 kbit/s target, {after:.0} kbit/s after \
         set_bitrate(500 kbit/s); unchanged encoder: {control_after:.0} kbit/s"
    );
    assert!(
        (1500.0..2600.0).contains(&before),
        "before: {before:.0} kbit/s"
    );
    assert!((350.0..650.0).contains(&after), "after: {after:.0} kbit/s");
    assert!(control_after > 1500.0, "control: {control_after:.0} kbit/s");
}

#[test]
fn s16_input_and_bad_input_errors() {
    let mut audio = AudioEncoder::new(AudioEncoderConfig::new(44_100, 1, 64_000)).unwrap();
    assert_eq!(audio.frame_size(), 1024);
    let pcm: Vec<i16> = (0..4410)
        .map(|i| ((i % 100) * 300 - 15_000) as i16)
        .collect();
    audio.push_s16(&pcm).unwrap();
    audio.flush().unwrap();
    let frames: Vec<Frame> = std::iter::from_fn(|| audio.poll_frame()).collect();
    // 4410 samples + 1024 priming = 5434 -> 6 frames, 1024 samples apart from 0
    let pts: Vec<i64> = frames.iter().map(|f| f.pts).collect();
    assert_eq!(pts, vec![0, 1024, 2048, 3072, 4096, 5120]);
    assert!(frames.iter().all(|f| f.keyframe && f.timescale == 44_100));
    assert_eq!(audio.push_s16(&pcm), Err(EncoderError::Flushed));

    let mut stereo = AudioEncoder::new(AudioEncoderConfig::new(48_000, 2, 96_000)).unwrap();
    assert!(matches!(
        stereo.push_f32(&[0.0; 3]),
        Err(EncoderError::InvalidInput { got: 3, .. })
    ));
    assert_eq!(
        AudioEncoder::new(AudioEncoderConfig::new(48_000, 3, 96_000)).err(),
        Some(EncoderError::InvalidConfig {
            what: "channels",
            value: 3
        })
    );

    let mut video = VideoEncoder::new(VideoEncoderConfig::new(W, H, FPS, 500_000)).unwrap();
    let small = vec![0u8; RawVideoFrame::i420_len(160, 120)];
    let raw = RawVideoFrame::from_i420(160, 120, &small).unwrap();
    assert_eq!(
        video.encode(&raw, 0),
        Err(EncoderError::InvalidInput {
            what: "width",
            expected: 320,
            got: 160
        })
    );
    assert!(matches!(
        RawVideoFrame::from_i420(W, H, &small),
        Err(EncoderError::InvalidInput {
            what: "i420 buffer length",
            ..
        })
    ));
    let mut bad = VideoEncoderConfig::new(W, H, FPS, 500_000);
    bad.preset = "no-such-preset".to_owned();
    assert_eq!(
        VideoEncoder::new(bad).err(),
        Some(EncoderError::UnknownPreset)
    );
    assert_eq!(
        VideoEncoder::new(VideoEncoderConfig::new(321, H, FPS, 500_000)).err(),
        Some(EncoderError::InvalidConfig {
            what: "width",
            value: 321
        })
    );
}

#[test]
fn b_frames_reorder_and_flush_drains_them() {
    let mut config = VideoEncoderConfig::new(W, H, FPS, 500_000);
    config.b_frames = 2;
    config.zerolatency = false;
    config.preset = "veryfast".to_owned();
    let mut video = VideoEncoder::new(config).unwrap();
    let mut out = Vec::new();
    for n in 0..30u32 {
        let picture = test_pattern(n);
        video
            .encode(
                &RawVideoFrame::from_i420(W, H, &picture).unwrap(),
                i64::from(n) * 3000,
            )
            .unwrap();
        out.extend(std::iter::from_fn(|| video.poll_frame()));
    }
    let before_flush = out.len();
    video.flush().unwrap();
    out.extend(std::iter::from_fn(|| video.poll_frame()));
    assert!(
        before_flush < 30,
        "lookahead holds frames back ({before_flush} out)"
    );
    assert_eq!(out.len(), 30, "flush gives out every picture");
    assert!(out.windows(2).all(|w| w[0].dts < w[1].dts), "dts increases");
    assert!(out.iter().all(|f| f.pts >= f.dts), "pts never before dts");
    assert!(
        out.iter().any(|f| f.pts != f.dts),
        "some frames are reordered"
    );
    let mut pts: Vec<i64> = out.iter().map(|f| f.pts).collect();
    pts.sort_unstable();
    assert_eq!(pts, (0..30).map(|n| n * 3000).collect::<Vec<_>>());
    assert_eq!(video.flush(), Ok(()), "a second flush does nothing");
}

#[test]
fn encoders_can_move_to_another_thread() {
    fn is_send<T: Send>() {}
    is_send::<VideoEncoder>();
    is_send::<AudioEncoder>();
}
