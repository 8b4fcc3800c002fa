//! H.264 byte-stream (Annex B) to AVCC conversion (ISO/IEC 14496-10 Annex B,
//! ISO/IEC 14496-15 5.3.3.1).

use bytes::{BufMut, Bytes, BytesMut};

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// The NAL units of an Annex B byte stream, without their start codes.
///
/// Trailing zero bytes before a start code (the `zero_byte` of a 4-byte start code, or
/// `trailing_zero_8bits`) are not part of the preceding NAL unit.
pub(crate) fn annex_b_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = match find_start_code(data) {
        Some((_, end)) => &data[end..],
        None => &data[data.len()..],
    };
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (unit, next) = match find_start_code(rest) {
            Some((start, end)) => (&rest[..start], &rest[end..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let trimmed = match unit.iter().rposition(|b| *b != 0) {
            Some(last) => &unit[..=last],
            None => &unit[..0],
        };
        Some(trimmed)
    })
    .filter(|u| !u.is_empty())
}

/// The position of the first `00 00 01` and the index just past it.
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    data.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| (i, i + 3))
}

/// Rewrites an Annex B access unit as 4-byte length-prefixed NAL units (AVCC).
pub(crate) fn annex_b_to_avcc(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    for unit in annex_b_units(data) {
        // A NAL unit of 4 GiB cannot come out of an encoder; saturate rather than panic.
        out.put_u32(u32::try_from(unit.len()).unwrap_or(u32::MAX));
        out.put_slice(unit);
    }
    out.freeze()
}

/// Builds an AVCDecoderConfigurationRecord (4-byte lengths) from the SPS and PPS found in
/// `extradata`, which may be Annex B (what libx264 writes) or already a record.
///
/// Returns `None` if there is no SPS or PPS, or one is too long for the record.
pub(crate) fn avc_decoder_configuration_record(extradata: &[u8]) -> Option<Bytes> {
    if extradata.first() == Some(&1) {
        return Some(Bytes::copy_from_slice(extradata));
    }
    let mut sps = Vec::new();
    let mut pps = Vec::new();
    for unit in annex_b_units(extradata) {
        match unit[0] & 0x1f {
            NAL_SPS => sps.push(unit),
            NAL_PPS => pps.push(unit),
            _ => {}
        }
    }
    let first = sps.first()?;
    if first.len() < 4 || pps.is_empty() || sps.len() > 31 || pps.len() > 255 {
        return None;
    }
    let mut out = BytesMut::new();
    out.put_slice(&[1, first[1], first[2], first[3], 0xfc | 3]);
    out.put_u8(0xe0 | sps.len() as u8);
    for set in &sps {
        out.put_u16(u16::try_from(set.len()).ok()?);
        out.put_slice(set);
    }
    out.put_u8(pps.len() as u8);
    for set in &pps {
        out.put_u16(u16::try_from(set.len()).ok()?);
        out.put_slice(set);
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0,
        ];
        let units: Vec<&[u8]> = annex_b_units(&data).collect();
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
    }

    #[test]
    fn length_prefixes_each_unit() {
        let data = [0, 0, 1, 0x65, 0xaa, 0, 0, 1, 0x06, 0xbb, 0xcc];
        assert_eq!(
            &annex_b_to_avcc(&data)[..],
            &[0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 3, 0x06, 0xbb, 0xcc]
        );
    }

    #[test]
    fn record_from_annex_b_parameter_sets() {
        let data = [
            0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80,
        ];
        let record = avc_decoder_configuration_record(&data).unwrap();
        assert_eq!(
            &record[..],
            &[
                1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 5, 0x67, 0x64, 0x00, 0x1f, 0xac, 1, 0, 4, 0x68,
                0xee, 0x3c, 0x80
            ]
        );
        let parsed = onair_media_types::AvcConfig::parse(record).unwrap();
        assert_eq!(parsed.rfc6381(), "avc1.64001F");
        assert_eq!(parsed.nal_length_size, 4);
    }

    #[test]
    fn no_pps_gives_no_record() {
        let data = [0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac];
        assert_eq!(avc_decoder_configuration_record(&data), None);
    }
}
