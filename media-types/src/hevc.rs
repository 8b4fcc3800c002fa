//! H.265: the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), read and built, and
//! the sequence parameter set fields it copies or a picture size needs (ITU-T H.265 7.3.2.2).
//!
//! The SPS is read with h264-reader's RBSP bit reader: H.265 codes its syntax elements and
//! emulation prevention bytes as H.264 does (H.265 7.2, 7.4.2); only its NAL unit header is
//! two bytes long.

use std::fmt::Write as _;
use std::num::NonZeroUsize;

use bytes::{BufMut, Bytes, BytesMut};
use h264_reader::rbsp::{BitRead, BitReader, BitReaderError, ByteReader};

use crate::codec::{need, read_parameter_sets};
use crate::ConfigError;

const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// H.265 decoder configuration (HEVCDecoderConfigurationRecord, ISO/IEC 14496-15 8.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// The record as received.
    pub record: Bytes,
    /// `general_profile_space` (0-3).
    pub profile_space: u8,
    /// `general_tier_flag`.
    pub tier_high: bool,
    /// `general_profile_idc`.
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags`.
    pub compatibility_flags: u32,
    /// `general_constraint_indicator_flags` (48 bits, in the low bits).
    pub constraint_flags: u64,
    /// `general_level_idc`.
    pub level_idc: u8,
    /// Bytes in each NAL unit length prefix.
    pub nal_length_size: u8,
    /// Video parameter sets.
    pub vps: Vec<Bytes>,
    /// Sequence parameter sets.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
    /// Other NAL units in the record's arrays (e.g. SEI), in order.
    pub other: Vec<Bytes>,
}

impl HevcConfig {
    /// Parses an HEVCDecoderConfigurationRecord.
    pub fn parse(record: Bytes) -> Result<Self, ConfigError> {
        const WHAT: &str = "hevc decoder configuration record";
        need(WHAT, &record, 23)?;
        if record[0] != 1 {
            return Err(ConfigError::Unsupported {
                what: "hvcC version",
                value: record[0].into(),
            });
        }
        let compatibility_flags = u32::from_be_bytes([record[2], record[3], record[4], record[5]]);
        let constraint_flags = record[6..12]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let nal_length_size = (record[21] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(ConfigError::Unsupported {
                what: "hvcC length size",
                value: 3,
            });
        }
        let arrays = record[22];
        let mut pos = 23;
        let (mut vps, mut sps, mut pps, mut other) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..arrays {
            need(WHAT, &record[pos..], 3)?;
            let nal_type = record[pos] & 0x3f;
            let count = usize::from(u16::from_be_bytes([record[pos + 1], record[pos + 2]]));
            pos += 3;
            let out = match nal_type {
                32 => &mut vps,
                33 => &mut sps,
                34 => &mut pps,
                _ => &mut other,
            };
            read_parameter_sets(WHAT, &record, &mut pos, count, out)?;
        }
        Ok(Self {
            profile_space: record[1] >> 6,
            tier_high: record[1] & 0x20 != 0,
            profile_idc: record[1] & 0x1f,
            compatibility_flags,
            constraint_flags,
            level_idc: record[12],
            nal_length_size,
            vps,
            sps,
            pps,
            other,
            record,
        })
    }

    /// `hvc1.<space><profile>.<compat>.<tier><level>.<constraints>` (ISO/IEC 14496-15 E.3).
    pub fn rfc6381(&self) -> String {
        let mut s = String::from("hvc1.");
        if self.profile_space > 0 {
            s.push(char::from(b'A' + self.profile_space - 1));
        }
        let _ = write!(
            s,
            "{}.{:X}.{}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            if self.tier_high { 'H' } else { 'L' },
            self.level_idc
        );
        let bytes = self.constraint_flags.to_be_bytes();
        let constraints = &bytes[2..];
        let last = constraints
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i + 1);
        for b in &constraints[..last] {
            let _ = write!(s, ".{b:X}");
        }
        s
    }

    /// The picture size in pixels from the first SPS: the coded luma size less the
    /// conformance window, what HLS `RESOLUTION` and an MP4 sample entry declare.
    pub fn picture_size(&self) -> Result<(u32, u32), ConfigError> {
        let nal = self
            .sps
            .first()
            .ok_or(ConfigError::MissingParameterSet { what: SPS })?;
        Sps::parse(nal).map(|sps| (sps.width, sps.height))
    }

    /// Builds a record with 4-byte NAL unit lengths around the given VPS, SPS and PPS NAL
    /// units (each with its two-byte header, without start code or length).
    ///
    /// Profile, tier, level and constraint flags, chroma format, bit depths and the temporal
    /// layering are copied from the first SPS; `min_spatial_segmentation_idc`,
    /// `parallelismType`, `avgFrameRate` and `constantFrameRate` are 0 (unknown), and each
    /// array is marked complete (no other parameter sets of its kind in the stream).
    pub fn from_parameter_sets(
        vps: &[&[u8]],
        sps: &[&[u8]],
        pps: &[&[u8]],
    ) -> Result<Self, ConfigError> {
        let arrays = [
            (NAL_VPS, vps, "h265 video parameter set"),
            (NAL_SPS, sps, SPS),
            (NAL_PPS, pps, "h265 picture parameter set"),
        ];
        if let Some((_, _, what)) = arrays.iter().find(|(_, sets, _)| sets.is_empty()) {
            return Err(ConfigError::MissingParameterSet { what });
        }
        let first = Sps::parse(sps[0])?;
        for depth in [first.bit_depth_luma_minus8, first.bit_depth_chroma_minus8] {
            // three bits in the record
            if depth > 7 {
                return Err(ConfigError::Unsupported {
                    what: "hvcC bit depth",
                    value: u32::from(depth) + 8,
                });
            }
        }
        let mut out = BytesMut::new();
        out.put_u8(1); // configurationVersion
        out.put_slice(&first.general);
        out.put_u16(0xf000); // reserved '1111', min_spatial_segmentation_idc 0
        out.put_u8(0xfc); // reserved '111111', parallelismType 0
        out.put_u8(0xfc | first.chroma_format_idc);
        out.put_u8(0xf8 | first.bit_depth_luma_minus8);
        out.put_u8(0xf8 | first.bit_depth_chroma_minus8);
        out.put_u16(0); // avgFrameRate
        out.put_u8(
            (first.max_sub_layers & 0x07) << 3 | u8::from(first.temporal_id_nesting) << 2 | 3, // 4-byte lengths
        );
        out.put_u8(3); // numOfArrays
        for (kind, sets, _) in arrays {
            out.put_u8(0x80 | kind); // array_completeness
            out.put_u16(u16_field("hvcC numNalus", sets.len())?);
            for set in sets {
                out.put_u16(u16_field("hvcC nalUnitLength", set.len())?);
                out.put_slice(set);
            }
        }
        Self::parse(out.freeze())
    }
}

const SPS: &str = "h265 sequence parameter set";

fn u16_field(what: &'static str, value: usize) -> Result<u16, ConfigError> {
    u16::try_from(value).map_err(|_| ConfigError::Unsupported {
        what,
        value: u32::try_from(value).unwrap_or(u32::MAX),
    })
}

/// What the record copies from an SPS, and the picture size (H.265 7.3.2.2.1 up to the bit
/// depths, with `profile_tier_level`, 7.3.3).
#[derive(Debug, PartialEq, Eq)]
struct Sps {
    /// The 12 bytes of `general_profile_space` .. `general_level_idc`.
    general: [u8; 12],
    max_sub_layers: u8,
    temporal_id_nesting: bool,
    chroma_format_idc: u8,
    /// Luma samples, less the conformance window.
    width: u32,
    height: u32,
    bit_depth_luma_minus8: u8,
    bit_depth_chroma_minus8: u8,
}

impl Sps {
    /// Reads an SPS NAL unit (with its two-byte header and emulation prevention bytes).
    fn parse(nal: &[u8]) -> Result<Self, ConfigError> {
        let malformed = |field| ConfigError::Malformed { what: SPS, field };
        let read_error = |e: BitReaderError| match e {
            BitReaderError::ReaderError(field, _) | BitReaderError::ExpGolombTooLarge(field) => {
                malformed(field)
            }
            BitReaderError::RemainingData => malformed("rbsp_trailing_bits"),
        };
        if nal.len() < 3 {
            return Err(malformed("sps_video_parameter_set_id"));
        }
        let header = NonZeroUsize::MIN.saturating_add(1);
        let mut r = BitReader::new(ByteReader::skipping_bytes(nal, header));
        r.skip(4, "sps_video_parameter_set_id")
            .map_err(read_error)?;
        let max_sub_layers_minus1: u8 = r
            .read::<3, u8>("sps_max_sub_layers_minus1")
            .map_err(read_error)?;
        let temporal_id_nesting = r
            .read_bit("sps_temporal_id_nesting_flag")
            .map_err(read_error)?;
        let mut general = [0u8; 12];
        for byte in &mut general {
            *byte = r
                .read::<8, u8>("general_profile_tier_level")
                .map_err(read_error)?;
        }
        let sub_layers = usize::from(max_sub_layers_minus1);
        let mut present = [(false, false); 7];
        for flags in present.iter_mut().take(sub_layers) {
            *flags = (
                r.read_bit("sub_layer_profile_present_flag")
                    .map_err(read_error)?,
                r.read_bit("sub_layer_level_present_flag")
                    .map_err(read_error)?,
            );
        }
        if sub_layers > 0 {
            let reserved = 2 * (8 - u32::from(max_sub_layers_minus1));
            r.skip(reserved, "reserved_zero_2bits")
                .map_err(read_error)?;
        }
        for (profile, level) in present.into_iter().take(sub_layers) {
            if profile {
                r.skip(88, "sub_layer_profile").map_err(read_error)?;
            }
            if level {
                r.skip(8, "sub_layer_level_idc").map_err(read_error)?;
            }
        }
        r.read_ue("sps_seq_parameter_set_id").map_err(read_error)?;
        let chroma_format_idc = r.read_ue("chroma_format_idc").map_err(read_error)?;
        let chroma_format_idc = u8::try_from(chroma_format_idc)
            .ok()
            .filter(|c| *c <= 3)
            .ok_or(malformed("chroma_format_idc"))?;
        let separate_colour_plane = chroma_format_idc == 3
            && r.read_bit("separate_colour_plane_flag")
                .map_err(read_error)?;
        let mut width = r.read_ue("pic_width_in_luma_samples").map_err(read_error)?;
        let mut height = r
            .read_ue("pic_height_in_luma_samples")
            .map_err(read_error)?;
        if r.read_bit("conformance_window_flag").map_err(read_error)? {
            // Offsets count chroma samples (H.265 table 6-1; ChromaArrayType 0 counts luma).
            let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
                (1, _) => (2, 2),
                (2, _) => (2, 1),
                _ => (1, 1),
            };
            let mut offsets = [0u32; 4];
            for offset in &mut offsets {
                *offset = r.read_ue("conf_win_offset").map_err(read_error)?;
            }
            let [left, right, top, bottom] = offsets;
            let crop = |size: u32, sub: u32, a: u32, b: u32| {
                a.checked_add(b)
                    .and_then(|sum| sum.checked_mul(sub))
                    .and_then(|cut| size.checked_sub(cut))
                    .ok_or(malformed("conf_win_offset"))
            };
            width = crop(width, sub_w, left, right)?;
            height = crop(height, sub_h, top, bottom)?;
        }
        let mut bit_depth = |field| {
            r.read_ue(field).map_err(read_error).and_then(|d| {
                u8::try_from(d)
                    .ok()
                    .filter(|d| *d <= 8)
                    .ok_or(malformed(field))
            })
        };
        let bit_depth_luma_minus8 = bit_depth("bit_depth_luma_minus8")?;
        let bit_depth_chroma_minus8 = bit_depth("bit_depth_chroma_minus8")?;
        Ok(Self {
            general,
            max_sub_layers: max_sub_layers_minus1 + 1,
            temporal_id_nesting,
            chroma_format_idc,
            width,
            height,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // The parameter sets Debian's ffmpeg 5.1 + libx265 wrote for a 320x240 yuv420p picture
    // (`-c:v libx265 -preset veryfast -tune zerolatency`): Main profile, level 2 (60).
    const VPS: [u8; 24] = hex!("40010c01ffff01600000030090000003000003003cba0240");
    const SPS_320X240: [u8; 40] =
        hex!("42010101600000030090000003000003003ca00a080f165ba924caf0168080000003008000000f04");
    const PPS: [u8; 7] = hex!("4401c172b46240");
    // Debian's libx265 for 330x186 (coded 336x192, cropped by a conformance window),
    // yuv420p10le: Main 10 (profile 2), 10-bit luma and chroma.
    const SPS_MAIN10_330X186: [u8; 42] = hex!(
        "42010102200000030090000003000003003ca00a880c1c92365ba924caf0168080000003008000000f04"
    );

    #[test]
    fn hevc_codec_string() {
        let mut rec = vec![1u8, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        rec.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
        let c = HevcConfig::parse(Bytes::from(rec)).unwrap();
        assert_eq!(c.rfc6381(), "hvc1.1.6.L93.B0");
        assert_eq!(
            c.picture_size(),
            Err(ConfigError::MissingParameterSet { what: SPS })
        );
    }

    #[test]
    fn sps_fields_behind_emulation_prevention() {
        let sps = Sps::parse(&SPS_320X240).unwrap();
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
        assert_eq!((sps.width, sps.height), (320, 240));
    }

    #[test]
    fn sps_with_a_conformance_window_and_ten_bits() {
        let sps = Sps::parse(&SPS_MAIN10_330X186).unwrap();
        assert_eq!(sps.general[0] & 0x1f, 2, "Main 10");
        assert_eq!(
            (
                sps.chroma_format_idc,
                sps.bit_depth_luma_minus8,
                sps.bit_depth_chroma_minus8
            ),
            (1, 2, 2)
        );
        assert_eq!((sps.width, sps.height), (330, 186));
    }

    #[test]
    fn x265_sps_picture_size() {
        // SPS written by libx265 for testsrc 320x240, Main profile.
        let sps = hex!(
            "42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003c10"
        );
        assert_eq!(
            Sps::parse(&sps).map(|s| (s.width, s.height)),
            Ok((320, 240))
        );
        assert!(matches!(
            Sps::parse(&sps[..12]),
            Err(ConfigError::Malformed { what: SPS, .. })
        ));
        assert!(Sps::parse(&[]).is_err());
    }

    #[test]
    fn record_from_parameter_sets_parses_back() {
        let config = HevcConfig::from_parameter_sets(&[&VPS], &[&SPS_320X240], &[&PPS]).unwrap();
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
            (&VPS[..], &SPS_320X240[..], &PPS[..])
        );
        assert!(config.other.is_empty());
        assert_eq!(config.picture_size(), Ok((320, 240)));

        let main10 =
            HevcConfig::from_parameter_sets(&[&VPS], &[&SPS_MAIN10_330X186], &[&PPS]).unwrap();
        assert_eq!(main10.profile_idc, 2);
        assert_eq!(
            &main10.record[16..19],
            &[0xfd, 0xfa, 0xfa],
            "4:2:0, 10 bits"
        );
        assert_eq!(main10.picture_size(), Ok((330, 186)));
    }

    #[test]
    fn record_needs_every_kind_of_parameter_set() {
        assert_eq!(
            HevcConfig::from_parameter_sets(&[&VPS], &[&SPS_320X240], &[]),
            Err(ConfigError::MissingParameterSet {
                what: "h265 picture parameter set"
            })
        );
        assert!(matches!(
            HevcConfig::from_parameter_sets(&[&VPS], &[&SPS_320X240[..10]], &[&PPS]),
            Err(ConfigError::Malformed { what: SPS, .. })
        ));
    }
}
