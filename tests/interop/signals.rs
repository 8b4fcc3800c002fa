//! `examples/server.rs` stops cleanly on SIGINT (Ctrl-C) and SIGTERM: exit status 0 and the
//! recording of a publisher that is still connected is finalized.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use onair::rtmp::RtmpClient;

use crate::server::{assert_finalized, publish_tags};
use crate::util::*;

async fn stops_cleanly_on(signal: &str) -> Result<()> {
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let dir = test_dir("signal")?;
    let rec = dir.path().join("rec");
    let addr = free_addr()?;
    let mut child = spawn_example(
        "server",
        &["--rtmp", &addr.to_string(), "--record", path_str(&rec)?],
        "warn",
    )?;
    wait_for_listener(addr, &mut child, Duration::from_secs(5))
        .await
        .context("the example server did not come up")?;
    let mut client = RtmpClient::connect(addr, "live", &format!("rtmp://{addr}/live")).await?;
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
    let what = format!("SIG{signal}: exit 0; recording");
    assert_finalized(&recording, (video, audio), 1.0, &what).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_stops_cleanly_on_sigint() -> Result<()> {
    stops_cleanly_on("INT").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_stops_cleanly_on_sigterm() -> Result<()> {
    stops_cleanly_on("TERM").await
}
