//! Our server against ffmpeg, ffprobe, rtmpdump and FFmpeg 9, and our client against our
//! server (republish, refused names, shutdown).

use std::time::Duration;

use anyhow::{ensure, Result};
use onair::amf::amf0::{self, Amf0Value};
use onair::rtmp::{ClientError, RtmpClient};

use crate::util::*;

/// `ffmpeg -re -c copy` publishes 10 s of H.264+AAC; the recording has the source's
/// packets with the source's timestamps, to the millisecond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish_is_recorded_packet_for_packet() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let (server, rec, _dir) = TestServer::start_recording("publish").await?;
    // OBS and services send a query string after the key: it must not reach the file name.
    let url = server.url("live/KEY1?token=secret");
    publish_file(&ffmpeg, &src, &url, &[], Duration::from_secs(40)).await?;
    server.stop().await?;

    let recording = rec.join("live/KEY1.flv");
    ensure!(
        recording.is_file(),
        "no recording at {}",
        recording.display()
    );
    let (src_video, src_audio) = probe_packets(&src).await?;
    let (rec_video, rec_audio) = probe_packets(&recording).await?;
    eprintln!(
        "source: {} video / {} audio packets; recording: {} video / {} audio packets",
        src_video.len(),
        src_audio.len(),
        rec_video.len(),
        rec_audio.len()
    );
    assert!(
        src_video.len() >= 290 && src_audio.len() >= 400,
        "source too short"
    );
    assert_eq!(rec_video.len(), src_video.len(), "video packet count");
    assert_eq!(rec_audio.len(), src_audio.len(), "audio packet count");
    assert_eq!(rec_video, src_video, "video pts/dts (ms)");
    assert_eq!(rec_audio, src_audio, "audio pts/dts (ms)");
    let bframes = src_video.iter().filter(|p| p.pts != p.dts).count();
    eprintln!("all pts/dts equal to the ms ({bframes} video packets with pts != dts)");

    // Finalized: onMetaData carries the real duration and size.
    let (duration, filesize) = recorded_duration_and_size(&recording)?;
    let size = std::fs::metadata(&recording)?.len();
    eprintln!(
        "recording onMetaData: duration {duration} s, filesize {filesize} (file {size} bytes)"
    );
    assert!((9.5..10.5).contains(&duration), "duration {duration}");
    assert_eq!(filesize, size as f64);
    let probe = run_ok(
        &tool("ffprobe"),
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            path_str(&recording)?,
        ],
        Duration::from_secs(20),
    )
    .await?;
    let probed: f64 = probe.stdout.trim().parse().unwrap_or(0.0);
    eprintln!("ffprobe format duration {probed}");
    assert!((9.5..10.5).contains(&probed), "ffprobe duration {probed}");
    Ok(())
}

/// ffmpeg and rtmpdump play a live stream and decode it without errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_and_rtmpdump_play_a_live_stream() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let rtmpdump = tool("rtmpdump");
    let timeout = tool("timeout");
    let src = h264_aac_10s();
    let dir = test_dir("play")?;
    let server = TestServer::start(None).await?;
    let url = server.url("live/playme");

    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        url.clone(),
        &["-t", "7"],
        Duration::from_secs(30),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dump = dir.path().join("rtmpdump.flv");
    let dump_arg = path_str(&dump)?.to_owned();
    let rtmpdump_task = {
        let url = url.clone();
        tokio::spawn(async move {
            run(
                &timeout,
                &[
                    "-s",
                    "KILL",
                    "20",
                    path_str(&rtmpdump)?,
                    "-v",
                    "-q",
                    "-r",
                    &url,
                    "--live",
                    "-o",
                    &dump_arg,
                ],
                Duration::from_secs(25),
            )
            .await
        })
    };
    let played = decode(&ffmpeg, &url, Some("4"), "ffmpeg player").await?;
    eprintln!("ffmpeg played and decoded {played} video frames");
    assert!(played >= 90, "ffmpeg decoded only {played} frames");

    publisher.await??;
    let dumped = rtmpdump_task.await??;
    eprintln!(
        "rtmpdump exit ok={} {}",
        dumped.success,
        dumped.stderr.lines().last().unwrap_or("")
    );
    let frames = decode_clean(&ffmpeg, &dump).await?;
    let (video, audio) = probe_packets(&dump).await?;
    eprintln!(
        "rtmpdump file: {} video / {} audio packets, {frames} frames decoded cleanly",
        video.len(),
        audio.len()
    );
    assert!(frames > 0 && !audio.is_empty());
    // It joined ~1.5 s in and started on a keyframe (the cached GOP), so it has at least the
    // remaining ~5.5 s of video.
    assert!(
        video.len() >= 150,
        "rtmpdump got {} video packets",
        video.len()
    );
    server.stop().await?;
    Ok(())
}

