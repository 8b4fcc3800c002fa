//! An RTMP server with a live HLS origin: publish to `rtmp://HOST:PORT/APP/KEY`, play
//! `rtmp://HOST:PORT/APP/NAME` (ffmpeg, ffplay, rtmpdump) or
//! `http://HOST:HTTP/APP/NAME/index.m3u8` over HLS (hls.js, Safari, ffmpeg), optionally record
//! every stream to `DIR/APP/NAME.flv`. NAME is the public name: the key itself without access
//! control (below), else what the keys file or hook says.
//!
//! ```text
//! cargo run --release --example server -- --rtmp 127.0.0.1:1935 --http 127.0.0.1:8080
//! ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/KEY
//! ffplay rtmp://127.0.0.1:1935/live/NAME
//! ffplay http://127.0.0.1:8080/live/NAME/index.m3u8
//! ```
//! `--hls ll` serves Low-Latency HLS (fMP4 parts); `--https ADDR --tls-cert C --tls-key K`
//! adds HTTPS and `--rtmps ADDR` (same certificate) RTMPS ingest and playback; the
//! certificate is read again on SIGHUP and when its files change. `--ladder
//! source,720p,480p,360p` transcodes every stream into those renditions (keyframes aligned
//! across them; play `http://HOST:HTTP/APP/NAME/master.m3u8`), with `--preset`,
//! `--hw cpu|gpu-then-cpu|gpu-only`, `--cpu-budget PERCENT` (a new stream's ladder is
//! shortened to keep the process under it) and `--max-lag SECS`; these settings also apply to
//! the ladders a keys file or hook gives single streams. `--sign-key SECRET` (or `--sign-key-file`)
//! serves only signed playback URLs (`cargo run --example sign -- --key SECRET --ttl 3600
//! URL` makes one). `--metrics ADDR` serves Prometheus metrics at `/metrics` and the JSON
//! API (`/api/streams`, `DELETE /api/publishers/APP/NAME`) on an address of their own: keep
//! it private. Ctrl-C or SIGTERM stops it; recordings are finalized first.
//!
//! Publishing access (see `onair::access`): `--keys FILE` lists `APP KEY NAME [LADDER]` a
//! line (`#` comments): a listed key is published under NAME (what players, HLS URLs and
//! recordings use; the key appears nowhere), with its own ladder (`source,720p,360p` or `off`)
//! when given; the file is read again when it changes (checked every second) and on SIGHUP,
//! and a file with an error keeps the previous keys. Players asking for a key are refused.
//! `--hook URL` POSTs every publish whose key the file does not list (JSON: app, key, query,
//! peer) to URL: a 2xx answer accepts, with an optional JSON `{"name": ..., "ladder": ...}`;
//! anything else, or no answer within `--hook-timeout SECS` (default 3), refuses. With
//! `--keys` and no `--hook`, unlisted keys are refused. `--hook-publish-done URL` is told when
//! a publisher leaves; `--hook-play URL` accepts (2xx) or refuses each RTMP player. These five
//! flags are read in `access_control`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use onair::access::{AccessControl, HttpHook, KeysFile};
use onair::hls::{
    HlsConfig, HlsOrigin, HlsSegmentFormat, HttpOrigin, HttpOriginConfig, PlaybackSigning,
};
use onair::metrics::{Metrics, MetricsServer};
use onair::rtmp::{RtmpServer, RtmpServerConfig};
use onair::tls::ServerTls;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HlsMode {
    /// MPEG-TS segments.
    Ts,
    /// fMP4 (CMAF) segments.
    Fmp4,
    /// Low-Latency HLS: fMP4 segments with partial segments, blocking playlist reload.
    Ll,
    /// No HLS.
    Off,
}

