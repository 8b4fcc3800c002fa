//! Writing 188-byte transport packets (ISO/IEC 13818-1 2.4.3.2, 2.4.3.4).
//!
//! A PES packet is split into transport packets with slice copies straight into the caller's
//! buffer: the first packet carries `payload_unit_start_indicator` and an optional
//! adaptation field (PCR, random access, discontinuity); the last one is padded with
//! adaptation-field stuffing so every packet is exactly 188 bytes.

use crate::types::{ContinuityCounter, Pid};

/// Bytes in a transport packet.
pub const PACKET_SIZE: usize = 188;
const PAYLOAD_MAX: usize = PACKET_SIZE - 4;

const AF_DISCONTINUITY: u8 = 0x80;
const AF_RANDOM_ACCESS: u8 = 0x40;
const AF_PCR: u8 = 0x10;

/// What the adaptation field of a PES packet's first transport packet carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FirstPacketFlags {
    /// PCR base (the extension is written as 0).
    pub(crate) pcr: Option<u64>,
    pub(crate) random_access: bool,
    pub(crate) discontinuity: bool,
}

impl FirstPacketFlags {
    fn flags(self) -> u8 {
        let mut f = 0;
        if self.discontinuity {
            f |= AF_DISCONTINUITY;
        }
        if self.random_access {
            f |= AF_RANDOM_ACCESS;
        }
        if self.pcr.is_some() {
            f |= AF_PCR;
        }
        f
    }

    /// Bytes of adaptation field these flags need (0 when none).
    fn af_len(self) -> usize {
        match (self.flags(), self.pcr) {
            (0, _) => 0,
            (_, Some(_)) => 8,
            _ => 2,
        }
    }
}

/// One piece of a PES packet's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Piece {
    /// `head[start..end]`: PES header and codec framing built by the muxer.
    Head(usize, usize),
    /// A four-byte Annex B start code.
    StartCode,
    /// `data[start..end]` of the frame payload.
    Data(usize, usize),
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Reads the concatenation of [`Piece`]s in order.
pub(crate) struct PieceReader<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) data: &'a [u8],
    pub(crate) pieces: &'a [Piece],
    idx: usize,
    off: usize,
}

impl<'a> PieceReader<'a> {
    pub(crate) fn new(head: &'a [u8], data: &'a [u8], pieces: &'a [Piece]) -> Self {
        Self {
            head,
            data,
            pieces,
            idx: 0,
            off: 0,
        }
    }

    fn piece(&self, idx: usize) -> Option<&'a [u8]> {
        let piece = self.pieces.get(idx)?;
        match *piece {
            Piece::Head(s, e) => self.head.get(s..e),
            Piece::StartCode => Some(&START_CODE),
            Piece::Data(s, e) => self.data.get(s..e),
        }
    }

    /// Fills `dst` completely (or as far as the pieces go; the rest is left as is).
    #[inline]
    fn fill(&mut self, dst: &mut [u8]) {
        let mut dst = dst;
        while !dst.is_empty() {
            let Some(src) = self.piece(self.idx) else {
                return;
            };
            let avail = src.get(self.off..).unwrap_or(&[]);
            let n = avail.len().min(dst.len());
            let (now, rest) = dst.split_at_mut(n);
            now.copy_from_slice(&avail[..n]);
            dst = rest;
            self.off += n;
            if self.off >= src.len() {
                self.idx += 1;
                self.off = 0;
            }
        }
    }
}

/// How many transport packets a PES packet of `total` bytes takes.
pub(crate) fn packet_count(total: usize, first: FirstPacketFlags) -> usize {
    let first_cap = PAYLOAD_MAX - first.af_len();
    if total <= first_cap {
        1
    } else {
        1 + (total - first_cap).div_ceil(PAYLOAD_MAX)
    }
}

#[inline]
fn write_header(pkt: &mut [u8], pid: Pid, pusi: bool, has_af: bool, cc: u8) {
    let pid = pid.get();
    pkt[0] = 0x47;
    pkt[1] = (if pusi { 0x40 } else { 0 }) | (pid >> 8) as u8;
    pkt[2] = pid as u8;
    pkt[3] = (if has_af { 0x30 } else { 0x10 }) | cc;
}

/// Writes an adaptation field of exactly `len` bytes (>= 1) at `af`.
fn write_adaptation_field(af: &mut [u8], len: usize, flags: u8, pcr: Option<u64>) {
    af[0] = (len - 1) as u8;
    if len == 1 {
        return;
    }
    af[1] = flags;
    let mut pos = 2;
    if let Some(base) = pcr {
        af[2] = (base >> 25) as u8;
        af[3] = (base >> 17) as u8;
        af[4] = (base >> 9) as u8;
        af[5] = (base >> 1) as u8;
        // base LSB, 6 reserved bits set, extension (9 bits) zero.
        af[6] = ((base & 1) as u8) << 7 | 0x7e;
        af[7] = 0;
        pos = 8;
    }
    af[pos..len].fill(0xff);
}

