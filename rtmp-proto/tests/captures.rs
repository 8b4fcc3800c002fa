//! Replays real RTMP sessions recorded against nginx-rtmp 1.2.2 (see
//! `tests/data/captures/README.md`) through [`ServerSession`] (client-to-server bytes) and
//! [`ClientSession`] (server-to-client bytes), and checks the requests, events and media
//! counts.
//!
//! The server's answers can't match nginx's bytes, so only events are compared. The media
//! counts of the play captures (server-to-client) were measured independently of this crate
//! with `tests/data/captures/count_media.py`, a separate chunk-stream parser in Python:
//! `python3 count_media.py rtmpdump_play.s2c.bin` and the same for `ffmpeg_play.s2c.bin`.

use std::path::PathBuf;

use bytes::BytesMut;
use onair_amf::amf0::{self, Amf0Value};
use onair_rtmp_proto::{
    ClientEvent, ClientSession, ClientSessionConfig, ServerEvent, ServerSession,
    ServerSessionConfig,
};

fn capture(name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "data",
        "captures",
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Debug, Default)]
struct ServerReplay {
    connected_app: Option<String>,
    publish: Option<(String, String)>,
    play: Option<(String, String)>,
    /// Video messages by AVC packet type: sequence header, NALUs, end of sequence.
    video: [usize; 3],
    /// Audio messages by AAC packet type: sequence header, raw.
    audio: [usize; 2],
    metadata: usize,
    publish_ended: usize,
    play_ended: usize,
    first_video_ms: Option<u64>,
    last_video_ms: u64,
}

/// Feeds the client's bytes to a server session in uneven pieces (or all at once), accepting
/// every request.
fn replay_server(name: &str, all_at_once: bool) -> ServerReplay {
    let bytes = capture(name);
    let mut session = ServerSession::new(ServerSessionConfig::default(), 0, &[1; 1528]);
    let mut out = BytesMut::new();
    let mut replay = ServerReplay::default();
    let mut pos = 0;
    let mut step = 1;
    while pos < bytes.len() {
        // 1, 2, 3, ... 4000-byte pieces: every chunk boundary lands mid-input somewhere.
        let end = if all_at_once {
            bytes.len()
        } else {
            (pos + step).min(bytes.len())
        };
        step = step % 4000 + 7;
        session
            .handle_input(&bytes[pos..end])
            .unwrap_or_else(|e| panic!("{name} at byte {pos}: {e}"));
        pos = end;
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::Connected { app, .. } => replay.connected_app = Some(app),
                ServerEvent::PublishRequested {
                    request, app, key, ..
                } => {
                    replay.publish = Some((app, key.as_str().to_owned()));
                    session.accept(request).unwrap();
                }
                ServerEvent::PlayRequested {
                    request, app, name, ..
                } => {
                    replay.play = Some((app, name.as_str().to_owned()));
                    session.accept(request).unwrap();
                }
                ServerEvent::Video {
                    timestamp_ms, data, ..
                } => {
                    assert_eq!(data[0] & 0x0f, 7, "AVC");
                    replay.video[usize::from(data[1])] += 1;
                    replay.first_video_ms.get_or_insert(timestamp_ms);
                    replay.last_video_ms = timestamp_ms;
                }
                ServerEvent::Audio { data, .. } => {
                    assert_eq!(data[0] >> 4, 10, "AAC");
                    replay.audio[usize::from(data[1])] += 1;
                }
                ServerEvent::Metadata { metadata, .. } => {
                    assert_eq!(metadata.width, Some(1280.0));
                    assert_eq!(metadata.height, Some(720.0));
                    replay.metadata += 1;
                }
                ServerEvent::PublishEnded { .. } => replay.publish_ended += 1,
                ServerEvent::PlayEnded { .. } => replay.play_ended += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        session.poll_transmit(&mut out);
    }
    assert!(!out.is_empty());
    replay
}

