//! Audio tag bodies (FLV 10.1 annex E.4.2 `AUDIODATA`, Enhanced RTMP v2 "Enhancing Audio"),
//! which are also the payloads of RTMP audio messages (type 8).
//!
//! [`AudioTagHeader`] reads the header in place; [`AudioTag`] is the whole body as values,
//! parsed and written back byte for byte, payloads as [`Bytes`] slices of the input.

use bytes::{BufMut, Bytes, BytesMut};

use crate::cursor::Cursor;
use crate::ex_header::{put_ex_header, write_multitrack, Multitrack, TrackList};
use crate::{FlvError, FourCc};
use header::{Layout, AAC, EX_HEADER, MULTITRACK};

mod enhanced;
mod header;
mod legacy;

pub use enhanced::{AudioPacket, ChannelLayout};
pub use header::AudioTagHeader;
pub use legacy::AacPacket;

/// What an audio packet holds (Enhanced RTMP `AudioPacketType`; legacy AAC's
/// `AACPacketType` 0 and 1 are the first two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioPacketType {
    /// 0: the codec configuration (AAC AudioSpecificConfig, `OpusHead`, ...).
    SequenceStart,
    /// 1: coded frames.
    CodedFrames,
    /// 2: end of sequence.
    SequenceEnd,
    /// 4: multichannel configuration.
    MultichannelConfig,
}

impl AudioPacketType {
    pub(crate) fn from_bits(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => AudioPacketType::SequenceStart,
            1 => AudioPacketType::CodedFrames,
            2 => AudioPacketType::SequenceEnd,
            4 => AudioPacketType::MultichannelConfig,
            other => {
                return Err(FlvError::Unsupported {
                    what: "audio packet type",
                    value: other.into(),
                })
            }
        })
    }

    /// The legacy `AACPacketType`.
    pub(crate) fn from_aac_bits(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => AudioPacketType::SequenceStart,
            1 => AudioPacketType::CodedFrames,
            other => {
                return Err(FlvError::Unsupported {
                    what: "aac packet type",
                    value: other.into(),
                })
            }
        })
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            AudioPacketType::SequenceStart => 0,
            AudioPacketType::CodedFrames => 1,
            AudioPacketType::SequenceEnd => 2,
            AudioPacketType::MultichannelConfig => 4,
        }
    }
}

/// The body of an audio tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioBody {
    /// Legacy AAC (`SoundFormat` 10).
    Aac {
        /// The low nibble of the header byte (rate, size and type bits; 0xF for AAC).
        flags: u8,
        /// The packet.
        packet: AacPacket,
    },
    /// Another legacy format (2 = MP3, 11 = Speex, ...): payload as is.
    Legacy {
        /// The `SoundFormat` (never 9 or 10).
        sound_format: u8,
        /// The low nibble of the header byte: `SoundRate` (2 bits), `SoundSize`, `SoundType`.
        flags: u8,
        /// The payload after the header byte.
        data: Bytes,
    },
    /// Enhanced RTMP (`SoundFormat` 9), one track.
    Enhanced {
        /// The codec.
        fourcc: FourCc,
        /// The packet.
        packet: AudioPacket,
    },
    /// Enhanced RTMP multitrack.
    Multitrack(Multitrack<AudioPacket>),
}

/// An audio tag body (RTMP audio message payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    /// Nanoseconds to add to the millisecond timestamp (Enhanced RTMP `ModEx`); `None` when
    /// absent.
    pub timestamp_nano_offset: Option<u32>,
    /// The body.
    pub body: AudioBody,
}

impl AudioTag {
    /// Parses an audio tag body; payloads are slices of `data`.
    pub fn parse(data: &Bytes) -> Result<Self, FlvError> {
        let header = AudioTagHeader::parse(data)?;
        let body = match header.layout() {
            Layout::Legacy {
                sound_format,
                flags,
            } => AudioBody::Legacy {
                sound_format,
                flags,
                data: data.slice(header.header_len()..),
            },
            Layout::Aac { flags, packet_type } => {
                let payload = data.slice(header.header_len()..);
                let packet = match packet_type {
                    AudioPacketType::SequenceStart => AacPacket::SequenceHeader(payload),
                    _ => AacPacket::Raw(payload),
                };
                AudioBody::Aac { flags, packet }
            }
            Layout::Enhanced {
                fourcc,
                packet_type,
            } => AudioBody::Enhanced {
                fourcc,
                packet: AudioPacket::parse(packet_type, data, header.payload())?,
            },
            Layout::Multitrack {
                packet_type,
                tracks_at,
                ..
            } => {
                let mut c = Cursor::at(data, tracks_at);
                let tracks = TrackList::read(&mut c)?;
                AudioBody::Multitrack(
                    tracks.collect(|_, body| AudioPacket::parse(packet_type, data, body))?,
                )
            }
        };
        Ok(AudioTag {
            timestamp_nano_offset: header.timestamp_nano_offset(),
            body,
        })
    }

