//! The live HLS origin with a transcoding ladder: ffmpeg publishes 1080p over RTMP to the
//! in-process server; the origin decodes it once and serves every rendition; ffmpeg and
//! ffprobe read them back over HTTP. Also: a ladder that cannot keep up sheds its most
//! expensive rungs and the others stay on time; admission shortens a ladder the CPU budget
//! cannot hold; the server example's GPU policies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use onair::hls::{HlsConfig, LadderConfig, StreamSummary};
use onair_testkit::Lavfi;

use crate::hls_origin::{get, hls_decode_args, parse_playlist, LiveOrigin};
use crate::util::*;

/// 1080p30 H.264 (1 s GOP, no B-frames) + AAC, `seconds` long.
fn source_1080p(seconds: u32) -> PathBuf {
    let name = format!("h264_1080p30_{seconds}s.flv");
    Lavfi {
        video: "testsrc2=size=1920x1080:rate=30",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-bf",
            "0",
            "-b:v",
            "5M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "flv",
        ],
    }
    .cached(
        tool("ffmpeg"),
        &onair_testkit::cache_dir(env!("CARGO_TARGET_TMPDIR"), "interop-media"),
        &name,
    )
}

/// The heavy cases take both cores: one at a time.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn ladder_config(ladder: &str, preset: &str) -> HlsConfig {
    let mut config = HlsConfig::default();
    config.segment_duration = Duration::from_secs(1);
    config.window = 30;
    config.ladder = Some(
        LadderConfig::new(ladder.parse().expect("ladder"))
            .with_preset(preset)
            .with_cpu_budget(None),
    );
    config
}

/// The variants of a master playlist: URI -> (RESOLUTION, CODECS, BANDWIDTH).
async fn variants(
    live: &LiveOrigin,
    base: &str,
) -> Result<BTreeMap<String, (String, String, u64)>> {
    let r = get(live.http, &format!("{base}/master.m3u8")).await?;
    ensure!(r.status == 200, "master: {} {}", r.status, r.text());
    let master = onair_testkit::m3u8::read_master(&r.text());
    Ok(master
        .variants
        .iter()
        .map(|v| {
            let resolution = v
                .resolution
                .map(|r| format!("{}x{}", r.width, r.height))
                .unwrap_or_default();
            let codecs = v.codecs.clone().unwrap_or_default();
            (v.uri.clone(), (resolution, codecs, v.bandwidth))
        })
        .collect())
}

/// Waits until `until` holds of the stream's summary.
async fn wait_summary(
    live: &LiveOrigin,
    name: &str,
    limit: Duration,
    until: impl Fn(&StreamSummary) -> bool,
) -> Result<StreamSummary> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = live.origin.stream_summary("live", name) {
            if until(&s) {
                return Ok(s);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "gave up waiting: {:#?}",
            live.origin.stream_summary("live", name)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Keyframe presentation times (ms) in a TS file, and whether its first video packet is one.
async fn keyframes(file: &Path) -> Result<(Vec<i64>, bool)> {
    let out = run_ok(
        &tool("ffprobe"),
        &[
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            path_str(file)?,
        ],
        Duration::from_secs(20),
    )
    .await?;
    let packets: Vec<(f64, bool)> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (pts, flags) = l.split_once(',')?;
            Some((pts.parse().ok()?, flags.starts_with('K')))
        })
        .collect();
    let first_is_key = packets.first().is_some_and(|(_, k)| *k);
    Ok((
        packets
            .iter()
            .filter(|(_, k)| *k)
            .map(|(t, _)| (t * 1000.0).round() as i64)
            .collect(),
        first_is_key,
    ))
}

