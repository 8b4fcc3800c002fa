//! Helpers shared by the onair interop tests, which run real programs (Debian's
//! ffmpeg/ffprobe 5.1, FFmpeg 9 from `imageio-ffmpeg`, rtmpdump, nginx, ...):
//!
//! - [`tool`] and [`ffmpeg9`] find a program or panic with what to install
//!   ([`SETUP_HINT`]): a missing program is a failure, never a skip;
//! - [`run`] and [`run_ok`] run a command to completion and capture its output;
//! - [`cache_dir`], [`cached`] and [`Lavfi`] make test media once and keep it under the
//!   calling crate's `CARGO_TARGET_TMPDIR`, safely when tests run in parallel (threads or
//!   processes): a file is written under a unique temporary name and renamed into place;
//! - [`m3u8`] reads HLS playlists with m3u8-rs, an independent parser, applying what RFC
//!   8216 and LL-HLS say where m3u8-rs does not;
//! - [`probe_packets`] and [`probe_streams`] ask ffprobe what a file (or an HLS playlist)
//!   holds: every packet's stream, times, size and keyframe flag; every stream's codec and
//!   picture size.
//!
//! The cache directory is always passed in by the caller: `env!("CARGO_TARGET_TMPDIR")` is
//! evaluated in the crate that names it, so each test crate passes its own.
//!
//! Everything here panics on failure, with a message saying what went wrong: these are test
//! helpers, and a panic is how a test fails.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod m3u8;

/// What to do when a program the tests need is missing.
pub const SETUP_HINT: &str = "run scripts/setup.sh";

/// The path of program `name` on `PATH`.
///
/// # Panics
/// If it is not there, with [`SETUP_HINT`].
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` not found on PATH: the interop tests need it ({SETUP_HINT})")
        })
}

/// The static FFmpeg 9 binary of the `imageio-ffmpeg` PyPI package: libx265, libopus and
/// Enhanced RTMP (HEVC/Opus in FLV), which Debian's FFmpeg 5.1 cannot write. It has no
/// ffprobe next to it.
///
/// # Panics
/// If python3, the package or the binary is missing, with [`SETUP_HINT`].
pub fn ffmpeg9() -> PathBuf {
    let out = Command::new(tool("python3"))
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output()
        .unwrap_or_else(|e| panic!("python3 could not be started to find FFmpeg 9: {e}"));
    assert!(
        out.status.success(),
        "FFmpeg 9 not found: imageio-ffmpeg is not installed \
         ({SETUP_HINT}; it does `pip install imageio-ffmpeg==0.8.1`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        path.is_file(),
        "FFmpeg 9 binary missing at {} ({SETUP_HINT})",
        path.display()
    );
    path
}

/// What a finished program left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// It exited with status 0.
    pub success: bool,
    /// Its standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Its standard error, lossily decoded as UTF-8.
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Self {
        Self {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `cmd` to completion (stdin closed), capturing stdout and stderr, whatever its exit
/// status.
///
/// # Panics
/// If the program cannot be started, with [`SETUP_HINT`].
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} could not be started ({e}): is it installed? ({SETUP_HINT})",
                program_name(cmd)
            )
        })
        .into()
}

/// Like [`run`], and the program must exit 0.
///
/// # Panics
/// If it cannot be started or fails, with its stderr.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.success, "{cmd:?} failed:\n{}", out.stderr);
    out
}

fn program_name(cmd: &Command) -> String {
    Path::new(cmd.get_program()).display().to_string()
}

/// `base/name`, created if needed. Pass the calling crate's `env!("CARGO_TARGET_TMPDIR")`
/// as `base`.
///
/// # Panics
/// If the directory cannot be created.
pub fn cache_dir(base: impl AsRef<Path>, name: &str) -> PathBuf {
    let dir = base.as_ref().join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// `dir/file_name`, made by `make` the first time it is asked for.
///
/// `make` writes the file at the path it is given: a unique temporary name in `dir` that
/// ends with `file_name` (so its extension is the same), renamed into place when `make`
/// returns. Tests running at the same time (threads or processes) never see a partial file;
/// at worst two make it and the last rename wins.
///
/// # Panics
/// If `make` panics, leaves no file behind, or the rename fails.
pub fn cached(dir: &Path, file_name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(file_name);
    if path.is_file() {
        return path;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("partial-{}-{n}-{file_name}", std::process::id()));
    make(&tmp);
    assert!(tmp.is_file(), "making {file_name} left no file behind");
    std::fs::rename(&tmp, &path)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", tmp.display(), path.display()));
    path
}

/// Test media made by an ffmpeg from two lavfi sources: `ffmpeg -y -v error -f lavfi -i
/// <video> -f lavfi -i <audio> -t <seconds> <args...> <output>`.
#[derive(Debug, Clone, Copy)]
pub struct Lavfi<'a> {
    /// The lavfi video source, e.g. `testsrc2=size=320x240:rate=25`.
    pub video: &'a str,
    /// The lavfi audio source, e.g. `sine=frequency=440:sample_rate=48000`.
    pub audio: &'a str,
    /// The duration (`-t`), in seconds.
    pub seconds: u32,
    /// Everything between `-t` and the output: codecs, their options, the format.
    pub args: &'a [&'a str],
}

