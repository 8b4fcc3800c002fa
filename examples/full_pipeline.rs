//! The whole road in one process: a synthetic camera -> onair's encoder (H.264 + AAC through
//! FFmpeg) -> RTMP publish -> onair's RTMP server -> live HLS packaging -> the HTTP origin ->
//! your browser.
//!
//! ```text
//! cargo run --release --example full_pipeline
//! # then open http://127.0.0.1:8080/live/demo/ (hls.js), or: ffplay http://127.0.0.1:8080/live/demo/master.m3u8
//! cargo run --release --example full_pipeline -- --hls ll --uplink-kbps 800   # LL-HLS over a slow uplink
//! ```
//!
//! The server transcodes the stream into a ladder (by default `source` and the two standard
//! rungs below the camera's size: `source,480p,360p` at 720p, which two cores keep in real
//! time); the player page offers the renditions and shows the one playing (`--ladder off`
//! packages the stream as published).
//!
//! The camera is a moving test pattern with a 440 Hz tone that beeps once a second (a moving
//! bar crosses the picture in the same second: audio/video sync is visible). Frames are made
//! and encoded in real time on their own thread; a tokio task publishes them over RTMP.
//!
//! When the upload link cannot carry the bitrate (simulate one with `--uplink-kbps`), the
//! queue between encoder and publisher grows; the encoder then lowers its bitrate to what the
//! link was measured to carry (down to a tenth of the configured one) instead of letting the
//! stream fall behind, and raises it again step by step while the link keeps up. While more
//! than about 1.5 s is queued, video is dropped up to the next keyframe, so the stream stays
//! decodable.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use onair::encoder::{
    AudioEncoderConfig, FrameRate, RawVideoFrame, VideoCodec, VideoEncoderConfig,
};
use onair::hls::{HlsConfig, HlsOrigin, HttpOrigin, HttpOriginConfig, LadderConfig};
use onair::publish::{LivePublisher, PublisherConfig};
use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};
use tracing::info;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HlsMode {
    /// MPEG-TS segments of 1 s.
    Ts,
    /// Low-Latency HLS: fMP4 segments of 1 s with parts of a third of a second.
    Ll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Codec {
    /// H.264 with libx264.
    H264,
    /// H.265 with libx265.
    H265,
}

#[derive(Debug, Parser)]
#[command(about = "onair end to end: test camera -> encoder -> RTMP -> server -> HLS -> browser")]
struct Args {
    /// RTMP address of the server (the encoder publishes to it).
    #[arg(long, default_value = "127.0.0.1:1935")]
    rtmp: SocketAddr,
    /// HTTP address of the HLS origin.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// HLS flavour.
    #[arg(long, value_enum, default_value = "ts")]
    hls: HlsMode,
    /// Picture size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bitrate, kbit/s.
    #[arg(long, default_value_t = 2500)]
    kbps: u64,
    /// Video codec (H.265 goes out as Enhanced RTMP; browsers other than Safari rarely play it).
    #[arg(long, value_enum, default_value = "h264")]
    codec: Codec,
    /// Simulate an upload link of this many kbit/s between encoder and server (0: unlimited).
    #[arg(long, default_value_t = 0)]
    uplink_kbps: u64,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Stream key (played at /live/KEY/).
    #[arg(long, default_value = "demo")]
    key: String,
    /// The server's ladder: `auto` (the source and up to two standard rungs below it), `off`,
    /// or a list such as `source,480p,360p`.
    #[arg(long, default_value = "auto")]
    ladder: String,
}

/// The ladder `--ladder` asks for, for a camera `height` lines high.
fn ladder_for(arg: &str, height: u32) -> anyhow::Result<Option<onair::transcode::Ladder>> {
    let text = match arg {
        "off" => return Ok(None),
        "auto" => {
            let below: Vec<String> = [480, 360, 240]
                .iter()
                .filter(|h| **h < height)
                .take(2)
                .map(|h| format!("{h}p"))
                .collect();
            if below.is_empty() {
                return Ok(None);
            }
            format!("source,{}", below.join(","))
        }
        list => list.to_owned(),
    };
    Ok(Some(
        text.parse().with_context(|| format!("--ladder {text}"))?,
    ))
}

const SAMPLE_RATE: u32 = 48_000;
const HLS_JS_COPY: &str = "tests/browser/node_modules/hls.js/dist/hls.min.js";
const AUDIO_BPS: u64 = 128_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let (width, height) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| *w >= 16 && *h >= 16 && w % 2 == 0 && h % 2 == 0)
        .context("--size must be WIDTHxHEIGHT, even numbers of at least 16")?;
    anyhow::ensure!((1..=120).contains(&args.fps), "--fps must be 1..=120");

    // The server side: RTMP in, HLS out. Segments of 1 s (the encoder makes a keyframe every
    // second to match): players hold three segments back, so this is what keeps latency low.
    let mut hls = match args.hls {
        HlsMode::Ts => HlsConfig::default(),
        HlsMode::Ll => HlsConfig::low_latency(),
    };
    hls.segment_duration = Duration::from_secs(1);
    hls.ladder = ladder_for(&args.ladder, height)?.map(LadderConfig::new);
    if let Some(ladder) = &hls.ladder {
        tracing::info!(ladder = %ladder.ladder, "the server transcodes the stream into a ladder");
    }
    let origin = HlsOrigin::new(hls)?;
    let server = RtmpServer::bind(args.rtmp, RtmpServerConfig::default(), AcceptAll)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", args.rtmp))?
        .with_tap(Arc::new(origin.clone()));
    let rtmp_addr = server.local_addr()?;
    let mut http_config = HttpOriginConfig::default();
    http_config.player_pages = true;
    // hls.js for the player page: the copy `scripts/setup.sh` installs (npm) when there is
    // one, so the page plays offline; else the page loads it from a CDN.
    http_config.player_script = std::fs::read(HLS_JS_COPY).ok().map(Into::into);
    let http = HttpOrigin::bind(args.http, origin)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", args.http))?
        .with_config(http_config);
    let http_addr = http.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server_task = tokio::spawn(server.run_until(stopped(stop_rx.clone())));
    let http_task = tokio::spawn(http.run_until(stopped(stop_rx)));

    // The publishing side: onair's encoders and RTMP publisher, adapting to the link.
    let fps = FrameRate::new(args.fps, 1);
    let mut video = VideoEncoderConfig::new(width, height, fps, args.kbps * 1000);
    video.gop = args.fps; // a keyframe every second: 1 s segments
    if args.codec == Codec::H265 {
        video.codec = VideoCodec::H265;
        video.preset = "ultrafast".into(); // libx265 costs several times libx264's CPU
    }
    let mut config =
        PublisherConfig::new(video, AudioEncoderConfig::new(SAMPLE_RATE, 2, AUDIO_BPS));
    config.simulated_uplink_bps = (args.uplink_kbps > 0).then_some(args.uplink_kbps * 1000);
    let publisher = LivePublisher::connect(rtmp_addr, "live", &args.key, config).await?;
    info!("publishing rtmp://{rtmp_addr}/live/{}", args.key);
    info!(
        "watch:    http://{http_addr}/live/{}/ in a browser",
        args.key
    );
    info!(
        "or:       ffplay http://{http_addr}/live/{}/master.m3u8",
        args.key
    );

    // The camera: a thread of its own, in real time, until --seconds or Ctrl-C.
    let stop = Arc::new(AtomicBool::new(false));
    let camera = Camera {
        width,
        height,
        fps: args.fps,
        seconds: args.seconds,
        stop: stop.clone(),
    };
    let camera = std::thread::Builder::new()
        .name("camera".into())
        .spawn(move || camera.run(publisher))?;
    tokio::spawn(async move {
        onair::rtmp::shutdown_signal().await;
        stop.store(true, Ordering::Relaxed);
    });
    let (publisher, frames) = tokio::task::spawn_blocking(move || camera.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the camera thread panicked"))??;
    let stats = publisher.finish().await?;
    info!(
        frames,
        dropped = stats.dropped_video_frames,
        lowered = stats.lowered,
        raised = stats.raised,
        final_kbps = stats.final_bitrate / 1000,
        "camera stopped"
    );
    let _ = stop_tx.send(true);
    server_task.await??;
    http_task.await??;
    Ok(())
}

