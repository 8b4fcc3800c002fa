//! Players of names nobody publishes yet wait (nginx-rtmp's `idle_streams on`), stay across
//! an unpublish, and are attached again when the name is published again; the number of
//! waiting players is bounded.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use onair::flv::VideoTagHeader;
use onair::rtmp::{ClientError, RtmpClient, RtmpServerConfig};
use onair::rtmp_proto::{ClientEvent, OnStatusCode};

use crate::server::publish_tags;
use crate::util::*;

/// `ffmpeg -i rtmp://...` started before anybody publishes: it waits, then decodes the stream
/// a later ffmpeg publishes, and ends with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_waits_for_a_publisher_then_decodes() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let server = TestServer::start(None).await?;
    let url = server.url("live/later");

    let player = {
        let (ffmpeg, url) = (ffmpeg.clone(), url.clone());
        tokio::spawn(async move {
            run(&ffmpeg, &decode_args(&url, None), Duration::from_secs(25)).await
        })
    };
    // The player is connected and waiting before the publisher starts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(!player.is_finished(), "the player did not wait");
    let started = std::time::Instant::now();
    publish_file(&ffmpeg, &src, &url, &["-t", "3.5"], Duration::from_secs(20)).await?;
    let played = player.await??;
    ensure!(played.success, "ffmpeg player failed: {}", played.stderr);
    ensure!(
        played.stderr.trim().is_empty(),
        "ffmpeg player reported: {}",
        played.stderr
    );
    let frames = last_progress_frames(&played.stdout);
    eprintln!(
        "ffmpeg waited, then decoded {frames} video frames and exited {:.1} s after the publisher started",
        started.elapsed().as_secs_f64()
    );
    // 3.5 s at 30 fps, from the first keyframe on
    assert!(frames >= 90, "ffmpeg decoded only {frames} frames");
    server.stop().await?;
    Ok(())
}

/// What a player got from one publisher: (status codes, video tags, first video tag is the
/// AVC sequence header, first coded frame is a keyframe).
#[derive(Debug, Default)]
struct Phase {
    codes: Vec<OnStatusCode>,
    video: usize,
    audio: usize,
    starts_with_config: bool,
    first_frame_is_key: Option<bool>,
}

/// Events until the stream ends.
async fn phase(player: &mut RtmpClient) -> Result<Phase> {
    let mut p = Phase::default();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), player.next_event()).await??;
        match e {
            ClientEvent::StreamEnded => return Ok(p),
            ClientEvent::Status { code, .. } => p.codes.push(code),
            ClientEvent::Video { data, .. } => {
                let header = VideoTagHeader::parse(&data)?;
                let config = header.is_sequence_header();
                if p.video == 0 {
                    p.starts_with_config = config;
                }
                if !config && p.first_frame_is_key.is_none() {
                    p.first_frame_is_key = Some(header.is_keyframe());
                }
                p.video += 1;
            }
            ClientEvent::Audio { .. } => p.audio += 1,
            _ => {}
        }
    }
}

/// One player, subscribed before any publisher, gets the media of two publishes of the same
/// name in turn, each starting with its sequence headers and a keyframe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_stays_across_unpublish_and_republish() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let server = TestServer::start(None).await?;

    let mut player = server.client().await?;
    player.play("again").await?;

    let mut sent = Vec::new();
    let mut got = Vec::new();
    for round in 0..2 {
        let mut publisher = server.publisher("again").await?;
        sent.push(publish_tags(&mut publisher, &tags, 150).await?);
        publisher.close().await?;
        let p = phase(&mut player).await?;
        eprintln!(
            "publish {}: sent {:?} video/audio, player got {} video / {} audio, status {:?}",
            round + 1,
            sent[round],
            p.video,
            p.audio,
            p.codes
        );
        got.push(p);
    }
    for (p, (video, audio)) in got.iter().zip(&sent) {
        assert_eq!(
            (p.video, p.audio),
            (*video, *audio),
            "every tag of each publish"
        );
        assert!(p.starts_with_config, "AVC sequence header first");
        assert_eq!(p.first_frame_is_key, Some(true));
        assert!(
            p.codes.contains(&OnStatusCode::NetStreamPlayPublishNotify),
            "{:?}",
            p.codes
        );
    }
    server.stop().await?;
    Ok(())
}

/// Players only of names being published.
struct LiveOnly;

impl onair::rtmp::RtmpHandler for LiveOnly {
    async fn on_play(
        &self,
        request: onair::rtmp::PlayRequest,
    ) -> Result<(), onair::rtmp::Rejection> {
        if request.published {
            Ok(())
        } else {
            Err(onair::rtmp::Rejection::new("not live"))
        }
    }
}

