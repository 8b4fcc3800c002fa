//! AMF0, the Action Message Format of RTMP commands and data messages (AMF0 specification,
//! Adobe 2006), with the AVM+ switch (marker `0x11`) into [AMF3](crate::amf3).
//!
//! Decoding is bounded: nesting deeper than [`MAX_DEPTH`] is an error, and no count read from
//! the peer sizes an allocation beyond what the remaining bytes could hold. Object
//! references (marker `0x07`) are kept as [`Amf0Value::Reference`], never resolved, so a
//! hostile payload cannot expand. Strings that are not valid UTF-8 are decoded lossily
//! (invalid sequences become U+FFFD), because real encoders put Latin-1 into metadata.
//!
//! ```
//! use onair_amf::amf0::{self, Amf0Value};
//! let mut out = bytes::BytesMut::new();
//! amf0::encode(&Amf0Value::from("connect"), &mut out);
//! amf0::encode(&Amf0Value::Number(1.0), &mut out);
//! let values = amf0::decode_all(&out).unwrap();
//! assert_eq!(values[0].as_str(), Some("connect"));
//! assert_eq!(values[1].as_number(), Some(1.0));
//! ```

use bytes::{BufMut, BytesMut};

use crate::amf3::{self, Amf3Value};
use crate::reader::{truncate_to, Reader};
use crate::AmfError;

/// Deepest nesting of objects and arrays a decoder accepts (AMF0 and AMF3 together).
pub const MAX_DEPTH: usize = 64;

/// One AMF0 value.
///
/// Objects keep their properties in wire order as `(name, value)` pairs.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// `0x00` number (IEEE 754 double).
    Number(f64),
    /// `0x01` boolean.
    Boolean(bool),
    /// `0x02` string (at most 65535 bytes on the wire; longer ones encode as a long string).
    String(String),
    /// `0x03` anonymous object.
    Object(Vec<(String, Amf0Value)>),
    /// `0x05` null.
    Null,
    /// `0x06` undefined.
    Undefined,
    /// `0x07` reference to the n-th complex value (object, array) of the message; unresolved.
    Reference(u16),
    /// `0x08` ECMA (associative) array. The declared count is not trusted: properties are
    /// read up to the object-end marker.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// `0x0A` strict (dense) array.
    StrictArray(Vec<Amf0Value>),
    /// `0x0B` date: milliseconds since the Unix epoch, UTC, and a (reserved) time zone.
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        millis: f64,
        /// Time zone offset in minutes; the specification says to write 0.
        timezone: i16,
    },
    /// `0x0C` long string (32-bit length).
    LongString(String),
    /// `0x0D` unsupported.
    Unsupported,
    /// `0x0F` XML document (32-bit length).
    XmlDocument(String),
    /// `0x10` typed object: a class name and properties.
    TypedObject {
        /// The registered class name.
        class_name: String,
        /// The properties in wire order.
        properties: Vec<(String, Amf0Value)>,
    },
    /// `0x11` AVM+ value: the rest of this value is AMF3.
    Avmplus(Amf3Value),
}

impl Amf0Value {
    /// The text of a string, long string or XML document.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => Some(s),
            Amf0Value::Avmplus(v) => v.as_str(),
            _ => None,
        }
    }

    /// The value of a number (or of an AMF3 integer/double behind an AVM+ switch).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            Amf0Value::Avmplus(v) => v.as_number(),
            _ => None,
        }
    }

    /// The value of a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            Amf0Value::Avmplus(Amf3Value::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an object, ECMA array or typed object.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p)
            | Amf0Value::EcmaArray(p)
            | Amf0Value::TypedObject { properties: p, .. } => Some(p),
            _ => None,
        }
    }

    /// The first property named `key` of an object, ECMA array or typed object.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether this is null or undefined.
    pub fn is_null(&self) -> bool {
        matches!(self, Amf0Value::Null | Amf0Value::Undefined)
    }
}

impl From<f64> for Amf0Value {
    fn from(n: f64) -> Self {
        Amf0Value::Number(n)
    }
}

impl From<bool> for Amf0Value {
    fn from(b: bool) -> Self {
        Amf0Value::Boolean(b)
    }
}

impl From<&str> for Amf0Value {
    fn from(s: &str) -> Self {
        Amf0Value::String(s.to_owned())
    }
}

