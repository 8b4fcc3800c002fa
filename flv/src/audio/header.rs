//! [`AudioTagHeader`]: the header of an audio tag body read in place, legacy (FLV 10.1 annex
//! E.4.2.1 `AUDIODATA`) or extended (Enhanced RTMP v2 `ExAudioTagHeader`).

use super::AudioPacketType;
use crate::cursor::Cursor;
use crate::ex_header::{read_mod_ex, MultitrackType, TrackList};
use crate::{FlvError, FourCc, TagCodec};

/// Legacy `SoundFormat` of AAC.
pub(crate) const AAC: u8 = 10;
/// `SoundFormat` 9: an Enhanced RTMP `ExAudioTagHeader` follows.
pub(crate) const EX_HEADER: u8 = 9;
/// `AudioPacketType` of a multitrack packet; never the type of a packet itself.
pub(crate) const MULTITRACK: u8 = 5;

/// How the body goes on after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A legacy format whose payload follows the header byte as is.
    Legacy { sound_format: u8, flags: u8 },
    /// Legacy AAC: `AACPacketType`.
    Aac {
        flags: u8,
        packet_type: AudioPacketType,
    },
    /// Enhanced RTMP, one track.
    Enhanced {
        fourcc: FourCc,
        packet_type: AudioPacketType,
    },
    /// Enhanced RTMP multitrack; the header and payload are those of the first track.
    Multitrack {
        kind: MultitrackType,
        fourcc: FourCc,
        track_id: u8,
        packet_type: AudioPacketType,
        /// Offset of the multitrack byte, where the track list starts.
        tracks_at: usize,
    },
}

/// The header of an audio tag body (an RTMP audio message payload), read in place: no copy,
/// no allocation. Parsing checks every header field up to the payload; the accessors are then
/// plain reads.
///
/// Legacy AAC answers with the Enhanced RTMP names: `AACPacketType` 0 and 1 are
/// [`SequenceStart`](AudioPacketType::SequenceStart) and
/// [`CodedFrames`](AudioPacketType::CodedFrames). For a multitrack packet the codec, packet and
/// payload are those of the first track; [`AudioTag::parse`](crate::AudioTag::parse) gives
/// every track.
///
/// ```
/// use onair_flv::{AudioPacketType, AudioTagHeader, FourCc, TagCodec};
///
/// // legacy AAC AudioSpecificConfig (AAC-LC, 48 kHz, stereo)
/// let header = AudioTagHeader::parse(&[0xaf, 0x00, 0x11, 0x90])?;
/// assert_eq!(header.codec(), TagCodec::Legacy(10));
/// assert!(header.is_sequence_header());
/// assert_eq!(header.payload(), &[0x11, 0x90]);
///
/// // Enhanced RTMP: Opus coded frames
/// let header = AudioTagHeader::parse(b"\x91Opus\xfc\xff")?;
/// assert_eq!(header.codec(), TagCodec::FourCc(FourCc::OPUS));
/// assert_eq!(header.packet_type(), Some(AudioPacketType::CodedFrames));
/// assert_eq!(header.header_len(), 5);
/// # Ok::<(), onair_flv::FlvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagHeader<'a> {
    body: &'a [u8],
    timestamp_nano_offset: Option<u32>,
    layout: Layout,
    payload_at: usize,
    payload_end: usize,
}

impl<'a> AudioTagHeader<'a> {
    /// Reads the header at the start of an audio tag body.
    pub fn parse(body: &'a [u8]) -> Result<Self, FlvError> {
        let mut c = Cursor::new(body);
        let b0 = c.u8("audio tag header")?;
        let sound_format = b0 >> 4;
        let flags = b0 & 0x0f;
        let at = |layout, c: &Cursor<'_>, nanos| Self {
            body,
            timestamp_nano_offset: nanos,
            layout,
            payload_at: c.pos(),
            payload_end: body.len(),
        };
        if sound_format == AAC {
            let packet_type = AudioPacketType::from_aac_bits(c.u8("aac packet type")?)?;
            return Ok(at(Layout::Aac { flags, packet_type }, &c, None));
        }
        if sound_format != EX_HEADER {
            let layout = Layout::Legacy {
                sound_format,
                flags,
            };
            return Ok(at(layout, &c, None));
        }
        let (packet_type, nanos) = read_mod_ex(flags, &mut c)?;
        if packet_type == MULTITRACK {
            let tracks_at = c.pos();
            let mut tracks = TrackList::read(&mut c)?;
            let kind = tracks.kind();
            let inner_type = tracks.packet_type;
            let first = tracks.read_track()?;
            let layout = Layout::Multitrack {
                kind,
                fourcc: first.fourcc,
                track_id: first.track_id,
                packet_type: AudioPacketType::from_bits(inner_type)?,
                tracks_at,
            };
            return Ok(Self {
                body,
                timestamp_nano_offset: nanos,
                layout,
                payload_at: first.body_at,
                payload_end: first.body_at + first.body.len(),
            });
        }
        let fourcc = c.fourcc()?;
        let packet_type = AudioPacketType::from_bits(packet_type)?;
        Ok(at(
            Layout::Enhanced {
                fourcc,
                packet_type,
            },
            &c,
            nanos,
        ))
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether the header is the extended one of Enhanced RTMP.
    pub fn is_enhanced(&self) -> bool {
        matches!(
            self.layout,
            Layout::Enhanced { .. } | Layout::Multitrack { .. }
        )
    }

