//! H.265 parameter sets to an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), and
//! the NAL unit types that make an access unit a random access point (ITU-T H.265 7.4.2.2).

use bytes::{BufMut, Bytes, BytesMut};

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

/// A NAL unit's payload without its 2-byte header and with the emulation prevention bytes
/// (`00 00 03` -> `00 00`) removed.
fn rbsp(unit: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(unit.len());
    let mut zeros = 0;
    for &b in unit.iter().skip(2) {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// An MSB-first bit reader over an RBSP; reads past the end give `None`.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos += n;
        (self.pos <= self.data.len() * 8).then_some(())
    }

    /// `ue(v)`, Exp-Golomb (H.265 9.2); at most 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }
}

/// What the record copies from the SPS.
#[derive(Debug, PartialEq, Eq)]
struct SpsSummary {
    /// The 12 bytes of `general_profile_space` .. `general_level_idc`.
    general: [u8; 12],
    max_sub_layers: u8,
    temporal_id_nesting: bool,
    chroma_format_idc: u32,
    bit_depth_luma_minus8: u32,
    bit_depth_chroma_minus8: u32,
}

/// Reads the start of an SPS (H.265 7.3.2.2.1 and `profile_tier_level`, 7.3.3) up to the bit
/// depths.
fn parse_sps(unit: &[u8]) -> Option<SpsSummary> {
    let data = rbsp(unit);
    let first = *data.first()?;
    let max_sub_layers_minus1 = (first >> 1) & 0x07;
    let temporal_id_nesting = first & 1 != 0;
    let general: [u8; 12] = data.get(1..13)?.try_into().ok()?;
    let mut bits = Bits {
        data: &data,
        pos: 13 * 8,
    };
    let sub_layers = usize::from(max_sub_layers_minus1);
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..sub_layers {
        profile_present[i] = bits.bit()? == 1;
        level_present[i] = bits.bit()? == 1;
    }
    if sub_layers > 0 {
        // reserved_zero_2bits up to eight sub-layers
        bits.skip(2 * (8 - sub_layers))?;
    }
    for i in 0..sub_layers {
        if profile_present[i] {
            bits.skip(88)?;
        }
        if level_present[i] {
            bits.skip(8)?;
        }
    }
    let _sps_id = bits.ue()?;
    let chroma_format_idc = bits.ue()?;
    if chroma_format_idc > 3 {
        return None;
    }
    if chroma_format_idc == 3 {
        bits.skip(1)?; // separate_colour_plane_flag
    }
    let _width = bits.ue()?;
    let _height = bits.ue()?;
    if bits.bit()? == 1 {
        for _ in 0..4 {
            bits.ue()?; // conformance window offsets
        }
    }
    let bit_depth_luma_minus8 = bits.ue()?;
    let bit_depth_chroma_minus8 = bits.ue()?;
    if bit_depth_luma_minus8 > 7 || bit_depth_chroma_minus8 > 7 {
        return None;
    }
    Some(SpsSummary {
        general,
        max_sub_layers: max_sub_layers_minus1 + 1,
        temporal_id_nesting,
        chroma_format_idc,
        bit_depth_luma_minus8,
        bit_depth_chroma_minus8,
    })
}