impl From<String> for Amf0Value {
    fn from(s: String) -> Self {
        Amf0Value::String(s)
    }
}

mod marker {
    pub(super) const NUMBER: u8 = 0x00;
    pub(super) const BOOLEAN: u8 = 0x01;
    pub(super) const STRING: u8 = 0x02;
    pub(super) const OBJECT: u8 = 0x03;
    pub(super) const NULL: u8 = 0x05;
    pub(super) const UNDEFINED: u8 = 0x06;
    pub(super) const REFERENCE: u8 = 0x07;
    pub(super) const ECMA_ARRAY: u8 = 0x08;
    pub(super) const OBJECT_END: u8 = 0x09;
    pub(super) const STRICT_ARRAY: u8 = 0x0a;
    pub(super) const DATE: u8 = 0x0b;
    pub(super) const LONG_STRING: u8 = 0x0c;
    pub(super) const UNSUPPORTED: u8 = 0x0d;
    pub(super) const XML_DOCUMENT: u8 = 0x0f;
    pub(super) const TYPED_OBJECT: u8 = 0x10;
    pub(super) const AVMPLUS: u8 = 0x11;
}

/// Decodes one AMF0 value from the front of `input` and advances `input` past it.
///
/// On error `input` is left unchanged.
pub fn decode(input: &mut &[u8]) -> Result<Amf0Value, AmfError> {
    let mut r = Reader { data: input };
    let v = decode_value(&mut r, 0)?;
    *input = r.data;
    Ok(v)
}

/// Decodes every AMF0 value in `data`, as a command or data message carries them.
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    let mut input = data;
    let mut values = Vec::new();
    while !input.is_empty() {
        values.push(decode(&mut input)?);
    }
    Ok(values)
}

fn decode_value(r: &mut Reader<'_>, depth: usize) -> Result<Amf0Value, AmfError> {
    if depth >= MAX_DEPTH {
        return Err(AmfError::TooDeep { limit: MAX_DEPTH });
    }
    let m = r.u8()?;
    Ok(match m {
        marker::NUMBER => Amf0Value::Number(r.f64()?),
        marker::BOOLEAN => Amf0Value::Boolean(r.u8()? != 0),
        marker::STRING => {
            let len = r.u16()?;
            Amf0Value::String(r.utf8(usize::from(len))?)
        }
        marker::OBJECT => Amf0Value::Object(decode_properties(r, depth)?),
        marker::NULL => Amf0Value::Null,
        marker::UNDEFINED => Amf0Value::Undefined,
        marker::REFERENCE => Amf0Value::Reference(r.u16()?),
        marker::ECMA_ARRAY => {
            // The count is a hint that encoders get wrong; the end marker is authoritative.
            r.u32()?;
            Amf0Value::EcmaArray(decode_properties(r, depth)?)
        }
        marker::OBJECT_END => return Err(AmfError::UnexpectedObjectEnd),
        marker::STRICT_ARRAY => {
            let count = r.u32()?;
            r.check_count("amf0 strict array", u64::from(count), 1)?;
            let mut items = Vec::with_capacity(count as usize);
            for _ in 0..count {
                items.push(decode_value(r, depth + 1)?);
            }
            Amf0Value::StrictArray(items)
        }
        marker::DATE => {
            let millis = r.f64()?;
            let timezone = r.u16()? as i16;
            Amf0Value::Date { millis, timezone }
        }
        marker::LONG_STRING => {
            let len = r.u32()?;
            Amf0Value::LongString(r.utf8(len as usize)?)
        }
        marker::UNSUPPORTED => Amf0Value::Unsupported,
        marker::XML_DOCUMENT => {
            let len = r.u32()?;
            Amf0Value::XmlDocument(r.utf8(len as usize)?)
        }
        marker::TYPED_OBJECT => {
            let len = r.u16()?;
            let class_name = r.utf8(usize::from(len))?;
            let properties = decode_properties(r, depth)?;
            Amf0Value::TypedObject {
                class_name,
                properties,
            }
        }
        marker::AVMPLUS => Amf0Value::Avmplus(amf3::decode_nested(r, depth + 1)?),
        other => return Err(AmfError::UnknownAmf0Marker { marker: other }),
    })
}

