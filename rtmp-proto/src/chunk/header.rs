//! Chunk header wire format (RTMP 1.0 §5.3.1): basic header (1-3 bytes), message header
//! (11, 7, 3 or 0 bytes for formats 0-3) and the optional 4-byte extended timestamp.

use bytes::{BufMut, BytesMut};

/// The 24-bit timestamp field value that says "see the extended timestamp".
pub(super) const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// Message header length for each header format.
pub(super) const MESSAGE_HEADER_LEN: [usize; 4] = [11, 7, 3, 0];

/// Lowest chunk stream id (0 and 1 select the 2- and 3-byte basic header forms).
pub(super) const MIN_CSID: u32 = 2;
/// Highest chunk stream id (3-byte form: 64 + 255 + 255 * 256).
pub(super) const MAX_CSID: u32 = 65599;

/// A parsed basic header: format, chunk stream id and its encoded length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BasicHeader {
    pub(super) fmt: u8,
    pub(super) csid: u32,
    pub(super) len: usize,
}

/// Parses a basic header from the start of `buf`; `None` when more bytes are needed.
#[inline]
pub(super) fn parse_basic_header(buf: &[u8]) -> Option<BasicHeader> {
    let first = *buf.first()?;
    let fmt = first >> 6;
    match first & 0x3F {
        0 => {
            let b1 = *buf.get(1)?;
            Some(BasicHeader {
                fmt,
                csid: 64 + u32::from(b1),
                len: 2,
            })
        }
        1 => {
            let b1 = *buf.get(1)?;
            let b2 = *buf.get(2)?;
            Some(BasicHeader {
                fmt,
                csid: 64 + u32::from(b1) + 256 * u32::from(b2),
                len: 3,
            })
        }
        id => Some(BasicHeader {
            fmt,
            csid: u32::from(id),
            len: 1,
        }),
    }
}

/// Appends a basic header. `csid` must be within 2..=65599 (checked by the encoder).
#[inline]
pub(super) fn write_basic_header(fmt: u8, csid: u32, out: &mut BytesMut) {
    let fmt_bits = (fmt & 0x03) << 6;
    if csid < 64 {
        out.put_u8(fmt_bits | csid as u8);
    } else if csid < 64 + 256 {
        out.put_u8(fmt_bits);
        out.put_u8((csid - 64) as u8);
    } else {
        let rest = csid - 64;
        out.put_u8(fmt_bits | 1);
        out.put_u8((rest & 0xFF) as u8);
        out.put_u8((rest >> 8) as u8);
    }
}

/// Reads a big-endian 24-bit number; the caller has checked `buf` holds 3 bytes at `pos`.
#[inline]
pub(super) fn read_u24(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos + 3)?;
    Some(u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]))
}

/// Reads a big-endian 32-bit number at `pos`.
#[inline]
pub(super) fn read_u32_be(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian 32-bit number at `pos` (the message stream id is little-endian).
#[inline]
pub(super) fn read_u32_le(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Appends a big-endian 24-bit number (the low 24 bits of `v`).
#[inline]
pub(super) fn put_u24(out: &mut BytesMut, v: u32) {
    let b = v.to_be_bytes();
    out.put_slice(&b[1..4]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn basic_header_forms() {
        assert_eq!(
            parse_basic_header(&hex!("03")),
            Some(BasicHeader {
                fmt: 0,
                csid: 3,
                len: 1
            })
        );
        assert_eq!(
            parse_basic_header(&hex!("C4")),
            Some(BasicHeader {
                fmt: 3,
                csid: 4,
                len: 1
            })
        );
        assert_eq!(
            parse_basic_header(&hex!("40 00")),
            Some(BasicHeader {
                fmt: 1,
                csid: 64,
                len: 2
            })
        );
        assert_eq!(
            parse_basic_header(&hex!("81 FF FF")),
            Some(BasicHeader {
                fmt: 2,
                csid: 65599,
                len: 3
            })
        );
        assert_eq!(parse_basic_header(&hex!("00")), None);
        assert_eq!(parse_basic_header(&hex!("01 05")), None);
        assert_eq!(parse_basic_header(&[]), None);
    }

    #[test]
    fn basic_header_round_trip() {
        for csid in [2u32, 63, 64, 319, 320, 1000, 65599] {
            for fmt in 0..4u8 {
                let mut out = BytesMut::new();
                write_basic_header(fmt, csid, &mut out);
                let parsed = parse_basic_header(&out);
                assert_eq!(
                    parsed,
                    Some(BasicHeader {
                        fmt,
                        csid,
                        len: out.len()
                    })
                );
            }
        }
        let mut out = BytesMut::new();
        write_basic_header(1, 320, &mut out);
        assert_eq!(&out[..], &hex!("41 00 01"));
    }

    #[test]
    fn numbers() {
        let buf = hex!("01 02 03 04 05");
        assert_eq!(read_u24(&buf, 0), Some(0x010203));
        assert_eq!(read_u32_be(&buf, 1), Some(0x02030405));
        assert_eq!(read_u32_le(&buf, 1), Some(0x05040302));
        assert_eq!(read_u24(&buf, 3), None);
        let mut out = BytesMut::new();
        put_u24(&mut out, 0x00AB_CDEF);
        assert_eq!(&out[..], &hex!("AB CD EF"));
    }
}
