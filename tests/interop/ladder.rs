//! `examples/ladder` end to end: an FLV file into an HLS ladder on disk. m3u8-rs reads the
//! master and media playlists, ffprobe the renditions: every variant is listed with what its
//! own stream has, and the renditions cut at the same points.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use onair_testkit::m3u8::{read_master, read_media};
use onair_testkit::{probe_packets, probe_streams};

use crate::util::{h264_aac_10s, path_str, run_ok, test_dir};

/// The example binary `cargo test` built next to this test binary.
fn example(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary outside target/<profile>/deps")?;
    let path = dir.join("examples").join(name);
    ensure!(path.is_file(), "{} is missing", path.display());
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ladder_example_writes_aligned_renditions_and_a_master_playlist() -> Result<()> {
    let dir = test_dir("ladder")?;
    let out = dir.path().join("hls");
    // 640x360 H.264 with B-frames and 2 s GOPs, AAC: the source is passed through, a 360p
    // rung at its size and a 240p rung are transcoded.
    let input = h264_aac_10s();
    run_ok(
        &example("ladder")?,
        &[
            path_str(&input)?,
            path_str(&out)?,
            "--ladder",
            "source,360p@600k,240p",
        ],
        Duration::from_secs(120),
    )
    .await?;
    let master = read_master(&std::fs::read_to_string(out.join("master.m3u8"))?);
    let uris: Vec<&str> = master.variants.iter().map(|v| v.uri.as_str()).collect();
    ensure!(
        uris == ["240p/index.m3u8", "360p/index.m3u8", "source/index.m3u8"],
        "variants {uris:?}"
    );
    let bandwidths: Vec<u64> = master.variants.iter().map(|v| v.bandwidth).collect();
    ensure!(
        bandwidths.windows(2).all(|w| w[0] <= w[1]),
        "not in ascending bandwidth: {bandwidths:?}"
    );
    let mut reference: Option<Vec<(u64, String)>> = None;
    for v in &master.variants {
        let playlist = out.join(&v.uri);
        // What the variant says is what its stream has.
        let streams = probe_streams(&playlist);
        let video = streams
            .iter()
            .find(|s| s.kind == "video")
            .context("no video stream")?;
        let resolution = v.resolution.context("no RESOLUTION")?;
        ensure!(
            (resolution.width, resolution.height)
                == (u64::from(video.width), u64::from(video.height)),
            "{}: RESOLUTION {resolution:?}, stream {video:?}",
            v.uri
        );
        let codecs = v.codecs.clone().context("no CODECS")?;
        ensure!(
            codecs.contains("avc1.") && codecs.contains("mp4a.40.2"),
            "{}: CODECS {codecs}",
            v.uri
        );
        ensure!(
            v.frame_rate == Some(30.0),
            "{}: FRAME-RATE {:?}",
            v.uri,
            v.frame_rate
        );
        let average = v.average_bandwidth.context("no AVERAGE-BANDWIDTH")?;
        ensure!(
            average > 0 && average <= v.bandwidth,
            "{}: bandwidths",
            v.uri
        );
        // Same segments: sequence numbers and durations.
        let media = read_media(&std::fs::read_to_string(&playlist)?);
        let segments: Vec<(u64, String)> = media
            .segments
            .iter()
            .map(|s| (s.msn, format!("{:.5}", s.duration)))
            .collect();
        ensure!(segments.len() == 5, "{}: {segments:?}", v.uri);
        match &reference {
            None => reference = Some(segments),
            Some(first) => ensure!(&segments == first, "{}: {segments:?} vs {first:?}", v.uri),
        }
        // Each segment starts with a keyframe.
        let folder = playlist.parent().context("folder")?;
        for s in &media.segments {
            let first = probe_packets(&folder.join(&s.uri))
                .into_iter()
                .find(|p| p.kind == "video")
                .context("a segment without video")?;
            ensure!(
                first.keyframe,
                "{}/{} starts without a keyframe",
                v.uri,
                s.uri
            );
        }
    }
    Ok(())
}
