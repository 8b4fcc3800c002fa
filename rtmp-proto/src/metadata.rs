//! Data messages (RTMP message types 18 and 15) and the `@setDataFrame` wrapping of stream
//! metadata. The `onMetaData` object itself is FLV script data: [`StreamMetadata`].
//!
//! Publishers send `@setDataFrame("onMetaData", {...})`; servers strip the wrapper and send
//! players `onMetaData({...})`. Both forms are recognised by [`DataMessage::parse`].

use bytes::BytesMut;
use onair_amf::amf0::{self, Amf0Value};
use onair_amf::AmfError;
use onair_flv::{StreamMetadata, ON_METADATA};

use crate::chunk::MessageType;

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
        if handler == Some(ON_METADATA) {
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
        StreamMetadata::write_script(props, out);
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

    use onair_flv::MetadataCodec;

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
