//! The master playlist from what the packager measured.

use super::*;

#[test]
fn master_playlist_from_measurements() {
    let mut p = ll_packager();
    push_av(&mut p, 0, 91);
    let info = p.variant_info();
    assert_eq!(info.codecs, "avc1.64000D,mp4a.40.2");
    assert_eq!(info.resolution, Some((320, 240)));
    assert_eq!(info.frame_rate.map(|f| f.round()), Some(30.0));
    assert!(info.bandwidth >= info.average_bandwidth && info.average_bandwidth > 0);
    // An audio-only rendition beside it: no RESOLUTION, no FRAME-RATE.
    let mut audio = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        ..PackagerConfig::default()
    })
    .unwrap();
    audio.add_track(audio_track()).unwrap();
    for i in 0..200 {
        audio.push_frame(aframe(i)).unwrap();
    }
    audio.finish().unwrap();
    let audio_info = audio.variant_info();
    assert_eq!((audio_info.resolution, audio_info.frame_rate), (None, None));
    let variants = [
        Variant {
            uri: "hi/index.m3u8".into(),
            info,
        },
        Variant {
            uri: "audio/index.m3u8".into(),
            info: audio_info,
        },
    ];
    let text = master_playlist(&variants);
    assert!(text.contains("CODECS=\"avc1.64000D,mp4a.40.2\",RESOLUTION=320x240,FRAME-RATE=30.000"));
    assert_master_agrees(&text, &variants);
}
