//! The legacy AVC packet of FLV 10.1 annex E.4.3.1 (`CodecID` 7: `AVCPacketType`,
//! `CompositionTime`).

use bytes::{BufMut, Bytes, BytesMut};

use super::VideoPacketType;
use crate::cursor::put_si24;

/// A legacy AVC (`CodecID` 7) packet (FLV annex E.4.3.1 `AVCPacketType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvcPacket {
    /// 0: the AVCDecoderConfigurationRecord.
    SequenceHeader(Bytes),
    /// 1: length-prefixed NAL units with their composition time offset (PTS - DTS, ms).
    Nalu {
        /// Signed 24-bit composition time offset in milliseconds.
        composition_time: i32,
        /// The NAL units.
        data: Bytes,
    },
    /// 2: end of sequence.
    EndOfSequence,
}

impl AvcPacket {
    /// The packet of a parsed AVC header: `payload` is what follows `CompositionTime`.
    pub(crate) fn from_header(
        packet_type: VideoPacketType,
        composition_time: i32,
        payload: Bytes,
    ) -> Self {
        match packet_type {
            VideoPacketType::SequenceStart => AvcPacket::SequenceHeader(payload),
            VideoPacketType::CodedFrames => AvcPacket::Nalu {
                composition_time,
                data: payload,
            },
            // the header parser maps no other AVCPacketType
            _ => AvcPacket::EndOfSequence,
        }
    }

    /// Writes `AVCPacketType`, `CompositionTime` and the payload.
    pub(crate) fn write(&self, out: &mut BytesMut) {
        match self {
            AvcPacket::SequenceHeader(d) => {
                out.put_slice(&[0, 0, 0, 0]);
                out.put_slice(d);
            }
            AvcPacket::Nalu {
                composition_time,
                data,
            } => {
                out.put_u8(1);
                put_si24(*composition_time, out);
                out.put_slice(data);
            }
            AvcPacket::EndOfSequence => out.put_slice(&[2, 0, 0, 0]),
        }
    }
}
