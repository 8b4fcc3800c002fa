//! Taps: the application's view of every published stream's media, as it arrives.
//!
//! A tap is how a stream leaves the RTMP server for something other than RTMP players: the
//! HLS origin ([`crate::hls::HlsOrigin`]) is one; a transcoder or an archive would be others.

use bytes::Bytes;
use onair_amf::amf0::Amf0Value;

use super::publication::PublishedStream;

/// Which kind of FLV tag body a [`TapSink`] receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TapMedia {
    /// An FLV audio tag body (legacy or Enhanced RTMP).
    Audio,
    /// An FLV video tag body (legacy or Enhanced RTMP).
    Video,
}

/// Told of every stream that starts publishing; hands back a sink for its media.
///
/// Called on the publisher's connection task: keep it quick (no blocking IO). A sink that needs
/// slow work should hand the data to a task or thread of its own.
pub trait StreamTap: Send + Sync + 'static {
    /// `stream` (its app, public name and the options its handler decided) started
    /// publishing. Return a sink to receive its media, or `None` to ignore this stream.
    fn on_publish(&self, stream: &PublishedStream) -> Option<Box<dyn TapSink>>;
}

/// Receives one publication's media, in the order the publisher sent it.
pub trait TapSink: Send {
    /// One audio or video message: an FLV tag body (sequence headers included), with the
    /// publisher's timestamp extended to 64 bits.
    fn media(&mut self, kind: TapMedia, timestamp_ms: u64, data: &Bytes);

    /// `@setDataFrame` / `onMetaData` properties. The default ignores them.
    fn metadata(&mut self, properties: &[(String, Amf0Value)]) {
        let _ = properties;
    }

    /// The publisher stopped (cleanly or not). Called once; the sink is dropped after it.
    fn end(&mut self);
}
