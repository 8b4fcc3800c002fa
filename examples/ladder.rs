//! `cargo run --release --example ladder -- IN OUTDIR [--ladder LIST] [--preset P]
//! [--segment SECS] [--hardware cpu|gpu-then-cpu|gpu-only] [--b-frames N] [--threads N]
//! [--decoder-threads N] [--sliced] [--inline] [--no-cascade]`
//!
//! A VOD ladder from an FLV or MP4 file (H.264/H.265 with AAC/MP3/Opus): onair-transcode
//! makes the renditions (default `source,720p,480p,360p`; the source is passed through when
//! its keyframes fit the segment target), onair-hls-packager packages each into
//! `OUTDIR/<rendition>/index.m3u8` and MPEG-TS segments, and `OUTDIR/master.m3u8` lists them
//! with their measured BANDWIDTH and AVERAGE-BANDWIDTH, CODECS from each rendition's own
//! parameter sets, RESOLUTION and FRAME-RATE, in ascending BANDWIDTH order. Every rendition
//! has its keyframes at the same times, so segment boundaries, sequence numbers and EXTINF
//! durations are the same in every media playlist. Progress (position and speed as a
//! multiple of real time) goes to stderr once a second.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use onair_flv::{FlvReader, FlvTagType, MediaDemuxer, MediaEvent};
use onair_hls_packager::{
    drive, master_playlist, FsStore, Packager, PackagerConfig, PlaylistKind, Retention,
    SegmentFormat, Store, Variant,
};
use onair_media_types::{Frame, MediaKind, TrackInfo};
use onair_transcode::{
    Event, HardwarePolicy, Ladder, Output, RenditionId, Transcoder, TranscoderConfig,
};

#[path = "input/mp4.rs"]
#[allow(dead_code)]
mod mp4;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Transcode an FLV or MP4 file into an HLS ladder.
#[derive(Parser, Debug)]
struct Args {
    /// Input file (FLV or MP4).
    input: PathBuf,
    /// Output folder.
    outdir: PathBuf,
    /// The renditions: `source`, `1080p`, `720p`, `540p`, `480p`, `360p`, `240p`,
    /// `<height>p@<kbps>`, `<width>x<height>@<kbps>`, comma-separated.
    #[arg(long, default_value = "source,720p,480p,360p")]
    ladder: Ladder,
    /// libx264 preset.
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Target segment duration in seconds; keyframes every segment.
    #[arg(long, default_value_t = 2.0)]
    segment: f64,
    /// cpu, gpu-then-cpu or gpu-only.
    #[arg(long, default_value = "cpu")]
    hardware: HardwarePolicy,
    /// B-frames of the transcoded rungs.
    #[arg(long, default_value_t = 0)]
    b_frames: u32,
    /// Threads of each encoder (0: the encoder's choice).
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Decoder threads (0: FFmpeg's choice).
    #[arg(long, default_value_t = 1)]
    decoder_threads: u32,
    /// Encode every rung in the calling thread instead of one worker thread per rung.
    #[arg(long)]
    inline: bool,
    /// Encoder threads work on slices of one picture instead of on several pictures.
    #[arg(long)]
    sliced: bool,
    /// Scale every rung from the source instead of from the next larger rung.
    #[arg(long)]
    no_cascade: bool,
}

/// What the input says, in order: a track (or its new configuration), or a frame.
enum Item {
    Track(TrackInfo),
    Frame(Frame),
}

fn read_flv(file: Bytes) -> Result<Vec<Item>, BoxError> {
    let mut reader = FlvReader::from_bytes(file);
    reader.read_header()?;
    let mut demuxer = MediaDemuxer::new();
    let mut items = Vec::new();
    while let Some(tag) = reader.next_tag()? {
        let ts = u64::from(tag.timestamp);
        // Tags the demuxer refuses (frames before their sequence header) are skipped.
        let _ = match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ts, &tag.data),
            FlvTagType::Audio => demuxer.push_audio(ts, &tag.data),
            _ => Ok(()),
        };
        while let Some(event) = demuxer.poll_event() {
            match event {
                MediaEvent::Track(info) => items.push(Item::Track(info)),
                MediaEvent::Frame(frame) => items.push(Item::Frame(frame)),
                _ => {}
            }
        }
    }
    Ok(items)
}

fn read_mp4(file: &Bytes) -> Result<Vec<Item>, BoxError> {
    let (tracks, mut frames) = mp4::read_mp4(file)?;
    frames.sort_by_key(|f| f.dts_time().rescale(90_000));
    let mut items: Vec<Item> = tracks.into_iter().map(Item::Track).collect();
    items.extend(frames.into_iter().map(Item::Frame));
    Ok(items)
}

/// The source's video bitrate: its bytes over its duration.
fn video_bitrate(items: &[Item]) -> Option<u64> {
    let video: Vec<&Frame> = items
        .iter()
        .filter_map(|i| match i {
            Item::Frame(f) if f.codec.kind() == MediaKind::Video => Some(f),
            _ => None,
        })
        .collect();
    let first = video
        .iter()
        .map(|f| f.pts_time().as_secs_f64())
        .reduce(f64::min)?;
    let last = video
        .iter()
        .map(|f| f.pts_time().as_secs_f64())
        .reduce(f64::max)?;
    let step = (last - first) / (video.len().max(2) - 1) as f64;
    let secs = last - first + step;
    let bytes: usize = video.iter().map(|f| f.data.len()).sum();
    (secs > 0.0).then(|| (bytes as f64 * 8.0 / secs) as u64)
}

