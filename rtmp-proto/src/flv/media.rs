//! The bridge between FLV tag bodies and `onair_media_types`: [`MediaDemuxer`] turns the
//! audio/video messages of one RTMP stream (or the tags of one FLV file) into [`TrackInfo`]s
//! and [`Frame`]s, and [`MediaMuxer`] does the reverse for publishers and FLV writers.
//!
//! Track numbering: video track `n` of a stream (`n` = the Enhanced RTMP multitrack track id,
//! 0 for single-track streams) is `TrackId(2 * n)`, audio track `n` is `TrackId(2 * n + 1)`.
//! So a plain stream has video `TrackId(0)` and audio `TrackId(1)`. Timestamps are
//! milliseconds (timescale 1000).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, CodecId, Frame, HevcConfig, MediaKind, MediaTime, Mp3Config,
    OpusConfig, TrackId, TrackInfo,
};

use super::tag::{
    AacPacket, AudioBody, AudioPacket, AudioTag, AvcPacket, FourCc, Multitrack, MultitrackType,
    Track, VideoBody, VideoFrameType, VideoPacket, VideoTag,
};
use super::{FlvError, FlvTagType};

/// What a [`MediaDemuxer`] produces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A track's configuration, raised on every sequence header (and on the first MP3 frame,
    /// or when the MP3 parameters change, since MP3 has no sequence header).
    Track(TrackInfo),
    /// A frame of a track announced before.
    Frame(Frame),
}

#[derive(Default)]
struct TrackState {
    id: u32,
    config: Option<CodecConfig>,
}

/// Turns FLV audio/video tag bodies into tracks and frames. One per RTMP stream or FLV file.
///
/// Feed each audio/video message with [`push_audio`](Self::push_audio) /
/// [`push_video`](Self::push_video), then call [`poll_event`](Self::poll_event) until `None`.
#[derive(Default)]
pub struct MediaDemuxer {
    tracks: Vec<TrackState>,
    events: VecDeque<MediaEvent>,
}

impl MediaDemuxer {
    /// A demuxer with no tracks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next track or frame; call until `None` after every push.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The configuration of a track, once its sequence header was seen.
    pub fn track_config(&self, track: TrackId) -> Option<&CodecConfig> {
        self.tracks
            .iter()
            .find(|t| t.id == track.0)
            .and_then(|t| t.config.as_ref())
    }

    fn state(&mut self, id: u32) -> &mut TrackState {
        if let Some(i) = self.tracks.iter().position(|t| t.id == id) {
            return &mut self.tracks[i];
        }
        self.tracks.push(TrackState { id, config: None });
        let last = self.tracks.len() - 1;
        &mut self.tracks[last]
    }

    fn set_config(&mut self, id: u32, config: CodecConfig) {
        self.state(id).config = Some(config.clone());
        self.events.push_back(MediaEvent::Track(TrackInfo {
            id: TrackId(id),
            timescale: 1000,
            config,
        }));
    }

    fn push_frame(
        &mut self,
        id: u32,
        dts: i64,
        composition_time: i32,
        keyframe: bool,
        data: Bytes,
    ) -> Result<(), FlvError> {
        let codec = match &self.state(id).config {
            Some(c) => c.codec(),
            None => return Err(FlvError::MissingSequenceHeader { track: id }),
        };
        if data.is_empty() {
            return Ok(());
        }
        self.events.push_back(MediaEvent::Frame(Frame {
            track: TrackId(id),
            codec,
            timescale: 1000,
            dts,
            pts: dts + i64::from(composition_time),
            keyframe,
            data,
        }));
        Ok(())
    }

