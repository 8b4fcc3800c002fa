//! Where IDR pictures go: one decision per source picture for every rendition, on the
//! source's presentation clock, and whether the source's own keyframes are regular enough to
//! pass the source through. Pure logic over 90 kHz ticks.

use std::time::Duration;

/// Ticks per second of the keyframe logic's clock (the MPEG clock, as the packager's).
pub(crate) const CLOCK: u32 = 90_000;

pub(crate) fn ticks(d: Duration) -> i64 {
    i64::try_from(d.as_micros() * u128::from(CLOCK) / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn duration(ticks: i64) -> Duration {
    Duration::from_micros(u64::try_from(ticks.max(0)).unwrap_or(0) * 1_000_000 / u64::from(CLOCK))
}

/// Why the source's video cannot be passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassthroughRefusal {
    /// No second keyframe came within the segment target: segments would be longer than
    /// the target.
    GopTooLong {
        /// How long the first GOP had lasted when the judgement was made.
        waited: Duration,
    },
    /// The source's GOP does not divide the segment target (within half a frame): segments
    /// would be uneven.
    GopDoesNotFitTarget {
        /// The source's GOP (first keyframe to second).
        gop: Duration,
        /// The segment target.
        target: Duration,
    },
    /// The ladder was re-planned for a source of another size; the source rung ends.
    SourceChanged,
}

/// Why a passed-through source rendition ended after it had been accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassthroughEnd {
    /// The source's keyframes stopped for longer than
    /// [`TranscoderConfig::passthrough_max_gop`](crate::TranscoderConfig).
    GopTooLong {
        /// Time since the last keyframe when it ended.
        waited: Duration,
    },
}

impl std::fmt::Display for PassthroughRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PassthroughRefusal::GopTooLong { waited } => write!(
                f,
                "no second keyframe within the segment target ({} ms waited)",
                waited.as_millis()
            ),
            PassthroughRefusal::GopDoesNotFitTarget { gop, target } => write!(
                f,
                "the source's GOP ({} ms) does not divide the segment target ({} ms)",
                gop.as_millis(),
                target.as_millis()
            ),
            PassthroughRefusal::SourceChanged => f.write_str("the source changed size"),
        }
    }
}

impl std::fmt::Display for PassthroughEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PassthroughEnd::GopTooLong { waited } => write!(
                f,
                "the source's keyframes stopped ({} ms since the last)",
                waited.as_millis()
            ),
        }
    }
}

/// What the judge has decided about passthrough so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The first GOP is not complete yet.
    Judging,
    /// Regular: renditions follow the source's keyframes.
    Accepted,
    /// Not passed through; renditions have keyframes of their own.
    Refused(PassthroughRefusal),
    /// Was passed through, and stopped.
    Ended(PassthroughEnd),
}

/// A change the judge reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    Accepted {
        gop: Duration,
    },
    Refused(PassthroughRefusal),
    /// A GOP that differs from the accepted one by more than half a frame; passthrough goes
    /// on and every rendition still follows the source's keyframes.
    Irregular {
        gop: Duration,
    },
    Ended(PassthroughEnd),
}

/// Judges the source's keyframes live, from the input frames in decode order.
///
/// Accepted when the first GOP `g` (first keyframe to second) fits the target `T`: `k * g`
/// is within half a frame of `T` for a whole `k >= 1` (1 s or 2 s GOPs for 2 s segments),
/// so the packager's cuts at the first keyframe at or after each multiple of `T` make
/// segments of `T`. Refused when it does not, or when no second keyframe comes within
/// `T` plus half a frame. After acceptance, a different GOP is reported as irregular (all
/// renditions still follow it, so they stay aligned; a segment may be longer or shorter);
/// keyframes stopping for longer than `max_gop` end the passthrough.
#[derive(Debug, Clone)]
pub(crate) struct PassthroughJudge {
    target: i64,
    max_gop: i64,
    verdict: Verdict,
    last_key: Option<i64>,
    gop: Option<i64>,
    max_pts: Option<i64>,
    last_pts: Option<i64>,
    step: Option<i64>,
}

impl PassthroughJudge {
    pub(crate) fn new(target: Duration, max_gop: Duration) -> Self {
        Self {
            target: ticks(target).max(1),
            max_gop: ticks(max_gop).max(1),
            verdict: Verdict::Judging,
            last_key: None,
            gop: None,
            max_pts: None,
            last_pts: None,
            step: None,
        }
    }

    pub(crate) fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Half a frame: the frame step (smallest positive PTS difference seen) over two, a
    /// 60th of a second until one is seen.
    fn tolerance(&self) -> i64 {
        self.step.map_or(i64::from(CLOCK) / 120, |s| (s / 2).max(1))
    }

