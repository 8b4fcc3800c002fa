//! Writing 188-byte transport packets (ISO/IEC 13818-1 2.4.3.2, 2.4.3.4).
//!
//! A PES packet is split into transport packets with slice copies straight into the caller's
//! buffer: the first packet carries `payload_unit_start_indicator` and an optional
//! adaptation field (PCR, random access, discontinuity); the last one is padded with
//! adaptation-field stuffing so every packet is exactly 188 bytes.

use crate::muxer::TsBuffer;
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
    /// Index of the next piece to load into `cur`.
    next: usize,
    /// The unread rest of the current piece.
    cur: &'a [u8],
}

impl<'a> PieceReader<'a> {
    pub(crate) fn new(head: &'a [u8], data: &'a [u8], pieces: &'a [Piece]) -> Self {
        Self {
            head,
            data,
            pieces,
            next: 0,
            cur: &[],
        }
    }

    fn resolve(&self, piece: Piece) -> Option<&'a [u8]> {
        match piece {
            Piece::Head(s, e) => self.head.get(s..e),
            Piece::StartCode => Some(&START_CODE),
            Piece::Data(s, e) => self.data.get(s..e),
        }
    }

    /// Loads the next non-empty piece if the current one is used up; false at the end
    /// (or at a piece out of bounds, which ends the reading).
    #[inline]
    fn refill(&mut self) -> bool {
        while self.cur.is_empty() {
            let Some(&piece) = self.pieces.get(self.next) else {
                return false;
            };
            match self.resolve(piece) {
                Some(src) => {
                    self.cur = src;
                    self.next += 1;
                }
                None => {
                    self.next = self.pieces.len();
                    return false;
                }
            }
        }
        true
    }

    /// Appends the next `n` bytes of the pieces (or as many as are left) to `out`.
    #[inline]
    fn emit<B: TsBuffer + ?Sized>(&mut self, out: &mut B, n: usize) {
        let mut n = n;
        while n > 0 && self.refill() {
            let (now, rest) = self.cur.split_at(self.cur.len().min(n));
            out.put_slice(now);
            self.cur = rest;
            n -= now.len();
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
fn header(pid: Pid, pusi: bool, has_af: bool, cc: u8) -> [u8; 4] {
    let pid = pid.get();
    [
        0x47,
        (if pusi { 0x40 } else { 0 }) | (pid >> 8) as u8,
        pid as u8,
        (if has_af { 0x30 } else { 0x10 }) | cc,
    ]
}

/// Appends packet header `hdr` followed by an adaptation field of exactly `af_len` bytes
/// (0..=184; 0 for none) in one slice.
#[inline]
fn put_header_and_af<B: TsBuffer + ?Sized>(
    out: &mut B,
    hdr: [u8; 4],
    af_len: usize,
    flags: u8,
    pcr: Option<u64>,
) {
    if af_len == 0 {
        out.put_slice(&hdr);
        return;
    }
    let mut buf = [0xffu8; PACKET_SIZE];
    buf[..4].copy_from_slice(&hdr);
    buf[4] = (af_len - 1) as u8;
    if af_len >= 2 {
        buf[5] = flags;
        if let Some(base) = pcr {
            buf[6] = (base >> 25) as u8;
            buf[7] = (base >> 17) as u8;
            buf[8] = (base >> 9) as u8;
            buf[9] = (base >> 1) as u8;
            // base LSB, 6 reserved bits set, extension (9 bits) zero.
            buf[10] = ((base & 1) as u8) << 7 | 0x7e;
            buf[11] = 0;
        }
    }
    out.put_slice(&buf[..(4 + af_len).min(PACKET_SIZE)]);
}

/// Asks the CPU to start loading the payload a few packets ahead of the copy.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = p.wrapping_add(PREFETCH_AHEAD);
        // SAFETY: SSE is part of x86_64; a prefetch never faults, whatever the address.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64).cast());
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(128).cast());
        }
    }
}

const PREFETCH_AHEAD: usize = 2048;

