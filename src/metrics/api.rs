//! What the JSON API answers about the live streams.

use serde::Serialize;

/// A live stream and what was counted of it (`GET /api/streams` lists them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The application.
    pub app: String,
    /// The public stream name (never the publish key).
    pub name: String,
    /// When it started, Unix milliseconds.
    pub since_unix_ms: u64,
    /// Media bytes received from its publisher.
    pub ingest_bytes: u64,
    /// Media bit rate from its publisher, over about the last second.
    pub ingest_bits_per_second: u64,
    /// Its RTMP players.
    pub rtmp_players: u64,
    /// Its HLS renditions.
    pub hls: Vec<RenditionInfo>,
}

/// One HLS rendition of a live stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RenditionInfo {
    /// Its media playlist (`index.m3u8`).
    pub playlist: String,
    /// HTTP connections that fetched the playlist lately.
    pub viewers: u64,
    /// Segments published.
    pub segments: u64,
    /// Partial segments published (LL-HLS).
    pub parts: u64,
}
