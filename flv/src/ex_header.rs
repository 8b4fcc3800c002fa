//! What the extended headers of Enhanced RTMP v2 share between audio and video: `ModEx`
//! packets (a nanosecond timestamp offset before the real packet type) and multitrack packets
//! (`AvMultitrackType` and the track list).

use bytes::{BufMut, BytesMut};

use crate::cursor::Cursor;
use crate::{FlvError, FourCc};

/// The packet type that announces a `ModEx` prefix (audio and video alike).
pub(crate) const MOD_EX: u8 = 7;
const MOD_EX_TIMESTAMP_NANO: u8 = 0;

/// Follows `ModEx` packet types until a real one, returning it and any nanosecond offset.
pub(crate) fn read_mod_ex(
    mut packet_type: u8,
    c: &mut Cursor<'_>,
) -> Result<(u8, Option<u32>), FlvError> {
    let mut nanos = None;
    while packet_type == MOD_EX {
        let mut size = usize::from(c.u8("modex size")?) + 1;
        if size == 256 {
            let [a, b] = c.array::<2>("modex size")?;
            size = usize::from(u16::from_be_bytes([a, b])) + 1;
        }
        let ex = c.take(size, "modex data")?;
        let b = c.u8("modex type")?;
        if let [a, b1, b2, ..] = *ex {
            if b >> 4 == MOD_EX_TIMESTAMP_NANO {
                nanos = Some(u32::from_be_bytes([0, a, b1, b2]));
            }
        }
        packet_type = b & 0x0f;
    }
    Ok((packet_type, nanos))
}

/// Writes the extended header byte, preceded by a TimestampOffsetNano `ModEx` if any.
pub(crate) fn put_ex_header(high: u8, packet_type: u8, nanos: Option<u32>, out: &mut BytesMut) {
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

/// The header of one track in a track list, and its body.
pub(crate) struct TrackEntry<'a> {
    pub(crate) fourcc: FourCc,
    pub(crate) track_id: u8,
    pub(crate) body: &'a [u8],
    /// Offset of `body` in the tag body.
    pub(crate) body_at: usize,
}

/// The track list of a multitrack packet, read one track at a time. At least one track is
/// required: a list that ends before its first track header is an error.
pub(crate) struct TrackList<'a> {
    kind: MultitrackType,
    /// The packet type of every track.
    pub(crate) packet_type: u8,
    shared: Option<FourCc>,
    cursor: Cursor<'a>,
    first: bool,
}

impl<'a> TrackList<'a> {
    /// Reads the multitrack byte (layout and packet type) and, unless every track names its
    /// own codec, the FourCC shared by all.
    pub(crate) fn read(c: &mut Cursor<'a>) -> Result<Self, FlvError> {
        let b = c.u8("multitrack header")?;
        let kind = MultitrackType::from_bits(b >> 4)?;
        let shared = match kind {
            MultitrackType::ManyTracksManyCodecs => None,
            _ => Some(c.fourcc()?),
        };
        Ok(Self {
            kind,
            packet_type: b & 0x0f,
            shared,
            cursor: *c,
            first: true,
        })
    }

    pub(crate) fn kind(&self) -> MultitrackType {
        self.kind
    }

    /// The next track, `None` after the last.
    pub(crate) fn next_track(&mut self) -> Result<Option<TrackEntry<'a>>, FlvError> {
        if !self.first && self.cursor.is_empty() {
            return Ok(None);
        }
        self.read_track().map(Some)
    }

    /// Reads a track header and body.
    pub(crate) fn read_track(&mut self) -> Result<TrackEntry<'a>, FlvError> {
        self.first = false;
        let c = &mut self.cursor;
        let fourcc = match self.shared {
            Some(f) => f,
            None => c.fourcc()?,
        };
        let track_id = c.u8("multitrack track id")?;
        let mut body_at = c.pos();
        let body = if self.kind == MultitrackType::OneTrack {
            c.take_rest()
        } else {
            let size = c.u24("multitrack track size")?;
            body_at = c.pos();
            c.take(size, "multitrack track")?
        };
        Ok(TrackEntry {
            fourcc,
            track_id,
            body,
            body_at,
        })
    }

    /// Every track, each packet made by `parse` from its codec and body.
    pub(crate) fn collect<P>(
        mut self,
        mut parse: impl FnMut(FourCc, &'a [u8]) -> Result<P, FlvError>,
    ) -> Result<Multitrack<P>, FlvError> {
        let mut tracks = Vec::new();
        while let Some(t) = self.next_track()? {
            tracks.push(Track {
                track_id: t.track_id,
                fourcc: t.fourcc,
                packet: parse(t.fourcc, t.body)?,
            });
        }
        Ok(Multitrack {
            kind: self.kind,
            tracks,
        })
    }
}

/// Writes the multitrack byte, the shared FourCC and the tracks, each body by `write_body`.
pub(crate) fn write_multitrack<P>(
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