/// One rendition's packager and files.
struct RenditionFiles {
    name: String,
    packager: Packager,
    store: FsStore,
}

struct Renditions {
    outdir: PathBuf,
    segment: Duration,
    live: BTreeMap<RenditionId, RenditionFiles>,
    retention: Retention,
    started: Instant,
}

impl Renditions {
    fn add(&mut self, ladder: &Transcoder, id: RenditionId) -> Result<(), BoxError> {
        let Some(info) = ladder.rendition(id) else {
            return Ok(());
        };
        let packager = Packager::new(PackagerConfig {
            format: SegmentFormat::Ts,
            target_duration: self.segment,
            kind: PlaylistKind::Vod,
            ..PackagerConfig::default()
        })?;
        let store = FsStore::new(self.outdir.join(&info.name))?;
        self.live.insert(
            id,
            RenditionFiles {
                name: info.name.clone(),
                packager,
                store,
            },
        );
        Ok(())
    }

    fn drain(&mut self, ladder: &mut Transcoder) -> Result<(), BoxError> {
        while let Some(event) = ladder.poll_event() {
            if let Event::RenditionAdded { id } = event {
                self.add(ladder, id)?;
            } else {
                eprintln!("ladder: {event:?}");
            }
        }
        for (id, out) in &mut self.live {
            while let Some(output) = ladder.poll_output(*id) {
                match output {
                    Output::Track(track) => out.packager.add_track(track)?,
                    Output::Frame(frame) => out.packager.push_frame(frame)?,
                }
            }
            drive(
                &mut out.packager,
                &mut out.store,
                &mut self.retention,
                "index.m3u8",
                self.started.elapsed(),
            )?;
        }
        Ok(())
    }
}

fn run(args: Args) -> Result<String, BoxError> {
    let started = Instant::now();
    let file = Bytes::from(std::fs::read(&args.input)?);
    let items = if file.starts_with(b"FLV") {
        read_flv(file)?
    } else {
        read_mp4(&file)?
    };
    let mut config = TranscoderConfig::new(args.ladder.clone());
    config.segment_target = Duration::from_secs_f64(args.segment);
    config.source_bitrate_bps = video_bitrate(&items);
    config.encoder.preset = args.preset.clone();
    config.encoder.b_frames = args.b_frames;
    config.encoder.threads = args.threads;
    config.hardware = args.hardware;
    config.decoder_threads = args.decoder_threads;
    config.parallel = !args.inline;
    config.cascade = !args.no_cascade;
    config.encoder.sliced_threads = args.sliced;
    let mut ladder = Transcoder::new(config)?;
    let mut out = Renditions {
        outdir: args.outdir.clone(),
        segment: Duration::from_secs_f64(args.segment),
        live: BTreeMap::new(),
        retention: Retention::new(Duration::from_secs(3600)),
        started,
    };
    let duration = items
        .iter()
        .filter_map(|i| match i {
            Item::Frame(f) => Some(f.pts_time().as_secs_f64()),
            Item::Track(_) => None,
        })
        .fold(0.0, f64::max);
    let mut last_report = Instant::now();
    for item in items {
        match item {
            Item::Track(track) => ladder.push_track(track)?,
            Item::Frame(frame) => ladder.push_frame(frame)?,
        }
        out.drain(&mut ladder)?;
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            if let Some(pos) = ladder.stats().last_input_pts {
                let pos = pos.as_secs_f64();
                eprintln!(
                    "ladder: {pos:.1}/{duration:.1} s, speed {:.2}x",
                    pos / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    ladder.flush()?;
    out.drain(&mut ladder)?;

    let mut variants = Vec::new();
    let mut summary = Vec::new();
    for (id, o) in &mut out.live {
        o.packager.finish()?;
        drive(
            &mut o.packager,
            &mut o.store,
            &mut out.retention,
            "index.m3u8",
            started.elapsed(),
        )?;
        let info = o.packager.variant_info();
        let stats = ladder.rendition_stats(*id).unwrap_or_default();
        let per_frame = |d: Duration| d.as_secs_f64() * 1e3 / stats.frames.max(1) as f64;
        summary.push(format!(
            "{} {}x{} {} avg {} kbit/s peak {} kbit/s, {} frames, {} keyframes, cpu/frame: encode {:.2} ms, scale {:.2} ms",
            o.name,
            info.resolution.map_or(0, |r| r.0),
            info.resolution.map_or(0, |r| r.1),
            info.codecs,
            info.average_bandwidth / 1000,
            info.bandwidth / 1000,
            stats.frames,
            stats.keyframes,
            per_frame(stats.encode_cpu),
            per_frame(stats.scale_cpu),
        ));
        variants.push(Variant {
            uri: format!("{}/index.m3u8", o.name),
            info,
        });
    }
    let mut master = FsStore::new(&args.outdir)?;
    master.put("master.m3u8", Bytes::from(master_playlist(&variants)))?;
    let elapsed = started.elapsed().as_secs_f64();
    let s = ladder.stats();
    Ok(format!(
        "{} -> {}: {:.1} s of media in {elapsed:.1} s ({:.2}x), {} pictures decoded ({:.2} ms cpu each), {} corrupt, {} skipped\n  {}",
        args.input.display(),
        args.outdir.join("master.m3u8").display(),
        duration,
        duration / elapsed,
        s.decoded,
        s.decode_cpu.as_secs_f64() * 1e3 / s.decoded.max(1) as f64,
        s.corrupt_packets,
        s.skipped_frames,
        summary.join("\n  ")
    ))
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ladder: {e}");
            ExitCode::FAILURE
        }
    }
}