/// The synthetic camera and microphone.
struct Camera {
    width: u32,
    height: u32,
    fps: u32,
    seconds: u64,
    stop: Arc<AtomicBool>,
}

impl Camera {
    /// Makes pictures and sound in real time and pushes them into `publisher`; hands it back
    /// with the number of pictures made.
    fn run(&self, mut publisher: LivePublisher) -> anyhow::Result<(LivePublisher, u64)> {
        let fps = FrameRate::new(self.fps, 1);
        let mut picture = vec![0u8; RawVideoFrame::i420_len(self.width, self.height)];
        let samples_per_frame = SAMPLE_RATE / self.fps;
        let mut pcm = Vec::with_capacity(2 * samples_per_frame as usize);
        let mut sample = 0u64;
        let start = Instant::now();
        let total = self.seconds * u64::from(self.fps);
        let mut n = 0u64;
        while (total == 0 || n < total) && !self.stop.load(Ordering::Relaxed) {
            // real time: frame n is due at n / fps
            let due = Duration::from_secs_f64(n as f64 / f64::from(self.fps));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            draw(&mut picture, self.width, self.height, n, self.fps);
            let raw = RawVideoFrame::from_i420(self.width, self.height, &picture)?;
            publisher.push_video(&raw, n as i64 * fps.frame_duration())?;
            pcm.clear();
            for _ in 0..samples_per_frame {
                let t = sample as f64 / f64::from(SAMPLE_RATE);
                // a 440 Hz tone, louder for the first 100 ms of every second (the beep)
                let level = if t.fract() < 0.1 { 0.5 } else { 0.05 };
                let v = (level * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32;
                pcm.extend_from_slice(&[v, v]);
                sample += 1;
            }
            publisher.push_audio_f32(&pcm)?;
            n += 1;
        }
        Ok((publisher, n))
    }
}

/// Draws frame `n` of the test pattern into an I420 buffer: colour bars that scroll, a white
/// bar that crosses the picture once a second (with the beep at its left edge), a square of
/// noise, and a block per second counting up.
fn draw(buf: &mut [u8], width: u32, height: u32, n: u64, fps: u32) {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y_plane, chroma) = buf.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    const BARS: [(u8, u8, u8); 8] = [
        (235, 128, 128),
        (210, 16, 146),
        (170, 166, 16),
        (145, 54, 34),
        (106, 202, 222),
        (81, 90, 240),
        (41, 240, 110),
        (16, 128, 128),
    ];
    let shift = (n as usize * 4) % w;
    let in_second = (n % u64::from(fps)) as usize;
    let sweep_x = in_second * w / fps as usize;
    for row in 0..h {
        let line = &mut y_plane[row * w..(row + 1) * w];
        for (x, px) in line.iter_mut().enumerate() {
            let bar = ((x + shift) % w) * 8 / w;
            *px = BARS[bar].0;
        }
        let x0 = sweep_x.min(w.saturating_sub(8));
        line[x0..x0 + 8].fill(235);
    }
    for row in 0..ch {
        for x in 0..cw {
            let bar = ((2 * x + shift) % w) * 8 / w;
            u_plane[row * cw + x] = BARS[bar].1;
            v_plane[row * cw + x] = BARS[bar].2;
        }
    }
    // a square of faint noise, new every frame: real cameras never compress to nothing, and
    // it makes the encoder spend its bitrate (so a slow uplink shows)
    let mut seed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let side = (h / 4).min(w / 4);
    let (nx, ny) = (w - side - w / 20, h / 10);
    for row in ny..ny + side {
        for px in &mut y_plane[row * w + nx..row * w + nx + side] {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *px = 118 + (seed % 24) as u8;
        }
    }
    // seconds counter: one grey block per elapsed second, in a row at the bottom
    let seconds = (n / u64::from(fps)) as usize;
    let block = (w / 40).max(2);
    let top = h.saturating_sub(2 * block);
    for s in 0..seconds.min(w / (block + 2)) {
        let x = s * (block + 2);
        for row in top..(top + block).min(h) {
            y_plane[row * w + x..row * w + x + block].fill(128);
        }
    }
}
