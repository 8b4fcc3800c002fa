//! What the transcoder's test binaries share: test media made by ffmpeg (Debian's 5.1, or
//! FFmpeg 9 for HEVC and Opus in FLV), read back with rtmp-proto's FLV demuxer; a run of the
//! ladder that packages every rendition as HLS with onair-hls-packager; and what ffprobe
//! says about the result.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use onair_flv::{FlvReader, FlvTagType, MediaDemuxer, MediaEvent};
use onair_hls_packager::{
    drive, FsStore, Packager, PackagerConfig, PlaylistKind, Retention, SegmentFormat,
};
use onair_media_types::{Frame, TrackInfo};
use onair_testkit::{cache_dir, probe_packets, run, tool, Lavfi, ProbedPacket};
use onair_transcode::{
    Event, Output, Rendition, RenditionId, RenditionStats, Transcoder, TranscoderConfig,
    TranscoderStats,
};

pub(crate) fn media_dir() -> PathBuf {
    cache_dir(env!("CARGO_TARGET_TMPDIR"), "transcode-media")
}

/// `seconds` of `video` (a lavfi source) encoded as H.264 with B-frames and a keyframe
/// every `gop` frames, with a 48 kHz sine in AAC, in FLV (Debian's ffmpeg).
pub(crate) fn h264_flv(name: &str, video: &str, seconds: u32, gop: u32, kbps: u32) -> PathBuf {
    let gop = gop.to_string();
    let rate = format!("{kbps}k");
    Lavfi {
        video,
        audio: "sine=frequency=440:sample_rate=48000",
        seconds,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-bf",
            "2",
            "-b:v",
            &rate,
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "flv",
        ],
    }
    .cached(tool("ffmpeg"), &media_dir(), name)
}

/// Reads an FLV file into tracks and frames, in file order.
pub(crate) enum Item {
    Track(TrackInfo),
    Frame(Frame),
}

pub(crate) fn read_flv(path: &Path) -> Vec<Item> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut reader = FlvReader::from_bytes(Bytes::from(data));
    reader.read_header().expect("flv header");
    let mut demuxer = MediaDemuxer::new();
    let mut items = Vec::new();
    while let Some(tag) = reader.next_tag().expect("flv tag") {
        let ts = u64::from(tag.timestamp);
        let pushed = match tag.tag_type {
            FlvTagType::Video => demuxer.push_video(ts, &tag.data),
            FlvTagType::Audio => demuxer.push_audio(ts, &tag.data),
            _ => Ok(()),
        };
        pushed.expect("demuxer takes every tag of an ffmpeg-made file");
        while let Some(event) = demuxer.poll_event() {
            match event {
                MediaEvent::Track(info) => items.push(Item::Track(info)),
                MediaEvent::Frame(frame) => items.push(Item::Frame(frame)),
                _ => {}
            }
        }
    }
    items
}

/// One rendition's HLS output.
pub(crate) struct Packaged {
    pub(crate) info: Rendition,
    pub(crate) stats: RenditionStats,
    pub(crate) dir: PathBuf,
    pub(crate) packager: Packager,
    store: FsStore,
}

impl Packaged {
    pub(crate) fn playlist(&self) -> PathBuf {
        self.dir.join("index.m3u8")
    }

    /// The EXTINF lines of its media playlist.
    pub(crate) fn extinf(&self) -> Vec<String> {
        std::fs::read_to_string(self.playlist())
            .expect("playlist")
            .lines()
            .filter(|l| l.starts_with("#EXTINF"))
            .map(str::to_owned)
            .collect()
    }

    /// Its segment files, in playlist order.
    pub(crate) fn segments(&self) -> Vec<PathBuf> {
        std::fs::read_to_string(self.playlist())
            .expect("playlist")
            .lines()
            .filter(|l| l.ends_with(".ts"))
            .map(|l| self.dir.join(l))
            .collect()
    }
}

/// What a run of the ladder left.
pub(crate) struct LadderRun {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) events: Vec<Event>,
    pub(crate) stats: TranscoderStats,
    pub(crate) renditions: BTreeMap<RenditionId, Packaged>,
}

impl LadderRun {
    pub(crate) fn by_name(&self, name: &str) -> &Packaged {
        self.renditions
            .values()
            .find(|p| p.info.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no rendition {name}; have {:?}",
                    self.renditions
                        .values()
                        .map(|p| &p.info.name)
                        .collect::<Vec<_>>()
                )
            })
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .renditions
            .values()
            .map(|p| p.info.name.clone())
            .collect();
        names.sort();
        names
    }
}

/// Runs `items` through a ladder with `config`, packaging every rendition it announces as
/// VOD HLS with TS segments of the config's segment target, in a temporary folder.
/// `between` runs after every input item (to shed a rendition mid-stream, say).
pub(crate) fn run_ladder(
    config: TranscoderConfig,
    items: Vec<Item>,
    mut between: impl FnMut(&mut Transcoder, &Frame),
) -> LadderRun {
    let dir = tempfile::Builder::new()
        .prefix("ladder")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let segment = config.segment_target;
    let mut ladder = Transcoder::new(config).expect("transcoder");
    let mut run = LadderRun {
        dir,
        events: Vec::new(),
        stats: TranscoderStats::default(),
        renditions: BTreeMap::new(),
    };
    let mut retention = Retention::new(Duration::from_secs(3600));
    for item in items {
        match item {
            Item::Track(track) => ladder.push_track(track).expect("push_track"),
            Item::Frame(frame) => {
                ladder.push_frame(frame.clone()).expect("push_frame");
                between(&mut ladder, &frame);
            }
        }
        drain(&mut ladder, &mut run, segment, &mut retention);
    }
    ladder.flush().expect("flush");
    drain(&mut ladder, &mut run, segment, &mut retention);
    for (id, p) in &mut run.renditions {
        p.packager.finish().expect("finish");
        drive(
            &mut p.packager,
            &mut p.store,
            &mut retention,
            "index.m3u8",
            Duration::ZERO,
        )
        .expect("store");
        p.stats = ladder.rendition_stats(*id).expect("stats");
    }
    run.stats = ladder.stats().clone();
    run
}