impl Lavfi<'_> {
    /// `dir/file_name`, made (once, see [`cached`]) by running `ffmpeg` (a path or a name on
    /// `PATH`).
    ///
    /// # Panics
    /// If ffmpeg cannot be started or fails.
    pub fn cached(&self, ffmpeg: impl AsRef<OsStr>, dir: &Path, file_name: &str) -> PathBuf {
        cached(dir, file_name, |out| {
            run_ok(
                Command::new(ffmpeg)
                    .args(["-y", "-v", "error", "-f", "lavfi", "-i", self.video])
                    .args(["-f", "lavfi", "-i", self.audio])
                    .args(["-t", &self.seconds.to_string()])
                    .args(self.args)
                    .arg(out),
            );
        })
    }
}

/// One packet as ffprobe reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedPacket {
    /// `video` or `audio`.
    pub kind: String,
    /// Presentation time in seconds (`None` if ffprobe gave none).
    pub pts: Option<f64>,
    /// Decode time in seconds.
    pub dts: Option<f64>,
    /// Payload bytes.
    pub size: usize,
    /// Flagged as a keyframe (`K`).
    pub keyframe: bool,
}

fn number<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && *s != "N/A")?
        .parse()
        .ok()
}

/// Every packet of `file` (any format ffprobe reads, an HLS playlist included), in file
/// order.
///
/// # Panics
/// If ffprobe is missing or fails.
pub fn probe_packets(file: &Path) -> Vec<ProbedPacket> {
    let out = run_ok(
        Command::new(tool("ffprobe"))
            .args(["-v", "error", "-show_entries"])
            .arg("packet=codec_type,pts_time,dts_time,size,flags")
            .args(["-of", "csv=p=0"])
            .arg(file),
    );
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let mut parts = line.split(',');
            let kind = parts.next()?.to_owned();
            Some(ProbedPacket {
                kind,
                pts: number(parts.next()),
                dts: number(parts.next()),
                size: number(parts.next()).unwrap_or(0),
                keyframe: parts.next().is_some_and(|f| f.starts_with('K')),
            })
        })
        .collect()
}

/// One stream as ffprobe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbedStream {
    /// `video` or `audio`.
    pub kind: String,
    /// FFmpeg's codec name (`h264`, `hevc`, `aac`, ...).
    pub codec: String,
    /// Picture width (0 for audio).
    pub width: u32,
    /// Picture height (0 for audio).
    pub height: u32,
}

/// The streams of `file`.
///
/// # Panics
/// If ffprobe is missing or fails.
pub fn probe_streams(file: &Path) -> Vec<ProbedStream> {
    let out = run_ok(
        Command::new(tool("ffprobe"))
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_type,codec_name,width,height")
            .args(["-of", "csv=p=0"])
            .arg(file),
    );
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            // csv order follows ffprobe's field order: codec_name, codec_type, width, height
            let mut parts = line.split(',');
            let codec = parts.next()?.to_owned();
            let kind = parts.next()?.to_owned();
            Some(ProbedStream {
                kind,
                codec,
                width: number(parts.next()).unwrap_or(0),
                height: number(parts.next()).unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_fails_loudly_on_a_missing_tool() {
        assert!(tool("sh").is_file());
        let err = std::panic::catch_unwind(|| tool("no-such-program-onair")).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("no-such-program-onair"), "{msg}");
        assert!(msg.contains(SETUP_HINT), "{msg}");
    }

    #[test]
    fn run_captures_output_and_status() {
        let out = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]));
        assert!(!out.success);
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(run_ok(Command::new("sh").args(["-c", "true"])).success);
        assert!(std::panic::catch_unwind(|| run_ok(&mut Command::new("false"))).is_err());
    }

    #[test]
    fn cached_makes_a_file_once() {
        let dir = cache_dir(
            std::env::temp_dir(),
            &format!("onair-testkit-{}", std::process::id()),
        );
        let name = format!("once-{}.txt", std::process::id());
        let _ = std::fs::remove_file(dir.join(&name));
        let mut made = 0;
        for _ in 0..2 {
            let path = cached(&dir, &name, |tmp| {
                made += 1;
                assert!(tmp.to_string_lossy().ends_with(&name));
                std::fs::write(tmp, b"media").unwrap();
            });
            assert_eq!(std::fs::read(&path).unwrap(), b"media");
        }
        assert_eq!(made, 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
