//! DVR and VOD recordings against real programs. DVR: ffmpeg publishes over RTMP to an
//! in-process origin with a 60 s DVR window, at four times real time on an origin clock that
//! runs four times as fast (150 s of stream in under 40 s); the playlist lists a minute,
//! ffmpeg decodes a segment from 50 s back, and a segment that left the window is served
//! through its grace period, then 404. VOD: the server example with `--vod-dir` records a
//! 10 s publication, and ffmpeg/ffprobe play what it wrote.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use onair::hls::{Clock, HlsConfig};

use crate::hls_origin::{get, parse_playlist, LiveOrigin};
use crate::util::*;

/// Time that runs `speed` times as fast as the system's, from when it was made.
#[derive(Debug)]
struct FastClock {
    start: Instant,
    wall: SystemTime,
    speed: u32,
}

impl FastClock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed() * self.speed
    }
}

impl Clock for FastClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn wall_clock(&self) -> SystemTime {
        self.wall + self.elapsed()
    }
}

const SPEED: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dvr_lists_a_minute_and_serves_through_the_grace() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let clock = Arc::new(FastClock {
        start: Instant::now(),
        wall: SystemTime::now(),
        speed: SPEED,
    });
    let mut config = HlsConfig::default();
    config.segment_duration = Duration::from_secs(2);
    config.dvr = Some(Duration::from_secs(60));
    let origin = LiveOrigin::start_with_clock(config, clock.clone()).await?;
    // 150 s of media (the 10 s file 15 times) at 4x: as the origin's clock runs
    let url = origin.rtmp_url("live/dvr");
    let publisher = {
        let (ffmpeg, src) = (ffmpeg.clone(), src.clone());
        tokio::spawn(async move {
            let src = path_str(&src)?.to_owned();
            let speed = SPEED.to_string();
            run_ok(
                &ffmpeg,
                &[
                    "-v",
                    "error",
                    "-stream_loop",
                    "14",
                    "-readrate",
                    &speed,
                    "-i",
                    &src,
                    "-c",
                    "copy",
                    "-f",
                    "flv",
                    &url,
                ],
                Duration::from_secs(90),
            )
            .await
        })
    };
    let base = "/live/dvr";
    let http = origin.http;
    let fetch = |file: String| async move { get(http, &format!("{base}/{file}")).await };

    let deadline = Instant::now() + Duration::from_secs(80);
    let mut first: Option<(String, f64)> = None;
    let mut left: Option<Duration> = None;
    let mut longest = 0.0f64;
    let mut full = None;
    let mut back_50 = None;
    let mut served_in_grace = 0u32;
    let gone = loop {
        ensure!(Instant::now() < deadline, "the first segment was never 404");
        ensure!(
            !publisher.is_finished(),
            "the publisher ended early: {:?}",
            publisher.await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = fetch("index.m3u8".into()).await?;
        if r.status == 404 {
            continue;
        }
        ensure!(r.status == 200, "playlist: {}", r.status);
        let p = parse_playlist(&r.text())?;
        let listed: f64 = p.segments.iter().map(|s| s.0).sum();
        longest = longest.max(listed);
        let Some((name, _)) = &first else {
            first = p.segments.first().map(|(d, n)| (n.clone(), *d));
            continue;
        };
        let now = clock.elapsed();
        if left.is_none() && !p.segments.iter().any(|s| &s.1 == name) {
            eprintln!(
                "{name} left the playlist at {:.1} s: {} segments, {listed:.2} s listed",
                now.as_secs_f64(),
                p.segments.len()
            );
            left = Some(now);
            full = Some((p.segments.len(), listed, p.target_duration));
        }
        // a segment from about 50 s back, once there is that much
        if back_50.is_none() && listed >= 56.0 {
            let mut back = 0.0;
            let segment = p.segments.iter().rev().find(|(d, _)| {
                back += d;
                back >= 50.0
            });
            if let Some((_, segment)) = segment {
                let r = fetch(segment.clone()).await?;
                ensure!(r.status == 200, "{segment}, {back:.1} s back: {}", r.status);
                let frames = decode(
                    &ffmpeg,
                    &origin.http_url(&format!("live/dvr/{segment}")),
                    None,
                    segment,
                )
                .await?;
                eprintln!(
                    "{segment}, {back:.1} s behind the live edge: 200, {} bytes, {frames} frames decoded",
                    r.body.len()
                );
                back_50 = Some((segment.clone(), back, frames));
            }
        }
        if let Some(at) = left {
            let r = fetch(name.clone()).await?;
            let since = now.saturating_sub(at);
            match r.status {
                200 => served_in_grace += 1,
                404 => break since,
                s => bail!("{name}: {s}"),
            }
        }
    };
    let (count, listed, target) = full.context("the window never slid")?;
    let (segment, back, frames) = back_50.context("no segment 50 s back was fetched")?;
    // RFC 8216 6.2.2: the segment's duration plus the playlist's (60 s), counted as two
    // declared target durations more than the window
    let grace = Duration::from_secs(60 + 2 * target);
    eprintln!(
        "DVR 60 s: {count} segments listing {listed:.2} s when the first left (at most \
         {longest:.2} s ever); {segment} from {back:.1} s back served and decoded ({frames} \
         frames); the first segment served {served_in_grace} times in its grace, 404 {:.1} s \
         (origin time) after leaving the playlist (grace {grace:?})",
        gone.as_secs_f64()
    );
    ensure!(
        (56.0..=60.0 + 1e-6).contains(&listed) && longest <= 60.0 + 1e-6,
        "listed {listed} s (longest {longest} s) for a 60 s window"
    );
    ensure!(
        frames >= 55,
        "{frames} frames decoded from a 2 s segment at 30 fps"
    );
    // polled every 200 ms real (0.8 s of origin time); expiry runs as media arrives
    ensure!(
        gone + Duration::from_secs(2) >= grace && gone <= grace + Duration::from_secs(6),
        "404 after {gone:?}, the grace is {grace:?}"
    );
    ensure!(
        served_in_grace > 10,
        "served only {served_in_grace} times in its grace"
    );
    publisher.abort();
    origin.stop().await
}

