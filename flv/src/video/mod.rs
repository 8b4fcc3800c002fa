//! Video tag bodies (FLV 10.1 annex E.4.3 `VIDEODATA`, Enhanced RTMP v2 "Enhancing Video"),
//! which are also the payloads of RTMP video messages (type 9).
//!
//! [`VideoTagHeader`] reads the header in place; [`VideoTag`] is the whole body as values,
//! parsed and written back byte for byte, payloads as [`Bytes`] slices of the input.

use bytes::{BufMut, Bytes, BytesMut};

use crate::cursor::Cursor;
use crate::ex_header::{put_ex_header, write_multitrack, Multitrack, TrackList};
use crate::{FlvError, FourCc};
use header::{Layout, AVC, MULTITRACK};

mod enhanced;
mod header;
mod legacy;

pub use enhanced::VideoPacket;
pub use header::VideoTagHeader;
pub use legacy::AvcPacket;

/// `VideoFrameType` (FLV annex E.4.3.1; Enhanced RTMP keeps the same values in 3 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoFrameType {
    /// 1: a keyframe (random access point).
    Keyframe,
    /// 2: an inter frame.
    Interframe,
    /// 3: a disposable inter frame (H.263 only).
    DisposableInterframe,
    /// 4: a generated keyframe (server use).
    GeneratedKeyframe,
    /// 5: a video info / command frame.
    Command,
}

impl VideoFrameType {
    pub(crate) fn from_bits(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            1 => VideoFrameType::Keyframe,
            2 => VideoFrameType::Interframe,
            3 => VideoFrameType::DisposableInterframe,
            4 => VideoFrameType::GeneratedKeyframe,
            5 => VideoFrameType::Command,
            other => {
                return Err(FlvError::Unsupported {
                    what: "video frame type",
                    value: other.into(),
                })
            }
        })
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            VideoFrameType::Keyframe => 1,
            VideoFrameType::Interframe => 2,
            VideoFrameType::DisposableInterframe => 3,
            VideoFrameType::GeneratedKeyframe => 4,
            VideoFrameType::Command => 5,
        }
    }
}

/// What a video packet holds (Enhanced RTMP `VideoPacketType`; legacy AVC's `AVCPacketType`
/// 0-2 are the first three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPacketType {
    /// 0: the decoder configuration record (AVC sequence header).
    SequenceStart,
    /// 1: coded frames, with a composition time offset for AVC and HEVC.
    CodedFrames,
    /// 2: end of sequence.
    SequenceEnd,
    /// 3: coded frames with an implicit composition time offset of 0.
    CodedFramesX,
    /// 4: AMF-encoded metadata (e.g. `colorInfo`).
    Metadata,
    /// 5: an MPEG-2 TS descriptor based configuration.
    Mpeg2TsSequenceStart,
}

impl VideoPacketType {
    /// `VideoPacketType` 4, the one packet a command frame may carry instead of a command.
    pub(crate) const METADATA: u8 = 4;

    pub(crate) fn from_bits(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => VideoPacketType::SequenceStart,
            1 => VideoPacketType::CodedFrames,
            2 => VideoPacketType::SequenceEnd,
            3 => VideoPacketType::CodedFramesX,
            4 => VideoPacketType::Metadata,
            5 => VideoPacketType::Mpeg2TsSequenceStart,
            other => {
                return Err(FlvError::Unsupported {
                    what: "video packet type",
                    value: other.into(),
                })
            }
        })
    }

    /// The legacy `AVCPacketType`.
    pub(crate) fn from_avc_bits(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => VideoPacketType::SequenceStart,
            1 => VideoPacketType::CodedFrames,
            2 => VideoPacketType::SequenceEnd,
            other => {
                return Err(FlvError::Unsupported {
                    what: "avc packet type",
                    value: other.into(),
                })
            }
        })
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            VideoPacketType::SequenceStart => 0,
            VideoPacketType::CodedFrames => 1,
            VideoPacketType::SequenceEnd => 2,
            VideoPacketType::CodedFramesX => 3,
            VideoPacketType::Metadata => 4,
            VideoPacketType::Mpeg2TsSequenceStart => 5,
        }
    }
}

/// The body of a video tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoBody {
    /// Legacy AVC (`CodecID` 7).
    Avc(AvcPacket),
    /// Another legacy codec (Sorenson H.263, Screen video, VP6, ...): payload as is.
    Legacy {
        /// The `CodecID` (never 7).
        codec_id: u8,
        /// The payload after the header byte.
        data: Bytes,
    },
    /// A command frame (frame type 5): one command byte (0 start seek, 1 end seek).
    Command(u8),
    /// Enhanced RTMP, one track.
    Enhanced {
        /// The codec.
        fourcc: FourCc,
        /// The packet.
        packet: VideoPacket,
    },
    /// Enhanced RTMP multitrack.
    Multitrack(Multitrack<VideoPacket>),
}