/// FFmpeg 9 publishes HEVC + Opus (Enhanced RTMP); the recording decodes with it and
/// holds every tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg9_publishes_hevc_opus_enhanced_rtmp() -> Result<()> {
    let ffmpeg9 = ffmpeg9();
    let src = hevc_opus_4s();
    let (server, rec, _dir) = TestServer::start_recording("enhanced").await?;
    let url = server.url("live/hevc");
    let publisher = spawn_publisher(&ffmpeg9, &src, url.clone(), &[], Duration::from_secs(30));
    // FFmpeg 9 also plays the Enhanced RTMP stream live from the server.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let played = decode(&ffmpeg9, &url, Some("2"), "FFmpeg 9 player").await?;
    eprintln!("FFmpeg 9 played HEVC+Opus live and decoded {played} frames cleanly");
    assert!(played >= 25, "played {played} frames");
    publisher.await??;
    server.stop().await?;
    let recording = rec.join("live/hevc.flv");
    let frames = decode_clean(&ffmpeg9, &recording).await?;
    let info = run(
        &ffmpeg9,
        &["-hide_banner", "-i", path_str(&recording)?],
        Duration::from_secs(20),
    )
    .await?;
    assert!(info.stderr.contains("Video: hevc"), "{}", info.stderr);
    assert!(info.stderr.contains("Audio: opus"), "{}", info.stderr);
    let count = |tags: &[Tag], t: u8| tags.iter().filter(|x| x.tag_type == t).count();
    let src_tags = read_flv_tags(&src)?;
    let rec_tags = read_flv_tags(&recording)?;
    eprintln!(
        "HEVC+Opus: source {} video / {} audio tags, recording {} / {}, {frames} frames decoded cleanly by FFmpeg 9",
        count(&src_tags, 9), count(&src_tags, 8), count(&rec_tags, 9), count(&rec_tags, 8)
    );
    let times = |tags: &[Tag], t: u8| -> Vec<u32> {
        tags.iter()
            .filter(|x| x.tag_type == t)
            .map(|x| x.timestamp)
            .collect()
    };
    for t in [9u8, 8] {
        let (src_t, rec_t) = (times(&src_tags, t), times(&rec_tags, t));
        let missing: Vec<u32> = src_t
            .iter()
            .filter(|x| !rec_t.contains(x))
            .copied()
            .collect();
        assert_eq!(
            rec_t, src_t,
            "tag type {t}: timestamps missing from the recording: {missing:?}"
        );
    }
    assert!(frames >= 90, "decoded {frames} frames");
    Ok(())
}

/// `duration` and `filesize` of the onMetaData tag at the start of an FLV file.
pub(crate) fn recorded_duration_and_size(file: &std::path::Path) -> Result<(f64, f64)> {
    let tags = read_flv_tags(file)?;
    let script = tags
        .iter()
        .find(|t| t.tag_type == 18)
        .ok_or_else(|| anyhow::anyhow!("no onMetaData in {}", file.display()))?;
    let values = amf0::decode_all(&script.data)?;
    let props = values
        .get(1)
        .and_then(|v| v.properties())
        .ok_or_else(|| anyhow::anyhow!("onMetaData without properties"))?;
    let num = |key: &str| {
        props
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_number())
            .unwrap_or(-1.0)
    };
    Ok((num("duration"), num("filesize")))
}

/// Checks a recording of what our client sent (`sent`: video and audio tags, sequence headers
/// included): every tag is in it, and its onMetaData was finalized with the file's size and a
/// duration over `min_duration` seconds.
pub(crate) async fn assert_finalized(
    recording: &std::path::Path,
    sent: (usize, usize),
    min_duration: f64,
    what: &str,
) -> Result<()> {
    let (v, a) = probe_packets(recording).await?;
    let (duration, filesize) = recorded_duration_and_size(recording)?;
    eprintln!(
        "{what}: {} video / {} audio packets, onMetaData duration {duration} s, filesize {filesize}",
        v.len(),
        a.len()
    );
    // the sequence headers are tags but not packets
    assert_eq!((v.len() + 1, a.len() + 1), sent);
    assert!(duration > min_duration, "duration {duration} not patched");
    assert_eq!(filesize, std::fs::metadata(recording)?.len() as f64);
    Ok(())
}

