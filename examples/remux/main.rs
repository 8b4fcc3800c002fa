//! `cargo run --release --example remux -- IN OUT.ts`: remuxes an FLV or MP4 file (H.264,
//! H.265, AAC, MP3, Opus) to one MPEG-TS file with onair's ts-mux, and prints a summary line.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;

mod remux;

fn run(input: &str, output: &str) -> Result<String, remux::BoxError> {
    let start = Instant::now();
    let file = Bytes::from(std::fs::read(input)?);
    let events = remux::read_events(&file)?;
    let summary = remux::mux_events(&events, File::create(output)?)?;
    Ok(format!(
        "{input} -> {output}: {} tracks, {} video + {} audio frames ({} dropped), {} -> {} bytes in {:.1} ms",
        summary.tracks,
        summary.video_frames,
        summary.audio_frames,
        summary.dropped,
        file.len(),
        summary.bytes,
        start.elapsed().as_secs_f64() * 1e3
    ))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: remux IN.(flv|mp4) OUT.ts");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("remux: {e}");
            ExitCode::FAILURE
        }
    }
}