/// `source,720p,480p,360p` from a 1080p publisher: four renditions, listed with their own
/// resolution and codecs in the master; identical segment numbers and EXTINFs; every segment
/// of every rendition starts with a keyframe and the keyframes sit at the same presentation
/// times in all of them; each decodes cleanly in ffmpeg; and once the publisher left, the
/// master still describes every rendition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_ladder_has_aligned_renditions() -> Result<()> {
    let _heavy = HEAVY.lock().await;
    let ffmpeg = tool("ffmpeg");
    let src = source_1080p(12);
    let mut config = ladder_config("source,720p,480p,360p", "veryfast");
    // about alignment, not shedding: other tests may share the cores
    if let Some(ladder) = &mut config.ladder {
        ladder.max_lag = Duration::from_secs(30);
    }
    let live = LiveOrigin::start(config).await?;
    let base = "/live/ladder";
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        live.rtmp_url("live/ladder"),
        &[],
        Duration::from_secs(60),
    );
    // the master answers once every rendition has its first segment
    let deadline = Instant::now() + Duration::from_secs(20);
    let during = loop {
        let v = variants(&live, base).await;
        match v {
            Ok(v) if v.len() == 4 => break v,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(300)).await,
            other => anyhow::bail!("master while publishing: {other:?}"),
        }
    };
    eprintln!("ladder master while publishing: {during:?}");
    let expected = [
        ("source.m3u8", "1920x1080"),
        ("720p.m3u8", "1280x720"),
        ("480p.m3u8", "854x480"),
        ("360p.m3u8", "640x360"),
    ];
    for (uri, resolution) in expected {
        let (res, codecs, bandwidth) = during.get(uri).with_context(|| format!("{uri} listed"))?;
        ensure!(res == resolution, "{uri}: RESOLUTION={res}");
        ensure!(
            codecs.contains("avc1.") && codecs.contains("mp4a.40.2"),
            "{uri}: CODECS={codecs}"
        );
        ensure!(*bandwidth > 0, "{uri}: BANDWIDTH");
    }
    publisher.await??;
    let summary = wait_summary(&live, "ladder", Duration::from_secs(15), |s| !s.publishing).await?;
    // the tail of every rendition is listed once the ladder flushed
    tokio::time::sleep(Duration::from_secs(2)).await;

    let dir = test_dir("live-ladder")?;
    let mut extinfs = Vec::new();
    let mut keys = Vec::new();
    for (uri, _) in expected {
        let r = get(live.http, &format!("{base}/{uri}")).await?;
        ensure!(r.status == 200, "{uri}: {}", r.status);
        let playlist = parse_playlist(&r.text())?;
        let listed: Vec<(u64, String)> = playlist
            .segments
            .iter()
            .enumerate()
            .map(|(i, (d, _))| (playlist.media_sequence + i as u64, format!("{d:.3}")))
            .collect();
        let mut all_keys = Vec::new();
        for (i, (_, name)) in playlist.segments.iter().enumerate() {
            let seg = get(live.http, &format!("{base}/{name}")).await?;
            ensure!(seg.status == 200, "{name}: {}", seg.status);
            let file = dir.path().join(name);
            std::fs::write(&file, &seg.body)?;
            let (k, first_is_key) = keyframes(&file).await?;
            ensure!(
                first_is_key,
                "{uri}: segment {i} ({name}) does not start with a keyframe"
            );
            all_keys.extend(k);
        }
        let decoded = run(
            &ffmpeg,
            &hls_decode_args(&live.http_url(&format!("live/ladder/{uri}")), "3"),
            Duration::from_secs(60),
        )
        .await?;
        ensure!(
            decoded.success && decoded.stderr.trim().is_empty(),
            "{uri} does not decode cleanly: {}",
            decoded.stderr
        );
        let frames = last_progress_frames(&decoded.stdout);
        eprintln!(
            "ladder {uri}: {} segments from {}, keyframes {:?}, ffmpeg decoded {frames} frames \
             silently",
            listed.len(),
            playlist.media_sequence,
            &all_keys
        );
        ensure!(frames >= 300, "{uri}: decoded {frames} frames of 12 s");
        extinfs.push((uri, listed));
        keys.push((uri, all_keys));
    }
    for (uri, listed) in &extinfs[1..] {
        ensure!(
            listed == &extinfs[0].1,
            "{uri} lists {listed:?}, source {:?}",
            extinfs[0].1
        );
    }
    for (uri, k) in &keys[1..] {
        ensure!(
            k == &keys[0].1,
            "{uri} keyframes {k:?}, source {:?}",
            keys[0].1
        );
    }
    let after = variants(&live, base).await?;
    ensure!(
        after
            == during
                .iter()
                .map(|(uri, (res, codecs, _))| (
                    uri.clone(),
                    (res.clone(), codecs.clone(), after[uri].2)
                ))
                .collect(),
        "master once the publisher left: {after:?}"
    );
    for r in &summary.renditions {
        eprintln!(
            "ladder {}: {} segments listed, late {}, max {:?} after their last frame arrived",
            r.playlist, r.listing.segments, r.listing.late, r.listing.max_delay
        );
    }
    live.stop().await
}

