//! Golden playlists and behaviour of the packager on synthetic streams. Every playlist
//! rendered on a change is checked against the RFC 8216 / 8216bis rules by
//! `check_media_playlist`, and read by m3u8-rs, an independent parser, whose view must agree
//! with the packager's own segment model (`m3u8_rs_view`).

use std::time::Duration;

use bytes::Bytes;
use hex_literal::hex;
use onair_media_types::{AacConfig, AvcConfig, CodecConfig, CodecId, Frame, TrackId, TrackInfo};

use crate::*;

mod cutting;
mod dvr;
mod encryption;
mod low_latency;
mod m3u8_rs_view;
mod master;
mod store;

use m3u8_rs_view::{assert_m3u8_rs_agrees, assert_master_agrees};

fn video_track() -> TrackInfo {
    let sps = hex!("6764000dacd94141fb0110000003001000000303c0f1429960");
    let mut rec = vec![1, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0, sps.len() as u8];
    rec.extend_from_slice(&sps);
    rec.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
    TrackInfo {
        id: TrackId(0),
        timescale: 90_000,
        config: CodecConfig::Avc(AvcConfig::parse(Bytes::from(rec)).unwrap()),
    }
}

fn audio_track() -> TrackInfo {
    TrackInfo {
        id: TrackId(1),
        timescale: 48_000,
        config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
    }
}

/// Video frame `i` of a 30 fps stream with a keyframe every `gop` frames.
fn vframe(i: i64, gop: i64, offset: i64) -> Frame {
    let key = i % gop == 0;
    Frame {
        track: TrackId(0),
        codec: CodecId::H264,
        timescale: 90_000,
        dts: offset + i * 3000,
        pts: offset + i * 3000,
        keyframe: key,
        data: Bytes::from_static(if key {
            &[0, 0, 0, 2, 0x65, 0x88]
        } else {
            &[0, 0, 0, 2, 0x41, 0x9a]
        }),
    }
}

fn aframe(i: i64) -> Frame {
    Frame {
        track: TrackId(1),
        codec: CodecId::Aac,
        timescale: 48_000,
        dts: i * 1024,
        pts: i * 1024,
        keyframe: true,
        data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]),
    }
}

/// Drains events into a memory store; returns every playlist rendered on a change.
fn drain(p: &mut Packager, store: &mut MemoryStore, expired: &mut Vec<String>) -> Vec<String> {
    let mut playlists = Vec::new();
    while let Some(e) = p.poll_event() {
        match e {
            Event::File { name, data } => store.put(&name, data).unwrap(),
            Event::PlaylistChanged => {
                let request = PlaylistRequest::default();
                let text = p.media_playlist(&request);
                check_media_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
                assert_m3u8_rs_agrees(p, &request, &text);
                playlists.push(text);
            }
            Event::Expired { name } => expired.push(name),
        }
    }
    playlists
}

fn ll_packager() -> Packager {
    let mut p = Packager::new(PackagerConfig {
        target_duration: Duration::from_secs(1),
        part_duration: Some(Duration::from_millis(334)),
        kind: PlaylistKind::Live { window: 10 },
        ..PackagerConfig::default()
    })
    .unwrap();
    p.set_wallclock(1_795_687_200_000);
    p.add_track(video_track()).unwrap();
    p.add_track(audio_track()).unwrap();
    p
}

/// Pushes `secs` seconds of interleaved audio and video.
fn push_av(p: &mut Packager, from_video: i64, to_video: i64) {
    let mut a = from_video * 3000 * 48_000 / 90_000 / 1024;
    for i in from_video..to_video {
        p.push_frame(vframe(i, 30, 0)).unwrap();
        while a * 1024 * 90_000 / 48_000 < (i + 1) * 3000 {
            p.push_frame(aframe(a)).unwrap();
            a += 1;
        }
    }
}
