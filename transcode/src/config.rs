//! How a [`Transcoder`](crate::Transcoder) encodes: the ladder, keyframe cadence, encoder
//! settings shared by the rungs, hardware policy and threads.

use std::str::FromStr;
use std::time::Duration;

use onair_encoder::VideoCodec;

use crate::Ladder;

/// Where video is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HardwarePolicy {
    /// libx264 (or libx265) only.
    #[default]
    Cpu,
    /// A GPU encoder (NVENC, VA-API, Quick Sync, in that order) where FFmpeg and the machine
    /// have one; libx264/libx265 where opening it fails, reported as
    /// [`Event::HardwareFallback`](crate::Event::HardwareFallback) and counted in
    /// [`TranscoderStats::hardware_fallbacks`](crate::TranscoderStats).
    GpuThenCpu,
    /// A GPU encoder or nothing: [`Transcoder::new`](crate::Transcoder::new) fails with
    /// [`TranscodeError::HardwareUnavailable`](crate::TranscodeError::HardwareUnavailable)
    /// when none opens.
    GpuOnly,
}

/// A hardware policy name that is not `cpu`, `gpu-then-cpu` or `gpu-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown hardware policy (expected cpu, gpu-then-cpu or gpu-only)")]
pub struct UnknownHardwarePolicy;

impl FromStr for HardwarePolicy {
    type Err = UnknownHardwarePolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(HardwarePolicy::Cpu),
            "gpu-then-cpu" => Ok(HardwarePolicy::GpuThenCpu),
            "gpu-only" => Ok(HardwarePolicy::GpuOnly),
            _ => Err(UnknownHardwarePolicy),
        }
    }
}

impl std::fmt::Display for HardwarePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HardwarePolicy::Cpu => "cpu",
            HardwarePolicy::GpuThenCpu => "gpu-then-cpu",
            HardwarePolicy::GpuOnly => "gpu-only",
        })
    }
}

/// Encoder settings every transcoded rung shares (the bitrate and size are the rung's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderSettings {
    /// H.264 (default) or H.265.
    pub codec: VideoCodec,
    /// The libx264/libx265 preset; default `veryfast`.
    pub preset: String,
    /// Maximum consecutive B-frames; default 0 (decode order is presentation order, no
    /// reordering delay). The same for every rung, so that decode times line up too.
    pub b_frames: u32,
    /// Rate-control lookahead in frames; default 10 (a third of a second at 30 fps, the
    /// `veryfast` preset's own value). Each frame is one frame of delay.
    pub lookahead: u32,
    /// VBV maximum rate as a multiple of the rung's bitrate, in percent; default 110.
    pub max_rate_percent: u32,
    /// VBV buffer as a duration at the maximum rate; default one second.
    pub buffer: Duration,
    /// Profile, as the encoder names it; default (`None`) `high` for H.264 (what Apple's
    /// HLS authoring specification prefers, up to level 4.2) and libx265's own choice (Main)
    /// for H.265.
    pub profile: Option<String>,
    /// Level (`"4.1"`); default the encoder's choice.
    pub level: Option<String>,
    /// Threads of each encoder; default 1 (see [`TranscoderConfig::parallel`]).
    pub threads: u32,
    /// With more than one thread: slices of a picture in parallel (libx264
    /// `sliced-threads`) rather than several pictures at once; default off.
    pub sliced_threads: bool,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            codec: VideoCodec::H264,
            preset: "veryfast".to_owned(),
            b_frames: 0,
            lookahead: 10,
            max_rate_percent: 110,
            buffer: Duration::from_secs(1),
            profile: None,
            level: None,
            threads: 1,
            sliced_threads: false,
        }
    }
}

/// Configuration of a [`Transcoder`](crate::Transcoder).
#[derive(Debug, Clone)]
pub struct TranscoderConfig {
    /// The renditions asked for.
    pub ladder: Ladder,
    /// The HLS segment target: every rendition gets an IDR picture at the first frame at or
    /// after each multiple of it (in the source's presentation time), or at the source's own
    /// keyframes when a `source` rung passes the source through. Default 2 s.
    pub segment_target: Duration,
    /// A passed-through source whose keyframes stop for longer than this ends the `source`
    /// rung ([`Event::PassthroughEnded`](crate::Event::PassthroughEnded)); default (`None`)
    /// twice the segment target.
    pub passthrough_max_gop: Option<Duration>,
    /// The source's video bitrate, when known (RTMP `onMetaData` `videodatarate`, a file's
    /// size over its duration): rungs at or above it are dropped and a stand-in for the
    /// source gets it. Unknown (default): only sizes decide.
    pub source_bitrate_bps: Option<u64>,
    /// Settings of the transcoded rungs.
    pub encoder: EncoderSettings,
    /// CPU or GPU encoders.
    pub hardware: HardwarePolicy,
    /// AAC bitrate when the source's audio (MP3, Opus) is re-encoded; default 128 kbit/s.
    pub audio_bitrate_bps: u64,
    /// Decoder threads (FFmpeg frame threads); 0 lets FFmpeg choose (one per core and one);
    /// default 1. Each thread beyond the first adds a frame of delay.
    pub decoder_threads: u32,
    /// Run each rung's encoder on a worker thread of its own (default on): encoders run in
    /// parallel with each other and with decoding and scaling, and each rung's encoding CPU
    /// time is measured exactly (the worker's thread CPU time). Off, everything runs in the
    /// calling thread, one rung after the other (plus the encoders' own threads, see
    /// [`EncoderSettings::threads`]).
    pub parallel: bool,
    /// Scale each rung from the nearest larger rung's picture (1080p -> 720p -> 480p ->
    /// 360p) instead of from the source; default on: the smaller input costs less and the
    /// pictures stay comparable to FFmpeg's one-step bicubic `scale`.
    pub cascade: bool,
    /// Pictures a worker may have queued before
    /// [`Transcoder::push_frame`](crate::Transcoder::push_frame) waits for it; default 8.
    /// Bounds memory and makes a slow rung slow down the whole ladder instead of falling
    /// behind on its own.
    pub worker_queue: usize,
}

impl TranscoderConfig {
    /// Defaults around `ladder`.
    pub fn new(ladder: Ladder) -> Self {
        Self {
            ladder,
            segment_target: Duration::from_secs(2),
            passthrough_max_gop: None,
            source_bitrate_bps: None,
            encoder: EncoderSettings::default(),
            hardware: HardwarePolicy::Cpu,
            audio_bitrate_bps: 128_000,
            decoder_threads: 1,
            parallel: true,
            cascade: true,
            worker_queue: 8,
        }
    }
}