    /// Ends judging with a refusal from outside (the ladder was re-planned).
    pub(crate) fn refuse(&mut self, reason: PassthroughRefusal) -> Option<Judgement> {
        match self.verdict {
            Verdict::Judging => {
                self.verdict = Verdict::Refused(reason);
                Some(Judgement::Refused(reason))
            }
            _ => None,
        }
    }

    /// The input ended while the first GOP was judged: the whole input was one GOP that
    /// fits the target (a longer one would have been refused already).
    pub(crate) fn accept_at_end(&mut self) {
        if self.verdict == Verdict::Judging {
            self.verdict = Verdict::Accepted;
        }
    }

    /// One input frame at `pts` (90 kHz), in decode order.
    pub(crate) fn on_frame(&mut self, pts: i64, keyframe: bool) -> Option<Judgement> {
        if let Some(last) = self.last_pts {
            let d = (pts - last).abs();
            if d > 0 {
                self.step = Some(self.step.map_or(d, |s| s.min(d)));
            }
        }
        self.last_pts = Some(pts);
        self.max_pts = Some(self.max_pts.map_or(pts, |m| m.max(pts)));
        let tol = self.tolerance();
        match self.verdict {
            Verdict::Refused(_) | Verdict::Ended(_) => None,
            Verdict::Judging => {
                let Some(first) = self.last_key else {
                    if keyframe {
                        self.last_key = Some(pts);
                    }
                    return None;
                };
                if keyframe && pts > first {
                    let gop = pts - first;
                    self.last_key = Some(pts);
                    self.gop = Some(gop);
                    let k = ((self.target + gop / 2) / gop).max(1);
                    let fits = gop <= self.target + tol && (k * gop - self.target).abs() <= tol;
                    let judgement = if fits {
                        self.verdict = Verdict::Accepted;
                        Judgement::Accepted { gop: duration(gop) }
                    } else {
                        let refusal = PassthroughRefusal::GopDoesNotFitTarget {
                            gop: duration(gop),
                            target: duration(self.target),
                        };
                        self.verdict = Verdict::Refused(refusal);
                        Judgement::Refused(refusal)
                    };
                    return Some(judgement);
                }
                let waited = self.max_pts.unwrap_or(pts) - first;
                if waited > self.target + tol {
                    let refusal = PassthroughRefusal::GopTooLong {
                        waited: duration(waited),
                    };
                    self.verdict = Verdict::Refused(refusal);
                    return Some(Judgement::Refused(refusal));
                }
                None
            }
            Verdict::Accepted => {
                let last = self.last_key?;
                if keyframe && pts > last {
                    let gop = pts - last;
                    self.last_key = Some(pts);
                    let expected = self.gop.unwrap_or(gop);
                    return ((gop - expected).abs() > tol)
                        .then_some(Judgement::Irregular { gop: duration(gop) });
                }
                let waited = self.max_pts.unwrap_or(pts) - last;
                if waited > self.max_gop {
                    let end = PassthroughEnd::GopTooLong {
                        waited: duration(waited),
                    };
                    self.verdict = Verdict::Ended(end);
                    return Some(Judgement::Ended(end));
                }
                None
            }
        }
    }
}

/// Decides, picture by picture, where every rendition gets an IDR picture.
///
/// Following the source, IDRs go exactly on the pictures that were source keyframes. On
/// its own clock, an IDR goes on the first picture at or after each multiple of the
/// interval (in presentation time from 0, so that it matches where the packager cuts);
/// after an IDR the next boundary is the next multiple.
#[derive(Debug, Clone)]
pub(crate) struct KeyframeClock {
    interval: i64,
    next: Option<i64>,
}

