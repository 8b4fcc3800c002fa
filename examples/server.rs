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
//! it private. `--dvr SECS` keeps that much of each stream in its live playlist (players seek
//! back); `--vod-dir DIR` records every publication as VOD HLS. `--config FILE` reads all of
//! the flags from a TOML file (`deploy/onair.toml`; flags override it). Ctrl-C or SIGTERM
//! stops it; recordings are finalized first.
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

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use onair::access::{AccessControl, HttpHook, KeysFile};
use onair::hls::{
    HlsConfig, HlsOrigin, HlsSegmentFormat, HttpOrigin, HttpOriginConfig, PlaybackSigning,
    VodConfig,
};
use onair::metrics::{Metrics, MetricsServer};
use onair::rtmp::{RtmpServer, RtmpServerConfig};
use onair::tls::ServerTls;

#[path = "server/settings.rs"]
mod settings;

use settings::{Args, HlsMode};

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
    let args = Args::load()?;
    if let Some(file) = &args.config {
        tracing::info!("settings from {} (flags override it)", file.display());
    }
    let signing = signing(&args)?;
    let mut config = RtmpServerConfig::default();
    config.max_connections = args.max_connections;
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
    let mut recordings = None;
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
            hls.segment_duration = positive_secs(secs, "--segment")?;
        }
        if let Some(secs) = args.part {
            if hls.part_duration.is_none() {
                anyhow::bail!("--part is for Low-Latency HLS (--hls ll)");
            }
            hls.part_duration = Some(positive_secs(secs, "--part")?);
        }
        hls.window = args.window.max(1);
        if let Some(secs) = args.dvr {
            hls.dvr = Some(positive_secs(secs, "--dvr")?);
            hls.dvr_max_bytes = args.dvr_max_mb.saturating_mul(1 << 20);
            tracing::info!(
                "DVR: {secs} s in each live playlist, at most {} MiB listed per stream",
                args.dvr_max_mb
            );
        }
        if let Some(dir) = &args.vod_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the VOD folder {}", dir.display()))?;
            hls.vod = Some(VodConfig::new(dir));
            tracing::info!(
                "VOD recordings to {}/APP/NAME/<start>/master.m3u8",
                dir.display()
            );
        }
        hls.max_streams = args.max_streams;
        hls.linger = Duration::try_from_secs_f64(args.linger).context("--linger")?;
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
        recordings = Some(origin.clone());
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
    if let Some(origin) = recordings {
        // the publishers are gone: their VOD recordings (ladders finishing on their threads)
        let written =
            tokio::task::spawn_blocking(move || origin.flush_recordings(Duration::from_secs(20)))
                .await?;
        if !written {
            tracing::warn!("VOD recordings still being written were left incomplete");
        }
    }
    for task in http_tasks {
        task.await??;
    }
    Ok(())
}

/// `secs` as a duration, if positive.
fn positive_secs(secs: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be a positive number of seconds"))
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
