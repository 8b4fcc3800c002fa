//! What an operator can do to a running RTMP server from elsewhere (an admin API).

use std::sync::Arc;

use super::registry::Registry;

/// A handle on a running [`RtmpServer`](super::RtmpServer)'s streams, from
/// [`RtmpServer::control`](super::RtmpServer::control). Cheap to clone.
#[derive(Debug, Clone)]
pub struct RtmpControl {
    registry: Arc<Registry>,
}

impl RtmpControl {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// Disconnects the publisher of `app/name` (by public name); its players stay and wait
    /// for the next publisher. False when nobody publishes it. A publisher that connects
    /// again is admitted as usual: refuse it in the [`RtmpHandler`](super::RtmpHandler) to
    /// keep it out.
    pub fn drop_publisher(&self, app: &str, name: &str) -> bool {
        self.registry.drop_publisher(app, name)
    }

    /// Whether `app/name` has a publisher now.
    pub fn is_published(&self, app: &str, name: &str) -> bool {
        self.registry.is_published(app, name)
    }
}