#[test]
fn ffmpeg_publish_through_server() {
    let r = replay_server("ffmpeg_publish.c2s.bin", false);
    assert_eq!(r.connected_app.as_deref(), Some("live"));
    assert_eq!(r.publish, Some(("live".to_owned(), "cap1".to_owned())));
    // 120 H.264 frames and 188 AAC frames, plus the sequence headers and ffmpeg's AVC end of
    // sequence (count_media.py: 122 video and 189 audio messages, by packet type 1/120/1
    // and 1/188).
    assert_eq!(r.video, [1, 120, 1]);
    assert_eq!(r.audio, [1, 188]);
    assert_eq!(r.metadata, 1);
    assert_eq!(r.publish_ended, 1);
    // 4 s of 30 fps video, timestamps from 0.
    assert_eq!(r.first_video_ms, Some(0));
    assert!(
        (3900..4100).contains(&r.last_video_ms),
        "{}",
        r.last_video_ms
    );
}

#[test]
fn whole_publish_in_one_read() {
    // Publish, metadata and media in one input: what arrives before `accept` is kept for it.
    for (name, metadata) in [
        ("ffmpeg_publish.c2s.bin", 1),
        ("gstreamer_publish.c2s.bin", 17),
    ] {
        let r = replay_server(name, true);
        assert_eq!(r.video, [1, 120, 1], "{name}");
        assert_eq!(r.audio, [1, 188], "{name}");
        assert_eq!(r.metadata, metadata, "{name}");
        assert_eq!(r.publish_ended, 1, "{name}");
    }
}

#[test]
fn gstreamer_publish_through_server() {
    let r = replay_server("gstreamer_publish.c2s.bin", false);
    assert_eq!(r.connected_app.as_deref(), Some("live"));
    assert_eq!(r.publish, Some(("live".to_owned(), "cap2".to_owned())));
    assert_eq!(r.video, [1, 120, 1]);
    assert_eq!(r.audio, [1, 188]);
    // flvmux repeats @setDataFrame: 17 of them (count_media.py).
    assert_eq!(r.metadata, 17);
    assert_eq!(r.publish_ended, 1);
}

#[test]
fn rtmpdump_play_through_server() {
    let r = replay_server("rtmpdump_play.c2s.bin", false);
    assert_eq!(r.play, Some(("live".to_owned(), "cap3".to_owned())));
    assert_eq!(r.connected_app.as_deref(), Some("live"));
    assert_eq!(r.play_ended, 1);
    assert_eq!((r.video, r.audio, r.metadata), ([0; 3], [0; 2], 0));
}

#[test]
fn ffmpeg_play_through_server() {
    let r = replay_server("ffmpeg_play.c2s.bin", false);
    assert_eq!(r.play, Some(("live".to_owned(), "cap3".to_owned())));
    assert_eq!(r.connected_app.as_deref(), Some("live"));
    // ffmpeg sent deleteStream right behind play: accepting the cancelled request reports
    // the end at once.
    assert_eq!(r.play_ended, 1);
}

#[derive(Debug, Default)]
struct ClientReplay {
    events: Vec<String>,
    video: usize,
    audio: usize,
    metadata: usize,
}

/// Feeds nginx's bytes to a client session that issued the same commands as the recorded
/// client. The simple handshake is used: nginx's S2 answers the recorded client's C1, not
/// ours, so there is no digest to agree on.
fn replay_client(
    name: &str,
    publish: Option<&str>,
    play: Option<&str>,
    numbered_publish_setup: bool,
) -> ClientReplay {
    let bytes = capture(name);
    let config = ClientSessionConfig {
        complex_handshake: false,
        numbered_publish_setup,
        ..ClientSessionConfig::default()
    };
    let mut session = ClientSession::new(config, 0, &[2; 1528]);
    // Pipelined like the recorded clients: nginx answered everything in one burst.
    session.connect("live", "rtmp://127.0.0.1/live").unwrap();
    if let Some(key) = publish {
        session.publish(key).unwrap();
    }
    if let Some(name) = play {
        session.play(name).unwrap();
    }
    let mut replay = ClientReplay::default();
    let mut out = BytesMut::new();
    for piece in bytes.chunks(1000) {
        session
            .handle_input(piece)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        while let Some(event) = session.poll_event() {
            match &event {
                ClientEvent::Video { .. } => replay.video += 1,
                ClientEvent::Audio { .. } => replay.audio += 1,
                ClientEvent::Metadata { .. } => replay.metadata += 1,
                _ => {}
            }
            if !matches!(event, ClientEvent::Video { .. } | ClientEvent::Audio { .. }) {
                replay.events.push(format!("{event:?}"));
            }
        }
        session.poll_transmit(&mut out);
    }
    replay
}

