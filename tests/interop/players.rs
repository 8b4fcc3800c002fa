//! Players through our own client: start on a keyframe from the GOP cache, get the end of
//! the stream, and a slow player is cut off while a fast one gets everything.

use std::time::Duration;

use anyhow::{bail, Result};
use onair::flv::{VideoPacketType, VideoTagHeader};
use onair::rtmp::{ClientError, QueueLimits, RtmpClient, RtmpServerConfig};
use onair::rtmp_proto::{ClientEvent, OnStatusCode};

use crate::server::publish_tags;
use crate::util::*;

fn is_video_config(data: &[u8]) -> bool {
    VideoTagHeader::parse(data).is_ok_and(|h| h.is_sequence_header())
}
fn is_keyframe(data: &[u8]) -> bool {
    VideoTagHeader::parse(data)
        .is_ok_and(|h| h.is_keyframe() && h.packet_type() == Some(VideoPacketType::CodedFrames))
}

/// The media events a player gets until the stream ends.
async fn play_until_end(player: &mut RtmpClient) -> Result<Vec<ClientEvent>> {
    let mut events = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), player.next_event()).await??;
        match e {
            ClientEvent::StreamEnded => return Ok(events),
            e @ (ClientEvent::Video { .. }
            | ClientEvent::Audio { .. }
            | ClientEvent::Metadata { .. }) => events.push(e),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_player_starts_on_the_cached_keyframe_and_sees_the_end() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let media: Vec<&Tag> = tags.iter().filter(|t| t.tag_type != 18).collect();
    let server = TestServer::start(None).await?;

    let mut publisher = server.publisher("gop").await?;
    // ~2.5 s: past the second keyframe (2 s GOP)
    let first = 180;
    publish_tags(&mut publisher, &tags, first).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut player = server.client().await?;
    player.play("gop").await?;
    // then 60 more tags live, and the publisher leaves
    let rest: Vec<Tag> = tags
        .iter()
        .filter(|t| t.tag_type == 18)
        .cloned()
        .chain(media.iter().skip(first).take(60).map(|t| (*t).clone()))
        .collect();
    publish_tags(&mut publisher, &rest, 60).await?;
    publisher.close().await?;

    let events = play_until_end(&mut player).await?;
    // expected: metadata, the two sequence headers, then everything from the last keyframe
    // among the first tags on
    let last_key = media[..first]
        .iter()
        .rposition(|t| t.tag_type == 9 && is_keyframe(&t.data))
        .expect("a keyframe");
    let expected: Vec<(u8, u32)> = media[last_key..first + 60]
        .iter()
        .map(|t| (t.tag_type, t.timestamp))
        .collect();
    assert!(matches!(events.first(), Some(ClientEvent::Metadata { .. })));
    let got: Vec<(u8, u64, bool)> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Video { timestamp_ms, data } => {
                Some((9, *timestamp_ms, is_video_config(data)))
            }
            ClientEvent::Audio { timestamp_ms, data } => {
                Some((8, *timestamp_ms, data.get(1) == Some(&0)))
            }
            _ => None,
        })
        .collect();
    let configs = got.iter().filter(|g| g.2).count();
    assert_eq!(configs, 2, "AVC and AAC sequence headers first");
    assert!(got[0].2 && got[1].2);
    let media_got: Vec<(u8, u32)> = got[2..].iter().map(|g| (g.0, g.1 as u32)).collect();
    eprintln!(
        "late player: joined after {first} tags, got 2 sequence headers + {} tags starting at the keyframe at {} ms, then StreamEnded",
        media_got.len(),
        media[last_key].timestamp
    );
    assert_eq!(media_got, expected);
    assert!(media[last_key].timestamp >= 2000);
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_player_is_cut_off_and_a_fast_one_gets_everything() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let mut config = RtmpServerConfig::default();
    let mut limits = QueueLimits::default();
    limits.max_bytes = 512 * 1024;
    limits.max_packets = 100_000;
    limits.max_skips = 2;
    config.queue = limits;
    config.send_buffer_size = Some(32 * 1024);
    let server = TestServer::start_with(config).await?;
    let tc_url = server.url("live");

    let mut publisher = server.publisher("busy").await?;

    // The fast player reads all the time.
    let mut fast = server.client().await?;
    fast.play("busy").await?;
    let fast_task = tokio::spawn(async move { play_until_end(&mut fast).await });
    // The slow one never reads, and has a tiny receive buffer.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(8 * 1024)?;
    let stream = socket.connect(server.addr).await?;
    let mut slow = RtmpClient::connect_over(stream, "live", &tc_url).await?;
    slow.play("busy").await?;

    // Three passes over the 10 s file (about 4 MB), paced a little so the fast player
    // never has more than a few hundred KB in flight.
    let mut sent = 0usize;
    for pass in 0..3u32 {
        for t in tags.iter().filter(|t| t.tag_type != 18) {
            let ts = u64::from(t.timestamp) + u64::from(pass) * 10_100;
            if t.tag_type == 9 {
                publisher.send_video(ts, &t.data).await?;
            } else {
                publisher.send_audio(ts, &t.data).await?;
            }
            sent += 1;
            if sent % 8 == 0 {
                publisher.flush().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    publisher.close().await?;
    let fast_events = tokio::time::timeout(Duration::from_secs(20), fast_task).await???;
    let fast_media = fast_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Video { .. } | ClientEvent::Audio { .. }))
        .count();

    // The slow player now reads what reached it: it must end in a closed connection.
    let mut slow_media = 0usize;
    let slow_end = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.next_event()).await {
            Err(_) => bail!("slow player neither ended nor was closed"),
            Ok(Ok(ClientEvent::Video { .. } | ClientEvent::Audio { .. })) => slow_media += 1,
            Ok(Ok(ClientEvent::StreamEnded)) => break "stream ended",
            Ok(Ok(_)) => {}
            Ok(Err(ClientError::Closed)) => break "closed",
            Ok(Err(ClientError::Io(e))) => {
                eprintln!("slow player i/o: {e}");
                break "closed";
            }
            Ok(Err(e)) => return Err(e.into()),
        }
    };
    eprintln!(
        "published {sent} tags; fast player got {fast_media}; slow player got {slow_media} then: {slow_end}"
    );
    assert_eq!(fast_media, sent, "the fast player got every tag");
    assert_eq!(slow_end, "closed", "the slow player was disconnected");
    assert!(slow_media < sent / 2);
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_publisher_for_a_live_name_is_rejected() -> Result<()> {
    let server = TestServer::start(None).await?;
    let first = server.publisher("dup").await?;
    let mut second = server.client().await?;
    match second.publish("dup").await {
        Err(ClientError::Rejected { code, description }) => {
            eprintln!("second publisher refused: {code} ({description})");
            assert_eq!(code, OnStatusCode::NetStreamPublishBadName);
        }
        other => bail!("second publisher not refused: {other:?}"),
    }
    // the same key in another app is another stream
    let mut other_app = RtmpClient::connect(server.addr, "other", &server.url("other")).await?;
    other_app.publish("dup").await?;
    // once the first leaves, the name is free again
    first.close().await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _third = server.publisher("dup").await?;
    server.stop().await?;
    Ok(())
}

