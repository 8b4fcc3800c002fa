//! Stream metadata (`onMetaData`, FLV 10.1 specification E.5) and the data messages that carry
//! it (RTMP message types 18 and 15).
//!
//! Publishers send `@setDataFrame("onMetaData", {...})`; servers strip the wrapper and send
//! players `onMetaData({...})`. Both forms are recognised by [`DataMessage::parse`].

use bytes::BytesMut;

use crate::amf0::{self, Amf0Value, AmfError};
use crate::chunk::MessageType;

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
}

/// A data message (AMF0 type 18, or AMF3 type 15 whose body starts with a 0 format byte).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataMessage {
    /// Stream metadata: `@setDataFrame("onMetaData", m)` from a publisher or `onMetaData(m)`.
    Metadata {
        /// Whether it came wrapped in `@setDataFrame` (as publishers send it).
        set_data_frame: bool,
        /// The metadata.
        metadata: StreamMetadata,
    },
    /// `@clearDataFrame("onMetaData")`: the publisher withdraws its metadata.
    ClearDataFrame,
    /// Any other data message: the handler name (empty if the first value is not a string)
    /// and the values after it.
    Other {
        /// The handler name, e.g. `onTextData`, `onCuePoint`.
        name: String,
        /// The remaining values.
        values: Vec<Amf0Value>,
    },
}

impl DataMessage {
    /// Parses the payload of a data message; `Ok(None)` when `type_id` is not a data message
    /// type (18 or 15).
    pub fn parse(type_id: MessageType, payload: &[u8]) -> Result<Option<Self>, AmfError> {
        let body = if type_id == MessageType::DATA_AMF0 {
            payload
        } else if type_id == MessageType::DATA_AMF3 {
            match payload.split_first() {
                Some((0, rest)) => rest,
                _ => payload,
            }
        } else {
            return Ok(None);
        };
        let mut values = amf0::decode_all(body)?.into_iter();
        let Some(first) = values.next() else {
            return Ok(Some(DataMessage::Other {
                name: String::new(),
                values: Vec::new(),
            }));
        };
        let name = first.as_str().unwrap_or_default().to_owned();
        let mut values: Vec<Amf0Value> = if first.as_str().is_some() {
            values.collect()
        } else {
            std::iter::once(first).chain(values).collect()
        };
        let (set_data_frame, handler) = match name.as_str() {
            "@setDataFrame" => (true, values.first().and_then(Amf0Value::as_str)),
            "@clearDataFrame" => return Ok(Some(DataMessage::ClearDataFrame)),
            other => (false, Some(other)),
        };
        if handler == Some("onMetaData") {
            let skip = usize::from(set_data_frame);
            let value = values.drain(..).nth(skip).unwrap_or(Amf0Value::Null);
            return Ok(Some(DataMessage::Metadata {
                set_data_frame,
                metadata: StreamMetadata::from_value(value),
            }));
        }
        Ok(Some(DataMessage::Other { name, values }))
    }

    /// Appends `onMetaData` and the properties as an ECMA array: the body of the type 18
    /// message a server sends players.
    pub fn write_on_metadata(props: &[(String, Amf0Value)], out: &mut BytesMut) {
        amf0::encode(&Amf0Value::from("onMetaData"), out);
        amf0::encode(&Amf0Value::EcmaArray(props.to_vec()), out);
    }

    /// Appends `@setDataFrame`, `onMetaData` and the properties as an ECMA array: the body of
    /// the type 18 message a publisher sends.
    pub fn write_set_data_frame(props: &[(String, Amf0Value)], out: &mut BytesMut) {
        amf0::encode(&Amf0Value::from("@setDataFrame"), out);
        Self::write_on_metadata(props, out);
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
    fn set_data_frame_round_trip() {
        let mut out = BytesMut::new();
        DataMessage::write_set_data_frame(&props(), &mut out);
        let msg = DataMessage::parse(MessageType::DATA_AMF0, &out)
            .unwrap()
            .unwrap();
        let DataMessage::Metadata {
            set_data_frame,
            metadata,
        } = msg
        else {
            panic!("not metadata: {msg:?}");
        };
        assert!(set_data_frame);
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
    fn plain_on_metadata_with_numeric_fourcc() {
        let hvc1 = f64::from(u32::from_be_bytes(*b"hvc1"));
        let mut out = BytesMut::new();
        DataMessage::write_on_metadata(&[("videocodecid".into(), hvc1.into())], &mut out);
        assert_eq!(&out[..18], hex!("02 000a 6f6e4d65746144617461 08 00000001"));
        let msg = DataMessage::parse(MessageType::DATA_AMF0, &out).unwrap();
        let Some(DataMessage::Metadata {
            set_data_frame: false,
            metadata,
        }) = msg
        else {
            panic!("not metadata: {msg:?}");
        };
        assert_eq!(metadata.video_codec, Some(MetadataCodec::FourCc(*b"hvc1")));
    }

    #[test]
    fn other_messages() {
        let mut out = BytesMut::new();
        amf0::encode(&"onTextData".into(), &mut out);
        amf0::encode(&1.0.into(), &mut out);
        let mut amf3 = vec![0u8];
        amf3.extend_from_slice(&out);
        assert_eq!(
            DataMessage::parse(MessageType::DATA_AMF3, &amf3).unwrap(),
            Some(DataMessage::Other {
                name: "onTextData".into(),
                values: vec![1.0.into()]
            })
        );
        assert_eq!(DataMessage::parse(MessageType::VIDEO, &out), Ok(None));
        assert!(DataMessage::parse(MessageType::DATA_AMF0, &hex!("02 00")).is_err());
    }
}
