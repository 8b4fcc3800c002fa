//! Blocking playlist reload (RFC 8216bis 6.2.5.2) without IO: requests that wait for a
//! media sequence number / part are parked here and released when the packager publishes it.

use crate::packager::Packager;

/// Parked playlist requests, each with a token of the caller's choice (e.g. a channel).
///
/// After every [`Event::PlaylistChanged`](crate::Event::PlaylistChanged), drain
/// [`poll_ready`](Self::poll_ready) until `None` and answer those requests. The runtime
/// enforces its own timeout (the spec suggests three target durations) by removing the token
/// with [`cancel`](Self::cancel).
#[derive(Debug)]
pub struct ReloadWaiters<T> {
    waiting: Vec<(u64, Option<u32>, T)>,
}

impl<T> Default for ReloadWaiters<T> {
    fn default() -> Self {
        Self {
            waiting: Vec::new(),
        }
    }
}

impl<T> ReloadWaiters<T> {
    /// Parks a request for `msn` (and `part`). Returns the token back at once when it is
    /// already published.
    pub fn wait(
        &mut self,
        packager: &Packager,
        msn: u64,
        part: Option<u32>,
        token: T,
    ) -> Option<T> {
        if packager.is_published(msn, part) {
            return Some(token);
        }
        self.waiting.push((msn, part, token));
        None
    }

    /// A parked request that can be answered now; call until `None`.
    pub fn poll_ready(&mut self, packager: &Packager) -> Option<T> {
        let i = self
            .waiting
            .iter()
            .position(|(msn, part, _)| packager.is_published(*msn, *part))?;
        Some(self.waiting.swap_remove(i).2)
    }

    /// Removes the first parked request whose token matches (e.g. on timeout).
    pub fn cancel(&mut self, matches: impl Fn(&T) -> bool) -> Option<T> {
        let i = self.waiting.iter().position(|(_, _, t)| matches(t))?;
        Some(self.waiting.swap_remove(i).2)
    }

    /// Number of parked requests.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no request is parked.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}
