//! Live streams by (app, public name): one publisher each, any number of players.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tracing::{debug, warn};

use super::gop::GopCache;
use super::packet::Packet;
use super::queue::{PlayerSlot, PushOutcome};

type StreamKeyPair = (String, String);

/// Who may wait for a name that nobody publishes (yet, or any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitLimits {
    /// Players of unpublished names are accepted and wait (nginx-rtmp's `idle_streams`).
    pub(crate) idle_streams: bool,
    /// Most players waiting on one name.
    pub(crate) per_stream: usize,
    /// Most players waiting on all names together.
    pub(crate) total: usize,
}

impl Default for WaitLimits {
    fn default() -> Self {
        Self {
            idle_streams: true,
            per_stream: 64,
            total: 512,
        }
    }
}

/// Why a player was not subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscribeError {
    /// Nobody publishes the name and idle streams are off.
    NotPublished,
    /// Nobody publishes the name and too many players wait already.
    TooManyWaiting,
}

/// All live streams of a server.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    streams: Mutex<HashMap<StreamKeyPair, Arc<LiveStream>>>,
    limits: WaitLimits,
    /// Players subscribed to a stream without publisher. Changed only under that stream's
    /// state lock, so it agrees with the streams' player lists.
    waiting: AtomicUsize,
}

#[derive(Debug)]
pub(crate) struct LiveStream {
    app: String,
    name: String,
    state: Mutex<StreamState>,
}

#[derive(Debug, Default)]
struct StreamState {
    publisher: Option<u64>,
    /// What the publisher's connection is told and tells while it publishes.
    link: PublisherLink,
    cache: GopCache,
    players: Vec<(u64, Arc<PlayerSlot>)>,
}

impl StreamState {
    /// The player count changed (or the publisher came).
    fn count_players(&self) {
        if let Some(gauge) = &self.link.players {
            gauge.set(self.players.len() as i64);
        }
    }
}

/// How the registry reaches a publisher's connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct PublisherLink {
    /// Notified to make the connection close (an operator drops the publisher).
    pub(crate) kick: Option<Arc<Notify>>,
    /// The stream's RTMP player count, kept up to date while it is published.
    pub(crate) players: Option<Gauge>,
}