/// A video tag body (RTMP video message payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    /// Keyframe, inter frame or command frame.
    pub frame_type: VideoFrameType,
    /// Nanoseconds to add to the millisecond timestamp (Enhanced RTMP `ModEx`
    /// TimestampOffsetNano, 0-999999); `None` when absent.
    pub timestamp_nano_offset: Option<u32>,
    /// What follows the header.
    pub body: VideoBody,
}

impl VideoTag {
    /// Parses a video tag body; payloads are slices of `data`.
    pub fn parse(data: &Bytes) -> Result<Self, FlvError> {
        let header = VideoTagHeader::parse_with(data, false)?;
        let payload = || data.slice(header.header_len()..);
        let body = match header.layout() {
            Layout::Legacy { codec_id } => VideoBody::Legacy {
                codec_id,
                data: payload(),
            },
            Layout::Avc {
                packet_type,
                composition_time,
                ..
            } => VideoBody::Avc(AvcPacket::from_header(
                packet_type,
                composition_time,
                payload(),
            )),
            Layout::Command { .. } => VideoBody::Command(header.payload()[0]),
            Layout::Enhanced {
                fourcc,
                packet_type,
                composition_time,
            } => VideoBody::Enhanced {
                fourcc,
                packet: VideoPacket::from_header(packet_type, composition_time, payload()),
            },
            Layout::Multitrack {
                packet_type,
                tracks_at,
                ..
            } => {
                let mut c = Cursor::at(data, tracks_at);
                let tracks = TrackList::read(&mut c)?;
                VideoBody::Multitrack(tracks.collect(|fourcc, body| {
                    VideoPacket::parse_track(packet_type, fourcc, data, body)
                })?)
            }
        };
        Ok(VideoTag {
            frame_type: header.frame_type(),
            timestamp_nano_offset: header.timestamp_nano_offset(),
            body,
        })
    }