/// Packetizes a PES packet of `total` bytes read from `reader` into `out`, whose length must
/// be `packet_count(total, first) * 188`.
pub(crate) fn write_pes(
    out: &mut [u8],
    pid: Pid,
    cc: &mut ContinuityCounter,
    first: FirstPacketFlags,
    total: usize,
    reader: &mut PieceReader<'_>,
) {
    let mut remaining = total;
    let mut packets = out.chunks_exact_mut(PACKET_SIZE);

    // First packet.
    let Some(pkt) = packets.next() else {
        return;
    };
    let mut af_len = first.af_len();
    let payload = remaining.min(PAYLOAD_MAX - af_len);
    if af_len + payload < PAYLOAD_MAX {
        af_len = PAYLOAD_MAX - payload;
    }
    write_header(pkt, pid, true, af_len > 0, cc.next_value());
    if af_len > 0 {
        write_adaptation_field(&mut pkt[4..4 + af_len], af_len, first.flags(), first.pcr);
    }
    reader.fill(&mut pkt[4 + af_len..]);
    remaining -= payload;

    for pkt in packets {
        if remaining >= PAYLOAD_MAX {
            write_header(pkt, pid, false, false, cc.next_value());
            reader.fill(&mut pkt[4..]);
            remaining -= PAYLOAD_MAX;
        } else {
            let af_len = PAYLOAD_MAX - remaining;
            write_header(pkt, pid, false, true, cc.next_value());
            write_adaptation_field(&mut pkt[4..4 + af_len], af_len, 0, None);
            reader.fill(&mut pkt[4 + af_len..]);
            remaining = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packetize(total: usize, first: FirstPacketFlags) -> Vec<u8> {
        let data: Vec<u8> = (0..total).map(|i| i as u8).collect();
        let pieces = [Piece::Data(0, total)];
        let mut reader = PieceReader::new(&[], &data, &pieces);
        let n = packet_count(total, first);
        let mut out = vec![0u8; n * PACKET_SIZE];
        let mut cc = ContinuityCounter::new(14);
        write_pes(
            &mut out,
            Pid::new(0x100).unwrap_or(Pid::PAT),
            &mut cc,
            first,
            total,
            &mut reader,
        );
        out
    }

    /// Reassembles the payload of packets and checks their structure.
    fn payload_of(ts: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, p) in ts.chunks(PACKET_SIZE).enumerate() {
            assert_eq!(p[0], 0x47);
            assert_eq!(p[1] & 0x40 != 0, i == 0);
            assert_eq!(p[3] & 0x0f, ((14 + i) % 16) as u8);
            let start = if p[3] & 0x20 != 0 {
                5 + usize::from(p[4])
            } else {
                4
            };
            v.extend_from_slice(&p[start..]);
        }
        v
    }

    #[test]
    fn sizes_around_packet_boundaries() {
        for total in [1, 2, 182, 183, 184, 185, 367, 368, 369, 1000] {
            for first in [
                FirstPacketFlags::default(),
                FirstPacketFlags {
                    pcr: Some(0x1_2345_6789),
                    random_access: true,
                    discontinuity: false,
                },
                FirstPacketFlags {
                    pcr: None,
                    random_access: true,
                    discontinuity: true,
                },
            ] {
                let ts = packetize(total, first);
                let expect: Vec<u8> = (0..total).map(|i| i as u8).collect();
                assert_eq!(payload_of(&ts), expect, "total {total}");
            }
        }
    }

    #[test]
    fn one_byte_stuffing_is_a_zero_length_field() {
        let ts = packetize(183, FirstPacketFlags::default());
        assert_eq!(ts.len(), 188);
        assert_eq!(&ts[3..5], &[0x3e, 0x00]);
    }

    #[test]
    fn pcr_encoding() {
        let ts = packetize(
            10,
            FirstPacketFlags {
                pcr: Some(0x1_2345_6789),
                random_access: true,
                discontinuity: false,
            },
        );
        // af length, flags (RAI | PCR), PCR base 0x123456789 then reserved bits and ext 0.
        assert_eq!(ts[5], 0x50);
        let b = &ts[6..12];
        let base = (u64::from(b[0]) << 25)
            | (u64::from(b[1]) << 17)
            | (u64::from(b[2]) << 9)
            | (u64::from(b[3]) << 1)
            | u64::from(b[4] >> 7);
        assert_eq!(base, 0x1_2345_6789);
        assert_eq!(b[4] & 0x7e, 0x7e);
    }
}
