//! The bridge between FLV tag bodies and `onair_media_types`: [`MediaDemuxer`] turns the
//! audio/video messages of one RTMP stream (or the tags of one FLV file) into [`TrackInfo`]s
//! and [`Frame`]s, and [`MediaMuxer`] does the reverse for publishers and FLV writers.
//!
//! Track numbering: video track `n` of a stream (`n` = the Enhanced RTMP multitrack track id,
//! 0 for single-track streams) is `TrackId(2 * n)`, audio track `n` is `TrackId(2 * n + 1)`.
//! So a plain stream has video `TrackId(0)` and audio `TrackId(1)`. Timestamps are
//! milliseconds (timescale 1000).

mod demux;
mod mux;

pub use demux::{MediaDemuxer, MediaEvent};
pub use mux::{MediaMuxer, MuxedTag};

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hex_literal::hex;
    use onair_media_types::{
        CodecConfig, CodecId, Frame, HevcConfig, OpusConfig, TrackId, TrackInfo,
    };

    use super::*;
    use crate::FlvTagType;

    const AVCC: [u8; 17] = hex!("01640028ffe1 0004 6764001f 01 0002 68ee");

    fn drain(d: &mut MediaDemuxer) -> Vec<MediaEvent> {
        std::iter::from_fn(|| d.poll_event()).collect()
    }

    #[test]
    fn legacy_avc_and_aac() {
        let mut d = MediaDemuxer::new();
        let mut seq = vec![0x17, 0, 0, 0, 0];
        seq.extend_from_slice(&AVCC);
        d.push_video(0, &Bytes::from(seq)).unwrap();
        d.push_video(40, &Bytes::from_static(&hex!("27 01 000050 00000001 41")))
            .unwrap();
        d.push_audio(0, &Bytes::from_static(&hex!("af 00 1190")))
            .unwrap();
        d.push_audio(21, &Bytes::from_static(&hex!("af 01 2111")))
            .unwrap();
        let ev = drain(&mut d);
        assert_eq!(ev.len(), 4);
        let MediaEvent::Track(video) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(video.id, TrackId(0));
        assert_eq!(video.config.codec(), CodecId::H264);
        let MediaEvent::Frame(f) = &ev[1] else {
            panic!()
        };
        assert_eq!((f.dts, f.pts, f.keyframe), (40, 120, false));
        assert_eq!(&f.data[..], &hex!("00000001 41"));
        let MediaEvent::Track(audio) = &ev[2] else {
            panic!()
        };
        assert_eq!(audio.id, TrackId(1));
        let MediaEvent::Frame(f) = &ev[3] else {
            panic!()
        };
        assert_eq!((f.track, f.dts, f.codec), (TrackId(1), 21, CodecId::Aac));

        // and back
        let mut m = MediaMuxer::new();
        let tag = m.track(video).unwrap().unwrap();
        let mut expect = vec![0x17, 0, 0, 0, 0];
        expect.extend_from_slice(&AVCC);
        assert_eq!(&tag.data[..], &expect[..]);
        let tag = m.track(audio).unwrap().unwrap();
        assert_eq!(&tag.data[..], &hex!("af 00 1190"));
        let MediaEvent::Frame(f) = &ev[1] else {
            panic!()
        };
        let tag = m.frame(f).unwrap();
        assert_eq!(tag.timestamp_ms, 40);
        assert_eq!(&tag.data[..], &hex!("27 01 000050 00000001 41"));
    }

    #[test]
    fn enhanced_hevc_opus_and_multitrack() {
        let mut hvcc = vec![1u8, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        hvcc.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
        let mut opus_head = b"OpusHead".to_vec();
        opus_head.extend_from_slice(&hex!("01 02 3801 80bb0000 0000 00"));
        let info_v = TrackInfo {
            id: TrackId(0),
            timescale: 1000,
            config: CodecConfig::Hevc(HevcConfig::parse(Bytes::from(hvcc)).unwrap()),
        };
        let info_a = TrackInfo {
            id: TrackId(1),
            timescale: 1000,
            config: CodecConfig::Opus(OpusConfig::parse(Bytes::from(opus_head)).unwrap()),
        };
        let info_v2 = TrackInfo {
            id: TrackId(7),
            timescale: 1000,
            config: CodecConfig::Av1(Bytes::from_static(&hex!("81 08 0c 00"))),
        };
        let mut m = MediaMuxer::new();
        let mut d = MediaDemuxer::new();
        for info in [&info_v, &info_a, &info_v2] {
            let tag = m.track(info).unwrap().unwrap();
            match tag.tag_type {
                FlvTagType::Video => d.push_video(0, &tag.data).unwrap(),
                _ => d.push_audio(0, &tag.data).unwrap(),
            }
        }
        let frames = [
            Frame {
                track: TrackId(0),
                codec: CodecId::H265,
                timescale: 90_000,
                dts: 9000,
                pts: 18000,
                keyframe: true,
                data: Bytes::from_static(&hex!("00000002 2601")),
            },
            Frame {
                track: TrackId(1),
                codec: CodecId::Opus,
                timescale: 48_000,
                dts: 960,
                pts: 960,
                keyframe: true,
                data: Bytes::from_static(&hex!("fc ff")),
            },
            Frame {
                track: TrackId(7),
                codec: CodecId::Av1,
                timescale: 1000,
                dts: 5,
                pts: 5,
                keyframe: false,
                data: Bytes::from_static(&hex!("12 00")),
            },
        ];
        for f in &frames {
            let tag = m.frame(f).unwrap();
            let ts = tag.timestamp_ms as u64;
            match tag.tag_type {
                FlvTagType::Video => d.push_video(ts, &tag.data).unwrap(),
                _ => d.push_audio(ts, &tag.data).unwrap(),
            }
        }
        let ev = drain(&mut d);
        let tracks: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Track(t) => Some((t.id, t.config.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            tracks,
            vec![
                (TrackId(0), info_v.config.clone()),
                (TrackId(1), info_a.config.clone()),
                // the second video track is FLV track 1: TrackId(2)
                (TrackId(2), info_v2.config.clone()),
            ]
        );
        let got: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Frame(f) => Some((f.track, f.dts, f.pts, f.keyframe, f.data.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (TrackId(0), 100, 200, true, frames[0].data.clone()),
                (TrackId(1), 20, 20, true, frames[1].data.clone()),
                (TrackId(2), 5, 5, false, frames[2].data.clone()),
            ]
        );
    }
}
