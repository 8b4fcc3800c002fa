//! Publishing and playback access control for the RTMP server: a keys file mapping secret
//! publish keys to public names (and per-stream ladders), and HTTP hooks in the manner of
//! nginx-rtmp's `on_publish` and SRS's `http_hooks`. [`AccessControl`] is the
//! [`RtmpHandler`] that combines them.
//!
//! A publisher is decided in this order:
//!
//! 1. the keys file ([`KeysFile`]): a key it lists (for the connection's app) is accepted at
//!    once, under the NAME and with the LADDER of its line; the hook is not asked;
//! 2. the publish hook ([`HttpHook`]): any other key is POSTed to it; a 2xx answer accepts,
//!    anything else (another status, no answer within the deadline, no connection, an answer
//!    that cannot be read) refuses: it fails closed. Its JSON answer may set the public name
//!    and the ladder; without a name the key is the public name (keep the secret in the
//!    query string then: `rtmp://host/live/NAME?token=...`);
//! 3. without a hook, a key the file does not list is refused; with neither, every publisher
//!    is accepted under its key (as [`AcceptAll`](crate::rtmp::AcceptAll)).
//!
//! A player is accepted unless it asks for a name that is a key of the keys file (nothing is
//! served, nor waited for, under a key), or a play hook refuses it (with the same
//! fail-closed rules). The publish-done hook is told of every publisher that stops; its
//! failures are logged.
//!
//! The hooks' JSON:
//!
//! ```text
//! publish       {"action":"publish","app":"live","key":"KEY","query":"token=abc","peer":"203.0.113.7:50312","publish_type":"live"}
//!   answer      {"name":"studio","ladder":"source,720p,360p"}    (both optional; empty body: neither)
//! publish_done  {"action":"publish_done","app":"live","key":"KEY","query":null,"name":"studio","peer":"203.0.113.7:50312","duration_ms":93410}
//! play          {"action":"play","app":"live","name":"studio","query":null,"peer":"198.51.100.2:41022","published":true}
//! ```
//!
//! Keys never reach logs, metrics, URLs, playlists or recordings: the runtime only ever uses
//! the public name, and [`StreamKey`](onair_rtmp_proto::StreamKey)'s `Debug` is redacted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use onair::access::{AccessControl, HttpHook, KeysFile};
//! use onair::rtmp::{RtmpServer, RtmpServerConfig};
//!
//! let keys = KeysFile::open("/etc/onair/keys")?;
//! tokio::spawn(keys.clone().reload_on_change(Duration::from_secs(1)));
//! let access = AccessControl::new()
//!     .with_keys(keys)
//!     .with_publish_hook(HttpHook::new("http://127.0.0.1:9000/on_publish")?);
//! let server = RtmpServer::bind("0.0.0.0:1935", RtmpServerConfig::default(), access).await?;
//! # Ok(()) }
//! ```

mod hook;
mod keys;

use onair_rtmp_proto::StreamName;
use tracing::{debug, info, warn};

use crate::rtmp::{
    PlayRequest, Publication, PublishDone, PublishRequest, Rejection, RtmpHandler, StreamOptions,
};
use hook::{PlayCall, PublishAnswer, PublishCall, PublishDoneCall};

pub use hook::{HookError, HookUrlError, HttpHook, DEFAULT_HOOK_TIMEOUT};
pub use keys::{KeyEntry, KeysError, KeysFile, KeysFileError, KeysLineError, KeysTable};

/// Longest public name a keys file or hook may give, in bytes: the server's default
/// `max_name_length`, so that players can ask for it.
pub const MAX_PUBLIC_NAME: usize = 128;

/// What a refused publisher is told (never why: that is for the server's log).
const PUBLISH_REFUSED: &str = "publishing refused";
/// What a publisher with a key neither the keys file nor a hook knows is told.
const UNKNOWN_KEY: &str = "unknown stream key";
/// What a refused player is told.
const PLAY_REFUSED: &str = "playing refused";

/// The keys file and HTTP hooks as an [`RtmpHandler`]; see the [module](self) for the order
/// they are asked in. Without any, everyone is accepted and the key is the public name.
#[derive(Debug, Clone, Default)]
pub struct AccessControl {
    keys: Option<KeysFile>,
    publish: Option<HttpHook>,
    publish_done: Option<HttpHook>,
    play: Option<HttpHook>,
}

impl AccessControl {
    /// Accepts everyone, until told otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishers with a key the file lists are accepted under its name and options.
    pub fn with_keys(mut self, keys: KeysFile) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Publishers whose key the keys file does not list (all, without one) are decided by
    /// this hook.
    pub fn with_publish_hook(mut self, hook: HttpHook) -> Self {
        self.publish = Some(hook);
        self
    }

    /// This hook is told of every publisher that stops.
    pub fn with_publish_done_hook(mut self, hook: HttpHook) -> Self {
        self.publish_done = Some(hook);
        self
    }

