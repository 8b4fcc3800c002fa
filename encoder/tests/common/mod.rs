//! What the encoder's test binaries share: a synthetic camera and microphone, two seconds of
//! encoded media, and FLV writing through onair-flv (the tag bodies the RTMP client sends).
#![allow(dead_code)] // each test binary uses its own part

use std::f32::consts::TAU;
use std::path::Path;
use std::process::Command;

use onair_encoder::{
    AudioEncoder, AudioEncoderConfig, EncoderError, FrameRate, RawVideoFrame, VideoEncoder,
    VideoEncoderConfig,
};
use onair_flv::{FlvWriter, MediaMuxer};
use onair_media_types::{Frame, MediaTime, TrackInfo};

pub(crate) const W: u32 = 320;
pub(crate) const H: u32 = 240;
pub(crate) const FPS: FrameRate = FrameRate::new(30, 1);

/// A moving picture: diagonal luma ramp scrolling 4 px a frame, a white box crossing, and
/// chroma bands that drift.
pub(crate) fn test_pattern(n: u32) -> Vec<u8> {
    let (w, h) = (W as usize, H as usize);
    let mut out = vec![0u8; RawVideoFrame::i420_len(W, H)];
    let (y, chroma) = out.split_at_mut(w * h);
    let bx = (n as usize * 5) % (w - 40);
    for row in 0..h {
        for col in 0..w {
            let in_box = (bx..bx + 40).contains(&col) && (100..140).contains(&row);
            y[row * w + col] = if in_box {
                235
            } else {
                ((col + row + 4 * n as usize) % 220 + 16) as u8
            };
        }
    }
    let (u, v) = chroma.split_at_mut((w / 2) * (h / 2));
    for row in 0..h / 2 {
        for col in 0..w / 2 {
            u[row * w / 2 + col] = ((col * 2 + n as usize) % 200 + 28) as u8;
            v[row * w / 2 + col] = ((row * 2 + 2 * n as usize) % 200 + 28) as u8;
        }
    }
    out
}

/// Deterministic noise, which needs every bit the encoder is allowed.
pub(crate) fn noise_picture(seed: &mut u64) -> Vec<u8> {
    let mut out = vec![0u8; RawVideoFrame::i420_len(W, H)];
    for b in out.iter_mut() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = (*seed >> 24) as u8;
    }
    out
}

pub(crate) fn sine_440(start: usize, count: usize, rate: u32, channels: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(count * channels);
    for i in start..start + count {
        let s = 0.5 * (TAU * 440.0 * i as f32 / rate as f32).sin();
        out.extend(std::iter::repeat_n(s, channels));
    }
    out
}

pub(crate) struct Encoded {
    pub(crate) video_track: TrackInfo,
    pub(crate) audio_track: TrackInfo,
    pub(crate) video: Vec<Frame>,
    pub(crate) audio: Vec<Frame>,
}

/// Two seconds of the test pattern with `config` (a forced keyframe at frame 45) and of a
/// 440 Hz sine in 1000-sample pushes (not a multiple of AAC's 1024).
pub(crate) fn encode_two_seconds(config: VideoEncoderConfig) -> Result<Encoded, EncoderError> {
    let mut video = VideoEncoder::new(config)?;
    let mut audio = AudioEncoder::new(AudioEncoderConfig::new(48_000, 2, 128_000))?;
    let (mut vframes, mut aframes) = (Vec::new(), Vec::new());
    for n in 0..60u32 {
        let picture = test_pattern(n);
        if n == 45 {
            video.force_keyframe();
        }
        let pts = i64::from(n) * FPS.frame_duration();
        video.encode(&RawVideoFrame::from_i420(W, H, &picture)?, pts)?;
        vframes.extend(std::iter::from_fn(|| video.poll_frame()));
    }
    video.flush()?;
    vframes.extend(std::iter::from_fn(|| video.poll_frame()));
    let mut sent = 0;
    while sent < 96_000 {
        let count = 1000.min(96_000 - sent);
        audio.push_f32(&sine_440(sent, count, 48_000, 2))?;
        sent += count;
        aframes.extend(std::iter::from_fn(|| audio.poll_frame()));
    }
    audio.flush()?;
    aframes.extend(std::iter::from_fn(|| audio.poll_frame()));
    Ok(Encoded {
        video_track: video.track_info().clone(),
        audio_track: audio.track_info().clone(),
        video: vframes,
        audio: aframes,
    })
}

/// Writes the tracks and frames, interleaved by decode time, as FLV.
pub(crate) fn write_flv(enc: &Encoded, path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut flv = FlvWriter::new(std::io::BufWriter::new(file), true, true).unwrap();
    let mut muxer = MediaMuxer::new();
    for track in [&enc.video_track, &enc.audio_track] {
        let header = muxer
            .track(track)
            .unwrap()
            .expect("these codecs have sequence headers");
        flv.write_tag(header.tag_type, 0, &header.data).unwrap();
    }
    let mut all: Vec<&Frame> = enc.video.iter().chain(&enc.audio).collect();
    all.sort_by_key(|f| MediaTime::new(f.dts, f.timescale).as_millis());
    for frame in all {
        let tag = muxer.frame(frame).unwrap();
        let ts = u32::try_from(tag.timestamp_ms).expect("no negative timestamps");
        flv.write_tag(tag.tag_type, ts, &tag.data).unwrap();
    }
    flv.into_inner();
}

/// The bitrate of video frames at 30 fps, kbit/s.
pub(crate) fn kbps(frames: &[Frame]) -> f64 {
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    bytes as f64 * 8.0 / (frames.len() as f64 / 30.0) / 1000.0
}

/// `ffmpeg -v error -i FILE -f null -` (under a 20 s timeout) prints nothing: a clean decode.
pub(crate) fn assert_decodes_clean(ffmpeg: &Path, file: &Path, what: &str) {
    let check = onair_testkit::run_ok(
        Command::new("timeout")
            .arg("20")
            .arg(ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(file)
            .args(["-f", "null", "-"]),
    );
    assert_eq!(check.stderr, "", "{what} decode errors");
}
