//! The keys file and hooks against a small HTTP service on loopback that records what it
//! is sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onair_rtmp_proto::{QueryString, StreamKey, StreamName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// How the service answers every request.
#[derive(Clone)]
struct Script {
    status: u16,
    body: &'static str,
    delay: Duration,
}

impl Script {
    fn ok(body: &'static str) -> Self {
        Self {
            status: 200,
            body,
            delay: Duration::ZERO,
        }
    }
}

/// A hook service: answers with its script and keeps each request's path and JSON body.
struct Service {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Service {
    async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head, body) = loop {
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                break (head.to_owned(), body.to_owned());
                            }
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
                    seen.lock().unwrap().push((path, json));
                    tokio::time::sleep(script.delay).await;
                    let answer = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\n\r\n{}",
                        script.status,
                        script.body.len(),
                        script.body
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { addr, calls, task }
    }

    fn hook(&self, path: &str) -> HttpHook {
        HttpHook::new(&format!("http://{}{path}", self.addr)).unwrap()
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const PEER: &str = "192.0.2.9:50312";

fn publish(key: &str, query: Option<&str>) -> PublishRequest {
    let request = PublishRequest::new(
        PEER.parse().unwrap(),
        "live",
        StreamKey::new(key, 128).unwrap(),
    );
    match query {
        Some(q) => request.with_query(QueryString::new(q)),
        None => request,
    }
}

fn keys_file(text: &str) -> (KeysFile, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    std::fs::write(&path, text).unwrap();
    (KeysFile::open(path).unwrap(), dir)
}

#[tokio::test]
async fn the_keys_file_first_then_the_hook() {
    #[cfg(feature = "transcode")]
    let answer = r#"{"name":"hooked","ladder":"source,360p"}"#;
    // without transcoding a ladder other than `off` is refused
    #[cfg(not(feature = "transcode"))]
    let answer = r#"{"name":"hooked","ladder":"off"}"#;
    let service = Service::start(Script::ok(answer)).await;
    let (keys, _dir) = keys_file("live filed studio off\n");
    let access = AccessControl::new()
        .with_keys(keys)
        .with_publish_hook(service.hook("/on_publish?svc=1"));

    let filed = access.on_publish(publish("filed", None)).await.unwrap();
    assert_eq!(filed.name.as_str(), "studio");
    #[cfg(feature = "transcode")]
    assert_eq!(filed.options.ladder, Some(crate::rtmp::StreamLadder::Off));
    assert!(
        service.calls().is_empty(),
        "a listed key never reaches the hook"
    );

    let hooked = access
        .on_publish(publish("other", Some("token=abc")))
        .await
        .unwrap();
    assert_eq!(hooked.name.as_str(), "hooked");
    #[cfg(feature = "transcode")]
    assert_eq!(
        hooked.options.ladder.map(|l| l.to_string()).as_deref(),
        Some("source,360p")
    );
    let calls = service.calls();
    assert_eq!(calls.len(), 1);
    let (path, json) = &calls[0];
    assert_eq!(path, "/on_publish?svc=1");
    assert_eq!(
        json,
        &serde_json::json!({
            "action": "publish", "app": "live", "key": "other", "query": "token=abc",
            "peer": PEER, "publish_type": "live",
        })
    );
}

#[tokio::test]
async fn without_a_name_the_key_is_the_name() {
    let service = Service::start(Script::ok("")).await;
    let access = AccessControl::new().with_publish_hook(service.hook("/"));
    let p = access
        .on_publish(publish("cam1", Some("t=1")))
        .await
        .unwrap();
    assert_eq!(p.name.as_str(), "cam1");
    assert_eq!(p.options, StreamOptions::default());
}

#[tokio::test]
async fn hooks_fail_closed() {
    let refusing = Service::start(Script {
        status: 403,
        ..Script::ok("")
    })
    .await;
    let slow = Service::start(Script {
        delay: Duration::from_secs(5),
        ..Script::ok("")
    })
    .await;
    let garbled = Service::start(Script::ok("OK")).await;
    let bad_name = Service::start(Script::ok(r#"{"name":"../x"}"#)).await;
    let bad_ladder = Service::start(Script::ok(r#"{"ladder":"720q"}"#)).await;
    // a port nothing listens on
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hooks = [
        refusing.hook("/"),
        slow.hook("/").with_timeout(Duration::from_millis(300)),
        garbled.hook("/"),
        bad_name.hook("/"),
        bad_ladder.hook("/"),
        HttpHook::new(&format!("http://{closed}/")).unwrap(),
    ];
    for hook in hooks {
        let what = format!("{hook:?}");
        let access = AccessControl::new().with_publish_hook(hook);
        let started = Instant::now();
        let refused = access.on_publish(publish("k", None)).await;
        assert_eq!(
            refused,
            Err(Rejection::new(PUBLISH_REFUSED)),
            "{what} must refuse"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{what}");
    }
    assert_eq!(slow.calls().len(), 1, "the slow hook was asked");
}

#[tokio::test]
async fn keys_alone_refuse_unknown_keys_and_nothing_accepts_all() {
    let (keys, _dir) = keys_file("live k studio\n");
    let access = AccessControl::new().with_keys(keys);
    assert_eq!(
        access.on_publish(publish("studio", None)).await,
        Err(Rejection::new(UNKNOWN_KEY))
    );
    let player = |name: &str| {
        PlayRequest::new(
            PEER.parse().unwrap(),
            "live",
            StreamName::new(name, 8).unwrap(),
        )
    };
    assert_eq!(access.on_play(player("studio")).await, Ok(()));
    assert_eq!(
        access.on_play(player("k")).await,
        Err(Rejection::new(PLAY_REFUSED)),
        "nothing is played under a key"
    );
    let open = AccessControl::new();
    let p = open.on_publish(publish("anything", None)).await.unwrap();
    assert_eq!(p.name.as_str(), "anything");
    let player = PlayRequest::new(
        PEER.parse().unwrap(),
        "live",
        StreamName::new("x", 8).unwrap(),
    );
    assert_eq!(open.on_play(player).await, Ok(()));
}

#[tokio::test]
async fn play_and_publish_done_hooks() {
    let allowing = Service::start(Script::ok("")).await;
    let refusing = Service::start(Script {
        status: 401,
        ..Script::ok("")
    })
    .await;
    let name = StreamName::new("studio", 128).unwrap();
    let player = PlayRequest::new(PEER.parse().unwrap(), "live", name.clone())
        .with_query(QueryString::new("viewer=7"));

    let access = AccessControl::new().with_play_hook(allowing.hook("/on_play"));
    assert_eq!(access.on_play(player.clone()).await, Ok(()));
    assert_eq!(
        allowing.calls()[0].1,
        serde_json::json!({
            "action": "play", "app": "live", "name": "studio", "query": "viewer=7",
            "peer": PEER, "published": false,
        })
    );
    let access = AccessControl::new().with_play_hook(refusing.hook("/on_play"));
    assert_eq!(
        access.on_play(player).await,
        Err(Rejection::new(PLAY_REFUSED))
    );

    let access = AccessControl::new().with_publish_done_hook(allowing.hook("/done"));
    access
        .on_publish_done(PublishDone {
            peer: PEER.parse().unwrap(),
            app: "live".into(),
            key: StreamKey::new("k", 8).unwrap(),
            query: None,
            name,
            duration: Duration::from_millis(1500),
        })
        .await;
    let calls = allowing.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].0, "/done");
    assert_eq!(
        calls[1].1,
        serde_json::json!({
            "action": "publish_done", "app": "live", "key": "k", "query": null,
            "name": "studio", "peer": PEER, "duration_ms": 1500,
        })
    );
}