#[derive(Debug, Parser)]
#[command(about = "onair live server: RTMP publish/play, HLS origin, FLV recording")]
struct Args {
    /// Address to listen on for RTMP.
    #[arg(long, default_value = "127.0.0.1:1935")]
    rtmp: SocketAddr,
    /// Address to serve HLS on over HTTP.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Address to serve HLS on over HTTPS (needs --tls-cert and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    https: Option<SocketAddr>,
    /// Address to listen on for RTMPS (needs --tls-cert and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    rtmps: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS and RTMPS (read again on SIGHUP or when it changes).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS and RTMPS.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Address to serve Prometheus metrics (/metrics) and the JSON API (/api/...) on; no
    /// authentication: keep it off the public network.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// HLS packaging.
    #[arg(long, value_enum, default_value = "ts")]
    hls: HlsMode,
    /// Target segment duration, seconds (default: 2, or 1 with --hls ll).
    #[arg(long, value_name = "SECS")]
    segment: Option<f64>,
    /// Segments in the live playlist.
    #[arg(long, default_value_t = 6)]
    window: usize,
    /// Record each published stream to DIR/APP/NAME.flv (NAME: its public name).
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Publishing keys: `APP KEY NAME [LADDER]` a line, `#` comments; read again when it
    /// changes and on SIGHUP. Keys it does not list go to --hook, or are refused.
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Admission hook: every publish whose key --keys does not list is POSTed here as JSON;
    /// 2xx accepts (the JSON answer may set `name` and `ladder`), anything else refuses.
    #[arg(long, value_name = "URL")]
    hook: Option<String>,
    /// Told (JSON POST) of every publisher that leaves; failures are only logged.
    #[arg(long, value_name = "URL")]
    hook_publish_done: Option<String>,
    /// Every RTMP player is POSTed here as JSON; 2xx accepts, anything else refuses.
    #[arg(long, value_name = "URL")]
    hook_play: Option<String>,
    /// Deadline of each hook call, seconds; a publish or play hook past it refuses.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    hook_timeout: f64,
    /// Serve HLS only under signed playback URLs made with this shared secret (see the
    /// `sign` example); others get 403.
    #[arg(long, value_name = "SECRET", conflicts_with = "sign_key_file")]
    sign_key: Option<String>,
    /// Like --sign-key, the secret read from FILE (one line).
    #[arg(long, value_name = "FILE")]
    sign_key_file: Option<PathBuf>,
    /// Transcode every stream into these renditions: `source`, named rungs (1080p, 720p,
    /// 540p, 480p, 360p, 240p), `HEIGHTp@KBPS` or `WxH@KBPS`, comma-separated.
    #[cfg(feature = "transcode")]
    #[arg(long, value_name = "LIST")]
    ladder: Option<onair::transcode::Ladder>,
    /// libx264 preset of the ladder's encoders.
    #[cfg(feature = "transcode")]
    #[arg(long, default_value = "veryfast", value_name = "P")]
    preset: String,
    /// Where the ladder encodes: cpu, gpu-then-cpu (falls back to libx264 and says so) or
    /// gpu-only (refuses to start without a GPU encoder).
    #[cfg(feature = "transcode")]
    #[arg(long, default_value = "cpu", value_name = "POLICY")]
    hw: onair::transcode::HardwarePolicy,
    /// Share of all cores (percent) the server may use before a new stream's ladder starts
    /// shorter; 0 admits every ladder whole.
    #[cfg(feature = "transcode")]
    #[arg(long, default_value_t = 60.0, value_name = "PERCENT")]
    cpu_budget: f64,
    /// A ladder further behind than this sheds its most expensive rendition, seconds.
    #[cfg(feature = "transcode")]
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    max_lag: f64,
}

/// The playback signing of `--sign-key` or `--sign-key-file`, if either is given.
fn signing(args: &Args) -> anyhow::Result<Option<PlaybackSigning>> {
    let secret = match (&args.sign_key, &args.sign_key_file) {
        (Some(key), _) => key.clone().into_bytes(),
        (None, Some(file)) => {
            let mut key =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                key.pop();
            }
            key
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(PlaybackSigning::new(secret).context("--sign-key")?))
}

