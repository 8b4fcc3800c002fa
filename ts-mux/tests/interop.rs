//! Interop: inputs made by real FFmpeg builds are remuxed with the `remux` example's logic,
//! then the TS is checked by ffprobe/ffmpeg (same packets, same PTS/DTS, clean decode) and
//! by mpeg2ts-reader (no continuity errors, same elementary stream bytes).
//!
//! Needs Debian's `ffmpeg`/`ffprobe` and FFmpeg 9 from `imageio-ffmpeg` (see
//! scripts/setup.sh); a missing tool fails the test with a message saying so.

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use onair_media_types::{CodecConfig, CodecId, Frame, MediaKind, MediaTime, NalUnits, TrackInfo};
use onair_testkit::{cache_dir, ffmpeg9, run_ok, tool, Lavfi};

#[allow(dead_code)]
#[path = "../../examples/remux/remux.rs"]
mod remux;

use remux::Event;

fn tmp_dir() -> PathBuf {
    cache_dir(env!("CARGO_TARGET_TMPDIR"), "ts-mux-interop")
}

/// Makes (once, cached) a 4-second test input with `ffmpeg`.
fn input(name: &str, ffmpeg: &Path, codec_args: &[&str]) -> PathBuf {
    let mut args = vec!["-pix_fmt", "yuv420p"];
    args.extend_from_slice(codec_args);
    Lavfi {
        video: "testsrc2=size=320x240:rate=25",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 4,
        args: &args,
    }
    .cached(ffmpeg, &tmp_dir(), name)
}

/// (pts, dts, size) in 90 kHz ticks per packet of one stream.
type Packets = Vec<(Option<i64>, Option<i64>, u64)>;

fn parse_tb(tb: &str) -> u32 {
    let den = tb.trim().rsplit('/').next().unwrap_or("1");
    den.parse().unwrap_or_else(|_| panic!("time base {tb}"))
}

fn to_90k(ticks: &str, timescale: u32) -> Option<i64> {
    ticks
        .trim()
        .parse::<i64>()
        .ok()
        .map(|t| MediaTime::new(t, timescale).rescale(90_000))
}

/// ffprobe's packets of the first stream of `kind` ("v" or "a").
fn ffprobe_packets(file: &Path, kind: &str) -> Packets {
    let f = file.to_string_lossy();
    let sel = format!("{kind}:0");
    let tb = run_ok(Command::new(tool("ffprobe")).args([
        "-v",
        "error",
        "-select_streams",
        sel.as_str(),
        "-show_entries",
        "stream=time_base",
        "-of",
        "csv=p=0",
        &*f,
    ]))
    .stdout;
    let tb = parse_tb(&tb);
    let out = run_ok(Command::new(tool("ffprobe")).args([
        "-v",
        "error",
        "-select_streams",
        sel.as_str(),
        "-show_entries",
        "packet=pts,dts,size",
        "-of",
        "csv=p=0",
        &*f,
    ]))
    .stdout;
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            let size = v.get(2).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            (to_90k(v[0], tb), to_90k(v[1], tb), size)
        })
        .collect()
}

/// FFmpeg 9's view of an input it alone can read (no ffprobe there): `-f framecrc`.
fn framecrc_packets(ffmpeg: &Path, file: &Path, kind: &str) -> Packets {
    let f = file.to_string_lossy();
    let map = format!("0:{kind}:0");
    let out = run_ok(Command::new(ffmpeg).args([
        "-v",
        "error",
        "-copyts",
        "-i",
        &*f,
        "-map",
        map.as_str(),
        "-c",
        "copy",
        "-f",
        "framecrc",
        "-",
    ]))
    .stdout;
    let tb = out
        .lines()
        .find_map(|l| l.strip_prefix("#tb 0:"))
        .map(parse_tb)
        .unwrap_or_else(|| panic!("no time base in framecrc output"));
    out.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            (
                to_90k(v[2], tb),
                to_90k(v[1], tb),
                v[4].trim().parse().unwrap_or(0),
            )
        })
        .collect()
}

/// The frames of our own demuxing of the input (what went into the muxer), per kind.
fn input_frames(events: &[Event], kind: MediaKind) -> (TrackInfo, Vec<Frame>) {
    let track = events
        .iter()
        .find_map(|e| match e {
            Event::Track(t) if t.kind() == kind => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {kind:?} track in input"));
    let frames = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) if f.track == track.id => Some(f.clone()),
            _ => None,
        })
        .collect();
    (track, frames)
}