    /// Players are decided by this hook.
    pub fn with_play_hook(mut self, hook: HttpHook) -> Self {
        self.play = Some(hook);
        self
    }

    /// The keys file, if any (to reload it).
    pub fn keys(&self) -> Option<&KeysFile> {
        self.keys.as_ref()
    }

    async fn ask_publish_hook(
        hook: &HttpHook,
        request: &PublishRequest,
    ) -> Result<Publication, HookError> {
        let call = PublishCall {
            action: "publish",
            app: &request.app,
            key: request.key.as_str(),
            query: request.query.as_ref().map(|q| q.as_str()),
            peer: request.peer.to_string(),
            publish_type: request.publish_type.as_str(),
        };
        let answer = PublishAnswer::parse(&hook.post(&call).await?)?;
        let name = answer.name.as_deref().unwrap_or(request.key.as_str());
        let name = StreamName::new(name, MAX_PUBLIC_NAME).map_err(HookError::Name)?;
        let options = match answer.ladder.as_deref() {
            Some(ladder) => answer_options(ladder)?,
            None => StreamOptions::default(),
        };
        Ok(Publication::new(name).with_options(options))
    }
}

#[cfg(feature = "transcode")]
fn answer_options(ladder: &str) -> Result<StreamOptions, HookError> {
    let ladder = ladder.parse().map_err(HookError::Ladder)?;
    Ok(StreamOptions {
        ladder: Some(ladder),
    })
}

#[cfg(not(feature = "transcode"))]
fn answer_options(ladder: &str) -> Result<StreamOptions, HookError> {
    if ladder.trim().eq_ignore_ascii_case("off") {
        Ok(StreamOptions::default())
    } else {
        Err(HookError::NoTranscoding)
    }
}

impl RtmpHandler for AccessControl {
    async fn on_publish(&self, request: PublishRequest) -> Result<Publication, Rejection> {
        if let Some(entry) = self
            .keys
            .as_ref()
            .and_then(|k| k.get(&request.app, request.key.as_str()))
        {
            debug!(app = %request.app, name = %entry.name, line = entry.line, "key found in the keys file");
            return Ok(Publication::new(entry.name).with_options(entry.options));
        }
        let Some(hook) = &self.publish else {
            if self.keys.is_some() {
                info!(app = %request.app, peer = %request.peer, "publisher refused: unknown stream key");
                return Err(Rejection::new(UNKNOWN_KEY));
            }
            return Publication::named(request.key.as_str());
        };
        match Self::ask_publish_hook(hook, &request).await {
            Ok(publication) => {
                debug!(app = %request.app, name = %publication.name, "publish hook accepted");
                Ok(publication)
            }
            Err(HookError::Status(status)) => {
                info!(app = %request.app, peer = %request.peer, status, "publish hook refused the publisher");
                Err(Rejection::new(PUBLISH_REFUSED))
            }
            Err(e) => {
                warn!(app = %request.app, peer = %request.peer, hook = %hook, error = %e,
                    "publish hook failed: publisher refused");
                Err(Rejection::new(PUBLISH_REFUSED))
            }
        }
    }

    async fn on_play(&self, request: PlayRequest) -> Result<(), Rejection> {
        let asks_for_a_key = self
            .keys
            .as_ref()
            .is_some_and(|k| k.table().is_key(&request.app, request.name.as_str()));
        if asks_for_a_key {
            // its name is not logged: it is a key
            info!(app = %request.app, peer = %request.peer, "player refused: it asked for a publish key");
            return Err(Rejection::new(PLAY_REFUSED));
        }
        let Some(hook) = &self.play else {
            return Ok(());
        };
        let call = PlayCall {
            action: "play",
            app: &request.app,
            name: request.name.as_str(),
            query: request.query.as_ref().map(|q| q.as_str()),
            peer: request.peer.to_string(),
            published: request.published,
        };
        match hook.post(&call).await {
            Ok(_) => Ok(()),
            Err(HookError::Status(status)) => {
                info!(app = %request.app, name = %request.name, peer = %request.peer, status,
                    "play hook refused the player");
                Err(Rejection::new(PLAY_REFUSED))
            }
            Err(e) => {
                warn!(app = %request.app, name = %request.name, peer = %request.peer, hook = %hook,
                    error = %e, "play hook failed: player refused");
                Err(Rejection::new(PLAY_REFUSED))
            }
        }
    }

    async fn on_publish_done(&self, done: PublishDone) {
        let Some(hook) = &self.publish_done else {
            return;
        };
        let call = PublishDoneCall {
            action: "publish_done",
            app: &done.app,
            key: done.key.as_str(),
            query: done.query.as_ref().map(|q| q.as_str()),
            name: done.name.as_str(),
            peer: done.peer.to_string(),
            duration_ms: u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(e) = hook.post(&call).await {
            warn!(app = %done.app, name = %done.name, hook = %hook, error = %e,
                "publish-done hook failed");
        }
    }
}

#[cfg(test)]
mod tests;