/// Reads `name value` pairs up to the empty name followed by the object-end marker.
fn decode_properties(
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<Vec<(String, Amf0Value)>, AmfError> {
    let mut props = Vec::new();
    loop {
        let len = r.u16()?;
        if len == 0 && r.peek()? == marker::OBJECT_END {
            r.u8()?;
            return Ok(props);
        }
        let key = r.utf8(usize::from(len))?;
        let value = decode_value(r, depth + 1)?;
        props.push((key, value));
    }
}

/// Appends the AMF0 encoding of `value` to `out`.
///
/// A [`Amf0Value::String`] longer than 65535 bytes is written as a long string, and property
/// names longer than 65535 bytes are cut at the last character boundary that fits, because
/// AMF0 has no longer form for them.
pub fn encode(value: &Amf0Value, out: &mut BytesMut) {
    match value {
        Amf0Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) => {
            if s.len() <= usize::from(u16::MAX) {
                out.put_u8(marker::STRING);
                encode_property_name(s, out);
            } else {
                out.put_u8(marker::LONG_STRING);
                put_long_str(s, out);
            }
        }
        Amf0Value::Object(props) => {
            out.put_u8(marker::OBJECT);
            put_properties(props, out);
        }
        Amf0Value::Null => out.put_u8(marker::NULL),
        Amf0Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf0Value::Reference(i) => {
            out.put_u8(marker::REFERENCE);
            out.put_u16(*i);
        }
        Amf0Value::EcmaArray(props) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            put_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.put_u32(n);
            for item in items.iter().take(n as usize) {
                encode(item, out);
            }
        }
        Amf0Value::Date { millis, timezone } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*timezone);
        }
        Amf0Value::LongString(s) => {
            out.put_u8(marker::LONG_STRING);
            put_long_str(s, out);
        }
        Amf0Value::Unsupported => out.put_u8(marker::UNSUPPORTED),
        Amf0Value::XmlDocument(s) => {
            out.put_u8(marker::XML_DOCUMENT);
            put_long_str(s, out);
        }
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            out.put_u8(marker::TYPED_OBJECT);
            encode_property_name(class_name, out);
            put_properties(properties, out);
        }
        Amf0Value::Avmplus(v) => {
            out.put_u8(marker::AVMPLUS);
            amf3::encode(v, out);
        }
    }
}

