//! `examples/full_pipeline` end to end: its synthetic camera is encoded by onair's encoder
//! (libx264 + AAC through FFmpeg), published over RTMP to onair's server, packaged into HLS
//! and served by the origin; the real ffmpeg/ffprobe read the HLS over HTTP. With a simulated
//! slow uplink, the example must lower its bitrate instead of falling behind.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tokio::io::AsyncReadExt;
use tokio::process::Child;

use crate::util::{
    decode_args, decoded_frames, free_addr, run, spawn_example, tool, wait_for_listener,
};

struct Pipeline {
    child: Child,
    http: SocketAddr,
}

impl Pipeline {
    async fn start(args: &[&str]) -> Result<Self> {
        let (rtmp, http) = (free_addr()?, free_addr()?);
        let (rtmp, http_arg) = (rtmp.to_string(), http.to_string());
        let mut all_args = vec!["--rtmp", &rtmp, "--http", &http_arg];
        all_args.extend_from_slice(args);
        let mut child = spawn_example("full_pipeline", &all_args, "info")?;
        // the origin answers as soon as it listens (and holds the playlist request until the
        // first segment exists)
        wait_for_listener(http, &mut child, Duration::from_secs(20))
            .await
            .context("the origin never listened")?;
        Ok(Self { child, http })
    }

    fn url(&self, file: &str) -> String {
        format!("http://{}/live/demo/{file}", self.http)
    }

    /// Waits for the example to end by itself (`--seconds`) and returns its log.
    async fn finish(mut self) -> Result<String> {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("full_pipeline did not stop")??;
        let mut log = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut log).await?;
        }
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut log).await?;
        }
        ensure!(status.success(), "full_pipeline failed ({status}):\n{log}");
        Ok(log)
    }
}

/// `key=value` of the example's "camera stopped" log line.
fn camera_stat(log: &str, key: &str) -> Result<u64> {
    let line = log
        .lines()
        .find(|l| l.contains("camera stopped"))
        .with_context(|| format!("no 'camera stopped' line in:\n{log}"))?;
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key}= in {line}"))
}

/// Runs the example for 12 s at 320x240 with `extra` arguments; ffmpeg 5.1 decodes 8 s of its
/// HLS from the first segment, ffprobe reads the master playlist.
async fn plays_in_ffmpeg(extra: &[&str], video_codec: &str) -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let ffprobe = tool("ffprobe");
    let mut args = vec!["--size", "320x240", "--kbps", "600", "--seconds", "12"];
    args.extend_from_slice(extra);
    let p = Pipeline::start(&args).await?;

    // from the first segment, 8 s of it as it is made
    let url = p.url("index.m3u8");
    let mut args = vec!["-live_start_index", "0"];
    args.extend(decode_args(&url, Some("8")));
    let decoded = run(&ffmpeg, &args, Duration::from_secs(40)).await?;
    let frames = decoded_frames(&decoded, "ffmpeg reading the pipeline's HLS")?;

    let master = p.url("master.m3u8");
    let probe = run(
        &ffprobe,
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels",
            "-of",
            "csv=p=0",
            &master,
        ],
        Duration::from_secs(20),
    )
    .await?;
    let log = p.finish().await?;
    let streams: Vec<&str> = probe.stdout.lines().map(str::trim).collect();
    eprintln!(
        "{extra:?}: ffmpeg decoded {frames} frames of 8 s; ffprobe on master.m3u8: {streams:?}"
    );
    // 8 s at 30 fps, from the first frame on
    ensure!((235..=241).contains(&frames), "decoded {frames} frames");
    let video = format!("{video_codec},320,240");
    ensure!(streams.iter().any(|s| s.starts_with(&video)), "{streams:?}");
    ensure!(
        streams
            .iter()
            .any(|s| s.starts_with("aac,") && s.contains("48000,2")),
        "{streams:?}"
    );
    ensure!(camera_stat(&log, "frames")? == 360, "{log}");
    ensure!(camera_stat(&log, "dropped")? == 0, "{log}");
    ensure!(camera_stat(&log, "lowered")? == 0, "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_pipeline_plays_in_ffmpeg() -> Result<()> {
    plays_in_ffmpeg(&[], "h264").await
}

/// H.265 from onair's encoder goes out as Enhanced RTMP, and comes back out of the HLS origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_pipeline_plays_h265_in_ffmpeg() -> Result<()> {
    plays_in_ffmpeg(&["--codec", "h265"], "hevc").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_pipeline_lowers_its_bitrate_on_a_slow_uplink() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    // 2 Mbit/s of video wanted, 600 kbit/s of link
    let p = Pipeline::start(&[
        "--size",
        "640x360",
        "--kbps",
        "2000",
        "--uplink-kbps",
        "600",
        "--seconds",
        "16",
    ])
    .await?;
    let url = p.url("index.m3u8");
    let mut args = vec!["-live_start_index", "0"];
    // 10 s of the 20 published: the link keeps the stream a few seconds behind
    args.extend(decode_args(&url, Some("10")));
    let decoded = run(&ffmpeg, &args, Duration::from_secs(60)).await?;
    let frames = decoded_frames(&decoded, "ffmpeg reading the pipeline's HLS")?;
    let log = p.finish().await?;
    let lowered = camera_stat(&log, "lowered")?;
    let final_kbps = camera_stat(&log, "final_kbps")?;
    let dropped = camera_stat(&log, "dropped")?;
    eprintln!(
        "slow uplink: lowered {lowered} times, final {final_kbps} kbit/s, {dropped} frames dropped \
         at the encoder, ffmpeg decoded {frames} frames of 10 s cleanly"
    );
    for line in log.lines().filter(|l| l.contains("bitrate")) {
        eprintln!(
            "  {}",
            line.split_once("full_pipeline: ").map_or(line, |(_, r)| r)
        );
    }
    ensure!(lowered >= 1, "the bitrate was never lowered:\n{log}");
    // what fits in 600 kbit/s next to 128 kbit/s of audio
    ensure!(final_kbps < 600, "final bitrate {final_kbps} kbit/s");
    // what went out stays decodable; dropped frames are whole GOP tails (the first backlog,
    // before the link is measured and x264 follows the lower rate, costs one or two GOPs)
    ensure!(frames >= 150, "decoded {frames} frames of 300");
    Ok(())
}
