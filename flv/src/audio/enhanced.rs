//! The packets of Enhanced RTMP v2 audio (`ExAudioTagHeader` with a FourCC, "Enhancing
//! Audio"): configurations, coded frames and multichannel layouts of any codec.

use bytes::{BufMut, Bytes, BytesMut};

use super::AudioPacketType;
use crate::cursor::Cursor;
use crate::FlvError;

/// Channel layout of an Enhanced RTMP `MultichannelConfig` packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelLayout {
    /// Order 0: unspecified.
    Unspecified,
    /// Order 1: `AudioChannelMask` flags (FFmpeg writes 4 = front centre for mono).
    Native(u32),
    /// Order 2: one `AudioChannel` byte per channel.
    Custom(Bytes),
}

/// An Enhanced RTMP audio packet (`AudioPacketType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// 0: the codec configuration (`OpusHead`, AudioSpecificConfig, FLAC STREAMINFO, ...).
    SequenceStart(Bytes),
    /// 1: coded frames.
    CodedFrames(Bytes),
    /// 2: end of sequence.
    SequenceEnd,
    /// 4: multichannel configuration.
    MultichannelConfig {
        /// Number of channels.
        channel_count: u8,
        /// How channels map to speakers.
        layout: ChannelLayout,
    },
}

impl AudioPacket {
    pub(crate) fn packet_type(&self) -> AudioPacketType {
        match self {
            AudioPacket::SequenceStart(_) => AudioPacketType::SequenceStart,
            AudioPacket::CodedFrames(_) => AudioPacketType::CodedFrames,
            AudioPacket::SequenceEnd => AudioPacketType::SequenceEnd,
            AudioPacket::MultichannelConfig { .. } => AudioPacketType::MultichannelConfig,
        }
    }

    /// The packet whose payload (after the FourCC, or the track header) is `payload`, a
    /// slice of `tag`.
    pub(crate) fn parse(
        packet_type: AudioPacketType,
        tag: &Bytes,
        payload: &[u8],
    ) -> Result<Self, FlvError> {
        Ok(match packet_type {
            AudioPacketType::SequenceStart => AudioPacket::SequenceStart(tag.slice_ref(payload)),
            AudioPacketType::CodedFrames => AudioPacket::CodedFrames(tag.slice_ref(payload)),
            AudioPacketType::SequenceEnd => AudioPacket::SequenceEnd,
            AudioPacketType::MultichannelConfig => {
                let mut c = Cursor::new(payload);
                let order = c.u8("audio channel order")?;
                let channel_count = c.u8("audio channel count")?;
                let layout = match order {
                    0 => ChannelLayout::Unspecified,
                    2 => {
                        let map = c.take(usize::from(channel_count), "audio channel mapping")?;
                        ChannelLayout::Custom(tag.slice_ref(map))
                    }
                    1 => ChannelLayout::Native(u32::from_be_bytes(
                        c.array::<4>("audio channel flags")?,
                    )),
                    other => {
                        return Err(FlvError::Unsupported {
                            what: "audio channel order",
                            value: other.into(),
                        })
                    }
                };
                AudioPacket::MultichannelConfig {
                    channel_count,
                    layout,
                }
            }
        })
    }

    pub(crate) fn write_body(&self, out: &mut BytesMut) {
        match self {
            AudioPacket::SequenceStart(d) | AudioPacket::CodedFrames(d) => out.put_slice(d),
            AudioPacket::SequenceEnd => {}
            AudioPacket::MultichannelConfig {
                channel_count,
                layout,
            } => match layout {
                ChannelLayout::Unspecified => out.put_slice(&[0, *channel_count]),
                ChannelLayout::Custom(map) => {
                    // the count on the wire is the length of the map
                    let map = &map[..map.len().min(255)];
                    out.put_slice(&[2, map.len() as u8]);
                    out.put_slice(map);
                }
                ChannelLayout::Native(flags) => {
                    out.put_slice(&[1, *channel_count]);
                    out.put_u32(*flags);
                }
            },
        }
    }
}
