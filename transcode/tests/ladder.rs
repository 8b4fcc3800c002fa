//! Ladders checked by the real programs: ffprobe lists the same keyframe times in every
//! rendition (the passed-through source included), every segment of every rendition starts
//! with a keyframe, the media playlists list the same EXTINF durations, sizes are as asked
//! and never above the source, audio and video start together, and bitrates meet their
//! targets over 30 s on easy and hard content.

use std::time::Duration;

use onair_testkit::{ffmpeg9, Lavfi};
use onair_transcode::{
    Event, Ladder, PassthroughRefusal, RemovalReason, RenditionKind, TranscoderConfig,
};

mod common;
use common::*;

fn config(ladder: &str) -> TranscoderConfig {
    let ladder: Ladder = ladder.parse().expect("ladder");
    TranscoderConfig::new(ladder)
}

#[test]
fn h264_1080p_source_passes_through_and_every_rung_has_its_keyframes() {
    // 1080p with B-frames and 2 s GOPs: regular, so `source` is passed through.
    let input = h264_flv(
        "h264_1080p_4s.flv",
        "testsrc2=size=1920x1080:rate=30",
        4,
        60,
        4000,
    );
    let run = run_ladder(
        config("source,1080p,720p,480p,360p"),
        read_flv(&input),
        |_, _| {},
    );
    assert!(
        run.events.iter().any(
            |e| matches!(e, Event::PassthroughAccepted { gop } if *gop == Duration::from_secs(2))
        ),
        "{:?}",
        run.events
    );
    // The 1080p rung at the source's size stays next to the passthrough; nothing is above it.
    assert_eq!(run.names(), ["1080p", "360p", "480p", "720p", "source"]);
    let sizes: Vec<(String, (u32, u32))> = ["source", "1080p", "720p", "480p", "360p"]
        .iter()
        .map(|n| (n.to_string(), video_size(run.by_name(n))))
        .collect();
    assert_eq!(
        sizes.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [
            (1920, 1080),
            (1920, 1080),
            (1280, 720),
            (854, 480),
            (640, 360)
        ]
    );
    assert_eq!(run.by_name("source").info.kind, RenditionKind::Passthrough);
    let keys = assert_aligned(&run, 1.0 / 30.0);
    // The source's keyframes, every 2 s from its first frame.
    let source_keys = keyframe_ms(&input);
    assert_eq!(keys, source_keys);
    assert_eq!(keys.len(), 2);
    for p in run.renditions.values() {
        assert_eq!(p.stats.frames, 120, "{}", p.info.name);
        assert_eq!(p.stats.keyframes, 2, "{}", p.info.name);
        assert_eq!(decodes_clean(&p.playlist()), 120, "{}", p.info.name);
    }
}

#[test]
fn h265_720p_source_passes_through_next_to_h264_rungs() {
    // HEVC with B-frames and 2 s GOPs at 25 fps, AAC, in Enhanced RTMP FLV (FFmpeg 9).
    let input = Lavfi {
        video: "testsrc2=size=1280x720:rate=25",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 4,
        args: &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=50:min-keyint=50:scenecut=0:open-gop=0",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "2M",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "flv",
        ],
    }
    .cached(ffmpeg9(), &media_dir(), "hevc_720p_4s.flv");
    let run = run_ladder(config("source,480p,360p"), read_flv(&input), |_, _| {});
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, Event::PassthroughAccepted { .. })));
    assert_eq!(run.names(), ["360p", "480p", "source"]);
    let source = onair_testkit::probe_streams(&run.by_name("source").playlist());
    assert!(source
        .iter()
        .any(|s| s.codec == "hevc" && s.width == 1280 && s.height == 720));
    assert_eq!(video_size(run.by_name("480p")), (854, 480));
    assert_eq!(video_size(run.by_name("360p")), (640, 360));
    let keys = assert_aligned(&run, 1.0 / 25.0);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[1] - keys[0], 2000);
    for name in ["480p", "360p"] {
        assert_eq!(decodes_clean(&run.by_name(name).playlist()), 100, "{name}");
    }
}