    /// Feeds the body of a video message or tag with its timestamp in milliseconds.
    pub fn push_video(&mut self, timestamp_ms: u64, data: &Bytes) -> Result<(), FlvError> {
        let tag = VideoTag::parse(data)?;
        let dts = i64::try_from(timestamp_ms).unwrap_or(i64::MAX);
        let keyframe = tag.is_keyframe();
        match tag.body {
            VideoBody::Avc(packet) => match packet {
                AvcPacket::SequenceHeader(record) => {
                    self.set_config(0, CodecConfig::Avc(AvcConfig::parse(record)?));
                }
                AvcPacket::Nalu {
                    composition_time,
                    data,
                } => self.push_frame(0, dts, composition_time, keyframe, data)?,
                AvcPacket::EndOfSequence => {}
            },
            VideoBody::Legacy { codec_id, .. } => {
                return Err(FlvError::Unsupported {
                    what: "flv video codec id",
                    value: codec_id.into(),
                })
            }
            VideoBody::Command(_) => {}
            VideoBody::Enhanced { fourcc, packet } => {
                self.video_packet(0, fourcc, packet, dts, keyframe)?;
            }
            VideoBody::Multitrack(m) => {
                for t in m.tracks {
                    self.video_packet(u32::from(t.track_id), t.fourcc, t.packet, dts, keyframe)?;
                }
            }
        }
        Ok(())
    }

    fn video_packet(
        &mut self,
        track: u32,
        fourcc: FourCc,
        packet: VideoPacket,
        dts: i64,
        keyframe: bool,
    ) -> Result<(), FlvError> {
        let id = track * 2;
        match packet {
            VideoPacket::SequenceStart(record) => {
                let config = match fourcc {
                    FourCc::AVC1 => CodecConfig::Avc(AvcConfig::parse(record)?),
                    FourCc::HVC1 => CodecConfig::Hevc(HevcConfig::parse(record)?),
                    FourCc::AV01 => CodecConfig::Av1(record),
                    FourCc::VP09 => CodecConfig::Vp9(record),
                    other => {
                        return Err(FlvError::Unsupported {
                            what: "video fourcc",
                            value: other.as_u32(),
                        })
                    }
                };
                self.set_config(id, config);
            }
            VideoPacket::CodedFrames {
                composition_time,
                data,
            } => self.push_frame(id, dts, composition_time, keyframe, data)?,
            VideoPacket::CodedFramesX(data) => self.push_frame(id, dts, 0, keyframe, data)?,
            VideoPacket::SequenceEnd
            | VideoPacket::Metadata(_)
            | VideoPacket::Mpeg2TsSequenceStart(_) => {}
        }
        Ok(())
    }

    /// Feeds the body of an audio message or tag with its timestamp in milliseconds.
    pub fn push_audio(&mut self, timestamp_ms: u64, data: &Bytes) -> Result<(), FlvError> {
        let tag = AudioTag::parse(data)?;
        let dts = i64::try_from(timestamp_ms).unwrap_or(i64::MAX);
        match tag.body {
            AudioBody::Aac { packet, .. } => match packet {
                AacPacket::SequenceHeader(record) => {
                    self.set_config(1, CodecConfig::Aac(AacConfig::parse(record)?));
                }
                AacPacket::Raw(data) => self.push_frame(1, dts, 0, true, data)?,
            },
            AudioBody::Legacy {
                sound_format: 2 | 14,
                data,
                ..
            } => self.mp3_frame(1, dts, data)?,
            AudioBody::Legacy { sound_format, .. } => {
                return Err(FlvError::Unsupported {
                    what: "flv sound format",
                    value: sound_format.into(),
                })
            }
            AudioBody::Enhanced { fourcc, packet } => self.audio_packet(0, fourcc, packet, dts)?,
            AudioBody::Multitrack(m) => {
                for t in m.tracks {
                    self.audio_packet(u32::from(t.track_id), t.fourcc, t.packet, dts)?;
                }
            }
        }
        Ok(())
    }

