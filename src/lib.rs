//! onair: a live-video SDK. RTMP ingest, transcoding, MPEG-TS/fMP4 and HLS.
//!
//! The member crates are re-exported under short names ([`amf`], [`flv`], [`rtmp_proto`], ...);
//! [`rtmp`] is the tokio runtime that serves RTMP publishers and players on top of the sans-IO
//! [`rtmp_proto`]; [`hls`] packages every published stream into HLS and serves it;
//! [`metrics`] counts what they do for Prometheus and an operators' API; [`tls`] holds the
//! reloadable certificates of RTMPS and HTTPS; [`access`] decides who may publish and play (a
//! keys file mapping secret keys to public names, HTTP admission hooks).

pub use onair_amf as amf;
pub use onair_flv as flv;
pub use onair_hls_packager as hls_packager;
pub use onair_media_types as media_types;
pub use onair_rtmp_proto as rtmp_proto;
pub use onair_ts_mux as ts_mux;

#[cfg(feature = "encoder")]
pub use onair_encoder as encoder;
#[cfg(feature = "transcode")]
pub use onair_transcode as transcode;

pub mod access;
pub mod hls;
pub mod metrics;
#[cfg(feature = "encoder")]
pub mod publish;
pub mod rtmp;
pub mod tls;
