//! A player's media time across publishers. Each publisher starts its timestamps where it
//! likes (usually 0); a player that stays subscribed across a republish would see time jump
//! back, which players such as ffmpeg report as non-monotonic timestamps. The player's
//! timeline instead continues a little after the last timestamp it was sent.

/// Where the first packet of the next publisher lands after the last one sent.
const GAP_MS: u64 = 100;

#[derive(Debug, Default)]
pub(crate) struct PlayerTimeline {
    offset: u64,
    /// The highest timestamp sent so far.
    last: Option<u64>,
    rebase: bool,
}

impl PlayerTimeline {
    /// A new publisher starts: its first packet follows what was sent before.
    pub(crate) fn restart(&mut self) {
        self.rebase = self.last.is_some();
    }

    /// The player-side timestamp of a packet the publisher stamped `ts`.
    pub(crate) fn map(&mut self, ts: u64) -> u64 {
        if self.rebase {
            self.rebase = false;
            self.offset = self
                .last
                .map_or(0, |last| last.saturating_add(GAP_MS).saturating_sub(ts));
        }
        let out = ts.saturating_add(self.offset);
        self.last = Some(self.last.map_or(out, |last| last.max(out)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_publisher_keeps_its_timestamps() {
        let mut t = PlayerTimeline::default();
        t.restart();
        assert_eq!([t.map(5000), t.map(5033)], [5000, 5033]);
    }

    #[test]
    fn a_republish_continues_after_the_last_timestamp() {
        let mut t = PlayerTimeline::default();
        assert_eq!(t.map(0), 0);
        assert_eq!(t.map(2500), 2500);
        assert_eq!(t.map(2480), 2480, "small reorderings pass through");
        t.restart();
        assert_eq!([t.map(0), t.map(0), t.map(33)], [2600, 2600, 2633]);
        t.restart();
        // a publisher whose clock is already ahead keeps it: time still goes forward
        assert_eq!([t.map(90_000), t.map(90_040)], [90_000, 90_040]);
    }
}
