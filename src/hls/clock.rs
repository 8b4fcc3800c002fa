//! Where the origin reads the time, so that a test (or a simulation) can pass its own.

use std::fmt;
use std::time::{Instant, SystemTime};

/// The time an [`HlsOrigin`](super::HlsOrigin) packages and expires by.
///
/// HTTP requests that wait (blocking playlist reload, preload hints) run on the tokio timer
/// instead: they are runtime, not packaging.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time: when a segment that left the playlist goes, when a stream whose
    /// publisher left is removed.
    fn now(&self) -> Instant;

    /// Wall-clock time: `EXT-X-PROGRAM-DATE-TIME`, and segment names that differ between
    /// runs of the server.
    fn wall_clock(&self) -> SystemTime;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }
}
