//! Interop: package a stream made by ffmpeg, then let ffmpeg/ffprobe judge the output.
//!
//! The input (H.264 + AAC in FLV, keyframe every second) is made with ffmpeg at test time
//! and cached under `CARGO_TARGET_TMPDIR`. Each test packages it through the library into a
//! folder with [`FsStore`] and checks that `ffmpeg -v error -i index.m3u8 -f null -` prints
//! nothing, that as many frames come out as went in, that each segment starts with a
//! keyframe and that every `EXTINF` fits the target duration. The media and master playlists
//! are also read by m3u8-rs, an independent parser, and what it reads is held against the
//! files and what ffprobe sees in them (`check_with_m3u8_rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use onair_hls_packager::{
    check_media_playlist, drive, master_playlist, AesKey, EncryptionConfig, FsStore, Packager,
    PackagerConfig, PlaylistKind, Retention, SegmentFormat, StaticKey, Store, Variant,
};
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, CodecId, Frame, MediaKind, Mp3Config, TrackId, TrackInfo,
};
use onair_testkit::m3u8::{read_master, read_media};
use onair_testkit::{cache_dir, ffmpeg9, run, tool, Lavfi, Output};

/// Frame rate of every test input.
const FPS: f64 = 30.0;

fn work_dir() -> PathBuf {
    cache_dir(env!("CARGO_TARGET_TMPDIR"), "hls-interop")
}

/// 6 s of 320x240 30 fps H.264 (B-frames, keyframe every 30 frames) and 44.1 kHz AAC, as FLV.
fn input() -> &'static Path {
    static INPUT: OnceLock<PathBuf> = OnceLock::new();
    INPUT.get_or_init(|| make_input("input-v1.flv", &["-c:a", "aac", "-b:a", "64k"]))
}

/// The same pictures with MP3 audio.
fn input_mp3() -> &'static Path {
    static INPUT: OnceLock<PathBuf> = OnceLock::new();
    INPUT.get_or_init(|| {
        make_input(
            "input-mp3-v1.flv",
            &["-c:a", "libmp3lame", "-ar", "44100", "-b:a", "96k"],
        )
    })
}

/// 4 s of 320x240 30 fps HEVC (keyframe every 30 frames) and 48 kHz Opus, as Enhanced RTMP
/// FLV written by FFmpeg 9.
fn input_hevc_opus() -> &'static Path {
    static INPUT: OnceLock<PathBuf> = OnceLock::new();
    INPUT.get_or_init(|| {
        Lavfi {
            video: "testsrc=size=320x240:rate=30",
            audio: "sine=frequency=440:sample_rate=48000",
            seconds: 4,
            args: &[
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "libx265",
                "-x265-params",
                "keyint=30:min-keyint=30:scenecut=0:log-level=error",
                "-c:a",
                "libopus",
                "-b:a",
                "64k",
                "-f",
                "flv",
            ],
        }
        .cached(ffmpeg9(), &work_dir(), "input-hevc-opus-v1.flv")
    })
}

/// Tracks and frames of an FLV file through onair-flv's `FlvReader` and `MediaDemuxer`.
fn demux_onair_flv(data: Vec<u8>) -> (Vec<TrackInfo>, Vec<Frame>) {
    use onair_flv::{FlvReader, FlvTagType, MediaDemuxer, MediaEvent};
    let mut reader = FlvReader::from_bytes(data);
    reader.read_header().unwrap();
    let mut demuxer = MediaDemuxer::new();
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    while let Some(tag) = reader.next_tag().unwrap() {
        let ts = u64::from(tag.timestamp);
        match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ts, &tag.data).unwrap(),
            FlvTagType::Audio => demuxer.push_audio(ts, &tag.data).unwrap(),
            _ => {}
        }
        while let Some(event) = demuxer.poll_event() {
            match event {
                MediaEvent::Track(t) => tracks.push(t),
                MediaEvent::Frame(f) => frames.push(f),
                _ => {}
            }
        }
    }
    (tracks, frames)
}

