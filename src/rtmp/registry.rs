//! Live streams by (app, public name): one publisher each, any number of players.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::{debug, warn};

use super::gop::GopCache;
use super::packet::{MediaPacket, MetadataProps, Packet};
use super::queue::{PlayerSlot, PushOutcome};

type StreamKeyPair = (String, String);

/// All live streams of a server.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    streams: Mutex<HashMap<StreamKeyPair, Arc<LiveStream>>>,
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
    cache: GopCache,
    players: Vec<(u64, Arc<PlayerSlot>)>,
}

/// The stream is already being published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlreadyPublishing;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
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

    /// Makes `publisher` (a connection id) the publisher of `app/name`.
    pub(crate) fn publish(
        self: &Arc<Self>,
        app: &str,
        name: &str,
        publisher: u64,
    ) -> Result<Publication, AlreadyPublishing> {
        let stream = self.entry(app, name);
        {
            let mut state = lock(&stream.state);
            if state.publisher.is_some() {
                return Err(AlreadyPublishing);
            }
            state.publisher = Some(publisher);
            state.cache = GopCache::default();
        }
        Ok(Publication {
            registry: self.clone(),
            stream,
        })
    }

    /// Adds a player to `app/name` (published or not yet). A live stream's metadata,
    /// sequence headers and current GOP are queued for it at once.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        app: &str,
        name: &str,
        player: u64,
        slot: Arc<PlayerSlot>,
    ) -> Subscription {
        let stream = self.entry(app, name);
        {
            let mut state = lock(&stream.state);
            if state.publisher.is_some() {
                let now = Instant::now();
                for p in state.cache.snapshot() {
                    slot.push(p, now);
                }
            }
            state.players.push((player, slot));
        }
        Subscription {
            registry: self.clone(),
            stream,
            player,
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
    pub(crate) fn metadata(&self, props: MetadataProps) {
        let mut state = lock(&self.stream.state);
        state.cache.set_metadata(props.clone());
        fan_out(&self.stream, &mut state, Packet::Metadata(props));
    }

    pub(crate) fn media(&self, packet: MediaPacket) {
        let mut state = lock(&self.stream.state);
        state.cache.push(&packet);
        fan_out(&self.stream, &mut state, Packet::Media(packet));
    }

    #[cfg(test)]
    pub(crate) fn player_count(&self) -> usize {
        lock(&self.stream.state).players.len()
    }
}

fn fan_out(stream: &LiveStream, state: &mut StreamState, packet: Packet) {
    let now = Instant::now();
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
}

impl Drop for Publication {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.stream.state);
            state.publisher = None;
            state.cache = GopCache::default();
            let now = Instant::now();
            for (_, slot) in state.players.drain(..) {
                slot.push(Packet::End, now);
            }
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
        lock(&self.stream.state)
            .players
            .retain(|(id, _)| *id != self.player);
        self.registry.release(&self.stream);
    }
}

#[cfg(test)]
mod tests {
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
        p.media(MediaPacket::video(
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0]),
        ));
        p.media(key(0));
        p.media(inter(33));
        p.media(key(66));
        p.media(inter(99));
        let s = slot(64);
        let sub = r.subscribe("live", "a", 7, s.clone());
        p.media(inter(132));
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
        let _s1 = r.subscribe("live", "a", 10, slow.clone());
        let _s2 = r.subscribe("live", "a", 11, fast.clone());
        let mut fast_got = 0;
        for i in 0..200u64 {
            p.media(if i % 10 == 0 { key(i) } else { inter(i) });
            while let PopOutcome::Packet(_) = fast.pop() {
                fast_got += 1;
            }
        }
        assert_eq!(fast_got, 200, "the fast player got every packet");
        assert!(matches!(slow.pop(), PopOutcome::Disconnected));
        assert_eq!(p.player_count(), 1, "the slow player was removed");
    }
}
