//! Requests that wait for the playlist to grow, without IO: blocking playlist reload
//! (`_HLS_msn` / `_HLS_part`, RFC 8216bis 6.2.5.2) and requests for a partial segment or
//! segment about to be published (an `EXT-X-PRELOAD-HINT`, RFC 8216bis 4.4.5.3) are parked
//! here and released when the packager publishes what they wait for.

use std::collections::BTreeMap;

use crate::Packager;

/// Parked requests, each with a token of the caller's choice (e.g. a channel to wake it).
///
/// After every change of the playlist, drain [`poll_ready`](Self::poll_ready) until `None`
/// and answer those requests. When the stream ends, [`release_all`](Self::release_all) hands
/// every token back. Time stays with the runtime: it gives each request its own limit (the
/// spec suggests three target durations) and, when that passes first, takes the request out
/// with [`cancel`](Self::cancel).
///
/// Requests are kept in the order of what they wait for, and the packager publishes in that
/// order, so releasing costs the requests released, not the requests parked.
#[derive(Debug)]
pub struct ReloadWaiters<T> {
    waiting: BTreeMap<WaitKey, T>,
    parked: u64,
}

/// A parked request, to [`cancel`](ReloadWaiters::cancel) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaitKey {
    msn: u64,
    /// The part, `u32::MAX` for the whole segment (published after all its parts).
    part: u32,
    /// Tells apart requests waiting for the same thing.
    ticket: u64,
}

impl WaitKey {
    fn part(&self) -> Option<u32> {
        (self.part != u32::MAX).then_some(self.part)
    }
}

/// What became of a request handed to [`ReloadWaiters::wait`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadWait<T> {
    /// What it asks for is published already: answer it now.
    Ready(T),
    /// Parked until [`ReloadWaiters::poll_ready`] gives the token back.
    Parked(WaitKey),
}

impl<T> Default for ReloadWaiters<T> {
    fn default() -> Self {
        Self {
            waiting: BTreeMap::new(),
            parked: 0,
        }
    }
}

impl<T> ReloadWaiters<T> {
    /// Parks a request for media sequence number `msn` (and partial segment `part` of it),
    /// unless `packager` has published it already.
    pub fn wait(
        &mut self,
        packager: &Packager,
        msn: u64,
        part: Option<u32>,
        token: T,
    ) -> ReloadWait<T> {
        if packager.is_published(msn, part) {
            return ReloadWait::Ready(token);
        }
        self.parked = self.parked.wrapping_add(1);
        let key = WaitKey {
            msn,
            part: part.unwrap_or(u32::MAX),
            ticket: self.parked,
        };
        self.waiting.insert(key, token);
        ReloadWait::Parked(key)
    }

    /// A parked request that can be answered now; call until `None`.
    pub fn poll_ready(&mut self, packager: &Packager) -> Option<T> {
        let (key, _) = self.waiting.first_key_value()?;
        if !packager.is_published(key.msn, key.part()) {
            return None;
        }
        self.waiting.pop_first().map(|(_, token)| token)
    }

    /// Takes a parked request out (its time ran out); `None` if it was released already.
    pub fn cancel(&mut self, key: WaitKey) -> Option<T> {
        self.waiting.remove(&key)
    }

    /// Every parked request, for a stream that ended: nothing more will be published.
    pub fn release_all(&mut self) -> impl Iterator<Item = T> {
        std::mem::take(&mut self.waiting).into_values()
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
