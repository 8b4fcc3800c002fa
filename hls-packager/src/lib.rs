//! HLS packaging for onair: frames in, segments and playlists out.
//!
//! # Design
//!
//! The core is sans-IO: a [`Packager`] per rendition takes [`onair_media_types`] tracks and
//! frames and emits [`Event`]s (files to store, playlist changed, files expired). It never
//! touches a clock, a socket or a file; wall-clock time for `EXT-X-PROGRAM-DATE-TIME` comes
//! in through [`Packager::set_wallclock`], and deletion times through [`Retention`] (a fixed
//! grace or the RFC 8216 6.2.2 one, [`Grace`]).
//!
//! - Segmenter: cuts at the first keyframe whose presentation time is at or after every
//!   multiple of the target duration, and `EXTINF` is the presentation time from one
//!   segment's keyframe to the next (so renditions with the same keyframes cut at the same
//!   PTS and list the same durations, whatever their decode delay); audio-only streams cut by
//!   time. `EXT-X-TARGETDURATION` is never below a rounded `EXTINF` (RFC 8216 4.3.3.1).
//!   Backward timestamps, long gaps and republishing give `EXT-X-DISCONTINUITY`.
//! - Playlists: a live window of segments, a DVR window of a duration of media
//!   ([`PlaylistKind::Dvr`], shortened on request by [`Packager::expire_oldest`]), EVENT or
//!   VOD; a live rendition can keep the listing of a whole publication and end it as a VOD
//!   playlist ([`PackagerConfig::archive_limit`], [`Packager::archive_playlist`]).
//! - Segments: MPEG-TS through `onair-ts-mux`, or fMP4/CMAF (init segment for
//!   `EXT-X-MAP`, `moof`+`mdat` fragments) written by the crate's own box writer.
//! - Low-Latency HLS (RFC 8216bis): partial segments (`EXT-X-PART`, one fMP4 fragment each),
//!   `EXT-X-PART-INF`, `EXT-X-PRELOAD-HINT`, `EXT-X-SERVER-CONTROL`, delta updates
//!   (`EXT-X-SKIP`), `EXT-X-RENDITION-REPORT`, and the blocking reload question
//!   [`Packager::is_published`] with [`ReloadWaiters`] to park requests
//!   ([`DeliveryDirectives`] reads `_HLS_msn` / `_HLS_part` / `_HLS_skip`).
//! - AES-128 whole-segment encryption with keys from the application ([`KeySource`]).
//! - [`master_playlist`] from measured [`VariantInfo`] (bandwidths, codecs, resolution,
//!   frame rate).
//! - Signed playback URLs ([`sign_path`], [`verify_path`]): an HMAC-SHA256 token for a path
//!   prefix and an expiry, carried as a path segment so relative playlist URIs keep it.
//! - Storage behind [`Store`]: [`MemoryStore`] (what a live origin serves from: the packager's
//!   buffers, shared), [`FsStore`] (temporary file, then rename); [`drive`] glues a packager
//!   to a store and a [`Retention`].
//!
//! # Run loop
//!
//! ```
//! use std::time::Duration;
//! use onair_hls_packager::{drive, MemoryStore, Packager, PackagerConfig, Retention};
//! # fn run(track: onair_media_types::TrackInfo, frames: Vec<onair_media_types::Frame>) -> Result<(), onair_hls_packager::Error> {
//! let mut packager = Packager::new(PackagerConfig::default())?;
//! let mut store = MemoryStore::default();
//! let mut retention = Retention::new(Duration::from_secs(10));
//! packager.add_track(track)?;
//! for (i, frame) in frames.into_iter().enumerate() {
//!     packager.push_frame(frame)?;
//!     let now = Duration::from_millis(i as u64 * 33); // the runtime's clock
//!     let Ok(()) = drive(&mut packager, &mut store, &mut retention, "index.m3u8", now);
//! }
//! packager.finish()?;
//! # Ok(()) }
//! ```

mod crypto;
mod error;
mod fmp4;
mod packager;
mod playlist;
mod reload;
mod request;
mod signed;
mod store;
mod ts;
mod validate;

#[cfg(test)]
mod tests;

pub use crypto::{AesKey, KeySource, StaticKey};
pub use error::Error;
pub use packager::{
    EncryptionConfig, Event, Packager, PackagerConfig, PlaylistKind, SegmentFormat, VariantInfo,
};
pub use playlist::{
    master_playlist, DeliveryDirectives, PlaylistRequest, RenditionReport, Variant,
};
pub use reload::{ReloadWait, ReloadWaiters, WaitKey};
pub use request::{parse_media_name, percent_decode, percent_encode_segment, OriginPath};
pub use signed::{
    path_token, shared_expiry, sign_path, verify_path, without_token, SignError, SigningKey,
    TokenError, TOKEN_MARK,
};
pub use store::{drive, drive_with, FsStore, Grace, MemoryStore, Retention, Store};
pub use validate::{check_media_playlist, MediaPlaylistSummary, PlaylistViolation};
