//! [`MediaDemuxer`]: FLV audio/video tag bodies to [`TrackInfo`]s and [`Frame`]s.

use std::collections::VecDeque;

use bytes::Bytes;
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, Frame, HevcConfig, Mp3Config, OpusConfig, TrackId, TrackInfo,
};

use crate::{
    AacPacket, AudioBody, AudioPacket, AudioTag, AvcPacket, FlvError, FourCc, VideoBody,
    VideoPacket, VideoTag,
};

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

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn drain(d: &mut MediaDemuxer) -> Vec<MediaEvent> {
        std::iter::from_fn(|| d.poll_event()).collect()
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
