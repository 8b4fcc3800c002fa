//! Script data (FLV 10.1 annex E.4.4 `SCRIPTDATA`): the `onMetaData` object that describes a
//! stream (E.5), in FLV files and, wrapped by the data messages of RTMP, on the wire.
//!
//! The values are AMF0 ([`onair_amf`]); [`StreamMetadata`] is their typed view and keeps every
//! property as received.

use bytes::BytesMut;
use onair_amf::amf0::{self, Amf0Value};

use crate::FlvError;

/// The name of the script data object that describes a stream.
pub const ON_METADATA: &str = "onMetaData";

/// How `videocodecid` / `audiocodecid` identify a codec: a legacy FLV codec id (7 = AVC, 10 =
/// AAC, ...) or an Enhanced RTMP FourCC (sent as a string, or as the number whose big-endian
/// bytes spell it, as FFmpeg does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataCodec {
    /// A legacy FLV `CodecID` / `SoundFormat` number.
    Id(u32),
    /// An Enhanced RTMP FourCC such as `hvc1` or `Opus`.
    FourCc([u8; 4]),
}

impl MetadataCodec {
    fn from_value(v: &Amf0Value) -> Option<Self> {
        if let Some(n) = v.as_number() {
            if !(0.0..=f64::from(u32::MAX)).contains(&n) || n.fract() != 0.0 {
                return None;
            }
            let n = n as u32;
            // FourCCs are printable ASCII, so at least 0x20 in the top byte
            return Some(if n >= 0x2000_0000 {
                MetadataCodec::FourCc(n.to_be_bytes())
            } else {
                MetadataCodec::Id(n)
            });
        }
        let s = v.as_str()?.as_bytes();
        let four: [u8; 4] = s.try_into().ok()?;
        Some(MetadataCodec::FourCc(four))
    }
}

/// The typed view of an `onMetaData` object, with every property kept in [`Self::properties`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamMetadata {
    /// `width` in pixels.
    pub width: Option<f64>,
    /// `height` in pixels.
    pub height: Option<f64>,
    /// `framerate` (or `fps`) in frames per second.
    pub framerate: Option<f64>,
    /// `videocodecid`.
    pub video_codec: Option<MetadataCodec>,
    /// `videodatarate` in kbit/s.
    pub video_data_rate: Option<f64>,
    /// `audiocodecid`.
    pub audio_codec: Option<MetadataCodec>,
    /// `audiodatarate` in kbit/s.
    pub audio_data_rate: Option<f64>,
    /// `audiosamplerate` in Hz.
    pub audio_sample_rate: Option<f64>,
    /// `audiosamplesize` in bits.
    pub audio_sample_size: Option<f64>,
    /// `audiochannels`, or 2/1 from the boolean `stereo`.
    pub audio_channels: Option<f64>,
    /// `duration` in seconds (0 for live streams).
    pub duration: Option<f64>,
    /// `encoder` (the software that produced the stream).
    pub encoder: Option<String>,
    /// Every property as received, in order (including the ones above).
    pub properties: Vec<(String, Amf0Value)>,
}

impl StreamMetadata {
    /// The typed view of an `onMetaData` property list.
    pub fn from_properties(properties: Vec<(String, Amf0Value)>) -> Self {
        let get = |key: &str| properties.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let num = |key: &str| get(key).and_then(Amf0Value::as_number);
        let audio_channels = num("audiochannels").or_else(|| {
            get("stereo")
                .and_then(Amf0Value::as_bool)
                .map(|stereo| if stereo { 2.0 } else { 1.0 })
        });
        Self {
            width: num("width"),
            height: num("height"),
            framerate: num("framerate").or_else(|| num("fps")),
            video_codec: get("videocodecid").and_then(MetadataCodec::from_value),
            video_data_rate: num("videodatarate"),
            audio_codec: get("audiocodecid").and_then(MetadataCodec::from_value),
            audio_data_rate: num("audiodatarate"),
            audio_sample_rate: num("audiosamplerate"),
            audio_sample_size: num("audiosamplesize"),
            audio_channels,
            duration: num("duration"),
            encoder: get("encoder")
                .and_then(Amf0Value::as_str)
                .map(str::to_owned),
            properties,
        }
    }

