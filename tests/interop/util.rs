//! Shared helpers: finding the real programs, running them under timeouts, cached test media,
//! ffmpeg publishers, the examples and an in-process server, waiting for listeners, ffprobe
//! packet lists and a minimal FLV tag reader.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use onair::rtmp::{AcceptAll, RtmpClient, RtmpHandler, RtmpServer, RtmpServerConfig};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use onair_testkit::Lavfi;
pub(crate) use onair_testkit::{ffmpeg9, tool, Output as Finished};

/// Runs a program to completion, killed if it takes longer than `limit`.
pub(crate) async fn run(program: &Path, args: &[&str], limit: Duration) -> Result<Finished> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_command(cmd, limit).await
}

/// Runs a prepared command to completion (stdin closed, output captured), killed if it takes
/// longer than `limit`.
pub(crate) async fn run_command(mut cmd: Command, limit: Duration) -> Result<Finished> {
    let what = format!("{:?}", cmd.as_std());
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{what} timed out after {limit:?}"))??;
    Ok(out.into())
}

/// Like [`run`], failing unless the program exits 0.
pub(crate) async fn run_ok(program: &Path, args: &[&str], limit: Duration) -> Result<Finished> {
    let f = run(program, args, limit).await?;
    ensure!(
        f.success,
        "{} {:?} failed:\n{}",
        program.display(),
        args,
        f.stderr
    );
    Ok(f)
}

/// `ffmpeg -v error -re [INPUT_OPTIONS] -i SRC -c copy -f flv URL`: publishes a file over RTMP
/// at its own pace, failing unless ffmpeg exits 0 within `limit`.
pub(crate) async fn publish_file(
    ffmpeg: &Path,
    src: &Path,
    url: &str,
    input_options: &[&str],
    limit: Duration,
) -> Result<Finished> {
    let mut args = vec!["-v", "error", "-re"];
    args.extend_from_slice(input_options);
    args.extend(["-i", path_str(src)?, "-c", "copy", "-f", "flv", url]);
    run_ok(ffmpeg, &args, limit).await
}

/// [`publish_file`] in a task; the process is killed if the task is aborted or dropped.
pub(crate) fn spawn_publisher(
    ffmpeg: &Path,
    src: &Path,
    url: String,
    input_options: &'static [&'static str],
    limit: Duration,
) -> JoinHandle<Result<Finished>> {
    let (ffmpeg, src) = (ffmpeg.to_owned(), src.to_owned());
    tokio::spawn(async move { publish_file(&ffmpeg, &src, &url, input_options, limit).await })
}

