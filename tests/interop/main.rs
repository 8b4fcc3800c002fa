//! Interop tests: our RTMP server and client against the real programs (ffmpeg/ffprobe 5.1,
//! rtmpdump, nginx-rtmp, FFmpeg 9), on loopback with ephemeral ports. Every external program
//! runs under a timeout and is killed when its test ends. Test media is generated with lavfi
//! at test time and cached under the target tmpdir. Missing programs fail with a message
//! saying what to install.

#![allow(clippy::print_stderr)]

mod access;
mod cdn;
mod config;
mod dependent;
mod dvr;
mod hls_origin;
mod idle;
mod ladder;
mod live_ladder;
mod metrics;
mod nginx;
mod pipeline;
mod players;
mod rtmps;
mod server;
mod signals;
mod util;
