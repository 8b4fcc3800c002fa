//! [`VideoTagHeader`]: the header of a video tag body read in place, legacy (FLV 10.1 annex
//! E.4.3.1 `VIDEODATA`) or extended (Enhanced RTMP v2 `ExVideoTagHeader`).

use std::ops::Range;

use super::{VideoFrameType, VideoPacketType};
use crate::cursor::Cursor;
use crate::ex_header::{read_mod_ex, MultitrackType, TrackList};
use crate::{FlvError, FourCc, TagCodec};

/// Legacy `CodecID` of AVC.
pub(crate) const AVC: u8 = 7;
/// Legacy `CodecID` 12: HEVC as the extension that predates Enhanced RTMP sends it (Chinese
/// CDNs, SRS), with the AVC packet layout.
pub(crate) const LEGACY_HEVC: u8 = 12;
/// `VideoPacketType` of a multitrack packet; never the type of a packet itself.
pub(crate) const MULTITRACK: u8 = 6;

/// How the body goes on after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A legacy codec whose payload follows the header byte as is.
    Legacy { codec_id: u8 },
    /// Legacy AVC (or HEVC as codec 12): `AVCPacketType` and `CompositionTime`.
    Avc {
        codec_id: u8,
        packet_type: VideoPacketType,
        composition_time: i32,
    },
    /// A command frame: the payload is the command byte.
    Command { codec_id: Option<u8> },
    /// Enhanced RTMP, one track.
    Enhanced {
        fourcc: FourCc,
        packet_type: VideoPacketType,
        composition_time: i32,
    },
    /// Enhanced RTMP multitrack; the header and payload are those of the first track.
    Multitrack {
        kind: MultitrackType,
        fourcc: FourCc,
        track_id: u8,
        packet_type: VideoPacketType,
        composition_time: i32,
        /// Offset of the multitrack byte, where the track list starts.
        tracks_at: usize,
    },
}

/// The header of a video tag body (an RTMP video message payload), read in place: no copy,
/// no allocation. Parsing checks every header field up to the payload; the accessors are then
/// plain reads.
///
/// Legacy AVC answers with the Enhanced RTMP names: `AVCPacketType` 0, 1 and 2 are
/// [`SequenceStart`](VideoPacketType::SequenceStart),
/// [`CodedFrames`](VideoPacketType::CodedFrames) and
/// [`SequenceEnd`](VideoPacketType::SequenceEnd), as the specification maps them. Legacy
/// codec 12 (HEVC before Enhanced RTMP) is read with the AVC layout. For a multitrack packet
/// the codec, packet, composition time and payload are those of the first track;
/// [`VideoTag::parse`](crate::VideoTag::parse) gives every track.
///
/// ```
/// use onair_flv::{TagCodec, VideoPacketType, VideoTagHeader};
///
/// // legacy AVC keyframe, NAL units presented 40 ms after their decode time
/// let body = [0x17, 0x01, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88];
/// let header = VideoTagHeader::parse(&body)?;
/// assert!(header.is_keyframe() && !header.is_sequence_header());
/// assert_eq!(header.codec(), Some(TagCodec::Legacy(7)));
/// assert_eq!(header.packet_type(), Some(VideoPacketType::CodedFrames));
/// assert_eq!(header.composition_time(), 40);
/// assert_eq!((header.header_len(), header.payload()), (5, &body[5..]));
///
/// // Enhanced RTMP: HEVC decoder configuration
/// let header = VideoTagHeader::parse(b"\x90hvc1\x01")?;
/// assert_eq!(header.codec(), Some(TagCodec::FourCc(onair_flv::FourCc::HVC1)));
/// assert!(header.is_sequence_header());
/// # Ok::<(), onair_flv::FlvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagHeader<'a> {
    body: &'a [u8],
    frame_type: VideoFrameType,
    timestamp_nano_offset: Option<u32>,
    layout: Layout,
    payload_at: usize,
    payload_end: usize,
}

impl<'a> VideoTagHeader<'a> {
    /// Reads the header at the start of a video tag body.
    pub fn parse(body: &'a [u8]) -> Result<Self, FlvError> {
        Self::parse_with(body, true)
    }