/// 6 s of 320x240 30 fps H.264 (B-frames, keyframe every 30 frames) with `audio` codec
/// arguments, as FLV.
fn make_input(name: &str, audio: &[&str]) -> PathBuf {
    let mut args = vec![
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "30",
        "-keyint_min",
        "30",
        "-sc_threshold",
        "0",
        "-bf",
        "2",
    ];
    args.extend_from_slice(audio);
    args.extend_from_slice(&["-f", "flv"]);
    Lavfi {
        video: "testsrc=size=320x240:rate=30",
        audio: "sine=frequency=440:sample_rate=44100",
        seconds: 6,
        args: &args,
    }
    .cached(tool("ffmpeg"), &work_dir(), name)
}

/// A minimal FLV demuxer for the test input (legacy AVC, AAC and MP3 tags only): the file
/// layout read by hand, the tag headers through onair-flv's header views.
fn demux(data: &[u8]) -> (Vec<TrackInfo>, Vec<Frame>) {
    use onair_flv::{AudioTagHeader, TagCodec, VideoPacketType, VideoTagHeader};
    let be = |b: &[u8]| b.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x));
    let mut pos = be(&data[5..9]) as usize + 4;
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    while pos + 11 <= data.len() {
        let kind = data[pos];
        let size = be(&data[pos + 1..pos + 4]) as usize;
        let ts = i64::from(be(&data[pos + 4..pos + 7]) | (u32::from(data[pos + 7]) << 24));
        let body = Bytes::copy_from_slice(&data[pos + 11..pos + 11 + size]);
        pos += 11 + size + 4;
        match kind {
            9 => {
                let h = VideoTagHeader::parse(&body).unwrap();
                if h.codec() != Some(TagCodec::Legacy(7)) {
                    continue;
                }
                let payload = body.slice(h.header_len()..);
                if h.is_sequence_header() {
                    tracks.push(TrackInfo {
                        id: TrackId(0),
                        timescale: 1000,
                        config: CodecConfig::Avc(AvcConfig::parse(payload).unwrap()),
                    });
                } else if h.packet_type() == Some(VideoPacketType::CodedFrames) {
                    frames.push(Frame {
                        track: TrackId(0),
                        codec: CodecId::H264,
                        timescale: 1000,
                        dts: ts,
                        pts: ts + i64::from(h.composition_time()),
                        keyframe: h.is_keyframe(),
                        data: payload,
                    });
                }
            }
            8 => {
                let h = AudioTagHeader::parse(&body).unwrap();
                let payload = body.slice(h.header_len()..);
                match h.codec() {
                    TagCodec::Legacy(10) if h.is_sequence_header() => tracks.push(TrackInfo {
                        id: TrackId(1),
                        timescale: 1000,
                        config: CodecConfig::Aac(AacConfig::parse(payload).unwrap()),
                    }),
                    TagCodec::Legacy(10) => frames.push(Frame {
                        track: TrackId(1),
                        codec: CodecId::Aac,
                        timescale: 1000,
                        dts: ts,
                        pts: ts,
                        keyframe: true,
                        data: payload,
                    }),
                    TagCodec::Legacy(2) => {
                        if tracks.len() < 2 {
                            // SoundType, the low bit of the flags: 0 mono, 1 stereo
                            let stereo = h.flags().unwrap_or(0) & 1;
                            tracks.push(TrackInfo {
                                id: TrackId(1),
                                timescale: 1000,
                                config: CodecConfig::Mp3(Mp3Config {
                                    sample_rate: 44_100,
                                    channels: 1 + stereo,
                                }),
                            });
                        }
                        frames.push(Frame {
                            track: TrackId(1),
                            codec: CodecId::Mp3,
                            timescale: 1000,
                            dts: ts,
                            pts: ts,
                            keyframe: true,
                            data: payload,
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (tracks, frames)
}

/// Packages the input into `work_dir()/name` and returns that folder.
fn package(name: &str, config: PackagerConfig) -> PathBuf {
    package_from(input(), name, config)
}

fn package_from(input: &Path, name: &str, config: PackagerConfig) -> PathBuf {
    let data = std::fs::read(input).unwrap();
    let (tracks, frames) = demux(&data);
    package_frames(tracks, frames, name, config)
}

fn package_frames(
    tracks: Vec<TrackInfo>,
    frames: Vec<Frame>,
    name: &str,
    config: PackagerConfig,
) -> PathBuf {
    let out = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&out);
    let mut store = FsStore::new(&out).unwrap();
    if config.encryption.is_some() {
        store.put("key0.bin", Bytes::from_static(&KEY)).unwrap();
    }
    assert_eq!(tracks.len(), 2);
    let mut packager = Packager::new(config).unwrap();
    packager.set_wallclock(1_795_687_200_000);
    for t in tracks {
        packager.add_track(t).unwrap();
    }
    // Long grace: nothing is deleted while the test reads the folder.
    let mut retention = Retention::new(Duration::from_secs(3600));
    for (i, f) in frames.into_iter().enumerate() {
        packager.push_frame(f).unwrap();
        let now = Duration::from_millis(i as u64 * 20);
        drive(&mut packager, &mut store, &mut retention, "index.m3u8", now).unwrap();
    }
    packager.finish().unwrap();
    drive(
        &mut packager,
        &mut store,
        &mut retention,
        "index.m3u8",
        Duration::from_secs(3600),
    )
    .unwrap();
    assert_eq!(packager.dropped_frames(), 0);
    let master = master_playlist(&[Variant {
        uri: "index.m3u8".into(),
        info: packager.variant_info(),
    }]);
    store.put("master.m3u8", Bytes::from(master)).unwrap();
    out
}

const KEY: [u8; 16] = *b"0123456789abcdef";

fn frame_count(path: &Path, stream: &str) -> u64 {
    let Output {
        stdout: out,
        stderr: err,
        ..
    } = run(Command::new(tool("ffprobe"))
        .args([
            "-v",
            "error",
            "-allowed_extensions",
            "ALL",
            "-select_streams",
            stream,
        ])
        .args([
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    // HLS inputs list the stream once per program too: take the first count.
    out.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe {}: {out} {err}", path.display()))
}

/// ffmpeg decodes the whole playlist without a word, and as many frames as the input.
fn check_decodes(dir: &Path) {
    check_decodes_as(dir, input());
}

fn check_decodes_as(dir: &Path, input: &Path) {
    check_with_m3u8_rs(dir);
    let playlist = dir.join("index.m3u8");
    let Output { stderr: err, .. } = run(Command::new(tool("ffmpeg"))
        .args(["-v", "error", "-allowed_extensions", "ALL", "-i"])
        .arg(&playlist)
        .args(["-f", "null", "-"]));
    assert_eq!(err, "", "ffmpeg complained about {}", playlist.display());
    assert_eq!(frame_count(&playlist, "v"), frame_count(input, "v"));
    assert_eq!(frame_count(&playlist, "a"), frame_count(input, "a"));
}

/// Every EXTINF fits the target duration; every segment starts with a keyframe, and its
/// EXTINF is the time from that keyframe to the next segment's, in frames: the video frames
/// presented in between (with open GOPs some of them, the leading pictures of the next
/// keyframe, sit in the next segment's file).
fn check_segments(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let summary = check_media_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert!(summary.ended);
    assert!(summary.segments.len() >= 3, "{text}");
    let view = read_media(&text);
    assert_eq!(view.segments.len(), summary.segments.len(), "{text}");
    // Per segment: its EXTINF, its first keyframe's PTS and every video PTS in its file.
    let mut probed = Vec::new();
    for (segment, (uri, duration, _)) in view.segments.iter().zip(&summary.segments) {
        assert_eq!(&segment.uri, uri);
        assert!((duration + 0.5).floor() as u64 <= summary.target_duration);
        let init = segment.map.as_deref();
        let mut bytes = match init {
            Some(init) => std::fs::read(dir.join(init)).unwrap(),
            None => Vec::new(),
        };
        bytes.extend(std::fs::read(dir.join(uri)).unwrap());
        let probe = dir.join(format!(
            "probe-{uri}.{}",
            if init.is_some() { "mp4" } else { "ts" }
        ));
        std::fs::write(&probe, bytes).unwrap();
        let Output {
            stdout: out,
            stderr: err,
            ..
        } = run(Command::new(tool("ffprobe"))
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["packet=pts_time,flags", "-of", "csv=p=0"])
            .arg(&probe));
        let packets: Vec<(f64, bool)> = out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut fields = l.split(',');
                let pts = fields
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(f64::NAN);
                (pts, fields.next().is_some_and(|f| f.starts_with('K')))
            })
            .collect();
        let first = packets.first().copied();
        assert!(
            first.is_some_and(|(_, key)| key),
            "{uri} starts with {first:?} {err}"
        );
        probed.push((
            uri.clone(),
            segment.duration,
            first.map_or(0.0, |f| f.0),
            packets,
        ));
        std::fs::remove_file(probe).unwrap();
    }
    let all: Vec<f64> = probed
        .iter()
        .flat_map(|(_, _, _, packets)| packets.iter().map(|p| p.0))
        .collect();
    for (i, (uri, duration, key, packets)) in probed.iter().enumerate() {
        let next_key = probed.get(i + 1).map_or(f64::INFINITY, |next| next.2);
        let presented = all.iter().filter(|p| (*key..next_key).contains(*p)).count();
        // Millisecond FLV timestamps: a frame lasts 33 or 34 ms.
        let frames_said = duration * FPS;
        assert!(
            (presented as f64 - frames_said).abs() < 0.1,
            "{uri}: EXTINF {duration} s as m3u8-rs reads it, {presented} video frames \
             presented from its keyframe to the next ({} packets in the file)",
            packets.len()
        );
    }
}

/// m3u8-rs reads the media and master playlists, and what it reads matches the folder and
/// ffprobe: every listed segment, part, init segment and key file is there; media sequence
/// numbers and IVs count from 0; the EXTINFs add up to the video ffprobe decodes; the master
/// names the codecs and picture size ffprobe finds and an average bandwidth that is the
/// segments' bytes over their EXTINFs.
fn check_with_m3u8_rs(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let view = read_media(&text);
    assert!(view.playlist.end_list, "{text}");
    assert_eq!(view.playlist.media_sequence, 0, "{text}");
    let mut bytes = 0u64;
    for (msn, segment) in view.segments.iter().enumerate() {
        assert_eq!(segment.msn, msn as u64);
        let size = std::fs::metadata(dir.join(&segment.uri))
            .unwrap_or_else(|e| panic!("{}: {e}", segment.uri))
            .len();
        assert!(size > 0, "{} is empty", segment.uri);
        bytes += size;
        if let Some(map) = &segment.map {
            assert!(dir.join(map).is_file(), "{map} listed but missing");
        }
        if let Some((uri, iv)) = &segment.key {
            assert_eq!(std::fs::read(dir.join(uri)).unwrap(), KEY);
            assert_eq!(iv.as_deref(), Some(format!("0x{msn:032X}").as_str()));
        }
        for part in &segment.parts {
            assert!(
                dir.join(&part.uri).is_file(),
                "{} listed but missing",
                part.uri
            );
        }
    }
    let total = view.total_duration();
    let frames = frame_count(&dir.join("index.m3u8"), "v") as f64;
    assert!(
        (total * FPS - frames).abs() < 0.5,
        "EXTINFs add up to {total} s, ffprobe decodes {frames} frames at {FPS} fps"
    );

    let master_text = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    let master = read_master(&master_text);
    assert_eq!(master.variants.len(), 1);
    let variant = &master.variants[0];
    assert_eq!(variant.uri, "index.m3u8");
    let average = variant.average_bandwidth.expect("AVERAGE-BANDWIDTH") as f64;
    let measured = bytes as f64 * 8.0 / total;
    assert!(
        (average - measured).abs() <= measured * 0.01,
        "AVERAGE-BANDWIDTH {average}, the segments make {measured:.0} bit/s"
    );
    assert!(variant.bandwidth as f64 >= average);
    let Output { stdout: out, .. } = run(Command::new(tool("ffprobe"))
        .args(["-v", "error", "-allowed_extensions", "ALL", "-show_entries"])
        .args(["stream=codec_name,width,height", "-of", "csv=p=0"])
        .arg(dir.join("index.m3u8")));
    let mut streams: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    streams.sort();
    streams.dedup();
    let codecs = variant.codecs.as_deref().unwrap_or("");
    let resolution = variant
        .resolution
        .map(|r| format!("{},{}", r.width, r.height));
    for stream in &streams {
        let mut fields = stream.splitn(2, ',');
        let name = fields.next().unwrap_or("");
        let rfc6381 = match name {
            "h264" => "avc1.",
            "hevc" => "hvc1.",
            "aac" => "mp4a.40.2",
            "mp3" => "mp4a.40.34",
            "opus" => "opus",
            other => panic!("ffprobe found {other}"),
        };
        assert!(
            codecs.contains(rfc6381),
            "CODECS={codecs}, ffprobe: {streams:?}"
        );
        if let Some(size) = fields.next().filter(|s| !s.is_empty()) {
            assert_eq!(resolution.as_deref(), Some(size), "ffprobe: {streams:?}");
        }
    }
    assert_eq!(codecs.split(',').count(), streams.len(), "{streams:?}");
}

fn config(format: SegmentFormat, secs: f64, kind: PlaylistKind) -> PackagerConfig {
    PackagerConfig {
        format,
        target_duration: Duration::from_secs_f64(secs),
        kind,
        ..PackagerConfig::default()
    }
}

#[test]
fn ts_vod() {
    let dir = package("ts-vod", config(SegmentFormat::Ts, 1.0, PlaylistKind::Vod));
    check_segments(&dir);
    check_decodes(&dir);
}

#[test]
fn ts_live_two_second_segments() {
    let dir = package(
        "ts-live",
        config(SegmentFormat::Ts, 2.0, PlaylistKind::Live { window: 50 }),
    );
    check_segments(&dir);
    check_decodes(&dir);
}

#[test]
fn fmp4_vod() {
    let dir = package(
        "fmp4-vod",
        config(SegmentFormat::Fmp4, 1.0, PlaylistKind::Vod),
    );
    check_segments(&dir);
    check_decodes(&dir);
}

#[test]
fn fmp4_live() {
    let dir = package(
        "fmp4-live",
        config(SegmentFormat::Fmp4, 2.0, PlaylistKind::Live { window: 50 }),
    );
    check_segments(&dir);
    check_decodes(&dir);
}

#[test]
fn fmp4_low_latency() {
    let dir = package(
        "fmp4-ll",
        PackagerConfig {
            part_duration: Some(Duration::from_secs_f64(0.334)),
            ..config(SegmentFormat::Fmp4, 1.0, PlaylistKind::Live { window: 50 })
        },
    );
    let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-PART:"), "{text}");
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:"));
    check_segments(&dir);
    check_decodes(&dir);
    // Every part marked INDEPENDENT starts with a keyframe, after the init segment.
    let summary = check_media_playlist(&text).unwrap();
    assert!(summary.parts > 0);
    let init = std::fs::read(dir.join("seginit0.mp4")).unwrap();
    let independent: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:") && l.ends_with(",INDEPENDENT=YES"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert!(independent.len() >= 3, "{text}");
    for part in independent {
        let mut bytes = init.clone();
        bytes.extend(std::fs::read(dir.join(part)).unwrap());
        let probe = dir.join(format!("probe-{part}.mp4"));
        std::fs::write(&probe, bytes).unwrap();
        let Output {
            stdout: out,
            stderr: err,
            ..
        } = run(Command::new(tool("ffprobe"))
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["packet=flags", "-of", "csv=p=0"])
            .arg(&probe));
        assert!(out.starts_with('K'), "{part}: {out:?} {err}");
        assert_eq!(err, "");
        std::fs::remove_file(probe).unwrap();
    }
}

#[test]
fn ts_encrypted() {
    let dir = package(
        "ts-aes",
        PackagerConfig {
            encryption: Some(EncryptionConfig {
                rotate_every: 0,
                keys: Box::new(StaticKey(AesKey {
                    key: KEY,
                    uri: "key0.bin".into(),
                })),
            }),
            ..config(SegmentFormat::Ts, 1.0, PlaylistKind::Vod)
        },
    );
    let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(text.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"key0.bin\",IV=0x"));
    let seg = std::fs::read(dir.join("seg0.ts")).unwrap();
    let looks_like_ts = seg.chunks(188).all(|p| p[0] == 0x47);
    assert!(!looks_like_ts, "encrypted segment is plain TS");
    check_decodes(&dir);
    // Without the key the segment is noise to a TS demuxer.
    let Output { stderr: err, .. } = run(Command::new(tool("ffprobe"))
        .args(["-v", "error", "-show_entries", "stream=codec_name"])
        .arg(dir.join("seg0.ts")));
    assert!(!err.is_empty());
}

fn static_key() -> Option<EncryptionConfig> {
    Some(EncryptionConfig {
        rotate_every: 0,
        keys: Box::new(StaticKey(AesKey {
            key: KEY,
            uri: "key0.bin".into(),
        })),
    })
}

#[test]
fn fmp4_encrypted() {
    let dir = package(
        "fmp4-aes",
        PackagerConfig {
            encryption: static_key(),
            ..config(SegmentFormat::Fmp4, 1.0, PlaylistKind::Vod)
        },
    );
    let seg = std::fs::read(dir.join("seg0.m4s")).unwrap();
    assert_ne!(&seg[4..8], b"moof", "encrypted segment is plain fMP4");
    check_decodes(&dir);
}

#[test]
fn mp3_audio_in_ts_and_fmp4() {
    for (name, format) in [
        ("ts-mp3", SegmentFormat::Ts),
        ("fmp4-mp3", SegmentFormat::Fmp4),
    ] {
        let dir = package_from(input_mp3(), name, config(format, 2.0, PlaylistKind::Vod));
        check_segments(&dir);
        check_decodes_as(&dir, input_mp3());
    }
}

#[test]
fn hevc_and_opus_in_fmp4_and_ts() {
    let data = std::fs::read(input_hevc_opus()).unwrap();
    let (tracks, frames) = demux_onair_flv(data);
    assert_eq!(
        tracks.iter().map(|t| t.config.codec()).collect::<Vec<_>>(),
        vec![CodecId::H265, CodecId::Opus]
    );
    let count = |id| frames.iter().filter(|f| f.track == id).count() as u64;
    let (video, audio) = (count(tracks[0].id), count(tracks[1].id));
    for (name, format) in [
        ("fmp4-hevc-opus", SegmentFormat::Fmp4),
        ("ts-hevc-opus", SegmentFormat::Ts),
    ] {
        let dir = package_frames(
            tracks.clone(),
            frames.clone(),
            name,
            config(format, 1.0, PlaylistKind::Vod),
        );
        check_segments(&dir);
        check_with_m3u8_rs(&dir);
        let playlist = dir.join("index.m3u8");
        let Output { stderr: err, .. } = run(Command::new(tool("ffmpeg"))
            .args(["-v", "error", "-i"])
            .arg(&playlist)
            .args(["-f", "null", "-"]));
        assert_eq!(err, "", "ffmpeg complained about {}", playlist.display());
        assert_eq!(frame_count(&playlist, "v"), video, "{name}");
        assert_eq!(frame_count(&playlist, "a"), audio, "{name}");
    }
}

#[test]
fn frames_of_kind_survive_demux() {
    // Guards the test's own demuxer: both tracks and all keyframes are seen.
    let data = std::fs::read(input()).unwrap();
    let (tracks, frames) = demux(&data);
    assert_eq!(
        tracks.iter().map(|t| t.kind()).collect::<Vec<_>>(),
        vec![MediaKind::Video, MediaKind::Audio]
    );
    let keys = frames
        .iter()
        .filter(|f| f.track == TrackId(0) && f.keyframe)
        .count();
    assert_eq!(keys, 6);
}
