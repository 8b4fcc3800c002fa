//! Adapting the video bitrate to the upload link, without IO: the publisher reports how much
//! media waits to be sent and how many bytes the link has taken; the controller answers with
//! bitrate changes for [`VideoEncoder::set_bitrate`](crate::VideoEncoder::set_bitrate) and
//! tells when to drop video until the next keyframe.
//!
//! The policy (close to what broadcasters' "dynamic bitrate" does):
//! - The link's throughput is measured over windows of at least a second.
//! - Congestion is a send queue longer than [`RateConfig::congested_after`]. Then the bitrate
//!   drops to what the link was seen to carry, less the audio, with headroom
//!   ([`RateConfig::headroom`]); and at least by 10% — but at most every
//!   [`RateConfig::min_interval`] (an encoder's rate control takes a second or two to follow)
//!   and only while the queue is not draining already.
//! - After [`RateConfig::recover_after`] without a queue, it climbs back by
//!   [`RateConfig::recover_step`], up to the configured maximum.
//! - Beyond [`RateConfig::drop_after`] of queue, the sender should drop video up to the next
//!   keyframe ([`RateController::should_drop`]), so that what goes out stays decodable and the
//!   stream does not fall further behind.

use std::time::Duration;

/// The limits and pace of a [`RateController`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    /// The bitrate wanted when the link allows it, bits per second.
    pub max_bps: u64,
    /// Never below this.
    pub min_bps: u64,
    /// What the audio takes of the link, bits per second.
    pub audio_bps: u64,
    /// The share of the measured link throughput to use for media (0..1).
    pub headroom: f64,
    /// A send queue longer than this is congestion.
    pub congested_after: Duration,
    /// Beyond this much queue, drop video until the next keyframe.
    pub drop_after: Duration,
    /// At least this long between two decreases.
    pub min_interval: Duration,
    /// Raise the bitrate after this long without a queue.
    pub recover_after: Duration,
    /// Factor of each raise (> 1).
    pub recover_step: f64,
}

impl RateConfig {
    /// Defaults for a video bitrate of `max_bps` next to `audio_bps` of audio: down to a tenth,
    /// 85% of the link, congestion beyond 0.5 s of queue, drops beyond 1.5 s, decreases at
    /// most every 2 s, +10% after 5 s calm.
    pub fn new(max_bps: u64, audio_bps: u64) -> Self {
        Self {
            max_bps,
            min_bps: (max_bps / 10).max(1000),
            audio_bps,
            headroom: 0.85,
            congested_after: Duration::from_millis(500),
            drop_after: Duration::from_millis(1500),
            min_interval: Duration::from_secs(2),
            recover_after: Duration::from_secs(5),
            recover_step: 1.1,
        }
    }
}

/// A bitrate change decided by [`RateController::update`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateChange {
    /// The link could not carry the stream.
    Lowered {
        /// The new video bitrate, bits per second.
        bps: u64,
        /// The link throughput measured, bits per second.
        link_bps: u64,
    },
    /// The link kept up for a while.
    Raised {
        /// The new video bitrate, bits per second.
        bps: u64,
    },
}

/// Decides the video bitrate from the publisher's send queue and the link's throughput.
///
/// ```
/// use std::time::Duration;
/// use onair_encoder::{RateChange, RateConfig, RateController};
///
/// let mut rate = RateController::new(RateConfig::new(2_000_000, 128_000));
/// // every frame: how much media waits to be sent, and the bytes the link took so far
/// let t = Duration::from_millis(1100);
/// assert_eq!(rate.update(Duration::ZERO, Duration::ZERO, 0), None);
/// let change = rate.update(t, Duration::from_secs(1), 80_000); // 1 s queued, ~580 kbit/s
/// assert!(matches!(change, Some(RateChange::Lowered { bps, .. }) if bps < 500_000));
/// ```
#[derive(Debug, Clone)]
pub struct RateController {
    config: RateConfig,
    bitrate: u64,
    /// Start of the current throughput window: (time, bytes sent then).
    window: Option<(Duration, u64)>,
    link_bps: Option<u64>,
    last_change: Option<Duration>,
    queued_at_change: Duration,
    calm_since: Duration,
}

