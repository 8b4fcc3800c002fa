//! Program Specific Information: PAT and PMT sections in single transport packets
//! (ISO/IEC 13818-1 2.4.4.3, 2.4.4.8).

use crate::crc::crc32_mpeg2;
use crate::packet::PACKET_SIZE;
use crate::types::Pid;

/// One elementary stream entry of a PMT.
pub(crate) struct PmtEntry<'a> {
    pub(crate) stream_type: u8,
    pub(crate) pid: Pid,
    pub(crate) descriptors: &'a [u8],
}

/// Fills `pkt` (188 bytes) with a packet carrying `section` (without CRC) plus its CRC.
/// Returns false if the section does not fit.
fn section_packet(pkt: &mut [u8; PACKET_SIZE], pid: Pid, section: &[u8]) -> bool {
    // header (4) + pointer_field (1) + section + CRC (4)
    if 5 + section.len() + 4 > PACKET_SIZE {
        return false;
    }
    let pid = pid.get();
    pkt.fill(0xff);
    pkt[0] = 0x47;
    pkt[1] = 0x40 | (pid >> 8) as u8;
    pkt[2] = pid as u8;
    pkt[3] = 0x10; // payload only; the continuity counter is set when the packet is written
    pkt[4] = 0; // pointer_field
    pkt[5..5 + section.len()].copy_from_slice(section);
    let crc = crc32_mpeg2(section);
    pkt[5 + section.len()..9 + section.len()].copy_from_slice(&crc.to_be_bytes());
    true
}

/// The common long-form section header; `body_len` counts the bytes after `last_section_number`.
fn section_header(s: &mut Vec<u8>, table_id: u8, id: u16, version: u8, body_len: usize) {
    // section_length counts from after itself to the end of the CRC.
    let section_length = 5 + body_len + 4;
    s.push(table_id);
    // section_syntax_indicator, '0', reserved '11'
    s.push(0xb0 | ((section_length >> 8) as u8 & 0x0f));
    s.push(section_length as u8);
    s.extend_from_slice(&id.to_be_bytes());
    // reserved '11', version_number, current_next_indicator = 1
    s.push(0xc0 | ((version & 0x1f) << 1) | 1);
    s.push(0); // section_number
    s.push(0); // last_section_number
}

/// A PAT announcing one program.
pub(crate) fn pat_packet(
    transport_stream_id: u16,
    version: u8,
    program_number: u16,
    pmt_pid: Pid,
) -> [u8; PACKET_SIZE] {
    let mut s = Vec::with_capacity(16);
    section_header(&mut s, 0x00, transport_stream_id, version, 4);
    s.extend_from_slice(&program_number.to_be_bytes());
    s.extend_from_slice(&(0xe000 | pmt_pid.get()).to_be_bytes());
    let mut pkt = [0u8; PACKET_SIZE];
    let fits = section_packet(&mut pkt, Pid::PAT, &s);
    debug_assert!(fits);
    pkt
}

/// A PMT for `program_number`; `None` if it does not fit in one packet.
pub(crate) fn pmt_packet(
    pmt_pid: Pid,
    program_number: u16,
    version: u8,
    pcr_pid: Pid,
    entries: &[PmtEntry<'_>],
) -> Option<[u8; PACKET_SIZE]> {
    let body_len = 4 + entries
        .iter()
        .map(|e| 5 + e.descriptors.len())
        .sum::<usize>();
    let mut s = Vec::with_capacity(8 + body_len);
    section_header(&mut s, 0x02, program_number, version, body_len);
    s.extend_from_slice(&(0xe000 | pcr_pid.get()).to_be_bytes());
    s.extend_from_slice(&0xf000u16.to_be_bytes()); // program_info_length = 0
    for e in entries {
        s.push(e.stream_type);
        s.extend_from_slice(&(0xe000 | e.pid.get()).to_be_bytes());
        let len = u16::try_from(e.descriptors.len()).ok()?;
        s.extend_from_slice(&(0xf000 | (len & 0x0fff)).to_be_bytes());
        s.extend_from_slice(e.descriptors);
    }
    let mut pkt = [0u8; PACKET_SIZE];
    section_packet(&mut pkt, pmt_pid, &s).then_some(pkt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn pat_bytes() {
        let pkt = pat_packet(1, 0, 1, Pid::new(0x1000).unwrap_or(Pid::NULL));
        // The PAT FFmpeg writes for a single program with these ids, byte for byte.
        assert_eq!(
            &pkt[..21],
            &hex!("47 40 00 10 00 00 b0 0d 00 01 c1 00 00 00 01 f0 00 2a b1 04 b2")
        );
        assert!(pkt[21..].iter().all(|b| *b == 0xff));
    }

    #[test]
    fn pmt_bytes() {
        let pid = |v| Pid::new(v).unwrap_or(Pid::NULL);
        let pkt = pmt_packet(
            pid(0x1000),
            1,
            0,
            pid(0x100),
            &[
                PmtEntry {
                    stream_type: 0x1b,
                    pid: pid(0x100),
                    descriptors: &[],
                },
                PmtEntry {
                    stream_type: 0x0f,
                    pid: pid(0x101),
                    descriptors: &[],
                },
            ],
        )
        .unwrap_or([0; PACKET_SIZE]);
        // As FFmpeg writes for H.264 + AAC (without its service descriptors).
        assert_eq!(
            &pkt[..17],
            &hex!("47 50 00 10 00 02 b0 17 00 01 c1 00 00 e1 00 f0 00")
        );
        assert_eq!(&pkt[17..27], &hex!("1b e1 00 f0 00 0f e1 01 f0 00"));
        let crc = crc32_mpeg2(&pkt[5..27]);
        assert_eq!(&pkt[27..31], &crc.to_be_bytes());
    }
}
