//! The CDN tier: two nginx edges (`deploy/nginx-edge.conf` with `deploy/onair-token.js`,
//! Debian's nginx and njs) cache an in-process onair origin that ffmpeg publishes to over RTMP
//! (LL-HLS: fMP4 segments of 1 s with parts, signed playback URLs). Hundreds of players on the
//! edges, written here on hyper's client, follow the stream as players do: classic ones poll
//! the playlist and fetch every segment from where they joined, low-latency ones make blocking
//! playlist reloads and fetch preload-hinted parts. The origin counts what reaches it through
//! its request observer, by the edge's source address (each edge binds its own loopback
//! address toward the origin).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use onair::hls::{
    HlsConfig, HlsOrigin, HttpObserver, HttpOrigin, HttpOriginConfig, PlaybackSigning,
    ServedRequest,
};
use onair::hls_packager::{sign_path, SigningKey};
use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::util::*;

const SECRET: &str = "the origin's and the edges' shared secret";
const EDGE_TEMPLATE: &str = include_str!("../../deploy/nginx-edge.conf");
const TOKEN_JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/onair-token.js");
const JS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";
/// The edges' own addresses toward the origin.
const EDGE_BINDS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
const CLASSIC_VIEWERS: usize = 200;
const LL_VIEWERS: usize = 6;
const WATCH: Duration = Duration::from_secs(12);
/// The origin's `max-age` of a plain playlist with 1 s segments.
const PLAYLIST_MAX_AGE: Duration = Duration::from_secs(1);

/// A request that reached the origin.
#[derive(Debug, Clone)]
struct OriginRequest {
    peer: IpAddr,
    path: String,
    query: Option<String>,
    status: u16,
    at: Instant,
}

/// The test's [`HttpObserver`]: every request the origin answered.
#[derive(Default)]
struct OriginLog(Mutex<Vec<OriginRequest>>);

