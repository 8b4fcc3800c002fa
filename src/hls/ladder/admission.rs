//! Admission: before a stream's ladder starts, what it will cost is estimated from its
//! source and rungs, and the ladder is shortened (largest transcoded rung first) until the
//! CPU the process measures plus that estimate fits the budget. Streams already running are
//! never touched by a newcomer.
//!
//! The cost model counts CPU time per picture and megapixel: decoding the source, scaling and
//! encoding each rung, at `veryfast` (measured here: 1080p30 into 720p/480p/360p took 4.0 ms
//! of decoding, 2.7 ms of scaling and 11.6 ms of encoding per source picture), times a
//! factor per preset. Running ladders correct it: each reports the CPU it really spent beside
//! what the model said, and new estimates are scaled by that ratio.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use onair_transcode::{Ladder, Rung};

use super::LadderConfig;

/// Decoding H.264/H.265, per source megapixel.
const DECODE_MS_PER_MP: f64 = 1.9;
/// Scaling (bicubic, from the next larger rung), per output megapixel.
const SCALE_MS_PER_MP: f64 = 1.7;
/// libx264 `veryfast`, per output megapixel.
const ENCODE_MS_PER_MP: f64 = 7.4;

/// libx264's presets, relative to `veryfast` (x264's own speed table, rounded).
fn preset_factor(preset: &str) -> f64 {
    match preset {
        "ultrafast" => 0.45,
        "superfast" => 0.7,
        "veryfast" => 1.0,
        "faster" => 1.5,
        "fast" => 1.9,
        "medium" => 2.4,
        "slow" => 3.8,
        "slower" => 7.0,
        "veryslow" => 14.0,
        "placebo" => 30.0,
        _ => 2.4,
    }
}

/// The source as admission sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Source {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: f64,
}

/// The picture size a rung makes from `source` (`None`: passed through, or larger than the
/// source and so dropped when planned).
fn rung_size(rung: &Rung, source: Source) -> Option<(u32, u32)> {
    let (width, height) = match *rung {
        Rung::Source => return None,
        Rung::Height { height, .. } => {
            let width =
                u64::from(height) * u64::from(source.width) / u64::from(source.height.max(1));
            (u32::try_from(width).unwrap_or(u32::MAX), height)
        }
        Rung::Size { width, height, .. } => (width, height),
    };
    (height <= source.height && width <= source.width).then_some((width, height))
}

fn megapixels(width: u32, height: u32) -> f64 {
    f64::from(width) * f64::from(height) / 1e6
}

/// Cores `ladder` keeps busy on `source`, by the model alone.
pub(crate) fn model_cost(ladder: &[Rung], source: Source, preset: &str) -> f64 {
    let encode = ENCODE_MS_PER_MP * preset_factor(preset) + SCALE_MS_PER_MP;
    let rungs: f64 = ladder
        .iter()
        .filter_map(|r| rung_size(r, source))
        .map(|(w, h)| megapixels(w, h) * encode)
        .sum();
    if rungs == 0.0 {
        return 0.0;
    }
    let decode = megapixels(source.width, source.height) * DECODE_MS_PER_MP;
    (decode + rungs) * source.fps / 1000.0
}

/// What admission decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Admission {
    /// The ladder to run; `None` when no transcoded rung fits (the stream is packaged as
    /// published).
    pub(crate) ladder: Option<Ladder>,
    /// Rungs left out.
    pub(crate) dropped: Vec<Rung>,
    /// Cores the process used (measured) and the admitted ladder is expected to use.
    pub(crate) measured: f64,
    pub(crate) estimate: f64,
    /// The estimate by the model alone (before the running ladders' correction).
    pub(crate) modelled: f64,
}

/// Shortens `config`'s ladder until the measured CPU plus its estimated cost fits the
/// budget; with no budget, admits it whole.
pub(crate) fn admit(config: &LadderConfig, source: Source, meter: &CpuMeter) -> Admission {
    let preset = config.encoder.preset.as_str();
    let mut rungs = config.ladder.rungs().to_vec();
    let scale = meter.calibration();
    let cost = |rungs: &[Rung]| model_cost(rungs, source, preset) * scale;
    let measured = meter.usage();
    let mut dropped = Vec::new();
    if let Some(budget) = config.cpu_budget {
        let limit = budget * meter.cores();
        while measured + cost(&rungs) > limit {
            // the costliest transcoded rung goes first
            let Some(largest) = rungs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| rung_size(r, source).map(|(w, h)| (i, megapixels(w, h))))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i)
            else {
                break;
            };
            dropped.push(rungs.remove(largest));
        }
    }
    let transcodes = rungs.iter().any(|r| rung_size(r, source).is_some());
    let modelled = model_cost(&rungs, source, preset);
    Admission {
        ladder: transcodes.then(|| Ladder::new(rungs).ok()).flatten(),
        dropped,
        measured,
        estimate: modelled * scale,
        modelled,
    }
}

/// The CPU the process spends, averaged over the last seconds, and how far the cost model
/// was off for the ladders that ran.
#[derive(Debug)]
pub(crate) struct CpuMeter {
    cores: f64,
    state: Mutex<MeterState>,
}

