//! Publishing access control in `examples/server`: a keys file and HTTP admission hooks,
//! against real ffmpeg publishers and players on loopback. The server's stdout and stderr
//! (at `RUST_LOG=debug`) are captured and searched for the keys; the hooks are a small HTTP
//! service in the test that records what it is POSTed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use onair::rtmp::{ClientError, RtmpClient};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::task::JoinHandle;

use crate::hls_origin::get;
use crate::util::*;

/// `examples/server` on loopback ports, its output collected line by line.
struct Server {
    child: Child,
    rtmp: SocketAddr,
    http: SocketAddr,
    log: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Server {
    async fn start(args: &[&str]) -> Result<Self> {
        let (rtmp, http) = (free_addr()?, free_addr()?);
        let (rtmp_arg, http_arg) = (rtmp.to_string(), http.to_string());
        let mut all = vec!["--rtmp", &rtmp_arg, "--http", &http_arg];
        all.extend_from_slice(args);
        let mut child = spawn_example("server", &all, "debug")?;
        let log = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        readers.push(collect(stdout, log.clone()));
        readers.push(collect(stderr, log.clone()));
        let mut server = Self {
            child,
            rtmp,
            http,
            log,
            readers,
        };
        for addr in [rtmp, http] {
            if let Err(e) =
                wait_for_listener(addr, &mut server.child, Duration::from_secs(10)).await
            {
                bail!("the server did not come up: {e}\n{}", server.log());
            }
        }
        Ok(server)
    }

    fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the log has a line containing `text`.
    async fn wait_log(&self, text: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !self.log().contains(text) {
            ensure!(
                Instant::now() < deadline,
                "no log line with {text:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops it with SIGINT; everything it printed.
    async fn stop(mut self) -> Result<String> {
        let pid = self.child.id().context("server pid")?.to_string();
        run_ok(&tool("kill"), &["-INT", &pid], Duration::from_secs(5)).await?;
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .context("the server did not stop")??;
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        let log = self.log();
        ensure!(status.success(), "server exit {status}:\n{log}");
        Ok(log)
    }
}

fn collect(
    output: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<String>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    })
}

/// Fails if any of `secrets` appears in `log`.
fn assert_absent(log: &str, secrets: &[&str]) -> Result<()> {
    for secret in secrets {
        if let Some(line) = log.lines().find(|l| l.contains(secret)) {
            bail!("{secret:?} appears in the server's log: {line}");
        }
    }
    Ok(())
}

/// ffmpeg publishing `seconds` of the 10 s test file at its own pace (not checked: refused
/// publishers fail).
async fn ffmpeg_publish(url: &str, seconds: &str) -> Result<Finished> {
    let src = h264_aac_10s();
    run(
        &tool("ffmpeg"),
        &[
            "-v",
            "error",
            "-re",
            "-t",
            seconds,
            "-i",
            path_str(&src)?,
            "-c",
            "copy",
            "-f",
            "flv",
            url,
        ],
        Duration::from_secs(40),
    )
    .await
}

fn spawn_ffmpeg_publish(url: String, seconds: &'static str) -> JoinHandle<Result<Finished>> {
    tokio::spawn(async move { ffmpeg_publish(&url, seconds).await })
}

/// A publisher that must be refused: ffmpeg fails, promptly.
async fn assert_refused(url: &str, what: &str) -> Result<Duration> {
    let started = Instant::now();
    let f = ffmpeg_publish(url, "4").await?;
    let took = started.elapsed();
    ensure!(!f.success, "{what}: ffmpeg published");
    ensure!(
        took < Duration::from_secs(8),
        "{what}: refused only after {took:?}"
    );
    eprintln!(
        "{what}: ffmpeg failed after {took:?}: {}",
        f.stderr.lines().last().unwrap_or("")
    );
    Ok(took)
}

/// Frames ffmpeg decodes playing `url` over RTMP for a second; fails unless it exits 0.
/// (Joining a live stream, ffmpeg's null muxer may complain of equal timestamps: not
/// counted as failure.)
async fn rtmp_play(url: &str) -> Result<u64> {
    let f = run(
        &tool("ffmpeg"),
        &decode_args(url, Some("1")),
        Duration::from_secs(20),
    )
    .await?;
    ensure!(f.success, "playing {url}: {}", f.stderr);
    Ok(last_progress_frames(&f.stdout))
}

/// The variants' URIs of `/APP/NAME/master.m3u8`, once it is served.
async fn master_variants(http: SocketAddr, stream: &str) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(http, &format!("/{stream}/master.m3u8")).await?;
        if r.status == 200 {
            let master = onair_testkit::m3u8::read_master(&r.text());
            let mut uris: Vec<String> = master.variants.iter().map(|v| v.uri.clone()).collect();
            uris.sort();
            return Ok(uris);
        }
        ensure!(
            Instant::now() < deadline,
            "no master for {stream}: {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every URL path a key could be served under answers 404.
async fn assert_not_served(http: SocketAddr, key: &str) -> Result<()> {
    for path in [
        format!("/live/{key}/index.m3u8"),
        format!("/live/{key}/master.m3u8"),
        format!("/live/{key}/"),
    ] {
        let r = get(http, &path).await?;
        ensure!(r.status == 404, "{path}: {}", r.status);
    }
    let list = get(http, "/").await?.text();
    ensure!(!list.contains(key), "the stream list shows a key:\n{list}");
    Ok(())
}

/// What the hook service answers a request: status, body, delay.
type Answer = (u16, String, Duration);

/// An HTTP service recording each POST (path, JSON body) and answering what `answer` says.
struct HookService {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    task: JoinHandle<()>,
}

impl HookService {
    async fn start(
        answer: impl Fn(&str, &Value) -> Answer + Send + Sync + 'static,
    ) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (seen, answer) = (calls.clone(), Arc::new(answer));
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (seen, answer) = (seen.clone(), answer.clone());
                tokio::spawn(async move {
                    let Some((path, body)) = read_post(&mut socket).await else {
                        return;
                    };
                    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let (status, reply, delay) = answer(&path, &json);
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((path, json));
                    tokio::time::sleep(delay).await;
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                        reply.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Ok(Self { addr, calls, task })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn calls(&self, path: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }

    async fn wait_calls(&self, path: &str, count: usize, limit: Duration) -> Result<Vec<Value>> {
        let deadline = Instant::now() + limit;
        loop {
            let calls = self.calls(path);
            if calls.len() >= count {
                return Ok(calls);
            }
            ensure!(
                Instant::now() < deadline,
                "{path}: {} calls, expected {count}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for HookService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The request target and body of one HTTP/1.1 request.
async fn read_post(socket: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let path = head.split(' ').nth(1)?.to_owned();
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                return Some((path, body));
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn write_keys(path: &Path, text: &str) -> Result<()> {
    // a new file renamed into place, as editors and deploy tools write it
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

const RIGHT_KEY: &str = "k3y-right-5f1c9a";
const WRONG_KEY: &str = "k3y-wrong-77d02e";

/// A listed key plays under its name over RTMP and HLS, and is recorded under it; nothing is
/// served under the key; a wrong key is refused before media (ffmpeg fails, no HLS stream);
/// neither key shows in anything the server printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_file_publishes_under_the_public_name_only() -> Result<()> {
    let dir = test_dir("access-keys")?;
    let keys = dir.path().join("keys");
    let rec = dir.path().join("rec");
    std::fs::write(
        &keys,
        format!("# APP KEY NAME [LADDER]\nlive {RIGHT_KEY} studio   # the studio encoder\n"),
    )?;
    let server = Server::start(&["--keys", path_str(&keys)?, "--record", path_str(&rec)?]).await?;

    assert_refused(&server.url(&format!("live/{WRONG_KEY}")), "wrong key").await?;
    assert_not_served(server.http, WRONG_KEY).await?;
    ensure!(
        !rec.join("live").join(format!("{WRONG_KEY}.flv")).exists(),
        "a refused publisher was recorded"
    );

    let publisher = spawn_ffmpeg_publish(server.url(&format!("live/{RIGHT_KEY}?t=x")), "8");
    let ffmpeg = tool("ffmpeg");
    let rtmp_frames = rtmp_play(&server.url("live/studio")).await?;
    // while it is live: nothing under the key, and a player asking for the key is refused
    // (not even left waiting for a publisher)
    assert_not_served(server.http, RIGHT_KEY).await?;
    let mut by_key = RtmpClient::connect(server.rtmp, "live", &server.url("live")).await?;
    match by_key.play(RIGHT_KEY).await {
        Err(ClientError::Rejected { code, .. }) => eprintln!("playing the key: {code}"),
        other => bail!("playing the key: {other:?}"),
    }
    let hls_url = format!("http://{}/live/studio/index.m3u8", server.http);
    let hls = run(
        &ffmpeg,
        &crate::hls_origin::hls_decode_args(&hls_url, "4"),
        Duration::from_secs(30),
    )
    .await?;
    let hls_frames = decoded_frames(&hls, "HLS play of studio")?;
    eprintln!("studio: {rtmp_frames} frames over RTMP, {hls_frames} over HLS");
    ensure!(rtmp_frames >= 20 && hls_frames >= 60, "too few frames");

    let published = publisher.await??;
    ensure!(published.success, "publishing: {}", published.stderr);
    let log = server.stop().await?;
    let recordings: Vec<String> = std::fs::read_dir(rec.join("live"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure!(recordings == ["studio.flv"], "recordings: {recordings:?}");
    ensure!(log.contains("studio"), "the log was not captured:\n{log}");
    // what was searched, for a reader who wants to see it
    if std::env::var_os("ONAIR_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    assert_absent(&log, &[RIGHT_KEY, WRONG_KEY])?;
    eprintln!(
        "{} log lines, none with either key; recorded as {recordings:?}",
        log.lines().count()
    );
    Ok(())
}

/// A key added to the running server's keys file publishes without a restart; a removed key
/// is refused on its next publish; a file with an error keeps the keys in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_file_edits_apply_while_running() -> Result<()> {
    let dir = test_dir("access-reload")?;
    let keys = dir.path().join("keys");
    write_keys(&keys, "live k-old-31b4 old\n")?;
    let server = Server::start(&["--keys", path_str(&keys)?]).await?;

    assert_refused(&server.url("live/k-new-8e2a"), "a key not listed yet").await?;
    write_keys(&keys, "live k-new-8e2a new\n")?;
    server
        .wait_log("keys file reloaded", Duration::from_secs(5))
        .await?;
    let added = ffmpeg_publish(&server.url("live/k-new-8e2a"), "2").await?;
    ensure!(added.success, "the added key: {}", added.stderr);
    assert_refused(&server.url("live/k-old-31b4"), "a removed key").await?;

    write_keys(&keys, "live k-new-8e2a new\nlive k-broken\n")?;
    server
        .wait_log("keys file not reloaded", Duration::from_secs(5))
        .await?;
    let kept = ffmpeg_publish(&server.url("live/k-new-8e2a"), "2").await?;
    ensure!(kept.success, "the key in force: {}", kept.stderr);

    let log = server.stop().await?;
    let broken = log
        .lines()
        .find(|l| l.contains("keys file not reloaded"))
        .unwrap_or("");
    ensure!(
        broken.contains("line 2"),
        "the error names no line: {broken}"
    );
    eprintln!("broken file: {broken}");
    assert_absent(&log, &["k-old-31b4", "k-new-8e2a", "k-broken"])?;
    Ok(())
}

/// The keys file's ladder column: a stream's own ladder replaces the server's, `off`
/// packages it as published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_stream_ladders_from_the_keys_file() -> Result<()> {
    let dir = test_dir("access-ladder")?;
    let keys = dir.path().join("keys");
    std::fs::write(
        &keys,
        "live k-lad-a1 laddered source,240p\nlive k-lad-b2 plain off\n",
    )?;
    let server = Server::start(&[
        "--segment",
        "2",
        "--keys",
        path_str(&keys)?,
        "--ladder",
        "source,360p",
        "--preset",
        "ultrafast",
        "--cpu-budget",
        "0",
    ])
    .await?;
    let a = spawn_ffmpeg_publish(server.url("live/k-lad-a1"), "6");
    let b = spawn_ffmpeg_publish(server.url("live/k-lad-b2"), "6");
    let laddered = master_variants(server.http, "live/laddered").await?;
    let plain = master_variants(server.http, "live/plain").await?;
    eprintln!("laddered: {laddered:?}; plain: {plain:?}");
    ensure!(
        laddered == ["240p.m3u8", "source.m3u8"],
        "laddered: {laddered:?}"
    );
    ensure!(plain == ["index.m3u8"], "plain: {plain:?}");
    for (what, publisher) in [("laddered", a), ("plain", b)] {
        let f = publisher.await??;
        ensure!(f.success, "{what}: {}", f.stderr);
    }
    let log = server.stop().await?;
    assert_absent(&log, &["k-lad-a1", "k-lad-b2"])?;
    Ok(())
}

const HOOK_KEY: &str = "hk-9f3a71";
const HOOK_TOKEN: &str = "tok-5521e";

/// The publish hook is sent app, key, query and peer, and names the stream and its ladder;
/// the play hook accepts and refuses RTMP players; the publish-done hook hears of the
/// publisher leaving. The key and token show in no log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_decide_and_are_told() -> Result<()> {
    let hooks = HookService::start(|path, json| {
        let ok = |body: &str| (200, body.to_owned(), Duration::ZERO);
        match path {
            "/publish" if json["key"] == HOOK_KEY => {
                ok(r#"{"name":"hooked","ladder":"source,240p"}"#)
            }
            "/publish" => (403, String::new(), Duration::ZERO),
            "/play" if json["query"].as_str().is_some_and(|q| q.contains("deny")) => {
                (403, String::new(), Duration::ZERO)
            }
            _ => ok(""),
        }
    })
    .await?;
    let (publish, done, play) = (
        hooks.url("/publish"),
        hooks.url("/done"),
        hooks.url("/play"),
    );
    let server = Server::start(&[
        "--segment",
        "2",
        "--hook",
        &publish,
        "--hook-publish-done",
        &done,
        "--hook-play",
        &play,
        "--preset",
        "ultrafast",
        "--cpu-budget",
        "0",
    ])
    .await?;

    assert_refused(&server.url("live/unknown-key"), "refused by the hook").await?;
    let publisher = spawn_ffmpeg_publish(
        server.url(&format!("live/{HOOK_KEY}?token={HOOK_TOKEN}")),
        "6",
    );
    let variants = master_variants(server.http, "live/hooked").await?;
    ensure!(
        variants == ["240p.m3u8", "source.m3u8"],
        "the hook's ladder: {variants:?}"
    );
    let calls = hooks.calls("/publish");
    let call = calls
        .iter()
        .find(|c| c["key"] == HOOK_KEY)
        .context("no publish call with the key")?;
    eprintln!("publish hook got {call}");
    ensure!(
        call["action"] == "publish" && call["app"] == "live",
        "{call}"
    );
    ensure!(call["query"] == format!("token={HOOK_TOKEN}"), "{call}");
    ensure!(call["publish_type"] == "live", "{call}");
    let peer: SocketAddr = call["peer"]
        .as_str()
        .context("peer")?
        .parse()
        .context("peer is not ip:port")?;
    ensure!(peer.ip().is_loopback() && peer.port() != 0, "{call}");

    let ffmpeg = tool("ffmpeg");
    let allowed = rtmp_play(&server.url("live/hooked?viewer=1")).await?;
    ensure!(allowed > 0, "the allowed player decoded nothing");
    let started = Instant::now();
    let denied = run(
        &ffmpeg,
        &decode_args(&server.url("live/hooked?deny=1"), Some("1")),
        Duration::from_secs(20),
    )
    .await?;
    ensure!(!denied.success, "the refused player played");
    eprintln!(
        "player refused by the play hook in {:?}: {}",
        started.elapsed(),
        denied.stderr.lines().last().unwrap_or("")
    );
    let plays = hooks.calls("/play");
    ensure!(plays.len() == 2, "play calls: {plays:?}");
    ensure!(
        plays[0]["name"] == "hooked" && plays[0]["published"] == true,
        "{}",
        plays[0]
    );

    let published = publisher.await??;
    ensure!(published.success, "publishing: {}", published.stderr);
    let done_calls = hooks.wait_calls("/done", 1, Duration::from_secs(5)).await?;
    let done_call = &done_calls[0];
    eprintln!("publish-done hook got {done_call}");
    ensure!(
        done_call["action"] == "publish_done"
            && done_call["key"] == HOOK_KEY
            && done_call["name"] == "hooked"
            && done_call["duration_ms"].as_u64().unwrap_or(0) >= 3000,
        "{done_call}"
    );
    let log = server.stop().await?;
    assert_absent(&log, &[HOOK_KEY, HOOK_TOKEN, "unknown-key"])?;
    Ok(())
}

/// A hook that does not answer in time refuses the publisher (fails closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_times_out_refuses() -> Result<()> {
    let hooks = HookService::start(|_, _| (200, String::new(), Duration::from_secs(30))).await?;
    let url = hooks.url("/publish");
    let server = Server::start(&["--hook", &url, "--hook-timeout", "1"]).await?;
    let took = assert_refused(&server.url("live/slow-key-0c1"), "hook timed out").await?;
    ensure!(
        took >= Duration::from_millis(900),
        "refused before the deadline: {took:?}"
    );
    ensure!(hooks.calls("/publish").len() == 1, "the hook was not asked");
    assert_not_served(server.http, "slow-key-0c1").await?;
    let log = server.stop().await?;
    ensure!(
        log.contains("no answer within"),
        "the timeout is not logged"
    );
    assert_absent(&log, &["slow-key-0c1"])?;
    Ok(())
}

/// While the hook takes 2 s over one publisher, another with a listed key is accepted at
/// once: decisions do not hold up other connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hook_delays_no_one_else() -> Result<()> {
    let hooks =
        HookService::start(|_, _| (200, r#"{"name":"slow"}"#.to_owned(), Duration::from_secs(2)))
            .await?;
    let dir = test_dir("access-slow")?;
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "live k-fast-6d0 fast\n")?;
    let url = hooks.url("/publish");
    let server = Server::start(&["--keys", path_str(&keys)?, "--hook", &url]).await?;

    let slow_started = Instant::now();
    let slow = spawn_ffmpeg_publish(server.url("live/k-slow-2aa"), "4");
    hooks
        .wait_calls("/publish", 1, Duration::from_secs(10))
        .await?;
    // the slow publisher's decision is pending now
    let started = Instant::now();
    let mut fast = RtmpClient::connect(server.rtmp, "live", &server.url("live")).await?;
    match fast.publish("k-fast-6d0").await {
        Ok(()) => {}
        Err(ClientError::Rejected { description, .. }) => bail!("refused: {description}"),
        Err(e) => return Err(e.into()),
    }
    let fast_took = started.elapsed();
    let slow_pending = slow_started.elapsed();
    eprintln!(
        "listed key accepted in {fast_took:?}, {slow_pending:?} after the slow publisher started"
    );
    ensure!(
        fast_took < Duration::from_millis(400),
        "the listed key took {fast_took:?}"
    );
    ensure!(!slow.is_finished(), "the slow publisher was done already");
    fast.close().await?;

    let slow = slow.await??;
    ensure!(slow.success, "the slow publisher: {}", slow.stderr);
    ensure!(
        slow_started.elapsed() >= Duration::from_secs(2),
        "the slow hook was not slow"
    );
    let log = server.stop().await?;
    ensure!(
        log.contains("name=slow"),
        "the slow publisher was not accepted:\n{log}"
    );
    assert_absent(&log, &["k-fast-6d0", "k-slow-2aa"])?;
    Ok(())
}
