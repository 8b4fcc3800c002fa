//! A new project that depends on onair with default features builds with a plain `cargo build`
//! and runs, with no environment variable set: what a user does first.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};

use tokio::process::Command;

use crate::util::{run_command, test_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_project_builds_and_links_ffmpeg_without_settings() -> Result<()> {
    let onair_root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let here = onair_root.join("tests/interop/dependent");
    // Outside the repository, so no `.cargo/config.toml` of ours is found on the way up.
    let project = tempfile::Builder::new()
        .prefix("onair-dependent")
        .tempdir()?;
    let manifest = std::fs::read_to_string(here.join("Cargo.toml.in"))?
        .replace("@ONAIR@", &onair_root.display().to_string());
    std::fs::write(project.path().join("Cargo.toml"), manifest)?;
    std::fs::create_dir(project.path().join("src"))?;
    std::fs::copy(here.join("main.rs"), project.path().join("src/main.rs"))?;
    // Our lock file pins the versions this repository is tested with; cargo adds the new root.
    std::fs::copy(
        onair_root.join("Cargo.lock"),
        project.path().join("Cargo.lock"),
    )?;
    // A target directory that survives the test, so later runs build incrementally.
    let target = onair_testkit::cache_dir(env!("CARGO_TARGET_TMPDIR"), "dependent-target");
    let scratch = test_dir("dependent")?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--manifest-path"])
        .arg(project.path().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        // what our own build or a developer's shell may have set: a user has none of it
        .env_remove("FFMPEG_PKG_CONFIG_PATH")
        .env_remove("RUSTFLAGS")
        .current_dir(scratch.path());
    let build = run_command(build, Duration::from_secs(1200)).await?;
    ensure!(
        build.success,
        "cargo build of a dependent project failed:\n{}",
        build.stderr
    );
    let ran = run_command(
        Command::new(target.join("debug/onair-dependent")),
        Duration::from_secs(30),
    )
    .await?;
    ensure!(ran.success, "the dependent binary failed:\n{}", ran.stderr);
    eprintln!(
        "dependent project: built and ran, it printed {:?}",
        ran.stdout.trim()
    );
    ensure!(
        ran.stdout.trim() == "H264",
        "unexpected output {:?}",
        ran.stdout
    );
    Ok(())
}
