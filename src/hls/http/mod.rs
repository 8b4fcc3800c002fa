//! The HTTP(S) side of the origin: playlists and segments with CDN cache rules, CORS,
//! LL-HLS blocking playlist reload and preload-hint requests, HTTP/1.1 and HTTP/2.
//!
//! URLs, for a stream published as `rtmp://HOST/APP/NAME`:
//! - `/APP/NAME/index.m3u8`: the media playlist (`_HLS_msn`, `_HLS_part`, `_HLS_skip`);
//! - `/APP/NAME/master.m3u8`: a master playlist with the measured bandwidth and codecs;
//! - `/APP/NAME/<file>`: segments, parts and init segments named by the playlist;
//! - with signing on, each of these with a playback token after the prefix it signs
//!   (`/APP/NAME/t.EXPIRES.SIG/index.m3u8`, see [`PlaybackSigning`]).
//!
//! Cache rules (what a CDN in front needs for live): playlists `max-age` of half a target
//! duration (at least 1 s), blocking-reload answers a little longer (their URL names what they
//! contain), segments a year and `immutable` (their names are never reused), errors `no-store`.
//! A segment that left the playlist is served for the RFC 8216 6.2.2 grace period, then 404.
//!
//! The parts: `server` (listener, TLS, connections, shutdown), `routes` (what each URL
//! answers), `wait` (requests parked until the packager publishes what they ask for), `cache`
//! (`Cache-Control` rules), `cors`, `pages` (stream list and player page, HTML files of their
//! own), `response` and `observe` (what an [`HttpObserver`] is told of each request).

mod cache;
mod cors;
mod observe;
mod pages;
mod response;
mod routes;
mod server;
mod wait;

use std::time::Duration;

use bytes::Bytes;

pub use observe::{HttpObserver, ServedRequest};
pub use server::HttpOrigin;

use super::PlaybackSigning;

/// How an [`HttpOrigin`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOriginConfig {
    /// Connections beyond this many wait to be accepted.
    pub max_connections: usize,
    /// A request whose headers take longer than this to arrive is dropped (slowloris).
    pub header_timeout: Duration,
    /// `Cache-Control: max-age` of segments, parts and init segments.
    pub segment_max_age: Duration,
    /// On shutdown, how long open requests get to finish.
    pub shutdown_grace: Duration,
    /// Serve a page listing the live streams at `/` and a player page at `/APP/NAME/` (uses
    /// the browser's own HLS support, else hls.js from the jsDelivr CDN). Off by default: an
    /// origin behind a CDN serves media only.
    pub player_pages: bool,
    /// hls.js for the player pages, served at `/hls.min.js` (e.g. the file from the `hls.js`
    /// npm package); `None` makes the pages load it from the jsDelivr CDN.
    pub player_script: Option<Bytes>,
    /// Serve only requests whose path carries a valid playback token
    /// ([`PlaybackSigning`]); others get `403` with `Cache-Control: no-store`. The stream list
    /// is then not served; a player page is, under a token (`/APP/NAME/t.EXPIRES.SIG/`).
    pub signing: Option<PlaybackSigning>,
}

impl Default for HttpOriginConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            segment_max_age: Duration::from_secs(365 * 24 * 3600),
            shutdown_grace: Duration::from_secs(5),
            player_pages: false,
            player_script: None,
            signing: None,
        }
    }
}
