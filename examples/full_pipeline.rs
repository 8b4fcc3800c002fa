//! The whole road in one process: a synthetic camera -> onair's encoder (H.264 + AAC through
//! FFmpeg) -> RTMP publish -> onair's RTMP server -> live HLS packaging -> the HTTP origin ->
//! your browser.
//!
//! ```text
//! cargo run --release --example full_pipeline
//! # then open http://127.0.0.1:8080/live/demo/ (hls.js), or: ffplay http://127.0.0.1:8080/live/demo/index.m3u8
//! cargo run --release --example full_pipeline -- --hls ll --uplink-kbps 800   # LL-HLS over a slow uplink
//! ```
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use onair::encoder::{
    AudioEncoder, AudioEncoderConfig, FrameRate, RateChange, RateConfig, RateController,
    RawVideoFrame, VideoEncoder, VideoEncoderConfig,
};
use onair::hls::{HlsConfig, HlsOrigin, HttpOrigin, HttpOriginConfig};
use onair::rtmp::{AcceptAll, RtmpClient, RtmpServer, RtmpServerConfig};
use onair::rtmp_proto::amf0::Amf0Value;
use onair::rtmp_proto::flv::{FlvTagType, MediaMuxer, MuxedTag};
use tokio::sync::mpsc;
use tracing::{info, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HlsMode {
    /// MPEG-TS segments of 2 s.
    Ts,
    /// Low-Latency HLS: fMP4 segments of 1 s with parts of a third of a second.
    Ll,
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
    /// Simulate an upload link of this many kbit/s between encoder and server (0: unlimited).
    #[arg(long, default_value_t = 0)]
    uplink_kbps: u64,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Stream key (played at /live/KEY/).
    #[arg(long, default_value = "demo")]
    key: String,
}

/// What the encoder thread hands the publisher.
enum Out {
    Tag(MuxedTag),
    End,
}

/// Shared between the encoder thread and the publisher task.
struct Link {
    /// Timestamp (ms) of the last tag handed to the publisher.
    enqueued_ms: AtomicU64,
    /// Timestamp (ms) of the last tag the publisher sent.
    sent_ms: AtomicU64,
    /// Bytes the publisher has handed to the socket so far.
    sent_bytes: AtomicU64,
}

impl Link {
    /// Media waiting to be sent.
    fn queued(&self) -> Duration {
        let enqueued = self.enqueued_ms.load(Ordering::Relaxed);
        let sent = self.sent_ms.load(Ordering::Relaxed);
        Duration::from_millis(enqueued.saturating_sub(sent))
    }
}

const SAMPLE_RATE: u32 = 48_000;
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

    // The server side: RTMP in, HLS out.
    let origin = HlsOrigin::new(match args.hls {
        HlsMode::Ts => HlsConfig::default(),
        HlsMode::Ll => HlsConfig::low_latency(),
    })?;
    let server = RtmpServer::bind(args.rtmp, RtmpServerConfig::default(), AcceptAll)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", args.rtmp))?
        .with_tap(Arc::new(origin.clone()));
    let rtmp_addr = server.local_addr()?;
    let mut http_config = HttpOriginConfig::default();
    http_config.player_pages = true;
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
    let http_task = tokio::spawn(http.run_until(stopped(stop_rx.clone())));

    // The camera and encoder, on a thread of their own (CPU-bound, paced by the clock).
    let link = Arc::new(Link {
        enqueued_ms: AtomicU64::new(0),
        sent_ms: AtomicU64::new(0),
        sent_bytes: AtomicU64::new(0),
    });
    let capacity = (args.fps as usize) * 4; // about 2 s of video and audio tags
    let (tx, mut rx) = mpsc::channel::<Out>(capacity);
    let camera = Camera {
        width,
        height,
        fps: args.fps,
        kbps: args.kbps,
        seconds: args.seconds,
    };
    let encoder_link = link.clone();
    let encoder_stop = stop_rx.clone();
    let encoder = std::thread::Builder::new()
        .name("encoder".into())
        .spawn(move || camera.run(&tx, &encoder_link, &encoder_stop))?;

    // The publisher: RTMP to our own server.
    let url = format!("rtmp://{rtmp_addr}/live");
    let mut client = RtmpClient::connect(rtmp_addr, "live", &url).await?;
    client.publish(&args.key).await?;
    client
        .send_metadata(&[
            ("width".into(), Amf0Value::Number(f64::from(width))),
            ("height".into(), Amf0Value::Number(f64::from(height))),
            ("framerate".into(), Amf0Value::Number(f64::from(args.fps))),
            ("videocodecid".into(), Amf0Value::Number(7.0)),
            ("videodatarate".into(), Amf0Value::Number(args.kbps as f64)),
            ("audiocodecid".into(), Amf0Value::Number(10.0)),
            (
                "audiosamplerate".into(),
                Amf0Value::Number(f64::from(SAMPLE_RATE)),
            ),
            (
                "encoder".into(),
                Amf0Value::String("onair full_pipeline".into()),
            ),
        ])
        .await?;
    info!("publishing rtmp://{rtmp_addr}/live/{}", args.key);
    info!(
        "watch:    http://{http_addr}/live/{}/ in a browser",
        args.key
    );
    info!(
        "or:       ffplay http://{http_addr}/live/{}/index.m3u8",
        args.key
    );

    let shutdown = onair::rtmp::shutdown_signal();
    tokio::pin!(shutdown);
    let uplink_bps = args.uplink_kbps * 1000;
    let started = Instant::now();
    let mut sent_bits = 0u64;
    let (mut video_tags, mut audio_tags) = (0u64, 0u64);
    loop {
        let out = tokio::select! {
            _ = &mut shutdown => break,
            out = rx.recv() => out,
        };
        let Some(Out::Tag(tag)) = out else { break };
        let ms = u64::try_from(tag.timestamp_ms).unwrap_or(0);
        match tag.tag_type {
            FlvTagType::Video => {
                client.send_video(ms, &tag.data).await?;
                video_tags += 1;
            }
            _ => {
                client.send_audio(ms, &tag.data).await?;
                audio_tags += 1;
            }
        }
        client.flush().await?;
        link.sent_bytes
            .fetch_add(tag.data.len() as u64, Ordering::Relaxed);
        link.sent_ms.fetch_max(ms, Ordering::Relaxed);
        if uplink_bps > 0 {
            // A link of `uplink_bps`: this tag's bits leave no earlier than the link allows.
            sent_bits += (tag.data.len() as u64 + 16) * 8;
            let due = Duration::from_secs_f64(sent_bits as f64 / uplink_bps as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    info!(video_tags, audio_tags, "publisher done");
    let _ = stop_tx.send(true);
    if let Err(e) = client.close().await {
        warn!(error = %e, "closing the RTMP connection");
    }
    match encoder.join() {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("the encoder thread panicked"),
    }
    server_task.await??;
    http_task.await??;
    Ok(())
}

/// The synthetic camera and microphone, and their encoders.
struct Camera {
    width: u32,
    height: u32,
    fps: u32,
    kbps: u64,
    seconds: u64,
}

impl Camera {
    fn run(
        &self,
        tx: &mpsc::Sender<Out>,
        link: &Link,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let fps = FrameRate::new(self.fps, 1);
        let mut video = VideoEncoder::new(VideoEncoderConfig::new(
            self.width,
            self.height,
            fps,
            self.kbps * 1000,
        ))?;
        let mut audio = AudioEncoder::new(AudioEncoderConfig::new(SAMPLE_RATE, 2, AUDIO_BPS))?;
        let mut muxer = MediaMuxer::new();
        let send = |tag: MuxedTag| -> bool {
            let ms = u64::try_from(tag.timestamp_ms).unwrap_or(0);
            link.enqueued_ms.fetch_max(ms, Ordering::Relaxed);
            tx.blocking_send(Out::Tag(tag)).is_ok()
        };
        for track in [video.track_info().clone(), audio.track_info().clone()] {
            if let Some(tag) = muxer.track(&track)? {
                if !send(tag) {
                    return Ok(());
                }
            }
        }

        let mut picture = vec![0u8; RawVideoFrame::i420_len(self.width, self.height)];
        let samples_per_frame = SAMPLE_RATE / self.fps;
        let mut pcm = Vec::with_capacity(2 * samples_per_frame as usize);
        let mut sample = 0u64;
        let mut rate = RateController::new(RateConfig::new(self.kbps * 1000, AUDIO_BPS));
        let mut dropping = false;
        let (mut dropped, mut lowered, mut raised) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        let total = self.seconds * u64::from(self.fps);
        let mut n = 0u64;
        while (total == 0 || n < total) && !*stop.borrow() {
            // real time: frame n is due at n / fps
            let due = Duration::from_secs_f64(n as f64 / f64::from(self.fps));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }

            // Adapt to the link (onair_encoder::RateController: bitrate down to what the link
            // carries when media queues up, back up step by step when it keeps up).
            let queued = link.queued();
            let sent = link.sent_bytes.load(Ordering::Relaxed);
            match rate.update(start.elapsed(), queued, sent) {
                Some(RateChange::Lowered { bps, link_bps }) => {
                    video.set_bitrate(bps)?;
                    lowered += 1;
                    info!(
                        queued_ms = queued.as_millis() as u64,
                        link_kbps = link_bps / 1000,
                        kbps = bps / 1000,
                        "uplink too slow: lowering the bitrate"
                    );
                }
                Some(RateChange::Raised { bps }) => {
                    video.set_bitrate(bps)?;
                    raised += 1;
                    info!(kbps = bps / 1000, "uplink keeps up: raising the bitrate");
                }
                None => {}
            }

            draw(&mut picture, self.width, self.height, n, self.fps);
            let raw = RawVideoFrame::from_i420(self.width, self.height, &picture)?;
            video.encode(&raw, n as i64 * fps.frame_duration())?;
            pcm.clear();
            for _ in 0..samples_per_frame {
                let t = sample as f64 / f64::from(SAMPLE_RATE);
                // a 440 Hz tone, louder for the first 100 ms of every second (the beep)
                let level = if t.fract() < 0.1 { 0.5 } else { 0.05 };
                let v = (level * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32;
                pcm.extend_from_slice(&[v, v]);
                sample += 1;
            }
            audio.push_f32(&pcm)?;

            while let Some(frame) = video.poll_frame() {
                // More than about 1.5 s queued: drop video up to the next keyframe (of the
                // regular GOP: forcing one would spend many bits just when they are short),
                // so what goes out stays decodable and the stream does not fall further behind.
                let backlog = rate.should_drop(link.queued());
                if dropping && frame.keyframe && !backlog {
                    dropping = false;
                }
                if backlog && !dropping {
                    dropping = true;
                }
                if dropping {
                    dropped += 1;
                    continue;
                }
                if !send(muxer.frame(&frame)?) {
                    return Ok(());
                }
            }
            while let Some(frame) = audio.poll_frame() {
                if !send(muxer.frame(&frame)?) {
                    return Ok(());
                }
            }
            n += 1;
        }
        video.flush()?;
        audio.flush()?;
        while let Some(frame) = video.poll_frame().or_else(|| audio.poll_frame()) {
            if !send(muxer.frame(&frame)?) {
                return Ok(());
            }
        }
        info!(
            frames = n,
            dropped,
            lowered,
            raised,
            final_kbps = rate.bitrate() / 1000,
            "camera stopped"
        );
        let _ = tx.blocking_send(Out::End);
        Ok(())
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