/// The files of `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// ffprobe's duration of a playlist, seconds.
async fn probe_duration(playlist: &Path) -> Result<f64> {
    let f = run_ok(
        &tool("ffprobe"),
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            path_str(playlist)?,
        ],
        Duration::from_secs(60),
    )
    .await?;
    ensure!(f.stderr.trim().is_empty(), "ffprobe: {}", f.stderr);
    Ok(f.stdout.trim().parse()?)
}

/// Publishes the 10 s test file to the server example run with `flags` and `--vod-dir`;
/// checks that the recording it writes when the publisher leaves plays whole: the master and
/// every media playlist decode without a message, with every frame published, and ffprobe
/// reads 10 s. Returns the renditions' playlists.
async fn vod_of_a_publication(name: &str, flags: &[&str]) -> Result<Vec<String>> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let (published, _) = probe_packets(&src).await?;
    let dir = test_dir(name)?;
    let vod = dir.path().join("vod");
    let (rtmp, http) = (free_addr()?, free_addr()?);
    let mut args = vec![
        "--rtmp".to_owned(),
        rtmp.to_string(),
        "--http".to_owned(),
        http.to_string(),
        "--vod-dir".to_owned(),
        path_str(&vod)?.to_owned(),
    ];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let mut server = spawn_example(
        "server",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "info",
    )?;
    wait_for_listener(rtmp, &mut server, Duration::from_secs(30)).await?;
    let started = Instant::now();
    publish_file(
        &ffmpeg,
        &src,
        &format!("rtmp://{rtmp}/live/{name}"),
        &[],
        Duration::from_secs(40),
    )
    .await?;
    let published_in = started.elapsed();
    // the recording is complete once its master is written
    let stream = vod.join("live").join(name);
    let deadline = Instant::now() + Duration::from_secs(30);
    let recording = loop {
        if let Some(life) = listing(&stream).first() {
            if stream.join(life).join("master.m3u8").is_file() {
                break stream.join(life);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "no VOD master in {}",
            stream.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let written_after = started.elapsed().saturating_sub(published_in);
    server.start_kill()?;
    let _ = server.wait().await;

    let master = std::fs::read_to_string(recording.join("master.m3u8"))?;
    let playlists: Vec<String> = master
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let mut report = Vec::new();
    for file in std::iter::once("master.m3u8".to_owned()).chain(playlists.iter().cloned()) {
        let path = recording.join(&file);
        let text = std::fs::read_to_string(&path)?;
        if file != "master.m3u8" {
            ensure!(
                text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && text.ends_with("#EXT-X-ENDLIST\n"),
                "{file}:\n{text}"
            );
            let p = parse_playlist(&text)?;
            for (_, segment) in &p.segments {
                ensure!(
                    recording.join(segment).is_file(),
                    "{segment} of {file} not written"
                );
            }
        }
        let frames = decode(&ffmpeg, path_str(&path)?, None, &file).await?;
        let duration = probe_duration(&path).await?;
        report.push(format!("{file}: {frames} frames, {duration:.3} s"));
        ensure!(
            frames == published.len() as u64,
            "{file}: {frames} frames decoded, {} published",
            published.len()
        );
        ensure!(
            (duration - 10.0).abs() < 0.25,
            "{file}: ffprobe reads {duration} s"
        );
    }
    eprintln!(
        "{name}: published in {:.1} s, recording complete {:.2} s after the publisher left, \
         {} files in {}; {}",
        published_in.as_secs_f64(),
        written_after.as_secs_f64(),
        listing(&recording).len(),
        recording.display(),
        report.join("; ")
    );
    Ok(playlists)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vod_of_a_ladder_plays_whole() -> Result<()> {
    let playlists =
        vod_of_a_publication("vodladder", &["--ladder", "source,240p", "--segment", "2"]).await?;
    ensure!(
        playlists.len() == 2 && playlists.contains(&"240p.m3u8".to_owned()),
        "master lists {playlists:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vod_of_fmp4_plays_whole() -> Result<()> {
    let playlists = vod_of_a_publication("vodfmp4", &["--hls", "fmp4", "--segment", "2"]).await?;
    ensure!(playlists == ["index.m3u8"], "master lists {playlists:?}");
    Ok(())
}