/// Past the limit of waiting players, the next one is refused with StreamNotFound; a published
/// name takes more; with idle streams off, or a handler that looks at `published`, unpublished
/// names are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_players_are_bounded() -> Result<()> {
    let mut config = RtmpServerConfig::default();
    config.max_waiting_players_per_stream = 2;
    config.max_waiting_players = 3;
    let server = TestServer::start_with(config).await?;
    let tc_url = server.url("live");
    let player = |name: &'static str| {
        let tc_url = tc_url.clone();
        let addr = server.addr;
        async move {
            let mut c = RtmpClient::connect(addr, "live", &tc_url).await?;
            c.play(name).await.map(|()| c)
        }
    };
    let refused = |r: Result<RtmpClient, ClientError>| match r {
        Err(ClientError::Rejected { code, description }) => {
            eprintln!("refused: {code} ({description})");
            Ok(code == OnStatusCode::NetStreamPlayStreamNotFound)
        }
        Ok(_) => Ok(false),
        Err(e) => bail!("unexpected error: {e}"),
    };

    let _a1 = player("a").await?;
    let _a2 = player("a").await?;
    assert!(refused(player("a").await)?, "third waiting player of a");
    let _b1 = player("b").await?;
    assert!(refused(player("c").await)?, "fourth waiting player in all");

    let _publisher = server.publisher("a").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _a3 = player("a").await?;
    let _c1 = player("c").await?;
    eprintln!("published a: a third player of a and a waiting player of c were accepted");

    let mut strict = RtmpServerConfig::default();
    strict.idle_streams = false;
    let strict = TestServer::start_with(strict).await?;
    let mut c = strict.client().await?;
    assert!(refused(c.play("nobody").await.map(|()| c))?);
    strict.stop().await?;

    // The handler sees whether the name is live and may refuse names nobody publishes.
    let picky = TestServer::start_with_handler(RtmpServerConfig::default(), LiveOnly).await?;
    let mut c = picky.client().await?;
    assert!(refused(c.play("x").await.map(|()| c))?);
    let _publisher = picky.publisher("x").await?;
    let mut c = picky.client().await?;
    c.play("x").await?;
    picky.stop().await?;
    server.stop().await?;
    Ok(())
}

/// A player process that runs until the test interrupts it.
struct Interruptible {
    child: tokio::process::Child,
}

impl Interruptible {
    fn spawn(program: &std::path::Path, args: &[&str]) -> Result<Self> {
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child })
    }

    /// SIGINT, then its output. ffmpeg leaves a blocking read only on a second SIGINT (the
    /// first ends its main loop once a read returns); both finish their output cleanly.
    async fn interrupt(mut self) -> Result<Finished> {
        let Some(pid) = self.child.id() else {
            bail!("the player exited early")
        };
        let kill = tool("kill");
        for _ in 0..2 {
            run_ok(&kill, &["-INT", &pid.to_string()], Duration::from_secs(5)).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            if self.child.try_wait()?.is_some() {
                break;
            }
        }
        let out =
            tokio::time::timeout(Duration::from_secs(10), self.child.wait_with_output()).await??;
        Ok(Finished {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// ffmpeg and rtmpdump as players across an unpublish/republish of the same name. Both stop
/// at `NetStream.Play.UnpublishNotify`, so this runs with `publish_notify: false` (nginx-rtmp's
/// default: Stream EOF / Stream Begin only), where both keep playing and get both publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_and_rtmpdump_play_across_a_republish() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let rtmpdump = tool("rtmpdump");
    let src = h264_aac_10s();
    let dir = test_dir("republish")?;
    let mut config = RtmpServerConfig::default();
    config.publish_notify = false;
    let server = TestServer::start_with(config).await?;
    let url = server.url("live/twice");

    // Both players run until interrupted (nothing tells them the stream is over for good).
    let player = Interruptible::spawn(&ffmpeg, &decode_args(&url, None))?;
    let dump = dir.path().join("twice.flv");
    let dumper = Interruptible::spawn(
        &rtmpdump,
        &["-q", "-r", &url, "--live", "-o", path_str(&dump)?],
    )?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for _ in 0..2 {
        publish_file(&ffmpeg, &src, &url, &["-t", "2.5"], Duration::from_secs(20)).await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let played = player.interrupt().await?;
    let dumped = dumper.interrupt().await?;
    let frames = last_progress_frames(&played.stdout);
    eprintln!(
        "ffmpeg across a republish: {frames} frames decoded; stderr: {:?}",
        played.stderr.trim()
    );
    eprintln!("rtmpdump: {:?}", dumped.stderr.lines().last().unwrap_or(""));
    let (video, audio) = probe_packets(&dump).await?;
    // Each publish starts with its AVC sequence header: split the file's video tags there.
    let tags = read_flv_tags(&dump)?;
    let video_tags: Vec<&Tag> = tags.iter().filter(|t| t.tag_type == 9).collect();
    let headers: Vec<usize> = video_tags
        .iter()
        .enumerate()
        .filter(|(_, t)| VideoTagHeader::parse(&t.data).is_ok_and(|h| h.is_sequence_header()))
        .map(|(i, _)| i)
        .collect();
    let (first, second) = match headers.as_slice() {
        [a, b] => (b - a - 1, video_tags.len() - b - 1),
        other => bail!("expected two sequence headers in rtmpdump's file, found {other:?}"),
    };
    let monotonic = video_tags
        .windows(2)
        .all(|w| w[0].timestamp <= w[1].timestamp);
    eprintln!(
        "rtmpdump file: {} video ({first} frames from the first publish, {second} from the second; timestamps monotonic: {monotonic}) / {} audio packets",
        video.len(),
        audio.len()
    );
    assert!(
        monotonic,
        "the player's timeline goes on across the republish"
    );
    // 2.5 s at 30 fps per publish
    assert!(first >= 60 && second >= 60, "rtmpdump: {first} + {second}");
    assert!(frames >= 120, "ffmpeg decoded {frames} frames");
    // Only what the interruption itself causes; no decoding or timestamp complaints.
    let complaints: Vec<&str> = played
        .stderr
        .lines()
        .filter(|l| !l.contains("Immediate exit requested"))
        .collect();
    ensure!(
        complaints.is_empty(),
        "ffmpeg player reported: {complaints:?}"
    );
    server.stop().await?;
    Ok(())
}