/// The access control of `--keys`, `--hook`, `--hook-publish-done`, `--hook-play` and
/// `--hook-timeout`; the keys file is watched for changes from here on.
fn access_control(args: &Args) -> anyhow::Result<AccessControl> {
    let timeout = Duration::try_from_secs_f64(args.hook_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--hook-timeout must be a positive number of seconds")?;
    let hook = |url: &Option<String>, flag: &str| -> anyhow::Result<Option<HttpHook>> {
        url.as_deref()
            .map(|url| {
                HttpHook::new(url)
                    .map(|h| h.with_timeout(timeout))
                    .with_context(|| format!("--{flag}"))
            })
            .transpose()
    };
    let mut access = AccessControl::new();
    if let Some(path) = &args.keys {
        let keys = KeysFile::open(path).context("--keys")?;
        tokio::spawn(keys.clone().reload_on_change(Duration::from_secs(1)));
        access = access.with_keys(keys);
    }
    if let Some(h) = hook(&args.hook, "hook")? {
        access = access.with_publish_hook(h);
    }
    if let Some(h) = hook(&args.hook_publish_done, "hook-publish-done")? {
        access = access.with_publish_done_hook(h);
    }
    if let Some(h) = hook(&args.hook_play, "hook-play")? {
        access = access.with_play_hook(h);
    }
    Ok(access)
}

/// The ladder settings the arguments ask for, with `--ladder`'s rungs (else the standard
/// ones, for the streams a keys file or hook gives a ladder of their own); fails early when
/// `gpu-only` finds no GPU encoder.
#[cfg(feature = "transcode")]
fn ladder_config(args: &Args) -> anyhow::Result<onair::hls::LadderConfig> {
    use onair::transcode::{HardwarePolicy, Ladder, Transcoder, TranscoderConfig};
    let ladder = args.ladder.clone().unwrap_or_else(Ladder::standard);
    if args.hw != HardwarePolicy::Cpu {
        let mut probe = TranscoderConfig::new(ladder.clone());
        probe.hardware = args.hw;
        Transcoder::new(probe).with_context(|| format!("--hw {}", args.hw))?;
    }
    let mut config = onair::hls::LadderConfig::new(ladder)
        .with_preset(args.preset.clone())
        .with_hardware(args.hw)
        .with_cpu_budget((args.cpu_budget > 0.0).then_some(args.cpu_budget / 100.0));
    config.max_lag = Duration::try_from_secs_f64(args.max_lag)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--max-lag must be a positive number of seconds")?;
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let signing = signing(&args)?;
    let mut config = RtmpServerConfig::default();
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the recording folder {}", dir.display()))?;
        config = config.with_record_dir(dir);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = ServerTls::from_files(cert, key)?;
            tokio::spawn(tls.clone().reload_on_change(Duration::from_secs(10)));
            Some(tls)
        }
        _ => None,
    };
    let access = access_control(&args)?;
    tokio::spawn(reload_on_hangup(tls.clone(), access.keys().cloned()));
    let metrics = Metrics::new();
    let mut server = RtmpServer::bind(args.rtmp, config, access)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", args.rtmp))?
        .with_metrics(metrics.clone());
    let addr = server.local_addr()?;
    tracing::info!("publish: ffmpeg -re -i INPUT -c copy -f flv rtmp://{addr}/live/KEY");
    tracing::info!("play:    ffplay rtmp://{addr}/live/NAME");
    if let (Some(rtmps), Some(tls)) = (args.rtmps, &tls) {
        server = server
            .with_rtmps(rtmps, tls)
            .await
            .with_context(|| format!("cannot listen for RTMPS on {rtmps}"))?;
        if let Some(addr) = server.rtmps_addr() {
            tracing::info!("RTMPS:   rtmps://{}/live/KEY", addr?);
        }
    }

    let mut http_tasks = Vec::new();
    if let Some(addr) = args.metrics {
        let ops = MetricsServer::bind(addr, metrics.clone())
            .await
            .with_context(|| format!("cannot listen for metrics on {addr}"))?
            .with_rtmp(server.control());
        tracing::info!("metrics: http://{}/metrics", ops.local_addr()?);
        http_tasks.push(tokio::spawn(ops.run_until(onair::rtmp::shutdown_signal())));
    }
    if args.hls != HlsMode::Off {
        let mut hls = match args.hls {
            HlsMode::Ll => HlsConfig::low_latency(),
            HlsMode::Fmp4 => {
                let mut c = HlsConfig::default();
                c.format = HlsSegmentFormat::Fmp4;
                c
            }
            _ => HlsConfig::default(),
        };
        if let Some(secs) = args.segment {
            hls.segment_duration = Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--segment must be a positive number of seconds")?;
        }
        hls.window = args.window.max(1);
        #[cfg(feature = "transcode")]
        {
            let ladder = ladder_config(&args)?;
            if args.ladder.is_some() {
                hls.ladder = Some(ladder);
            } else {
                hls.ladder_settings = Some(ladder);
            }
        }
        let origin = HlsOrigin::new(hls)?.with_metrics(metrics);
        server = server.with_tap(Arc::new(origin.clone()));
        let mut http_config = HttpOriginConfig::default();
        http_config.player_pages = true;
        // hls.js for the player pages: the npm copy scripts/setup.sh installs, else a CDN
        http_config.player_script =
            std::fs::read("tests/browser/node_modules/hls.js/dist/hls.min.js")
                .ok()
                .map(Into::into);
        if let Some(signing) = signing {
            tracing::info!(
                "playback URLs must be signed: cargo run --example sign -- --key SECRET --ttl SECS URL"
            );
            http_config.signing = Some(signing);
        }
        let http = HttpOrigin::bind(args.http, origin.clone())
            .await
            .with_context(|| format!("cannot listen for HTTP on {}", args.http))?
            .with_config(http_config.clone());
        let http_addr = http.local_addr()?;
        tracing::info!("HLS:     http://{http_addr}/live/NAME/master.m3u8");
        tracing::info!("watch:   http://{http_addr}/ in a browser");
        http_tasks.push(tokio::spawn(http.run_until(onair::rtmp::shutdown_signal())));
        if let (Some(https), Some(tls)) = (args.https, &tls) {
            let tls = HttpOrigin::bind(https, origin)
                .await
                .with_context(|| format!("cannot listen for HTTPS on {https}"))?
                .with_config(http_config)
                .with_server_tls(tls)?;
            tracing::info!(
                "HLS:     https://{}/live/NAME/index.m3u8",
                tls.local_addr()?
            );
            http_tasks.push(tokio::spawn(tls.run_until(onair::rtmp::shutdown_signal())));
        }
    }
    if let Some(dir) = &args.record {
        tracing::info!("recording to {}/APP/NAME.flv", dir.display());
    }
    server.run_until(onair::rtmp::shutdown_signal()).await?;
    for task in http_tasks {
        task.await??;
    }
    Ok(())
}

/// Reads the TLS certificate and the keys file again on every SIGHUP (as nginx does on
/// reload).
async fn reload_on_hangup(tls: Option<ServerTls>, keys: Option<KeysFile>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if tls.is_none() && keys.is_none() {
            return;
        }
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            if let Some(Err(e)) = tls.as_ref().map(ServerTls::reload) {
                tracing::warn!(error = %e, "SIGHUP: keeping the previous TLS certificate");
            }
            if let Some(keys) = &keys {
                keys.reload_logged("SIGHUP");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (tls, keys);
}