impl HttpObserver for OriginLog {
    fn served(&self, r: &ServedRequest<'_>) {
        let entry = OriginRequest {
            peer: r.peer.ip(),
            path: r.path.to_owned(),
            query: r.query.map(str::to_owned),
            status: r.status.as_u16(),
            at: Instant::now(),
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }
}

impl OriginLog {
    fn entries(&self) -> Vec<OriginRequest> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One nginx edge, run by the test (killed when dropped).
struct Edge {
    addr: SocketAddr,
    bind: IpAddr,
    child: Child,
    dir: PathBuf,
}

impl Edge {
    async fn start(nginx: &Path, base: &Path, index: usize, origin: SocketAddr) -> Result<Self> {
        let dir = base.join(format!("edge{index}"));
        std::fs::create_dir_all(&dir)?;
        let addr = free_addr()?;
        let bind = EDGE_BINDS[index];
        let config = EDGE_TEMPLATE
            .replace("@PREFIX@", path_str(&dir)?)
            .replace("@USER@", "root")
            .replace("@LISTEN@", &addr.to_string())
            .replace("@ORIGIN@", &origin.to_string())
            .replace("@BIND@", bind)
            .replace("@CACHE_DIR@", path_str(&dir.join("cache"))?)
            .replace("@TOKEN_JS@", TOKEN_JS);
        let placeholder = config
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find(|l| l.contains('@'));
        ensure!(
            placeholder.is_none(),
            "unfilled placeholder: {placeholder:?}"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config)?;
        let error_log = dir.join("error.log");
        let mut child = Command::new(nginx)
            .args(["-p", &format!("{}/", dir.display()), "-e"])
            .arg(&error_log)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .env("ONAIR_SIGN_KEY", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting nginx")?;
        wait_for_listener(addr, &mut child, Duration::from_secs(5))
            .await
            .with_context(|| {
                let log = std::fs::read_to_string(&error_log).unwrap_or_default();
                format!("nginx edge {index} did not come up: {log}")
            })?;
        Ok(Self {
            addr,
            bind: bind.parse()?,
            child,
            dir,
        })
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// An answer as a player sees it.
struct Fetched {
    status: u16,
    cache_control: String,
    body: Bytes,
}

impl Fetched {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection, made again when the server closed it.
struct Client {
    addr: SocketAddr,
    sender: Option<SendRequest<Empty<Bytes>>>,
    requests: u64,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            sender: None,
            requests: 0,
        }
    }

    async fn get(&mut self, target: &str) -> Result<Fetched> {
        tokio::time::timeout(Duration::from_secs(10), self.get_once(target))
            .await
            .with_context(|| format!("GET {target} timed out"))?
    }

    async fn get_once(&mut self, target: &str) -> Result<Fetched> {
        let mut reused = self.sender.take();
        if let Some(s) = &mut reused {
            if s.ready().await.is_err() {
                reused = None;
            }
        }
        let mut sender = match reused {
            Some(s) => s,
            None => {
                let stream = tokio::net::TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                sender
            }
        };
        let request = hyper::Request::get(target)
            .header(hyper::header::HOST, "127.0.0.1")
            .body(Empty::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let cache_control = response
            .headers()
            .get(hyper::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.into_body().collect().await?.to_bytes();
        self.sender = Some(sender);
        self.requests += 1;
        Ok(Fetched {
            status,
            cache_control,
            body,
        })
    }

    /// A GET that must answer 200 with a body.
    async fn get_ok(&mut self, target: &str) -> Result<Bytes> {
        let r = self.get(target).await?;
        ensure!(
            r.status == 200 && !r.body.is_empty(),
            "GET {target}: {} {:?}",
            r.status,
            r.text()
        );
        Ok(r.body)
    }
}

/// What these players read in a media playlist.
#[derive(Debug, Default)]
struct Playlist {
    media_sequence: u64,
    map: Option<String>,
    segments: Vec<String>,
    parts: Vec<String>,
    preload_hint: Option<String>,
}

fn quoted(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

fn parse_playlist(text: &str) -> Result<Playlist> {
    ensure!(text.starts_with("#EXTM3U"), "not a playlist: {text:?}");
    let mut p = Playlist::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse()?;
        } else if line.starts_with("#EXT-X-MAP:") {
            p.map = quoted(line, "URI");
        } else if line.starts_with("#EXT-X-PART:") {
            p.parts.extend(quoted(line, "URI"));
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            p.preload_hint = quoted(line, "URI");
        } else if !line.starts_with('#') {
            p.segments.push(line.to_owned());
        }
    }
    Ok(p)
}

/// A URI of a playlist resolved against the playlist's path, as a player does (RFC 3986 5.2;
/// the origin lists relative names only).
fn resolve(base: &str, uri: &str) -> Result<String> {
    ensure!(
        !uri.contains("://") && !uri.starts_with('/') && !uri.contains(".."),
        "the origin listed {uri:?}: not a plain relative URI"
    );
    let folder = &base[..base.rfind('/').map_or(0, |i| i + 1)];
    Ok(format!("{folder}{uri}"))
}

/// `(msn, part)` of a part named `...<msn>.<part>.m4s`.
fn part_numbers(uri: &str) -> Result<(u64, u64)> {
    let stem = uri.strip_suffix(".m4s").context("part is not .m4s")?;
    let (rest, part) = stem.rsplit_once('.').context("no part number")?;
    let msn = rest
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    Ok((msn.parse()?, part.parse()?))
}

/// What one player did.
#[derive(Default)]
struct Watched {
    edge: usize,
    requests: u64,
    segments: u64,
    parts: u64,
    blocking_reloads: u64,
    /// An init segment and media fetched, kept by a few players for ffprobe.
    kept: Vec<(String, Bytes)>,
}

/// A classic player: the master playlist, then the media playlist every target duration,
/// and every segment from three before the live edge on, in order, without a gap.
async fn classic_player(
    edge: usize,
    addr: SocketAddr,
    master: String,
    until: Instant,
    keep: bool,
) -> Result<Watched> {
    let mut client = Client::new(addr);
    let mut watched = Watched {
        edge,
        ..Watched::default()
    };
    let text = client.get_ok(&master).await?;
    let variant = String::from_utf8_lossy(&text)
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .context("master playlist without a variant")?;
    let media = resolve(&master, &variant)?;
    let mut next: Option<u64> = None;
    let mut have_init = false;
    while Instant::now() < until {
        let polled = Instant::now();
        let playlist = parse_playlist(&String::from_utf8_lossy(&client.get_ok(&media).await?))?;
        if let (false, Some(map)) = (have_init, &playlist.map) {
            let init = client.get_ok(&resolve(&media, map)?).await?;
            if keep {
                watched.kept.push((map.clone(), init));
            }
            have_init = true;
        }
        let first = playlist.media_sequence;
        let last = first + playlist.segments.len() as u64;
        let from = next.unwrap_or(last.saturating_sub(3).max(first));
        ensure!(
            from >= first,
            "player fell behind: wants segment {from}, the playlist starts at {first}"
        );
        for (msn, uri) in (first..).zip(&playlist.segments) {
            if msn < from {
                continue;
            }
            let data = client.get_ok(&resolve(&media, uri)?).await?;
            watched.segments += 1;
            if keep {
                // the init segment and the last two segments
                if watched.kept.len() == 3 {
                    watched.kept.remove(1);
                }
                watched.kept.push((uri.clone(), data));
            }
            next = Some(msn + 1);
        }
        tokio::time::sleep_until((polled + Duration::from_secs(1)).into()).await;
    }
    watched.requests = client.requests;
    Ok(watched)
}

/// A low-latency player: blocking playlist reloads for the preload-hinted part, and the part
/// itself at the same time (two connections), as hls.js does in low-latency mode.
async fn ll_player(
    edge: usize,
    addr: SocketAddr,
    media: String,
    until: Instant,
    keep: bool,
) -> Result<Watched> {
    let (mut lists, mut parts) = (Client::new(addr), Client::new(addr));
    let mut watched = Watched {
        edge,
        ..Watched::default()
    };
    let mut playlist = parse_playlist(&String::from_utf8_lossy(&lists.get_ok(&media).await?))?;
    let map = playlist
        .map
        .clone()
        .context("LL-HLS playlist without EXT-X-MAP")?;
    let init = parts.get_ok(&resolve(&media, &map)?).await?;
    if keep {
        watched.kept.push((map, init));
    }
    while Instant::now() < until {
        let hint = playlist
            .preload_hint
            .clone()
            .context("LL-HLS playlist without a preload hint")?;
        let (msn, part) = part_numbers(&hint)?;
        let blocking = format!("{media}?_HLS_msn={msn}&_HLS_part={part}");
        let hinted = resolve(&media, &hint)?;
        let (reloaded, fetched) = tokio::join!(lists.get_ok(&blocking), parts.get_ok(&hinted));
        let fetched = fetched?;
        // one independent part (a segment's first), from the middle of the watch
        if keep && watched.kept.len() == 1 && watched.parts >= 10 && part == 0 {
            watched.kept.push((hint.clone(), fetched));
        }
        watched.parts += 1;
        watched.blocking_reloads += 1;
        playlist = parse_playlist(&String::from_utf8_lossy(&reloaded?))?;
        ensure!(
            playlist.parts.contains(&hint),
            "the reload for {msn}.{part} does not list {hint}"
        );
    }
    watched.requests = lists.requests + parts.requests;
    Ok(watched)
}

/// The in-process origin: RTMP in, signed LL-HLS out, every request logged.
struct Origin {
    rtmp: SocketAddr,
    http: SocketAddr,
    log: Arc<OriginLog>,
    stop: watch::Sender<bool>,
}

impl Origin {
    async fn start() -> Result<Self> {
        init_tracing();
        let origin = HlsOrigin::new(HlsConfig::low_latency())?;
        let rtmp = RtmpServer::bind("127.0.0.1:0", RtmpServerConfig::default(), AcceptAll)
            .await?
            .with_tap(Arc::new(origin.clone()));
        let mut config = HttpOriginConfig::default();
        config.signing = Some(PlaybackSigning::new(SECRET)?);
        let log = Arc::new(OriginLog::default());
        let http = HttpOrigin::bind("127.0.0.1:0", origin)
            .await?
            .with_config(config)
            .with_observer(log.clone());
        let (rtmp_addr, http_addr) = (rtmp.local_addr()?, http.local_addr()?);
        let (stop, rx) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(rtmp.run_until(until(rx.clone())));
        tokio::spawn(http.run_until(until(rx)));
        Ok(Self {
            rtmp: rtmp_addr,
            http: http_addr,
            log,
            stop,
        })
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Requests that must be refused with `403` and `no-store`.
async fn expect_forbidden(addr: SocketAddr, target: &str, what: &str) -> Result<()> {
    let r = Client::new(addr).get(target).await?;
    ensure!(
        r.status == 403 && r.cache_control == "no-store",
        "{what}: {target} answered {} (Cache-Control {:?}), not 403 no-store",
        r.status,
        r.cache_control
    );
    Ok(())
}

/// `init + media` in a file, decoded by ffmpeg (nothing reported) and counted by ffprobe.
async fn probe(dir: &Path, init: &Bytes, name: &str, media: &Bytes) -> Result<(u64, u64)> {
    let file = dir.join(format!("{name}.mp4"));
    std::fs::write(&file, [init.as_ref(), media.as_ref()].concat())?;
    decode_clean(&tool("ffmpeg"), &file).await?;
    let f = run_ok(
        &tool("ffprobe"),
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
            path_str(&file)?,
        ],
        Duration::from_secs(20),
    )
    .await?;
    let frames = |kind: &str| {
        f.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{kind},")))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((frames("video"), frames("audio")))
}

/// 200 classic and 6 low-latency players on two nginx edges in front of one origin, signed
/// URLs: every player gets every segment, part and playlist it asks for; the origin sees at
/// most one request per segment, part and blocking reload per edge, and per plain playlist at
/// most one per cache lifetime per edge; expired, tampered and missing tokens are refused at
/// the edge (without reaching the origin) and at the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_edges_cache_a_signed_origin() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(55), cdn_edges())
        .await
        .context("the CDN test took longer than 55 s")?
}

async fn cdn_edges() -> Result<()> {
    let nginx = tool("nginx");
    ensure!(
        Path::new(JS_MODULE).is_file(),
        "njs missing: install Debian's libnginx-mod-http-js (scripts/setup.sh)"
    );
    let started = Instant::now();
    let dir = test_dir("cdn")?;
    let origin = Origin::start().await?;
    let mut publisher = Command::new(tool("ffmpeg"))
        .args([
            "-nostdin",
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "50",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ])
        .arg(format!("rtmp://{}/live/cdn", origin.rtmp))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting ffmpeg")?;
    let mut edges = Vec::new();
    for index in 0..EDGE_BINDS.len() {
        edges.push(Edge::start(&nginx, dir.path(), index, origin.http).await?);
    }

    let signing = PlaybackSigning::new(SECRET)?;
    let master = signing.sign_url(
        "/live/cdn/master.m3u8",
        Duration::from_secs(600),
        SystemTime::now(),
    )?;
    let media = resolve(&master, "index.m3u8")?;
    // Players join once the stream has three segments (the hold-back of a classic player).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut direct = Client::new(origin.http);
    loop {
        if let Some(status) = publisher.try_wait()? {
            bail!("ffmpeg exited with {status} before the stream was ready");
        }
        let r = direct.get(&media).await?;
        if r.status == 200 && parse_playlist(&r.text())?.segments.len() >= 3 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no playlist with 3 segments: {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let joined = Instant::now();

    let until = joined + WATCH;
    let mut players = tokio::task::JoinSet::new();
    for i in 0..CLASSIC_VIEWERS {
        let edge = i % edges.len();
        let (addr, master) = (edges[edge].addr, master.clone());
        // joining over the first second, as viewers do
        let delay = Duration::from_millis((i as u64 * 1000) / CLASSIC_VIEWERS as u64);
        let keep = i < edges.len();
        players.spawn(async move {
            tokio::time::sleep(delay).await;
            classic_player(edge, addr, master, until, keep).await
        });
    }
    for i in 0..LL_VIEWERS {
        let edge = i % edges.len();
        let (addr, media) = (edges[edge].addr, media.clone());
        let keep = i == 0;
        players.spawn(async move { ll_player(edge, addr, media, until, keep).await });
    }
    let mut watched = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = players.join_next().await {
        match joined? {
            Ok(w) => watched.push(w),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let watch_secs = joined.elapsed().as_secs_f64();
    ensure!(
        failures.is_empty(),
        "{} of {} players failed; first: {}\n{}",
        failures.len(),
        CLASSIC_VIEWERS + LL_VIEWERS,
        failures[0],
        edges.iter().map(Edge::error_log).collect::<String>()
    );
    ensure!(
        publisher.try_wait()?.is_none(),
        "the publisher stopped while players watched"
    );

    // Refused tokens, at the edges and at the origin: none of them reaches the origin.
    let now = unix_now();
    let key = SigningKey::new(SECRET)?;
    let expired = sign_path(&key, "/live/cdn/master.m3u8", "/live/cdn/", now - 5)?;
    let foreign = sign_path(&key, "/live/other/master.m3u8", "/live/other/", now + 600)?
        .replace("/other/", "/cdn/");
    let tampered = {
        let at = master.find("/t.").context("no token")? + 16;
        let mut b = master.clone().into_bytes();
        b[at] = if b[at] == b'x' { b'y' } else { b'x' };
        String::from_utf8(b)?
    };
    let refused = [
        (expired.as_str(), "expired token"),
        (tampered.as_str(), "tampered token"),
        (foreign.as_str(), "another stream's token"),
        ("/live/cdn/master.m3u8", "no token"),
    ];
    let before = origin.log.entries().len();
    let mut forbidden = 0;
    for edge in &edges {
        for (target, what) in refused {
            expect_forbidden(edge.addr, target, &format!("edge {what}")).await?;
            forbidden += 1;
        }
    }
    let reached: Vec<_> = origin.log.entries()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    ensure!(
        reached.is_empty(),
        "refused requests reached the origin: {reached:?}"
    );
    for (target, what) in refused {
        expect_forbidden(origin.http, target, &format!("origin {what}")).await?;
        forbidden += 1;
    }
    ensure!(
        Client::new(edges[0].addr).get(&master).await?.status == 200,
        "the valid master URL stopped working"
    );

    // What reached the origin, per edge.
    let log = origin.log.entries();
    let mut lines = Vec::new();
    for (index, edge) in edges.iter().enumerate() {
        let from_edge: Vec<&OriginRequest> = log.iter().filter(|r| r.peer == edge.bind).collect();
        let bad: Vec<_> = from_edge.iter().filter(|r| r.status != 200).collect();
        ensure!(bad.is_empty(), "edge {index}: origin answered {bad:?}");
        let mut media_files: HashMap<String, u32> = HashMap::new();
        let mut blocking: HashMap<String, u32> = HashMap::new();
        let mut playlists: HashMap<String, Vec<Instant>> = HashMap::new();
        for r in &from_edge {
            let path = signing
                .verify(&r.path, SystemTime::now())
                .with_context(|| format!("edge {index} passed on {}", r.path))?;
            match &r.query {
                Some(q) if q.contains("_HLS_msn=") => {
                    *blocking.entry(format!("{path}?{q}")).or_default() += 1;
                }
                _ if path.ends_with(".m3u8") => playlists.entry(path).or_default().push(r.at),
                _ => *media_files.entry(path).or_default() += 1,
            }
        }
        let worst = |m: &HashMap<String, u32>| {
            m.iter()
                .max_by_key(|(_, n)| **n)
                .map(|(k, n)| (k.clone(), *n))
        };
        if let Some((file, n)) = worst(&media_files) {
            ensure!(n == 1, "edge {index}: the origin served {file} {n} times");
        }
        if let Some((url, n)) = worst(&blocking) {
            ensure!(n == 1, "edge {index}: the origin answered {url} {n} times");
        }
        let mut playlist_text = Vec::new();
        for (path, mut times) in playlists {
            times.sort();
            let min_gap = times
                .windows(2)
                .map(|w| w[1] - w[0])
                .min()
                .unwrap_or(Duration::MAX);
            // nginx keeps time in whole seconds: a copy lives at least its max-age
            ensure!(
                min_gap >= PLAYLIST_MAX_AGE.mul_f64(0.9),
                "edge {index}: {path} reached the origin twice within {min_gap:?}"
            );
            let bound = (watch_secs + started.elapsed().as_secs_f64())
                / PLAYLIST_MAX_AGE.as_secs_f64()
                + 1.0;
            ensure!(
                (times.len() as f64) <= bound,
                "edge {index}: {path} reached the origin {} times",
                times.len()
            );
            let name = path.rsplit('/').next().unwrap_or("").to_owned();
            playlist_text.push(match times.len() {
                1 => format!("{name} once"),
                n => format!(
                    "{name} {n} times (at least {:.2} s apart)",
                    min_gap.as_secs_f64()
                ),
            });
        }
        playlist_text.sort();
        let served: u64 = watched
            .iter()
            .filter(|w| w.edge == index)
            .map(|w| w.requests)
            .sum();
        let players = watched.iter().filter(|w| w.edge == index).count();
        let segments = media_files
            .keys()
            .filter(|k| !k.contains("init") && k.matches('.').count() == 1)
            .count();
        let parts = media_files
            .keys()
            .filter(|k| k.matches('.').count() == 2)
            .count();
        lines.push(format!(
            "edge {index}: {players} players, {served} requests answered; origin got {} requests: \
             {segments} segments, {parts} parts, {} init/other files (each once), {} blocking \
             reloads (each once), playlists {}",
            from_edge.len(),
            media_files.len() - segments - parts,
            blocking.len(),
            playlist_text.join(", ")
        ));
    }

    // A few segments and a part as players got them from the edges: they decode.
    let mut probed = Vec::new();
    for w in watched.iter().filter(|w| w.kept.len() >= 2) {
        let (_, init) = &w.kept[0];
        for (name, data) in &w.kept[1..] {
            let (video, audio) = probe(dir.path(), init, name, data).await?;
            // a segment is 1 s (30 frames, 47 AAC frames), a part a third of that
            let least = if w.parts > 0 { (8, 10) } else { (25, 40) };
            ensure!(
                video >= least.0 && audio >= least.1,
                "{name}: {video} video and {audio} audio frames"
            );
            probed.push(format!("{name} {video}v/{audio}a"));
        }
    }
    ensure!(probed.len() == 5, "probed {probed:?}");

    let classic: Vec<_> = watched.iter().filter(|w| w.parts == 0).collect();
    let ll: Vec<_> = watched.iter().filter(|w| w.parts > 0).collect();
    let min_segments = classic.iter().map(|w| w.segments).min().unwrap_or(0);
    ensure!(
        classic.len() == CLASSIC_VIEWERS && ll.len() == LL_VIEWERS,
        "{} classic, {} low-latency players finished",
        classic.len(),
        ll.len()
    );
    // joined three segments behind the edge, then followed for WATCH
    ensure!(
        min_segments as f64 >= WATCH.as_secs_f64() - 2.0,
        "a player got only {min_segments} segments in {watch_secs:.1} s"
    );
    let total: u64 = watched.iter().map(|w| w.requests).sum();
    eprintln!(
        "cdn: {} classic players (min {min_segments} segments each) and {} low-latency players \
         ({} parts, {} blocking reloads) watched {watch_secs:.1} s through {} edges: {total} \
         requests, all 200; the origin answered {} requests in all",
        classic.len(),
        ll.len(),
        ll.iter().map(|w| w.parts).sum::<u64>(),
        ll.iter().map(|w| w.blocking_reloads).sum::<u64>(),
        edges.len(),
        log.iter()
            .filter(|r| edges.iter().any(|e| e.bind == r.peer))
            .count()
    );
    for line in lines {
        eprintln!("cdn: {line}");
    }
    eprintln!("cdn: decoded from the edges: {}", probed.join(", "));
    eprintln!(
        "cdn: {forbidden} requests refused 403 no-store (expired, tampered, another stream's, no \
         token; {} at the edges without reaching the origin); took {:.1} s",
        refused.len() * edges.len(),
        started.elapsed().as_secs_f64()
    );
    for mut edge in edges {
        let _ = edge.child.kill().await;
    }
    let _ = publisher.kill().await;
    Ok(())
}