    /// `legacy_hevc`: whether codec 12 is read with the AVC layout (else its payload is
    /// opaque, as [`VideoTag`](crate::VideoTag) keeps it).
    pub(crate) fn parse_with(body: &'a [u8], legacy_hevc: bool) -> Result<Self, FlvError> {
        let mut c = Cursor::new(body);
        let b0 = c.u8("video tag header")?;
        let (frame_type, nanos, layout, payload) = if b0 & 0x80 == 0 {
            let frame_type = VideoFrameType::from_bits(b0 >> 4)?;
            let (layout, payload) = legacy(frame_type, b0 & 0x0f, legacy_hevc, c)?;
            (frame_type, None, layout, payload)
        } else {
            let frame_type = VideoFrameType::from_bits((b0 >> 4) & 0x07)?;
            let (packet_type, nanos) = read_mod_ex(b0 & 0x0f, &mut c)?;
            let (layout, payload) = enhanced(frame_type, packet_type, c)?;
            (frame_type, nanos, layout, payload)
        };
        Ok(Self {
            body,
            frame_type,
            timestamp_nano_offset: nanos,
            layout,
            payload_at: payload.start,
            payload_end: payload.end,
        })
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Keyframe, inter frame, command frame, ...
    pub fn frame_type(&self) -> VideoFrameType {
        self.frame_type
    }

    /// Whether this is a keyframe or generated keyframe (a random access point).
    pub fn is_keyframe(&self) -> bool {
        matches!(
            self.frame_type,
            VideoFrameType::Keyframe | VideoFrameType::GeneratedKeyframe
        )
    }

    /// Whether the header is the extended one of Enhanced RTMP.
    pub fn is_enhanced(&self) -> bool {
        self.body.first().is_some_and(|b| b & 0x80 != 0)
    }

    /// The codec: the legacy `CodecID` or the FourCC. `None` for an Enhanced RTMP command
    /// frame, which names none.
    pub fn codec(&self) -> Option<TagCodec> {
        match self.layout {
            Layout::Legacy { codec_id } | Layout::Avc { codec_id, .. } => {
                Some(TagCodec::Legacy(codec_id))
            }
            Layout::Command { codec_id } => codec_id.map(TagCodec::Legacy),
            Layout::Enhanced { fourcc, .. } | Layout::Multitrack { fourcc, .. } => {
                Some(TagCodec::FourCc(fourcc))
            }
        }
    }

    /// The packet type; `None` for command frames and legacy codecs other than AVC (and
    /// HEVC as codec 12), whose packets have none.
    pub fn packet_type(&self) -> Option<VideoPacketType> {
        match self.layout {
            Layout::Avc { packet_type, .. }
            | Layout::Enhanced { packet_type, .. }
            | Layout::Multitrack { packet_type, .. } => Some(packet_type),
            Layout::Legacy { .. } | Layout::Command { .. } => None,
        }
    }

    /// Whether the payload is a decoder configuration record (AVC sequence header,
    /// `SequenceStart`).
    pub fn is_sequence_header(&self) -> bool {
        self.packet_type() == Some(VideoPacketType::SequenceStart)
    }

    /// Whether the payload configures the decoder in any form: a sequence header or an
    /// MPEG-2 TS descriptor based configuration (`MPEG2TSSequenceStart`).
    pub fn is_decoder_config(&self) -> bool {
        matches!(
            self.packet_type(),
            Some(VideoPacketType::SequenceStart | VideoPacketType::Mpeg2TsSequenceStart)
        )
    }

    /// The composition time offset (PTS - DTS) in milliseconds; 0 where the packet carries
    /// none (codecs other than AVC and HEVC, `CodedFramesX`, configuration packets of
    /// Enhanced RTMP).
    pub fn composition_time(&self) -> i32 {
        match self.layout {
            Layout::Avc {
                composition_time, ..
            }
            | Layout::Enhanced {
                composition_time, ..
            }
            | Layout::Multitrack {
                composition_time, ..
            } => composition_time,
            Layout::Legacy { .. } | Layout::Command { .. } => 0,
        }
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

    /// What follows the header: coded data, a configuration record, the command byte of a
    /// command frame (and, for multitrack, the first track's payload only).
    pub fn payload(&self) -> &'a [u8] {
        &self.body[self.payload_at..self.payload_end]
    }
}

/// The layout after a legacy header byte, and where the payload lies. `c` is past that byte.
fn legacy(
    frame_type: VideoFrameType,
    codec_id: u8,
    legacy_hevc: bool,
    mut c: Cursor<'_>,
) -> Result<(Layout, Range<usize>), FlvError> {
    if frame_type == VideoFrameType::Command {
        return command(Some(codec_id), c);
    }
    let layout = if codec_id == AVC || (legacy_hevc && codec_id == LEGACY_HEVC) {
        let packet_type = c.u8("avc packet type")?;
        let composition_time = c.si24("avc composition time")?;
        Layout::Avc {
            codec_id,
            packet_type: VideoPacketType::from_avc_bits(packet_type)?,
            composition_time,
        }
    } else {
        Layout::Legacy { codec_id }
    };
    Ok((layout, c.pos()..c.end()))
}

/// The layout after an extended header byte (and any `ModEx`) whose packet type is
/// `packet_type`, and where the payload lies.
fn enhanced(
    frame_type: VideoFrameType,
    packet_type: u8,
    mut c: Cursor<'_>,
) -> Result<(Layout, Range<usize>), FlvError> {
    if frame_type == VideoFrameType::Command && packet_type != VideoPacketType::METADATA {
        return command(None, c);
    }
    if packet_type == MULTITRACK {
        let tracks_at = c.pos();
        let mut tracks = TrackList::read(&mut c)?;
        let kind = tracks.kind();
        let inner_type = tracks.packet_type;
        let first = tracks.read_track()?;
        let packet_type = VideoPacketType::from_bits(inner_type)?;
        let mut track = Cursor::new(first.body);
        let composition_time = read_composition_time(packet_type, first.fourcc, &mut track)?;
        let layout = Layout::Multitrack {
            kind,
            fourcc: first.fourcc,
            track_id: first.track_id,
            packet_type,
            composition_time,
            tracks_at,
        };
        let payload = first.body_at + track.pos()..first.body_at + first.body.len();
        return Ok((layout, payload));
    }
    let fourcc = c.fourcc()?;
    let packet_type = VideoPacketType::from_bits(packet_type)?;
    let composition_time = read_composition_time(packet_type, fourcc, &mut c)?;
    let layout = Layout::Enhanced {
        fourcc,
        packet_type,
        composition_time,
    };
    Ok((layout, c.pos()..c.end()))
}

/// A command frame: the payload is the command byte (0 start of seek, 1 end of seek).
fn command(codec_id: Option<u8>, mut c: Cursor<'_>) -> Result<(Layout, Range<usize>), FlvError> {
    let at = c.pos();
    c.u8("video command")?;
    Ok((Layout::Command { codec_id }, at..c.end()))
}

/// The `CompositionTime` that `CodedFrames` of AVC and HEVC carry before their data.
pub(crate) fn read_composition_time(
    packet_type: VideoPacketType,
    fourcc: FourCc,
    c: &mut Cursor<'_>,
) -> Result<i32, FlvError> {
    if packet_type == VideoPacketType::CodedFrames
        && (fourcc == FourCc::AVC1 || fourcc == FourCc::HVC1)
    {
        c.si24("video composition time")
    } else {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    #[test]
    fn legacy() {
        let body = hex!("27 01 fffffe 00000001 41");
        let h = VideoTagHeader::parse(&body).unwrap();
        assert_eq!(h.frame_type(), VideoFrameType::Interframe);
        assert!(!h.is_keyframe() && !h.is_enhanced() && !h.is_decoder_config());
        assert_eq!(h.composition_time(), -2);
        assert_eq!((h.header_len(), h.payload()), (5, &body[5..]));
        // another legacy codec: no packet type, the payload follows the first byte
        let h = VideoTagHeader::parse(&hex!("22 aabb")).unwrap();
        assert_eq!(h.codec(), Some(TagCodec::Legacy(2)));
        assert_eq!((h.packet_type(), h.payload()), (None, &hex!("aabb")[..]));
        // HEVC as codec 12 has the AVC layout
        let h = VideoTagHeader::parse(&hex!("1c 00 000000 01")).unwrap();
        assert!(h.is_keyframe() && h.is_sequence_header());
        assert_eq!(h.payload(), &[1]);
        // a command frame: the payload is the command
        let h = VideoTagHeader::parse(&hex!("50 01")).unwrap();
        assert_eq!(
            (h.frame_type(), h.packet_type()),
            (VideoFrameType::Command, None)
        );
        assert_eq!(h.payload(), &[1]);
    }

    #[test]
    fn enhanced() {
        let body = hex!("a1 68766331 000028 00000002 0201");
        let h = VideoTagHeader::parse(&body).unwrap();
        assert!(h.is_enhanced() && !h.is_keyframe());
        assert_eq!(h.codec(), Some(TagCodec::FourCc(FourCc::HVC1)));
        assert_eq!(h.packet_type(), Some(VideoPacketType::CodedFrames));
        assert_eq!((h.composition_time(), h.header_len()), (40, 8));
        // av01 carries no composition time
        let h = VideoTagHeader::parse(&hex!("91 61763031 0a0b")).unwrap();
        assert_eq!((h.composition_time(), h.header_len()), (0, 5));
        // MPEG-2 TS configuration: a decoder configuration, not a sequence header
        let h = VideoTagHeader::parse(&hex!("95 61763031 01")).unwrap();
        assert!(h.is_decoder_config() && !h.is_sequence_header());
        // ModEx: TimestampOffsetNano 0x000102, then CodedFramesX
        let h = VideoTagHeader::parse(&hex!("97 02 000102 03 61766331 aa")).unwrap();
        assert_eq!(h.timestamp_nano_offset(), Some(0x102));
        assert_eq!(h.packet_type(), Some(VideoPacketType::CodedFramesX));
        assert_eq!(h.payload(), &[0xaa]);
        // an enhanced command frame names no codec
        let h = VideoTagHeader::parse(&hex!("d1 00")).unwrap();
        assert_eq!((h.codec(), h.payload()), (None, &[0][..]));
    }

    #[test]
    fn multitrack_describes_the_first_track() {
        let body = hex!("96 11 68766331 00 000004 000001 aa 01 000005 000002 bbcc");
        let h = VideoTagHeader::parse(&body).unwrap();
        assert_eq!(h.multitrack(), Some(MultitrackType::ManyTracks));
        assert_eq!((h.track_id(), h.composition_time()), (0, 1));
        assert_eq!(h.payload(), &[0xaa]);
        assert_eq!(h.header_len(), 13);
        let h = VideoTagHeader::parse(&hex!("96 20 61763031 03 000001 81")).unwrap();
        assert_eq!(h.codec(), Some(TagCodec::FourCc(FourCc::AV01)));
        assert_eq!(h.track_id(), 3);
        assert!(h.is_sequence_header());
    }

    #[test]
    fn short_and_invalid_headers_are_errors() {
        let err = |b: &[u8]| VideoTagHeader::parse(b).unwrap_err();
        assert_eq!(
            err(&[]),
            FlvError::NotEnoughData {
                what: "video tag header",
                needed: 1,
                available: 0
            }
        );
        assert_eq!(
            err(&hex!("17 01 00")),
            FlvError::NotEnoughData {
                what: "avc composition time",
                needed: 3,
                available: 1
            }
        );
        assert_eq!(
            err(&hex!("17 03 000000")),
            FlvError::Unsupported {
                what: "avc packet type",
                value: 3
            }
        );
        assert_eq!(
            err(&hex!("07 00 000000")),
            FlvError::Unsupported {
                what: "video frame type",
                value: 0
            }
        );
        assert_eq!(
            err(&hex!("91 6876")),
            FlvError::NotEnoughData {
                what: "fourcc",
                needed: 4,
                available: 2
            }
        );
        assert_eq!(
            err(&hex!("a1 68766331 00")),
            FlvError::NotEnoughData {
                what: "video composition time",
                needed: 3,
                available: 1
            }
        );
        assert_eq!(
            err(&hex!("9e 68766331")),
            FlvError::Unsupported {
                what: "video packet type",
                value: 14
            }
        );
        assert_eq!(
            err(&hex!("97 05 00")),
            FlvError::NotEnoughData {
                what: "modex data",
                needed: 6,
                available: 1
            }
        );
        assert_eq!(
            err(&hex!("96 31 68766331")),
            FlvError::Unsupported {
                what: "multitrack type",
                value: 3
            }
        );
        assert_eq!(
            err(&hex!("96 11 68766331 00 000009 00")),
            FlvError::NotEnoughData {
                what: "multitrack track",
                needed: 9,
                available: 1
            }
        );
    }
}
