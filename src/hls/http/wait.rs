//! Requests that cannot be answered yet: a blocking playlist reload for an update to come, a
//! preload-hinted part, a playlist asked for before the first segment. Each is decided under
//! the stream's lock; one that has to wait is parked with its rendition's
//! [`ReloadWaiters`](onair_hls_packager::ReloadWaiters) until the packager publishes what it
//! asks for (or the publisher leaves), and decided again then, until its time runs out.

use std::time::Duration;

use hyper::StatusCode;

use crate::hls::stream::{LiveHls, RenditionIndex, StreamState};

/// What a request does next, decided under the stream's lock.
pub(super) enum Step<T> {
    /// Answer now.
    Answer(T),
    /// Wait until rendition `rendition` publishes media sequence number `msn` (and `part`);
    /// only for what is not published yet.
    Park {
        rendition: RenditionIndex,
        msn: u64,
        part: Option<u32>,
    },
    /// Wait until the publication's renditions are all announced (a ladder's first moments).
    AwaitRenditions,
}

impl<T> Step<T> {
    /// Decides further on an answer; a request that parks stays parked.
    pub(super) fn and_then<U>(self, f: impl FnOnce(T) -> Step<U>) -> Step<U> {
        match self {
            Step::Answer(answer) => f(answer),
            Step::Park {
                rendition,
                msn,
                part,
            } => Step::Park {
                rendition,
                msn,
                part,
            },
            Step::AwaitRenditions => Step::AwaitRenditions,
        }
    }
}

/// How long a request may wait for a playlist update or a hinted part: three target
/// durations (RFC 8216bis 6.2.5.2), and at least 3 s.
pub(super) fn block_limit(target: Duration) -> Duration {
    (target * 3).max(Duration::from_secs(3))
}

/// How long a request may wait for the first segment, which can take a whole (long) GOP:
/// longer than for a part.
pub(super) fn first_segment_limit(target: Duration) -> Duration {
    block_limit(target).max(Duration::from_secs(8))
}

/// Runs `decide` on the stream's state, and again each time what it parked for is published
/// (or the stream ends), until it answers; fails with `timeout` once `limit` has passed.
pub(super) async fn until_decided<T>(
    stream: &LiveHls,
    limit: Duration,
    timeout: StatusCode,
    mut decide: impl FnMut(&StreamState) -> Step<T>,
) -> Result<T, StatusCode> {
    // read the timer only for requests that wait
    let mut deadline = None;
    loop {
        let (parked, woken) = {
            let mut state = stream.lock();
            match decide(&state) {
                Step::Answer(answer) => return Ok(answer),
                Step::Park {
                    rendition,
                    msn,
                    part,
                } => match state.park(rendition, msn, part) {
                    Some((key, woken)) => (Some((rendition, key)), woken),
                    // `decide` parks only for what is not published (under this same lock),
                    // so this is an unknown rendition: nothing to wait for
                    None => return Err(timeout),
                },
                Step::AwaitRenditions => (None, state.await_settled()),
            }
        };
        let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + limit);
        // Woken (published, or the publisher left) or the stream is gone: decide again.
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            if let Some((rendition, key)) = parked {
                stream.lock().cancel(rendition, key);
            }
            return Err(timeout);
        }
    }
}
