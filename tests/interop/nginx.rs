//! Our `ClientSession` (through `RtmpClient`) publishes to nginx-rtmp; ffprobe reads
//! nginx's recording back.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use onair::rtmp::RtmpClient;
use tokio::process::Command;

use crate::server::publish_tags;
use crate::util::*;

const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

fn write_config(dir: &Path, port: u16) -> Result<()> {
    let rec = dir.join("rec");
    std::fs::create_dir_all(&rec)?;
    let conf = format!(
        "load_module {RTMP_MODULE};\n\
         daemon off;\n\
         master_process off;\n\
         error_log {dir}/error.log info;\n\
         pid {dir}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n    chunk_size 4096;\n\
         \x20   application live {{\n      live on;\n      record all;\n      record_path {rec};\n\
         \x20     record_unique off;\n    }}\n  }}\n}}\n",
        dir = dir.display(),
        rec = rec.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_session_publishes_to_nginx_rtmp() -> Result<()> {
    let nginx = tool("nginx");
    ensure!(
        Path::new(RTMP_MODULE).is_file(),
        "nginx-rtmp missing: install Debian's libnginx-mod-rtmp"
    );
    let src = h264_aac_10s();
    let tags = read_flv_tags(&src)?;
    let dir = test_dir("nginx")?;
    let addr = free_addr()?;
    write_config(dir.path(), addr.port())?;
    let conf = dir.path().join("nginx.conf");
    let prefix = format!("{}/", dir.path().display());
    let error_log = dir.path().join("error.log");
    let mut child = Command::new(&nginx)
        .args([
            "-p",
            &prefix,
            "-e",
            path_str(&error_log)?,
            "-c",
            path_str(&conf)?,
        ])
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
            format!("nginx-rtmp did not come up: {log}")
        })?;
    let mut client = RtmpClient::connect(addr, "live", &format!("rtmp://{addr}/live")).await?;
    client.publish("fromonair").await?;
    let (video, audio) = publish_tags(&mut client, &tags, usize::MAX).await?;
    client.close().await?;

    // nginx closes the recording when the stream is deleted; wait until it is complete.
    let recording = dir.path().join("rec/fromonair.flv");
    let (src_video, src_audio) = probe_packets(&src).await?;
    let mut last = (0, 0);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if recording.is_file() {
            let (v, a) = probe_packets(&recording).await?;
            last = (v.len(), a.len());
            if last == (src_video.len(), src_audio.len()) {
                break;
            }
        }
    }
    let _ = child.kill().await;
    let (rec_video, rec_audio) = probe_packets(&recording).await?;
    eprintln!(
        "sent {video} video / {audio} audio tags; source {} / {} packets; nginx recorded {} / {}",
        src_video.len(),
        src_audio.len(),
        rec_video.len(),
        rec_audio.len()
    );
    assert_eq!(last, (rec_video.len(), rec_audio.len()));
    assert_eq!(rec_video.len(), src_video.len());
    assert_eq!(rec_audio.len(), src_audio.len());
    let same_dts = rec_video
        .iter()
        .zip(&src_video)
        .filter(|(a, b)| a.dts == b.dts && a.pts == b.pts)
        .count();
    eprintln!(
        "{same_dts} of {} video packets with identical pts/dts",
        src_video.len()
    );
    assert_eq!(same_dts, src_video.len());
    Ok(())
}