    /// Appends the tag body to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        let ft = self.frame_type.bits();
        match &self.body {
            VideoBody::Avc(p) => {
                out.put_u8((ft << 4) | AVC);
                p.write(out);
            }
            VideoBody::Legacy { codec_id, data } => {
                out.put_u8((ft << 4) | (codec_id & 0x0f));
                out.put_slice(data);
            }
            VideoBody::Command(c) => {
                if let Some(nanos) = self.timestamp_nano_offset {
                    // an enhanced command frame; the packet type is irrelevant but not Metadata
                    put_ex_header(0x80 | (ft << 4), 0, Some(nanos), out);
                } else {
                    out.put_u8(ft << 4);
                }
                out.put_u8(*c);
            }
            VideoBody::Enhanced { fourcc, packet } => {
                put_ex_header(
                    0x80 | (ft << 4),
                    packet.packet_type().bits(),
                    self.timestamp_nano_offset,
                    out,
                );
                out.put_slice(&fourcc.0);
                packet.write_body(*fourcc, out);
            }
            VideoBody::Multitrack(m) => {
                put_ex_header(
                    0x80 | (ft << 4),
                    MULTITRACK,
                    self.timestamp_nano_offset,
                    out,
                );
                let inner = m
                    .tracks
                    .first()
                    .map_or(1, |t| t.packet.packet_type().bits());
                write_multitrack(m, inner, out, |t, out| t.packet.write_body(t.fourcc, out));
            }
        }
    }

    /// Whether this is a keyframe (or generated keyframe) carrying coded video.
    pub fn is_keyframe(&self) -> bool {
        matches!(
            self.frame_type,
            VideoFrameType::Keyframe | VideoFrameType::GeneratedKeyframe
        )
    }

    /// Whether this carries a decoder configuration (AVC sequence header or SequenceStart).
    pub fn is_sequence_header(&self) -> bool {
        match &self.body {
            VideoBody::Avc(AvcPacket::SequenceHeader(_)) => true,
            VideoBody::Enhanced { packet, .. } => {
                matches!(packet, VideoPacket::SequenceStart(_))
            }
            VideoBody::Multitrack(m) => m
                .tracks
                .iter()
                .any(|t| matches!(t.packet, VideoPacket::SequenceStart(_))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;
    use crate::ex_header::{MultitrackType, Track};

    fn round_trip_video(bytes: &[u8]) -> VideoTag {
        let input = Bytes::copy_from_slice(bytes);
        let tag = VideoTag::parse(&input).unwrap();
        let mut out = BytesMut::new();
        tag.write(&mut out);
        assert_eq!(&out[..], bytes, "{tag:?}");
        tag
    }

    #[test]
    fn legacy_avc() {
        let tag = round_trip_video(&hex!("17 00 000000 01640028ff"));
        assert!(tag.is_keyframe() && tag.is_sequence_header());
        assert_eq!(
            tag.body,
            VideoBody::Avc(AvcPacket::SequenceHeader(Bytes::from_static(&hex!(
                "01640028ff"
            ))))
        );
        // negative composition time -2 ms
        let tag = round_trip_video(&hex!("27 01 fffffe 00000001 41"));
        assert_eq!(tag.frame_type, VideoFrameType::Interframe);
        assert_eq!(
            tag.body,
            VideoBody::Avc(AvcPacket::Nalu {
                composition_time: -2,
                data: Bytes::from_static(&hex!("00000001 41"))
            })
        );
        let tag = round_trip_video(&hex!("17 02 000000"));
        assert_eq!(tag.body, VideoBody::Avc(AvcPacket::EndOfSequence));
        let tag = round_trip_video(&hex!("22 aabb"));
        assert_eq!(
            tag.body,
            VideoBody::Legacy {
                codec_id: 2,
                data: Bytes::from_static(&hex!("aabb"))
            }
        );
        assert_eq!(round_trip_video(&hex!("50 01")).body, VideoBody::Command(1));
    }

    #[test]
    fn payload_is_a_slice_of_the_input() {
        let input = Bytes::from_static(&hex!("27 01 000010 00000001 41"));
        let tag = VideoTag::parse(&input).unwrap();
        let VideoBody::Avc(AvcPacket::Nalu { data, .. }) = tag.body else {
            panic!()
        };
        assert_eq!(data.as_ptr(), input[5..].as_ptr());
    }

    #[test]
    fn enhanced_video() {
        // keyframe, SequenceStart, hvc1
        let tag = round_trip_video(&hex!("90 68766331 0102"));
        assert_eq!(
            tag.body,
            VideoBody::Enhanced {
                fourcc: FourCc::HVC1,
                packet: VideoPacket::SequenceStart(Bytes::from_static(&[1, 2]))
            }
        );
        assert!(tag.is_sequence_header());
        // inter, CodedFrames hvc1 with cts 40
        let tag = round_trip_video(&hex!("a1 68766331 000028 00000002 0201"));
        assert_eq!(
            tag.body,
            VideoBody::Enhanced {
                fourcc: FourCc::HVC1,
                packet: VideoPacket::CodedFrames {
                    composition_time: 40,
                    data: Bytes::from_static(&hex!("00000002 0201"))
                }
            }
        );
        // av01 CodedFrames has no composition time
        let tag = round_trip_video(&hex!("91 61763031 0a0b"));
        assert_eq!(
            tag.body,
            VideoBody::Enhanced {
                fourcc: FourCc::AV01,
                packet: VideoPacket::CodedFrames {
                    composition_time: 0,
                    data: Bytes::from_static(&hex!("0a0b"))
                }
            }
        );
        round_trip_video(&hex!("93 76703039 ff"));
        round_trip_video(&hex!("92 76703039"));
        round_trip_video(&hex!("94 61763031 0200"));
        round_trip_video(&hex!("95 61763031 01"));
        // ModEx: TimestampOffsetNano 0x000102 then CodedFramesX
        let tag = round_trip_video(&hex!("97 02 000102 03 61766331 aa"));
        assert_eq!(tag.timestamp_nano_offset, Some(0x102));
        assert_eq!(
            tag.body,
            VideoBody::Enhanced {
                fourcc: FourCc::AVC1,
                packet: VideoPacket::CodedFramesX(Bytes::from_static(&[0xaa]))
            }
        );
        // enhanced command frame
        let tag = VideoTag::parse(&Bytes::from_static(&hex!("d1 00"))).unwrap();
        assert_eq!(tag.body, VideoBody::Command(0));
    }

    #[test]
    fn video_multitrack() {
        // OneTrack, CodedFramesX, av01, track 3
        let tag = round_trip_video(&hex!("96 03 61763031 03 aabb"));
        assert_eq!(
            tag.body,
            VideoBody::Multitrack(Multitrack {
                kind: MultitrackType::OneTrack,
                tracks: vec![Track {
                    track_id: 3,
                    fourcc: FourCc::AV01,
                    packet: VideoPacket::CodedFramesX(Bytes::from_static(&hex!("aabb")))
                }]
            })
        );
        // ManyTracks, CodedFrames, hvc1: tracks 0 and 1, each with cts
        let tag = round_trip_video(&hex!(
            "96 11 68766331 00 000004 000001 aa 01 000005 000002 bbcc"
        ));
        let VideoBody::Multitrack(m) = &tag.body else {
            panic!()
        };
        assert_eq!(m.tracks.len(), 2);
        assert_eq!(
            m.tracks[1].packet,
            VideoPacket::CodedFrames {
                composition_time: 2,
                data: Bytes::from_static(&hex!("bbcc"))
            }
        );
        // ManyTracksManyCodecs: SequenceStart for av01 track 0 and vp09 track 1
        let tag = round_trip_video(&hex!("96 20 61763031 00 000001 81 76703039 01 000002 0102"));
        let VideoBody::Multitrack(m) = &tag.body else {
            panic!()
        };
        assert_eq!(m.tracks[1].fourcc, FourCc::VP09);
        assert!(tag.is_sequence_header());
        // a track size beyond the data
        assert_eq!(
            VideoTag::parse(&Bytes::from_static(&hex!("96 11 68766331 00 000009 00"))),
            Err(FlvError::NotEnoughData {
                what: "multitrack track",
                needed: 9,
                available: 1
            })
        );
    }
}