/// 1080p into four rungs at preset `medium` is more than two cores keep up with: the ladder
/// sheds its most expensive rungs (logged, counted), the shed renditions leave the master and
/// answer 404, and once it settled the remaining playlists stay on time: no segment listed
/// more than a second after its last frame arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_ladder_sheds_rungs_and_the_rest_stay_on_time() -> Result<()> {
    let _heavy = HEAVY.lock().await;
    let ffmpeg = tool("ffmpeg");
    let src = source_1080p(30);
    // 1080p below the source's 5 Mbit/s, so that it is made, at the source's size
    let live = LiveOrigin::start(ladder_config("1080p@4000k,720p,480p,360p", "medium")).await?;
    let base = "/live/heavy";
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        live.rtmp_url("live/heavy"),
        &[],
        Duration::from_secs(90),
    );
    let started = Instant::now();
    let first = wait_summary(&live, "heavy", Duration::from_secs(25), |s| {
        s.ladder.as_ref().is_some_and(|l| !l.shed.is_empty())
    })
    .await?;
    let first_shed = started.elapsed();
    // settled: nothing more shed for three seconds, and back within a second of the
    // publisher for two checks in a row
    let mut shed = first.ladder.map(|l| l.shed).unwrap_or_default();
    let mut quiet_since = Instant::now();
    let mut on_time = 0;
    let settled = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = live
            .origin
            .stream_summary("live", "heavy")
            .context("stream")?;
        let report = s.ladder.clone().unwrap_or_default();
        if report.shed != shed {
            shed = report.shed;
            quiet_since = Instant::now();
        }
        on_time = if report.lag <= Duration::from_secs(1) {
            on_time + 1
        } else {
            0
        };
        if quiet_since.elapsed() >= Duration::from_secs(3) && on_time >= 2 {
            break s;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(40),
            "never settled: {s:#?}"
        );
    };
    let settled_at = started.elapsed();
    let master = variants(&live, base).await?;
    for name in &shed {
        let uri = format!("{name}.m3u8");
        ensure!(
            !master.contains_key(&uri),
            "{uri} still in the master: {master:?}"
        );
        let r = get(live.http, &format!("{base}/{uri}")).await?;
        ensure!(r.status == 404, "shed {uri}: {}", r.status);
    }
    ensure!(!master.is_empty(), "nothing left");
    // what the remaining renditions list from here on
    tokio::time::sleep(Duration::from_secs(8)).await;
    let later = live
        .origin
        .stream_summary("live", "heavy")
        .context("stream")?;
    ensure!(
        later.publishing,
        "the publisher stopped before the window ended"
    );
    for r in &later.renditions {
        let before = settled
            .renditions
            .iter()
            .find(|b| b.playlist == r.playlist)
            .map(|b| b.listing)
            .unwrap_or_default();
        let (listed, late) = (
            r.listing.segments - before.segments,
            r.listing.late - before.late,
        );
        eprintln!(
            "overload {}: {listed} segments listed in the 8 s after it settled, {late} late \
             (over the whole run {} of {}, max {:?})",
            r.playlist, r.listing.late, r.listing.segments, r.listing.max_delay
        );
        ensure!(listed >= 6, "{}: only {listed} segments in 8 s", r.playlist);
        ensure!(
            late == 0,
            "{}: {late} segments late after settling",
            r.playlist
        );
    }
    let report = later.ladder.context("ladder report")?;
    eprintln!(
        "overload: shed {:?} (first after {first_shed:?}, settled after {settled_at:?}), most \
         behind {:?}, input dropped {}; master now {:?}",
        report.shed,
        report.max_lag,
        report.dropped_frames,
        master.keys().collect::<Vec<_>>()
    );
    ensure!(
        report.shed.first().map(String::as_str) == Some("1080p"),
        "{report:?}"
    );
    publisher.abort();
    live.stop().await
}

/// A CPU budget the ladder cannot fit: the stream is packaged as published (one variant,
/// `index.m3u8`), and the report names the rungs left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_packages_as_published_when_no_rung_fits() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = source_1080p(12);
    let mut config = ladder_config("source,480p,360p", "veryfast");
    if let Some(ladder) = config.ladder.take() {
        config.ladder = Some(ladder.with_cpu_budget(Some(0.0)));
    }
    let live = LiveOrigin::start(config).await?;
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        live.rtmp_url("live/tight"),
        &["-t", "4"],
        Duration::from_secs(30),
    );
    let summary = wait_summary(&live, "tight", Duration::from_secs(15), |s| {
        s.renditions.iter().any(|r| r.listing.segments > 0)
    })
    .await?;
    let report = summary.ladder.clone().context("admission report")?;
    eprintln!("admission: {report:?}; renditions {:?}", summary.renditions);
    ensure!(report.admission_dropped == ["480p", "360p"], "{report:?}");
    let master = variants(&live, "/live/tight").await?;
    ensure!(
        master.keys().collect::<Vec<_>>() == ["index.m3u8"],
        "{master:?}"
    );
    publisher.await??;
    live.stop().await
}

