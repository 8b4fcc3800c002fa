//! Encoding pictures that are already in FFmpeg frames (a decoder's or a scaler's output),
//! on the caller's clock: what a transcoder needs from the encoder.

use onair_encoder::{EncoderError, FrameRate, VideoEncoder, VideoEncoderConfig};
use rsmpeg::avutil::AVFrame;
use rsmpeg::ffi;

fn picture(width: i32, height: i32, shade: u8) -> AVFrame {
    let mut frame = AVFrame::new();
    frame.set_width(width);
    frame.set_height(height);
    frame.set_format(ffi::AVPixelFormat_AV_PIX_FMT_YUV420P);
    frame.alloc_buffer().unwrap();
    for plane in 0..3 {
        let rows = if plane == 0 { height } else { height / 2 };
        let len = (frame.linesize[plane] * rows) as usize;
        // SAFETY: av_frame_get_buffer allocated `linesize * rows` bytes for the plane.
        #[allow(unsafe_code)]
        let data = unsafe { std::slice::from_raw_parts_mut(frame.data[plane], len) };
        for (i, b) in data.iter_mut().enumerate() {
            *b = if plane == 0 {
                shade.wrapping_add((i % 97) as u8)
            } else {
                128
            };
        }
    }
    frame
}

#[test]
fn frames_keep_millisecond_timestamps_and_idrs_go_where_asked() {
    let mut config = VideoEncoderConfig::new(320, 240, FrameRate::new(30, 1), 400_000);
    config.timescale = 1000;
    config.constant_frame_rate = true;
    config.gop = 1 << 30;
    config.zerolatency = false;
    config.lookahead = Some(5);
    config.threads = 1;
    config.max_bitrate_bps = Some(440_000);
    config.buffer_size_bits = Some(440_000);
    config.profile = Some("high".to_owned());
    let mut encoder = VideoEncoder::new(config).unwrap();
    assert_eq!(encoder.track_info().timescale, 1000);
    assert_eq!(encoder.encoder_name(), "libx264");
    let mut out = Vec::new();
    let pts_of = |n: i64| n * 1000 / 30;
    for n in 0..90 {
        let mut frame = picture(320, 240, (n * 3) as u8);
        encoder
            .encode_picture(&mut frame, pts_of(n), n == 0 || n == 45)
            .unwrap();
        out.extend(std::iter::from_fn(|| encoder.poll_frame()));
    }
    encoder.flush().unwrap();
    out.extend(std::iter::from_fn(|| encoder.poll_frame()));
    let pts: Vec<i64> = out.iter().map(|f| f.pts).collect();
    assert_eq!(pts, (0..90).map(pts_of).collect::<Vec<_>>());
    assert!(out.iter().all(|f| f.dts == f.pts && f.timescale == 1000));
    let keys: Vec<i64> = out.iter().filter(|f| f.keyframe).map(|f| f.pts).collect();
    // Only where asked: no GOP cadence, no scene cut.
    assert_eq!(keys, [0, pts_of(45)]);
}

#[test]
fn a_picture_of_another_size_or_format_is_refused() {
    let config = VideoEncoderConfig::new(320, 240, FrameRate::new(30, 1), 400_000);
    let mut encoder = VideoEncoder::new(config).unwrap();
    let mut wrong = picture(640, 360, 0);
    assert!(matches!(
        encoder.encode_picture(&mut wrong, 0, true),
        Err(EncoderError::InvalidInput { what: "width", .. })
    ));
    let mut nv12 = AVFrame::new();
    nv12.set_width(320);
    nv12.set_height(240);
    nv12.set_format(ffi::AVPixelFormat_AV_PIX_FMT_NV12);
    nv12.alloc_buffer().unwrap();
    assert!(matches!(
        encoder.encode_picture(&mut nv12, 0, true),
        Err(EncoderError::InvalidInput { .. })
    ));
}
