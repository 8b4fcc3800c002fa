//! An RTMP server: publish to `rtmp://HOST:PORT/APP/KEY`, play the same URL with ffmpeg,
//! ffplay or rtmpdump, optionally record every stream to `DIR/APP/KEY.flv`.
//!
//! ```text
//! cargo run --release --example server -- --rtmp 127.0.0.1:1935 --record recordings
//! ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/KEY
//! ffplay rtmp://127.0.0.1:1935/live/KEY
//! ```
//! Ctrl-C or SIGTERM stops it; recordings are finalized first.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};

#[derive(Debug, Parser)]
#[command(about = "onair RTMP server: live publish/play and FLV recording")]
struct Args {
    /// Address to listen on for RTMP.
    #[arg(long, default_value = "127.0.0.1:1935")]
    rtmp: SocketAddr,
    /// Record each published stream to DIR/APP/KEY.flv.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = RtmpServerConfig::default();
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the recording folder {}", dir.display()))?;
        config = config.with_record_dir(dir);
    }
    let server = RtmpServer::bind(args.rtmp, config, AcceptAll)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", args.rtmp))?;
    let addr = server.local_addr()?;
    tracing::info!("publish: ffmpeg -re -i INPUT -c copy -f flv rtmp://{addr}/live/KEY");
    tracing::info!("play:    ffplay rtmp://{addr}/live/KEY");
    if let Some(dir) = &args.record {
        tracing::info!("recording to {}/APP/KEY.flv", dir.display());
    }
    server.run_until(onair::rtmp::shutdown_signal()).await?;
    Ok(())
}
