//! NetConnection and NetStream command messages (RTMP 1.0 §7.2.1, §7.2.2; Enhanced RTMP
//! "Enhancing NetConnection connect Command").
//!
//! A command message is a sequence of AMF values: the command name, a transaction id, a command
//! object (often `null`) and the arguments. Type 20 carries AMF0; type 17 carries a format byte
//! `0x00` followed by the same AMF0 values, which may switch to AMF3 through the
//! `avmplus-object` marker (the AMF0 decoder handles that).

use bytes::BytesMut;
use onair_amf::amf0::{self, Amf0Value};

use crate::chunk::MessageType;
use crate::error::CommandError;
use crate::status::{OnStatusCode, Status, StatusLevel};

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandMessage {
    /// Command name (`connect`, `publish`, `_result`, `onStatus`, ...).
    pub name: String,
    /// Transaction id; 0 when no response is expected.
    pub transaction_id: f64,
    /// The command object (`null` for most stream commands).
    pub command_object: Amf0Value,
    /// The arguments after the command object.
    pub args: Vec<Amf0Value>,
}

impl CommandMessage {
    /// A command with the given parts.
    pub fn new(
        name: &str,
        transaction_id: f64,
        command_object: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            transaction_id,
            command_object,
            args,
        }
    }

    /// Decodes the payload of a command message (type 20 AMF0, or type 17 AMF3).
    pub fn parse(type_id: MessageType, payload: &[u8]) -> Result<Self, CommandError> {
        let body = if type_id == MessageType::COMMAND_AMF0 {
            payload
        } else if type_id == MessageType::COMMAND_AMF3 {
            // The AMF3 command message starts with a format byte (0 = AMF0 values follow).
            payload.get(1..).unwrap_or_default()
        } else {
            return Err(CommandError::NotACommand { type_id: type_id.0 });
        };
        let mut input = body;
        let name = match amf0::decode(&mut input)? {
            Amf0Value::String(name) | Amf0Value::LongString(name) => name,
            _ => return Err(CommandError::MissingName),
        };
        // Some peers end a command right after the name (e.g. bare `onBWDone`); treat the
        // missing id as 0 only when nothing follows.
        let transaction_id = if input.is_empty() {
            0.0
        } else {
            match amf0::decode(&mut input)? {
                Amf0Value::Number(n) => n,
                _ => return Err(CommandError::MissingTransactionId),
            }
        };
        let command_object = if input.is_empty() {
            Amf0Value::Null
        } else {
            amf0::decode(&mut input)?
        };
        let args = amf0::decode_all(input)?;
        Ok(Self {
            name,
            transaction_id,
            command_object,
            args,
        })
    }

    /// Encodes the command as AMF0 (message type 20) into `out`.
    pub fn write(&self, out: &mut BytesMut) {
        amf0::encode(&Amf0Value::String(self.name.clone()), out);
        amf0::encode(&Amf0Value::Number(self.transaction_id), out);
        amf0::encode(&self.command_object, out);
        for arg in &self.args {
            amf0::encode(arg, out);
        }
    }

    /// `_result` for `transaction_id`, with a properties value and an information value.
    pub fn result(transaction_id: f64, properties: Amf0Value, information: Amf0Value) -> Self {
        Self::new("_result", transaction_id, properties, vec![information])
    }

    /// `_error` for `transaction_id` carrying a status object of level `error`.
    pub fn error(transaction_id: f64, code: OnStatusCode, description: &str) -> Self {
        let status = Status {
            level: StatusLevel::Error,
            code,
            description: description.to_owned(),
        };
        Self::new(
            "_error",
            transaction_id,
            Amf0Value::Null,
            vec![status.to_amf0()],
        )
    }

    /// `onStatus` (transaction 0, null command object) with a status object.
    pub fn on_status(status: &Status) -> Self {
        Self::new("onStatus", 0.0, Amf0Value::Null, vec![status.to_amf0()])
    }

    /// The first argument as a string, if it is one.
    pub fn first_string_arg(&self) -> Option<&str> {
        self.args.first().and_then(value_str)
    }

    /// The status object of an `onStatus`/`_result`/`_error`; a missing field reads as an
    /// empty string (an unknown level or code).
    pub fn status(&self) -> Status {
        let info = self
            .args
            .iter()
            .find(|v| object_properties(v).is_some())
            .unwrap_or(&self.command_object);
        let text = |key: &str| property(info, key).and_then(value_str).unwrap_or_default();
        Status {
            level: StatusLevel::from(text("level")),
            code: OnStatusCode::from(text("code")),
            description: text("description").to_owned(),
        }
    }
}

