//! What the origin tells an observer about each request it answered: enough to count requests
//! per file and per client (how many reached the origin through each CDN edge), or to feed
//! metrics and access logs.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::{Method, StatusCode};

/// One answered request, as an [`HttpObserver`] sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServedRequest<'a> {
    /// The client's address (a CDN edge's, behind one).
    pub peer: SocketAddr,
    /// The request method.
    pub method: &'a Method,
    /// The path as requested, a playback token included.
    pub path: &'a str,
    /// The query, if any (LL-HLS delivery directives).
    pub query: Option<&'a str>,
    /// The answer's status.
    pub status: StatusCode,
    /// From the request's arrival to the answer (long for a blocking playlist reload).
    pub elapsed: Duration,
}

/// Told of every request an [`HttpOrigin`](super::HttpOrigin) answers, once its answer is
/// ready (before its body is sent). Runs on the connection's task: keep it short.
pub trait HttpObserver: Send + Sync {
    /// A request was answered.
    fn served(&self, request: &ServedRequest<'_>);
}