/// mpeg2ts-reader as the oracle (its macros generate undocumented public items).
#[allow(missing_docs, unreachable_pub)]
mod oracle {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    use mpeg2ts_reader::{demultiplex, demux_context, packet_filter_switch, pes, psi};

    #[derive(Default)]
    pub(crate) struct Collected {
        /// PES payloads per PID (stream_type, payloads).
        pub(crate) streams: BTreeMap<u16, (u8, Vec<Vec<u8>>)>,
        pub(crate) continuity_errors: usize,
    }

    packet_filter_switch! {
        Filters<Ctx> {
            Pes: pes::PesPacketFilter<Ctx, Collector>,
            Pat: demultiplex::PatPacketFilter<Ctx>,
            Pmt: demultiplex::PmtPacketFilter<Ctx>,
            Null: demultiplex::NullPacketFilter<Ctx>,
        }
    }
    demux_context!(Ctx, Filters);

    thread_local! {
        static COLLECTED: RefCell<Option<Rc<RefCell<Collected>>>> = const { RefCell::new(None) };
    }

    impl Ctx {
        fn do_construct(&mut self, req: demultiplex::FilterRequest<'_, '_>) -> Filters {
            match req {
                demultiplex::FilterRequest::ByPid(psi::pat::PAT_PID) => {
                    Filters::Pat(demultiplex::PatPacketFilter::default())
                }
                demultiplex::FilterRequest::ByPid(_) => {
                    Filters::Null(demultiplex::NullPacketFilter::default())
                }
                demultiplex::FilterRequest::ByStream {
                    stream_type,
                    stream_info,
                    ..
                } => {
                    let state = COLLECTED.with(|c| c.borrow().clone()).unwrap_or_default();
                    let pid = u16::from(stream_info.elementary_pid());
                    state
                        .borrow_mut()
                        .streams
                        .entry(pid)
                        .or_insert_with(|| (u8::from(stream_type), Vec::new()));
                    Filters::Pes(pes::PesPacketFilter::new(Collector { pid, state }))
                }
                demultiplex::FilterRequest::Pmt {
                    pid,
                    program_number,
                } => Filters::Pmt(demultiplex::PmtPacketFilter::new(pid, program_number)),
                demultiplex::FilterRequest::Nit { .. } => {
                    Filters::Null(demultiplex::NullPacketFilter::default())
                }
            }
        }
    }

    struct Collector {
        pid: u16,
        state: Rc<RefCell<Collected>>,
    }

    impl pes::ElementaryStreamConsumer<Ctx> for Collector {
        fn start_stream(&mut self, _ctx: &mut Ctx) {}
        fn begin_packet(&mut self, _ctx: &mut Ctx, header: pes::PesHeader<'_>) {
            let payload = match header.contents() {
                pes::PesContents::Parsed(Some(parsed)) => parsed.payload().to_vec(),
                pes::PesContents::Parsed(None) => Vec::new(),
                pes::PesContents::Payload(p) => p.to_vec(),
            };
            if let Some((_, v)) = self.state.borrow_mut().streams.get_mut(&self.pid) {
                v.push(payload);
            }
        }
        fn continue_packet(&mut self, _ctx: &mut Ctx, data: &[u8]) {
            if let Some((_, v)) = self.state.borrow_mut().streams.get_mut(&self.pid) {
                if let Some(last) = v.last_mut() {
                    last.extend_from_slice(data);
                }
            }
        }
        fn end_packet(&mut self, _ctx: &mut Ctx) {}
        fn continuity_error(&mut self, _ctx: &mut Ctx) {
            self.state.borrow_mut().continuity_errors += 1;
        }
    }

    pub(crate) fn demux_with_mpeg2ts_reader(ts: &[u8]) -> Collected {
        let state = Rc::new(RefCell::new(Collected::default()));
        COLLECTED.with(|c| *c.borrow_mut() = Some(state.clone()));
        let mut ctx = Ctx::new();
        let mut demux = demultiplex::Demultiplex::new(&mut ctx);
        demux.push(&mut ctx, ts);
        COLLECTED.with(|c| *c.borrow_mut() = None);
        drop(demux);
        Rc::try_unwrap(state)
            .map(RefCell::into_inner)
            .unwrap_or_default()
    }
}

use oracle::demux_with_mpeg2ts_reader;

/// Splits Annex B into NAL units (without start codes).
fn annex_b(es: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= es.len() {
        if es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(es.len(), |n| n - 3);
        while end > s && es[end - 1] == 0 && starts.get(k + 1).is_some() {
            end -= 1; // the leading zero of a four-byte start code
        }
        nals.push(&es[s..end]);
    }
    nals
}