    fn audio_packet(
        &mut self,
        track: u32,
        fourcc: FourCc,
        packet: AudioPacket,
        dts: i64,
    ) -> Result<(), FlvError> {
        let id = track * 2 + 1;
        match (fourcc, packet) {
            (FourCc::OPUS, AudioPacket::SequenceStart(record)) => {
                self.set_config(id, CodecConfig::Opus(OpusConfig::parse(record)?));
            }
            (FourCc::MP4A, AudioPacket::SequenceStart(record)) => {
                self.set_config(id, CodecConfig::Aac(AacConfig::parse(record)?));
            }
            (FourCc::MP3, AudioPacket::SequenceStart(_)) => {}
            (FourCc::OPUS, AudioPacket::CodedFrames(data)) => {
                // the identification header is optional: default to stereo, no pre-skip
                if self.state(id).config.is_none() {
                    self.set_config(
                        id,
                        CodecConfig::Opus(OpusConfig {
                            record: Bytes::new(),
                            channels: 2,
                            pre_skip: 0,
                            input_sample_rate: 48_000,
                        }),
                    );
                }
                self.push_frame(id, dts, 0, true, data)?;
            }
            (FourCc::MP3, AudioPacket::CodedFrames(data)) => self.mp3_frame(id, dts, data)?,
            (FourCc::MP4A, AudioPacket::CodedFrames(data)) => {
                self.push_frame(id, dts, 0, true, data)?;
            }
            (
                FourCc::OPUS | FourCc::MP4A | FourCc::MP3,
                AudioPacket::SequenceEnd | AudioPacket::MultichannelConfig { .. },
            ) => {}
            (other, _) => {
                return Err(FlvError::Unsupported {
                    what: "audio fourcc",
                    value: other.as_u32(),
                })
            }
        }
        Ok(())
    }

    fn mp3_frame(&mut self, id: u32, dts: i64, data: Bytes) -> Result<(), FlvError> {
        if let Some(config) = mp3_config(&data) {
            if self.state(id).config != Some(CodecConfig::Mp3(config)) {
                self.set_config(id, CodecConfig::Mp3(config));
            }
        }
        self.push_frame(id, dts, 0, true, data)
    }
}

/// Sample rate and channels from an MPEG audio frame header (ISO/IEC 11172-3 2.4.1.3).
fn mp3_config(frame: &[u8]) -> Option<Mp3Config> {
    let [0xff, b1, b2, b3, ..] = *frame else {
        return None;
    };
    if b1 & 0xe0 != 0xe0 {
        return None;
    }
    let rates: [u32; 3] = match (b1 >> 3) & 0x03 {
        0 => [11_025, 12_000, 8_000],
        2 => [22_050, 24_000, 16_000],
        3 => [44_100, 48_000, 32_000],
        _ => return None,
    };
    let sample_rate = *rates.get(usize::from((b2 >> 2) & 0x03))?;
    let channels = if b3 >> 6 == 3 { 1 } else { 2 };
    Some(Mp3Config {
        sample_rate,
        channels,
    })
}

/// A tag body made by [`MediaMuxer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxedTag {
    /// Audio or video.
    pub tag_type: FlvTagType,
    /// The decode time in milliseconds (may be negative if the source's was; RTMP and FLV
    /// need the caller to offset such streams).
    pub timestamp_ms: i64,
    /// The tag body (an RTMP audio/video message payload).
    pub data: Bytes,
}

struct MuxTrack {
    id: TrackId,
    flv_track: u8,
    config: CodecConfig,
}

/// Turns [`TrackInfo`]s and [`Frame`]s into FLV tag bodies: legacy FLV for H.264, AAC and
/// MP3, Enhanced RTMP for HEVC, AV1, VP9 and Opus.
///
/// The first video and the first audio track announced are the default FLV tracks; further
/// tracks of a kind are written as Enhanced RTMP multitrack packets (`OneTrack`) with track
/// ids 1, 2, ... in order of announcement.
#[derive(Default)]
pub struct MediaMuxer {
    tracks: Vec<MuxTrack>,
}

