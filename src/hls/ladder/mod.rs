//! A transcoding ladder per published stream: the stream is decoded once and re-encoded into
//! renditions whose keyframes sit at the same presentation times (`onair-transcode`), each
//! packaged like the stream itself, all listed in one master playlist.
//!
//! The publisher's task never waits for the ladder: it hands frames to a queue measured in
//! media time, and a worker thread per stream runs the [`Transcoder`] and the renditions'
//! packagers. A ladder that falls behind real time sheds its most expensive rung (then the
//! next, a few seconds apart); a queue that still grows past [`LadderConfig::max_queue`]
//! drops input up to the next keyframe. Before a ladder starts, the origin estimates what it
//! will cost and shortens it to fit the CPU budget ([`LadderConfig::cpu_budget`]).
//!
//! Delay added, on top of packaging: the encoders' rate-control lookahead
//! ([`EncoderSettings::lookahead`], none by default here), the pictures in each encoder's
//! queue (one or two while it keeps up), and at the start, while a `source` rung is judged
//! (the first GOP, at most a segment target), the renditions wait for the verdict. Measured
//! here (1080p in, 720p/480p/360p at `veryfast`): a transcoded segment is listed about 0.1 s
//! after its last frame arrived, the passed-through one 0.05 s.

mod admission;
mod feed;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use onair_transcode::{EncoderSettings, HardwarePolicy, Ladder, Transcoder};

use crate::hls::stream::LiveHls;
use crate::hls::HlsOrigin;
pub(crate) use admission::{admit, CpuMeter, Source};
pub(crate) use feed::{Input, LadderFeed};

/// Starts `transcoder`'s worker thread for publication `life` of `stream`; hands back the
/// queue to feed it.
pub(crate) fn start(
    origin: HlsOrigin,
    stream: Arc<LiveHls>,
    life: u64,
    config: LadderConfig,
    transcoder: Transcoder,
    modelled: f64,
    thread_name: String,
) -> std::io::Result<LadderFeed> {
    let (feed, shared) = LadderFeed::new(config.max_queue);
    let worker = worker::Worker::new(origin, stream, life, config, transcoder, modelled);
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || worker.run(shared))?;
    Ok(feed)
}

/// How the origin transcodes every published stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LadderConfig {
    /// The renditions asked for (`source,720p,480p,360p`); rungs above the source are
    /// dropped when the source is known.
    pub ladder: Ladder,
    /// Encoder settings shared by the transcoded rungs (preset, B-frames, lookahead, ...).
    pub encoder: EncoderSettings,
    /// CPU or GPU encoders.
    pub hardware: HardwarePolicy,
    /// A ladder further behind the publisher than this for a second (media waiting for the
    /// worker plus the encoders' delay) sheds its most expensive rung, then, if still behind
    /// a few seconds later, the next. A segment is listed about this much after its last
    /// frame arrived (plus packaging), so the default keeps renditions within a second.
    pub max_lag: Duration,
    /// Media a stream's queue may hold before input is dropped up to the next keyframe.
    pub max_queue: Duration,
    /// Share of all cores the process may spend (measured over the last seconds, plus what a
    /// new ladder is estimated to cost) before a new stream's ladder is shortened to fit;
    /// `None` admits every ladder whole.
    pub cpu_budget: Option<f64>,
}

impl LadderConfig {
    /// `ladder` with live defaults: `veryfast` libx264 without B-frames or rate-control
    /// lookahead, on the CPU; shed
    /// beyond 1 s behind; drop beyond 10 s queued; 60% of the cores.
    pub fn new(ladder: Ladder) -> Self {
        Self {
            ladder,
            // every frame of rate-control lookahead is a frame of delay before a segment can
            // be listed; VBV keeps the bitrate as close without it (same within 1% here)
            encoder: EncoderSettings {
                lookahead: 0,
                ..EncoderSettings::default()
            },
            hardware: HardwarePolicy::Cpu,
            max_lag: Duration::from_secs(1),
            max_queue: Duration::from_secs(10),
            cpu_budget: Some(0.6),
        }
    }

    /// Sets the encoders' preset.
    pub fn with_preset(mut self, preset: impl Into<String>) -> Self {
        self.encoder.preset = preset.into();
        self
    }

    /// Sets the hardware policy.
    pub fn with_hardware(mut self, hardware: HardwarePolicy) -> Self {
        self.hardware = hardware;
        self
    }

    /// Sets (or with `None` turns off) the CPU budget of admission.
    pub fn with_cpu_budget(mut self, budget: Option<f64>) -> Self {
        self.cpu_budget = budget;
        self
    }
}

/// What a stream's ladder did, for logs, tests and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LadderReport {
    /// The ladder admitted for the current publication (after admission, before planning
    /// against the source).
    pub admitted: String,
    /// Rungs admission left out, with the CPU (cores) it measured and estimated.
    pub admission_dropped: Vec<String>,
    /// Renditions shed because the ladder fell behind, in order.
    pub shed: Vec<String>,
    /// Input frames dropped because the queue exceeded [`LadderConfig::max_queue`].
    pub dropped_frames: u64,
    /// Corrupt video packets the decoder skipped.
    pub corrupt_packets: u64,
    /// Times the ladder was planned again for a changed source.
    pub reinitializations: u64,
    /// GPU encoders that did not open, libx264 taking over.
    pub hardware_fallbacks: u64,
    /// Why the `source` rung was not passed through, if it was not.
    pub passthrough_refused: Option<String>,
    /// How far behind the publisher the ladder is now (media waiting for the worker plus
    /// the encoders' delay), as of its last check (every half second).
    pub lag: Duration,
    /// The most it was behind.
    pub max_lag: Duration,
}
