//! `examples/server.rs` stops cleanly on SIGINT (Ctrl-C) and SIGTERM: exit status 0 and the
//! recording of a publisher that is still connected is finalized.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use onair::rtmp::RtmpClient;
use tokio::process::Command;

use crate::server::{publish_tags, recorded_duration_and_size};
use crate::util::*;

/// The example binary `cargo test` builds next to this test binary.
fn example_server() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary location")?;
    let path = dir.join("examples").join("server");
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo test` builds examples; or \
         `cargo build --example server`)",
        path.display()
    );
    Ok(path)
}

async fn stops_cleanly_on(signal: &str) -> Result<()> {
    let server = example_server()?;
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let dir = test_dir("signal")?;
    let rec = dir.path().join("rec");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(&server)
        .args(["--rtmp", &addr, "--record", path_str(&rec)?])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let tc_url = format!("rtmp://{addr}/live");
    let mut client = None;
    for _ in 0..100 {
        match RtmpClient::connect(&addr, "live", &tc_url).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut client = client.context("example server did not come up")?;
    client.publish("sig").await?;
    let (video, audio) = publish_tags(&mut client, &tags, 200).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = child.id().context("child pid")?.to_string();
    run_ok(
        &tool("kill"),
        &[&format!("-{signal}"), &pid],
        Duration::from_secs(5),
    )
    .await?;
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .context("server did not exit after the signal")??;
    drop(client);
    ensure!(status.success(), "exit status {status} after SIG{signal}");

    let recording = rec.join("live/sig.flv");
    let (v, a) = probe_packets(&recording).await?;
    let (duration, filesize) = recorded_duration_and_size(&recording)?;
    eprintln!(
        "SIG{signal}: exit 0; recording {} video / {} audio packets, duration {duration} s, filesize {filesize}",
        v.len(),
        a.len()
    );
    assert_eq!(v.len() + 1, video);
    assert_eq!(a.len() + 1, audio);
    assert!(duration > 1.0);
    assert_eq!(filesize, std::fs::metadata(&recording)?.len() as f64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_stops_cleanly_on_sigint() -> Result<()> {
    stops_cleanly_on("INT").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_stops_cleanly_on_sigterm() -> Result<()> {
    stops_cleanly_on("TERM").await
}
