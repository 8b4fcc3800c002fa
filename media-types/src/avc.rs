//! H.264: the AVCDecoderConfigurationRecord and what its sequence parameter set says about the
//! picture. The SPS itself is read by `h264-reader` (ITU-T H.264 7.3.2.1.1).

use bytes::{BufMut, Bytes, BytesMut};
use h264_reader::nal::sps::{SeqParameterSet, SpsError};
use h264_reader::rbsp::{BitReader, BitReaderError, ByteReader};

use crate::codec::{need, read_parameter_sets};
use crate::ConfigError;

/// H.264 decoder configuration (AVCDecoderConfigurationRecord, ISO/IEC 14496-15 5.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// The record as received, for containers that carry it verbatim (FLV, `avcC`).
    pub record: Bytes,
    /// `AVCProfileIndication`.
    pub profile: u8,
    /// `profile_compatibility`.
    pub compatibility: u8,
    /// `AVCLevelIndication`.
    pub level: u8,
    /// Bytes in each NAL unit length prefix (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets (NAL units without start code or length).
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
}

impl AvcConfig {
    /// Parses an AVCDecoderConfigurationRecord.
    pub fn parse(record: Bytes) -> Result<Self, ConfigError> {
        const WHAT: &str = "avc decoder configuration record";
        need(WHAT, &record, 6)?;
        if record[0] != 1 {
            return Err(ConfigError::Unsupported {
                what: "avcC version",
                value: record[0].into(),
            });
        }
        let nal_length_size = (record[4] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(ConfigError::Unsupported {
                what: "avcC length size",
                value: 3,
            });
        }
        let mut pos = 6;
        let mut sps = Vec::new();
        read_parameter_sets(
            WHAT,
            &record,
            &mut pos,
            usize::from(record[5] & 0x1f),
            &mut sps,
        )?;
        need(WHAT, &record[pos..], 1)?;
        let num_pps = usize::from(record[pos]);
        pos += 1;
        let mut pps = Vec::new();
        read_parameter_sets(WHAT, &record, &mut pos, num_pps, &mut pps)?;
        Ok(Self {
            profile: record[1],
            compatibility: record[2],
            level: record[3],
            nal_length_size,
            sps,
            pps,
            record,
        })
    }

    /// `avc1.PPCCLL` from the record's profile, compatibility and level bytes.
    pub fn rfc6381(&self) -> String {
        format!(
            "avc1.{:02X}{:02X}{:02X}",
            self.profile, self.compatibility, self.level
        )
    }

    /// The picture size in pixels, after the frame cropping of the first SPS: what HLS
    /// `RESOLUTION` and an MP4 sample entry declare.
    pub fn picture_size(&self) -> Result<(u32, u32), ConfigError> {
        self.first_sps()?
            .pixel_dimensions()
            .map_err(|e| malformed(&e))
    }

    /// Frames per second from the VUI timing information of the first SPS, when it has one
    /// (`time_scale / (2 * num_units_in_tick)`, H.264 E.2.1). Without
    /// `fixed_frame_rate_flag` the timing may describe the encoder's time base rather than
    /// the frame rate (libx264 with variable-rate input writes 1000 "fps" for a millisecond
    /// time base, 45000 for 90 kHz): such a rate is believed only up to 300 fps.
    pub fn frame_rate(&self) -> Option<f64> {
        let sps = self.first_sps().ok()?;
        let fixed = sps
            .vui_parameters
            .as_ref()
            .and_then(|vui| vui.timing_info.as_ref())
            .is_some_and(|timing| timing.fixed_frame_rate_flag);
        sps.fps()
            .filter(|fps| fps.is_finite() && *fps > 0.0)
            .filter(|fps| fixed || *fps <= MAX_PLAUSIBLE_FPS)
    }

    /// Builds a record with 4-byte NAL unit lengths around the given SPS and PPS NAL units
    /// (each with its NAL header, without start code or length); profile, compatibility and
    /// level are the first SPS's.
    pub fn from_parameter_sets(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Self, ConfigError> {
        let first = sps
            .first()
            .ok_or(ConfigError::MissingParameterSet { what: SPS })?;
        need(SPS, first, 4)?;
        if pps.is_empty() {
            return Err(ConfigError::MissingParameterSet {
                what: "h264 picture parameter set",
            });
        }
        let count = |what, sets: &[&[u8]], max: u8| {
            u8::try_from(sets.len())
                .ok()
                .filter(|n| *n <= max)
                .ok_or(ConfigError::Unsupported {
                    what,
                    value: u32::try_from(sets.len()).unwrap_or(u32::MAX),
                })
        };
        let num_sps = count("avcC numOfSequenceParameterSets", sps, 31)?;
        let num_pps = count("avcC numOfPictureParameterSets", pps, 255)?;
        let mut out = BytesMut::new();
        out.put_slice(&[1, first[1], first[2], first[3], 0xfc | 3]);
        out.put_u8(0xe0 | num_sps);
        put_sets(&mut out, sps)?;
        out.put_u8(num_pps);
        put_sets(&mut out, pps)?;
        Self::parse(out.freeze())
    }

    fn first_sps(&self) -> Result<SeqParameterSet, ConfigError> {
        let nal = self
            .sps
            .first()
            .ok_or(ConfigError::MissingParameterSet { what: SPS })?;
        SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(&nal[..])))
            .map_err(|e| malformed(&e))
    }
}

const SPS: &str = "h264 sequence parameter set";

/// Frame rates above this, read from a VUI without `fixed_frame_rate_flag`, are time bases.
const MAX_PLAUSIBLE_FPS: f64 = 300.0;