#[test]
fn irregular_source_keyframes_refuse_passthrough_and_the_ladder_keeps_its_own_clock() {
    // 720p whose keyframes come at 0, 1.5, 3.1 and 4.2 s: the first GOP does not fit 2 s
    // segments, so a transcoded 720p rung stands in for `source`.
    let input = Lavfi {
        video: "testsrc2=size=1280x720:rate=30",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 6,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "1000",
            "-sc_threshold",
            "0",
            "-force_key_frames",
            "0,1.5,3.1,4.2",
            "-b:v",
            "2M",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ],
    }
    .cached(
        onair_testkit::tool("ffmpeg"),
        &media_dir(),
        "h264_720p_irregular_6s.flv",
    );
    let run = run_ladder(config("source,480p,240p"), read_flv(&input), |_, _| {});
    assert!(
        run.events.iter().any(|e| matches!(
            e,
            Event::PassthroughRefused {
                reason: PassthroughRefusal::GopDoesNotFitTarget { gop, .. }
            } if *gop == Duration::from_millis(1500)
        )),
        "{:?}",
        run.events
    );
    assert_eq!(run.names(), ["240p", "480p", "720p"]);
    assert_eq!(video_size(run.by_name("720p")), (1280, 720));
    assert_eq!(run.by_name("720p").info.kind, RenditionKind::Transcoded);
    assert_eq!(video_size(run.by_name("240p")), (426, 240));
    let keys = assert_aligned(&run, 1.0 / 30.0);
    // Own clock: the first picture, then the first at or after each multiple of 2 s.
    assert_eq!(keys.len(), 3, "{keys:?}");
    for (k, key) in keys.iter().enumerate().skip(1) {
        let boundary = 2000 * k as i64;
        assert!((boundary..boundary + 34).contains(key), "{keys:?}");
    }
    let extinf = run.by_name("480p").extinf();
    assert_eq!(extinf.len(), 3, "{extinf:?}");
}

#[test]
fn bitrates_meet_their_targets_over_30_s_on_easy_and_hard_content() {
    for (name, video) in [
        ("testsrc2_480p_30s.flv", "testsrc2=size=854x480:rate=30"),
        (
            "noise_480p_30s.flv",
            "testsrc2=size=854x480:rate=30,noise=alls=20:allf=t",
        ),
    ] {
        let input = h264_flv(name, video, 30, 60, 3000);
        let run = run_ladder(config("360p@800k,240p@400k"), read_flv(&input), |_, _| {});
        assert_eq!(run.names(), ["240p", "360p"]);
        for p in run.renditions.values() {
            let target = p.info.bitrate_bps as f64 / 1000.0;
            let measured = video_kbps(&p.playlist());
            let ratio = measured / target;
            assert!(
                (0.85..=1.15).contains(&ratio),
                "{name} {}: {measured:.0} kbit/s for a {target:.0} kbit/s target",
                p.info.name
            );
        }
    }
}

