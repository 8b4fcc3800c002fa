//! The server's settings: one struct, read from flags and from a TOML file (`--config FILE`)
//! whose keys are the flags' names without `--` (`tls-cert = "cert.pem"`). A key is added by
//! adding a field: clap makes it a flag, serde a key of the file. Flags given on the command
//! line override the file; the file overrides the defaults. An unknown key or a value of the
//! wrong type is an error naming the key and its line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, ValueEnum};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HlsMode {
    /// MPEG-TS segments.
    Ts,
    /// fMP4 (CMAF) segments.
    Fmp4,
    /// Low-Latency HLS: fMP4 segments with partial segments, blocking playlist reload.
    Ll,
    /// No HLS.
    Off,
}

#[derive(Debug, Parser, Serialize, Deserialize)]
#[command(about = "onair live server: RTMP publish/play, HLS origin, FLV recording")]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct Args {
    /// Read settings from this TOML file (keys are the flags' names without `--`; flags
    /// given as well override it). deploy/onair.toml lists them all.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on for RTMP.
    #[arg(long, default_value = "127.0.0.1:1935")]
    pub(crate) rtmp: SocketAddr,
    /// Address to serve HLS on over HTTP.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) http: SocketAddr,
    /// Address to serve HLS on over HTTPS (needs --tls-cert and --tls-key).
    #[arg(long)]
    pub(crate) https: Option<SocketAddr>,
    /// Address to listen on for RTMPS (needs --tls-cert and --tls-key).
    #[arg(long)]
    pub(crate) rtmps: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS and RTMPS (read again on SIGHUP or when it changes).
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS and RTMPS.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Address to serve Prometheus metrics (/metrics) and the JSON API (/api/...) on; no
    /// authentication: keep it off the public network.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
    /// Most RTMP connections at once (publishers and players); more are refused.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub(crate) max_connections: usize,
    /// HLS packaging.
    #[arg(long, value_enum, default_value = "ts")]
    pub(crate) hls: HlsMode,
    /// Target segment duration, seconds (default: 2, or 1 with --hls ll).
    #[arg(long, value_name = "SECS")]
    pub(crate) segment: Option<f64>,
    /// Target partial segment duration of Low-Latency HLS, seconds (default 0.334).
    #[arg(long, value_name = "SECS")]
    pub(crate) part: Option<f64>,
    /// Segments in the live playlist (with --dvr, the fewest it keeps under --dvr-max-mb).
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub(crate) window: usize,
    /// Keep this many seconds of segments in the live playlist, so viewers can seek back
    /// (held in memory: about twice the window, with RFC 8216's grace period).
    #[arg(long, value_name = "SECS")]
    pub(crate) dvr: Option<f64>,
    /// Most megabytes (MiB) the DVR playlists of one stream list, all renditions together;
    /// past it the oldest segments leave early.
    #[arg(long, default_value_t = 512, value_name = "MB")]
    pub(crate) dvr_max_mb: u64,
    /// Record every publication as VOD HLS into DIR/APP/NAME/<start>/ (master.m3u8 and a
    /// playlist per rendition, written when the publisher leaves).
    #[arg(long, value_name = "DIR")]
    pub(crate) vod_dir: Option<PathBuf>,
    /// Most streams packaged into HLS at once; more are still served over RTMP.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub(crate) max_streams: usize,
    /// Seconds a stream's playlists stay after its publisher left, for a new publisher of the
    /// name to continue them.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub(crate) linger: f64,
    /// Record each published stream to DIR/APP/NAME.flv (NAME: its public name).
    #[arg(long, value_name = "DIR")]
    pub(crate) record: Option<PathBuf>,
    /// Publishing keys: `APP KEY NAME [LADDER]` a line, `#` comments; read again when it
    /// changes and on SIGHUP. Keys it does not list go to --hook, or are refused.
    #[arg(long, value_name = "FILE")]
    pub(crate) keys: Option<PathBuf>,
    /// Admission hook: every publish whose key --keys does not list is POSTed here as JSON;
    /// 2xx accepts (the JSON answer may set `name` and `ladder`), anything else refuses.
    #[arg(long, value_name = "URL")]
    pub(crate) hook: Option<String>,
    /// Told (JSON POST) of every publisher that leaves; failures are only logged.
    #[arg(long, value_name = "URL")]
    pub(crate) hook_publish_done: Option<String>,
    /// Every RTMP player is POSTed here as JSON; 2xx accepts, anything else refuses.
    #[arg(long, value_name = "URL")]
    pub(crate) hook_play: Option<String>,
    /// Deadline of each hook call, seconds; a publish or play hook past it refuses.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub(crate) hook_timeout: f64,
    /// Serve HLS only under signed playback URLs made with this shared secret (see the
    /// `sign` example); others get 403.
    #[arg(long, value_name = "SECRET")]
    pub(crate) sign_key: Option<String>,
    /// Like --sign-key, the secret read from FILE (one line).
    #[arg(long, value_name = "FILE")]
    pub(crate) sign_key_file: Option<PathBuf>,
    /// Transcode every stream into these renditions: `source`, named rungs (1080p, 720p,
    /// 540p, 480p, 360p, 240p), `HEIGHTp@KBPS` or `WxH@KBPS`, comma-separated.
    #[cfg(feature = "transcode")]
    #[arg(long, value_name = "LIST")]
    #[serde(with = "text::optional")]
    pub(crate) ladder: Option<onair::transcode::Ladder>,
    /// libx264 preset of the ladder's encoders.
    #[cfg(feature = "transcode")]
    #[arg(long, default_value = "veryfast", value_name = "P")]
    pub(crate) preset: String,
    /// Where the ladder encodes: cpu, gpu-then-cpu (falls back to libx264 and says so) or
    /// gpu-only (refuses to start without a GPU encoder).
    #[cfg(feature = "transcode")]
    #[arg(long, default_value = "cpu", value_name = "POLICY")]
    #[serde(with = "text")]
    pub(crate) hw: onair::transcode::HardwarePolicy,
    /// Share of all cores (percent) the server may use before a new stream's ladder starts
    /// shorter; 0 admits every ladder whole.
    #[cfg(feature = "transcode")]
    #[arg(long, default_value_t = 60.0, value_name = "PERCENT")]
    pub(crate) cpu_budget: f64,
    /// A ladder further behind than this sheds its most expensive rendition, seconds.
    #[cfg(feature = "transcode")]
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub(crate) max_lag: f64,
}

