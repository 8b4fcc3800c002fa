//! The server example's settings file: the sample `deploy/onair.toml` starts it and names
//! every flag; flags override the file; a wrong key or value stops it with its line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::util::*;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/onair.toml")
}

/// Runs the server example to its exit (it must exit within 30 s): (success, stdout, stderr).
async fn run_server(args: &[&str]) -> Result<(bool, String, String)> {
    let child = spawn_example("server", args, "info")?;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .context("the server did not exit")??;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `examples/server --config deploy/onair.toml` starts and serves, its listeners moved to
/// free ports by flags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_the_sample_starts_the_server() -> Result<()> {
    let (rtmp, http) = (free_addr()?, free_addr()?);
    let sample = sample();
    let mut server = spawn_example(
        "server",
        &[
            "--config",
            path_str(&sample)?,
            "--rtmp",
            &rtmp.to_string(),
            "--http",
            &http.to_string(),
        ],
        "info",
    )?;
    wait_for_listener(rtmp, &mut server, Duration::from_secs(30)).await?;
    wait_for_listener(http, &mut server, Duration::from_secs(10)).await?;
    let list = crate::hls_origin::get(http, "/").await?;
    ensure!(list.status == 200, "the stream list page: {}", list.status);
    server.start_kill()?;
    let out = server.wait_with_output().await?;
    let logs = String::from_utf8_lossy(&out.stdout);
    let said = logs
        .lines()
        .find(|l| l.contains("settings from") && l.contains("onair.toml"))
        .with_context(|| format!("no word of the settings file: {logs}"))?;
    eprintln!("started with the sample: {said}");
    Ok(())
}

/// The sample lists every flag of `server --help` as a key (set or commented out), and no
/// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_the_sample_names_every_flag() -> Result<()> {
    let (ok, help, _) = run_server(&["--help"]).await?;
    ensure!(ok, "server --help failed");
    let flags: BTreeSet<String> = help
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .filter(|w| !w.is_empty() && w != "help" && w != "config")
        .collect();
    let text = std::fs::read_to_string(sample())?;
    let keys: BTreeSet<String> = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(str::to_owned)
        .collect();
    eprintln!("{} flags, {} keys in the sample", flags.len(), keys.len());
    ensure!(
        flags == keys,
        "flags without a key: {:?}; keys without a flag: {:?}",
        flags.difference(&keys).collect::<Vec<_>>(),
        keys.difference(&flags).collect::<Vec<_>>()
    );
    Ok(())
}

/// An unknown key and a value of the wrong type stop the server with the file's line and the
/// key's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_name_the_key_and_line() -> Result<()> {
    let dir = test_dir("config")?;
    for (name, text, line, key, what) in [
        (
            "unknown.toml",
            "# settings\nrtmp = \"127.0.0.1:0\"\n\nbogus-key = 1\n",
            4,
            "bogus-key",
            "unknown field",
        ),
        (
            "type.toml",
            "http = \"127.0.0.1:0\"\nwindow = \"six\"\n",
            2,
            "window",
            "invalid type",
        ),
        (
            "ladder.toml",
            "window = 3\nhls = \"ts\"\nladder = \"720p,tiny\"\n",
            3,
            "ladder",
            "rung 1",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text)?;
        let (ok, _, stderr) = run_server(&["--config", path_str(&file)?]).await?;
        let first = stderr.lines().next().unwrap_or("");
        eprintln!("{name}: {first}");
        ensure!(!ok, "{name}: the server started");
        let expected = format!("{}: line {line}: key `{key}`: ", file.display());
        ensure!(
            first.contains(&expected) && first.contains(what),
            "{name}: expected `{expected}...{what}...`, got:\n{stderr}"
        );
    }
    Ok(())
}

/// A flag given on the command line overrides the file's key; the file's other keys stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_flags_override_the_file() -> Result<()> {
    let dir = test_dir("config-override")?;
    let (rtmp, http) = (free_addr()?, free_addr()?);
    let file = dir.path().join("onair.toml");
    std::fs::write(
        &file,
        format!("rtmp = \"{rtmp}\"\nhttp = \"{http}\"\ndvr = 30\ndvr-max-mb = 77\n"),
    )?;
    for (flags, expected) in [
        (vec![], "DVR: 30 s in each live playlist, at most 77 MiB"),
        (
            vec!["--dvr", "45"],
            "DVR: 45 s in each live playlist, at most 77 MiB",
        ),
    ] {
        let mut args = vec!["--config", path_str(&file)?];
        args.extend(flags.iter().copied());
        let mut server = spawn_example("server", &args, "info")?;
        wait_for_listener(rtmp, &mut server, Duration::from_secs(30)).await?;
        server.start_kill()?;
        let out = server.wait_with_output().await?;
        let logs = String::from_utf8_lossy(&out.stdout);
        let said = logs
            .lines()
            .find(|l| l.contains("DVR:"))
            .with_context(|| format!("no DVR settings logged: {logs}"))?;
        eprintln!("{flags:?}: {said}");
        ensure!(said.contains(expected), "{flags:?}: {said}");
    }
    Ok(())
}