#[test]
fn shedding_a_rung_keeps_the_others_going_aligned() {
    let input = h264_flv(
        "h264_720p_6s.flv",
        "testsrc2=size=1280x720:rate=30",
        6,
        60,
        2000,
    );
    let mut shed_done = false;
    let mut lags = Vec::new();
    let run = run_ladder(
        config("480p,360p,240p"),
        read_flv(&input),
        |ladder, frame| {
            let renditions: Vec<_> = ladder
                .renditions()
                .map(|r| (r.id, r.name.clone()))
                .collect();
            if let Some((id, _)) = renditions.iter().find(|(_, n)| n == "480p") {
                lags.extend(ladder.lag(*id));
            }
            // Shed 360p (which 240p is scaled from) after 2.5 s of input.
            if !shed_done && frame.pts_time().as_secs_f64() >= 2.5 {
                let (id, _) = renditions.iter().find(|(_, n)| n == "360p").expect("360p");
                ladder.shed(*id).expect("shed");
                shed_done = true;
            }
        },
    );
    let removed: Vec<_> = run
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::RenditionRemoved {
                    reason: RemovalReason::Shed,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(removed.len(), 1, "{:?}", run.events);
    let (hi, mid, lo) = (
        run.by_name("480p"),
        run.by_name("360p"),
        run.by_name("240p"),
    );
    assert_eq!(hi.stats.frames, 180);
    assert_eq!(lo.stats.frames, 180);
    assert!(mid.stats.frames < 120, "360p went on: {}", mid.stats.frames);
    let keys = keyframe_ms(&hi.playlist());
    assert_eq!(keyframe_ms(&lo.playlist()), keys);
    // Frames run from 0.067 s to 6.033 s: IDRs at the first, then at 2, 4 and 6 s.
    assert_eq!(keys.len(), 4, "{keys:?}");
    let mid_keys = keyframe_ms(&mid.playlist());
    assert!(
        !mid_keys.is_empty() && keys.starts_with(&mid_keys),
        "{mid_keys:?} {keys:?}"
    );
    assert_eq!(hi.extinf(), lo.extinf());
    assert_eq!(decodes_clean(&lo.playlist()), 180);
    // Cost accounting: the largest rung costs the most per frame, and the lag behind the
    // input was measured.
    let cost = |p: &Packaged| p.stats.cpu_per_frame().expect("frames");
    assert!(cost(hi) > cost(lo), "{:?} vs {:?}", cost(hi), cost(lo));
    assert!(
        !lags.is_empty() && lags.iter().all(|l| *l < Duration::from_secs(3)),
        "{lags:?}"
    );
}

#[test]
fn h265_rungs_are_aligned_too() {
    let input = h264_flv(
        "h264_360p_4s.flv",
        "testsrc2=size=640x360:rate=30",
        4,
        60,
        1000,
    );
    let mut config = config("360p@500k,240p@250k");
    config.encoder.codec = onair_transcode::VideoCodec::H265;
    config.encoder.preset = "ultrafast".to_owned();
    let run = run_ladder(config, read_flv(&input), |_, _| {});
    for p in run.renditions.values() {
        assert_eq!(p.info.encoder, "libx265");
        let streams = onair_testkit::probe_streams(&p.playlist());
        assert!(streams.iter().any(|s| s.codec == "hevc"), "{streams:?}");
        assert_eq!(decodes_clean(&p.playlist()), 120, "{}", p.info.name);
    }
    // No source rung: the ladder's own clock, from the first picture (0.067 s).
    assert_eq!(assert_aligned(&run, 1.0 / 30.0), [67, 2000, 4000]);
}

#[test]
fn a_passed_through_source_that_stops_sending_keyframes_hands_over_to_a_stand_in() {
    // Keyframes at 0, 2, 4 s (regular: passed through), 5 s (irregular: followed), then
    // none: after twice the segment target without one, the passthrough ends and a
    // transcoded rung at the source's size takes over with an IDR in every rendition.
    let input = Lavfi {
        video: "testsrc2=size=640x360:rate=30",
        audio: "sine=frequency=440:sample_rate=48000",
        seconds: 12,
        args: &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "1000",
            "-sc_threshold",
            "0",
            "-force_key_frames",
            "0,2,4,5",
            "-bf",
            "0",
            "-b:v",
            "800k",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ],
    }
    .cached(
        onair_testkit::tool("ffmpeg"),
        &media_dir(),
        "h264_360p_keys_stop_12s.flv",
    );
    let run = run_ladder(config("source,240p"), read_flv(&input), |_, _| {});
    let position = |pred: &dyn Fn(&Event) -> bool| run.events.iter().position(pred);
    let accepted = position(&|e| matches!(e, Event::PassthroughAccepted { .. })).expect("accepted");
    let irregular = position(
        &|e| matches!(e, Event::IrregularSourceGop { gop } if *gop == Duration::from_secs(1)),
    )
    .expect("irregular gop reported");
    let ended = position(&|e| matches!(e, Event::PassthroughEnded { .. })).expect("ended");
    assert!(
        accepted < irregular && irregular < ended,
        "{:?}",
        run.events
    );
    assert!(run.events.iter().any(|e| matches!(
        e,
        Event::RenditionRemoved {
            reason: RemovalReason::PassthroughEnded,
            ..
        }
    )));
    assert_eq!(run.stats.irregular_source_gops, 1);
    assert_eq!(run.names(), ["240p", "360p", "source"]);
    let source = keyframe_ms(&run.by_name("source").playlist());
    let rung = keyframe_ms(&run.by_name("240p").playlist());
    let stand_in = keyframe_ms(&run.by_name("360p").playlist());
    // (ffmpeg's FLV starts a little after 0: the times count from the first frame)
    let start = source[0];
    assert_eq!(
        source.iter().map(|k| k - start).collect::<Vec<_>>(),
        [0, 2000, 4000, 5000]
    );
    // The rung followed the source's keyframes, then got an IDR where the stand-in
    // started, then keyframes of the ladder's own clock, as the stand-in did.
    assert!(rung.starts_with(&source), "{rung:?}");
    assert_eq!(
        &rung[source.len()..],
        &stand_in[..],
        "{rung:?} vs {stand_in:?}"
    );
    let takeover = stand_in[0];
    assert!((9000..9200).contains(&(takeover - start)), "{stand_in:?}");
    for (k, key) in stand_in.iter().enumerate().skip(1) {
        let boundary = (takeover / 2000 + k as i64) * 2000;
        assert!((boundary..boundary + 34).contains(key), "{stand_in:?}");
    }
    for p in run.renditions.values() {
        assert!(decodes_clean(&p.playlist()) > 0, "{}", p.info.name);
    }
}