/// The key/value pairs of an object, ECMA array or typed object.
pub(crate) fn object_properties(value: &Amf0Value) -> Option<&[(String, Amf0Value)]> {
    match value {
        Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => Some(props),
        Amf0Value::TypedObject { properties, .. } => Some(properties),
        _ => None,
    }
}

/// The value of property `key` of an object-like value.
pub(crate) fn property<'a>(value: &'a Amf0Value, key: &str) -> Option<&'a Amf0Value> {
    object_properties(value)?
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A string or long string value.
pub(crate) fn value_str(value: &Amf0Value) -> Option<&str> {
    match value {
        Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
        _ => None,
    }
}

fn value_number(value: &Amf0Value) -> Option<f64> {
    match value {
        Amf0Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// The parameters of `connect` (its command object), typed where RTMP and Enhanced RTMP name
/// them; every property stays in `properties`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectParams {
    /// `app`: the application name.
    pub app: String,
    /// `tcUrl`: the URL the client connected to.
    pub tc_url: Option<String>,
    /// `flashVer`: the client's version string.
    pub flash_ver: Option<String>,
    /// `swfUrl`.
    pub swf_url: Option<String>,
    /// `pageUrl`.
    pub page_url: Option<String>,
    /// `objectEncoding`: 0 for AMF0, 3 for AMF3.
    pub object_encoding: Option<f64>,
    /// Enhanced RTMP `fourCcList`: codecs the client supports (`hvc1`, `av01`, `vp09`, `Opus`,
    /// ...).
    pub fourcc_list: Vec<String>,
    /// Enhanced RTMP v2 `videoFourCcInfoMap`: FourCC to capability bits.
    pub video_fourcc_info_map: Vec<(String, f64)>,
    /// Enhanced RTMP v2 `audioFourCcInfoMap`: FourCC to capability bits.
    pub audio_fourcc_info_map: Vec<(String, f64)>,
    /// Enhanced RTMP v2 `capsEx` bits.
    pub caps_ex: Option<f64>,
    /// The whole command object as sent.
    pub properties: Vec<(String, Amf0Value)>,
}

impl ConnectParams {
    /// Reads the command object of a `connect` command.
    pub fn from_command(command: &CommandMessage) -> Result<Self, CommandError> {
        let object = &command.command_object;
        let properties = object_properties(object)
            .ok_or(CommandError::BadArgument {
                command: "connect",
                index: 0,
            })?
            .to_vec();
        let text = |key: &str| property(object, key).and_then(value_str).map(str::to_owned);
        let app = text("app").ok_or(CommandError::BadArgument {
            command: "connect",
            index: 0,
        })?;
        let fourcc_list = match property(object, "fourCcList") {
            Some(Amf0Value::StrictArray(items)) => items
                .iter()
                .filter_map(value_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let info_map = |key: &str| {
            property(object, key)
                .and_then(object_properties)
                .map(|props| {
                    props
                        .iter()
                        .filter_map(|(k, v)| value_number(v).map(|n| (k.clone(), n)))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Self {
            app,
            tc_url: text("tcUrl"),
            flash_ver: text("flashVer"),
            swf_url: text("swfUrl"),
            page_url: text("pageUrl"),
            object_encoding: property(object, "objectEncoding").and_then(value_number),
            fourcc_list,
            video_fourcc_info_map: info_map("videoFourCcInfoMap"),
            audio_fourcc_info_map: info_map("audioFourCcInfoMap"),
            caps_ex: property(object, "capsEx").and_then(value_number),
            properties,
        })
    }
}

/// The publishing type of `publish` (RTMP 1.0 §7.2.2.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PublishType {
    /// `live`: published without recording (also what a missing type means).
    #[default]
    Live,
    /// `record`: published and recorded to a new file.
    Record,
    /// `append`: published and appended to an existing recording.
    Append,
    /// A type this crate has no name for (e.g. FMS's `appendWithGap`), kept as received.
    Other(String),
}

impl PublishType {
    /// The type as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Live => "live",
            Self::Record => "record",
            Self::Append => "append",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for PublishType {
    fn from(publish_type: &str) -> Self {
        match publish_type {
            "live" => Self::Live,
            "record" => Self::Record,
            "append" => Self::Append,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The arguments of `publish`: the name (key, possibly with `?query`) and the publishing type.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishParams {
    /// The publishing name as sent, query string included.
    pub name: String,
    /// The publishing type; [`PublishType::Live`] when absent.
    pub publish_type: PublishType,
}

impl PublishParams {
    /// Reads the arguments of a `publish` command.
    pub fn from_command(command: &CommandMessage) -> Result<Self, CommandError> {
        let name = command
            .first_string_arg()
            .ok_or(CommandError::BadArgument {
                command: "publish",
                index: 0,
            })?
            .to_owned();
        let publish_type = command
            .args
            .get(1)
            .and_then(value_str)
            .map(PublishType::from)
            .unwrap_or_default();
        Ok(Self { name, publish_type })
    }
}

/// The arguments of `play`: the stream name and the optional start, duration and reset.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayParams {
    /// The stream name as sent, query string included.
    pub name: String,
    /// Start in seconds: -2 live or recorded, -1 live only, >= 0 recorded from there.
    pub start: Option<f64>,
    /// Duration in seconds; -1 until the end.
    pub duration: Option<f64>,
    /// Whether to flush a previous playlist.
    pub reset: Option<bool>,
}

impl PlayParams {
    /// Reads the arguments of a `play` command.
    pub fn from_command(command: &CommandMessage) -> Result<Self, CommandError> {
        let name = command
            .first_string_arg()
            .ok_or(CommandError::BadArgument {
                command: "play",
                index: 0,
            })?
            .to_owned();
        Ok(Self {
            name,
            start: command.args.get(1).and_then(value_number),
            duration: command.args.get(2).and_then(value_number),
            reset: match command.args.get(3) {
                Some(Amf0Value::Boolean(b)) => Some(*b),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(cmd: &CommandMessage) -> BytesMut {
        let mut out = BytesMut::new();
        cmd.write(&mut out);
        out
    }

    #[test]
    fn round_trip_amf0() {
        let cmd = CommandMessage::new(
            "publish",
            5.0,
            Amf0Value::Null,
            vec![
                Amf0Value::String("key?t=1".into()),
                Amf0Value::String("live".into()),
            ],
        );
        let bytes = encode(&cmd);
        assert_eq!(
            CommandMessage::parse(MessageType::COMMAND_AMF0, &bytes),
            Ok(cmd.clone())
        );
        let params = PublishParams::from_command(&cmd).unwrap();
        assert_eq!(params.name, "key?t=1");
        assert_eq!(params.publish_type, PublishType::Live);
        for (text, publish_type) in [
            ("record", PublishType::Record),
            ("append", PublishType::Append),
            (
                "appendWithGap",
                PublishType::Other("appendWithGap".to_owned()),
            ),
        ] {
            let cmd = CommandMessage::new(
                "publish",
                0.0,
                Amf0Value::Null,
                vec!["k".into(), text.into()],
            );
            let params = PublishParams::from_command(&cmd).unwrap();
            assert_eq!(params.publish_type, publish_type);
            assert_eq!(params.publish_type.as_str(), text);
        }
    }

    #[test]
    fn amf3_command_has_format_byte() {
        let cmd = CommandMessage::new("play", 0.0, Amf0Value::Null, vec!["cam".into_value()]);
        let mut bytes = BytesMut::from(&[0u8][..]);
        bytes.extend_from_slice(&encode(&cmd));
        assert_eq!(
            CommandMessage::parse(MessageType::COMMAND_AMF3, &bytes),
            Ok(cmd)
        );
    }

    #[test]
    fn known_bytes_of_connect_prefix() {
        // "connect", 1.0, {app: "live"} as ffmpeg writes it.
        let bytes = hex_literal::hex!(
            "02 0007 636f6e6e656374"
            "00 3ff0000000000000"
            "03 0003 617070 02 0004 6c697665 000009"
        );
        let cmd = CommandMessage::parse(MessageType::COMMAND_AMF0, &bytes).unwrap();
        assert_eq!(cmd.name, "connect");
        assert_eq!(cmd.transaction_id, 1.0);
        let params = ConnectParams::from_command(&cmd).unwrap();
        assert_eq!(params.app, "live");
        assert_eq!(params.tc_url, None);
        assert_eq!(&encode(&cmd)[..], &bytes[..]);
    }

    #[test]
    fn malformed_commands_are_errors() {
        assert_eq!(
            CommandMessage::parse(MessageType::VIDEO, b""),
            Err(CommandError::NotACommand { type_id: 9 })
        );
        let bytes = encode(&CommandMessage::new("x", 1.0, Amf0Value::Null, vec![]));
        // A number where the name should be.
        let mut num = BytesMut::new();
        amf0::encode(&Amf0Value::Number(1.0), &mut num);
        assert_eq!(
            CommandMessage::parse(MessageType::COMMAND_AMF0, &num),
            Err(CommandError::MissingName)
        );
        // Truncated inside the transaction id.
        assert!(CommandMessage::parse(MessageType::COMMAND_AMF0, &bytes[..6]).is_err());
        assert!(CommandMessage::parse(MessageType::COMMAND_AMF3, &[]).is_err());
        let cmd = CommandMessage::new("publish", 1.0, Amf0Value::Null, vec![]);
        assert_eq!(
            PublishParams::from_command(&cmd),
            Err(CommandError::BadArgument {
                command: "publish",
                index: 0
            })
        );
    }

    #[test]
    fn enhanced_connect_params() {
        let object = Amf0Value::Object(vec![
            ("app".into(), Amf0Value::String("live".into())),
            ("tcUrl".into(), Amf0Value::String("rtmp://h/live".into())),
            ("objectEncoding".into(), Amf0Value::Number(0.0)),
            (
                "fourCcList".into(),
                Amf0Value::StrictArray(vec![
                    Amf0Value::String("hvc1".into()),
                    Amf0Value::String("Opus".into()),
                ]),
            ),
            (
                "videoFourCcInfoMap".into(),
                Amf0Value::Object(vec![("hvc1".into(), Amf0Value::Number(7.0))]),
            ),
            ("capsEx".into(), Amf0Value::Number(1.0)),
        ]);
        let cmd = CommandMessage::new("connect", 1.0, object, vec![]);
        let p = ConnectParams::from_command(&cmd).unwrap();
        assert_eq!(p.fourcc_list, vec!["hvc1".to_owned(), "Opus".to_owned()]);
        assert_eq!(p.video_fourcc_info_map, vec![("hvc1".to_owned(), 7.0)]);
        assert_eq!(p.caps_ex, Some(1.0));
        assert_eq!(p.object_encoding, Some(0.0));
        assert_eq!(p.tc_url.as_deref(), Some("rtmp://h/live"));
        assert_eq!(p.properties.len(), 6);
    }

    #[test]
    fn status_of_on_status() {
        let status = Status::new(OnStatusCode::NetStreamPublishBadName, "taken");
        let cmd = CommandMessage::on_status(&status);
        let parsed = CommandMessage::parse(MessageType::COMMAND_AMF0, &encode(&cmd)).unwrap();
        assert_eq!(parsed.status(), status);
        assert_eq!(parsed.status().level, StatusLevel::Error);
        // No status object at all: empty level and code, kept as unknown.
        let bare = CommandMessage::new("onStatus", 0.0, Amf0Value::Null, vec![]);
        assert_eq!(bare.status().code, OnStatusCode::Other(String::new()));
    }

    trait IntoValue {
        fn into_value(self) -> Amf0Value;
    }
    impl IntoValue for &str {
        fn into_value(self) -> Amf0Value {
            Amf0Value::String(self.to_owned())
        }
    }
}