/// Sends the first `limit` media tags of an FLV file (and its onMetaData) through our client.
pub(crate) async fn publish_tags(
    client: &mut RtmpClient,
    tags: &[Tag],
    limit: usize,
) -> Result<(usize, usize)> {
    let (mut video, mut audio) = (0, 0);
    for tag in tags {
        match tag.tag_type {
            18 => {
                let values = amf0::decode_all(&tag.data)?;
                if let [Amf0Value::String(name), props, ..] = values.as_slice() {
                    if name == "onMetaData" {
                        if let Some(p) = props.properties() {
                            client.send_metadata(p).await?;
                        }
                    }
                }
            }
            9 => {
                client
                    .send_video(u64::from(tag.timestamp), &tag.data)
                    .await?;
                video += 1;
            }
            8 => {
                client
                    .send_audio(u64::from(tag.timestamp), &tag.data)
                    .await?;
                audio += 1;
            }
            _ => {}
        }
        if video + audio >= limit {
            break;
        }
    }
    client.flush().await?;
    Ok((video, audio))
}

/// A republish writes a second file beside the first, never over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republish_writes_a_second_file() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let (server, rec, _dir) = TestServer::start_recording("republish").await?;
    let mut sent = Vec::new();
    for round in 0..2 {
        let mut client = server.publisher("again").await?;
        sent.push(publish_tags(&mut client, &tags, 100 + round * 50).await?);
        client.close().await?;
        // let the server see the close before the next publish
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.stop().await?;
    let first = rec.join("live/again.flv");
    let second = rec.join("live/again-1.flv");
    for (path, (video, audio)) in [(&first, sent[0]), (&second, sent[1])] {
        let (v, a) = probe_packets(path).await?;
        eprintln!(
            "{}: {} video / {} audio packets (sent {video} / {audio})",
            path.display(),
            v.len(),
            a.len()
        );
        // the sequence headers are tags but not packets
        assert_eq!(v.len() + 1, video);
        assert_eq!(a.len() + 1, audio);
    }
    Ok(())
}

/// Keys that could escape the recording directory or hide files are refused; nothing is
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_names_are_refused() -> Result<()> {
    let (server, rec, _dir) = TestServer::start_recording("badkey").await?;
    let long = "k".repeat(300);
    for key in [
        "../escape",
        ".hidden",
        "a\\b",
        "a..b",
        "c:key",
        long.as_str(),
    ] {
        let mut client = server.client().await?;
        match client.publish(key).await {
            Err(ClientError::Rejected { code, description }) => {
                eprintln!(
                    "{:?}: refused with {code} ({description})",
                    &key[..key.len().min(12)]
                );
            }
            Err(ClientError::Closed) => eprintln!("{key:?}: connection closed"),
            other => panic!("key {key:?} was not refused: {other:?}"),
        }
    }
    // A good key on the same server still works.
    let client = server.publisher("good").await?;
    client.close().await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop().await?;
    let mut entries = Vec::new();
    for e in walk(&rec)? {
        entries.push(e.strip_prefix(&rec)?.display().to_string());
    }
    assert_eq!(entries, vec!["live/good.flv".to_string()]);
    Ok(())
}

fn walk(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Stopping the server while a publisher is live finalizes its recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finalizes_live_recordings() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let (server, rec, _dir) = TestServer::start_recording("shutdown").await?;
    let mut client = server.publisher("cut").await?;
    let (video, audio) = publish_tags(&mut client, &tags, 300).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // the publisher is still connected
    server.stop().await?;
    drop(client);
    let recording = rec.join("live/cut.flv");
    assert_finalized(&recording, (video, audio), 2.0, "cut recording").await
}

/// A publisher whose connection just drops (no FCUnpublish/deleteStream) still leaves a
/// complete recording, and the name is free for the next publisher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_publisher_leaves_a_finalized_recording() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let (server, rec, _dir) = TestServer::start_recording("dropped").await?;
    let mut client = server.publisher("gone").await?;
    let (video, audio) = publish_tags(&mut client, &tags, 250).await?;
    drop(client);
    let recording = rec.join("live/gone.flv");
    // finalized while the server keeps running
    let mut finalized = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if recorded_duration_and_size(&recording).is_ok_and(|(_, filesize)| filesize > 0.0) {
            finalized = true;
            break;
        }
    }
    ensure!(finalized, "not finalized");
    assert_finalized(&recording, (video, audio), 0.0, "dropped publisher").await?;
    let again = server.publisher("gone").await?;
    again.close().await?;
    server.stop().await?;
    assert!(rec.join("live/gone-1.flv").is_file());
    Ok(())
}
