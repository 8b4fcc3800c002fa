//! FLV audio and video tag bodies, which are also the payloads of RTMP audio (type 8) and
//! video (type 9) messages: the legacy headers of FLV 10.1 annex E.4.2/E.4.3 and the
//! extended headers of Enhanced RTMP v2 ("Enhancing Audio", "Enhancing Video").
//!
//! Parsing never copies media: every payload is a [`Bytes`] slice of the input.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::FlvError;

/// A four-character code naming a codec in Enhanced RTMP.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// H.264.
    pub const AVC1: FourCc = FourCc(*b"avc1");
    /// H.265.
    pub const HVC1: FourCc = FourCc(*b"hvc1");
    /// AV1.
    pub const AV01: FourCc = FourCc(*b"av01");
    /// VP9.
    pub const VP09: FourCc = FourCc(*b"vp09");
    /// VP8.
    pub const VP08: FourCc = FourCc(*b"vp08");
    /// Opus.
    pub const OPUS: FourCc = FourCc(*b"Opus");
    /// AAC.
    pub const MP4A: FourCc = FourCc(*b"mp4a");
    /// MP3.
    pub const MP3: FourCc = FourCc(*b".mp3");
    /// FLAC.
    pub const FLAC: FourCc = FourCc(*b"fLaC");
    /// AC-3.
    pub const AC3: FourCc = FourCc(*b"ac-3");
    /// E-AC-3.
    pub const EAC3: FourCc = FourCc(*b"ec-3");

    /// The code as a big-endian number (how `onMetaData` and `connect` carry it).
    pub fn as_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl std::fmt::Debug for FourCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FourCc(\"{}\")", self.0.escape_ascii())
    }
}

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
    fn from_bits(v: u8) -> Result<Self, FlvError> {
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

    fn bits(self) -> u8 {
        match self {
            VideoFrameType::Keyframe => 1,
            VideoFrameType::Interframe => 2,
            VideoFrameType::DisposableInterframe => 3,
            VideoFrameType::GeneratedKeyframe => 4,
            VideoFrameType::Command => 5,
        }
    }
}

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
    fn type_bits(&self) -> u8 {
        match self {
            VideoPacket::SequenceStart(_) => 0,
            VideoPacket::CodedFrames { .. } => 1,
            VideoPacket::SequenceEnd => 2,
            VideoPacket::CodedFramesX(_) => 3,
            VideoPacket::Metadata(_) => 4,
            VideoPacket::Mpeg2TsSequenceStart(_) => 5,
        }
    }

    fn parse(packet_type: u8, fourcc: FourCc, mut data: Bytes) -> Result<Self, FlvError> {
        Ok(match packet_type {
            0 => VideoPacket::SequenceStart(data),
            1 => {
                let composition_time = if fourcc == FourCc::AVC1 || fourcc == FourCc::HVC1 {
                    si24(&take_array::<3>(&mut data, "video composition time")?)
                } else {
                    0
                };
                VideoPacket::CodedFrames {
                    composition_time,
                    data,
                }
            }
            2 => VideoPacket::SequenceEnd,
            3 => VideoPacket::CodedFramesX(data),
            4 => VideoPacket::Metadata(data),
            5 => VideoPacket::Mpeg2TsSequenceStart(data),
            other => {
                return Err(FlvError::Unsupported {
                    what: "video packet type",
                    value: other.into(),
                })
            }
        })
    }

    fn write_body(&self, fourcc: FourCc, out: &mut BytesMut) {
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

/// `AvMultitrackType` of Enhanced RTMP v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultitrackType {
    /// 0: one track, without a size field.
    OneTrack,
    /// 1: several tracks of one codec, each with a size.
    ManyTracks,
    /// 2: several tracks, each with its own codec and size.
    ManyTracksManyCodecs,
}

impl MultitrackType {
    fn from_bits(v: u8) -> Result<Self, FlvError> {
        Ok(match v {
            0 => MultitrackType::OneTrack,
            1 => MultitrackType::ManyTracks,
            2 => MultitrackType::ManyTracksManyCodecs,
            other => {
                return Err(FlvError::Unsupported {
                    what: "multitrack type",
                    value: other.into(),
                })
            }
        })
    }

    fn bits(self) -> u8 {
        match self {
            MultitrackType::OneTrack => 0,
            MultitrackType::ManyTracks => 1,
            MultitrackType::ManyTracksManyCodecs => 2,
        }
    }
}

/// One track of a multitrack packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track<P> {
    /// The track id (0 is the default track).
    pub track_id: u8,
    /// The codec of this track.
    pub fourcc: FourCc,
    /// The packet of this track.
    pub packet: P,
}