impl RateController {
    /// A controller starting at the maximum bitrate.
    pub fn new(config: RateConfig) -> Self {
        Self {
            bitrate: config.max_bps,
            config,
            window: None,
            link_bps: None,
            last_change: None,
            queued_at_change: Duration::ZERO,
            calm_since: Duration::ZERO,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RateConfig {
        &self.config
    }

    /// The video bitrate to use now, bits per second.
    pub fn bitrate(&self) -> u64 {
        self.bitrate
    }

    /// The link throughput last measured, bits per second.
    pub fn link_bps(&self) -> Option<u64> {
        self.link_bps
    }

    /// Whether video should be dropped (up to the next keyframe) with this much queued.
    pub fn should_drop(&self, queued: Duration) -> bool {
        queued > self.config.drop_after
    }

    /// Reports the state at `now` (any monotonic clock): `queued` is the media duration that
    /// waits to be sent, `sent_bytes` the total the link has taken so far. Call often (every
    /// frame); returns a change to apply to the encoder, if any.
    pub fn update(
        &mut self,
        now: Duration,
        queued: Duration,
        sent_bytes: u64,
    ) -> Option<RateChange> {
        match self.window {
            None => self.window = Some((now, sent_bytes)),
            Some((start, bytes)) => {
                let span = now.saturating_sub(start);
                if span >= Duration::from_secs(1) {
                    let bits = sent_bytes.saturating_sub(bytes) as f64 * 8.0;
                    self.link_bps = Some((bits / span.as_secs_f64()) as u64);
                    self.window = Some((now, sent_bytes));
                }
            }
        }
        let c = &self.config;
        let since_change = self.last_change.map(|t| now.saturating_sub(t));
        if queued > c.congested_after {
            self.calm_since = now;
            let link = self.link_bps?;
            let may_change = since_change.is_none_or(|d| d >= c.min_interval);
            // a queue shorter than at the last decrease is draining: give it time
            let draining = self.last_change.is_some() && queued < self.queued_at_change;
            if self.bitrate <= c.min_bps || !may_change || draining {
                return None;
            }
            let fits = ((link as f64 * c.headroom) as u64).saturating_sub(c.audio_bps);
            let at_most = self.bitrate - self.bitrate / 10;
            let bps = fits.min(at_most).max(c.min_bps);
            self.bitrate = bps;
            self.last_change = Some(now);
            self.queued_at_change = queued;
            return Some(RateChange::Lowered {
                bps,
                link_bps: link,
            });
        }
        if queued > c.congested_after / 2 {
            self.calm_since = now;
            return None;
        }
        if self.bitrate < c.max_bps && now.saturating_sub(self.calm_since) >= c.recover_after {
            let bps = ((self.bitrate as f64 * c.recover_step) as u64)
                .max(self.bitrate + 1)
                .min(c.max_bps);
            self.bitrate = bps;
            self.last_change = Some(now);
            self.queued_at_change = Duration::ZERO;
            self.calm_since = now;
            return Some(RateChange::Raised { bps });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender behind a link of `link_bps(t)`: media is produced at the controller's bitrate
    /// (plus audio) and queues when the link is slower. The encoder follows a new bitrate
    /// with a lag of `lag` (its rate control). Returns the controller, the largest queue after
    /// `settle` and the time series of bitrates.
    fn simulate(
        seconds: u64,
        link_bps: impl Fn(f64) -> f64,
        lag: f64,
    ) -> (RateController, Vec<(f64, u64, f64)>) {
        let mut rate = RateController::new(RateConfig::new(2_000_000, 128_000));
        let dt = 1.0 / 30.0;
        let (mut queue_bits, mut sent_bits, mut produced_bps) = (0.0f64, 0.0f64, 2_128_000.0f64);
        let mut series = Vec::new();
        let steps = (seconds as f64 / dt) as u64;
        for i in 0..steps {
            let t = i as f64 * dt;
            // the encoder approaches its target with a time constant of `lag` seconds
            let target = (rate.bitrate() + 128_000) as f64;
            produced_bps += (target - produced_bps) * (dt / lag).min(1.0);
            queue_bits += produced_bps * dt;
            let out = (link_bps(t) * dt).min(queue_bits);
            queue_bits -= out;
            sent_bits += out;
            let queued = Duration::from_secs_f64(queue_bits / produced_bps);
            if rate.should_drop(queued) {
                // dropping video to the next keyframe: about a GOP of video goes
                queue_bits = (queue_bits - rate.bitrate() as f64).max(0.0);
            }
            rate.update(Duration::from_secs_f64(t), queued, (sent_bits / 8.0) as u64);
            series.push((t, rate.bitrate(), queue_bits / produced_bps));
        }
        (rate, series)
    }

    #[test]
    fn an_ample_link_keeps_the_full_bitrate() {
        let (rate, series) = simulate(30, |_| 10e6, 1.0);
        assert_eq!(rate.bitrate(), 2_000_000);
        assert!(series.iter().all(|s| s.1 == 2_000_000));
    }

    #[test]
    fn a_slow_link_brings_the_bitrate_down_to_what_it_carries_and_the_queue_stays_short() {
        let (_, series) = simulate(60, |_| 600e3, 1.5);
        let fits = 600e3 * 0.85 - 128e3; // 382 kbit/s
                                         // after the first 15 s: the bitrate probes around what the link carries (decreases
                                         // to it, +10% steps after 5 s calm), and the queue stays below the drop threshold
        let late: Vec<_> = series.iter().filter(|s| s.0 > 15.0).collect();
        let mean = late.iter().map(|s| s.1 as f64).sum::<f64>() / late.len() as f64;
        let max_queue = late.iter().map(|s| s.2).fold(0.0, f64::max);
        assert!(
            mean <= 600e3 - 128e3,
            "mean {mean} does not fit the link (max queue {max_queue} s)"
        );
        assert!(mean >= 0.7 * fits, "mean {mean} is far below what fits");
        assert!(max_queue < 1.5, "queue {max_queue} s after 15 s");
        // and it never dived to the floor
        assert!(
            series.iter().all(|s| s.1 >= 300_000),
            "{:?}",
            series.iter().map(|s| s.1).min()
        );
    }

    #[test]
    fn it_climbs_back_when_the_link_recovers() {
        let (rate, series) = simulate(120, |t| if t < 30.0 { 600e3 } else { 10e6 }, 1.0);
        let at_30 = series.iter().find(|s| s.0 >= 30.0).map_or(0, |s| s.1);
        assert!(at_30 < 600_000, "{at_30}");
        assert_eq!(rate.bitrate(), 2_000_000, "back to the maximum by 120 s");
    }

    #[test]
    fn decreases_wait_for_a_measurement_and_are_spaced() {
        let mut rate = RateController::new(RateConfig::new(2_000_000, 128_000));
        let q = Duration::from_secs(1);
        // congested, but no throughput measured yet
        assert_eq!(rate.update(Duration::ZERO, q, 0), None);
        assert_eq!(rate.update(Duration::from_millis(500), q, 10_000), None);
        let first = rate.update(Duration::from_millis(1000), q, 75_000);
        assert_eq!(
            first,
            Some(RateChange::Lowered {
                bps: 382_000,
                link_bps: 600_000
            })
        );
        // a second later, queue still growing: too soon
        assert_eq!(
            rate.update(Duration::from_millis(2000), 2 * q, 150_000),
            None
        );
        // 2 s later and still growing: lower again, at least by 10%
        let second = rate.update(Duration::from_millis(3000), 3 * q, 500_000);
        assert!(
            matches!(second, Some(RateChange::Lowered { bps, .. }) if bps <= 343_800),
            "{second:?}"
        );
        // draining queue: no further decrease
        assert_eq!(
            rate.update(Duration::from_millis(6000), 2 * q, 600_000),
            None
        );
        assert!(rate.should_drop(2 * q));
        assert!(!rate.should_drop(q));
    }
}
