//! The live HLS origin (`onair::hls`) against real players: the RTMP server with an
//! [`HlsOrigin`] tap and an [`HttpOrigin`] run in-process on ephemeral ports; ffmpeg/ffprobe
//! 5.1 and FFmpeg 9 publish over RTMP and read the HLS over HTTP(S); a small HTTP/1.1 client
//! written here checks the headers a CDN in front of the origin relies on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use onair::amf::amf0::Amf0Value;
use onair::hls::{HlsConfig, HlsOrigin, HlsSegmentFormat, HttpOrigin};
use onair::rtmp::{AcceptAll, RtmpClient, RtmpServer, RtmpServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use crate::server::publish_tags;
use crate::util::*;

/// The RTMP server feeding an HLS origin served over HTTP (or HTTPS), in-process.
pub(crate) struct LiveOrigin {
    pub(crate) origin: HlsOrigin,
    rtmp: SocketAddr,
    pub(crate) http: SocketAddr,
    scheme: &'static str,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl LiveOrigin {
    pub(crate) async fn start(config: HlsConfig) -> Result<Self> {
        Self::start_with_tls(config, None).await
    }

    /// An origin reading the time from `clock`.
    pub(crate) async fn start_with_clock(
        config: HlsConfig,
        clock: Arc<dyn onair::hls::Clock>,
    ) -> Result<Self> {
        Self::serve(HlsOrigin::with_clock(config, clock)?, None).await
    }

    async fn start_with_tls(config: HlsConfig, tls: Option<(&[u8], &[u8])>) -> Result<Self> {
        Self::serve(HlsOrigin::new(config)?, tls).await
    }

    async fn serve(origin: HlsOrigin, tls: Option<(&[u8], &[u8])>) -> Result<Self> {
        init_tracing();
        let rtmp = RtmpServer::bind("127.0.0.1:0", RtmpServerConfig::default(), AcceptAll)
            .await?
            .with_tap(Arc::new(origin.clone()));
        let mut http = HttpOrigin::bind("127.0.0.1:0", origin.clone()).await?;
        let scheme = match tls {
            Some((cert, key)) => {
                http = http.with_tls(cert, key)?;
                "https"
            }
            None => "http",
        };
        let (rtmp_addr, http_addr) = (rtmp.local_addr()?, http.local_addr()?);
        let (stop, rx) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let tasks = vec![
            tokio::spawn(rtmp.run_until(until(rx.clone()))),
            tokio::spawn(http.run_until(until(rx))),
        ];
        Ok(Self {
            origin,
            rtmp: rtmp_addr,
            http: http_addr,
            scheme,
            stop,
            tasks,
        })
    }

    pub(crate) fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    pub(crate) fn http_url(&self, path: &str) -> String {
        format!("{}://{}/{path}", self.scheme, self.http)
    }

    pub(crate) async fn stop(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .context("origin did not stop in time")???;
        }
        Ok(())
    }
}