/// Builds an HEVCDecoderConfigurationRecord with 4-byte NAL lengths from the VPS, SPS and PPS
/// in `extradata` (Annex B, as libx265 writes it; a record already is returned as given).
///
/// Profile, tier, level and constraint flags, chroma format, bit depths and the temporal
/// layering are copied from the first SPS; `min_spatial_segmentation_idc`,
/// `parallelismType`, `avgFrameRate` and `constantFrameRate` are 0 (unknown). Returns `None`
/// without a VPS, SPS and PPS or if the SPS cannot be read.
pub(crate) fn hevc_decoder_configuration_record(extradata: &[u8]) -> Option<Bytes> {
    if extradata.first() == Some(&1) {
        return Some(Bytes::copy_from_slice(extradata));
    }
    let mut arrays: [(u8, Vec<&[u8]>); 3] = [
        (NAL_VPS, Vec::new()),
        (NAL_SPS, Vec::new()),
        (NAL_PPS, Vec::new()),
    ];
    for unit in annex_b_units(extradata) {
        let kind = nal_type(unit)?;
        if let Some((_, sets)) = arrays.iter_mut().find(|(t, _)| *t == kind) {
            sets.push(unit);
        }
    }
    if arrays.iter().any(|(_, sets)| sets.is_empty()) {
        return None;
    }
    let sps = parse_sps(arrays[1].1[0])?;
    let mut out = BytesMut::new();
    out.put_u8(1); // configurationVersion
    out.put_slice(&sps.general);
    out.put_u16(0xf000); // reserved '1111', min_spatial_segmentation_idc 0
    out.put_u8(0xfc); // reserved '111111', parallelismType 0
    out.put_u8(0xfc | sps.chroma_format_idc as u8);
    out.put_u8(0xf8 | sps.bit_depth_luma_minus8 as u8);
    out.put_u8(0xf8 | sps.bit_depth_chroma_minus8 as u8);
    out.put_u16(0); // avgFrameRate
    out.put_u8(
        (sps.max_sub_layers & 0x07) << 3 | u8::from(sps.temporal_id_nesting) << 2 | 3, // 4-byte lengths
    );
    out.put_u8(3); // numOfArrays
    for (kind, sets) in &arrays {
        out.put_u8(0x80 | kind); // array_completeness 1: no other sets in the stream
        out.put_u16(u16::try_from(sets.len()).ok()?);
        for set in sets {
            out.put_u16(u16::try_from(set.len()).ok()?);
            out.put_slice(set);
        }
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_media_types::HevcConfig;

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

    fn annex_b() -> Vec<u8> {
        let mut out = Vec::new();
        for unit in [&VPS[..], &SPS[..], &PPS[..]] {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(unit);
        }
        out
    }

    #[test]
    fn sps_fields_behind_emulation_prevention() {
        let sps = parse_sps(&SPS).unwrap();
        assert_eq!(
            sps.general,
            [0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x3c]
        );
        assert_eq!((sps.max_sub_layers, sps.temporal_id_nesting), (1, true));
        assert_eq!(
            (
                sps.chroma_format_idc,
                sps.bit_depth_luma_minus8,
                sps.bit_depth_chroma_minus8
            ),
            (1, 0, 0)
        );
    }

    #[test]
    fn sps_with_a_conformance_window_and_ten_bits() {
        // Debian's libx265 for 330x186 (coded 336x192, cropped by a conformance window),
        // yuv420p10le: Main 10 (profile 2), 10-bit luma and chroma.
        const SPS_MAIN10_330X186: [u8; 42] = [
            0x42, 0x01, 0x01, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
            0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x88, 0x0c, 0x1c, 0x92, 0x36, 0x5b, 0xa9, 0x24,
            0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04,
        ];
        let sps = parse_sps(&SPS_MAIN10_330X186).unwrap();
        assert_eq!(sps.general[0] & 0x1f, 2, "Main 10");
        assert_eq!(
            (
                sps.chroma_format_idc,
                sps.bit_depth_luma_minus8,
                sps.bit_depth_chroma_minus8
            ),
            (1, 2, 2)
        );
    }

    #[test]
    fn record_parses_back() {
        let record = hevc_decoder_configuration_record(&annex_b()).unwrap();
        assert_eq!(
            &record[..23],
            &[
                1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8,
                0xf8, 0, 0, 0x0f, 3
            ]
        );
        let config = HevcConfig::parse(record).unwrap();
        assert_eq!(config.rfc6381(), "hvc1.1.6.L60.90");
        assert_eq!(config.nal_length_size, 4);
        assert_eq!(
            (&config.vps[0][..], &config.sps[0][..], &config.pps[0][..]),
            (&VPS[..], &SPS[..], &PPS[..])
        );
        assert!(config.other.is_empty());
    }

    #[test]
    fn missing_pps_or_truncated_sps_gives_none() {
        let mut data = annex_b();
        data.truncate(data.len() - PPS.len() - 4);
        assert_eq!(hevc_decoder_configuration_record(&data), None);
        let mut short = vec![0, 0, 0, 1];
        short.extend_from_slice(&VPS);
        short.extend_from_slice(&[0, 0, 0, 1]);
        short.extend_from_slice(&SPS[..10]);
        short.extend_from_slice(&[0, 0, 0, 1]);
        short.extend_from_slice(&PPS);
        assert_eq!(hevc_decoder_configuration_record(&short), None);
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
