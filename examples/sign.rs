//! Prints a signed, expiring playback URL for an origin (or an edge) that checks playback
//! tokens (`server --sign-key`): the same URL for everyone who asks within one expiry window.
//!
//! ```text
//! cargo run --example sign -- --key SECRET --ttl 3600 http://127.0.0.1:8080/live/KEY/master.m3u8
//! http://127.0.0.1:8080/live/KEY/t.1767229200.5q2...Xk/master.m3u8
//! ```
//! The token signs the URL's folder (the stream's, for a playlist URL), or `--prefix`.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Parser;
use onair::hls::PlaybackSigning;

#[derive(Debug, Parser)]
#[command(about = "Sign an HLS playback URL for onair's origin and edges")]
struct Args {
    /// The shared secret.
    #[arg(
        long,
        required_unless_present = "key_file",
        conflicts_with = "key_file"
    )]
    key: Option<String>,
    /// A file holding the shared secret (one line; the line break is not part of it).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Least lifetime of the URL, seconds.
    #[arg(long, value_name = "SECS")]
    ttl: u64,
    /// Expiries are rounded up to multiples of this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = PlaybackSigning::DEFAULT_WINDOW.as_secs())]
    window: u64,
    /// Sign this path prefix (ending in '/') instead of the URL's folder, e.g. /live/ for
    /// every stream of the application.
    #[arg(long, value_name = "PATH")]
    prefix: Option<String>,
    /// The URL to sign: http(s)://HOST/APP/NAME/master.m3u8, or a path.
    url: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = match (&args.key, &args.key_file) {
        (Some(key), _) => key.clone().into_bytes(),
        (None, Some(file)) => read_key_file(file)?,
        (None, None) => anyhow::bail!("--key or --key-file is required"),
    };
    let signing = PlaybackSigning::new(secret)?.with_window(Duration::from_secs(args.window));
    let ttl = Duration::from_secs(args.ttl);
    let now = SystemTime::now();
    let url = match &args.prefix {
        Some(prefix) => signing.sign_url_for_prefix(&args.url, prefix, ttl, now)?,
        None => signing.sign_url(&args.url, ttl, now)?,
    };
    println!("{url}");
    Ok(())
}

/// The secret in `file`, without the line break an editor leaves at its end.
fn read_key_file(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut key = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        key.pop();
    }
    Ok(key)
}
