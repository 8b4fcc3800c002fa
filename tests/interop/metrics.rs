//! The operators' endpoint: Debian's Prometheus scrapes the server while ffmpeg publishes and
//! answers queries about it; the JSON API lists streams by public name and drops a publisher.
//! The server runs in-process; Prometheus is a child process of the test, with its storage in
//! the test's folder, on loopback.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use onair::hls::{HlsConfig, HlsOrigin, HttpOrigin};
use onair::metrics::{Metrics, MetricsServer};
use onair::rtmp::{
    Publication, PublishRequest, Rejection, RtmpHandler, RtmpServer, RtmpServerConfig,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::util::*;

/// The publish key of [`Keys`]; it must never show in metrics or the API.
const KEY: &str = "s3cr3t-k3y";

/// Publishers need [`KEY`], which is published as `studio`; any other key is its own name.
struct Keys;

impl RtmpHandler for Keys {
    async fn on_publish(&self, request: PublishRequest) -> Result<Publication, Rejection> {
        let name = match request.key.as_str() {
            KEY => "studio",
            other => other,
        };
        Publication::named(name)
    }
}

/// RTMP server, HLS origin and the metrics endpoint, in-process and sharing one `Metrics`.
struct Server {
    rtmp: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(hls: HlsConfig) -> Result<Self> {
        init_tracing();
        let metrics = Metrics::new();
        let origin = HlsOrigin::new(hls)?.with_metrics(metrics.clone());
        let rtmp = RtmpServer::bind("127.0.0.1:0", RtmpServerConfig::default(), Keys)
            .await?
            .with_metrics(metrics.clone())
            .with_tap(Arc::new(origin.clone()));
        let http = HttpOrigin::bind("127.0.0.1:0", origin).await?;
        let ops = MetricsServer::bind("127.0.0.1:0", metrics)
            .await?
            .with_rtmp(rtmp.control());
        let (stop, rx) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let (rtmp_addr, http_addr, metrics_addr) =
            (rtmp.local_addr()?, http.local_addr()?, ops.local_addr()?);
        let tasks = vec![
            tokio::spawn(rtmp.run_until(until(rx.clone()))),
            tokio::spawn(http.run_until(until(rx.clone()))),
            tokio::spawn(ops.run_until(until(rx))),
        ];
        Ok(Self {
            rtmp: rtmp_addr,
            http: http_addr,
            metrics: metrics_addr,
            stop,
            tasks,
        })
    }

    fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    async fn stop(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .context("server did not stop in time")???;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One HTTP/1.1 exchange (`Connection: close`); the status and the body (chunked bodies
/// joined).
async fn http(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .context("HTTP response timed out")??;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    if !chunked {
        return Ok((status, body.to_owned()));
    }
    let (mut rest, mut joined) = (body, String::new());
    loop {
        let (size, after) = rest.split_once("\r\n").context("bad chunk")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok((status, joined));
        }
        joined.push_str(after.get(..size).context("short chunk")?);
        rest = after.get(size + 2..).context("short chunk")?;
    }
}

/// The value of a Prometheus instant query with one result (`None`: no series).
async fn query(prometheus: SocketAddr, expr: &str) -> Result<Option<f64>> {
    let (status, body) = http(prometheus, "GET", &format!("/api/v1/query?query={expr}")).await?;
    ensure!(status == 200, "query {expr}: {status} {body}");
    let v: Value = serde_json::from_str(&body)?;
    ensure!(v["status"] == "success", "query {expr}: {body}");
    let Some(first) = v["data"]["result"].as_array().and_then(|r| r.first()) else {
        return Ok(None);
    };
    let value = first["value"][1].as_str().context("no value")?;
    Ok(Some(value.parse()?))
}

/// Prometheus scrapes the server every second while ffmpeg publishes 20 s: its query API
/// reports one publisher, a segment-latency histogram with samples, segments and an ingest
/// bit rate; and no publisher once ffmpeg left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_publishers_and_segment_latency() -> Result<()> {
    let (ffmpeg, prometheus) = (tool("ffmpeg"), tool("prometheus"));
    let src = h264_aac_10s();
    let mut hls = HlsConfig::default();
    hls.segment_duration = Duration::from_secs(1);
    let server = Server::start(hls).await?;

    let dir = test_dir("prometheus")?;
    let config = dir.path().join("prometheus.yml");
    let target = server.metrics.to_string();
    std::fs::write(
        &config,
        include_str!("prometheus.yml").replace("ONAIR_METRICS_ADDR", &target),
    )?;
    let web = free_addr()?;
    let mut child = Command::new(&prometheus)
        .arg(format!("--config.file={}", path_str(&config)?))
        .arg(format!(
            "--storage.tsdb.path={}",
            path_str(&dir.path().join("data"))?
        ))
        .arg(format!("--web.listen-address={web}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting prometheus")?;
    wait_for_listener(web, &mut child, Duration::from_secs(20)).await?;
    let ready = Instant::now() + Duration::from_secs(20);
    while http(web, "GET", "/-/ready").await.map(|r| r.0).unwrap_or(0) != 200 {
        ensure!(Instant::now() < ready, "prometheus did not get ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        server.rtmp_url("live/prom"),
        // twice the 10 s input: room for Prometheus' first scrapes on a busy machine
        &["-stream_loop", "1"],
        Duration::from_secs(60),
    );
    let t = Instant::now();
    let (mut publishers, mut latency) = (None, None);
    while t.elapsed() < Duration::from_secs(18) {
        publishers = publishers.or(query(web, "onair_rtmp_publishers")
            .await?
            .filter(|&n| n == 1.0)
            .map(|_| t.elapsed()));
        latency = latency.or(query(web, "onair_hls_segment_latency_seconds_count")
            .await?
            .filter(|&n| n > 0.0)
            .map(|n| (t.elapsed(), n)));
        if publishers.is_some() && latency.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let segments = query(web, "onair_hls_segments_total").await?;
    let bitrate = query(web, "onair_stream_ingest_bits_per_second").await?;
    let sum = query(web, "onair_hls_segment_latency_seconds_sum").await?;
    let cpu = query(web, "process_cpu_seconds_total").await?;
    eprintln!(
        "prometheus saw publishers = 1 after {publishers:?}, latency samples {latency:?} \
         (sum {sum:?} s), segments {segments:?}, ingest {bitrate:?} bit/s, cpu {cpu:?} s"
    );
    let Some(_) = publishers else {
        bail!("prometheus never reported onair_rtmp_publishers = 1");
    };
    let Some((_, count)) = latency else {
        bail!("prometheus never reported segment latency samples");
    };
    assert!(count > 0.0);
    assert!(segments.unwrap_or(0.0) >= 1.0, "segments {segments:?}");
    // the source is about 1.1 Mbit/s
    let bitrate = bitrate.unwrap_or(0.0);
    assert!(
        (500_000.0..3_000_000.0).contains(&bitrate),
        "ingest {bitrate} bit/s"
    );
    // with 30 fps and audio in between, a segment is cut within a frame of its last input
    let mean = sum.unwrap_or(f64::MAX) / count;
    assert!(mean < 0.5, "mean segment latency {mean} s");

    publisher.await??;
    let left = Instant::now();
    loop {
        if query(web, "onair_rtmp_publishers").await? == Some(0.0) {
            break;
        }
        ensure!(
            left.elapsed() < Duration::from_secs(10),
            "prometheus still reports a publisher"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "publishers = 0 in prometheus {:.1} s after ffmpeg left",
        left.elapsed().as_secs_f64()
    );
    if let Some(status) = child.try_wait()? {
        bail!("prometheus exited early: {status}");
    }
    child.kill().await?;
    server.stop().await
}

/// Everything in `text` about the stream named `name`.
fn series_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let label = format!("name=\"{name}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&label))
        .collect()
}

/// The sample `series` (name and labels exactly) of a `/metrics` text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A publisher whose key maps to a public name: metrics and the API show the name only, count
/// its RTMP player and HLS viewer; the API drops the publisher, ffmpeg stops, and the
/// stream's series go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_streams_by_public_name_and_drops_a_publisher() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let server = Server::start(HlsConfig::default()).await?;
    let publisher = {
        let (ffmpeg, src, url) = (
            ffmpeg.clone(),
            src.clone(),
            server.rtmp_url(&format!("live/{KEY}")),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let args = [
                "-v",
                "error",
                "-re",
                "-i",
                path_str(&src)?,
                "-c",
                "copy",
                "-f",
                "flv",
                &url,
            ];
            let f = run(&ffmpeg, &args, Duration::from_secs(40)).await?;
            anyhow::Ok((f, started.elapsed()))
        })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let player = {
        let (ffmpeg, url) = (ffmpeg.clone(), server.rtmp_url("live/studio"));
        tokio::spawn(async move {
            run(
                &ffmpeg,
                &decode_args(&url, Some("5")),
                Duration::from_secs(30),
            )
            .await
        })
    };
    // an HLS viewer: the media playlist, once there is a segment
    let (status, _) = http(server.http, "GET", "/live/studio/index.m3u8").await?;
    assert_eq!(status, 200);
    let (status, _) = http(server.http, "GET", "/live/studio/missing.ts").await?;
    assert_eq!(status, 404);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, text) = http(server.metrics, "GET", "/metrics").await?;
    assert_eq!(status, 200);
    let (status, api) = http(server.metrics, "GET", "/api/streams").await?;
    assert_eq!(status, 200);
    eprintln!("/api/streams: {api}");
    eprintln!(
        "/metrics about the stream:\n{}",
        series_of(&text, "studio").join("\n")
    );
    assert!(!text.contains(KEY) && !api.contains(KEY), "the key leaked");
    assert_eq!(sample(&text, "onair_rtmp_publishers"), Some(1.0));
    assert_eq!(sample(&text, "onair_rtmp_players"), Some(1.0));
    let stream = r#"{app="live",name="studio"}"#;
    let rendition = r#"{app="live",name="studio",rendition="index.m3u8"}"#;
    assert_eq!(
        sample(&text, &format!("onair_stream_rtmp_players{stream}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("onair_hls_viewers{rendition}")),
        Some(1.0)
    );
    assert!(sample(&text, &format!("onair_hls_segments_total{rendition}")).unwrap_or(0.0) >= 1.0);
    assert!(
        sample(&text, &format!("onair_stream_ingest_bytes_total{stream}")).unwrap_or(0.0)
            > 100_000.0
    );
    assert!(sample(&text, r#"onair_http_responses_total{status="200"}"#).unwrap_or(0.0) >= 1.0);
    assert_eq!(
        sample(&text, r#"onair_http_responses_total{status="404"}"#),
        Some(1.0)
    );
    let v: Value = serde_json::from_str(&api)?;
    let streams = v["streams"].as_array().context("streams")?;
    assert_eq!(streams.len(), 1, "{api}");
    assert_eq!(streams[0]["name"], "studio");
    assert_eq!(streams[0]["rtmp_players"], 1);
    assert_eq!(streams[0]["hls"][0]["playlist"], "index.m3u8");
    assert_eq!(streams[0]["hls"][0]["viewers"], 1);
    assert!(streams[0]["ingest_bits_per_second"].as_u64().unwrap_or(0) > 100_000);

    let (status, body) = http(server.metrics, "DELETE", "/api/publishers/live/studio").await?;
    eprintln!("DELETE /api/publishers/live/studio: {status} {body}");
    assert_eq!(status, 200);
    let (published, took) = publisher.await??;
    eprintln!(
        "ffmpeg stopped {:.1} s after it started (the input lasts 10 s): {}",
        took.as_secs_f64(),
        published.stderr.lines().last().unwrap_or("")
    );
    assert!(took < Duration::from_secs(8), "ffmpeg ran for {took:?}");
    let (status, _) = http(server.metrics, "DELETE", "/api/publishers/live/studio").await?;
    assert_eq!(status, 404, "nobody publishes it any more");
    let (_, api) = http(server.metrics, "GET", "/api/streams").await?;
    assert_eq!(api, r#"{"streams":[]}"#);
    let (_, text) = http(server.metrics, "GET", "/metrics").await?;
    assert!(
        series_of(&text, "studio").is_empty(),
        "left: {:?}",
        series_of(&text, "studio")
    );
    assert_eq!(sample(&text, "onair_rtmp_publishers"), Some(0.0));
    // the RTMP player stays, waiting for the next publisher, until its own time is up
    player.abort();
    server.stop().await
}