    /// The codec: the legacy `SoundFormat` or the FourCC.
    pub fn codec(&self) -> TagCodec {
        match self.layout {
            Layout::Legacy { sound_format, .. } => TagCodec::Legacy(sound_format),
            Layout::Aac { .. } => TagCodec::Legacy(AAC),
            Layout::Enhanced { fourcc, .. } | Layout::Multitrack { fourcc, .. } => {
                TagCodec::FourCc(fourcc)
            }
        }
    }

    /// The low nibble of a legacy header byte: `SoundRate` (2 bits), `SoundSize`,
    /// `SoundType`; `None` for Enhanced RTMP.
    pub fn flags(&self) -> Option<u8> {
        match self.layout {
            Layout::Legacy { flags, .. } | Layout::Aac { flags, .. } => Some(flags),
            Layout::Enhanced { .. } | Layout::Multitrack { .. } => None,
        }
    }

    /// The packet type; `None` for legacy formats other than AAC, whose packets have none.
    pub fn packet_type(&self) -> Option<AudioPacketType> {
        match self.layout {
            Layout::Aac { packet_type, .. }
            | Layout::Enhanced { packet_type, .. }
            | Layout::Multitrack { packet_type, .. } => Some(packet_type),
            Layout::Legacy { .. } => None,
        }
    }

    /// Whether the payload is the codec configuration (AAC sequence header,
    /// `SequenceStart`).
    pub fn is_sequence_header(&self) -> bool {
        self.packet_type() == Some(AudioPacketType::SequenceStart)
    }

    /// Whether the payload configures the decoder: a sequence header or a multichannel
    /// configuration.
    pub fn is_decoder_config(&self) -> bool {
        matches!(
            self.packet_type(),
            Some(AudioPacketType::SequenceStart | AudioPacketType::MultichannelConfig)
        )
    }

    /// Nanoseconds to add to the millisecond timestamp (Enhanced RTMP `ModEx`
    /// TimestampOffsetNano); `None` when absent.
    pub fn timestamp_nano_offset(&self) -> Option<u32> {
        self.timestamp_nano_offset
    }

    /// The multitrack layout of an Enhanced RTMP multitrack packet.
    pub fn multitrack(&self) -> Option<MultitrackType> {
        match self.layout {
            Layout::Multitrack { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// The track the payload belongs to: the first track's id of a multitrack packet, else 0.
    pub fn track_id(&self) -> u8 {
        match self.layout {
            Layout::Multitrack { track_id, .. } => track_id,
            _ => 0,
        }
    }

    /// Bytes before the payload.
    pub fn header_len(&self) -> usize {
        self.payload_at
    }

    /// What follows the header (for multitrack, the first track's payload only).
    pub fn payload(&self) -> &'a [u8] {
        &self.body[self.payload_at..self.payload_end]
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    #[test]
    fn legacy() {
        let h = AudioTagHeader::parse(&hex!("af 01 21")).unwrap();
        assert_eq!((h.codec(), h.flags()), (TagCodec::Legacy(10), Some(0xf)));
        assert_eq!(h.packet_type(), Some(AudioPacketType::CodedFrames));
        assert!(!h.is_enhanced() && !h.is_decoder_config());
        assert_eq!((h.header_len(), h.payload()), (2, &[0x21][..]));
        // MP3: no packet type, the frame follows the first byte
        let h = AudioTagHeader::parse(&hex!("2e fffb")).unwrap();
        assert_eq!((h.codec(), h.flags()), (TagCodec::Legacy(2), Some(0xe)));
        assert_eq!((h.packet_type(), h.header_len()), (None, 1));
    }

    #[test]
    fn enhanced() {
        let h = AudioTagHeader::parse(&hex!("94 65632d33 01 06 0000003f")).unwrap();
        assert_eq!(h.codec(), TagCodec::FourCc(FourCc::EAC3));
        assert_eq!(h.packet_type(), Some(AudioPacketType::MultichannelConfig));
        assert!(h.is_decoder_config() && !h.is_sequence_header());
        assert_eq!(h.flags(), None);
        // ModEx, then SequenceStart
        let h = AudioTagHeader::parse(&hex!("97 02 000009 00 4f707573 01")).unwrap();
        assert_eq!(h.timestamp_nano_offset(), Some(9));
        assert!(h.is_sequence_header());
        assert_eq!(h.payload(), &[1]);
        // multitrack: the first track
        let h = AudioTagHeader::parse(&hex!("95 11 4f707573 02 000001 aa 03 000000")).unwrap();
        assert_eq!(h.multitrack(), Some(MultitrackType::ManyTracks));
        assert_eq!((h.track_id(), h.payload()), (2, &[0xaa][..]));
        assert_eq!(h.header_len(), 10);
    }

    #[test]
    fn short_and_invalid_headers_are_errors() {
        let err = |b: &[u8]| AudioTagHeader::parse(b).unwrap_err();
        assert_eq!(
            err(&[]),
            FlvError::NotEnoughData {
                what: "audio tag header",
                needed: 1,
                available: 0
            }
        );
        assert_eq!(
            err(&hex!("af")),
            FlvError::NotEnoughData {
                what: "aac packet type",
                needed: 1,
                available: 0
            }
        );
        assert_eq!(
            err(&hex!("af 02")),
            FlvError::Unsupported {
                what: "aac packet type",
                value: 2
            }
        );
        assert_eq!(
            err(&hex!("93 4f707573")),
            FlvError::Unsupported {
                what: "audio packet type",
                value: 3
            }
        );
        assert_eq!(
            err(&hex!("95 20 4f70")),
            FlvError::NotEnoughData {
                what: "fourcc",
                needed: 4,
                available: 2
            }
        );
    }
}