fn drain(
    ladder: &mut Transcoder,
    run: &mut LadderRun,
    segment: Duration,
    retention: &mut Retention,
) {
    while let Some(event) = ladder.poll_event() {
        if let Event::RenditionAdded { id } = &event {
            let info = ladder.rendition(*id).expect("announced rendition").clone();
            let dir = run.dir.path().join(&info.name);
            let packager = Packager::new(PackagerConfig {
                format: SegmentFormat::Ts,
                target_duration: segment,
                kind: PlaylistKind::Vod,
                ..PackagerConfig::default()
            })
            .expect("packager");
            run.renditions.insert(
                *id,
                Packaged {
                    info,
                    stats: RenditionStats::default(),
                    store: FsStore::new(&dir).expect("store"),
                    dir,
                    packager,
                },
            );
        }
        run.events.push(event);
    }
    for (id, p) in &mut run.renditions {
        while let Some(output) = ladder.poll_output(*id) {
            match output {
                Output::Track(track) => p.packager.add_track(track).expect("add_track"),
                Output::Frame(frame) => p.packager.push_frame(frame).expect("push_frame"),
            }
        }
        drive(
            &mut p.packager,
            &mut p.store,
            retention,
            "index.m3u8",
            Duration::ZERO,
        )
        .expect("store");
    }
}

/// Presentation times of the keyframes ffprobe sees in `file`, in milliseconds.
pub(crate) fn keyframe_ms(file: &Path) -> Vec<i64> {
    probe_packets(file)
        .iter()
        .filter(|p| p.kind == "video" && p.keyframe)
        .filter_map(|p| p.pts)
        .map(|t| (t * 1000.0).round() as i64)
        .collect()
}

pub(crate) fn video_packets(file: &Path) -> Vec<ProbedPacket> {
    probe_packets(file)
        .into_iter()
        .filter(|p| p.kind == "video")
        .collect()
}

/// The video bitrate ffprobe measures over `file`: packet bytes over the presentation span
/// (plus one frame).
pub(crate) fn video_kbps(file: &Path) -> f64 {
    let packets = video_packets(file);
    let times: Vec<f64> = packets.iter().filter_map(|p| p.pts).collect();
    let first = times.iter().copied().fold(f64::INFINITY, f64::min);
    let last = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let secs = (last - first) * times.len() as f64 / (times.len() - 1) as f64;
    let bytes: usize = packets.iter().map(|p| p.size).sum();
    bytes as f64 * 8.0 / secs / 1000.0
}

/// ffmpeg decodes `file` to the end without a word on stderr; returns the frames decoded.
pub(crate) fn decodes_clean(file: &Path) -> u64 {
    let out = run(Command::new(tool("ffmpeg"))
        .args(["-v", "error", "-nostats", "-i"])
        .arg(file)
        .args(["-map", "0:v", "-f", "null", "-progress", "pipe:1", "-"]));
    assert!(
        out.success,
        "ffmpeg failed on {}: {}",
        file.display(),
        out.stderr
    );
    assert!(
        out.stderr.trim().is_empty(),
        "ffmpeg complained decoding {}: {}",
        file.display(),
        out.stderr
    );
    out.stdout
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Checks what every ladder must give: the same keyframe presentation times in every
/// rendition (ffprobe), every segment starting with a keyframe, the same EXTINF list in
/// every media playlist, and audio and video starting within one frame of each other in
/// each rendition. Returns the common keyframe times (ms).
pub(crate) fn assert_aligned(run: &LadderRun, frame_secs: f64) -> Vec<i64> {
    let mut reference: Option<(String, Vec<i64>, Vec<String>)> = None;
    for p in run.renditions.values() {
        let keys = keyframe_ms(&p.playlist());
        let extinf = p.extinf();
        assert!(keys.len() >= 2, "{}: keyframes {keys:?}", p.info.name);
        for segment in p.segments() {
            let first = video_packets(&segment)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{} has no video", segment.display()));
            assert!(
                first.keyframe,
                "{} starts without a keyframe",
                segment.display()
            );
        }
        let packets = probe_packets(&p.playlist());
        let start = |kind: &str| {
            packets
                .iter()
                .filter(|q| q.kind == kind)
                .filter_map(|q| q.pts)
                .fold(f64::INFINITY, f64::min)
        };
        let (video, audio) = (start("video"), start("audio"));
        assert!(
            (video - audio).abs() <= frame_secs + 1e-6,
            "{}: video starts at {video}, audio at {audio}",
            p.info.name
        );
        match &reference {
            None => reference = Some((p.info.name.clone(), keys, extinf)),
            Some((name, ref_keys, ref_extinf)) => {
                assert_eq!(&keys, ref_keys, "keyframes of {} vs {name}", p.info.name);
                assert_eq!(&extinf, ref_extinf, "EXTINF of {} vs {name}", p.info.name);
            }
        }
    }
    reference.map(|(_, keys, _)| keys).unwrap_or_default()
}

/// The stream picture size ffprobe reads from the rendition's playlist.
pub(crate) fn video_size(p: &Packaged) -> (u32, u32) {
    onair_testkit::probe_streams(&p.playlist())
        .into_iter()
        .find(|s| s.kind == "video")
        .map(|s| (s.width, s.height))
        .expect("a video stream")
}
