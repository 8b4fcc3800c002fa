use std::fmt::Write as _;

use bytes::Bytes;

use crate::ConfigError;

/// Video or audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Pictures.
    Video,
    /// Sound.
    Audio,
}

/// The codecs onair carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecId {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
    /// AV1.
    Av1,
    /// VP9.
    Vp9,
    /// AAC (any object type carried in an AudioSpecificConfig).
    Aac,
    /// MPEG-1/2 Audio Layer III.
    Mp3,
    /// Opus.
    Opus,
}

impl CodecId {
    /// Whether this codec carries video or audio.
    pub fn kind(self) -> MediaKind {
        match self {
            CodecId::H264 | CodecId::H265 | CodecId::Av1 | CodecId::Vp9 => MediaKind::Video,
            CodecId::Aac | CodecId::Mp3 | CodecId::Opus => MediaKind::Audio,
        }
    }
}

/// The configuration a decoder needs before the first frame of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecConfig {
    /// H.264, from an AVCDecoderConfigurationRecord.
    Avc(AvcConfig),
    /// H.265, from an HEVCDecoderConfigurationRecord.
    Hevc(HevcConfig),
    /// AV1: the raw AV1CodecConfigurationRecord (`av1C`).
    Av1(Bytes),
    /// VP9: the raw VPCodecConfigurationRecord (`vpcC`).
    Vp9(Bytes),
    /// AAC, from an AudioSpecificConfig.
    Aac(AacConfig),
    /// MP3: everything is in each frame header; this records what the container said.
    Mp3(Mp3Config),
    /// Opus, from an identification header (`OpusHead`).
    Opus(OpusConfig),
}

impl CodecConfig {
    /// The codec this configures.
    pub fn codec(&self) -> CodecId {
        match self {
            CodecConfig::Avc(_) => CodecId::H264,
            CodecConfig::Hevc(_) => CodecId::H265,
            CodecConfig::Av1(_) => CodecId::Av1,
            CodecConfig::Vp9(_) => CodecId::Vp9,
            CodecConfig::Aac(_) => CodecId::Aac,
            CodecConfig::Mp3(_) => CodecId::Mp3,
            CodecConfig::Opus(_) => CodecId::Opus,
        }
    }

    /// The RFC 6381 codec string used in HLS `CODECS` and MSE, e.g. `avc1.64001F`,
    /// `hvc1.1.6.L93.B0`, `mp4a.40.2`, `opus`.
    pub fn rfc6381(&self) -> String {
        match self {
            CodecConfig::Avc(c) => c.rfc6381(),
            CodecConfig::Hevc(c) => c.rfc6381(),
            CodecConfig::Av1(raw) => av1_codec_string(raw),
            CodecConfig::Vp9(raw) => vp9_codec_string(raw),
            CodecConfig::Aac(c) => format!("mp4a.40.{}", c.object_type),
            // hls.js and Apple both recognise MP3 as MPEG-4 audio object type 34.
            CodecConfig::Mp3(_) => "mp4a.40.34".to_owned(),
            CodecConfig::Opus(_) => "opus".to_owned(),
        }
    }
}

fn need(what: &'static str, data: &[u8], needed: usize) -> Result<(), ConfigError> {
    if data.len() < needed {
        Err(ConfigError::NotEnoughData {
            what,
            needed,
            available: data.len(),
        })
    } else {
        Ok(())
    }
}

/// Reads `count` parameter sets, each a 16-bit length then the bytes, from `data[*pos..]`.
fn read_parameter_sets(
    what: &'static str,
    record: &Bytes,
    pos: &mut usize,
    count: usize,
    out: &mut Vec<Bytes>,
) -> Result<(), ConfigError> {
    for _ in 0..count {
        need(what, &record[*pos..], 2)?;
        let len = usize::from(u16::from_be_bytes([record[*pos], record[*pos + 1]]));
        *pos += 2;
        need(what, &record[*pos..], len)?;
        out.push(record.slice(*pos..*pos + len));
        *pos += len;
    }
    Ok(())
}

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
}

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
}

/// AAC configuration (AudioSpecificConfig, ISO/IEC 14496-3 1.6.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfig {
    /// The AudioSpecificConfig as received.
    pub record: Bytes,
    /// Audio object type (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS).
    pub object_type: u8,
    /// Index into the standard sampling rate table (15 = explicit rate).
    pub frequency_index: u8,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// Channel configuration (0 = defined in the bitstream, 1-7 standard layouts).
    pub channel_config: u8,
}

