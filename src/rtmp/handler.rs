//! The application's say over who may publish and play, and under which public name.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use onair_rtmp_proto::{PublishType, QueryString, StreamKey, StreamName};

use super::publication::Publication;

/// A publisher asks to publish.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishRequest {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The application (`live` in `rtmp://host/live/KEY`).
    pub app: String,
    /// The secret publish key, query string split off (its `Debug` is redacted).
    pub key: StreamKey,
    /// What followed `?` in the key (`token=...`), if anything (its `Debug` is redacted).
    pub query: Option<QueryString>,
    /// `live`, `record` or `append` as the publisher sent it.
    pub publish_type: PublishType,
}

impl PublishRequest {
    /// A `live` publish of `key` in `app`, without a query string (for testing handlers).
    pub fn new(peer: SocketAddr, app: impl Into<String>, key: StreamKey) -> Self {
        Self {
            peer,
            app: app.into(),
            key,
            query: None,
            publish_type: PublishType::Live,
        }
    }

    /// With this query string.
    pub fn with_query(mut self, query: QueryString) -> Self {
        self.query = Some(query);
        self
    }
}

/// A player asks to play.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlayRequest {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The application.
    pub app: String,
    /// The public stream name asked for.
    pub name: StreamName,
    /// What followed `?` in the name, if anything.
    pub query: Option<QueryString>,
    /// Whether the name was being published when the player asked. When it is not, an
    /// accepted player waits for a publisher (see `RtmpServerConfig::idle_streams`); refuse
    /// here to allow known names only.
    pub published: bool,
}

impl PlayRequest {
    /// A play of `name` in `app`, not published, without a query string (for testing
    /// handlers).
    pub fn new(peer: SocketAddr, app: impl Into<String>, name: StreamName) -> Self {
        Self {
            peer,
            app: app.into(),
            name,
            query: None,
            published: false,
        }
    }

    /// With this query string.
    pub fn with_query(mut self, query: QueryString) -> Self {
        self.query = Some(query);
        self
    }
}

/// A publisher stopped (cleanly or not): what [`RtmpHandler::on_publish_done`] is told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishDone {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The application.
    pub app: String,
    /// The key it published with.
    pub key: StreamKey,
    /// The query string of its publish.
    pub query: Option<QueryString>,
    /// The public name it was published under.
    pub name: StreamName,
    /// How long it was published.
    pub duration: Duration,
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

/// Decides which publishers and players are accepted, maps a secret publish key to the
/// public name players use, and sets per-stream options (the transcoding ladder).
///
/// The decisions are asynchronous: while one is pending (an HTTP call, a database look-up)
/// the connection keeps reading its socket, what a publisher sends meanwhile is held back
/// (bounded) and other connections are not held up at all. A refused publisher's media is
/// never handed to players, taps or recordings. An `async fn` implements each method:
///
/// ```
/// use onair::rtmp::{Publication, PublishRequest, Rejection, RtmpHandler};
///
/// /// Publishers need a known key; players only ever see the public name.
/// struct Keys;
///
/// impl RtmpHandler for Keys {
///     async fn on_publish(&self, request: PublishRequest) -> Result<Publication, Rejection> {
///         match (request.app.as_str(), request.key.as_str()) {
///             ("live", "s3cr3t-k3y") => Publication::named("studio"),
///             _ => Err(Rejection::new("unknown stream key")),
///         }
///     }
/// }
/// ```
///
/// [`AccessControl`](crate::access::AccessControl) is a ready one: a keys file and HTTP
/// hooks.
pub trait RtmpHandler: Send + Sync + 'static {
    /// Accepts a publisher (its public name and options), or refuses it. The default accepts
    /// everyone and makes the key the public name.
    fn on_publish(
        &self,
        request: PublishRequest,
    ) -> impl Future<Output = Result<Publication, Rejection>> + Send {
        std::future::ready(Publication::named(request.key.as_str()))
    }

    /// Accepts or refuses a player (refused players get `NetStream.Play.StreamNotFound`). The
    /// default accepts everyone.
    fn on_play(&self, request: PlayRequest) -> impl Future<Output = Result<(), Rejection>> + Send {
        let _ = request;
        std::future::ready(Ok(()))
    }

    /// A publisher stopped (cleanly or not). The server runs the future on a task of its own
    /// and does not wait for it. The default does nothing.
    fn on_publish_done(&self, done: PublishDone) -> impl Future<Output = ()> + Send {
        let _ = done;
        std::future::ready(())
    }
}

/// Accepts every publisher and player; the publish key is the public name.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl RtmpHandler for AcceptAll {}
