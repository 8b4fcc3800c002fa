use bytes::Bytes;
use h264_reader::rbsp::{BitRead, BitReader};

use crate::{AvcConfig, ConfigError, HevcConfig};

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

    /// The picture size in pixels of a video track, read from its first SPS (H.264 and
    /// H.265); `None` for other codecs or an SPS that cannot be read.
    pub fn picture_size(&self) -> Option<(u32, u32)> {
        match self {
            CodecConfig::Avc(c) => c.picture_size().ok(),
            CodecConfig::Hevc(c) => c.picture_size().ok(),
            _ => None,
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

pub(crate) fn need(what: &'static str, data: &[u8], needed: usize) -> Result<(), ConfigError> {
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
pub(crate) fn read_parameter_sets(
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
        let mut bits = BitReader::new(&record[..]);
        let mut consumed = 0u32;
        let mut read = |n: u32| {
            consumed += n;
            bits.read_var::<u32>(n, WHAT)
                .map_err(|_| ConfigError::NotEnoughData {
                    what: WHAT,
                    needed: consumed.div_ceil(8) as usize,
                    available: record.len(),
                })
        };
        let mut object_type = read(5)?;
        if object_type == 31 {
            object_type = 32 + read(6)?;
        }
        let frequency_index = read(4)?;
        let sample_rate = if frequency_index == 15 {
            read(24)?
        } else {
            *AAC_RATES
                .get(frequency_index as usize)
                .ok_or(ConfigError::Unsupported {
                    what: "aac sampling frequency index",
                    value: frequency_index,
                })?
        };
        let channel_config = read(4)?;
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
    fn aac_config_with_an_explicit_rate_or_cut_short() {
        // object type 2, frequency index 15 then 24 bits of 44100, 2 channels
        let c = AacConfig::parse(Bytes::from_static(&[0x17, 0x80, 0x56, 0x22, 0x10])).unwrap();
        assert_eq!(
            (c.object_type, c.sample_rate, c.channel_config),
            (2, 44100, 2)
        );
        assert_eq!(
            AacConfig::parse(Bytes::from_static(&[0x17, 0x80])),
            Err(ConfigError::NotEnoughData {
                what: "audio specific config",
                needed: 5,
                available: 2,
            })
        );
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