/// ISO/IEC 14496-3 table 1.18.
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AacConfig {
    /// Parses an AudioSpecificConfig.
    pub fn parse(record: Bytes) -> Result<Self, ConfigError> {
        const WHAT: &str = "audio specific config";
        let mut bits = BitReader {
            data: &record,
            pos: 0,
        };
        let short = |bits: &BitReader<'_>| ConfigError::NotEnoughData {
            what: WHAT,
            needed: bits.pos / 8 + 1,
            available: record.len(),
        };
        let mut object_type = bits.read(5).ok_or_else(|| short(&bits))?;
        if object_type == 31 {
            object_type = 32 + bits.read(6).ok_or_else(|| short(&bits))?;
        }
        let frequency_index = bits.read(4).ok_or_else(|| short(&bits))?;
        let sample_rate = if frequency_index == 15 {
            bits.read(24).ok_or_else(|| short(&bits))?
        } else {
            *AAC_RATES
                .get(frequency_index as usize)
                .ok_or(ConfigError::Unsupported {
                    what: "aac sampling frequency index",
                    value: frequency_index,
                })?
        };
        let channel_config = bits.read(4).ok_or_else(|| short(&bits))?;
        Ok(Self {
            object_type: object_type as u8,
            frequency_index: frequency_index as u8,
            sample_rate,
            channel_config: channel_config as u8,
            record,
        })
    }

    /// An AAC-LC style AudioSpecificConfig for the given rate index and channel layout.
    pub fn new(object_type: u8, frequency_index: u8, channel_config: u8) -> Self {
        let v: u16 = (u16::from(object_type & 0x1f) << 11)
            | (u16::from(frequency_index & 0x0f) << 7)
            | (u16::from(channel_config & 0x0f) << 3);
        let sample_rate = AAC_RATES
            .get(usize::from(frequency_index))
            .copied()
            .unwrap_or(0);
        Self {
            record: Bytes::copy_from_slice(&v.to_be_bytes()),
            object_type,
            frequency_index,
            sample_rate,
            channel_config,
        }
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }
}

/// MP3 track parameters, as a container declares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Config {
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u8,
}

/// Opus configuration (identification header, RFC 7845 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    /// The `OpusHead` packet as received (empty when the container sent none).
    pub record: Bytes,
    /// Output channel count.
    pub channels: u8,
    /// Samples at 48 kHz to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// The original input sample rate (informational).
    pub input_sample_rate: u32,
}

impl OpusConfig {
    /// Parses an `OpusHead` identification header.
    pub fn parse(record: Bytes) -> Result<Self, ConfigError> {
        need("opus identification header", &record, 19)?;
        if &record[..8] != b"OpusHead" {
            return Err(ConfigError::Unsupported {
                what: "opus header magic",
                value: 0,
            });
        }
        Ok(Self {
            channels: record[9],
            pre_skip: u16::from_le_bytes([record[10], record[11]]),
            input_sample_rate: u32::from_le_bytes([record[12], record[13], record[14], record[15]]),
            record,
        })
    }
}

fn av1_codec_string(raw: &[u8]) -> String {
    // av1C: marker/version, seq_profile(3) seq_level_idx_0(5), tier(1) high_bitdepth(1) twelve_bit(1) ...
    if raw.len() < 3 {
        return "av01".to_owned();
    }
    let profile = raw[1] >> 5;
    let level = raw[1] & 0x1f;
    let tier = if raw[2] & 0x80 != 0 { 'H' } else { 'M' };
    let depth = match (raw[2] & 0x40 != 0, raw[2] & 0x20 != 0) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    format!("av01.{profile}.{level:02}{tier}.{depth:02}")
}

fn vp9_codec_string(raw: &[u8]) -> String {
    // vpcC (full box payload): version(1) flags(3) profile(1) level(1) bitDepth(4) ...
    if raw.len() < 7 {
        return "vp09".to_owned();
    }
    format!("vp09.{:02}.{:02}.{:02}", raw[4], raw[5], raw[6] >> 4)
}

/// Iterates over the NAL units of a length-prefixed (AVCC/HVCC) payload.
///
/// Stops at the first truncated unit; [`NalUnits::is_truncated`] then tells.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    length_size: usize,
    truncated: bool,
}

impl<'a> NalUnits<'a> {
    /// NAL units of `data` with `length_size`-byte big-endian prefixes (1 to 4).
    pub fn new(data: &'a [u8], length_size: u8) -> Self {
        Self {
            data,
            length_size: usize::from(length_size.clamp(1, 4)),
            truncated: false,
        }
    }

    /// Whether iteration stopped on a unit whose length ran past the data.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.data.is_empty() {
            return None;
        }
        if self.data.len() < self.length_size {
            self.truncated = true;
            self.data = &[];
            return None;
        }
        let len = self.data[..self.length_size]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        let rest = &self.data[self.length_size..];
        if rest.len() < len {
            self.truncated = true;
            self.data = &[];
            return None;
        }
        let (nal, tail) = rest.split_at(len);
        self.data = tail;
        Some(nal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn parses_aac_config() {
        let c = AacConfig::parse(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!(
            (c.object_type, c.sample_rate, c.channel_config),
            (2, 48000, 2)
        );
        assert_eq!(CodecConfig::Aac(c).rfc6381(), "mp4a.40.2");
        assert_eq!(
            AacConfig::new(2, 3, 2).record,
            Bytes::from_static(&[0x11, 0x90])
        );
    }

    #[test]
    fn hevc_codec_string() {
        let mut rec = vec![1u8, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        rec.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
        let c = HevcConfig::parse(Bytes::from(rec)).unwrap();
        assert_eq!(c.rfc6381(), "hvc1.1.6.L93.B0");
    }

    #[test]
    fn nal_iteration_stops_on_truncation() {
        let data = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 9, 1];
        let mut it = NalUnits::new(&data, 4);
        assert_eq!(it.next(), Some(&[0x65, 0x88][..]));
        assert_eq!(it.next(), None);
        assert!(it.is_truncated());
    }
}
