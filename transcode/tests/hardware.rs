//! The GPU policy on a machine without a GPU video encoder (FFmpeg finds h264_nvenc,
//! h264_vaapi and h264_qsv; opening them fails): `gpu-then-cpu` falls back to libx264 and
//! says so, `gpu-only` refuses with a typed error.

use onair_transcode::{
    Event, HardwarePolicy, Ladder, TranscodeError, Transcoder, TranscoderConfig,
};

mod common;
use common::*;

fn config(policy: HardwarePolicy) -> TranscoderConfig {
    let mut config = TranscoderConfig::new("240p@300k".parse::<Ladder>().unwrap());
    config.hardware = policy;
    config
}

#[test]
fn gpu_then_cpu_falls_back_to_libx264_and_says_so() {
    let mut ladder = Transcoder::new(config(HardwarePolicy::GpuThenCpu)).expect("falls back");
    assert_eq!(ladder.stats().hardware_fallbacks, 1);
    match ladder.poll_event() {
        Some(Event::HardwareFallback {
            rendition: None,
            tried,
            using,
        }) => {
            assert_eq!(using, "libx264");
            let names: Vec<&str> = tried.iter().map(|(name, _)| *name).collect();
            assert!(names.contains(&"h264_nvenc"), "{names:?}");
        }
        other => panic!("expected a fallback event, got {other:?}"),
    }
    // The ladder then encodes with libx264 and the result plays.
    let input = h264_flv(
        "h264_240p_2s.flv",
        "testsrc2=size=426x240:rate=30",
        2,
        30,
        500,
    );
    let run = run_ladder(
        config(HardwarePolicy::GpuThenCpu),
        read_flv(&input),
        |_, _| {},
    );
    assert_eq!(run.stats.hardware_fallbacks, 1);
    let p = run.by_name("240p");
    assert_eq!(p.info.encoder, "libx264");
    assert_eq!(decodes_clean(&p.playlist()), 60);
}

#[test]
fn gpu_only_refuses_with_a_typed_error() {
    match Transcoder::new(config(HardwarePolicy::GpuOnly)) {
        Err(TranscodeError::HardwareUnavailable { tried }) => {
            let names: Vec<&str> = tried.iter().map(|(name, _)| *name).collect();
            assert!(names.contains(&"h264_nvenc"), "{names:?}");
            assert!(tried
                .iter()
                .all(|(_, e)| matches!(e, onair_encoder::EncoderError::Ffmpeg { .. })));
        }
        other => panic!("expected HardwareUnavailable, got {other:?}"),
    }
}

#[test]
fn cpu_never_tries_a_gpu() {
    let mut ladder = Transcoder::new(config(HardwarePolicy::Cpu)).unwrap();
    assert_eq!(ladder.poll_event(), None);
    assert_eq!(ladder.stats().hardware_fallbacks, 0);
    assert_eq!("gpu-then-cpu".parse(), Ok(HardwarePolicy::GpuThenCpu));
    assert!("gpu".parse::<HardwarePolicy>().is_err());
}
