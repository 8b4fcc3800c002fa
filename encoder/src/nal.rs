//! H.264 byte-stream (Annex B) to AVCC conversion (ISO/IEC 14496-10 Annex B), and the decoder
//! configuration from libx264's parameter sets (ISO/IEC 14496-15 5.3.3.1).

use bytes::{BufMut, Bytes, BytesMut};
use onair_media_types::{AvcConfig, ConfigError};

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

/// The decoder configuration for the SPS and PPS in `extradata`, which may be Annex B (what
/// libx264 writes) or already a record, with 4-byte NAL unit lengths (see
/// [`AvcConfig::from_parameter_sets`]).
pub(crate) fn avc_config(extradata: &[u8]) -> Result<AvcConfig, ConfigError> {
    if extradata.first() == Some(&1) {
        return AvcConfig::parse(Bytes::copy_from_slice(extradata));
    }
    let (mut sps, mut pps) = (Vec::new(), Vec::new());
    for unit in annex_b_units(extradata) {
        match unit[0] & 0x1f {
            NAL_SPS => sps.push(unit),
            NAL_PPS => pps.push(unit),
            _ => {}
        }
    }
    AvcConfig::from_parameter_sets(&sps, &pps)
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
        let parsed = avc_config(&data).unwrap();
        assert_eq!(
            &parsed.record[..],
            &[
                1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 5, 0x67, 0x64, 0x00, 0x1f, 0xac, 1, 0, 4, 0x68,
                0xee, 0x3c, 0x80
            ]
        );
        assert_eq!(parsed.rfc6381(), "avc1.64001F");
        assert_eq!(parsed.nal_length_size, 4);
    }

    #[test]
    fn no_pps_gives_no_record() {
        let data = [0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac];
        assert_eq!(
            avc_config(&data),
            Err(ConfigError::MissingParameterSet {
                what: "h264 picture parameter set"
            })
        );
    }
}