/// Appends a property list and its end marker (the body of an object or ECMA array).
fn put_properties(props: &[(String, Amf0Value)], out: &mut BytesMut) {
    for (k, v) in props {
        encode_property_name(k, out);
        encode(v, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

/// Appends a property name as object, ECMA array and typed object bodies carry it: a 16-bit
/// length and the UTF-8 bytes, without a type marker, cut at the last character boundary
/// within 65535 bytes. Writers that lay out an object body themselves (an FLV `onMetaData`
/// whose numbers are patched later) need it.
pub fn encode_property_name(s: &str, out: &mut BytesMut) {
    let s = truncate_to(s, usize::from(u16::MAX));
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

fn put_long_str(s: &str, out: &mut BytesMut) {
    let s = truncate_to(s, u32::MAX as usize);
    out.put_u32(s.len() as u32);
    out.put_slice(s.as_bytes());
}

/// Appends the AMF0 encoding of each value in turn (a command or data message body).
pub fn encode_all(values: &[Amf0Value], out: &mut BytesMut) {
    for v in values {
        encode(v, out);
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn enc(v: &Amf0Value) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(v, &mut out);
        out.to_vec()
    }

    #[test]
    fn scalar_vectors() {
        assert_eq!(enc(&1.0.into()), hex!("00 3ff0000000000000"));
        assert_eq!(enc(&true.into()), hex!("01 01"));
        assert_eq!(enc(&"ab".into()), hex!("02 0002 6162"));
        assert_eq!(enc(&Amf0Value::Null), hex!("05"));
        assert_eq!(enc(&Amf0Value::Undefined), hex!("06"));
        assert_eq!(enc(&Amf0Value::Reference(3)), hex!("07 0003"));
        assert_eq!(enc(&Amf0Value::Unsupported), hex!("0d"));
        assert_eq!(
            enc(&Amf0Value::Date {
                millis: 0.0,
                timezone: -60
            }),
            hex!("0b 0000000000000000 ffc4")
        );
        assert_eq!(
            enc(&Amf0Value::LongString("x".into())),
            hex!("0c 00000001 78")
        );
        assert_eq!(
            enc(&Amf0Value::XmlDocument("<a/>".into())),
            hex!("0f 00000004 3c612f3e")
        );
    }

    #[test]
    fn object_and_arrays() {
        let obj = Amf0Value::Object(vec![("a".into(), 1.0.into())]);
        assert_eq!(enc(&obj), hex!("03 0001 61 00 3ff0000000000000 0000 09"));
        let ecma = Amf0Value::EcmaArray(vec![("b".into(), false.into())]);
        assert_eq!(enc(&ecma), hex!("08 00000001 0001 62 01 00 0000 09"));
        let strict = Amf0Value::StrictArray(vec![Amf0Value::Null, "c".into()]);
        assert_eq!(enc(&strict), hex!("0a 00000002 05 02 0001 63"));
        let typed = Amf0Value::TypedObject {
            class_name: "K".into(),
            properties: vec![],
        };
        assert_eq!(enc(&typed), hex!("10 0001 4b 0000 09"));
        for v in [obj, ecma, strict, typed] {
            assert_eq!(decode_all(&enc(&v)).unwrap(), vec![v]);
        }
    }

    #[test]
    fn ecma_array_count_is_not_trusted() {
        // count says 5, one property present
        let data = hex!("08 00000005 0001 62 01 01 0000 09");
        let v = decode_all(&data).unwrap();
        assert_eq!(
            v,
            vec![Amf0Value::EcmaArray(vec![("b".into(), true.into())])]
        );
        assert_eq!(v[0].get("b").and_then(Amf0Value::as_bool), Some(true));
    }

    #[test]
    fn avmplus_switch() {
        // 0x11 then AMF3 string "hi"
        let data = hex!("11 06 05 6869");
        let v = decode_all(&data).unwrap();
        assert_eq!(v, vec![Amf0Value::Avmplus(Amf3Value::String("hi".into()))]);
        assert_eq!(v[0].as_str(), Some("hi"));
        assert_eq!(enc(&v[0]), data);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(
            decode_all(&hex!("00 3ff0")),
            Err(AmfError::NotEnoughData {
                needed: 8,
                available: 2
            })
        );
        assert_eq!(
            decode_all(&hex!("04")),
            Err(AmfError::UnknownAmf0Marker { marker: 4 })
        );
        assert_eq!(decode_all(&hex!("09")), Err(AmfError::UnexpectedObjectEnd));
        assert_eq!(
            decode_all(&hex!("0a ffffffff 05")),
            Err(AmfError::CountExceedsInput {
                what: "amf0 strict array",
                count: 0xffff_ffff,
                available: 1
            })
        );
        let deep = [0x0a, 0, 0, 0, 1].repeat(100);
        assert_eq!(
            decode_all(&deep),
            Err(AmfError::TooDeep { limit: MAX_DEPTH })
        );
        // input is not advanced on error
        let data = hex!("02 0005 61");
        let mut input = &data[..];
        assert!(decode(&mut input).is_err());
        assert_eq!(input.len(), 4);
    }

    #[test]
    fn long_strings_become_long_string_markers() {
        let s = "z".repeat(70_000);
        let bytes = enc(&Amf0Value::String(s.clone()));
        assert_eq!(bytes[0], marker::LONG_STRING);
        assert_eq!(decode_all(&bytes).unwrap(), vec![Amf0Value::LongString(s)]);
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let v = decode_all(&hex!("02 0002 61ff")).unwrap();
        assert_eq!(v[0].as_str(), Some("a\u{fffd}"));
    }

    #[test]
    fn ffmpeg_connect_command() {
        // connect command body from ffmpeg 5.1 (copied from a capture, first properties)
        let data = hex!(
            "02 0007 636f6e6e656374 00 3ff0000000000000"
            "03 0003 617070 02 0004 6c697665"
            "0004 74797065 02 000a 6e6f6e707269766174 65"
            "0000 09"
        );
        let v = decode_all(&data).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].as_str(), Some("connect"));
        assert_eq!(v[1].as_number(), Some(1.0));
        assert_eq!(v[2].get("app").and_then(Amf0Value::as_str), Some("live"));
        assert_eq!(
            v[2].get("type").and_then(Amf0Value::as_str),
            Some("nonprivate")
        );
        let mut out = BytesMut::new();
        encode_all(&v, &mut out);
        assert_eq!(&out[..], &data[..]);
    }
}
