//! Newtypes for the integers of ISO/IEC 13818-1.

use std::fmt;

const MASK_33: u64 = (1 << 33) - 1;

/// A 33-bit timestamp in 90 kHz ticks, as PTS, DTS and the PCR base carry it
/// (ISO/IEC 13818-1 2.4.3.7). Arithmetic wraps modulo 2^33 (about 26.5 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp90k(u64);

impl Timestamp90k {
    /// The number of distinct values: 2^33.
    pub const WRAP: u64 = 1 << 33;

    /// A timestamp from any tick count; values outside `0..2^33` wrap.
    pub const fn new(ticks: u64) -> Self {
        Self(ticks & MASK_33)
    }

    /// A timestamp from a signed tick count (negative values wrap to the top of the range).
    pub const fn from_signed(ticks: i64) -> Self {
        Self((ticks as u64) & MASK_33)
    }

    /// The 33-bit value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + ticks` modulo 2^33.
    pub const fn wrapping_add(self, ticks: u64) -> Self {
        Self(self.0.wrapping_add(ticks) & MASK_33)
    }

    /// `self - ticks` modulo 2^33.
    pub const fn wrapping_sub(self, ticks: u64) -> Self {
        Self(self.0.wrapping_sub(ticks) & MASK_33)
    }

    /// The signed distance from `earlier` to `self`, taking the shorter way round the
    /// 2^33 circle (so a timestamp just after a wrap is "after" one just before it).
    pub const fn signed_diff(self, earlier: Self) -> i64 {
        let d = self.0.wrapping_sub(earlier.0) & MASK_33;
        if d >= Self::WRAP / 2 {
            d as i64 - Self::WRAP as i64
        } else {
            d as i64
        }
    }
}

impl fmt::Display for Timestamp90k {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 13-bit packet identifier (ISO/IEC 13818-1 2.4.3.3, table 2-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(u16);

impl Pid {
    /// The Program Association Table.
    pub const PAT: Pid = Pid(0);
    /// Null packets.
    pub const NULL: Pid = Pid(0x1fff);
    /// The largest PID value.
    pub const MAX: u16 = 0x1fff;

    /// A PID, or `None` when `value` does not fit in 13 bits.
    pub const fn new(value: u16) -> Option<Self> {
        if value > Self::MAX {
            None
        } else {
            Some(Self(value))
        }
    }

    /// The 13-bit value.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// The 4-bit `continuity_counter` of a PID (ISO/IEC 13818-1 2.4.3.3): incremented on every
/// packet carrying payload, modulo 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ContinuityCounter(u8);

impl ContinuityCounter {
    /// A counter with the given value (only the low 4 bits are kept).
    pub const fn new(value: u8) -> Self {
        Self(value & 0x0f)
    }

    /// The 4-bit value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Returns the current value and advances to the next one.
    pub fn next_value(&mut self) -> u8 {
        let v = self.0;
        self.0 = (v + 1) & 0x0f;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_wrap_at_33_bits() {
        let t = Timestamp90k::new(Timestamp90k::WRAP - 10);
        assert_eq!(t.wrapping_add(15).get(), 5);
        assert_eq!(t.wrapping_add(15).signed_diff(t), 15);
        assert_eq!(t.signed_diff(t.wrapping_add(15)), -15);
        assert_eq!(Timestamp90k::from_signed(-1).get(), Timestamp90k::WRAP - 1);
        assert_eq!(
            Timestamp90k::new(5).wrapping_sub(10).get(),
            Timestamp90k::WRAP - 5
        );
    }

    #[test]
    fn pid_and_counter_ranges() {
        assert_eq!(Pid::new(0x2000), None);
        assert_eq!(Pid::new(0x100).map(Pid::get), Some(0x100));
        let mut cc = ContinuityCounter::new(15);
        assert_eq!(cc.next_value(), 15);
        assert_eq!(cc.get(), 0);
    }
}