fn nal_type(hevc: bool, nal: &[u8]) -> u8 {
    if hevc {
        (nal[0] >> 1) & 0x3f
    } else {
        nal[0] & 0x1f
    }
}

/// Checks the TS elementary stream of one track against the frames that went in.
fn check_elementary_stream(track: &TrackInfo, frames: &[Frame], pes: &[Vec<u8>]) {
    assert_eq!(
        pes.len(),
        frames.len(),
        "{:?}: PES packets vs frames",
        track.config.codec()
    );
    for (i, (frame, pes)) in frames.iter().zip(pes).enumerate() {
        match &track.config {
            CodecConfig::Avc(_) | CodecConfig::Hevc(_) => {
                let (hevc, len_size, params): (bool, u8, Vec<&[u8]>) = match &track.config {
                    CodecConfig::Avc(c) => (
                        false,
                        c.nal_length_size,
                        c.sps.iter().chain(&c.pps).map(|b| &b[..]).collect(),
                    ),
                    CodecConfig::Hevc(c) => (
                        true,
                        c.nal_length_size,
                        c.vps
                            .iter()
                            .chain(&c.sps)
                            .chain(&c.pps)
                            .map(|b| &b[..])
                            .collect(),
                    ),
                    _ => unreachable!(),
                };
                let (aud, ps) = if hevc { (35, 32..=34) } else { (9, 7..=8) };
                let is_ps = |t: u8| ps.contains(&t);
                let out = annex_b(pes);
                assert_eq!(
                    nal_type(hevc, out[0]),
                    aud,
                    "frame {i}: access unit delimiter first"
                );
                let input: Vec<&[u8]> = NalUnits::new(&frame.data, len_size).collect();
                let input_has_ps = input.iter().any(|n| is_ps(nal_type(hevc, n)));
                let rest: Vec<&[u8]> = if frame.keyframe && !input_has_ps {
                    assert_eq!(
                        &out[1..1 + params.len()],
                        &params[..],
                        "frame {i}: parameter sets before the keyframe"
                    );
                    out[1 + params.len()..].to_vec()
                } else {
                    out[1..].to_vec()
                };
                let input: Vec<&[u8]> = input
                    .into_iter()
                    .filter(|n| nal_type(hevc, n) != aud)
                    .collect();
                assert_eq!(rest, input, "frame {i}: NAL units");
            }
            CodecConfig::Aac(_) => {
                assert_eq!(&pes[..2], &[0xff, 0xf1], "frame {i}: ADTS sync");
                let len = (usize::from(pes[3] & 3) << 11)
                    | (usize::from(pes[4]) << 3)
                    | usize::from(pes[5] >> 5);
                assert_eq!(len, pes.len(), "frame {i}: ADTS frame length");
                assert_eq!(&pes[7..], &frame.data[..], "frame {i}: AAC payload");
            }
            CodecConfig::Opus(_) => {
                assert_eq!(&pes[..2], &[0x7f, 0xe0], "frame {i}: opus_control_header");
                let mut at = 2;
                let mut size = 0;
                while pes[at] == 0xff {
                    size += 255;
                    at += 1;
                }
                size += usize::from(pes[at]);
                assert_eq!(size, frame.data.len());
                assert_eq!(&pes[at + 1..], &frame.data[..], "frame {i}: opus payload");
            }
            _ => assert_eq!(&pes[..], &frame.data[..], "frame {i}: payload"),
        }
    }
}

