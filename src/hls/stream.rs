//! The origin's streams: each with its renditions (a packager and the files it made, in
//! memory) and the HTTP requests parked until a rendition publishes what they wait for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use onair_hls_packager::{
    drive, master_playlist, parse_media_name, Grace, MemoryStore, Packager, PlaylistRequest,
    ReloadWait, ReloadWaiters, Retention, Variant, WaitKey,
};
use tokio::sync::oneshot;

use super::StreamId;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The streams by application, then name: looked up on every request with the `&str`s of its
/// path, without building an owned key.
#[derive(Default)]
pub(crate) struct Streams {
    by_app: HashMap<String, HashMap<String, Arc<LiveHls>>>,
    len: usize,
}

impl Streams {
    pub(crate) fn get(&self, app: &str, name: &str) -> Option<Arc<LiveHls>> {
        self.by_app.get(app)?.get(name).cloned()
    }

    pub(crate) fn insert(&mut self, app: &str, name: &str, stream: Arc<LiveHls>) {
        let names = self.by_app.entry(app.to_owned()).or_default();
        if names.insert(name.to_owned(), stream).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn ids(&self) -> Vec<StreamId> {
        self.by_app
            .iter()
            .flat_map(|(app, names)| names.keys().map(move |name| (app.clone(), name.clone())))
            .collect()
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &str, &Arc<LiveHls>) -> bool) {
        let mut len = 0;
        self.by_app.retain(|app, names| {
            names.retain(|name, stream| keep(app, name, stream));
            len += names.len();
            !names.is_empty()
        });
        self.len = len;
    }
}

/// One stream: shared by its publisher's sink and the HTTP requests for it.
pub(crate) struct LiveHls {
    state: Mutex<StreamState>,
}

