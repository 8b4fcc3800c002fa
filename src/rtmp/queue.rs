//! A player's bounded queue. The publisher pushes without ever waiting; a player that falls
//! behind loses its queued media and resumes at the next video keyframe ("skip"), and one that
//! keeps falling behind is disconnected. Memory per player is bounded by [`QueueLimits`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::packet::Packet;

/// Bounds of one player's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueLimits {
    /// Most packets queued for one player (audio and video tags count one each).
    pub max_packets: usize,
    /// Most payload bytes queued for one player.
    pub max_bytes: usize,
    /// A player that has to skip more than this many times within `skip_window` is
    /// disconnected.
    pub max_skips: usize,
    /// See `max_skips`.
    pub skip_window: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_packets: 1024,
            max_bytes: 8 * 1024 * 1024,
            max_skips: 3,
            skip_window: Duration::from_secs(30),
        }
    }
}

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    Queued,
    /// Dropped while waiting for a keyframe after a skip.
    Dropped,
    /// The queue was full: its media was dropped; the player resumes at a keyframe.
    Skipped,
    /// The player stayed behind: it is to be disconnected.
    Disconnect,
}

/// What the player side gets.
#[derive(Debug, Clone)]
pub(crate) enum PopOutcome {
    Packet(Packet),
    Empty,
    /// The player was cut off for staying behind.
    Disconnected,
}

/// The queue logic, without locks or wakeups (tested on its own).
#[derive(Debug)]
pub(crate) struct PlayerQueue {
    limits: QueueLimits,
    items: VecDeque<Packet>,
    bytes: usize,
    waiting_for_keyframe: bool,
    seen_video: bool,
    skips: VecDeque<Instant>,
    disconnected: bool,
    skipped_total: u64,
}

