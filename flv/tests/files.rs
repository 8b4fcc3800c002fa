//! FLV tag bodies and their headers, files, script data and the media bridge against files
//! made by FFmpeg at test time (Debian's 5.1: H.264 with B-frames + AAC, H.264 + MP3; FFmpeg
//! 9: Enhanced FLV with HEVC + Opus).
//!
//! The generated files are cached under the cargo target dir. FFmpeg missing is a failure with
//! a message saying what to install, never a skip.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use onair_amf::amf0::{self, Amf0Value};
use onair_flv::{
    AudioTag, AudioTagHeader, FlvReader, FlvTag, FlvTagType, FlvWriter, MediaDemuxer, MediaEvent,
    MediaMuxer, StreamMetadata, VideoTag, VideoTagHeader,
};
use onair_media_types::{CodecConfig, CodecId, TrackInfo};
use onair_testkit::{cache_dir, ffmpeg9, run_ok, tool, Lavfi};

/// Makes (once) a 2-second FLV file with `ffmpeg` from lavfi test sources.
fn make_flv(name: &str, ffmpeg: &Path, codec_args: &[&str]) -> PathBuf {
    let mut args = codec_args.to_vec();
    args.extend_from_slice(&["-f", "flv"]);
    Lavfi {
        video: "testsrc2=size=320x240:rate=25",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 2,
        args: &args,
    }
    .cached(
        ffmpeg,
        &cache_dir(env!("CARGO_TARGET_TMPDIR"), "flv-interop"),
        &format!("{name}.flv"),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packet {
    /// 0 video, 1 audio
    stream: u32,
    dts: i64,
    pts: i64,
    size: usize,
}

fn ffprobe_packets(path: &Path) -> Vec<Packet> {
    let out = run_ok(
        Command::new(tool("ffprobe"))
            .args([
                "-v",
                "error",
                "-show_entries",
                "packet=stream_index,pts,dts,size",
            ])
            .args(["-of", "compact=p=0"])
            .arg(path),
    );
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let field = |key: &str| -> i64 {
                line.split('|')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {key} in ffprobe line {line:?}"))
            };
            Packet {
                stream: field("stream_index") as u32,
                dts: field("dts"),
                pts: field("pts"),
                size: field("size") as usize,
            }
        })
        .collect()
}

/// Packets as `ffmpeg -copyts -c copy -f framecrc` lists them (for FFmpeg 9, which has no
/// ffprobe): `stream, dts, pts, duration, size, crc`.
fn framecrc_packets(ffmpeg: &Path, path: &Path) -> Vec<Packet> {
    let out = run_ok(
        Command::new(ffmpeg)
            .args(["-v", "error", "-copyts", "-i"])
            .arg(path)
            .args(["-map", "0", "-c", "copy", "-f", "framecrc", "-"]),
    );
    out.stdout
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let num = |i: usize| -> i64 {
                f.get(i)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("bad framecrc line {line:?}"))
            };
            Packet {
                stream: num(0) as u32,
                dts: num(1),
                pts: num(2),
                size: num(4) as usize,
            }
        })
        .collect()
}

fn ffprobe_count(path: &Path, select: &str) -> usize {
    let out = run_ok(
        Command::new(tool("ffprobe"))
            .args(["-v", "error", "-select_streams", select, "-count_packets"])
            .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
            .arg(path),
    );
    out.stdout.trim().parse().expect("ffprobe packet count")
}

fn assert_decodes_cleanly(ffmpeg: &Path, path: &Path) {
    let out = run_ok(
        Command::new(ffmpeg)
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"]),
    );
    assert!(
        out.stderr.is_empty(),
        "{} does not decode cleanly: {}",
        path.display(),
        out.stderr
    );
}

/// What reading a file gave.
struct Demuxed {
    tags: Vec<FlvTag>,
    tracks: Vec<TrackInfo>,
    packets: Vec<Packet>,
    metadata: Vec<(String, Amf0Value)>,
}

