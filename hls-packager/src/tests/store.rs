//! Stores and retention: files are written atomically and deleted only after they left the
//! playlist and a grace period passed.

use super::*;

#[test]
fn retention_waits_for_the_grace_period() {
    let mut r = Retention::new(Duration::from_secs(10));
    let target = Duration::from_secs(1);
    r.expire(Duration::from_secs(5), "a.ts".into(), target);
    r.expire(Duration::from_secs(6), "b.ts".into(), target);
    assert_eq!(r.poll_due(Duration::from_secs(14)), None);
    assert_eq!(r.poll_due(Duration::from_secs(15)), Some("a.ts".into()));
    assert_eq!(r.poll_due(Duration::from_secs(15)), None);
    assert_eq!(r.poll_timeout(), Some(Duration::from_secs(16)));
}

#[test]
fn fs_store_renames_into_place() {
    let dir = std::env::temp_dir().join(format!("hls-fs-store-{}", std::process::id()));
    let mut s = FsStore::new(&dir).unwrap();
    s.put("a.m3u8", Bytes::from_static(b"#EXTM3U\n")).unwrap();
    assert_eq!(std::fs::read(dir.join("a.m3u8")).unwrap(), b"#EXTM3U\n");
    assert!(!dir.join(".a.m3u8.tmp").exists());
    assert!(s.put("../x", Bytes::new()).is_err());
    s.remove("a.m3u8").unwrap();
    s.remove("a.m3u8").unwrap();
    assert!(!dir.join("a.m3u8").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_are_deleted_only_after_leaving_the_playlist_and_the_grace_period() {
    let dir = std::env::temp_dir().join(format!("hls-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = FsStore::new(&dir).unwrap();
    let mut p = Packager::new(PackagerConfig {
        format: SegmentFormat::Ts,
        kind: PlaylistKind::Live { window: 3 },
        ..PackagerConfig::default()
    })
    .unwrap();
    p.add_track(video_track()).unwrap();
    let grace = Duration::from_secs(4);
    let mut retention = Retention::new(grace);
    let mut left_at = std::collections::HashMap::new();
    for i in 0..600 {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        // media time is wall time here: 30 frames a second
        let now = Duration::from_millis(i as u64 * 1000 / 30);
        drive(&mut p, &mut store, &mut retention, "index.m3u8", now).unwrap();
        let text = std::fs::read_to_string(dir.join("index.m3u8")).unwrap_or_default();
        for msn in 0..20u64 {
            let name = format!("seg{msn}.ts");
            let listed = text.lines().any(|l| l == name);
            let exists = dir.join(&name).exists();
            if listed {
                assert!(exists, "{name} listed but missing");
            } else if msn < p.media_sequence() {
                left_at.entry(msn).or_insert(now);
            }
            if let Some(left) = left_at.get(&msn) {
                if now < *left + grace - Duration::from_millis(40) {
                    assert!(exists, "{name} deleted before its grace period ended");
                }
            }
        }
    }
    // By the end, the early segments are gone and the window's are there.
    assert!(!dir.join("seg0.ts").exists());
    assert!(dir.join("seg18.ts").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
