//! [`MediaMuxer`]: [`TrackInfo`]s and [`Frame`]s to FLV audio/video tag bodies.

use bytes::{Bytes, BytesMut};
use onair_media_types::{CodecConfig, CodecId, Frame, MediaKind, MediaTime, TrackId, TrackInfo};

use crate::{
    AacPacket, AudioBody, AudioPacket, AudioTag, AvcPacket, FlvError, FlvTagType, FourCc,
    Multitrack, MultitrackType, Track, VideoBody, VideoFrameType, VideoPacket, VideoTag,
};

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
