//! The hand-off from a publisher's task to its ladder's worker thread: a queue measured in
//! media time that the publisher never waits on. Past its limit, input is dropped up to the
//! next video keyframe with room again (half the limit), so memory stays bounded and the
//! ladder resumes on a picture it can decode.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use onair_media_types::{Frame, MediaKind, MediaTime, TrackInfo};

use crate::hls::stream::lock;

/// What the publisher hands the ladder.
#[derive(Debug)]
pub(crate) enum Input {
    /// A track, or a new configuration of one.
    Track(TrackInfo),
    /// A frame, with when it arrived from the publisher.
    Frame(Frame, Instant),
    /// The publisher left.
    End,
}

/// The publisher's end of the queue.
pub(crate) struct LadderFeed {
    shared: Arc<Shared>,
    max_queue: Duration,
}

pub(super) struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Input>,
    /// Decode time of the newest video frame queued.
    pushed: Option<MediaTime>,
    /// Decode time of the newest video frame the worker took.
    taken: Option<MediaTime>,
    dropping: bool,
    dropped: u64,
    ended: bool,
}

impl Queue {
    /// Video waiting for the worker, in media time.
    fn span(&self) -> Duration {
        match (self.pushed, self.taken) {
            (Some(pushed), Some(taken)) => {
                Duration::from_secs_f64((pushed.as_secs_f64() - taken.as_secs_f64()).max(0.0))
            }
            _ => Duration::ZERO,
        }
    }
}

impl LadderFeed {
    /// A queue holding at most `max_queue` of media, and the worker's end of it.
    pub(super) fn new(max_queue: Duration) -> (Self, Arc<Shared>) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        });
        (
            Self {
                shared: shared.clone(),
                max_queue,
            },
            shared,
        )
    }

    /// Queues `input` for the worker, unless the queue is too long (then frames are
    /// dropped up to the next keyframe with room).
    pub(crate) fn push(&self, input: Input) {
        let mut q = lock(&self.shared.queue);
        if q.ended {
            return;
        }
        q.ended = matches!(input, Input::End);
        if let Input::Frame(frame, _) = &input {
            let video = frame.codec.kind() == MediaKind::Video;
            if video {
                let dts = frame.dts_time();
                q.pushed = Some(dts);
                q.taken.get_or_insert(dts);
            }
            let span = q.span();
            if !q.dropping && span > self.max_queue {
                q.dropping = true;
                tracing::warn!(
                    queued_ms = span.as_millis() as u64,
                    "ladder too far behind: dropping input up to the next keyframe"
                );
            }
            if q.dropping {
                if video && frame.keyframe && span <= self.max_queue / 2 {
                    q.dropping = false;
                } else {
                    q.dropped += 1;
                    return;
                }
            }
        }
        q.items.push_back(input);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// The publisher left: the worker finishes what is queued and stops.
    pub(crate) fn end(&self) {
        self.push(Input::End);
    }
}

impl Drop for LadderFeed {
    /// A sink dropped without [`end`](Self::end) (its connection task ended) still stops the
    /// worker.
    fn drop(&mut self) {
        self.end();
    }
}

impl Shared {
    /// The next input, waiting up to `timeout` for one.
    pub(super) fn pop(&self, timeout: Duration) -> Option<Input> {
        let mut q = lock(&self.queue);
        if q.items.is_empty() {
            q = self
                .ready
                .wait_timeout(q, timeout)
                .map_or_else(|e| e.into_inner().0, |(q, _)| q);
        }
        let input = q.items.pop_front()?;
        if let Input::Frame(frame, _) = &input {
            if frame.codec.kind() == MediaKind::Video {
                q.taken = Some(frame.dts_time());
            }
        }
        Some(input)
    }

    /// Video waiting for the worker, in media time, and frames dropped so far.
    pub(super) fn backlog(&self) -> (Duration, u64) {
        let q = lock(&self.queue);
        (q.span(), q.dropped)
    }
}