#[derive(Debug)]
struct MeterState {
    /// (when, process CPU seconds), a second or more apart, over the last `WINDOW`.
    samples: VecDeque<(Instant, f64)>,
    /// Measured over modelled cost of running ladders (1 until one reported).
    calibration: f64,
}

const WINDOW: Duration = Duration::from_secs(10);

impl CpuMeter {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let meter = Self {
            cores,
            state: Mutex::new(MeterState {
                samples: VecDeque::new(),
                calibration: 1.0,
            }),
        };
        meter.sample();
        meter
    }

    pub(crate) fn cores(&self) -> f64 {
        self.cores
    }

    /// Takes a sample (at most one a second is kept).
    pub(crate) fn sample(&self) {
        let Some(cpu) = process_cpu_seconds() else {
            return;
        };
        let now = Instant::now();
        let mut state = super::super::stream::lock(&self.state);
        if state
            .samples
            .back()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) < Duration::from_secs(1))
        {
            return;
        }
        state.samples.push_back((now, cpu));
        while state.samples.len() > 2
            && state
                .samples
                .front()
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            state.samples.pop_front();
        }
    }

    /// Cores in use by the process, averaged from the oldest sample of the window to now.
    pub(crate) fn usage(&self) -> f64 {
        self.sample();
        let (Some(cpu), now) = (process_cpu_seconds(), Instant::now()) else {
            return 0.0;
        };
        let state = super::super::stream::lock(&self.state);
        let Some(&(then, before)) = state.samples.front() else {
            return 0.0;
        };
        let wall = now.saturating_duration_since(then).as_secs_f64();
        if wall < 0.5 {
            return 0.0;
        }
        ((cpu - before) / wall).max(0.0)
    }

    /// A running ladder spent `measured` CPU seconds where the model said `modelled`.
    pub(crate) fn report(&self, measured: f64, modelled: f64) {
        if modelled <= 0.0 || measured <= 0.0 {
            return;
        }
        let ratio = (measured / modelled).clamp(0.25, 4.0);
        let mut state = super::super::stream::lock(&self.state);
        state.calibration = 0.8 * state.calibration + 0.2 * ratio;
    }

    fn calibration(&self) -> f64 {
        super::super::stream::lock(&self.state).calibration
    }
}

/// User and system CPU time of the process, from `/proc/self/stat` (fields 14 and 15, in
/// the kernel's fixed 100 Hz USER_HZ units); `None` where there is no procfs.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name (field 2) may hold spaces: count fields after its closing parenthesis
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1080: Source = Source {
        width: 1920,
        height: 1080,
        fps: 30.0,
    };

    fn ladder(text: &str) -> Ladder {
        text.parse().unwrap()
    }

    #[test]
    fn the_model_matches_the_measured_ladder() {
        // 1080p30 into 720p/480p/360p at veryfast: about 18 ms of CPU per source picture
        let cores = model_cost(ladder("720p,480p,360p").rungs(), P1080, "veryfast");
        assert!((0.45..0.65).contains(&cores), "{cores}");
        assert_eq!(model_cost(ladder("source").rungs(), P1080, "veryfast"), 0.0);
        let medium = model_cost(ladder("720p").rungs(), P1080, "medium");
        assert!(medium > 1.5 * model_cost(ladder("720p").rungs(), P1080, "veryfast"));
    }

    #[test]
    fn rungs_above_the_source_cost_nothing() {
        let p480 = Source {
            width: 854,
            height: 480,
            fps: 30.0,
        };
        assert_eq!(
            model_cost(ladder("1080p,720p").rungs(), p480, "veryfast"),
            0.0
        );
    }

    #[test]
    fn admission_drops_the_largest_rungs_until_the_ladder_fits() {
        let meter = CpuMeter::new();
        let cores = meter.cores();
        let mut config = LadderConfig::new(ladder("source,1080p,720p,480p,360p"));
        // a budget that only the smallest rungs fit
        let small = model_cost(ladder("480p,360p").rungs(), P1080, "veryfast");
        config.cpu_budget = Some((meter.usage() + small * 1.05) / cores);
        let admitted = admit(&config, P1080, &meter);
        let kept = admitted.ladder.expect("some rungs fit").to_string();
        assert!(kept.starts_with("source"), "{kept}");
        assert!(!kept.contains("1080p") && !kept.contains("720p"), "{kept}");
        assert_eq!(admitted.dropped.len() + kept.split(',').count(), 5);
        // nothing fits: packaged as published
        config.cpu_budget = Some(0.0);
        let none = admit(&config, P1080, &meter);
        assert_eq!(none.ladder, None);
        assert_eq!(none.dropped.len(), 4);
        // no budget: the whole ladder
        config.cpu_budget = None;
        let whole = admit(&config, P1080, &meter);
        assert_eq!(whole.ladder.map(|l| l.rungs().len()), Some(5));
        assert!(whole.dropped.is_empty());
    }

    #[test]
    fn the_process_cpu_is_read() {
        let before = process_cpu_seconds().expect("procfs");
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let after = process_cpu_seconds().expect("procfs");
        assert!(after - before >= 0.05, "{before} -> {after}");
    }
}