/// Appends the transport packets of a PES packet of `total` bytes read from `reader`:
/// `packet_count(total, first)` packets of 188 bytes.
pub(crate) fn write_pes<B: TsBuffer + ?Sized>(
    out: &mut B,
    pid: Pid,
    cc: &mut ContinuityCounter,
    first: FirstPacketFlags,
    total: usize,
    reader: &mut PieceReader<'_>,
) {
    // First packet.
    let mut af_len = first.af_len();
    let payload = total.min(PAYLOAD_MAX - af_len);
    if af_len + payload < PAYLOAD_MAX {
        af_len = PAYLOAD_MAX - payload;
    }
    let hdr = header(pid, true, af_len > 0, cc.next_value());
    put_header_and_af(out, hdr, af_len, first.flags(), first.pcr);
    reader.emit(out, payload);
    let mut remaining = total - payload;

    // The counter is kept in a local for the middle packets (no store through `cc` per
    // packet) and their header is built once; only the counter nibble changes.
    let [sync, pid_hi, pid_lo, _] = header(pid, false, false, 0);
    let mut next_cc = cc.get();
    while remaining >= PAYLOAD_MAX {
        // Fast path: whole packets out of one piece (the bulk of a frame), with no piece
        // bookkeeping per packet and a copy of constant size.
        reader.refill();
        let src = reader.cur;
        let whole = (src.len() / PAYLOAD_MAX).min(remaining / PAYLOAD_MAX);
        if whole > 0 {
            let (body, rest) = src.split_at(whole * PAYLOAD_MAX);
            for chunk in body.chunks_exact(PAYLOAD_MAX) {
                prefetch(chunk.as_ptr());
                out.put_slice(&[sync, pid_hi, pid_lo, 0x10 | next_cc]);
                out.put_slice(chunk);
                next_cc = (next_cc + 1) & 0x0f;
            }
            reader.cur = rest;
            remaining -= body.len();
            continue;
        }
        out.put_slice(&[sync, pid_hi, pid_lo, 0x10 | next_cc]);
        next_cc = (next_cc + 1) & 0x0f;
        reader.emit(out, PAYLOAD_MAX);
        remaining -= PAYLOAD_MAX;
    }
    *cc = ContinuityCounter::new(next_cc);
    if remaining > 0 {
        let hdr = header(pid, false, true, cc.next_value());
        put_header_and_af(out, hdr, PAYLOAD_MAX - remaining, 0, None);
        reader.emit(out, remaining);
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
        let mut out = Vec::new();
        let mut cc = ContinuityCounter::new(14);
        write_pes(
            &mut out,
            Pid::new(0x100).unwrap_or(Pid::PAT),
            &mut cc,
            first,
            total,
            &mut reader,
        );
        assert_eq!(out.len(), n * PACKET_SIZE);
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
    fn pieces_of_any_size_are_packetized_in_order() {
        let head: Vec<u8> = (0..50u8).collect();
        let data: Vec<u8> = (0..2000).map(|i| (i * 7) as u8).collect();
        for split in [0, 1, 183, 184, 185, 700, 1999] {
            let pieces = [
                Piece::Head(0, 50),
                Piece::StartCode,
                Piece::Data(0, split),
                Piece::StartCode,
                Piece::Data(split, 2000),
            ];
            let mut expect = head.clone();
            expect.extend_from_slice(&START_CODE);
            expect.extend_from_slice(&data[..split]);
            expect.extend_from_slice(&START_CODE);
            expect.extend_from_slice(&data[split..]);
            let first = FirstPacketFlags::default();
            let mut reader = PieceReader::new(&head, &data, &pieces);
            let mut out = Vec::new();
            let mut cc = ContinuityCounter::new(14);
            let pid = Pid::new(0x100).unwrap_or(Pid::PAT);
            write_pes(&mut out, pid, &mut cc, first, expect.len(), &mut reader);
            assert_eq!(out.len(), packet_count(expect.len(), first) * PACKET_SIZE);
            assert_eq!(payload_of(&out), expect, "split {split}");
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