impl MediaMuxer {
    /// A muxer with no tracks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or updates) a track and returns its sequence header tag body (`None` for
    /// MP3, which has none). Send it before the track's frames, and again on change.
    pub fn track(&mut self, info: &TrackInfo) -> Result<Option<MuxedTag>, FlvError> {
        let kind = info.kind();
        let flv_track = match self.tracks.iter_mut().find(|t| t.id == info.id) {
            Some(t) => {
                t.config = info.config.clone();
                t.flv_track
            }
            None => {
                let n = self
                    .tracks
                    .iter()
                    .filter(|t| t.config.codec().kind() == kind)
                    .count();
                let flv_track = u8::try_from(n).map_err(|_| FlvError::Unsupported {
                    what: "number of tracks",
                    value: u32::try_from(n).unwrap_or(u32::MAX),
                })?;
                self.tracks.push(MuxTrack {
                    id: info.id,
                    flv_track,
                    config: info.config.clone(),
                });
                flv_track
            }
        };
        let mut out = BytesMut::new();
        let tag_type = match &info.config {
            CodecConfig::Avc(c) if flv_track == 0 => {
                video_tag(
                    VideoFrameType::Keyframe,
                    VideoBody::Avc(AvcPacket::SequenceHeader(c.record.clone())),
                )
                .write(&mut out);
                FlvTagType::Video
            }
            CodecConfig::Aac(c) if flv_track == 0 => {
                audio_tag(AudioBody::Aac {
                    flags: 0x0f,
                    packet: AacPacket::SequenceHeader(c.record.clone()),
                })
                .write(&mut out);
                FlvTagType::Audio
            }
            CodecConfig::Mp3(_) if flv_track == 0 => return Ok(None),
            config => {
                let record = match config {
                    CodecConfig::Avc(c) => c.record.clone(),
                    CodecConfig::Hevc(c) => c.record.clone(),
                    CodecConfig::Av1(r) | CodecConfig::Vp9(r) => r.clone(),
                    CodecConfig::Aac(c) => c.record.clone(),
                    CodecConfig::Opus(c) => c.record.clone(),
                    _ => Bytes::new(),
                };
                let fourcc = fourcc_of(config.codec())?;
                if kind == MediaKind::Video {
                    enhanced_video(
                        flv_track,
                        fourcc,
                        VideoFrameType::Keyframe,
                        VideoPacket::SequenceStart(record),
                    )
                    .write(&mut out);
                    FlvTagType::Video
                } else {
                    if matches!(config, CodecConfig::Opus(c) if c.record.is_empty()) {
                        return Ok(None);
                    }
                    enhanced_audio(flv_track, fourcc, AudioPacket::SequenceStart(record))
                        .write(&mut out);
                    FlvTagType::Audio
                }
            }
        };
        Ok(Some(MuxedTag {
            tag_type,
            timestamp_ms: 0,
            data: out.freeze(),
        }))
    }

    /// The tag body of a frame of a registered track.
    pub fn frame(&self, frame: &Frame) -> Result<MuxedTag, FlvError> {
        let track = self.tracks.iter().find(|t| t.id == frame.track).ok_or(
            FlvError::MissingSequenceHeader {
                track: frame.track.0,
            },
        )?;
        let dts = MediaTime::new(frame.dts, frame.timescale).as_millis();
        let pts = MediaTime::new(frame.pts, frame.timescale).as_millis();
        let cts = i32::try_from(pts - dts).unwrap_or(0);
        let frame_type = if frame.keyframe {
            VideoFrameType::Keyframe
        } else {
            VideoFrameType::Interframe
        };
        let data = frame.data.clone();
        let mut out = BytesMut::new();
        let tag_type = match (&track.config, track.flv_track) {
            (CodecConfig::Avc(_), 0) => {
                video_tag(
                    frame_type,
                    VideoBody::Avc(AvcPacket::Nalu {
                        composition_time: cts,
                        data,
                    }),
                )
                .write(&mut out);
                FlvTagType::Video
            }
            (CodecConfig::Aac(_), 0) => {
                audio_tag(AudioBody::Aac {
                    flags: 0x0f,
                    packet: AacPacket::Raw(data),
                })
                .write(&mut out);
                FlvTagType::Audio
            }
            (CodecConfig::Mp3(c), 0) => {
                let rate_bits = match c.sample_rate {
                    0..=8_000 => 0,
                    8_001..=16_000 => 1,
                    16_001..=32_000 => 2,
                    _ => 3,
                };
                audio_tag(AudioBody::Legacy {
                    sound_format: 2,
                    flags: (rate_bits << 2) | 0x02 | u8::from(c.channels > 1),
                    data,
                })
                .write(&mut out);
                FlvTagType::Audio
            }
            (config, flv_track) => {
                let fourcc = fourcc_of(config.codec())?;
                if config.codec().kind() == MediaKind::Video {
                    let packet = if cts == 0 {
                        VideoPacket::CodedFramesX(data)
                    } else {
                        VideoPacket::CodedFrames {
                            composition_time: cts,
                            data,
                        }
                    };
                    enhanced_video(flv_track, fourcc, frame_type, packet).write(&mut out);
                    FlvTagType::Video
                } else {
                    enhanced_audio(flv_track, fourcc, AudioPacket::CodedFrames(data))
                        .write(&mut out);
                    FlvTagType::Audio
                }
            }
        };
        Ok(MuxedTag {
            tag_type,
            timestamp_ms: dts,
            data: out.freeze(),
        })
    }
}