/// The stream is already being published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlreadyPublishing;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    pub(crate) fn new(limits: WaitLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Whether `app/name` has a publisher now.
    pub(crate) fn is_published(&self, app: &str, name: &str) -> bool {
        let stream = lock(&self.streams)
            .get(&(app.to_owned(), name.to_owned()))
            .cloned();
        stream.is_some_and(|s| lock(&s.state).publisher.is_some())
    }

    /// Players waiting for a publisher, on all names.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    fn add_waiting(&self, n: usize) {
        self.waiting.fetch_add(n, Ordering::SeqCst);
    }

    fn remove_waiting(&self, n: usize) {
        let _ = self
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some(w.saturating_sub(n))
            });
    }

    fn entry(&self, app: &str, name: &str) -> Arc<LiveStream> {
        let mut streams = lock(&self.streams);
        streams
            .entry((app.to_owned(), name.to_owned()))
            .or_insert_with(|| {
                Arc::new(LiveStream {
                    app: app.to_owned(),
                    name: name.to_owned(),
                    state: Mutex::new(StreamState::default()),
                })
            })
            .clone()
    }

    /// Removes the stream if it has neither publisher nor players.
    fn release(&self, stream: &Arc<LiveStream>) {
        let mut streams = lock(&self.streams);
        let state = lock(&stream.state);
        if state.publisher.is_none() && state.players.is_empty() {
            let key = (stream.app.clone(), stream.name.clone());
            if streams.get(&key).is_some_and(|s| Arc::ptr_eq(s, stream)) {
                streams.remove(&key);
            }
        }
    }

    /// Makes `publisher` (a connection id) the publisher of `app/name`. Players already
    /// subscribed (waiting, or left by the previous publisher) are attached: they get a
    /// [`Packet::Begin`], then what the new publisher sends.
    #[cfg(test)]
    pub(crate) fn publish(
        self: &Arc<Self>,
        app: &str,
        name: &str,
        publisher: u64,
    ) -> Result<Publication, AlreadyPublishing> {
        self.publish_linked(app, name, publisher, PublisherLink::default())
    }

    /// [`publish`](Self::publish), with the way back to the publisher's connection.
    pub(crate) fn publish_linked(
        self: &Arc<Self>,
        app: &str,
        name: &str,
        publisher: u64,
        link: PublisherLink,
    ) -> Result<Publication, AlreadyPublishing> {
        let stream = self.entry(app, name);
        {
            let mut state = lock(&stream.state);
            if state.publisher.is_some() {
                return Err(AlreadyPublishing);
            }
            state.publisher = Some(publisher);
            state.link = link;
            state.count_players();
            state.cache = GopCache::default();
            self.remove_waiting(state.players.len());
            fan_out(&stream, &mut state, Packet::Begin);
        }
        Ok(Publication {
            registry: self.clone(),
            stream,
        })
    }

    /// Adds a player to `app/name`. A live stream's metadata, sequence headers and current GOP
    /// are queued for it at once; a player of a name without publisher waits for one (within
    /// the [`WaitLimits`]) and is attached when it starts.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        app: &str,
        name: &str,
        player: u64,
        slot: Arc<PlayerSlot>,
    ) -> Result<Subscription, SubscribeError> {
        let stream = self.entry(app, name);
        let result = {
            let mut state = lock(&stream.state);
            let admitted = if state.publisher.is_some() {
                let now = Instant::now();
                for p in state.cache.snapshot() {
                    slot.push(p, now);
                }
                Ok(())
            } else if !self.limits.idle_streams {
                Err(SubscribeError::NotPublished)
            } else if state.players.len() >= self.limits.per_stream
                || self
                    .waiting
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                        (w < self.limits.total).then_some(w + 1)
                    })
                    .is_err()
            {
                // Without a publisher every player of the stream is waiting.
                Err(SubscribeError::TooManyWaiting)
            } else {
                Ok(())
            };
            if admitted.is_ok() {
                state.players.push((player, slot));
                state.count_players();
            }
            admitted
        };
        match result {
            Ok(()) => Ok(Subscription {
                registry: self.clone(),
                stream,
                player,
            }),
            Err(e) => {
                self.release(&stream);
                Err(e)
            }
        }
    }

    /// Tells the publisher of `app/name` to disconnect; false when nobody publishes it.
    pub(crate) fn drop_publisher(&self, app: &str, name: &str) -> bool {
        let stream = lock(&self.streams)
            .get(&(app.to_owned(), name.to_owned()))
            .cloned();
        let Some(stream) = stream else {
            return false;
        };
        let state = lock(&stream.state);
        match (&state.publisher, &state.link.kick) {
            (Some(_), Some(kick)) => {
                // A stored permit: the connection sees it even if it is not waiting right now.
                kick.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Number of streams with a publisher or players.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.streams).len()
    }
}

/// The right to publish one stream; dropping it ends the stream for its players.
#[derive(Debug)]
pub(crate) struct Publication {
    registry: Arc<Registry>,
    stream: Arc<LiveStream>,
}

impl Publication {
    /// What the publisher sent (metadata or media): into the GOP cache and to every player.
    /// `End` and `Begin` are the registry's own and are ignored here.
    pub(crate) fn push(&self, packet: Packet) {
        let mut state = lock(&self.stream.state);
        match &packet {
            Packet::Metadata(props) => state.cache.set_metadata(props.clone()),
            Packet::Media(media) => state.cache.push(media),
            Packet::End | Packet::Begin => return,
        }
        fan_out(&self.stream, &mut state, packet);
    }

    #[cfg(test)]
    pub(crate) fn player_count(&self) -> usize {
        lock(&self.stream.state).players.len()
    }
}

fn fan_out(stream: &LiveStream, state: &mut StreamState, packet: Packet) {
    let now = Instant::now();
    let before = state.players.len();
    state.players.retain(|(id, slot)| {
        match slot.push(packet.clone(), now) {
            PushOutcome::Disconnect => {
                warn!(app = %stream.app, name = %stream.name, player = id, "player stayed behind, disconnecting it");
                false
            }
            PushOutcome::Skipped => {
                debug!(app = %stream.app, name = %stream.name, player = id, "player fell behind, skipping to the next keyframe");
                true
            }
            _ => true,
        }
    });
    if state.players.len() != before {
        state.count_players();
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.stream.state);
            state.publisher = None;
            state.link = PublisherLink::default();
            state.cache = GopCache::default();
            // The players stay subscribed and wait for the next publisher.
            fan_out(&self.stream, &mut state, Packet::End);
            self.registry.add_waiting(state.players.len());
        }
        self.registry.release(&self.stream);
    }
}

