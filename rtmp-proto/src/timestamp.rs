//! RTMP timestamps: 32-bit milliseconds that wrap after about 49.7 days (RTMP 1.0 §5.3.1.2.1).
//!
//! Peers compare timestamps by their signed wrapping difference ("serial number arithmetic"),
//! and a long-running stream needs a monotonic media time that keeps growing past 2^32 ms:
//! [`TimestampExtender`] provides it.

/// A 32-bit RTMP timestamp in milliseconds. Arithmetic wraps at 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RtmpTimestamp(pub u32);

impl RtmpTimestamp {
    /// The timestamp `ms` milliseconds later, wrapping at 2^32.
    #[must_use]
    pub const fn wrapping_add(self, ms: u32) -> Self {
        Self(self.0.wrapping_add(ms))
    }

    /// The timestamp `ms` milliseconds earlier, wrapping at 2^32.
    #[must_use]
    pub const fn wrapping_sub(self, ms: u32) -> Self {
        Self(self.0.wrapping_sub(ms))
    }

    /// Signed distance from `earlier` to `self` in milliseconds, taking the shorter way around
    /// the 2^32 circle (positive when `self` is after `earlier`).
    #[must_use]
    pub const fn wrapping_diff(self, earlier: Self) -> i32 {
        self.0.wrapping_sub(earlier.0) as i32
    }

    /// Whether `self` comes strictly after `other` by signed wrapping difference, so
    /// `RtmpTimestamp(5)` is after `RtmpTimestamp(u32::MAX)`.
    #[must_use]
    pub const fn is_after(self, other: Self) -> bool {
        self.wrapping_diff(other) > 0
    }

    /// Whether `self` comes strictly before `other` by signed wrapping difference.
    #[must_use]
    pub const fn is_before(self, other: Self) -> bool {
        self.wrapping_diff(other) < 0
    }
}

impl From<u32> for RtmpTimestamp {
    fn from(ms: u32) -> Self {
        Self(ms)
    }
}

/// Turns a sequence of 32-bit RTMP timestamps into monotonic `u64` milliseconds that keep
/// growing across 2^32 wraps.
///
/// Each timestamp is placed relative to the previous one by signed wrapping difference, so a
/// wrap (`0xFFFF_FFF0` then `0x10`) moves forward by 0x20 ms and a small backward jump (as
/// audio and video interleave) stays backward. A jump of 2^31 ms or more cannot be told from a
/// backward jump and is read as one. The extended time never goes below zero.
#[derive(Debug, Clone, Default)]
pub struct TimestampExtender {
    last: Option<(RtmpTimestamp, u64)>,
}

impl TimestampExtender {
    /// An extender that has seen no timestamp yet; the first one is taken as is.
    #[must_use]
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// The extended time of `ts`, in milliseconds.
    pub fn extend(&mut self, ts: RtmpTimestamp) -> u64 {
        let extended = match self.last {
            None => u64::from(ts.0),
            Some((prev, prev_ext)) => {
                let diff = ts.wrapping_diff(prev);
                if diff >= 0 {
                    prev_ext.saturating_add(diff.unsigned_abs().into())
                } else {
                    prev_ext.saturating_sub(diff.unsigned_abs().into())
                }
            }
        };
        self.last = Some((ts, extended));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_arithmetic() {
        let t = RtmpTimestamp(u32::MAX - 4);
        assert_eq!(t.wrapping_add(10), RtmpTimestamp(5));
        assert_eq!(RtmpTimestamp(5).wrapping_sub(10), t);
        assert_eq!(RtmpTimestamp(5).wrapping_diff(t), 10);
        assert_eq!(t.wrapping_diff(RtmpTimestamp(5)), -10);
        assert!(RtmpTimestamp(5).is_after(t));
        assert!(t.is_before(RtmpTimestamp(5)));
        assert!(!t.is_after(t));
        assert!(RtmpTimestamp(2000).is_after(RtmpTimestamp(1000)));
    }

    #[test]
    fn extender_crosses_wraps() {
        let mut ext = TimestampExtender::new();
        assert_eq!(ext.extend(RtmpTimestamp(0xFFFF_FFF0)), 0xFFFF_FFF0);
        assert_eq!(ext.extend(RtmpTimestamp(0x10)), 0x1_0000_0010);
        // small backward jump stays backward, not +2^32
        assert_eq!(ext.extend(RtmpTimestamp(0xFFFF_FFFF)), 0xFFFF_FFFF);
        assert_eq!(ext.extend(RtmpTimestamp(0x20)), 0x1_0000_0020);
        // a second wrap
        let mut t = 0x20u32;
        let mut expected = 0x1_0000_0020u64;
        for _ in 0..5 {
            t = t.wrapping_add(0x4000_0000);
            expected += 0x4000_0000;
            assert_eq!(ext.extend(RtmpTimestamp(t)), expected);
        }
        assert_eq!(expected, 0x2_4000_0020);
    }

    #[test]
    fn extender_never_below_zero() {
        let mut ext = TimestampExtender::new();
        assert_eq!(ext.extend(RtmpTimestamp(5)), 5);
        assert_eq!(ext.extend(RtmpTimestamp(u32::MAX)), 0);
        assert_eq!(ext.extend(RtmpTimestamp(3)), 4);
    }
}
