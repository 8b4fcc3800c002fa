//! `cargo run --release --example package -- IN OUTDIR [--segment SECS] [--part SECS]
//! [--window N | --vod] [--low-latency] [--fmp4] [--encrypt] [--realtime]`
//!
//! Packages an FLV (read with onair-flv's `FlvReader` and `MediaDemuxer`) or MP4 file
//! (H.264/H.265 + AAC/MP3/Opus) as HLS with onair's
//! hls-packager: writes `OUTDIR/index.m3u8`, its segments (MPEG-TS, or fMP4 with `--fmp4`;
//! `--low-latency` adds LL-HLS partial segments and implies fMP4), `OUTDIR/master.m3u8` with
//! the measured bandwidth, and with `--encrypt` the AES-128 key file `key.bin` that the
//! playlist's relative key URI names. `--realtime` paces the input at wall-clock speed so the
//! live playlist slides while it runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use onair_flv::{FlvReader, FlvTagType, MediaDemuxer, MediaEvent};
use onair_hls_packager::{
    drive, master_playlist, AesKey, EncryptionConfig, FsStore, Packager, PackagerConfig,
    PlaylistKind, Retention, SegmentFormat, StaticKey, Store, Variant,
};
use onair_media_types::{Frame, TrackInfo};

#[path = "input/mp4.rs"]
#[allow(dead_code)]
mod mp4;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Package an FLV or MP4 file as HLS.
#[derive(Parser, Debug)]
struct Args {
    /// Input file (FLV or MP4).
    input: PathBuf,
    /// Output folder.
    outdir: PathBuf,
    /// Target segment duration in seconds (fractional allowed).
    #[arg(long, default_value_t = 2.0)]
    segment: f64,
    /// LL-HLS partial segment duration in seconds (with --low-latency).
    #[arg(long, default_value_t = 0.334)]
    part: f64,
    /// Live sliding window, in segments.
    #[arg(long, default_value_t = 6, conflicts_with = "vod")]
    window: usize,
    /// VOD playlist (all segments, EXT-X-ENDLIST).
    #[arg(long)]
    vod: bool,
    /// Low-Latency HLS (partial segments; implies --fmp4).
    #[arg(long)]
    low_latency: bool,
    /// fMP4/CMAF segments instead of MPEG-TS.
    #[arg(long)]
    fmp4: bool,
    /// AES-128 encryption; the key goes to OUTDIR/key.bin.
    #[arg(long)]
    encrypt: bool,
    /// Feed frames at wall-clock speed.
    #[arg(long)]
    realtime: bool,
}

/// What the input says, in order: a track (or its new configuration), or a frame.
enum Item {
    Track(TrackInfo),
    Frame(Frame),
}

/// Reads an FLV file through onair-flv's `FlvReader` and `MediaDemuxer`. Returns the items
/// and the number of tags the demuxer refused (e.g. frames before their sequence header).
fn read_flv(file: Bytes) -> Result<(Vec<Item>, u64), BoxError> {
    let mut reader = FlvReader::from_bytes(file);
    reader.read_header()?;
    let mut demuxer = MediaDemuxer::new();
    let (mut items, mut refused) = (Vec::new(), 0);
    while let Some(tag) = reader.next_tag()? {
        let ts = u64::from(tag.timestamp);
        let pushed = match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ts, &tag.data),
            FlvTagType::Audio => demuxer.push_audio(ts, &tag.data),
            _ => Ok(()),
        };
        if pushed.is_err() {
            refused += 1;
        }
        while let Some(event) = demuxer.poll_event() {
            match event {
                MediaEvent::Track(info) => items.push(Item::Track(info)),
                MediaEvent::Frame(frame) => items.push(Item::Frame(frame)),
                _ => {}
            }
        }
    }
    Ok((items, refused))
}

/// Reads an MP4 file with the MP4 reader of the `remux` example; frames in decode order.
fn read_mp4(file: &Bytes) -> Result<Vec<Item>, BoxError> {
    let (tracks, mut frames) = mp4::read_mp4(file)?;
    frames.sort_by_key(|f| f.dts_time().rescale(90_000));
    let mut items: Vec<Item> = tracks.into_iter().map(Item::Track).collect();
    items.extend(frames.into_iter().map(Item::Frame));
    Ok(items)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn run(args: Args) -> Result<String, BoxError> {
    let started = Instant::now();
    let file = Bytes::from(std::fs::read(&args.input)?);
    let (items, refused) = if file.starts_with(b"FLV") {
        read_flv(file)?
    } else {
        (read_mp4(&file)?, 0)
    };
    let mut store = FsStore::new(&args.outdir)?;
    let encryption = if args.encrypt {
        let key: [u8; 16] = rand::random();
        store.put("key.bin", Bytes::copy_from_slice(&key))?;
        Some(EncryptionConfig {
            rotate_every: 0,
            keys: Box::new(StaticKey(AesKey {
                key,
                uri: "key.bin".into(),
            })),
        })
    } else {
        None
    };
    let format = if args.fmp4 || args.low_latency {
        SegmentFormat::Fmp4
    } else {
        SegmentFormat::Ts
    };
    let target_duration = Duration::from_secs_f64(args.segment);
    let mut packager = Packager::new(PackagerConfig {
        format,
        target_duration,
        part_duration: args.low_latency.then(|| Duration::from_secs_f64(args.part)),
        kind: if args.vod {
            PlaylistKind::Vod
        } else {
            PlaylistKind::Live {
                window: args.window,
            }
        },
        encryption,
        ..PackagerConfig::default()
    })?;
    packager.set_wallclock(unix_ms());
    // Files stay for four target durations (at least 10 s) after leaving the playlist.
    let mut retention = Retention::new((target_duration * 4).max(Duration::from_secs(10)));
    let first_dts = items.iter().find_map(|i| match i {
        Item::Frame(f) => Some(f.dts_time().as_millis()),
        Item::Track(_) => None,
    });
    let mut frame_count = 0u64;
    for item in items {
        let frame = match item {
            Item::Track(info) => {
                packager.add_track(info)?;
                continue;
            }
            Item::Frame(frame) => frame,
        };
        if args.realtime {
            let since_start = frame.dts_time().as_millis() - first_dts.unwrap_or(0);
            let due = Duration::from_millis(since_start.max(0) as u64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        packager.push_frame(frame)?;
        frame_count += 1;
        drive(
            &mut packager,
            &mut store,
            &mut retention,
            "index.m3u8",
            started.elapsed(),
        )?;
    }
    packager.finish()?;
    drive(
        &mut packager,
        &mut store,
        &mut retention,
        "index.m3u8",
        started.elapsed(),
    )?;
    let info = packager.variant_info();
    let master = master_playlist(&[Variant {
        uri: "index.m3u8".into(),
        info: info.clone(),
    }]);
    store.put("master.m3u8", Bytes::from(master))?;
    Ok(format!(
        "{} -> {}: {frame_count} frames, {} dropped, {refused} tags refused, peak {} bit/s, average {} bit/s, codecs {}, in {:.1} ms",
        args.input.display(),
        args.outdir.join("index.m3u8").display(),
        packager.dropped_frames(),
        info.bandwidth,
        info.average_bandwidth,
        info.codecs,
        started.elapsed().as_secs_f64() * 1e3
    ))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("package: {e}");
            ExitCode::FAILURE
        }
    }
}
