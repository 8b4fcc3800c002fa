/// A point in media time: `ticks` counted in units of `1 / timescale` seconds.
///
/// RTMP counts milliseconds (timescale 1000), MPEG-TS 90 kHz, MP4 tracks their own timescale.
/// Rescaling rounds to the nearest tick and is computed in 128 bits, so it never overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaTime {
    /// Number of ticks (may be negative, e.g. a PTS before the first DTS).
    pub ticks: i64,
    /// Ticks per second; never 0.
    pub timescale: u32,
}

impl MediaTime {
    /// A time of `ticks` in `timescale` (a timescale of 0 is taken as 1).
    pub const fn new(ticks: i64, timescale: u32) -> Self {
        let timescale = if timescale == 0 { 1 } else { timescale };
        Self { ticks, timescale }
    }

    /// Milliseconds, as RTMP counts.
    pub const fn from_millis(ms: i64) -> Self {
        Self::new(ms, 1000)
    }

    /// This time expressed in ticks of `timescale`, rounded to the nearest tick.
    pub fn rescale(self, timescale: u32) -> i64 {
        rescale(self.ticks, self.timescale, timescale)
    }

    /// This time in milliseconds, rounded to the nearest.
    pub fn as_millis(self) -> i64 {
        self.rescale(1000)
    }

    /// This time in seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.ticks as f64 / f64::from(self.timescale)
    }
}

/// Converts `ticks` from timescale `from` to timescale `to`, rounding half away from zero.
pub(crate) fn rescale(ticks: i64, from: u32, to: u32) -> i64 {
    if from == to || from == 0 {
        return ticks;
    }
    // Fast path in i64 when the product and the rounding offset fit (all but absurd
    // timestamps); it gives the same quotient as the i128 path below, without the
    // 128-bit division.
    let den = i64::from(from);
    if let Some(num) = ticks.checked_mul(i64::from(to)) {
        let biased = if num >= 0 {
            num.checked_add(den / 2)
        } else {
            num.checked_sub(den / 2)
        };
        if let Some(biased) = biased {
            return biased / den;
        }
    }
    let num = i128::from(ticks) * i128::from(to);
    let den = i128::from(from);
    let half = den / 2;
    let q = if num >= 0 {
        (num + half) / den
    } else {
        (num - half) / den
    };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescales_with_rounding() {
        assert_eq!(MediaTime::from_millis(1).rescale(90_000), 90);
        assert_eq!(MediaTime::new(3003, 90_000).as_millis(), 33);
        assert_eq!(MediaTime::new(1001, 30_000).rescale(1000), 33);
        assert_eq!(MediaTime::new(-1, 1000).rescale(90_000), -90);
        assert_eq!(MediaTime::new(i64::MAX, 1).rescale(90_000), i64::MAX);
    }

    #[test]
    fn i64_fast_path_agrees_with_i128_near_overflow() {
        let reference = |ticks: i64, from: u32, to: u32| {
            let num = i128::from(ticks) * i128::from(to);
            let den = i128::from(from);
            let q = if num >= 0 {
                (num + den / 2) / den
            } else {
                (num - den / 2) / den
            };
            q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        };
        let edge = i64::MAX / 90_000;
        for ticks in [
            0,
            1,
            -1,
            500,
            -500,
            1499,
            -1501,
            edge - 1,
            edge,
            edge + 1,
            -edge,
            -edge - 1,
            i64::MAX,
            i64::MIN,
            i64::MAX - 1,
            i64::MIN + 1,
        ] {
            for (from, to) in [
                (1000, 90_000),
                (90_000, 1000),
                (3, 2),
                (u32::MAX, 1),
                (1, u32::MAX),
            ] {
                assert_eq!(
                    rescale(ticks, from, to),
                    reference(ticks, from, to),
                    "{ticks} {from} {to}"
                );
            }
        }
    }
}
