//! Per-track elementary stream state: stream type, PES stream id, descriptors, and the
//! framing each codec needs in MPEG-TS (Annex B with AUD and parameter sets, ADTS, the Opus
//! control header).

use onair_media_types::{CodecConfig, CodecId, MediaKind, TrackId, TrackInfo};

use crate::error::TsError;
use crate::types::{ContinuityCounter, Pid};

/// `stream_type` values (ISO/IEC 13818-1 table 2-34).
pub(crate) mod stream_type {
    pub(crate) const MPEG1_AUDIO: u8 = 0x03;
    pub(crate) const PRIVATE_PES: u8 = 0x06;
    pub(crate) const AAC_ADTS: u8 = 0x0f;
    pub(crate) const H264: u8 = 0x1b;
    pub(crate) const H265: u8 = 0x24;
}

/// H.264 access unit delimiter, primary_pic_type 7 (any slice type).
const AVC_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];
/// H.265 access unit delimiter (nal_unit_type 35, layer 0, tid 1), pic_type 2 (any).
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

/// Codec-specific framing.
#[derive(Debug, Clone)]
pub(crate) enum Framing {
    /// Length-prefixed NAL units to Annex B.
    Video {
        hevc: bool,
        nal_length_size: u8,
        /// Access unit delimiter with its start code.
        aud: &'static [u8],
        /// VPS/SPS/PPS, each after a four-byte start code.
        parameter_sets: Vec<u8>,
    },
    /// Raw AAC to ADTS: the fixed part of the header; the frame length is patched per frame.
    Adts([u8; 7]),
    /// MP3 frames as they are.
    Mp3,
    /// Opus packets behind an `opus_control_header`.
    Opus,
}

/// A track muxed into one PID.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub(crate) track: TrackId,
    pub(crate) codec: CodecId,
    pub(crate) kind: MediaKind,
    pub(crate) pid: Pid,
    pub(crate) stream_type: u8,
    pub(crate) stream_id: u8,
    pub(crate) descriptors: Vec<u8>,
    pub(crate) framing: Framing,
    pub(crate) cc: ContinuityCounter,
    pub(crate) discontinuity: bool,
    pub(crate) awaiting_keyframe: bool,
}

impl Stream {
    pub(crate) fn new(info: &TrackInfo, pid: Pid) -> Result<Self, TsError> {
        let codec = info.config.codec();
        let (stream_type, stream_id, descriptors, framing) = match &info.config {
            CodecConfig::Avc(c) => {
                let mut ps = Vec::new();
                for nal in c.sps.iter().chain(&c.pps) {
                    ps.extend_from_slice(&[0, 0, 0, 1]);
                    ps.extend_from_slice(nal);
                }
                let framing = Framing::Video {
                    hevc: false,
                    nal_length_size: c.nal_length_size,
                    aud: &AVC_AUD,
                    parameter_sets: ps,
                };
                (stream_type::H264, 0xe0, Vec::new(), framing)
            }
            CodecConfig::Hevc(c) => {
                let mut ps = Vec::new();
                for nal in c.vps.iter().chain(&c.sps).chain(&c.pps) {
                    ps.extend_from_slice(&[0, 0, 0, 1]);
                    ps.extend_from_slice(nal);
                }
                let framing = Framing::Video {
                    hevc: true,
                    nal_length_size: c.nal_length_size,
                    aud: &HEVC_AUD,
                    parameter_sets: ps,
                };
                (stream_type::H265, 0xe0, Vec::new(), framing)
            }
            CodecConfig::Aac(c) => {
                let profile = match c.object_type {
                    1..=4 => c.object_type - 1,
                    // SBR / PS: the ADTS header describes the AAC-LC core (implicit signalling).
                    5 | 29 => 1,
                    _ => 0xff,
                };
                if profile == 0xff || c.frequency_index > 12 || c.channel_config > 7 {
                    return Err(TsError::NoAdtsForm {
                        object_type: c.object_type,
                        channel_config: c.channel_config,
                    });
                }
                let h = [
                    0xff,
                    0xf1, // MPEG-4, layer 0, protection_absent
                    (profile << 6) | (c.frequency_index << 2) | (c.channel_config >> 2),
                    (c.channel_config & 3) << 6,
                    0,
                    0x1f, // buffer fullness 0x7ff (VBR)
                    0xfc, // one raw data block
                ];
                (stream_type::AAC_ADTS, 0xc0, Vec::new(), Framing::Adts(h))
            }
            CodecConfig::Mp3(_) => (stream_type::MPEG1_AUDIO, 0xc0, Vec::new(), Framing::Mp3),
            CodecConfig::Opus(c) => {
                // registration_descriptor 'Opus', then the DVB extension descriptor carrying
                // the user-defined opus_audio_descriptor (tag 0x80) with channel_config_code.
                let channels = if (1..=8).contains(&c.channels) {
                    c.channels
                } else {
                    2
                };
                let d = vec![0x05, 4, b'O', b'p', b'u', b's', 0x7f, 2, 0x80, channels];
                (stream_type::PRIVATE_PES, 0xbd, d, Framing::Opus)
            }
            _ => return Err(TsError::UnsupportedCodec { codec }),
        };
        Ok(Self {
            track: info.id,
            codec,
            kind: codec.kind(),
            pid,
            stream_type,
            stream_id,
            descriptors,
            framing,
            cc: ContinuityCounter::default(),
            discontinuity: false,
            awaiting_keyframe: codec.kind() == MediaKind::Video,
        })
    }

    /// Replaces the codec configuration, keeping PID and counters.
    pub(crate) fn reconfigure(&mut self, info: &TrackInfo) -> Result<bool, TsError> {
        let mut next = Stream::new(info, self.pid)?;
        if next.codec != self.codec {
            return Err(TsError::CodecMismatch {
                track: self.track,
                expected: self.codec,
                found: next.codec,
            });
        }
        let pmt_changed = next.descriptors != self.descriptors;
        next.cc = self.cc;
        next.discontinuity = self.discontinuity;
        next.awaiting_keyframe = self.awaiting_keyframe;
        *self = next;
        Ok(pmt_changed)
    }
}

/// Whether an H.264/H.265 NAL unit header byte is of the given class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NalClass {
    Aud,
    ParameterSet,
    RandomAccess,
    Other,
}

pub(crate) fn classify(hevc: bool, first_byte: u8) -> NalClass {
    if hevc {
        match (first_byte >> 1) & 0x3f {
            35 => NalClass::Aud,
            32..=34 => NalClass::ParameterSet,
            16..=23 => NalClass::RandomAccess,
            _ => NalClass::Other,
        }
    } else {
        match first_byte & 0x1f {
            9 => NalClass::Aud,
            7 | 8 => NalClass::ParameterSet,
            5 => NalClass::RandomAccess,
            _ => NalClass::Other,
        }
    }
}