/// Each set as a 16-bit length and its bytes.
fn put_sets(out: &mut BytesMut, sets: &[&[u8]]) -> Result<(), ConfigError> {
    for set in sets {
        let len = u16::try_from(set.len()).map_err(|_| ConfigError::Unsupported {
            what: "avcC parameter set length",
            value: u32::try_from(set.len()).unwrap_or(u32::MAX),
        })?;
        out.put_u16(len);
        out.put_slice(set);
    }
    Ok(())
}

fn malformed(e: &SpsError) -> ConfigError {
    let field = match e {
        SpsError::RbspReaderError(
            BitReaderError::ReaderError(name, _) | BitReaderError::ExpGolombTooLarge(name),
        )
        | SpsError::FieldValueTooLarge { name, .. }
        | SpsError::FieldValueTooSmall { name, .. } => name,
        SpsError::RbspReaderError(BitReaderError::RemainingData) => "rbsp_trailing_bits",
        SpsError::BitDepthOutOfRange(_) => "bit_depth_luma_minus8",
        SpsError::PicOrderCnt(_) => "pic_order_cnt_type",
        SpsError::ScalingMatrix(_) => "seq_scaling_matrix",
        SpsError::Log2MaxFrameNumMinus4OutOfRange(_) => "log2_max_frame_num_minus4",
        SpsError::BadSeqParamSetId(_) | SpsError::UnknownSeqParamSetId(_) => "seq_parameter_set_id",
        SpsError::CroppingError(_) => "frame_crop_offset",
        SpsError::CpbCountOutOfRange(_) => "cpb_cnt_minus1",
    };
    ConfigError::Malformed { what: SPS, field }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// A record around one SPS (and one PPS), as FLV and MP4 carry it.
    fn record_with_sps(sps: &[u8]) -> AvcConfig {
        let mut rec = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        rec.extend_from_slice(&u16::try_from(sps.len()).unwrap().to_be_bytes());
        rec.extend_from_slice(sps);
        rec.extend_from_slice(&[1, 0, 2, 0x68, 0xee]);
        AvcConfig::parse(Bytes::from(rec)).unwrap()
    }

    #[test]
    fn parses_avc_record() {
        let rec = Bytes::from_static(&[
            1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0x00, 0x1f, 1, 0, 2, 0x68, 0xee,
        ]);
        let c = AvcConfig::parse(rec).unwrap();
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps, vec![Bytes::from_static(&[0x67, 0x64, 0, 0x1f])]);
        assert_eq!(c.pps, vec![Bytes::from_static(&[0x68, 0xee])]);
        assert_eq!(c.rfc6381(), "avc1.64001F");
    }

    #[test]
    fn truncated_avc_record_is_an_error() {
        let rec = Bytes::from_static(&[1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 9, 0x67]);
        assert!(matches!(
            AvcConfig::parse(rec),
            Err(ConfigError::NotEnoughData { .. })
        ));
    }

    #[test]
    fn picture_size_and_frame_rate_of_x264_sps() {
        // SPS written by ffmpeg/libx264 for testsrc 320x240 at 30 fps, High profile.
        let c = record_with_sps(&hex!("6764000dacd94141fb0110000003001000000303c0f1429960"));
        assert_eq!(c.picture_size(), Ok((320, 240)));
        assert_eq!(c.frame_rate(), Some(30.0));
        // 1280x720 at 25 fps
        let c = record_with_sps(&hex!(
            "6764001facd9405005bb011000000300100000030320f1831960"
        ));
        assert_eq!(c.picture_size(), Ok((1280, 720)));
        assert_eq!(c.frame_rate(), Some(25.0));
        // High 4:4:4 Predictive (chroma_format_idc 3)
        let c = record_with_sps(&hex!("67f4000d919b28283f6022000003000200000300781e28532c"));
        assert_eq!(c.picture_size(), Ok((320, 240)));
    }

    #[test]
    fn a_time_base_in_the_vui_is_not_a_frame_rate() {
        // libx264 with a millisecond time base and variable-rate input (no fixed frame
        // rate): time_scale 2000, num_units_in_tick 1 says 1000 "fps".
        let c = record_with_sps(&hex!("6764000dacd94141fb0110000003001000007d00f1429960"));
        assert_eq!(c.picture_size(), Ok((320, 240)));
        assert_eq!(c.frame_rate(), None);
    }

    #[test]
    fn record_from_parameter_sets() {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac];
        let pps = [0x68, 0xee, 0x3c, 0x80];
        let c = AvcConfig::from_parameter_sets(&[&sps], &[&pps]).unwrap();
        assert_eq!(
            &c.record[..],
            &[
                1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 5, 0x67, 0x64, 0x00, 0x1f, 0xac, 1, 0, 4, 0x68,
                0xee, 0x3c, 0x80
            ]
        );
        assert_eq!(
            (c.rfc6381().as_str(), c.nal_length_size),
            ("avc1.64001F", 4)
        );
        assert_eq!(
            AvcConfig::from_parameter_sets(&[&sps], &[]),
            Err(ConfigError::MissingParameterSet {
                what: "h264 picture parameter set"
            })
        );
        assert!(matches!(
            AvcConfig::from_parameter_sets(&[&sps[..3]], &[&pps]),
            Err(ConfigError::NotEnoughData { what: SPS, .. })
        ));
    }

    #[test]
    fn truncated_or_missing_sps_is_an_error() {
        let c = record_with_sps(&hex!("6764000dacd9"));
        assert!(matches!(
            c.picture_size(),
            Err(ConfigError::Malformed { what: SPS, .. })
        ));
        assert_eq!(c.frame_rate(), None);
        let mut c = c;
        c.sps.clear();
        assert_eq!(
            c.picture_size(),
            Err(ConfigError::MissingParameterSet { what: SPS })
        );
    }
}
