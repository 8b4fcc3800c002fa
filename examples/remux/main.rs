//! `cargo run --release --example remux -- IN OUT.ts`: remuxes an FLV or MP4 file (H.264,
//! H.265, AAC, MP3, Opus) to one MPEG-TS file with onair's ts-mux, and prints a summary line.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;

mod remux;

fn run(input: &str, output: &str) -> Result<String, remux::BoxError> {
    let start = Instant::now();
    let mut file = File::open(input)?;
    let mut magic = [0u8; 3];
    file.read_exact(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let in_len = file.metadata()?.len();
    let summary = if &magic == b"FLV" {
        // Streamed: memory stays bounded and the input is never held whole.
        remux::remux_flv_stream(file, File::create(output)?)?
    } else {
        // MP4 needs random access to its sample tables: read it whole.
        let data = Bytes::from(std::fs::read(input)?);
        let events = remux::read_events(&data)?;
        remux::mux_events(&events, File::create(output)?)?
    };
    Ok(format!(
        "{input} -> {output}: {} tracks, {} video + {} audio frames ({} dropped), {} -> {} bytes in {:.1} ms",
        summary.tracks,
        summary.video_frames,
        summary.audio_frames,
        summary.dropped,
        in_len,
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
