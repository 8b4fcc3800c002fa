//! `cargo run --release --example remux -- IN OUT.ts`: remuxes an FLV or MP4 file (H.264,
//! H.265, AAC, MP3, Opus) to one MPEG-TS file with onair's ts-mux, and prints a summary line.
//!
//! An FLV input is memory-mapped, so its bytes are never copied into the process: tag bodies
//! are slices of the mapping. `--no-mmap` streams it through `read()` instead (bounded memory,
//! also for pipes and files that may change while they are read).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;

mod remux;

/// Maps `file` into memory as [`Bytes`] for the rest of the process.
///
/// The mapping is read-only and private to this process. Like every reader of a mapped file
/// (ripgrep, for one), it relies on no other process truncating or rewriting the file while the
/// remux runs; `--no-mmap` is the choice when that can't be promised.
///
/// The mapping is leaked on purpose: this one-shot program uses it until it exits, and a
/// `'static` slice makes every tag body a `Bytes` without a reference count (no atomic
/// increment and decrement per tag and frame, ~4% of the user time).
#[allow(unsafe_code)]
fn map(file: &File) -> std::io::Result<Bytes> {
    // SAFETY: see above; the mapping is never unmapped before the process ends.
    let map = unsafe { memmap2::Mmap::map(file)? };
    let map: &'static memmap2::Mmap = Box::leak(Box::new(map));
    Ok(Bytes::from_static(&map[..]))
}

fn run(input: &str, output: &str, mmap: bool) -> Result<String, remux::BoxError> {
    let start = Instant::now();
    let mut file = File::open(input)?;
    let mut magic = [0u8; 3];
    file.read_exact(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let in_len = file.metadata()?.len();
    let summary = if &magic == b"FLV" && mmap {
        let data = map(&file)?;
        remux::remux_flv(
            onair_flv::FlvReader::<std::io::Empty>::from_bytes(data),
            File::create(output)?,
        )?
    } else if &magic == b"FLV" {
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
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let before = args.len();
    args.retain(|a| a != "--no-mmap");
    let mmap = args.len() == before;
    let [input, output] = &args[..] else {
        eprintln!("usage: remux [--no-mmap] IN.(flv|mp4) OUT.ts");
        return ExitCode::from(2);
    };
    match run(input, output, mmap) {
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