impl PlayerQueue {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            items: VecDeque::new(),
            bytes: 0,
            waiting_for_keyframe: false,
            seen_video: false,
            skips: VecDeque::new(),
            disconnected: false,
            skipped_total: 0,
        }
    }

    pub(crate) fn push(&mut self, packet: Packet, now: Instant) -> PushOutcome {
        if self.disconnected {
            return PushOutcome::Disconnect;
        }
        if packet.is_video() {
            self.seen_video = true;
        }
        let always = packet.is_config() || matches!(packet, Packet::End | Packet::Begin);
        if self.waiting_for_keyframe && !always {
            if self.may_resume_at(&packet) {
                self.waiting_for_keyframe = false;
            } else {
                return PushOutcome::Dropped;
            }
        }
        let full = self.items.len() >= self.limits.max_packets
            || self.bytes + packet.size() > self.limits.max_bytes;
        if !full {
            self.enqueue(packet);
            return PushOutcome::Queued;
        }
        // Fell behind.
        self.skipped_total += 1;
        while self
            .skips
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > self.limits.skip_window)
        {
            self.skips.pop_front();
        }
        self.skips.push_back(now);
        if self.skips.len() > self.limits.max_skips {
            self.disconnected = true;
            self.items.clear();
            self.bytes = 0;
            return PushOutcome::Disconnect;
        }
        self.drop_media();
        if always {
            self.waiting_for_keyframe = true;
            self.enqueue(packet);
        } else if self.may_resume_at(&packet) {
            self.waiting_for_keyframe = false;
            self.enqueue(packet);
        } else {
            self.waiting_for_keyframe = true;
        }
        PushOutcome::Skipped
    }

    pub(crate) fn pop(&mut self) -> PopOutcome {
        if self.disconnected {
            return PopOutcome::Disconnected;
        }
        match self.items.pop_front() {
            Some(p) => {
                self.bytes = self.bytes.saturating_sub(p.size());
                PopOutcome::Packet(p)
            }
            None => PopOutcome::Empty,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn skipped_total(&self) -> u64 {
        self.skipped_total
    }

    fn may_resume_at(&self, packet: &Packet) -> bool {
        if self.seen_video {
            packet.is_video_keyframe()
        } else {
            // audio-only stream: any audio frame is a fine place to resume
            matches!(packet, Packet::Media(_))
        }
    }

    fn enqueue(&mut self, packet: Packet) {
        self.bytes += packet.size();
        self.items.push_back(packet);
    }

    /// Drops queued media, keeping the newest metadata and sequence headers (and End/Begin).
    fn drop_media(&mut self) {
        let mut kept: Vec<Packet> = Vec::new();
        for p in self.items.drain(..).rev() {
            let keep = match &p {
                Packet::End | Packet::Begin => true,
                Packet::Metadata(_) => !kept.iter().any(|k| matches!(k, Packet::Metadata(_))),
                Packet::Media(m) if m.config => !kept
                    .iter()
                    .any(|k| matches!(k, Packet::Media(km) if km.config && km.media == m.media)),
                Packet::Media(_) => false,
            };
            if keep {
                kept.push(p);
            }
        }
        kept.reverse();
        self.bytes = kept.iter().map(Packet::size).sum();
        self.items = kept.into();
    }
}

/// A player's queue shared between the publisher (pushing) and the player's connection task
/// (popping), with the connection's wakeup.
#[derive(Debug)]
pub(crate) struct PlayerSlot {
    queue: Mutex<PlayerQueue>,
    notify: Arc<Notify>,
}

impl PlayerSlot {
    pub(crate) fn new(limits: QueueLimits, notify: Arc<Notify>) -> Self {
        Self {
            queue: Mutex::new(PlayerQueue::new(limits)),
            notify,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PlayerQueue> {
        // A panic while holding this lock cannot leave the queue inconsistent in a way that
        // matters more than losing the player, so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, packet: Packet, now: Instant) -> PushOutcome {
        let outcome = self.lock().push(packet, now);
        if matches!(
            outcome,
            PushOutcome::Queued | PushOutcome::Skipped | PushOutcome::Disconnect
        ) {
            self.notify.notify_one();
        }
        outcome
    }

    pub(crate) fn pop(&self) -> PopOutcome {
        self.lock().pop()
    }

    pub(crate) fn skipped_total(&self) -> u64 {
        self.lock().skipped_total()
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::MediaPacket;
    use super::*;
    use bytes::Bytes;

    fn video(ts: u64, key: bool) -> Packet {
        let body = if key {
            vec![0x17, 1, 0, 0, 0, 1]
        } else {
            vec![0x27, 1, 0, 0, 0, 1]
        };
        Packet::Media(MediaPacket::video(ts, Bytes::from(body)))
    }
    fn audio(ts: u64) -> Packet {
        Packet::Media(MediaPacket::audio(ts, Bytes::from_static(&[0xaf, 1, 0x21])))
    }
    fn avc_config() -> Packet {
        Packet::Media(MediaPacket::video(
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        ))
    }
    fn limits(max_packets: usize) -> QueueLimits {
        QueueLimits {
            max_packets,
            max_bytes: 1 << 20,
            max_skips: 2,
            skip_window: Duration::from_secs(10),
        }
    }
    fn drain(q: &mut PlayerQueue) -> Vec<Packet> {
        let mut v = Vec::new();
        while let PopOutcome::Packet(p) = q.pop() {
            v.push(p);
        }
        v
    }
    fn ts(p: &Packet) -> Option<u64> {
        match p {
            Packet::Media(m) => Some(m.timestamp_ms),
            _ => None,
        }
    }

    #[test]
    fn a_fast_player_gets_everything_in_order() {
        let now = Instant::now();
        let mut q = PlayerQueue::new(limits(8));
        for i in 0..100u64 {
            assert_eq!(q.push(video(i * 33, i % 30 == 0), now), PushOutcome::Queued);
            assert_eq!(q.push(audio(i * 33), now), PushOutcome::Queued);
            let got = drain(&mut q);
            assert_eq!(got.len(), 2);
            assert_eq!(ts(&got[0]), Some(i * 33));
        }
        assert_eq!(q.skipped_total(), 0);
    }

    #[test]
    fn a_slow_player_skips_to_the_next_keyframe_and_keeps_config() {
        let now = Instant::now();
        let mut q = PlayerQueue::new(limits(4));
        assert_eq!(q.push(avc_config(), now), PushOutcome::Queued);
        assert_eq!(q.push(video(0, true), now), PushOutcome::Queued);
        assert_eq!(q.push(video(33, false), now), PushOutcome::Queued);
        assert_eq!(q.push(audio(40), now), PushOutcome::Queued);
        // full: this inter frame triggers a skip
        assert_eq!(q.push(video(66, false), now), PushOutcome::Skipped);
        assert_eq!(q.len(), 1, "only the sequence header survives");
        assert_eq!(q.push(audio(70), now), PushOutcome::Dropped);
        assert_eq!(q.push(video(99, false), now), PushOutcome::Dropped);
        assert_eq!(q.push(video(132, true), now), PushOutcome::Queued);
        assert_eq!(q.push(audio(140), now), PushOutcome::Queued);
        let got = drain(&mut q);
        assert!(got[0].is_config());
        assert!(got[1].is_video_keyframe());
        assert_eq!(ts(&got[1]), Some(132));
        assert_eq!(ts(&got[2]), Some(140));
        assert_eq!(q.skipped_total(), 1);
    }

    #[test]
    fn a_player_that_stays_behind_is_disconnected_and_memory_stays_bounded() {
        let start = Instant::now();
        let mut q = PlayerQueue::new(limits(4));
        let mut outcomes = Vec::new();
        for i in 0..60u64 {
            // never popped
            let o = q.push(
                video(i * 33, i % 5 == 0),
                start + Duration::from_millis(i * 33),
            );
            assert!(q.len() <= 4);
            outcomes.push(o);
        }
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == PushOutcome::Skipped)
                .count(),
            2
        );
        assert_eq!(outcomes.last(), Some(&PushOutcome::Disconnect));
        assert!(matches!(q.pop(), PopOutcome::Disconnected));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn skips_spread_over_time_do_not_disconnect() {
        let start = Instant::now();
        let mut q = PlayerQueue::new(limits(2));
        for round in 0..10u64 {
            let now = start + Duration::from_secs(round * 20);
            q.push(video(0, true), now);
            q.push(video(1, false), now);
            assert_eq!(q.push(video(2, true), now), PushOutcome::Skipped);
            drain(&mut q);
        }
        assert!(!matches!(q.pop(), PopOutcome::Disconnected));
        assert_eq!(q.skipped_total(), 10);
    }

    #[test]
    fn audio_only_resumes_on_audio() {
        let now = Instant::now();
        let mut q = PlayerQueue::new(limits(2));
        q.push(audio(0), now);
        q.push(audio(20), now);
        assert_eq!(q.push(audio(40), now), PushOutcome::Skipped);
        let got = drain(&mut q);
        assert_eq!(got.len(), 1);
        assert_eq!(ts(&got[0]), Some(40));
    }
}
