//! H.265 parameter sets from libx265 to an HEVCDecoderConfigurationRecord, and the NAL unit
//! types that make an access unit a random access point (ITU-T H.265 7.4.2.2).

use onair_media_types::{ConfigError, HevcConfig};

use crate::nal::annex_b_units;

const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// The `nal_unit_type` of an H.265 NAL unit (the 6 bits after the forbidden zero bit).
fn nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| (b >> 1) & 0x3f)
}

/// Whether an access unit in 4-byte length-prefixed form holds an IRAP picture (BLA, IDR or
/// CRA: `nal_unit_type` 16 to 23), where decoding can start.
pub(crate) fn is_irap(length_prefixed: &[u8]) -> bool {
    let mut rest = length_prefixed;
    while rest.len() > 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(unit) = rest.get(4..4 + len) else {
            return false;
        };
        if matches!(nal_type(unit), Some(16..=23)) {
            return true;
        }
        rest = &rest[4 + len..];
    }
    false
}

/// The decoder configuration for the VPS, SPS and PPS in `extradata` (Annex B, as libx265
/// writes it; a record already is parsed as given), with 4-byte NAL unit lengths (see
/// [`HevcConfig::from_parameter_sets`]).
pub(crate) fn hevc_config(extradata: &[u8]) -> Result<HevcConfig, ConfigError> {
    if extradata.first() == Some(&1) {
        return HevcConfig::parse(bytes::Bytes::copy_from_slice(extradata));
    }
    let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
    for unit in annex_b_units(extradata) {
        match nal_type(unit) {
            Some(NAL_VPS) => vps.push(unit),
            Some(NAL_SPS) => sps.push(unit),
            Some(NAL_PPS) => pps.push(unit),
            _ => {}
        }
    }
    HevcConfig::from_parameter_sets(&vps, &sps, &pps)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The parameter sets Debian's ffmpeg 5.1 + libx265 wrote for a 320x240 yuv420p picture
    // (`-c:v libx265 -preset veryfast -tune zerolatency`): Main profile, level 2 (60).
    const VPS: [u8; 24] = [
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xba, 0x02, 0x40,
    ];
    const SPS: [u8; 40] = [
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x5b, 0xa9, 0x24, 0xca, 0xf0, 0x16, 0x80,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04,
    ];
    const PPS: [u8; 7] = [0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];

    fn annex_b(sps: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for unit in [&VPS[..], sps, &PPS[..]] {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(unit);
        }
        out
    }

    #[test]
    fn record_parses_back() {
        let config = hevc_config(&annex_b(&SPS)).unwrap();
        assert_eq!(
            &config.record[..23],
            &[
                1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8,
                0xf8, 0, 0, 0x0f, 3
            ]
        );
        assert_eq!(config.rfc6381(), "hvc1.1.6.L60.90");
        assert_eq!(config.nal_length_size, 4);
        assert_eq!(
            (&config.vps[0][..], &config.sps[0][..], &config.pps[0][..]),
            (&VPS[..], &SPS[..], &PPS[..])
        );
        assert!(config.other.is_empty());
        assert_eq!(config.picture_size(), Ok((320, 240)));
        // An encoder that gives a record already: taken as it is.
        assert_eq!(hevc_config(&config.record), Ok(config));
    }

    #[test]
    fn record_with_a_conformance_window_and_ten_bits() {
        // Debian's libx265 for 330x186 (coded 336x192, cropped by a conformance window),
        // yuv420p10le: Main 10 (profile 2), 10-bit luma and chroma.
        const SPS_MAIN10_330X186: [u8; 42] = [
            0x42, 0x01, 0x01, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
            0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x88, 0x0c, 0x1c, 0x92, 0x36, 0x5b, 0xa9, 0x24,
            0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04,
        ];
        let config = hevc_config(&annex_b(&SPS_MAIN10_330X186)).unwrap();
        assert_eq!(config.profile_idc, 2, "Main 10");
        // chroma_format_idc 1, bit_depth_luma_minus8 2, bit_depth_chroma_minus8 2
        assert_eq!(&config.record[16..19], &[0xfd, 0xfa, 0xfa]);
        assert_eq!(config.picture_size(), Ok((330, 186)));
    }

    #[test]
    fn missing_pps_or_truncated_sps_is_an_error() {
        let mut data = annex_b(&SPS);
        data.truncate(data.len() - PPS.len() - 4);
        assert_eq!(
            hevc_config(&data),
            Err(ConfigError::MissingParameterSet {
                what: "h265 picture parameter set"
            })
        );
        assert!(matches!(
            hevc_config(&annex_b(&SPS[..10])),
            Err(ConfigError::Malformed { .. })
        ));
    }

    #[test]
    fn irap_detection() {
        // IDR_W_RADL (19), CRA (21), TRAIL_R (1), a prefix SEI (39) before a trailing picture
        let unit = |header: u8| [0, 0, 0, 3, header, 0x01, 0xaf];
        assert!(is_irap(&unit(19 << 1)));
        assert!(is_irap(&unit(21 << 1)));
        assert!(!is_irap(&unit(1 << 1)));
        let mut sei_then_trail = unit(39 << 1).to_vec();
        sei_then_trail.extend_from_slice(&unit(1 << 1));
        assert!(!is_irap(&sei_then_trail));
        let mut sei_then_idr = unit(39 << 1).to_vec();
        sei_then_idr.extend_from_slice(&unit(20 << 1));
        assert!(is_irap(&sei_then_idr));
        assert!(!is_irap(&[0, 0, 0, 9, 0x26]), "truncated");
    }
}