#[test]
fn ffmpeg_publish_answers_through_client() {
    let r = replay_client("ffmpeg_publish.s2c.bin", Some("cap1"), None, true);
    assert_eq!(r.events, PUBLISH_EVENTS);
}

#[test]
fn gstreamer_publish_answers_through_client() {
    // GStreamer sends releaseStream and FCPublish with transaction id 0.
    let r = replay_client("gstreamer_publish.s2c.bin", Some("cap2"), None, false);
    assert_eq!(r.events, PUBLISH_EVENTS);
}

#[test]
fn rtmpdump_play_media_through_client() {
    let r = replay_client("rtmpdump_play.s2c.bin", None, Some("cap3"), true);
    assert_play(&r);
    // count_media.py rtmpdump_play.s2c.bin: 108 video (1 sequence header + 107 frames),
    // 186 audio (1 + 185), one onMetaData.
    assert_eq!((r.video, r.audio, r.metadata), (108, 186, 1));
}

#[test]
fn ffmpeg_play_media_through_client() {
    let r = replay_client("ffmpeg_play.s2c.bin", None, Some("cap3"), true);
    assert_play(&r);
    // count_media.py ffmpeg_play.s2c.bin: 42 video (1 + 41), 107 audio (1 + 106), one
    // onMetaData.
    assert_eq!((r.video, r.audio, r.metadata), (42, 107, 1));
}

const PUBLISH_EVENTS: [&str; 3] = [
    "Connected",
    "PublishStarted { stream_id: MessageStreamId(1) }",
    "Status { level: Status, code: NetStreamUnpublishSuccess, description: \"Stop publishing\" }",
];

fn assert_play(r: &ClientReplay) {
    assert_eq!(r.events[0], "Connected");
    assert_eq!(r.events[1], "PlayStarted { stream_id: MessageStreamId(1) }");
    assert!(r.events[2].starts_with("Metadata { metadata: StreamMetadata { width: Some(1280.0)"));
    // nginx's Stream EOF when the player left.
    assert_eq!(r.events[3], "StreamEnded");
    assert_eq!(r.events.len(), 4);
}

/// The `connect` command ffmpeg 5.1 sent in a captured publish session.
#[test]
fn amf0_connect_command_of_a_captured_session() {
    let capture = capture("ffmpeg_publish.c2s.bin");
    // C0 + C1 + C2 of the handshake
    let after = &capture[3073..];
    let needle = b"\x02\x00\x07connect";
    let at = after
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("connect command");
    // a type 0 chunk header: basic header, timestamp, length, type id, stream id
    let header = &after[at - 12..at];
    assert_eq!(header[7], 20, "amf0 command message");
    let len = usize::from(header[4]) << 16 | usize::from(header[5]) << 8 | usize::from(header[6]);
    // the message is longer than the initial chunk size of 128: continuation chunks start
    // with a one-byte type 3 header for chunk stream 3 (0xC3)
    let mut payload = Vec::new();
    let mut pos = at;
    while payload.len() < len {
        if !payload.is_empty() {
            assert_eq!(after[pos], 0xc3, "continuation chunk header");
            pos += 1;
        }
        let n = (len - payload.len()).min(128);
        payload.extend_from_slice(&after[pos..pos + n]);
        pos += n;
    }
    let payload = &payload[..];
    let values = amf0::decode_all(payload).expect("decode connect");
    assert_eq!(values[0].as_str(), Some("connect"));
    assert_eq!(values[1].as_number(), Some(1.0));
    let obj = &values[2];
    assert_eq!(obj.get("app").and_then(Amf0Value::as_str), Some("live"));
    assert!(obj
        .get("tcUrl")
        .and_then(Amf0Value::as_str)
        .is_some_and(|u| u.starts_with("rtmp://") && u.ends_with("/live")));
    assert!(obj
        .get("flashVer")
        .and_then(Amf0Value::as_str)
        .is_some_and(|v| v.starts_with("FMLE/3.0")));
    // re-encoding gives the same bytes
    let mut out = bytes::BytesMut::new();
    amf0::encode_all(&values, &mut out);
    assert_eq!(&out[..], payload);
}
