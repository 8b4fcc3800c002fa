//! The application's say over who may publish and play, and under which public name.

use std::net::SocketAddr;

use onair_rtmp_proto::{PublishType, QueryString, StreamKey, StreamName};

/// A publisher asks to publish.
#[derive(Debug)]
#[non_exhaustive]
pub struct PublishRequest<'a> {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The application (`live` in `rtmp://host/live/KEY`).
    pub app: &'a str,
    /// The secret publish key, query string split off.
    pub key: &'a StreamKey,
    /// What followed `?` in the key (`token=...`), if anything.
    pub query: Option<&'a QueryString>,
    /// `live`, `record` or `append` as the publisher sent it.
    pub publish_type: &'a PublishType,
}

/// A player asks to play.
#[derive(Debug)]
#[non_exhaustive]
pub struct PlayRequest<'a> {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The application.
    pub app: &'a str,
    /// The public stream name asked for.
    pub name: &'a StreamName,
    /// What followed `?` in the name, if anything.
    pub query: Option<&'a QueryString>,
    /// Whether the name is being published now. When it is not, an accepted player waits for
    /// a publisher (see `RtmpServerConfig::idle_streams`); refuse here to allow known names
    /// only.
    pub published: bool,
}

/// A refusal, with the description sent to the peer in `onStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Sent to the peer; keep secrets out of it.
    pub description: String,
}

impl Rejection {
    /// A refusal with this description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
        }
    }
}

/// Decides which publishers and players are accepted, and maps a secret publish key to the
/// public name players use. Called on the connection's task: keep it quick (look-ups in
/// memory), or do slow checks before the key reaches the server.
///
/// ```
/// use onair::rtmp::{PublishRequest, Rejection, RtmpHandler};
/// use onair::rtmp_proto::StreamName;
///
/// /// Publishers need a known key; players only ever see the public name.
/// struct Keys;
///
/// impl RtmpHandler for Keys {
///     fn on_publish(&self, request: &PublishRequest<'_>) -> Result<StreamName, Rejection> {
///         match (request.app, request.key.as_str()) {
///             ("live", "s3cr3t-k3y") => StreamName::new("studio", 256)
///                 .map_err(|_| Rejection::new("bad public name")),
///             _ => Err(Rejection::new("unknown stream key")),
///         }
///     }
/// }
/// ```
pub trait RtmpHandler: Send + Sync + 'static {
    /// Accepts a publisher and returns the public name its stream is played under, or refuses
    /// it. The default accepts everyone and makes the key the public name.
    fn on_publish(&self, request: &PublishRequest<'_>) -> Result<StreamName, Rejection> {
        StreamName::new(request.key.as_str(), usize::MAX)
            .map_err(|_| Rejection::new("invalid stream name"))
    }

    /// Accepts or refuses a player (refused players get `NetStream.Play.StreamNotFound`). The
    /// default accepts everyone.
    fn on_play(&self, request: &PlayRequest<'_>) -> Result<(), Rejection> {
        let _ = request;
        Ok(())
    }

    /// A publisher stopped (cleanly or not). The default does nothing.
    fn on_unpublish(&self, app: &str, name: &StreamName) {
        let _ = (app, name);
    }
}

/// Accepts every publisher and player; the publish key is the public name.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl RtmpHandler for AcceptAll {}