impl Drop for LiveOrigin {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// ffmpeg arguments that play a live HLS playlist from its first segment, decoding to nothing
/// (errors on stderr, `-progress` frame counts on stdout). With no `EXT-X-ENDLIST`, the demuxer
/// stops after `hold` playlist reloads that bring nothing new. ffmpeg 5.1 fails to open any
/// live playlist with a hold of 1 ("Error when loading first segment"); FFmpeg 9 reloads more
/// often and gives up after 2 misses while the next 1-2 s segment is being made, so it needs
/// more.
pub(crate) fn hls_decode_args<'a>(url: &'a str, hold: &'a str) -> Vec<&'a str> {
    vec![
        "-v",
        "error",
        "-nostats",
        "-live_start_index",
        "0",
        "-m3u8_hold_counters",
        hold,
        "-i",
        url,
        "-progress",
        "pipe:1",
        "-f",
        "null",
        "-",
    ]
}

/// An HTTP/1.1 response as read off the wire.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`); reads the head, then exactly
/// `Content-Length` bytes of body (none for HEAD, 204 and 304).
async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse> {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    ensure!(
        status_line.starts_with("HTTP/1.1 "),
        "status line {status_line:?}"
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let expect_body = method != "HEAD" && status != 204 && status != 304;
    match (expect_body, length) {
        (false, _) => {}
        (true, Some(len)) => {
            while body.len() < len {
                let n = stream.read(&mut chunk).await?;
                ensure!(
                    n > 0,
                    "connection closed after {} of {len} bytes",
                    body.len()
                );
                body.extend_from_slice(&chunk[..n]);
            }
        }
        (true, None) => loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        },
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse> {
    let stream = TcpStream::connect(addr).await?;
    tokio::time::timeout(
        Duration::from_secs(15),
        http_exchange(stream, method, path, headers),
    )
    .await
    .with_context(|| format!("{method} {path} timed out"))?
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Result<HttpResponse> {
    http(addr, "GET", path, &[]).await
}

/// What a media playlist says, as far as these tests look.
#[derive(Debug, Default)]
pub(crate) struct MediaPlaylist {
    pub(crate) target_duration: u64,
    pub(crate) media_sequence: u64,
    /// (EXTINF seconds, URI)
    pub(crate) segments: Vec<(f64, String)>,
    parts: Vec<String>,
    preload_hint: Option<String>,
}

fn quoted_attr(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

pub(crate) fn parse_playlist(text: &str) -> Result<MediaPlaylist> {
    ensure!(text.starts_with("#EXTM3U"), "not a playlist: {text:?}");
    let mut p = MediaPlaylist::default();
    let mut duration = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_duration = v.parse()?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse()?;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            duration = Some(v.split(',').next().unwrap_or("").parse::<f64>()?);
        } else if line.starts_with("#EXT-X-PART:") {
            p.parts.extend(quoted_attr(line, "URI"));
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            p.preload_hint = quoted_attr(line, "URI");
        } else if !line.starts_with('#') {
            let d = duration.take().context("segment URI without EXTINF")?;
            p.segments.push((d, line.to_owned()));
        }
    }
    Ok(p)
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

/// The playlist once the stream exists and has a segment (a request before the publisher
/// connected is 404).
async fn first_playlist(addr: SocketAddr, base: &str) -> Result<MediaPlaylist> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = get(addr, &format!("{base}/index.m3u8")).await?;
        if r.status == 200 {
            return parse_playlist(&r.text());
        }
        ensure!(
            Instant::now() < deadline,
            "no playlist: {} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn playlist(addr: SocketAddr, base: &str) -> Result<MediaPlaylist> {
    let r = get(addr, &format!("{base}/index.m3u8")).await?;
    ensure!(r.status == 200, "playlist: {} {}", r.status, r.text());
    parse_playlist(&r.text())
}

/// m3u8-rs, an independent parser, reads the master and media playlists the origin serves
/// under `base` (`fetch` GETs a path): the master's variant has a `BANDWIDTH`, `CODECS` that
/// start with a video track (if any) and leads to the media playlist; m3u8-rs reads in that
/// playlist what this file's own parser reads, within RFC 8216's rules
/// (`onair_testkit::m3u8`); every segment and part it lists is served.
async fn check_with_m3u8_rs<F, Fut>(fetch: F, base: &str) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<HttpResponse>>,
{
    let master = fetch(format!("{base}/master.m3u8")).await?;
    ensure!(
        master.status == 200,
        "{base}/master.m3u8: {}",
        master.status
    );
    let master = onair_testkit::m3u8::read_master(&master.text());
    ensure!(
        master.variants.len() == 1,
        "variants: {:?}",
        master.variants
    );
    let variant = &master.variants[0];
    // also while the stream lingers after its publisher left
    let codecs = variant.codecs.as_deref().unwrap_or("");
    ensure!(
        codecs.contains("avc1.") || codecs.contains("hvc1."),
        "CODECS={codecs}"
    );
    let media = fetch(format!("{base}/{}", variant.uri)).await?;
    ensure!(media.status == 200, "{}: {}", variant.uri, media.status);
    let text = media.text();
    let view = onair_testkit::m3u8::read_media(&text);
    let ours = parse_playlist(&text)?;
    ensure!(
        view.playlist.target_duration == ours.target_duration,
        "{text}"
    );
    ensure!(
        view.playlist.media_sequence == ours.media_sequence,
        "{text}"
    );
    ensure!(view.segments.len() == ours.segments.len(), "{text}");
    for (s, (duration, uri)) in view.segments.iter().zip(&ours.segments) {
        ensure!(
            &s.uri == uri && (s.duration - duration).abs() < 1e-5,
            "{uri}: {text}"
        );
    }
    let parts: Vec<&str> = view
        .segments
        .iter()
        .flat_map(|s| &s.parts)
        .chain(&view.open_parts)
        .map(|p| p.uri.as_str())
        .collect();
    ensure!(parts == ours.parts, "parts: {parts:?}, {:?}", ours.parts);
    ensure!(view.preload_hint == ours.preload_hint, "{text}");
    let listed = view.segments.iter().map(|s| s.uri.as_str());
    for uri in listed.chain(parts.iter().copied()) {
        let r = fetch(format!("{base}/{uri}")).await?;
        ensure!(
            r.status == 200 && !r.body.is_empty(),
            "{uri}: {} {} bytes",
            r.status,
            r.body.len()
        );
    }
    eprintln!(
        "m3u8-rs: master BANDWIDTH={} CODECS={codecs} -> {}: target {} s, sequence {}, {} \
         segments ({:.3} s), {} parts, all served",
        variant.bandwidth,
        variant.uri,
        view.playlist.target_duration,
        view.playlist.media_sequence,
        view.segments.len(),
        view.total_duration(),
        parts.len()
    );
    Ok(())
}

/// ffmpeg publishes H.264+AAC live; ffmpeg 5.1 plays the TS HLS from its first
/// segment while it is being published, and ffprobe reads the master playlist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_hls_plays_live_in_ffmpeg() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let mut config = HlsConfig::default();
    config.segment_duration = Duration::from_secs(1);
    let origin = LiveOrigin::start(config).await?;
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        origin.rtmp_url("live/ts1"),
        &[],
        Duration::from_secs(40),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let master = get(origin.http, "/live/ts1/master.m3u8").await?;
    let master_text = master.text();
    eprintln!("master playlist:\n{master_text}");
    ensure!(master.status == 200, "master: {}", master.status);
    assert!(
        master_text.contains("avc1.") && master_text.contains("mp4a.40.2"),
        "master CODECS: {master_text}"
    );
    let master_url = origin.http_url("live/ts1/master.m3u8");
    let probe = run_ok(
        &tool("ffprobe"),
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
            &master_url,
        ],
        Duration::from_secs(20),
    )
    .await?;
    let mut streams: Vec<&str> = probe
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    streams.sort();
    streams.dedup();
    eprintln!("ffprobe of the master playlist over HTTP: {streams:?}");
    assert_eq!(streams, vec!["aac,audio", "h264,video"], "{}", probe.stderr);

    let url = origin.http_url("live/ts1/index.m3u8");
    let started = Instant::now();
    let player = run(
        &ffmpeg,
        &hls_decode_args(&url, "2"),
        Duration::from_secs(40),
    )
    .await?;
    let frames = decoded_frames(&player, "ffmpeg playing the TS HLS")?;
    let published = publisher.await??;
    ensure!(published.success);
    let p = playlist(origin.http, "/live/ts1").await?;
    check_with_m3u8_rs(
        |path| async move { get(origin.http, &path).await },
        "/live/ts1",
    )
    .await?;
    eprintln!(
        "TS HLS: ffmpeg decoded {frames} video frames cleanly in {:.1} s; final playlist: \
         media sequence {}, target {} s, EXTINFs {:?}",
        started.elapsed().as_secs_f64(),
        p.media_sequence,
        p.target_duration,
        p.segments.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    // The source has 300 frames (10 s at 30 fps) in 2 s GOPs. The player starts at the first
    // segment and the origin closes the open segment when the publisher leaves, so every
    // frame is in some segment: allow a few for the decoder's B-frame reordering at the very
    // end (none were lost in practice) but never a whole GOP (60).
    assert!(
        (295..=300).contains(&frames),
        "ffmpeg decoded {frames} of the 300 frames sent"
    );
    assert_eq!(p.media_sequence, 0, "a window of 6 keeps all 5 segments");
    let total: f64 = p.segments.iter().map(|s| s.0).sum();
    assert!((9.5..=10.5).contains(&total), "segments sum to {total} s");
    origin.stop().await
}

/// The headers a CDN and a browser rely on, read off the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_headers_cache_cors_and_methods() -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let origin = LiveOrigin::start(HlsConfig::default()).await?;
    let mut client = RtmpClient::connect(origin.rtmp, "live", &origin.rtmp_url("live")).await?;
    client.publish("hdr").await?;
    // 10 s of media as fast as it goes: 2 s segments are closed at each keyframe.
    let (video, audio) = publish_tags(&mut client, &tags, usize::MAX).await?;
    eprintln!("published {video} video / {audio} audio tags");

    let pl = get(origin.http, "/live/hdr/index.m3u8").await?;
    eprintln!("playlist headers: {:?}", pl.headers);
    assert_eq!(pl.status, 200);
    assert_eq!(pl.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(
        pl.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(pl.header("access-control-allow-origin"), Some("*"));
    let parsed = parse_playlist(&pl.text())?;
    ensure!(!parsed.segments.is_empty(), "no segments: {}", pl.text());
    let segment = format!("/live/hdr/{}", parsed.segments[0].1);

    let seg = get(origin.http, &segment).await?;
    eprintln!(
        "segment headers: {:?} ({} bytes)",
        seg.headers,
        seg.body.len()
    );
    assert_eq!(seg.status, 200);
    assert_eq!(
        seg.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert_eq!(seg.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        seg.header("content-length"),
        Some(seg.body.len().to_string().as_str())
    );
    assert!(seg.body.len() > 188 && seg.body.len() % 188 == 0);
    assert_eq!(seg.body[0], 0x47, "TS sync byte");

    let master = get(origin.http, "/live/hdr/master.m3u8").await?;
    assert_eq!(master.status, 200);
    assert_eq!(master.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(master.header("access-control-allow-origin"), Some("*"));

    let pre = http(
        origin.http,
        "OPTIONS",
        &segment,
        &[
            ("Origin", "https://player.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    )
    .await?;
    eprintln!("preflight: {} {:?}", pre.status, pre.headers);
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    let methods = pre.header("access-control-allow-methods").unwrap_or("");
    assert!(methods.split(',').any(|m| m.trim() == "GET"), "{methods}");
    assert_eq!(pre.header("access-control-allow-headers"), Some("range"));
    assert!(pre.body.is_empty());

    let head = http(origin.http, "HEAD", &segment, &[]).await?;
    eprintln!("HEAD: {} {:?}", head.status, head.headers);
    assert_eq!(head.status, 200);
    for h in [
        "cache-control",
        "content-type",
        "content-length",
        "access-control-allow-origin",
    ] {
        assert_eq!(head.header(h), seg.header(h), "HEAD {h}");
    }
    assert!(head.body.is_empty());

    let post = http(origin.http, "POST", &segment, &[("Content-Length", "0")]).await?;
    eprintln!("POST: {} {:?}", post.status, post.headers);
    assert_eq!(post.status, 405);
    let allow = post.header("allow").unwrap_or("");
    assert!(
        allow.split(',').any(|m| m.trim() == "GET"),
        "Allow: {allow}"
    );
    assert_eq!(post.header("access-control-allow-origin"), Some("*"));

    for path in [
        "/live/nobody/index.m3u8",
        "/live/nobody/master.m3u8",
        "/live/hdr/no-such-file.ts",
    ] {
        let nf = get(origin.http, path).await?;
        eprintln!(
            "{path}: {} cache-control {:?}",
            nf.status,
            nf.header("cache-control")
        );
        assert_eq!(nf.status, 404, "{path}");
        assert_eq!(nf.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(
            nf.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
    check_with_m3u8_rs(
        |path| async move { get(origin.http, &path).await },
        "/live/hdr",
    )
    .await?;
    client.close().await?;
    origin.stop().await
}

/// A segment that left the playlist is served for the grace period, then 404, while
/// current segments are served; after the publisher left and `linger` passed, the playlist is
/// 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aged_out_segments_and_lingering_streams_go_404() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let mut config = HlsConfig::default();
    config.segment_duration = Duration::from_secs(1);
    config.window = 2;
    config.linger = Duration::from_secs(2);
    let (configured, window) = (config.segment_duration, config.window as u32);
    let origin = LiveOrigin::start(config).await?;
    // Looped so that media keeps coming after the first segment's grace ran out (expiry is
    // driven by incoming media).
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        origin.rtmp_url("live/age"),
        &["-stream_loop", "1"],
        Duration::from_secs(40),
    );
    let base = "/live/age";
    let first = first_playlist(origin.http, base).await?;
    let first_segment = first.segments[0].1.clone();
    let first_msn = first.media_sequence;
    // RFC 8216 6.2.2: served for its duration plus the playlist's after leaving it; the origin
    // counts (window + 2) target durations as declared (2 s here: the source's GOP), not as
    // configured (1 s).
    let grace = configured.max(Duration::from_secs(first.target_duration)) * (window + 2);
    eprintln!(
        "first playlist: sequence {first_msn}, segments {:?}",
        first.segments
    );

    // When does it leave the playlist?
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let p = playlist(origin.http, base).await?;
        if !p.segments.iter().any(|s| s.1 == first_segment) {
            eprintln!(
                "{first_segment} left the playlist: sequence {}, segments {:?}",
                p.media_sequence, p.segments
            );
            break Instant::now();
        }
        ensure!(Instant::now() < deadline, "the first segment never left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Served during the grace period, then gone.
    let gone = loop {
        let r = get(origin.http, &format!("{base}/{first_segment}")).await?;
        match r.status {
            200 => {}
            404 => {
                assert_eq!(r.header("cache-control"), Some("no-store"));
                break left.elapsed();
            }
            s => bail!("{first_segment}: status {s}"),
        }
        ensure!(
            left.elapsed() < grace + Duration::from_secs(5),
            "{first_segment} still served {:?} after it left the playlist",
            left.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let current = playlist(origin.http, base).await?;
    let last = &current.segments.last().context("empty playlist")?.1;
    let r = get(origin.http, &format!("{base}/{last}")).await?;
    eprintln!(
        "{first_segment} answered 404 {:.2} s after leaving the playlist (grace {grace:?}); \
         current segment {last}: {} ({} bytes), playlist sequence {}",
        gone.as_secs_f64(),
        r.status,
        r.body.len(),
        current.media_sequence
    );
    assert_eq!(r.status, 200, "current segment");
    check_with_m3u8_rs(|path| async move { get(origin.http, &path).await }, base).await?;
    assert!(current.media_sequence > first_msn);
    // Polled every 100 ms; the playlist saw it leave at most one poll late.
    assert!(
        gone + Duration::from_millis(300) >= grace,
        "gone after {gone:?}, before the {grace:?} grace period"
    );

    // The publisher leaves: the playlist stays for `linger` (2 s), then 404.
    publisher.abort();
    let _ = publisher.await;
    let stopped = Instant::now();
    let lingering = get(origin.http, &format!("{base}/index.m3u8")).await?;
    assert_eq!(lingering.status, 200, "right after the publisher left");
    let removed = loop {
        let r = get(origin.http, &format!("{base}/index.m3u8")).await?;
        if r.status == 404 {
            assert_eq!(r.header("cache-control"), Some("no-store"));
            break stopped.elapsed();
        }
        assert_eq!(r.status, 200);
        ensure!(
            stopped.elapsed() < Duration::from_secs(10),
            "playlist still served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seg = get(origin.http, &format!("{base}/{last}")).await?;
    eprintln!(
        "publisher stopped: playlist 404 after {:.2} s (linger 2 s); its last segment now {}",
        removed.as_secs_f64(),
        seg.status
    );
    assert!(
        removed >= Duration::from_millis(1500),
        "removed after {removed:?}"
    );
    assert_eq!(seg.status, 404);
    origin.stop().await
}

/// Low-Latency HLS: blocking playlist reload, held preload-hint requests, a refused
/// far-future `_HLS_msn`, and ffmpeg 5.1 (which ignores parts) playing the segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_blocking_reload_and_preload_hints() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let origin = LiveOrigin::start(HlsConfig::low_latency()).await?;
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        origin.rtmp_url("live/ll"),
        &[],
        Duration::from_secs(40),
    );
    let base = "/live/ll";
    let url = origin.http_url("live/ll/index.m3u8");
    // ffmpeg 5.1 knows nothing of parts: given a playlist that has parts but no whole
    // segment yet, it finds no streams ("Output file #0 does not contain any stream"). Start
    // it once the first segment is listed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while first_playlist(origin.http, base).await?.segments.is_empty() {
        ensure!(Instant::now() < deadline, "no whole segment");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let player = {
        let (ffmpeg, url) = (ffmpeg.clone(), url.clone());
        tokio::spawn(async move {
            run(
                &ffmpeg,
                &hls_decode_args(&url, "2"),
                Duration::from_secs(40),
            )
            .await
        })
    };

    let text = get(origin.http, &format!("{base}/index.m3u8"))
        .await?
        .text();
    let p = parse_playlist(&text)?;
    let hint = p.preload_hint.clone().context("no EXT-X-PRELOAD-HINT")?;
    let last_part = p.parts.last().context("no EXT-X-PART")?.clone();
    let (hint_msn, hint_part) = part_numbers(&hint)?;
    eprintln!(
        "LL playlist: target {} s, sequence {}, {} segments, {} parts, last part {last_part}, \
         preload hint {hint} = ({hint_msn}, {hint_part})",
        p.target_duration,
        p.media_sequence,
        p.segments.len(),
        p.parts.len()
    );
    assert!(
        !p.parts.contains(&hint),
        "the hinted part is not published yet"
    );
    // The hint names the part after the last one: the next in its segment, or the first of
    // the next segment.
    let (last_msn, last_part_no) = part_numbers(&last_part)?;
    assert!(
        (hint_msn, hint_part) == (last_msn, last_part_no + 1)
            || (hint_msn, hint_part) == (last_msn + 1, 0),
        "hint {hint} does not follow {last_part}"
    );
    assert!(text.contains("#EXT-X-SERVER-CONTROL:") && text.contains("CAN-BLOCK-RELOAD=YES"));

    // Blocking reload for the hinted (next) part.
    let t = Instant::now();
    let blocked = get(
        origin.http,
        &format!("{base}/index.m3u8?_HLS_msn={hint_msn}&_HLS_part={hint_part}"),
    )
    .await?;
    let waited = t.elapsed();
    let after = parse_playlist(&blocked.text())?;
    eprintln!(
        "_HLS_msn={hint_msn}&_HLS_part={hint_part}: {} after {:.0} ms, cache-control {:?}, \
         last part now {:?}",
        blocked.status,
        waited.as_secs_f64() * 1000.0,
        blocked.header("cache-control"),
        after.parts.last()
    );
    assert_eq!(blocked.status, 200);
    assert!(after.parts.contains(&hint), "answer lacks {hint}");
    assert!(waited < Duration::from_secs(3 * p.target_duration.max(1)));

    // A request far ahead of the live edge is refused rather than held.
    let far = hint_msn + 10;
    let t = Instant::now();
    let refused = get(
        origin.http,
        &format!("{base}/index.m3u8?_HLS_msn={far}&_HLS_part=0"),
    )
    .await?;
    eprintln!(
        "_HLS_msn={far}: {} after {:.0} ms",
        refused.status,
        t.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.header("cache-control"), Some("no-store"));

    // The preload hint of the newest playlist: held until the part exists.
    let now = parse_playlist(
        &get(origin.http, &format!("{base}/index.m3u8"))
            .await?
            .text(),
    )?;
    let hint = now.preload_hint.context("no preload hint")?;
    let t = Instant::now();
    let part = get(origin.http, &format!("{base}/{hint}")).await?;
    let waited = t.elapsed();
    eprintln!(
        "preload hint {hint}: {} after {:.0} ms, {} bytes, first box {:?}, content-type {:?}, \
         cache-control {:?}",
        part.status,
        waited.as_secs_f64() * 1000.0,
        part.body.len(),
        part.body.get(4..8).map(String::from_utf8_lossy),
        part.header("content-type"),
        part.header("cache-control")
    );
    assert_eq!(part.status, 200);
    assert!(part.body.len() > 8);
    assert_eq!(&part.body[4..8], b"moof");
    assert!(waited < Duration::from_secs(3 * now.target_duration.max(1)));
    check_with_m3u8_rs(|path| async move { get(origin.http, &path).await }, base).await?;

    let played = player.await??;
    let frames = decoded_frames(&played, "ffmpeg 5.1 playing LL-HLS")?;
    publisher.await??;
    eprintln!("ffmpeg 5.1 decoded {frames} frames of the LL-HLS stream cleanly");
    // As in the TS test: all 300 frames are in the segments, less a few at the very end.
    assert!((295..=300).contains(&frames), "decoded {frames} frames");
    origin.stop().await
}

/// HTTPS with a self-signed certificate: ffmpeg plays it (it does not verify
/// certificates by default), and a rustls client trusting the certificate gets 200 over
/// HTTP/1.1 and negotiates h2 when it offers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_origin_serves_ffmpeg_and_rustls() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let origin = LiveOrigin::start_with_tls(
        HlsConfig::default(),
        Some((cert_pem.as_bytes(), key_pem.as_bytes())),
    )
    .await?;
    let mut client = RtmpClient::connect(origin.rtmp, "live", &origin.rtmp_url("live")).await?;
    client.publish("tls").await?;
    publish_tags(&mut client, &tags, usize::MAX).await?;
    // The publisher leaves, so the origin closes the last segment; the stream lingers (30 s).
    client.close().await?;

    let url = origin.http_url("live/tls/index.m3u8");
    let t = Instant::now();
    let player = run(
        &ffmpeg,
        &hls_decode_args(&url, "2"),
        Duration::from_secs(40),
    )
    .await?;
    let frames = decoded_frames(&player, "ffmpeg over HTTPS")?;
    eprintln!(
        "ffmpeg decoded {frames} frames over HTTPS in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The whole 10 s was published before it started, so all segments are there.
    assert!((295..=300).contains(&frames), "decoded {frames} frames");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone())?;
    let connector = |alpn: &[&[u8]]| -> Result<tokio_rustls::TlsConnector> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    };
    for name in ["localhost", "127.0.0.1"] {
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())?;
        let tcp = TcpStream::connect(origin.http).await?;
        let tls = connector(&[b"http/1.1"])?.connect(server_name, tcp).await?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let version = tls.get_ref().1.protocol_version();
        let r = http_exchange(tls, "GET", "/live/tls/index.m3u8", &[]).await?;
        eprintln!(
            "rustls as {name}: {version:?}, ALPN {:?}, GET playlist {} ({} bytes)",
            alpn.as_deref().map(String::from_utf8_lossy),
            r.status,
            r.body.len()
        );
        assert_eq!(r.status, 200);
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        parse_playlist(&r.text())?;
    }
    let https_get = |path: String| {
        let connector = connector(&[b"http/1.1"]);
        async move {
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let tls = connector?
                .connect(name, TcpStream::connect(origin.http).await?)
                .await?;
            http_exchange(tls, "GET", &path, &[]).await
        }
    };
    check_with_m3u8_rs(https_get, "/live/tls").await?;

    // Offering h2 first gets h2; the server then speaks HTTP/2: its first frame is SETTINGS.
    let server_name = rustls::pki_types::ServerName::try_from("localhost")?;
    let tcp = TcpStream::connect(origin.http).await?;
    let mut tls = connector(&[b"h2", b"http/1.1"])?
        .connect(server_name, tcp)
        .await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await?;
    tls.flush().await?;
    let mut frame = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut frame)).await??;
    eprintln!(
        "offering h2: ALPN {:?}, first server frame type {} (4 = SETTINGS)",
        alpn.as_deref().map(String::from_utf8_lossy),
        frame[3]
    );
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(frame[3], 4, "first HTTP/2 frame from the server");
    origin.stop().await
}

/// FFmpeg 9 publishes HEVC + Opus over Enhanced RTMP to an fMP4 origin and plays the
/// HLS back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg9_hevc_opus_over_fmp4_hls() -> Result<()> {
    let ffmpeg9 = ffmpeg9();
    let src = hevc_opus_4s();
    let mut config = HlsConfig::default();
    config.format = HlsSegmentFormat::Fmp4;
    config.segment_duration = Duration::from_secs(1);
    let origin = LiveOrigin::start(config).await?;
    let publisher = spawn_publisher(
        &ffmpeg9,
        &src,
        origin.rtmp_url("live/hevc"),
        &[],
        Duration::from_secs(30),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let url = origin.http_url("live/hevc/index.m3u8");
    let info = run(
        &ffmpeg9,
        &["-hide_banner", "-live_start_index", "0", "-i", &url],
        Duration::from_secs(20),
    )
    .await?;
    let streams: Vec<&str> = info
        .stderr
        .lines()
        .filter(|l| l.contains("Stream #"))
        .map(str::trim)
        .collect();
    eprintln!("FFmpeg 9 sees: {streams:#?}");
    assert!(
        streams.iter().any(|l| l.contains("Video: hevc")),
        "{}",
        info.stderr
    );
    assert!(
        streams.iter().any(|l| l.contains("Audio: opus")),
        "{}",
        info.stderr
    );
    let player = run(
        &ffmpeg9,
        &hls_decode_args(&url, "8"),
        Duration::from_secs(30),
    )
    .await?;
    let frames = decoded_frames(&player, "FFmpeg 9 playing HEVC+Opus fMP4 HLS")?;
    publisher.await??;
    let p = playlist(origin.http, "/live/hevc").await?;
    check_with_m3u8_rs(
        |path| async move { get(origin.http, &path).await },
        "/live/hevc",
    )
    .await?;
    eprintln!(
        "FFmpeg 9 decoded {frames} frames cleanly; playlist EXTINFs {:?}",
        p.segments.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    // 4 s at 25 fps = 100 frames in 1 s GOPs; as with H.264, a few at the end at most.
    assert!((95..=100).contains(&frames), "decoded {frames} frames");
    origin.stop().await
}

/// xorshift64: deterministic noise for the garbage publisher.
fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}

/// A publisher sending garbage media on another name does not disturb a good
/// stream's HLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_publisher_does_not_disturb_other_streams() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    let mut config = HlsConfig::default();
    config.segment_duration = Duration::from_secs(1);
    config.window = 2;
    let origin = LiveOrigin::start(config).await?;
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        origin.rtmp_url("live/good"),
        &[],
        Duration::from_secs(40),
    );
    let url = origin.http_url("live/good/index.m3u8");
    let player = {
        let (ffmpeg, url) = (ffmpeg.clone(), url.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            run(
                &ffmpeg,
                &hls_decode_args(&url, "2"),
                Duration::from_secs(40),
            )
            .await
        })
    };
    let before = first_playlist(origin.http, "/live/good").await?;

    let garbage = {
        let (addr, tc_url) = (origin.rtmp, origin.rtmp_url("live"));
        tokio::spawn(async move {
            let mut client = RtmpClient::connect(addr, "live", &tc_url).await?;
            client.publish("bad").await?;
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
            let props = vec![
                ("videocodecid".to_owned(), Amf0Value::Number(7.0)),
                ("audiocodecid".to_owned(), Amf0Value::Number(10.0)),
            ];
            client.send_metadata(&props).await?;
            let mut sent = 0usize;
            let start = Instant::now();
            for i in 0..1500u64 {
                let len = 1 + (i as usize * 37) % 900;
                // Plausible-looking headers over noise: AVC sequence headers and frames,
                // Enhanced RTMP HEVC, random tag bytes.
                let header: &[u8] = match i % 6 {
                    0 => &[0x17, 0x00, 0, 0, 0],
                    1 => &[0x17, 0x01, 0, 0, 0, 0, 0, 0, 9],
                    2 => &[0x27, 0x01, 0xff, 0xff, 0xff],
                    3 => &[0x91, b'h', b'v', b'c', b'1'],
                    _ => &[],
                };
                let mut body = header.to_vec();
                body.extend(noise(&mut rng, len));
                // timestamps that jump around, backwards too
                let ts = (i * 33) ^ (noise(&mut rng, 1)[0] as u64 * 1000);
                let r = if i % 3 == 2 {
                    let mut audio = vec![0xaf, (i % 2) as u8];
                    audio.extend(noise(&mut rng, len));
                    client.send_audio(ts, &audio).await
                } else {
                    client.send_video(ts, &body).await
                };
                if r.is_err() {
                    break;
                }
                sent += 1;
                if i % 50 == 49 {
                    client.flush().await?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            let _ = client.flush().await;
            anyhow::Ok((sent, start.elapsed(), client))
        })
    };

    // Follow the good stream while the garbage flows.
    let mut sequences = vec![before.media_sequence];
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        sequences.push(playlist(origin.http, "/live/good").await?.media_sequence);
    }
    check_with_m3u8_rs(
        |path| async move { get(origin.http, &path).await },
        "/live/good",
    )
    .await?;
    let (sent, took, client) = garbage.await??;
    let bad = get(origin.http, "/live/bad/index.m3u8").await?;
    eprintln!(
        "garbage publisher sent {sent} messages in {:.1} s; /live/bad/index.m3u8: {} {:?}",
        took.as_secs_f64(),
        bad.status,
        bad.text().lines().take(8).collect::<Vec<_>>()
    );
    drop(client);
    let played = player.await??;
    let frames = decoded_frames(&played, "ffmpeg playing the good stream")?;
    publisher.await??;
    eprintln!(
        "good stream media sequence over time: {sequences:?}; ffmpeg decoded {frames} frames \
         cleanly"
    );
    assert!(
        sent >= 1000,
        "the garbage publisher was cut off after {sent}"
    );
    // 2 s segments (the GOP) and a window of 2: the sequence moves once the third segment is
    // out, about 6 s in; the garbage ran from the first segment on.
    assert!(
        sequences.windows(2).all(|w| w[0] <= w[1]) && sequences.last() > sequences.first(),
        "media sequence did not advance: {sequences:?}"
    );
    assert!((295..=300).contains(&frames), "decoded {frames} frames");
    origin.stop().await
}

/// RFC 8216 6.2.1: "The server MUST NOT change the EXT-X-TARGETDURATION value in a Media
/// Playlist file". With 1 s segments configured and a source whose GOP is 2 s, the first
/// playlist served must already say 2 (the origin serves none before the first segment
/// closed; an LL-HLS playlist of parts only used to say 1, then 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_duration_never_changes() -> Result<()> {
    let ffmpeg = tool("ffmpeg");
    let src = h264_aac_10s();
    // LL-HLS, so that playlists exist (with parts) before the first segment is closed.
    let origin = LiveOrigin::start(HlsConfig::low_latency()).await?;
    let publisher = spawn_publisher(
        &ffmpeg,
        &src,
        origin.rtmp_url("live/target"),
        &["-t", "5"],
        Duration::from_secs(30),
    );
    let mut targets = vec![
        first_playlist(origin.http, "/live/target")
            .await?
            .target_duration,
    ];
    while !publisher.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        targets.push(playlist(origin.http, "/live/target").await?.target_duration);
    }
    publisher.await??;
    targets.dedup();
    check_with_m3u8_rs(
        |path| async move { get(origin.http, &path).await },
        "/live/target",
    )
    .await?;
    eprintln!("EXT-X-TARGETDURATION values seen, in order: {targets:?}");
    assert_eq!(
        targets.len(),
        1,
        "EXT-X-TARGETDURATION changed: {targets:?}"
    );
    origin.stop().await
}