fn fourcc_of(codec: CodecId) -> Result<FourCc, FlvError> {
    Ok(match codec {
        CodecId::H264 => FourCc::AVC1,
        CodecId::H265 => FourCc::HVC1,
        CodecId::Av1 => FourCc::AV01,
        CodecId::Vp9 => FourCc::VP09,
        CodecId::Aac => FourCc::MP4A,
        CodecId::Mp3 => FourCc::MP3,
        CodecId::Opus => FourCc::OPUS,
        _ => {
            return Err(FlvError::Unsupported {
                what: "codec for flv",
                value: 0,
            })
        }
    })
}

fn video_tag(frame_type: VideoFrameType, body: VideoBody) -> VideoTag {
    VideoTag {
        frame_type,
        timestamp_nano_offset: None,
        body,
    }
}

fn audio_tag(body: AudioBody) -> AudioTag {
    AudioTag {
        timestamp_nano_offset: None,
        body,
    }
}

fn enhanced_video(
    flv_track: u8,
    fourcc: FourCc,
    frame_type: VideoFrameType,
    packet: VideoPacket,
) -> VideoTag {
    let body = if flv_track == 0 {
        VideoBody::Enhanced { fourcc, packet }
    } else {
        VideoBody::Multitrack(Multitrack {
            kind: MultitrackType::OneTrack,
            tracks: vec![Track {
                track_id: flv_track,
                fourcc,
                packet,
            }],
        })
    };
    video_tag(frame_type, body)
}

fn enhanced_audio(flv_track: u8, fourcc: FourCc, packet: AudioPacket) -> AudioTag {
    let body = if flv_track == 0 {
        AudioBody::Enhanced { fourcc, packet }
    } else {
        AudioBody::Multitrack(Multitrack {
            kind: MultitrackType::OneTrack,
            tracks: vec![Track {
                track_id: flv_track,
                fourcc,
                packet,
            }],
        })
    };
    audio_tag(body)
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

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
    fn frame_before_header_is_an_error() {
        let mut d = MediaDemuxer::new();
        assert_eq!(
            d.push_video(0, &Bytes::from_static(&hex!("27 01 000000 00"))),
            Err(FlvError::MissingSequenceHeader { track: 0 })
        );
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

    #[test]
    fn mp3_config_from_frame_header() {
        // MPEG-1 layer III, 44.1 kHz, joint stereo
        assert_eq!(
            mp3_config(&hex!("fffb 90 44")),
            Some(Mp3Config {
                sample_rate: 44_100,
                channels: 2
            })
        );
        let mut d = MediaDemuxer::new();
        d.push_audio(0, &Bytes::from_static(&hex!("2f fffb94c4 00")))
            .unwrap();
        d.push_audio(26, &Bytes::from_static(&hex!("2f fffb94c4 01")))
            .unwrap();
        let ev = drain(&mut d);
        assert_eq!(ev.len(), 3);
        assert_eq!(
            ev[0],
            MediaEvent::Track(TrackInfo {
                id: TrackId(1),
                timescale: 1000,
                config: CodecConfig::Mp3(Mp3Config {
                    sample_rate: 48_000,
                    channels: 1
                })
            })
        );
    }
}
