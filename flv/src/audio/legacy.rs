//! The legacy AAC packet of FLV 10.1 annex E.4.2.1 (`SoundFormat` 10: `AACPacketType`).

use bytes::Bytes;

/// A legacy AAC (`SoundFormat` 10) packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AacPacket {
    /// 0: the AudioSpecificConfig.
    SequenceHeader(Bytes),
    /// 1: one raw AAC frame.
    Raw(Bytes),
}