/// Remuxes `input` and runs every check. `reference` lists the input's packets per kind.
fn check(
    name: &str,
    input: &Path,
    reference: impl Fn(&Path, &str) -> Packets,
    codecs: [CodecId; 2],
) {
    let file = Bytes::from(std::fs::read(input).unwrap_or_else(|e| panic!("read {input:?}: {e}")));
    let events = remux::read_events(&file).unwrap_or_else(|e| panic!("{name}: reading input: {e}"));
    let ts_path = tmp_dir().join(format!("{name}.ts"));
    let mut ts = Vec::new();
    let summary =
        remux::mux_events(&events, &mut ts).unwrap_or_else(|e| panic!("{name}: muxing: {e}"));
    std::fs::write(&ts_path, &ts).unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(summary.dropped, 0);
    assert_eq!(ts.len() % 188, 0);

    // FFmpeg decodes it without a word.
    let stderr = run_ok(Command::new(tool("ffmpeg")).args([
        "-v",
        "error",
        "-i",
        &*ts_path.to_string_lossy(),
        "-f",
        "null",
        "-",
    ]))
    .stderr;
    assert_eq!(stderr, "", "{name}: ffmpeg complained about the TS");

    let collected = demux_with_mpeg2ts_reader(&ts);
    assert_eq!(collected.continuity_errors, 0, "{name}: continuity errors");
    assert_eq!(collected.streams.len(), 2, "{name}: streams in the PMT");

    for (kind, ffkind, codec) in [
        (MediaKind::Video, "v", codecs[0]),
        (MediaKind::Audio, "a", codecs[1]),
    ] {
        let (track, frames) = input_frames(&events, kind);
        assert_eq!(track.config.codec(), codec, "{name}: {kind:?} codec");
        if kind == MediaKind::Video {
            assert!(
                frames.iter().any(|f| f.pts != f.dts),
                "{name}: the input should have B-frames"
            );
        }
        let want = reference(input, ffkind);
        // Our reading of the input agrees with FFmpeg's: count, timestamps, sizes.
        let ours: Packets = frames
            .iter()
            .map(|f| {
                (
                    Some(f.pts_time().rescale(90_000)),
                    Some(f.dts_time().rescale(90_000)),
                    f.data.len() as u64,
                )
            })
            .collect();
        assert_eq!(
            ours, want,
            "{name}: {kind:?} frames read from the input vs FFmpeg's packets"
        );
        // ffprobe sees the same packets with the same PTS/DTS in the TS.
        let got: Vec<_> = ffprobe_packets(&ts_path, ffkind)
            .into_iter()
            .map(|(p, d, _)| (p, d))
            .collect();
        let want: Vec<_> = want.into_iter().map(|(p, d, _)| (p, d)).collect();
        assert_eq!(got.len(), want.len(), "{name}: {kind:?} packet count");
        assert_eq!(got, want, "{name}: {kind:?} PTS/DTS");
        // mpeg2ts-reader returns the same elementary stream.
        let (_, pes) = collected
            .streams
            .values()
            .find(|(st, _)| match kind {
                MediaKind::Video => matches!(st, 0x1b | 0x24),
                MediaKind::Audio => matches!(st, 0x0f | 0x03 | 0x06),
            })
            .unwrap_or_else(|| panic!("{name}: no {kind:?} stream in the TS"));
        check_elementary_stream(&track, &frames, pes);
    }
    eprintln!("{name}: {summary:?}");
}

#[test]
fn flv_h264_aac() {
    let input = input(
        "h264_aac.flv",
        &tool("ffmpeg"),
        &[
            "-c:v", "libx264", "-bf", "2", "-g", "50", "-c:a", "aac", "-b:a", "64k", "-ar", "44100",
        ],
    );
    check(
        "flv_h264_aac",
        &input,
        ffprobe_packets,
        [CodecId::H264, CodecId::Aac],
    );
}

#[test]
fn flv_h264_mp3() {
    let input = input(
        "h264_mp3.flv",
        &tool("ffmpeg"),
        &[
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "50",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-ar",
            "44100",
        ],
    );
    check(
        "flv_h264_mp3",
        &input,
        ffprobe_packets,
        [CodecId::H264, CodecId::Mp3],
    );
}

#[test]
fn mp4_hevc_aac() {
    let input = input(
        "hevc_aac.mp4",
        &tool("ffmpeg"),
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=3:keyint=50",
            "-tag:v",
            "hvc1",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
    );
    check(
        "mp4_hevc_aac",
        &input,
        ffprobe_packets,
        [CodecId::H265, CodecId::Aac],
    );
}

#[test]
fn mp4_h264_mp3() {
    // MP3 in `mp4a` (object type 0x6b) with one sample size for all (`stsz` without a table).
    let input = input(
        "h264_mp3.mp4",
        &tool("ffmpeg"),
        &[
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "50",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-ar",
            "44100",
        ],
    );
    check(
        "mp4_h264_mp3",
        &input,
        ffprobe_packets,
        [CodecId::H264, CodecId::Mp3],
    );
}

#[test]
fn enhanced_flv_hevc_opus() {
    let ffmpeg = ffmpeg9();
    let input = input(
        "hevc_opus.flv",
        &ffmpeg,
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=3:keyint=50",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
        ],
    );
    check(
        "enhanced_flv_hevc_opus",
        &input,
        |f, k| framecrc_packets(&ffmpeg, f, k),
        [CodecId::H265, CodecId::Opus],
    );
}
