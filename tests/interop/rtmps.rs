//! RTMPS ingest and playback: Debian's ffmpeg 5.1 and FFmpeg 9 against the server's TLS
//! listener, with a self-signed certificate made with rcgen. ffmpeg 5.1 does not verify
//! certificates unless told to; FFmpeg 9 does by default, and is given the certificate as its
//! CA (`-ca_file`) to verify it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use onair::hls::{HlsConfig, HlsOrigin, HttpOrigin};
use onair::rtmp::{AcceptAll, RtmpServer, RtmpServerConfig};
use onair::tls::ServerTls;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::hls_origin::hls_decode_args;
use crate::util::*;

/// The RTMP server with an RTMPS listener, feeding an HLS origin, in-process.
struct TlsServer {
    rtmps: SocketAddr,
    http: SocketAddr,
    /// The certificate's PEM.
    cert: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl TlsServer {
    async fn start() -> Result<Self> {
        init_tracing();
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])?;
        let cert_pem = cert.cert.pem();
        let tls = ServerTls::from_pem(
            cert_pem.as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        )?;
        let origin = HlsOrigin::new(HlsConfig::default())?;
        let rtmp = RtmpServer::bind("127.0.0.1:0", RtmpServerConfig::default(), AcceptAll)
            .await?
            .with_rtmps("127.0.0.1:0", &tls)
            .await?
            .with_tap(Arc::new(origin.clone()));
        let http = HttpOrigin::bind("127.0.0.1:0", origin).await?;
        let rtmps = rtmp.rtmps_addr().context("no RTMPS listener")??;
        let http_addr = http.local_addr()?;
        let (stop, rx) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let tasks = vec![
            tokio::spawn(rtmp.run_until(until(rx.clone()))),
            tokio::spawn(http.run_until(until(rx))),
        ];
        Ok(Self {
            rtmps,
            http: http_addr,
            cert: cert_pem,
            stop,
            tasks,
        })
    }

    async fn stop(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .context("server did not stop in time")???;
        }
        Ok(())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Debian's ffmpeg publishes 10 s over RTMPS; ffmpeg 5.1 and FFmpeg 9 play it over RTMPS at
/// the same time and decode without errors; the HLS made of it decodes silently, every frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_and_plays_over_rtmps() -> Result<()> {
    let (ffmpeg, ffmpeg9) = (tool("ffmpeg"), ffmpeg9());
    let src = h264_aac_10s();
    let server = TlsServer::start().await?;
    let dir = test_dir("rtmps")?;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.cert)?;
    let url = format!("rtmps://{}/live/secure", server.rtmps);
    let t = Instant::now();
    let publisher = spawn_publisher(&ffmpeg, &src, url.clone(), &[], Duration::from_secs(40));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let plain = decode_args(&url, Some("4"));
    let mut verified = plain.clone();
    verified.splice(0..0, ["-tls_verify", "1", "-ca_file", path_str(&ca)?]);
    let (played, played9) = tokio::join!(
        run(&ffmpeg, &plain, Duration::from_secs(30)),
        run(&ffmpeg9, &verified, Duration::from_secs(30)),
    );
    let played = decoded_frames(&played?, "ffmpeg 5.1 RTMPS player")?;
    let played9 = decoded_frames(&played9?, "FFmpeg 9 RTMPS player, verifying")?;
    eprintln!("over RTMPS: ffmpeg 5.1 decoded {played} frames, FFmpeg 9 {played9}");
    // 4 s at 30 fps, from a keyframe of the cached GOP
    assert!(played >= 90, "ffmpeg 5.1 decoded only {played} frames");
    assert!(played9 >= 90, "FFmpeg 9 decoded only {played9} frames");
    let published = publisher.await??;
    eprintln!(
        "RTMPS publish took {:.1} s, stderr: {:?}",
        t.elapsed().as_secs_f64(),
        published.stderr.trim()
    );
    assert!(published.stderr.trim().is_empty(), "{}", published.stderr);

    let hls = format!("http://{}/live/secure/index.m3u8", server.http);
    let f = run(
        &ffmpeg,
        &hls_decode_args(&hls, "2"),
        Duration::from_secs(40),
    )
    .await?;
    let frames = decoded_frames(&f, "ffmpeg reading the HLS of an RTMPS stream")?;
    eprintln!("the HLS of the RTMPS stream: {frames} frames, no error output");
    assert!((295..=300).contains(&frames), "decoded {frames} frames");
    server.stop().await
}