impl LiveHls {
    pub(crate) fn new(source: Rendition) -> Self {
        Self {
            state: Mutex::new(StreamState {
                source,
                publishing: false,
                left_at: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamState> {
        lock(&self.state)
    }
}

/// Which rendition of a stream: its place in [`StreamState::renditions`].
pub(crate) type RenditionIndex = usize;

pub(crate) struct StreamState {
    /// The stream as published, packaged as it arrives. Renditions made from it (a transcoded
    /// ladder) would sit beside it, listed by [`renditions`](Self::renditions).
    pub(crate) source: Rendition,
    pub(crate) publishing: bool,
    /// When the publisher left (monotonic clock of the origin).
    pub(crate) left_at: Option<Instant>,
}

impl StreamState {
    /// Every rendition, in the order of the master playlist.
    pub(crate) fn renditions(&self) -> impl Iterator<Item = &Rendition> {
        std::iter::once(&self.source)
    }

    pub(crate) fn rendition(&self, index: RenditionIndex) -> Option<&Rendition> {
        self.renditions().nth(index)
    }

    fn renditions_mut(&mut self) -> impl Iterator<Item = &mut Rendition> {
        std::iter::once(&mut self.source)
    }

    fn rendition_mut(&mut self, index: RenditionIndex) -> Option<&mut Rendition> {
        self.renditions_mut().nth(index)
    }

    /// The rendition whose media playlist is `uri`.
    pub(crate) fn by_playlist(&self, uri: &str) -> Option<(RenditionIndex, &Rendition)> {
        self.renditions()
            .enumerate()
            .find(|(_, r)| r.playlist == uri)
    }

    /// The first rendition without a whole segment in its playlist yet; `None` once all have
    /// one (so the master playlist's bandwidths and codecs are measured).
    pub(crate) fn unready(&self) -> Option<RenditionIndex> {
        self.renditions().position(|r| !r.ready())
    }

    /// The master playlist: every rendition, with what was measured of it.
    pub(crate) fn master(&self) -> String {
        let variants: Vec<Variant> = self
            .renditions()
            .map(|r| Variant {
                uri: r.playlist.clone(),
                info: r.packager.variant_info(),
            })
            .collect();
        master_playlist(&variants)
    }

    /// Parks a request until rendition `index` publishes `msn` (and `part`): the receiver
    /// completes then, or when the stream ends (it fails if the rendition is gone). `None`
    /// when that is published already.
    pub(crate) fn park(
        &mut self,
        index: RenditionIndex,
        msn: u64,
        part: Option<u32>,
    ) -> Option<(WaitKey, oneshot::Receiver<()>)> {
        let rendition = self.rendition_mut(index)?;
        let (woken, wake) = oneshot::channel();
        match rendition
            .waiters
            .wait(&rendition.packager, msn, part, woken)
        {
            ReloadWait::Ready(_) => None,
            ReloadWait::Parked(key) => Some((key, wake)),
        }
    }

    /// Takes back a parked request whose time ran out.
    pub(crate) fn cancel(&mut self, index: RenditionIndex, key: WaitKey) {
        if let Some(r) = self.rendition_mut(index) {
            r.waiters.cancel(key);
        }
    }

    /// Wakes every parked request: nothing more is coming (the publisher left).
    pub(crate) fn release_all(&mut self) {
        for rendition in self.renditions_mut() {
            for woken in rendition.waiters.release_all() {
                let _ = woken.send(());
            }
        }
    }
}

/// One rendition: its packager, and the files it made, served as the packager's buffers.
pub(crate) struct Rendition {
    /// Name of its media playlist, as the master playlist lists it.
    pub(crate) playlist: String,
    pub(crate) packager: Packager,
    store: MemoryStore,
    retention: Retention,
    waiters: ReloadWaiters<oneshot::Sender<()>>,
}

impl Rendition {
    pub(crate) fn new(playlist: String, packager: Packager, grace: Grace) -> Self {
        Self {
            playlist,
            packager,
            store: MemoryStore::default(),
            retention: Retention::new(grace),
            waiters: ReloadWaiters::default(),
        }
    }

    /// Moves the packager's output into the store (the playlist rendered once per change),
    /// deletes the files whose grace period is over at `now`, and wakes the requests waiting
    /// for what was published.
    pub(crate) fn drain(&mut self, now: Duration) {
        let Ok(()) = drive(
            &mut self.packager,
            &mut self.store,
            &mut self.retention,
            &self.playlist,
            now,
        );
        while let Some(woken) = self.waiters.poll_ready(&self.packager) {
            let _ = woken.send(());
        }
    }

    /// Whether its playlist lists a whole segment, the first of which has media sequence
    /// number 0. Before that an LL-HLS playlist lists parts only, which players that ignore
    /// parts cannot start with, and its target duration is not final.
    pub(crate) fn ready(&self) -> bool {
        self.packager.is_published(0, None) && self.store.get(&self.playlist).is_some()
    }

    /// The media playlist as plain requests get it (rendered once per change).
    pub(crate) fn media_playlist(&self) -> Option<Bytes> {
        self.store.get(&self.playlist).cloned()
    }

    /// The media playlist for a request with `_HLS_skip`: a delta update (RFC 8216bis
    /// 6.2.5.1) when the playlist has parts, else the plain one.
    pub(crate) fn media_playlist_skip(&self) -> Option<Bytes> {
        if self.packager.config().part_duration.is_none() {
            return self.media_playlist();
        }
        let request = PlaylistRequest {
            skip: true,
            ..PlaylistRequest::default()
        };
        Some(Bytes::from(self.packager.media_playlist(&request)))
    }

    /// A segment, part, init segment or key (never the playlist: that has its own route).
    pub(crate) fn file(&self, name: &str) -> Option<Bytes> {
        if name == self.playlist {
            return None;
        }
        self.store.get(name).cloned()
    }

    /// The media sequence number and part `name` stands for, if this rendition is about to
    /// publish it: not yet published, in the open segment or the next one, and not aged out.
    pub(crate) fn upcoming(&self, name: &str) -> Option<(u64, Option<u32>)> {
        let prefix = &self.packager.config().name_prefix;
        let (msn, part) = parse_media_name(name, prefix)?;
        let last = self.packager.last_published().map_or(0, |(m, _)| m);
        (!self.packager.is_published(msn, part)
            && msn <= last + 1
            && self.packager.media_sequence() <= msn)
            .then_some((msn, part))
    }
}
