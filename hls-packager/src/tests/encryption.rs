//! AES-128 segments: key rotation, IVs, and the key tags around them.

use super::*;

#[test]
fn encrypted_segments_carry_key_and_iv() {
    let mut p = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        kind: PlaylistKind::Vod,
        encryption: Some(EncryptionConfig {
            rotate_every: 2,
            keys: Box::new(|period: u64| AesKey {
                key: [period as u8; 16],
                uri: format!("key{period}.bin"),
            }),
        }),
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let (mut store, mut expired) = (MemoryStore::default(), Vec::new());
    for i in 0..90 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
    }
    p.finish().unwrap();
    drain(&mut p, &mut store, &mut expired);
    let text = p.media_playlist(&PlaylistRequest::default());
    assert!(text.contains(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key0.bin\",IV=0x00000000000000000000000000000000\n"
    ));
    assert!(text.contains(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key0.bin\",IV=0x00000000000000000000000000000001\n"
    ));
    assert!(text.contains(
        "#EXT-X-KEY:METHOD=AES-128,URI=\"key1.bin\",IV=0x00000000000000000000000000000002\n"
    ));
    let seg = store.get("seg0.ts").unwrap();
    assert_eq!(seg.len() % 16, 0);
    assert_ne!(seg[0], 0x47);
}
