//! Lets a plain `cargo build` link the system FFmpeg dynamically, with no environment variable.
//!
//! rsmpeg's sys crate (rusty_ffmpeg 0.13) asks pkg-config with `--static`, so next to
//! `-lavcodec` it asks the linker for every private dependency of the system FFmpeg build
//! (`-lraw1394 -ljack -lSDL2 ...`, over a hundred on Debian 12). Their runtime libraries are
//! installed, but not their `-dev` symlinks, and the link fails. A dynamic link against
//! FFmpeg's shared libraries never needs them (each `.so` names its own dependencies), so for
//! every such library the linker cannot find, this script puts an empty archive in `OUT_DIR`
//! and adds `OUT_DIR` to the link search path of everything that depends on this crate.
//! Libraries the linker can find are left alone, so nothing real is ever shadowed.
#![allow(clippy::print_stdout)] // a build script talks to cargo on stdout

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

const FFMPEG_LIBS: [&str; 8] = [
    "libavcodec",
    "libavformat",
    "libavutil",
    "libswscale",
    "libswresample",
    "libavfilter",
    "libavdevice",
    "libpostproc",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=FFMPEG_PKG_CONFIG_PATH");
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    // The same pkg-config view rusty_ffmpeg uses: its folder when one is set, else the system's.
    let mut pkg_config = Command::new("pkg-config");
    if let Some(dir) = std::env::var_os("FFMPEG_PKG_CONFIG_PATH") {
        pkg_config.env("PKG_CONFIG_PATH", dir);
    }
    let Ok(output) = pkg_config
        .args(["--static", "--libs-only-l"])
        .args(FFMPEG_LIBS)
        .output()
    else {
        return; // no pkg-config: rusty_ffmpeg's own build reports what is missing
    };
    if !output.status.success() {
        return;
    }
    let wanted: BTreeSet<&str> = std::str::from_utf8(&output.stdout)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-l"))
        .collect();
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let mut stubbed = 0;
    for lib in wanted {
        if linker_finds(&linker, lib) {
            continue;
        }
        let stub = out_dir.join(format!("lib{lib}.a"));
        if std::fs::write(&stub, b"!<arch>\n").is_ok() {
            stubbed += 1;
        }
    }
    if stubbed > 0 {
        println!("cargo:rustc-link-search=native={}", out_dir.display());
    }
}

/// Whether the C toolchain resolves `-l{lib}`: `cc -print-file-name` answers with a path only
/// for files in its search directories.
fn linker_finds(linker: &str, lib: &str) -> bool {
    ["so", "a"].iter().any(|ext| {
        let name = format!("lib{lib}.{ext}");
        Command::new(linker)
            .arg(format!("-print-file-name={name}"))
            .output()
            .map(|o| {
                let path = String::from_utf8_lossy(&o.stdout);
                let path = path.trim();
                path != name && std::path::Path::new(path).exists()
            })
            .unwrap_or(false)
    })
}
