//! Arbitrary frame sequences (timestamps jumping, going backwards, missing keyframes,
//! republishing) through the HLS packager: it must not panic, and after every step the media
//! playlist must keep the RFC 8216 / 8216bis invariants (`check_media_playlist`), media and
//! discontinuity sequence numbers must never go back, the target duration never shrinks,
//! every listed file must be stored, and no file that is still listed is ever expired.
#![no_main]

use std::collections::HashSet;
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_hls_packager::{
    check_media_playlist, Event, Packager, PackagerConfig, PlaylistKind, PlaylistRequest,
    SegmentFormat,
};
use onair_media_types::{AacConfig, AvcConfig, CodecConfig, CodecId, Frame, TrackId, TrackInfo};

#[derive(Arbitrary, Debug)]
enum Op {
    Video { step_ms: i16, cts_ms: u8, key: bool },
    Audio { step_ms: i16 },
    Jump { ms: i32 },
    Republish,
    AudioOnlyRepublish,
}

#[derive(Arbitrary, Debug)]
struct Input {
    ts: bool,
    low_latency: bool,
    target_ms: u16,
    part_ms: u16,
    window: u8,
    kind: u8,
    ops: Vec<Op>,
}

fn video_track() -> TrackInfo {
    let rec = Bytes::from_static(&[
        1, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0, 25, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41,
        0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42,
        0x99, 0x60, 1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb,
    ]);
    TrackInfo {
        id: TrackId(0),
        timescale: 1000,
        config: CodecConfig::Avc(AvcConfig::parse(rec).expect("valid record")),
    }
}

fn audio_track() -> TrackInfo {
    TrackInfo {
        id: TrackId(1),
        timescale: 1000,
        config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
    }
}

struct Checker {
    stored: HashSet<String>,
    /// Every file ever stored, expired or not.
    ever: HashSet<String>,
    media_sequence: u64,
    discontinuity_sequence: u64,
    target: u64,
}

impl Checker {
    fn drain(&mut self, p: &mut Packager) {
        while let Some(e) = p.poll_event() {
            match e {
                Event::File { name, .. } => {
                    self.ever.insert(name.clone());
                    self.stored.insert(name);
                }
                Event::Expired { name } => {
                    let text = p.media_playlist(&PlaylistRequest::default());
                    assert!(
                        !text
                            .lines()
                            .any(|l| l == name || l.contains(&format!("\"{name}\""))),
                        "{name} expired while listed:\n{text}"
                    );
                    assert!(
                        self.stored.remove(&name),
                        "{name} expired twice or never stored"
                    );
                }
                Event::PlaylistChanged => self.check(p),
            }
        }
    }

    fn check(&mut self, p: &Packager) {
        let text = p.media_playlist(&PlaylistRequest::default());
        let s = check_media_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert!(s.media_sequence >= self.media_sequence, "{text}");
        assert!(
            s.discontinuity_sequence >= self.discontinuity_sequence,
            "{text}"
        );
        assert!(s.target_duration >= self.target, "{text}");
        self.media_sequence = s.media_sequence;
        self.discontinuity_sequence = s.discontinuity_sequence;
        self.target = s.target_duration;
        for (i, (uri, duration, _)) in s.segments.iter().enumerate() {
            assert!(*duration >= 0.0);
            assert!(
                self.stored.contains(uri),
                "{uri} listed but not stored:\n{text}"
            );
            let msn = s.media_sequence + i as u64;
            assert!(
                uri.starts_with(&format!("seg{msn}.")),
                "{uri} is not msn {msn}"
            );
            assert!(p.is_published(msn, None));
        }
        if let Some(hint) = &s.preload_hint {
            assert!(
                !self.stored.contains(hint),
                "preload hint {hint} already exists"
            );
        }
        let delta = p.media_playlist(&PlaylistRequest {
            skip: true,
            rendition_reports: Vec::new(),
        });
        let d = check_media_playlist(&delta).unwrap_or_else(|e| panic!("{e}:\n{delta}"));
        assert_eq!(d.skipped as usize + d.segments.len(), s.segments.len());
        assert_eq!(d.segments[..], s.segments[d.skipped as usize..]);
    }
}

fuzz_target!(|input: Input| {
    let target = Duration::from_millis(u64::from(input.target_ms % 6000).max(100));
    let part = Duration::from_millis(u64::from(input.part_ms).max(50)).min(target);
    let config = PackagerConfig {
        format: if input.ts && !input.low_latency {
            SegmentFormat::Ts
        } else {
            SegmentFormat::Fmp4
        },
        target_duration: target,
        part_duration: input.low_latency.then_some(part),
        kind: match input.kind % 4 {
            0 => PlaylistKind::Live {
                window: usize::from(input.window % 8).max(1),
            },
            1 => PlaylistKind::Event,
            2 => PlaylistKind::Dvr {
                duration: target * u32::from(input.window % 8).max(1),
            },
            _ => PlaylistKind::Vod,
        },
        // a small limit, so that some runs outgrow it
        archive_limit: 64,
        ..PackagerConfig::default()
    };
    let mut p = Packager::new(config).expect("valid config");
    let mut c = Checker {
        stored: HashSet::new(),
        ever: HashSet::new(),
        media_sequence: 0,
        discontinuity_sequence: 0,
        target: 0,
    };
    p.set_wallclock(1_795_687_200_000);
    p.add_track(video_track()).expect("video track");
    p.add_track(audio_track()).expect("audio track");
    let (mut vdts, mut adts) = (0i64, 0i64);
    let mut video = true;
    for op in input.ops.iter().take(3000) {
        match *op {
            Op::Video {
                step_ms,
                cts_ms,
                key,
            } if video => {
                vdts += i64::from(step_ms);
                let _ = p.push_frame(Frame {
                    track: TrackId(0),
                    codec: CodecId::H264,
                    timescale: 1000,
                    dts: vdts,
                    pts: vdts + i64::from(cts_ms),
                    keyframe: key,
                    data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
                });
            }
            Op::Video { .. } => {}
            Op::Audio { step_ms } => {
                adts += i64::from(step_ms);
                let _ = p.push_frame(Frame {
                    track: TrackId(1),
                    codec: CodecId::Aac,
                    timescale: 1000,
                    dts: adts,
                    pts: adts,
                    keyframe: true,
                    data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]),
                });
            }
            Op::Jump { ms } => {
                vdts += i64::from(ms);
                adts += i64::from(ms);
            }
            Op::Republish => {
                p.republish().expect("not finished");
                p.add_track(video_track()).expect("video track");
                p.add_track(audio_track()).expect("audio track");
                video = true;
            }
            Op::AudioOnlyRepublish => {
                p.republish().expect("not finished");
                p.add_track(audio_track()).expect("audio track");
                video = false;
            }
        }
        c.drain(&mut p);
    }
    p.finish().expect("finish");
    c.drain(&mut p);
    let s = check_media_playlist(&p.media_playlist(&PlaylistRequest::default()))
        .expect("final playlist");
    assert!(s.ended);
    // the archive of the stream, when it fit, is a valid VOD playlist of what was stored
    if let Ok(Some(vod)) = p.archive_playlist() {
        let v = check_media_playlist(&vod).expect("archive playlist");
        assert!(v.ended);
        for (uri, _, _) in &v.segments {
            assert!(c.ever.contains(uri), "{uri} archived, never stored");
        }
    }
});