/// The server example's GPU policies on a machine without a GPU encoder: `gpu-only` refuses
/// to start and says why; `gpu-then-cpu` starts, says it falls back, and transcodes on the CPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gpu_policies_refuse_or_fall_back() -> Result<()> {
    let (rtmp, http) = (free_addr()?, free_addr()?);
    let (rtmp, http) = (rtmp.to_string(), http.to_string());
    let args = |hw: &'static str| {
        vec![
            "--rtmp".to_owned(),
            rtmp.clone(),
            "--http".to_owned(),
            http.clone(),
            "--ladder".to_owned(),
            "480p,360p".to_owned(),
            "--hw".to_owned(),
            hw.to_owned(),
        ]
    };
    let only = spawn_example(
        "server",
        &args("gpu-only")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "info",
    )?;
    let out = tokio::time::timeout(Duration::from_secs(30), only.wait_with_output())
        .await
        .context("gpu-only did not exit")??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("gpu-only: {} / {}", out.status, stderr.trim());
    ensure!(!out.status.success(), "gpu-only started without a GPU");
    ensure!(
        stderr.contains("--hw gpu-only") && stderr.to_lowercase().contains("gpu"),
        "no clear reason: {stderr}"
    );
    let mut fallback = spawn_example(
        "server",
        &args("gpu-then-cpu")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "info",
    )?;
    wait_for_listener(rtmp.parse()?, &mut fallback, Duration::from_secs(30)).await?;
    fallback.start_kill()?;
    let out = fallback.wait_with_output().await?;
    let logs = String::from_utf8_lossy(&out.stdout);
    let said = logs
        .lines()
        .find(|l| l.contains("encoding on the cpu") || l.contains("encoding on the CPU"))
        .with_context(|| format!("no fallback logged: {logs}"))?;
    eprintln!("gpu-then-cpu: {said}");
    Ok(())
}

/// Admission protects the streams already running: with a budget that one 1080p ladder fits
/// and two do not, a second publisher's ladder starts shorter (its report names the rungs
/// left out), and the first stream keeps every rendition and lists every segment on time
/// while the second runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_starts_a_second_ladder_shorter_and_the_first_keeps_time() -> Result<()> {
    let _heavy = HEAVY.lock().await;
    let ffmpeg = tool("ffmpeg");
    let src = source_1080p(30);
    let mut config = ladder_config("source,720p,480p,360p", "veryfast");
    if let Some(ladder) = config.ladder.take() {
        // 45% of two cores: the first ladder (about 0.6 cores by the model) fits, a second
        // one on top of what the first measurably spends does not
        config.ladder = Some(ladder.with_cpu_budget(Some(0.45)));
    }
    let live = LiveOrigin::start(config).await?;
    let first = spawn_publisher(
        &ffmpeg,
        &src,
        live.rtmp_url("live/first"),
        &[],
        Duration::from_secs(90),
    );
    let a = wait_summary(&live, "first", Duration::from_secs(20), |s| {
        s.renditions.len() == 4 && s.renditions.iter().all(|r| r.listing.segments >= 6)
    })
    .await?;
    let second = spawn_publisher(
        &ffmpeg,
        &src,
        live.rtmp_url("live/second"),
        &["-t", "15"],
        Duration::from_secs(60),
    );
    let b = wait_summary(&live, "second", Duration::from_secs(20), |s| {
        s.renditions.iter().any(|r| r.listing.segments > 0)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let a_later = live
        .origin
        .stream_summary("live", "first")
        .context("first")?;
    let b_report = b.ladder.clone().context("second's report")?;
    eprintln!(
        "admission: second stream admitted {:?}, left out {:?}, serving {:?}",
        b_report.admitted,
        b_report.admission_dropped,
        b.renditions.iter().map(|r| &r.playlist).collect::<Vec<_>>()
    );
    ensure!(
        !b_report.admission_dropped.is_empty(),
        "the second ladder started whole: {b_report:?}"
    );
    let a_report = a_later.ladder.clone().context("first's report")?;
    ensure!(
        a_report.shed.is_empty(),
        "the first stream shed {:?}",
        a_report.shed
    );
    ensure!(a_later.renditions.len() == 4, "{:?}", a_later.renditions);
    for r in &a_later.renditions {
        let before = a
            .renditions
            .iter()
            .find(|x| x.playlist == r.playlist)
            .map(|x| x.listing)
            .unwrap_or_default();
        let (listed, late) = (
            r.listing.segments - before.segments,
            r.listing.late - before.late,
        );
        eprintln!(
            "admission: first stream {} listed {listed} segments while the second ran, {late} \
             late (max {:?} over its whole run)",
            r.playlist, r.listing.max_delay
        );
        ensure!(listed >= 8, "{}: {listed} segments", r.playlist);
        ensure!(late == 0, "{}: {late} late", r.playlist);
    }
    second.await??;
    first.abort();
    live.stop().await
}