/// The tracks of a multitrack packet.
///
/// Writing assumes what parsing guarantees: every track's packet has the same packet type,
/// `OneTrack` writes only the first track and `ManyTracks` writes the first track's FourCC
/// for all. A multitrack packet without tracks is an error when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multitrack<P> {
    /// How tracks and codecs are laid out.
    pub kind: MultitrackType,
    /// The tracks in wire order.
    pub tracks: Vec<Track<P>>,
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
        let mut data = data.clone();
        let b0 = take_u8(&mut data, "video tag header")?;
        if b0 & 0x80 == 0 {
            let frame_type = VideoFrameType::from_bits(b0 >> 4)?;
            let codec_id = b0 & 0x0f;
            let body = if frame_type == VideoFrameType::Command {
                VideoBody::Command(take_u8(&mut data, "video command")?)
            } else if codec_id == 7 {
                let packet_type = take_u8(&mut data, "avc packet type")?;
                let composition_time = si24(&take_array::<3>(&mut data, "avc composition time")?);
                VideoBody::Avc(match packet_type {
                    0 => AvcPacket::SequenceHeader(data),
                    1 => AvcPacket::Nalu {
                        composition_time,
                        data,
                    },
                    2 => AvcPacket::EndOfSequence,
                    other => {
                        return Err(FlvError::Unsupported {
                            what: "avc packet type",
                            value: other.into(),
                        })
                    }
                })
            } else {
                VideoBody::Legacy { codec_id, data }
            };
            return Ok(VideoTag {
                frame_type,
                timestamp_nano_offset: None,
                body,
            });
        }
        let frame_type = VideoFrameType::from_bits((b0 >> 4) & 0x07)?;
        let (packet_type, timestamp_nano_offset) = read_mod_ex(b0 & 0x0f, &mut data)?;
        if frame_type == VideoFrameType::Command && packet_type != 4 {
            return Ok(VideoTag {
                frame_type,
                timestamp_nano_offset,
                body: VideoBody::Command(take_u8(&mut data, "video command")?),
            });
        }
        let body = if packet_type == 6 {
            let (kind, inner_type) = multitrack_header(&mut data)?;
            VideoBody::Multitrack(parse_multitrack(kind, &mut data, |fourcc, body| {
                VideoPacket::parse(inner_type, fourcc, body)
            })?)
        } else {
            let fourcc = take_fourcc(&mut data)?;
            VideoBody::Enhanced {
                fourcc,
                packet: VideoPacket::parse(packet_type, fourcc, data)?,
            }
        };
        Ok(VideoTag {
            frame_type,
            timestamp_nano_offset,
            body,
        })
    }

    /// Appends the tag body to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        let ft = self.frame_type.bits();
        match &self.body {
            VideoBody::Avc(p) => {
                out.put_u8((ft << 4) | 7);
                match p {
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
                    packet.type_bits(),
                    self.timestamp_nano_offset,
                    out,
                );
                out.put_slice(&fourcc.0);
                packet.write_body(*fourcc, out);
            }
            VideoBody::Multitrack(m) => {
                put_ex_header(0x80 | (ft << 4), 6, self.timestamp_nano_offset, out);
                let inner = m.tracks.first().map_or(1, |t| t.packet.type_bits());
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

/// A legacy AAC (`SoundFormat` 10) packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AacPacket {
    /// 0: the AudioSpecificConfig.
    SequenceHeader(Bytes),
    /// 1: one raw AAC frame.
    Raw(Bytes),
}

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
    fn type_bits(&self) -> u8 {
        match self {
            AudioPacket::SequenceStart(_) => 0,
            AudioPacket::CodedFrames(_) => 1,
            AudioPacket::SequenceEnd => 2,
            AudioPacket::MultichannelConfig { .. } => 4,
        }
    }

    fn parse(packet_type: u8, mut data: Bytes) -> Result<Self, FlvError> {
        Ok(match packet_type {
            0 => AudioPacket::SequenceStart(data),
            1 => AudioPacket::CodedFrames(data),
            2 => AudioPacket::SequenceEnd,
            4 => {
                let order = take_u8(&mut data, "audio channel order")?;
                let channel_count = take_u8(&mut data, "audio channel count")?;
                let layout = match order {
                    0 => ChannelLayout::Unspecified,
                    2 => ChannelLayout::Custom(take(
                        &mut data,
                        usize::from(channel_count),
                        "audio channel mapping",
                    )?),
                    1 => {
                        let b = take(&mut data, 4, "audio channel flags")?;
                        ChannelLayout::Native(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    }
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
            other => {
                return Err(FlvError::Unsupported {
                    what: "audio packet type",
                    value: other.into(),
                })
            }
        })
    }

    fn write_body(&self, out: &mut BytesMut) {
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
        let mut data = data.clone();
        let b0 = take_u8(&mut data, "audio tag header")?;
        let sound_format = b0 >> 4;
        let flags = b0 & 0x0f;
        if sound_format != 9 {
            let body = if sound_format == 10 {
                let packet = match take_u8(&mut data, "aac packet type")? {
                    0 => AacPacket::SequenceHeader(data),
                    1 => AacPacket::Raw(data),
                    other => {
                        return Err(FlvError::Unsupported {
                            what: "aac packet type",
                            value: other.into(),
                        })
                    }
                };
                AudioBody::Aac { flags, packet }
            } else {
                AudioBody::Legacy {
                    sound_format,
                    flags,
                    data,
                }
            };
            return Ok(AudioTag {
                timestamp_nano_offset: None,
                body,
            });
        }
        let (packet_type, timestamp_nano_offset) = read_mod_ex(flags, &mut data)?;
        let body = if packet_type == 5 {
            let (kind, inner_type) = multitrack_header(&mut data)?;
            AudioBody::Multitrack(parse_multitrack(kind, &mut data, |_, body| {
                AudioPacket::parse(inner_type, body)
            })?)
        } else {
            let fourcc = take_fourcc(&mut data)?;
            AudioBody::Enhanced {
                fourcc,
                packet: AudioPacket::parse(packet_type, data)?,
            }
        };
        Ok(AudioTag {
            timestamp_nano_offset,
            body,
        })
    }

    /// Appends the tag body to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        match &self.body {
            AudioBody::Aac { flags, packet } => {
                out.put_u8(0xa0 | (flags & 0x0f));
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
                put_ex_header(0x90, packet.type_bits(), self.timestamp_nano_offset, out);
                out.put_slice(&fourcc.0);
                packet.write_body(out);
            }
            AudioBody::Multitrack(m) => {
                put_ex_header(0x90, 5, self.timestamp_nano_offset, out);
                let inner = m.tracks.first().map_or(1, |t| t.packet.type_bits());
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

const MOD_EX: u8 = 7;
const MOD_EX_TIMESTAMP_NANO: u8 = 0;

/// Follows `ModEx` packet types until a real one, returning it and any nanosecond offset.
fn read_mod_ex(mut packet_type: u8, data: &mut Bytes) -> Result<(u8, Option<u32>), FlvError> {
    let mut nanos = None;
    while packet_type == MOD_EX {
        let mut size = usize::from(take_u8(data, "modex size")?) + 1;
        if size == 256 {
            let b = take(data, 2, "modex size")?;
            size = usize::from(u16::from_be_bytes([b[0], b[1]])) + 1;
        }
        let ex = take(data, size, "modex data")?;
        let b = take_u8(data, "modex type")?;
        if b >> 4 == MOD_EX_TIMESTAMP_NANO && ex.len() >= 3 {
            nanos = Some(u32::from_be_bytes([0, ex[0], ex[1], ex[2]]));
        }
        packet_type = b & 0x0f;
    }
    Ok((packet_type, nanos))
}

/// Writes the extended header byte, preceded by a TimestampOffsetNano `ModEx` if any.
fn put_ex_header(high: u8, packet_type: u8, nanos: Option<u32>, out: &mut BytesMut) {
    match nanos {
        Some(n) => {
            out.put_u8(high | MOD_EX);
            out.put_u8(2); // 3 bytes of data
            let n = n.min(0xff_ffff).to_be_bytes();
            out.put_slice(&n[1..]);
            out.put_u8((MOD_EX_TIMESTAMP_NANO << 4) | (packet_type & 0x0f));
        }
        None => out.put_u8(high | (packet_type & 0x0f)),
    }
}

fn multitrack_header(data: &mut Bytes) -> Result<(MultitrackType, u8), FlvError> {
    let b = take_u8(data, "multitrack header")?;
    Ok((MultitrackType::from_bits(b >> 4)?, b & 0x0f))
}

fn parse_multitrack<P>(
    kind: MultitrackType,
    data: &mut Bytes,
    parse: impl Fn(FourCc, Bytes) -> Result<P, FlvError>,
) -> Result<Multitrack<P>, FlvError> {
    let shared = if kind == MultitrackType::ManyTracksManyCodecs {
        None
    } else {
        Some(take_fourcc(data)?)
    };
    let mut tracks = Vec::new();
    loop {
        let fourcc = match shared {
            Some(f) => f,
            None => take_fourcc(data)?,
        };
        let track_id = take_u8(data, "multitrack track id")?;
        let body = if kind == MultitrackType::OneTrack {
            std::mem::take(data)
        } else {
            let b = take(data, 3, "multitrack track size")?;
            let size = usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]);
            take(data, size, "multitrack track")?
        };
        tracks.push(Track {
            track_id,
            fourcc,
            packet: parse(fourcc, body)?,
        });
        if data.is_empty() {
            return Ok(Multitrack { kind, tracks });
        }
    }
}

fn write_multitrack<P>(
    m: &Multitrack<P>,
    packet_type: u8,
    out: &mut BytesMut,
    write_body: impl Fn(&Track<P>, &mut BytesMut),
) {
    out.put_u8((m.kind.bits() << 4) | (packet_type & 0x0f));
    let tracks = match m.kind {
        MultitrackType::OneTrack => &m.tracks[..m.tracks.len().min(1)],
        _ => &m.tracks[..],
    };
    if m.kind != MultitrackType::ManyTracksManyCodecs {
        let fourcc = tracks.first().map_or([0; 4], |t| t.fourcc.0);
        out.put_slice(&fourcc);
    }
    for t in tracks {
        if m.kind == MultitrackType::ManyTracksManyCodecs {
            out.put_slice(&t.fourcc.0);
        }
        out.put_u8(t.track_id);
        if m.kind == MultitrackType::OneTrack {
            write_body(t, out);
        } else {
            let size_at = out.len();
            out.put_slice(&[0, 0, 0]);
            write_body(t, out);
            let size = (out.len() - size_at - 3).min(0xff_ffff) as u32;
            out[size_at..size_at + 3].copy_from_slice(&size.to_be_bytes()[1..]);
        }
    }
}

fn take(data: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, FlvError> {
    if data.len() < n {
        return Err(FlvError::NotEnoughData {
            what,
            needed: n,
            available: data.len(),
        });
    }
    Ok(data.split_to(n))
}

/// Reads `N` bytes by value and advances past them (no new `Bytes` handle, so no
/// reference count traffic as with [`take`]).
fn take_array<const N: usize>(data: &mut Bytes, what: &'static str) -> Result<[u8; N], FlvError> {
    let Some(b) = data.get(..N).and_then(|b| <[u8; N]>::try_from(b).ok()) else {
        return Err(FlvError::NotEnoughData {
            what,
            needed: N,
            available: data.len(),
        });
    };
    data.advance(N);
    Ok(b)
}

fn take_u8(data: &mut Bytes, what: &'static str) -> Result<u8, FlvError> {
    let [b] = take_array::<1>(data, what)?;
    Ok(b)
}

fn take_fourcc(data: &mut Bytes) -> Result<FourCc, FlvError> {
    Ok(FourCc(take_array::<4>(data, "fourcc")?))
}

/// A signed 24-bit big-endian integer.
pub(crate) fn si24(b: &[u8]) -> i32 {
    match b {
        [a, b, c, ..] => (i32::from_be_bytes([*a, *b, *c, 0])) >> 8,
        _ => 0,
    }
}

/// Writes the low 24 bits of `v` (clamped to the SI24 range).
pub(crate) fn put_si24(v: i32, out: &mut BytesMut) {
    let v = v.clamp(-(1 << 23), (1 << 23) - 1);
    out.put_slice(&v.to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn round_trip_video(bytes: &[u8]) -> VideoTag {
        let input = Bytes::copy_from_slice(bytes);
        let tag = VideoTag::parse(&input).unwrap();
        let mut out = BytesMut::new();
        tag.write(&mut out);
        assert_eq!(&out[..], bytes, "{tag:?}");
        tag
    }

    fn round_trip_audio(bytes: &[u8]) -> AudioTag {
        let input = Bytes::copy_from_slice(bytes);
        let tag = AudioTag::parse(&input).unwrap();
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

    #[test]
    fn si24_values() {
        assert_eq!(si24(&hex!("7fffff")), 0x7f_ffff);
        assert_eq!(si24(&hex!("800000")), -0x80_0000);
        assert_eq!(si24(&hex!("ffffff")), -1);
        let mut out = BytesMut::new();
        put_si24(-1, &mut out);
        put_si24(1 << 30, &mut out);
        assert_eq!(&out[..], hex!("ffffff 7fffff"));
    }
}
