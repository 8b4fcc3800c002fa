//! The packets of Enhanced RTMP v2 video (`ExVideoTagHeader` with a FourCC, "Enhancing
//! Video"): decoder configurations, coded frames and metadata of any codec.

use bytes::{BufMut, Bytes, BytesMut};

use super::header::read_composition_time;
use super::VideoPacketType;
use crate::cursor::{put_si24, Cursor};
use crate::{FlvError, FourCc};

/// An Enhanced RTMP video packet (`VideoPacketType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// 0: the decoder configuration record (`avcC`, `hvcC`, `av1C`, `vpcC`).
    SequenceStart(Bytes),
    /// 1: coded frames; the composition time offset is on the wire for `avc1` and `hvc1`
    /// only, and 0 for other codecs.
    CodedFrames {
        /// Signed 24-bit composition time offset in milliseconds.
        composition_time: i32,
        /// The coded data.
        data: Bytes,
    },
    /// 3: coded frames with an implicit composition time offset of 0.
    CodedFramesX(Bytes),
    /// 2: end of sequence.
    SequenceEnd,
    /// 4: AMF-encoded metadata (e.g. `colorInfo`).
    Metadata(Bytes),
    /// 5: an MPEG-2 TS descriptor based configuration (reserved by the specification).
    Mpeg2TsSequenceStart(Bytes),
}

impl VideoPacket {
    pub(crate) fn packet_type(&self) -> VideoPacketType {
        match self {
            VideoPacket::SequenceStart(_) => VideoPacketType::SequenceStart,
            VideoPacket::CodedFrames { .. } => VideoPacketType::CodedFrames,
            VideoPacket::SequenceEnd => VideoPacketType::SequenceEnd,
            VideoPacket::CodedFramesX(_) => VideoPacketType::CodedFramesX,
            VideoPacket::Metadata(_) => VideoPacketType::Metadata,
            VideoPacket::Mpeg2TsSequenceStart(_) => VideoPacketType::Mpeg2TsSequenceStart,
        }
    }

    /// The packet of a parsed header: `payload` is what follows the composition time.
    pub(crate) fn from_header(
        packet_type: VideoPacketType,
        composition_time: i32,
        payload: Bytes,
    ) -> Self {
        match packet_type {
            VideoPacketType::SequenceStart => VideoPacket::SequenceStart(payload),
            VideoPacketType::CodedFrames => VideoPacket::CodedFrames {
                composition_time,
                data: payload,
            },
            VideoPacketType::SequenceEnd => VideoPacket::SequenceEnd,
            VideoPacketType::CodedFramesX => VideoPacket::CodedFramesX(payload),
            VideoPacketType::Metadata => VideoPacket::Metadata(payload),
            VideoPacketType::Mpeg2TsSequenceStart => VideoPacket::Mpeg2TsSequenceStart(payload),
        }
    }

    /// The packet of one track of a multitrack tag; `body` is a slice of `tag`.
    pub(crate) fn parse_track(
        packet_type: VideoPacketType,
        fourcc: FourCc,
        tag: &Bytes,
        body: &[u8],
    ) -> Result<Self, FlvError> {
        let mut c = Cursor::new(body);
        let composition_time = read_composition_time(packet_type, fourcc, &mut c)?;
        Ok(Self::from_header(
            packet_type,
            composition_time,
            tag.slice_ref(c.rest()),
        ))
    }

    pub(crate) fn write_body(&self, fourcc: FourCc, out: &mut BytesMut) {
        match self {
            VideoPacket::SequenceStart(d)
            | VideoPacket::CodedFramesX(d)
            | VideoPacket::Metadata(d)
            | VideoPacket::Mpeg2TsSequenceStart(d) => out.put_slice(d),
            VideoPacket::CodedFrames {
                composition_time,
                data,
            } => {
                if fourcc == FourCc::AVC1 || fourcc == FourCc::HVC1 {
                    put_si24(*composition_time, out);
                }
                out.put_slice(data);
            }
            VideoPacket::SequenceEnd => {}
        }
    }
}