/// Reads every tag (from bytes and through `Read`, which must agree), parses and re-writes
/// every body (byte-identical), reads every header in place (which must agree with the parse
/// and with the frames), and runs the bodies through the media demuxer.
fn demux(path: &Path) -> Demuxed {
    let data = std::fs::read(path).expect("read the flv file");
    let mut reader = FlvReader::from_bytes(data.clone());
    let header = reader.read_header().expect("flv header");
    assert!(header.has_audio && header.has_video);
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().expect("flv tag") {
        tags.push(tag);
    }
    let mut via_read = FlvReader::new(std::fs::File::open(path).expect("open"));
    for tag in &tags {
        assert_eq!(via_read.next_tag().unwrap().as_ref(), Some(tag));
    }
    assert_eq!(via_read.next_tag().unwrap(), None);

    let mut demuxer = MediaDemuxer::new();
    let mut out = Demuxed {
        tags: Vec::new(),
        tracks: Vec::new(),
        packets: Vec::new(),
        metadata: Vec::new(),
    };
    for tag in &tags {
        let ts = u64::from(tag.timestamp);
        let mut rewritten = bytes::BytesMut::new();
        // what the header view says the frame of this tag is: (PTS - DTS, payload)
        let mut expected_frame: Option<(i64, &[u8])> = None;
        match tag.tag_type {
            FlvTagType::Video => {
                let parsed =
                    VideoTag::parse(&tag.data).unwrap_or_else(|e| panic!("video tag at {ts}: {e}"));
                parsed.write(&mut rewritten);
                assert_eq!(&rewritten[..], &tag.data[..], "video tag at {ts}");
                let header = VideoTagHeader::parse(&tag.data).expect("video tag header");
                assert_eq!(
                    (header.is_keyframe(), header.is_sequence_header()),
                    (parsed.is_keyframe(), parsed.is_sequence_header()),
                    "video tag at {ts}"
                );
                if !header.is_sequence_header() {
                    expected_frame = Some((header.composition_time().into(), header.payload()));
                }
                demuxer.push_video(ts, &tag.data).expect("demux video");
            }
            FlvTagType::Audio => {
                let parsed =
                    AudioTag::parse(&tag.data).unwrap_or_else(|e| panic!("audio tag at {ts}: {e}"));
                parsed.write(&mut rewritten);
                assert_eq!(&rewritten[..], &tag.data[..], "audio tag at {ts}");
                let header = AudioTagHeader::parse(&tag.data).expect("audio tag header");
                assert_eq!(
                    header.is_sequence_header(),
                    parsed.is_sequence_header(),
                    "audio tag at {ts}"
                );
                if !header.is_sequence_header() {
                    expected_frame = Some((0, header.payload()));
                }
                demuxer.push_audio(ts, &tag.data).expect("demux audio");
            }
            FlvTagType::Script => match StreamMetadata::parse_script(&tag.data) {
                Ok(Some(metadata)) => {
                    assert_eq!(metadata.width, Some(320.0));
                    assert_eq!(metadata.height, Some(240.0));
                    out.metadata = metadata.properties;
                }
                other => panic!("unexpected script tag {other:?}"),
            },
            FlvTagType::Other(t) => panic!("unexpected tag type {t}"),
        }
        while let Some(event) = demuxer.poll_event() {
            match event {
                MediaEvent::Track(info) => out.tracks.push(info),
                MediaEvent::Frame(f) => {
                    assert_eq!(f.timescale, 1000);
                    assert_eq!(
                        Some((f.pts - f.dts, &f.data[..])),
                        expected_frame.take(),
                        "frame at {ts}"
                    );
                    out.packets.push(Packet {
                        stream: f.track.0 % 2,
                        dts: f.dts,
                        pts: f.pts,
                        size: f.data.len(),
                    });
                }
                _ => panic!("unknown event"),
            }
        }
    }
    out.tags = tags;
    out
}

/// Writes the file again through `MediaMuxer` and `FlvWriter` (with patched metadata).
fn remux(original: &Demuxed, path: &Path) -> PathBuf {
    let mut writer = FlvWriter::new(Cursor::new(Vec::new()), true, true).unwrap();
    writer.write_metadata(&original.metadata).unwrap();
    let mut demuxer = MediaDemuxer::new();
    let mut muxer = MediaMuxer::new();
    let mut last_ts = 0;
    for tag in &original.tags {
        let ts = u64::from(tag.timestamp);
        match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ts, &tag.data).unwrap(),
            FlvTagType::Audio => demuxer.push_audio(ts, &tag.data).unwrap(),
            _ => continue,
        }
        while let Some(event) = demuxer.poll_event() {
            let muxed = match event {
                MediaEvent::Track(info) => match muxer.track(&info).unwrap() {
                    Some(m) => m,
                    None => continue,
                },
                MediaEvent::Frame(f) => muxer.frame(&f).unwrap(),
                _ => continue,
            };
            let ts = u32::try_from(muxed.timestamp_ms.max(0)).unwrap();
            last_ts = last_ts.max(ts);
            writer.write_tag(muxed.tag_type, ts, &muxed.data).unwrap();
        }
    }
    let file = writer.finish(u64::from(last_ts)).unwrap().into_inner();
    let copy = path.with_extension("copy.flv");
    std::fs::write(&copy, &file).unwrap();

    // the patched onMetaData
    let meta = FlvReader::from_bytes(file.clone())
        .next_tag()
        .unwrap()
        .unwrap();
    let values = amf0::decode_all(&meta.data).unwrap();
    assert_eq!(
        values[1].get("filesize").and_then(Amf0Value::as_number),
        Some(file.len() as f64)
    );
    assert_eq!(
        values[1].get("duration").and_then(Amf0Value::as_number),
        Some(f64::from(last_ts) / 1000.0)
    );
    copy
}