/// Publishers use a secret key; players use the public name the application maps it to.
struct StudioKeys;

impl onair::rtmp::RtmpHandler for StudioKeys {
    async fn on_publish(
        &self,
        request: onair::rtmp::PublishRequest,
    ) -> Result<onair::rtmp::Publication, onair::rtmp::Rejection> {
        let token = request.query.as_ref().and_then(|q| q.get("t"));
        if request.key.as_str() == "s3cr3t" && token == Some("1") {
            onair::rtmp::Publication::named("studio")
        } else {
            Err(onair::rtmp::Rejection::new("unknown stream key"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_use_the_public_name_never_the_key() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let server = TestServer::start_with_handler(RtmpServerConfig::default(), StudioKeys).await?;

    let mut intruder = server.client().await?;
    match intruder.publish("guess?t=1").await {
        Err(ClientError::Rejected { description, .. }) => {
            assert_eq!(description, "unknown stream key")
        }
        other => bail!("unknown key accepted: {other:?}"),
    }

    let mut by_name = server.client().await?;
    by_name.play("studio").await?;
    let mut by_key = server.client().await?;
    by_key.play("s3cr3t").await?;

    let mut publisher = server.publisher("s3cr3t?t=1").await?;
    let (video, audio) = publish_tags(&mut publisher, &tags, 100).await?;
    publisher.close().await?;

    let events = play_until_end(&mut by_name).await?;
    let media = events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Video { .. } | ClientEvent::Audio { .. }))
        .count();
    assert_eq!(media, video + audio, "the public name plays the stream");
    let nothing = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match by_key.next_event().await {
                Ok(ClientEvent::Video { .. } | ClientEvent::Audio { .. }) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    assert!(!matches!(nothing, Ok(true)), "the key must not be playable");
    eprintln!("public name played {media} tags; the secret key played none");
    server.stop().await?;
    Ok(())
}