/// A player's place in a stream; dropping it leaves the stream.
#[derive(Debug)]
pub(crate) struct Subscription {
    registry: Arc<Registry>,
    stream: Arc<LiveStream>,
    player: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.stream.state);
            let before = state.players.len();
            state.players.retain(|(id, _)| *id != self.player);
            state.count_players();
            if state.publisher.is_none() && state.players.len() < before {
                self.registry.remove_waiting(before - state.players.len());
            }
        }
        self.registry.release(&self.stream);
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::MediaPacket;
    use super::super::queue::{PopOutcome, QueueLimits};
    use super::*;
    use bytes::Bytes;
    use tokio::sync::Notify;

    fn slot(max_packets: usize) -> Arc<PlayerSlot> {
        let limits = QueueLimits {
            max_packets,
            ..QueueLimits::default()
        };
        Arc::new(PlayerSlot::new(limits, Arc::new(Notify::new())))
    }

    fn key(ts: u64) -> MediaPacket {
        MediaPacket::video(ts, Bytes::from_static(&[0x17, 1, 0, 0, 0]))
    }
    fn inter(ts: u64) -> MediaPacket {
        MediaPacket::video(ts, Bytes::from_static(&[0x27, 1, 0, 0, 0]))
    }

    #[test]
    fn one_publisher_at_a_time() {
        let r = Arc::new(Registry::default());
        let p = r.publish("live", "a", 1).expect("first publisher");
        assert_eq!(r.publish("live", "a", 2).err(), Some(AlreadyPublishing));
        assert!(r.publish("other", "a", 2).is_ok());
        drop(p);
        assert!(r.publish("live", "a", 3).is_ok());
        assert_eq!(
            r.len(),
            0,
            "streams without publisher and players are removed"
        );
    }

    #[test]
    fn a_late_player_starts_at_the_keyframe_and_gets_end() {
        let r = Arc::new(Registry::default());
        let p = r.publish("live", "a", 1).expect("publish");
        p.push(Packet::Media(config()));
        p.push(Packet::Media(key(0)));
        p.push(Packet::Media(inter(33)));
        p.push(Packet::Media(key(66)));
        p.push(Packet::Media(inter(99)));
        let s = slot(64);
        let sub = r.subscribe("live", "a", 7, s.clone()).expect("subscribe");
        p.push(Packet::Media(inter(132)));
        drop(p);
        let mut got = Vec::new();
        while let PopOutcome::Packet(pk) = s.pop() {
            got.push(pk);
        }
        assert_eq!(got.len(), 5, "config, 66, 99, 132, end: {got:?}");
        assert!(got[0].is_config());
        assert!(got[1].is_video_keyframe());
        assert!(matches!(got[4], Packet::End));
        drop(sub);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_slow_player_does_not_affect_a_fast_one() {
        let r = Arc::new(Registry::default());
        let p = r.publish("live", "a", 1).expect("publish");
        let slow = slot(8);
        let fast = slot(8);
        let _s1 = r
            .subscribe("live", "a", 10, slow.clone())
            .expect("subscribe");
        let _s2 = r
            .subscribe("live", "a", 11, fast.clone())
            .expect("subscribe");
        let mut fast_got = 0;
        for i in 0..200u64 {
            p.push(Packet::Media(if i % 10 == 0 { key(i) } else { inter(i) }));
            while let PopOutcome::Packet(_) = fast.pop() {
                fast_got += 1;
            }
        }
        assert_eq!(fast_got, 200, "the fast player got every packet");
        assert!(matches!(slow.pop(), PopOutcome::Disconnected));
        assert_eq!(p.player_count(), 1, "the slow player was removed");
    }

    fn drain(s: &PlayerSlot) -> Vec<Packet> {
        let mut got = Vec::new();
        while let PopOutcome::Packet(pk) = s.pop() {
            got.push(pk);
        }
        got
    }

    fn config() -> MediaPacket {
        MediaPacket::video(0, Bytes::from_static(&[0x17, 0, 0, 0, 0]))
    }

    #[test]
    fn a_waiting_player_is_attached_and_reattached_on_republish() {
        let r = Arc::new(Registry::default());
        let s = slot(64);
        let sub = r.subscribe("live", "a", 7, s.clone()).expect("waits");
        assert_eq!(r.waiting(), 1);
        assert!(!r.is_published("live", "a"));
        assert!(drain(&s).is_empty(), "nothing before a publisher");

        let p = r.publish("live", "a", 1).expect("publish");
        assert_eq!(r.waiting(), 0);
        assert!(r.is_published("live", "a"));
        p.push(Packet::Metadata(Arc::new(Vec::new())));
        p.push(Packet::Media(config()));
        p.push(Packet::Media(key(0)));
        p.push(Packet::Media(inter(33)));
        drop(p);
        let got = drain(&s);
        assert_eq!(got.len(), 6, "{got:?}");
        assert!(matches!(got[0], Packet::Begin));
        assert!(matches!(got[1], Packet::Metadata(_)));
        assert!(got[2].is_config() && got[3].is_video_keyframe());
        assert!(matches!(got[5], Packet::End));
        assert_eq!(
            r.waiting(),
            1,
            "left by its publisher, the player waits again"
        );
        assert_eq!(r.len(), 1, "the stream stays while a player waits");

        let p = r.publish("live", "a", 2).expect("republish");
        p.push(Packet::Media(config()));
        p.push(Packet::Media(key(0)));
        let got = drain(&s);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(got[0], Packet::Begin));
        assert!(got[1].is_config() && got[2].is_video_keyframe());
        assert_eq!(r.waiting(), 0);
        drop(sub);
        drop(p);
        assert_eq!((r.len(), r.waiting()), (0, 0));
    }

    #[test]
    fn waiting_players_are_bounded_per_name_and_in_all() {
        let r = Arc::new(Registry::new(WaitLimits {
            idle_streams: true,
            per_stream: 2,
            total: 3,
        }));
        let a1 = r.subscribe("live", "a", 1, slot(8)).expect("a1");
        let _a2 = r.subscribe("live", "a", 2, slot(8)).expect("a2");
        assert_eq!(
            r.subscribe("live", "a", 3, slot(8)).err(),
            Some(SubscribeError::TooManyWaiting)
        );
        let b1 = r.subscribe("live", "b", 4, slot(8)).expect("b1");
        assert_eq!(
            r.subscribe("live", "c", 5, slot(8)).err(),
            Some(SubscribeError::TooManyWaiting),
            "three wait in all"
        );
        assert_eq!(r.len(), 2, "a refused player leaves no stream behind");
        drop(b1);
        let _c1 = r.subscribe("live", "c", 5, slot(8)).expect("room again");
        // A published name takes any number of players, and its players do not wait.
        let p = r.publish("live", "a", 9).expect("publish");
        assert_eq!(r.waiting(), 1);
        let _a3 = r.subscribe("live", "a", 3, slot(8)).expect("a3");
        let _a4 = r.subscribe("live", "a", 6, slot(8)).expect("a4");
        drop(a1);
        assert_eq!(r.waiting(), 1);
        drop(p);
        assert_eq!(r.waiting(), 4, "three players of a wait again, and c1");
    }

    #[test]
    fn an_operator_drops_the_publisher_and_players_are_counted_while_published() {
        let r = Arc::new(Registry::default());
        let waiting = r.subscribe("live", "a", 1, slot(8)).expect("waits");
        let (kick, players) = (Arc::new(Notify::new()), Gauge::default());
        assert!(!r.drop_publisher("live", "a"), "nobody publishes it yet");
        let link = PublisherLink {
            kick: Some(kick.clone()),
            players: Some(players.clone()),
        };
        let p = r.publish_linked("live", "a", 9, link).expect("publish");
        assert_eq!(players.get(), 1, "the waiting player is attached");
        let second = r.subscribe("live", "a", 2, slot(8)).expect("plays");
        assert_eq!(players.get(), 2);
        drop(waiting);
        assert_eq!(players.get(), 1);

        assert!(!r.drop_publisher("live", "b"));
        assert!(r.drop_publisher("live", "a"));
        // the permit is stored: the connection sees it when it next waits
        let kicked = kick.notified();
        tokio::pin!(kicked);
        assert!(futures::FutureExt::now_or_never(kicked.as_mut()).is_some());

        drop(p);
        assert!(!r.drop_publisher("live", "a"), "the publisher left");
        drop(second);
        assert_eq!(players.get(), 1, "no longer counted once the stream ended");
    }

    #[test]
    fn without_idle_streams_unpublished_names_are_refused() {
        let r = Arc::new(Registry::new(WaitLimits {
            idle_streams: false,
            ..WaitLimits::default()
        }));
        assert_eq!(
            r.subscribe("live", "a", 1, slot(8)).err(),
            Some(SubscribeError::NotPublished)
        );
        assert_eq!((r.len(), r.waiting()), (0, 0));
        let _p = r.publish("live", "a", 2).expect("publish");
        assert!(r.subscribe("live", "a", 1, slot(8)).is_ok());
    }
}
