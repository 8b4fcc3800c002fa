//! A small HTTP/1.1 load generator for HLS origins: fetches a media playlist, then keeps N
//! keep-alive connections busy GETting its segments round-robin for T seconds, reading every
//! body in full (by `Content-Length`), and prints requests/s and MB/s.
//!
//! ```text
//! cargo run --release --example http_load -- http://127.0.0.1:8080/live/KEY/index.m3u8 \
//!     --connections 8 --seconds 5
//! ```
//! `--playlist-only` GETs the playlist itself instead (small responses: per-request cost).
//! Output is one line of `key=value` pairs (for scripts/bench-origin.sh). Plain `http://`
//! only; requests are built once up front, and each connection reuses one read buffer, so the
//! client costs little more than its socket reads.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "HTTP/1.1 keep-alive load on the segments of an HLS playlist")]
struct Args {
    /// Media playlist URL (http://HOST:PORT/PATH.m3u8).
    url: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// How long to load the server, seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Runtime worker threads of this load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// GET the playlist itself over and over instead of its segments (small responses: the
    /// per-request cost of the server).
    #[arg(long)]
    playlist_only: bool,
}

/// `http://HOST:PORT/PATH` -> (`HOST:PORT`, `/PATH`).
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    ensure!(!authority.is_empty(), "no host in {url}");
    Ok((authority.to_owned(), path.to_owned()))
}

/// The segment paths a playlist names, resolved against the playlist's own path.
fn segment_paths(playlist: &str, playlist_path: &str) -> Vec<String> {
    let base = &playlist_path[..playlist_path.rfind('/').map_or(0, |i| i + 1)];
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            if let Some(rest) = l.strip_prefix("http://") {
                rest.find('/')
                    .map_or("/".to_owned(), |i| rest[i..].to_owned())
            } else if l.starts_with('/') {
                l.to_owned()
            } else {
                format!("{base}{l}")
            }
        })
        .collect()
}

/// The head of a response: status and `Content-Length`, and where the body starts in `buf`.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, u64, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<u64>().context("bad Content-Length")?);
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked responses are not supported");
            }
        }
    }
    let length = length.context("response without Content-Length")?;
    Ok(Some((status, length, end + 4)))
}

/// One GET over `conn`: the request is pre-built; the body is read into `buf` and dropped.
/// Returns the body length.
async fn fetch(conn: &mut TcpStream, request: &[u8], buf: &mut [u8]) -> Result<u64> {
    conn.write_all(request).await?;
    let mut filled = 0;
    let (status, length, body_start) = loop {
        ensure!(filled < buf.len(), "response head larger than the buffer");
        let n = conn.read(&mut buf[filled..]).await?;
        ensure!(n > 0, "connection closed before the response head");
        filled += n;
        if let Some(head) = parse_head(&buf[..filled])? {
            break head;
        }
    };
    ensure!(status == 200, "status {status}");
    let mut got = (filled - body_start) as u64;
    ensure!(
        got <= length,
        "more bytes than Content-Length (pipelining?)"
    );
    while got < length {
        let want = buf.len().min((length - got) as usize);
        let n = conn.read(&mut buf[..want]).await?;
        ensure!(n > 0, "connection closed inside a body");
        got += n as u64;
    }
    Ok(length)
}

async fn get_text(authority: &str, path: &str) -> Result<String> {
    let mut conn = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    conn.write_all(request.as_bytes()).await?;
    loop {
        let n = conn.read(&mut buf[filled..]).await?;
        ensure!(n > 0, "connection closed early fetching {path}");
        filled += n;
        if let Some((status, length, start)) = parse_head(&buf[..filled])? {
            ensure!(status == 200, "GET {path}: status {status}");
            let end = start + length as usize;
            ensure!(end <= buf.len(), "{path} is too large");
            while filled < end {
                let n = conn.read(&mut buf[filled..end]).await?;
                ensure!(n > 0, "connection closed early fetching {path}");
                filled += n;
            }
            return Ok(String::from_utf8_lossy(&buf[start..end]).into_owned());
        }
    }
}

struct Tally {
    requests: u64,
    bytes: u64,
}

async fn run(args: Args) -> Result<()> {
    let (authority, path) = split_url(&args.url)?;
    let playlist = get_text(&authority, &path).await?;
    let segments = segment_paths(&playlist, &path);
    ensure!(!segments.is_empty(), "the playlist names no segments");
    let targets = if args.playlist_only {
        std::slice::from_ref(&path)
    } else {
        &segments[..]
    };
    let requests: Vec<Vec<u8>> = targets
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes())
        .collect();
    let requests = std::sync::Arc::new(requests);
    let duration = Duration::try_from_secs_f64(args.seconds).context("bad --seconds")?;

    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..args.connections.max(1) {
        let requests = requests.clone();
        let authority = authority.clone();
        tasks.spawn(async move {
            let mut conn = TcpStream::connect(&authority).await?;
            conn.set_nodelay(true)?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut tally = Tally {
                requests: 0,
                bytes: 0,
            };
            // Connections start at different segments so they do not move in lockstep.
            let mut i = c * requests.len() / args.connections.max(1);
            while Instant::now() < deadline {
                let len = fetch(&mut conn, &requests[i % requests.len()], &mut buf).await?;
                tally.requests += 1;
                tally.bytes += len;
                i += 1;
            }
            anyhow::Ok(tally)
        });
    }
    let mut total = Tally {
        requests: 0,
        bytes: 0,
    };
    while let Some(t) = tasks.join_next().await {
        let t = t??;
        total.requests += t.requests;
        total.bytes += t.bytes;
    }
    let secs = start.elapsed().as_secs_f64();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "segments={} connections={} seconds={secs:.3} requests={} bytes={} req_per_s={:.1} mb_per_s={:.1}",
            segments.len(),
            args.connections,
            total.requests,
            total.bytes,
            total.requests as f64 / secs,
            total.bytes as f64 / secs / 1e6,
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_segment_paths() {
        let (a, p) = split_url("http://127.0.0.1:8080/live/k/index.m3u8").unwrap();
        assert_eq!(
            (a.as_str(), p.as_str()),
            ("127.0.0.1:8080", "/live/k/index.m3u8")
        );
        let pl = "#EXTM3U\n#EXTINF:2,\nx-0.ts\n#EXTINF:2,\n/abs/x-1.ts\nhttp://h:1/y/x-2.ts\n";
        assert_eq!(
            segment_paths(pl, &p),
            ["/live/k/x-0.ts", "/abs/x-1.ts", "/y/x-2.ts"]
        );
    }

    #[test]
    fn heads_parse_status_length_and_body_start() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse_head(r).unwrap(), Some((200, 5, r.len() - 5)));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
    }
}