impl Default for Args {
    /// The flags' defaults: what a key missing from the file is.
    fn default() -> Self {
        Args::parse_from(["server"])
    }
}

impl Args {
    /// The settings of the command line, over those of its `--config` file, over the
    /// defaults.
    pub(crate) fn load() -> anyhow::Result<Self> {
        let matches = Args::command().get_matches();
        let mut args = Args::from_arg_matches(&matches)?;
        if let Some(file) = args.config.take() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading the settings file {}", file.display()))?;
            let from_file = read_file(&file, &text)?;
            args = merge(&args, &from_file, |id| {
                matches.value_source(id) == Some(ValueSource::CommandLine)
            })?;
            args.config = Some(file);
        }
        args.check()?;
        Ok(args)
    }

    /// What clap checked of flags, checked of the merged settings (a flag may need a key of
    /// the file).
    fn check(&self) -> anyhow::Result<()> {
        if (self.https.is_some() || self.rtmps.is_some())
            && (self.tls_cert.is_none() || self.tls_key.is_none())
        {
            bail!("https and rtmps need tls-cert and tls-key");
        }
        if self.sign_key.is_some() && self.sign_key_file.is_some() {
            bail!("sign-key and sign-key-file cannot both be set");
        }
        Ok(())
    }
}

/// The settings of a TOML file (missing keys default as the flags do). An error names the
/// file, the line, the key and what is wrong, then shows the line.
pub(crate) fn read_file(file: &Path, text: &str) -> anyhow::Result<Args> {
    toml::from_str(text).map_err(|e| {
        let Some(span) = e.span() else {
            return anyhow::anyhow!("{}: {e}", file.display());
        };
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        let line_text = text.lines().nth(line - 1).unwrap_or("");
        let key = line_text
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !k.starts_with('#'));
        let place = format!("{}: line {line}", file.display());
        match key {
            Some(key) => anyhow::anyhow!("{place}: key `{key}`: {}\n{e}", e.message()),
            None => anyhow::anyhow!("{place}: {}\n{e}", e.message()),
        }
    })
}

/// `cli`, with every key of `file` whose flag was not `given` on the command line.
fn merge(cli: &Args, file: &Args, given: impl Fn(&str) -> bool) -> anyhow::Result<Args> {
    let mut merged = toml::Table::try_from(cli)?;
    for (key, value) in toml::Table::try_from(file)? {
        if !given(&key.replace('-', "_")) {
            merged.insert(key, value);
        }
    }
    Ok(merged.try_into()?)
}

/// Values that are written as text (`Display` / `FromStr`), as on the command line.
#[cfg(feature = "transcode")]
mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }

    pub(super) mod optional {
        use super::*;

        pub(in super::super) fn serialize<T: Display, S: Serializer>(
            value: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            super::deserialize(d).map(Some)
        }
    }
}