    /// The typed view of the value that follows `onMetaData`: an object, ECMA array or typed
    /// object (anything else gives no properties).
    pub fn from_value(value: Amf0Value) -> Self {
        let props = match value {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => p,
            Amf0Value::TypedObject { properties, .. } => properties,
            _ => Vec::new(),
        };
        Self::from_properties(props)
    }

    /// Reads a script data tag body (a name, then a value); `Ok(None)` when the name is not
    /// `onMetaData`.
    pub fn parse_script(body: &[u8]) -> Result<Option<Self>, FlvError> {
        let mut input = body;
        if amf0::decode(&mut input)?.as_str() != Some(ON_METADATA) {
            return Ok(None);
        }
        let value = if input.is_empty() {
            Amf0Value::Null
        } else {
            amf0::decode(&mut input)?
        };
        Ok(Some(Self::from_value(value)))
    }

    /// Appends `onMetaData` and `properties` as an ECMA array: the body of a script data tag
    /// (and of the data message an RTMP server sends its players).
    pub fn write_script(properties: &[(String, Amf0Value)], out: &mut BytesMut) {
        amf0::encode(&Amf0Value::from(ON_METADATA), out);
        amf0::encode(&Amf0Value::EcmaArray(properties.to_vec()), out);
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn props() -> Vec<(String, Amf0Value)> {
        vec![
            ("width".into(), 1280.0.into()),
            ("height".into(), 720.0.into()),
            ("framerate".into(), 30.0.into()),
            ("videocodecid".into(), 7.0.into()),
            ("audiocodecid".into(), "Opus".into()),
            ("stereo".into(), false.into()),
            ("encoder".into(), "Lavf59.27.100".into()),
        ]
    }

    #[test]
    fn script_round_trip() {
        let mut out = BytesMut::new();
        StreamMetadata::write_script(&props(), &mut out);
        let metadata = StreamMetadata::parse_script(&out).unwrap().unwrap();
        assert_eq!(metadata.width, Some(1280.0));
        assert_eq!(metadata.height, Some(720.0));
        assert_eq!(metadata.framerate, Some(30.0));
        assert_eq!(metadata.video_codec, Some(MetadataCodec::Id(7)));
        assert_eq!(metadata.audio_codec, Some(MetadataCodec::FourCc(*b"Opus")));
        assert_eq!(metadata.audio_channels, Some(1.0));
        assert_eq!(metadata.encoder.as_deref(), Some("Lavf59.27.100"));
        assert_eq!(metadata.properties, props());
    }

    #[test]
    fn numeric_fourcc() {
        let hvc1 = f64::from(u32::from_be_bytes(*b"hvc1"));
        let mut out = BytesMut::new();
        StreamMetadata::write_script(&[("videocodecid".into(), hvc1.into())], &mut out);
        assert_eq!(&out[..18], hex!("02 000a 6f6e4d65746144617461 08 00000001"));
        let metadata = StreamMetadata::parse_script(&out).unwrap().unwrap();
        assert_eq!(metadata.video_codec, Some(MetadataCodec::FourCc(*b"hvc1")));
    }

    #[test]
    fn other_script_data() {
        let mut out = BytesMut::new();
        amf0::encode(&"onCuePoint".into(), &mut out);
        assert_eq!(StreamMetadata::parse_script(&out), Ok(None));
        assert_eq!(
            StreamMetadata::parse_script(&hex!("02 00")),
            Err(FlvError::Amf(onair_amf::AmfError::NotEnoughData {
                needed: 2,
                available: 1
            }))
        );
    }
}
