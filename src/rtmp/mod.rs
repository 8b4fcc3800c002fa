//! The RTMP runtime: a tokio server driving `onair_rtmp_proto::ServerSession` per connection,
//! a registry of live streams (one publisher, many players each), a GOP cache so players
//! start on a keyframe at once, bounded per-player queues, FLV recording, and a client driver.
//!
//! Data path: socket -> `ServerSession` events -> `Publication` (GOP cache, fan-out into each
//! player's bounded queue without waiting) and `Recorder` (a writer thread) -> player
//! connections pull from their queue into their own `ServerSession` and socket. A slow player
//! only ever affects itself: it skips to the next keyframe, then gets disconnected.
//!
//! Admission: the application's [`RtmpHandler`] decides who publishes and plays,
//! asynchronously (a pending decision holds up no other connection; what its publisher sends
//! meanwhile waits in the session, bounded), and under which public name and per-stream
//! options ([`Publication`]) a stream is published; taps see the result ([`PublishedStream`]).
//! [`crate::access::AccessControl`] is a ready handler (keys file, HTTP hooks).
//!
//! RTMPS: [`RtmpServer::with_rtmps`] adds a TLS listener (its certificate reloadable, see
//! [`crate::tls`]) whose connections join the same streams as the plain ones.
//!
//! Players of a name nobody publishes wait for a publisher (nginx-rtmp's `idle_streams`, bounded
//! by `RtmpServerConfig::max_waiting_players*`), and stay when their publisher leaves: the next
//! publisher of the name re-attaches them, and their timestamps continue where they stopped.

mod client;
mod connection;
mod control;
mod gop;
mod handler;
mod packet;
mod publication;
mod queue;
mod recorder;
mod registry;
mod server;
mod tap;
mod timeline;

pub use client::{ClientError, MediaMessage, RtmpClient};
pub use control::RtmpControl;
pub use handler::{AcceptAll, PlayRequest, PublishDone, PublishRequest, Rejection, RtmpHandler};
#[cfg(feature = "transcode")]
pub use publication::StreamLadder;
pub use publication::{Publication, PublishedStream, StreamOptions};
pub use queue::QueueLimits;
pub use recorder::{RecordError, RecordingSummary};
pub use server::{shutdown_signal, RtmpServer, RtmpServerConfig};
pub use tap::{StreamTap, TapMedia, TapSink};