impl KeyframeClock {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval: ticks(interval).max(1),
            next: None,
        }
    }

    fn boundary_after(&self, pts: i64) -> i64 {
        pts.div_euclid(self.interval)
            .saturating_add(1)
            .saturating_mul(self.interval)
    }

    /// Whether the picture at `pts` (90 kHz) is an IDR picture. `force` makes it one
    /// (the first picture of encoders that start); `follow` takes the source's keyframes.
    pub(crate) fn decide(
        &mut self,
        pts: i64,
        source_keyframe: bool,
        follow: bool,
        force: bool,
    ) -> bool {
        let idr = force
            || self.next.is_none()
            || if follow {
                source_keyframe
            } else {
                self.next.is_some_and(|next| pts >= next)
            };
        if idr {
            self.next = Some(self.boundary_after(pts));
        }
        idr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: i64 = 3000; // 30 fps

    fn judge() -> PassthroughJudge {
        PassthroughJudge::new(Duration::from_secs(2), Duration::from_secs(4))
    }

    /// Feeds frames 0..n at 30 fps with keyframes where `key(n)`; returns the judgements.
    fn feed(j: &mut PassthroughJudge, n: i64, key: impl Fn(i64) -> bool) -> Vec<(i64, Judgement)> {
        (0..n)
            .filter_map(|i| j.on_frame(i * FRAME, key(i)).map(|v| (i, v)))
            .collect()
    }

    #[test]
    fn two_second_gops_are_accepted_at_the_second_keyframe() {
        let mut j = judge();
        let out = feed(&mut j, 200, |i| i % 60 == 0);
        assert_eq!(
            out,
            [(
                60,
                Judgement::Accepted {
                    gop: Duration::from_secs(2)
                }
            )]
        );
        assert_eq!(j.verdict(), Verdict::Accepted);
    }

    #[test]
    fn one_second_gops_fit_two_second_segments() {
        let mut j = judge();
        let out = feed(&mut j, 100, |i| i % 30 == 0);
        assert!(matches!(out[..], [(30, Judgement::Accepted { .. })]));
    }

    #[test]
    fn millisecond_timestamps_within_half_a_frame_are_regular() {
        // FLV: 30 fps in ms is 33/34 ms steps; a GOP of 60 frames may read 1999..2001 ms.
        let mut j = judge();
        let ms = |i: i64| (i * 1000 / 30) * 90;
        assert_eq!(j.on_frame(ms(0), true), None);
        for i in 1..60 {
            assert_eq!(j.on_frame(ms(i), false), None);
        }
        assert!(matches!(
            j.on_frame(ms(60) - 90, true),
            Some(Judgement::Accepted { .. })
        ));
    }

    #[test]
    fn a_gop_that_does_not_divide_the_target_is_refused() {
        let mut j = judge();
        let out = feed(&mut j, 100, |i| i % 45 == 0);
        assert_eq!(
            out,
            [(
                45,
                Judgement::Refused(PassthroughRefusal::GopDoesNotFitTarget {
                    gop: Duration::from_millis(1500),
                    target: Duration::from_secs(2)
                })
            )]
        );
        // Nothing more is said once refused.
        assert!(feed(&mut j, 100, |_| true).is_empty());
    }

    #[test]
    fn a_long_first_gop_is_refused_once_the_target_has_passed() {
        let mut j = judge();
        let out = feed(&mut j, 200, |i| i % 150 == 0);
        // 2 s plus half a frame: refused at the first frame past it (frame 61).
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 61);
        assert!(matches!(
            out[0].1,
            Judgement::Refused(PassthroughRefusal::GopTooLong { .. })
        ));
    }

    #[test]
    fn late_irregularities_are_reported_and_a_stop_ends_passthrough() {
        let mut j = judge();
        // 2 s GOPs, then one keyframe at 5 s (a 1 s GOP), then none for more than 4 s.
        let keys = [0, 60, 120, 150];
        let out = feed(&mut j, 300, |i| keys.contains(&i));
        assert!(matches!(out[0], (60, Judgement::Accepted { .. })));
        assert_eq!(
            out[1],
            (
                150,
                Judgement::Irregular {
                    gop: Duration::from_secs(1)
                }
            )
        );
        assert_eq!(out[2].0, 150 + 121);
        assert!(matches!(
            out[2].1,
            Judgement::Ended(PassthroughEnd::GopTooLong { .. })
        ));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn b_frame_order_does_not_confuse_the_frame_step() {
        let mut j = judge();
        // Decode order I P B B ... with pts 0, 3, 1, 2 frames.
        let mut out = Vec::new();
        for gop in 0..3 {
            for (k, offset) in [0, 3, 1, 2].iter().cycle().take(60).enumerate() {
                let i = gop * 60 + (k as i64 / 4) * 4 + offset;
                if let Some(v) = j.on_frame(i * FRAME, k == 0) {
                    out.push(v);
                }
            }
        }
        assert_eq!(
            out,
            [Judgement::Accepted {
                gop: Duration::from_secs(2)
            }]
        );
    }

    #[test]
    fn own_clock_puts_idrs_on_the_first_picture_at_or_after_each_boundary() {
        let mut c = KeyframeClock::new(Duration::from_secs(2));
        // 25 fps starting at 0.5 s: frames every 3600 ticks.
        let idrs: Vec<i64> = (0..150)
            .map(|i| 45_000 + i * 3600)
            .filter(|&pts| c.decide(pts, false, false, false))
            .collect();
        assert_eq!(idrs, [45_000, 181_800, 361_800, 541_800]);
    }

    #[test]
    fn following_takes_exactly_the_source_keyframes_and_force_adds_one() {
        let mut c = KeyframeClock::new(Duration::from_secs(2));
        let decisions: Vec<bool> = (0..8)
            .map(|i| c.decide(i * FRAME, i % 3 == 0, true, i == 4))
            .collect();
        assert_eq!(
            decisions,
            [true, false, false, true, true, false, true, false]
        );
        // Back on the own clock, the next boundary is the multiple after the last IDR.
        let mut c = KeyframeClock::new(Duration::from_secs(2));
        assert!(c.decide(0, true, true, false));
        assert!(!c.decide(150_000, false, false, false));
        assert!(c.decide(180_000, false, false, false));
    }
}