    /// Appends the tag body to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        match &self.body {
            AudioBody::Aac { flags, packet } => {
                out.put_u8((AAC << 4) | (flags & 0x0f));
                match packet {
                    AacPacket::SequenceHeader(d) => {
                        out.put_u8(0);
                        out.put_slice(d);
                    }
                    AacPacket::Raw(d) => {
                        out.put_u8(1);
                        out.put_slice(d);
                    }
                }
            }
            AudioBody::Legacy {
                sound_format,
                flags,
                data,
            } => {
                out.put_u8((sound_format << 4) | (flags & 0x0f));
                out.put_slice(data);
            }
            AudioBody::Enhanced { fourcc, packet } => {
                put_ex_header(
                    EX_HEADER << 4,
                    packet.packet_type().bits(),
                    self.timestamp_nano_offset,
                    out,
                );
                out.put_slice(&fourcc.0);
                packet.write_body(out);
            }
            AudioBody::Multitrack(m) => {
                put_ex_header(EX_HEADER << 4, MULTITRACK, self.timestamp_nano_offset, out);
                let inner = m
                    .tracks
                    .first()
                    .map_or(1, |t| t.packet.packet_type().bits());
                write_multitrack(m, inner, out, |t, out| t.packet.write_body(out));
            }
        }
    }

    /// Whether this carries a decoder configuration (AAC sequence header or SequenceStart).
    pub fn is_sequence_header(&self) -> bool {
        match &self.body {
            AudioBody::Aac { packet, .. } => matches!(packet, AacPacket::SequenceHeader(_)),
            AudioBody::Enhanced { packet, .. } => matches!(packet, AudioPacket::SequenceStart(_)),
            AudioBody::Multitrack(m) => m
                .tracks
                .iter()
                .any(|t| matches!(t.packet, AudioPacket::SequenceStart(_))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn round_trip_audio(bytes: &[u8]) -> AudioTag {
        let input = Bytes::copy_from_slice(bytes);
        let tag = AudioTag::parse(&input).unwrap();
        let mut out = BytesMut::new();
        tag.write(&mut out);
        assert_eq!(&out[..], bytes, "{tag:?}");
        tag
    }

    #[test]
    fn audio() {
        let tag = round_trip_audio(&hex!("af 00 1190"));
        assert_eq!(
            tag.body,
            AudioBody::Aac {
                flags: 0xf,
                packet: AacPacket::SequenceHeader(Bytes::from_static(&hex!("1190")))
            }
        );
        assert!(tag.is_sequence_header());
        round_trip_audio(&hex!("af 01 21"));
        let tag = round_trip_audio(&hex!("2e fffb"));
        assert_eq!(
            tag.body,
            AudioBody::Legacy {
                sound_format: 2,
                flags: 0xe,
                data: Bytes::from_static(&hex!("fffb"))
            }
        );
        let tag = round_trip_audio(&hex!("90 4f707573 4f70757348656164"));
        assert_eq!(
            tag.body,
            AudioBody::Enhanced {
                fourcc: FourCc::OPUS,
                packet: AudioPacket::SequenceStart(Bytes::from_static(b"OpusHead"))
            }
        );
        round_trip_audio(&hex!("91 664c6143 01"));
        round_trip_audio(&hex!("92 61632d33"));
        let tag = round_trip_audio(&hex!("94 65632d33 01 06 0000003f"));
        assert_eq!(
            tag.body,
            AudioBody::Enhanced {
                fourcc: FourCc::EAC3,
                packet: AudioPacket::MultichannelConfig {
                    channel_count: 6,
                    layout: ChannelLayout::Native(0x3f)
                }
            }
        );
        round_trip_audio(&hex!("94 6d703461 02 02 0001"));
        // what FFmpeg 9 writes after the OpusHead of a mono stream
        let tag = round_trip_audio(&hex!("94 4f707573 01 01 00000004"));
        assert_eq!(
            tag.body,
            AudioBody::Enhanced {
                fourcc: FourCc::OPUS,
                packet: AudioPacket::MultichannelConfig {
                    channel_count: 1,
                    layout: ChannelLayout::Native(4)
                }
            }
        );
        round_trip_audio(&hex!("94 2e6d7033 00 02"));
        // multitrack ManyTracks of Opus coded frames
        let tag = round_trip_audio(&hex!("95 11 4f707573 00 000001 aa 01 000000"));
        let AudioBody::Multitrack(m) = &tag.body else {
            panic!()
        };
        assert_eq!(m.tracks[1].packet, AudioPacket::CodedFrames(Bytes::new()));
        assert_eq!(
            AudioTag::parse(&Bytes::from_static(&hex!("93 4f707573"))),
            Err(FlvError::Unsupported {
                what: "audio packet type",
                value: 3
            })
        );
        assert_eq!(
            AudioTag::parse(&Bytes::new()),
            Err(FlvError::NotEnoughData {
                what: "audio tag header",
                needed: 1,
                available: 0
            })
        );
    }
}