fn split(packets: &[Packet]) -> (Vec<Packet>, Vec<Packet>) {
    packets.iter().partition(|p| p.stream == 0)
}

#[test]
fn h264_with_b_frames_and_aac() {
    let ffmpeg = tool("ffmpeg");
    let path = make_flv(
        "h264_bf2_aac",
        &ffmpeg,
        &["-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac"],
    );
    let d = demux(&path);
    assert_eq!(d.tracks.len(), 2);
    let CodecConfig::Avc(avc) = &d.tracks[0].config else {
        panic!("{:?}", d.tracks[0])
    };
    assert_eq!(
        (avc.sps.len(), avc.pps.len(), avc.nal_length_size),
        (1, 1, 4)
    );
    let CodecConfig::Aac(aac) = &d.tracks[1].config else {
        panic!("{:?}", d.tracks[1])
    };
    assert_eq!((aac.sample_rate, aac.channel_config), (48_000, 1));

    let (video, audio) = split(&d.packets);
    assert_eq!(video.len(), ffprobe_count(&path, "v"));
    assert_eq!(audio.len(), ffprobe_count(&path, "a"));
    assert_eq!(video.len(), 50);
    // B-frames: some frames are presented later than decoded
    assert!(video.iter().any(|p| p.pts > p.dts));
    assert_eq!(d.packets, ffprobe_packets(&path));

    let copy = remux(&d, &path);
    assert_eq!(ffprobe_packets(&copy), d.packets);
    assert_decodes_cleanly(&ffmpeg, &copy);
}

#[test]
fn h264_and_mp3() {
    let ffmpeg = tool("ffmpeg");
    let path = make_flv(
        "h264_mp3",
        &ffmpeg,
        &["-c:v", "libx264", "-c:a", "libmp3lame", "-ar", "44100"],
    );
    let d = demux(&path);
    let audio_track = d
        .tracks
        .iter()
        .find(|t| t.config.codec() == CodecId::Mp3)
        .expect("mp3 track");
    let CodecConfig::Mp3(mp3) = &audio_track.config else {
        unreachable!()
    };
    assert_eq!((mp3.sample_rate, mp3.channels), (44_100, 1));
    let (video, audio) = split(&d.packets);
    assert_eq!(video.len(), ffprobe_count(&path, "v"));
    assert_eq!(audio.len(), ffprobe_count(&path, "a"));
    assert_eq!(d.packets, ffprobe_packets(&path));

    let copy = remux(&d, &path);
    assert_eq!(ffprobe_packets(&copy), d.packets);
    assert_decodes_cleanly(&ffmpeg, &copy);
}

#[test]
fn enhanced_flv_hevc_and_opus_from_ffmpeg9() {
    let ffmpeg = ffmpeg9();
    let path = make_flv(
        "hevc_opus",
        &ffmpeg,
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "libopus",
        ],
    );
    let d = demux(&path);
    assert_eq!(d.tracks.len(), 2);
    let CodecConfig::Hevc(hevc) = &d.tracks[0].config else {
        panic!("{:?}", d.tracks[0])
    };
    assert_eq!((hevc.vps.len(), hevc.sps.len(), hevc.pps.len()), (1, 1, 1));
    assert!(d.tracks[0].config.rfc6381().starts_with("hvc1.1.6.L"));
    // FFmpeg 9 puts the OpusHead identification header in the SequenceStart
    let CodecConfig::Opus(opus) = &d.tracks[1].config else {
        panic!("{:?}", d.tracks[1])
    };
    assert_eq!(&opus.record[..8], b"OpusHead");
    assert_eq!((opus.channels, opus.pre_skip), (1, 312));

    let expected = framecrc_packets(&ffmpeg, &path);
    let (video, _) = split(&d.packets);
    assert_eq!(video.len(), 50);
    assert!(video.iter().any(|p| p.pts != p.dts));
    assert_eq!(d.packets, expected);

    let copy = remux(&d, &path);
    assert_eq!(framecrc_packets(&ffmpeg, &copy), expected);
    assert_decodes_cleanly(&ffmpeg, &copy);
}