/// A loopback address with a port that was free a moment ago, for a program of its own to
/// listen on.
pub(crate) fn free_addr() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Waits until something accepts TCP connections on `addr`; fails if `child` exits first or
/// nothing listens within `limit`. (Not for `ffmpeg -listen`, which serves one connection.)
pub(crate) async fn wait_for_listener(
    addr: SocketAddr,
    child: &mut Child,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the program exited with {status} before listening on {addr}");
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "nothing listened on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts an example of this crate (`cargo test` builds them next to the test binary) with
/// `args` and `RUST_LOG=rust_log`; stdout and stderr are piped, and the process is killed when
/// the `Child` is dropped.
pub(crate) fn spawn_example(name: &str, args: &[&str], rust_log: &str) -> Result<Child> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary outside target/<profile>/deps")?;
    let path = dir.join("examples").join(name);
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo test` builds examples; or \
         `cargo build --example {name}`)",
        path.display()
    );
    Command::new(&path)
        .args(args)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", path.display()))
}

/// A directory for one test, under cargo's test tmpdir.
pub(crate) fn test_dir(name: &str) -> Result<tempfile::TempDir> {
    let base = onair_testkit::cache_dir(env!("CARGO_TARGET_TMPDIR"), "interop");
    Ok(tempfile::Builder::new().prefix(name).tempdir_in(base)?)
}

/// Where the generated test media is cached.
fn media_dir() -> PathBuf {
    onair_testkit::cache_dir(env!("CARGO_TARGET_TMPDIR"), "interop-media")
}

/// 10 s of H.264 (with B-frames, 2 s GOP) + AAC in FLV, from lavfi sources.
pub(crate) fn h264_aac_10s() -> PathBuf {
    Lavfi {
        video: "testsrc2=size=640x360:rate=30",
        audio: "sine=frequency=440:sample_rate=44100",
        seconds: 10,
        args: &[
            "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-b:v",
            "1M", "-c:a", "aac", "-b:a", "96k", "-f", "flv",
        ],
    }
    .cached(tool("ffmpeg"), &media_dir(), "h264_aac_10s.flv")
}

/// 4 s of HEVC + Opus in (Enhanced RTMP) FLV, made with FFmpeg 9.
pub(crate) fn hevc_opus_4s() -> PathBuf {
    Lavfi {
        video: "testsrc2=size=320x240:rate=25",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 4,
        args: &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
            "-f",
            "flv",
        ],
    }
    .cached(ffmpeg9(), &media_dir(), "hevc_opus_4s.flv")
}

/// Shows the logs of in-process servers with `RUST_LOG=onair=debug` and `--nocapture`.
pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// An in-process server on an ephemeral loopback port.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub(crate) async fn start(record_dir: Option<&Path>) -> Result<Self> {
        let mut config = RtmpServerConfig::default();
        if let Some(dir) = record_dir {
            config = config.with_record_dir(dir);
        }
        Self::start_with(config).await
    }

    pub(crate) async fn start_with(config: RtmpServerConfig) -> Result<Self> {
        Self::start_with_handler(config, AcceptAll).await
    }

    pub(crate) async fn start_with_handler(
        config: RtmpServerConfig,
        handler: impl RtmpHandler,
    ) -> Result<Self> {
        init_tracing();
        let server = RtmpServer::bind("127.0.0.1:0", config, handler).await?;
        let addr = server.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// A server recording into a directory of its own for `test`; returns the recordings
    /// folder and the directory, which is deleted when dropped.
    pub(crate) async fn start_recording(test: &str) -> Result<(Self, PathBuf, tempfile::TempDir)> {
        let dir = test_dir(test)?;
        let rec = dir.path().join("rec");
        let server = Self::start(Some(&rec)).await?;
        Ok((server, rec, dir))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.addr)
    }

    /// Our client, connected to the `live` app.
    pub(crate) async fn client(&self) -> Result<RtmpClient> {
        Ok(RtmpClient::connect(self.addr, "live", &self.url("live")).await?)
    }

    /// Our client, publishing `key` in the `live` app.
    pub(crate) async fn publisher(&self, key: &str) -> Result<RtmpClient> {
        let mut client = self.client().await?;
        client.publish(key).await?;
        Ok(client)
    }

    /// Stops the server and waits until every recording is finalized. A publisher process
    /// that just exited may still have bytes in flight on loopback: give them a moment.
    pub(crate) async fn stop(mut self) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .context("server did not stop in time")???;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// One packet as ffprobe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbePacket {
    pub(crate) pts: Option<i64>,
    pub(crate) dts: Option<i64>,
}

/// Video and audio packets of a file, in file order, with their pts/dts (ms for FLV).
pub(crate) async fn probe_packets(file: &Path) -> Result<(Vec<ProbePacket>, Vec<ProbePacket>)> {
    let f = run_ok(
        &tool("ffprobe"),
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,pts,dts",
            "-of",
            "csv=p=0",
            path_str(file)?,
        ],
        Duration::from_secs(60),
    )
    .await?;
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for line in f.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split(',');
        let kind = parts.next().unwrap_or("");
        let num = |s: Option<&str>| s.and_then(|v| v.trim().parse::<i64>().ok());
        let pkt = ProbePacket {
            pts: num(parts.next()),
            dts: num(parts.next()),
        };
        match kind {
            "video" => video.push(pkt),
            "audio" => audio.push(pkt),
            _ => {}
        }
    }
    Ok((video, audio))
}

/// ffmpeg arguments that decode `input` to nothing (for `seconds`, or to its end), printing
/// only errors on stderr and a `-progress` frame count on stdout.
pub(crate) fn decode_args<'a>(input: &'a str, seconds: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["-v", "error", "-nostats", "-i", input];
    if let Some(s) = seconds {
        args.extend(["-t", s]);
    }
    args.extend(["-progress", "pipe:1", "-f", "null", "-"]);
    args
}

/// The frames a decode run with [`decode_args`] reported; fails if it failed or printed
/// anything on stderr.
pub(crate) fn decoded_frames(f: &Finished, what: &str) -> Result<u64> {
    ensure!(f.success, "{what} failed: {}", f.stderr);
    ensure!(f.stderr.trim().is_empty(), "{what} reported:\n{}", f.stderr);
    Ok(last_progress_frames(&f.stdout))
}

/// Decodes `input` (a file or a URL; for `seconds`, or to its end) with
/// `ffmpeg -v error -f null -`; returns the frames decoded and fails if anything was reported.
pub(crate) async fn decode(
    ffmpeg: &Path,
    input: &str,
    seconds: Option<&str>,
    what: &str,
) -> Result<u64> {
    let f = run(
        ffmpeg,
        &decode_args(input, seconds),
        Duration::from_secs(60),
    )
    .await?;
    decoded_frames(&f, what)
}

/// Decodes a file completely; see [`decode`].
pub(crate) async fn decode_clean(ffmpeg: &Path, file: &Path) -> Result<u64> {
    let what = format!("decoding {}", file.display());
    decode(ffmpeg, path_str(file)?, None, &what).await
}

/// The last `frame=N` of ffmpeg's `-progress` output.
pub(crate) fn last_progress_frames(progress: &str) -> u64 {
    progress
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

/// One FLV tag.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub(crate) tag_type: u8,
    pub(crate) timestamp: u32,
    pub(crate) data: Vec<u8>,
}

/// Reads every tag of an FLV file (a deliberately independent reader: test oracle).
pub(crate) fn read_flv_tags(file: &Path) -> Result<Vec<Tag>> {
    let bytes = std::fs::read(file)?;
    ensure!(
        bytes.len() >= 13 && &bytes[..3] == b"FLV",
        "not an FLV file"
    );
    let header_len = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    while pos + 11 <= bytes.len() {
        let h = &bytes[pos..pos + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let end = pos + 11 + size;
        ensure!(end + 4 <= bytes.len(), "truncated tag at {pos}");
        tags.push(Tag {
            tag_type: h[0] & 0x1f,
            timestamp,
            data: bytes[pos + 11..end].to_vec(),
        });
        pos = end + 4;
    }
    Ok(tags)
}
