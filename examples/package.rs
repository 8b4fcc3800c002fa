//! `cargo run --release --example package -- IN OUTDIR [--segment SECS] [--part SECS]
//! [--window N | --vod] [--low-latency] [--fmp4] [--encrypt] [--realtime]`
//!
//! Packages an FLV or MP4 file (H.264/H.265 + AAC/MP3/Opus) as HLS with onair's
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
use onair_hls_packager::{
    drive, master_playlist, AesKey, EncryptionConfig, FsStore, Packager, PackagerConfig,
    PlaylistKind, Retention, SegmentFormat, StaticKey, Store, Variant,
};
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, CodecId, Frame, HevcConfig, Mp3Config, TrackId, TrackInfo,
};
use onair_rtmp_proto::flv::{FlvReader, FlvTagType};

#[path = "remux/mp4.rs"]
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

/// Tracks and frames (in decode order across tracks) of an FLV file with legacy AVC/AAC/MP3
/// or Enhanced RTMP HEVC tags.
fn read_flv(file: Bytes) -> Result<(Vec<TrackInfo>, Vec<Frame>), BoxError> {
    let mut reader = FlvReader::from_bytes(file);
    reader.read_header()?;
    let (mut tracks, mut frames) = (Vec::<TrackInfo>::new(), Vec::new());
    let add = |info: TrackInfo, tracks: &mut Vec<TrackInfo>| {
        tracks.retain(|t| t.id != info.id);
        tracks.push(info);
    };
    while let Some(tag) = reader.next_tag()? {
        let b = tag.data;
        let ts = i64::from(tag.timestamp);
        match tag.tag_type {
            FlvTagType::Video if b.len() >= 5 && b[0] & 0x0f == 7 => {
                let cts = i64::from(i32::from_be_bytes([b[2], b[3], b[4], 0]) >> 8);
                match b[1] {
                    0 => add(
                        TrackInfo {
                            id: TrackId(0),
                            timescale: 1000,
                            config: CodecConfig::Avc(AvcConfig::parse(b.slice(5..))?),
                        },
                        &mut tracks,
                    ),
                    1 => frames.push(video_frame(
                        CodecId::H264,
                        ts,
                        cts,
                        b[0] >> 4 == 1,
                        b.slice(5..),
                    )),
                    _ => {}
                }
            }
            // Enhanced RTMP: IsExHeader, packet type in the low nibble, FourCC hvc1.
            FlvTagType::Video if b.len() >= 5 && b[0] & 0x80 != 0 && &b[1..5] == b"hvc1" => {
                let key = (b[0] >> 4) & 0x07 == 1;
                match b[0] & 0x0f {
                    0 => add(
                        TrackInfo {
                            id: TrackId(0),
                            timescale: 1000,
                            config: CodecConfig::Hevc(HevcConfig::parse(b.slice(5..))?),
                        },
                        &mut tracks,
                    ),
                    1 if b.len() >= 8 => {
                        let cts = i64::from(i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8);
                        frames.push(video_frame(CodecId::H265, ts, cts, key, b.slice(8..)));
                    }
                    3 => frames.push(video_frame(CodecId::H265, ts, 0, key, b.slice(5..))),
                    _ => {}
                }
            }
            FlvTagType::Audio if b.len() >= 2 && b[0] >> 4 == 10 => match b[1] {
                0 => add(
                    TrackInfo {
                        id: TrackId(1),
                        timescale: 1000,
                        config: CodecConfig::Aac(AacConfig::parse(b.slice(2..))?),
                    },
                    &mut tracks,
                ),
                _ => frames.push(audio_frame(CodecId::Aac, ts, b.slice(2..))),
            },
            FlvTagType::Audio if b.len() >= 2 && b[0] >> 4 == 2 => {
                if !tracks.iter().any(|t| t.id == TrackId(1)) {
                    let rate = [5512, 11025, 22050, 44100][usize::from((b[0] >> 2) & 3)];
                    let channels = if b[0] & 1 == 1 { 2 } else { 1 };
                    let config = CodecConfig::Mp3(Mp3Config {
                        sample_rate: rate,
                        channels,
                    });
                    add(
                        TrackInfo {
                            id: TrackId(1),
                            timescale: 1000,
                            config,
                        },
                        &mut tracks,
                    );
                }
                frames.push(audio_frame(CodecId::Mp3, ts, b.slice(1..)));
            }
            _ => {}
        }
    }
    Ok((tracks, frames))
}

fn video_frame(codec: CodecId, dts: i64, cts: i64, keyframe: bool, data: Bytes) -> Frame {
    Frame {
        track: TrackId(0),
        codec,
        timescale: 1000,
        dts,
        pts: dts + cts,
        keyframe,
        data,
    }
}

fn audio_frame(codec: CodecId, dts: i64, data: Bytes) -> Frame {
    Frame {
        track: TrackId(1),
        codec,
        timescale: 1000,
        dts,
        pts: dts,
        keyframe: true,
        data,
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn run(args: Args) -> Result<String, BoxError> {
    let started = Instant::now();
    let file = Bytes::from(std::fs::read(&args.input)?);
    let (tracks, mut frames) = if file.starts_with(b"FLV") {
        read_flv(file)?
    } else {
        mp4::read_mp4(&file)?
    };
    frames.sort_by_key(|f| f.dts_time().rescale(90_000));
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
    for t in tracks {
        packager.add_track(t)?;
    }
    // Files stay for four target durations (at least 10 s) after leaving the playlist.
    let mut retention = Retention::new((target_duration * 4).max(Duration::from_secs(10)));
    let first_dts = frames.first().map_or(0, |f| f.dts_time().as_millis());
    let frame_count = frames.len();
    for frame in frames {
        if args.realtime {
            let due =
                Duration::from_millis((frame.dts_time().as_millis() - first_dts).max(0) as u64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        packager.push_frame(frame)?;
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
        "{} -> {}: {frame_count} frames, {} dropped, peak {} bit/s, average {} bit/s, codecs {}, in {:.1} ms",
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
