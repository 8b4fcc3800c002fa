//! AMF3 (AMF 3 specification, Adobe 2013), as Flash-era clients put it in RTMP command (type
//! 17) and data (type 15) messages behind the AMF0 AVM+ marker.
//!
//! The decoder keeps the three reference tables of the specification (strings, objects,
//! traits) and resolves references by copying the referenced value, so callers see a plain
//! tree. Memory is charged to a budget of [`EXPANSION_LIMIT`] bytes (the size of each value,
//! each string byte, and the copies kept in the reference table) so that a few bytes of
//! references cannot expand into gigabytes; a copied reference costs exactly what the same
//! value written inline would, so whatever decodes also decodes after re-encoding. A
//! reference to an object that is still being decoded (a cycle) is an error. Externalizable
//! objects, whose body only their class understands, are an error too.
//!
//! The encoder writes every value inline (no references), which any decoder accepts.

mod decode;
mod encode;

pub(crate) use decode::decode_nested;
pub use decode::{decode, decode_all};
pub use encode::encode;

/// Bytes of memory (decoded values, string bytes, reference table copies) one decode call may
/// use, approximately.
pub const EXPANSION_LIMIT: usize = 32 * 1024 * 1024;

/// One AMF3 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf3Value {
    /// `0x00` undefined.
    Undefined,
    /// `0x01` null.
    Null,
    /// `0x02` false / `0x03` true.
    Boolean(bool),
    /// `0x04` 29-bit signed integer. Values outside -2^28..2^28 encode as a double.
    Integer(i32),
    /// `0x05` double.
    Double(f64),
    /// `0x06` string.
    String(String),
    /// `0x07` legacy XML document.
    XmlDocument(String),
    /// `0x08` date: milliseconds since the Unix epoch, UTC.
    Date(f64),
    /// `0x09` array: an associative part (in wire order) and a dense part.
    Array {
        /// Named entries.
        assoc: Vec<(String, Amf3Value)>,
        /// Indexed entries.
        dense: Vec<Amf3Value>,
    },
    /// `0x0A` object (not externalizable).
    Object(Amf3Object),
    /// `0x0B` E4X XML.
    Xml(String),
    /// `0x0C` byte array.
    ByteArray(Vec<u8>),
    /// `0x0D` vector of int.
    VectorInt {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<i32>,
    },
    /// `0x0E` vector of uint.
    VectorUint {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<u32>,
    },
    /// `0x0F` vector of double.
    VectorDouble {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<f64>,
    },
    /// `0x10` vector of objects.
    VectorObject {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The item class name (`*` or empty for any).
        type_name: String,
        /// The items.
        items: Vec<Amf3Value>,
    },
    /// `0x11` dictionary.
    Dictionary {
        /// Whether keys are weakly referenced.
        weak_keys: bool,
        /// Key/value pairs in wire order.
        entries: Vec<(Amf3Value, Amf3Value)>,
    },
}

/// An AMF3 object: its traits and member values.
#[derive(Debug, Clone, PartialEq)]
pub struct Amf3Object {
    /// The class name (empty for an anonymous object).
    pub class_name: String,
    /// Whether the object has dynamic members.
    pub dynamic: bool,
    /// Sealed members in trait order.
    pub sealed: Vec<(String, Amf3Value)>,
    /// Dynamic members in wire order.
    pub dynamic_members: Vec<(String, Amf3Value)>,
}

impl Amf3Object {
    /// The first member (sealed, then dynamic) named `key`.
    pub fn get(&self, key: &str) -> Option<&Amf3Value> {
        self.sealed
            .iter()
            .chain(&self.dynamic_members)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

impl Amf3Value {
    /// The text of a string, XML document or XML value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf3Value::String(s) | Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer or double.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf3Value::Integer(i) => Some(f64::from(*i)),
            Amf3Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The member named `key` of an object, or the associative entry of an array.
    pub fn get(&self, key: &str) -> Option<&Amf3Value> {
        match self {
            Amf3Value::Object(o) => o.get(key),
            Amf3Value::Array { assoc, .. } => assoc.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

pub(crate) mod marker {
    pub(crate) const UNDEFINED: u8 = 0x00;
    pub(crate) const NULL: u8 = 0x01;
    pub(crate) const FALSE: u8 = 0x02;
    pub(crate) const TRUE: u8 = 0x03;
    pub(crate) const INTEGER: u8 = 0x04;
    pub(crate) const DOUBLE: u8 = 0x05;
    pub(crate) const STRING: u8 = 0x06;
    pub(crate) const XML_DOC: u8 = 0x07;
    pub(crate) const DATE: u8 = 0x08;
    pub(crate) const ARRAY: u8 = 0x09;
    pub(crate) const OBJECT: u8 = 0x0a;
    pub(crate) const XML: u8 = 0x0b;
    pub(crate) const BYTE_ARRAY: u8 = 0x0c;
    pub(crate) const VECTOR_INT: u8 = 0x0d;
    pub(crate) const VECTOR_UINT: u8 = 0x0e;
    pub(crate) const VECTOR_DOUBLE: u8 = 0x0f;
    pub(crate) const VECTOR_OBJECT: u8 = 0x10;
    pub(crate) const DICTIONARY: u8 = 0x11;
}

/// The largest value of AMF3's variable-length 29-bit integer.
pub(crate) const U29_MAX: u32 = (1 << 29) - 1;

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use hex_literal::hex;

    use super::encode::put_inline_len;
    use super::*;
    use crate::amf0::MAX_DEPTH;
    use crate::AmfError;

    fn enc(v: &Amf3Value) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(v, &mut out);
        out.to_vec()
    }

    #[test]
    fn u29_and_integers() {
        for (i, bytes) in [
            (0i32, &hex!("04 00")[..]),
            (0x7f, &hex!("04 7f")[..]),
            (0x80, &hex!("04 8100")[..]),
            (0x3fff, &hex!("04 ff7f")[..]),
            (0x4000, &hex!("04 818000")[..]),
            (0x1f_ffff, &hex!("04 ffff7f")[..]),
            (0x20_0000, &hex!("04 80c08000")[..]),
            ((1 << 28) - 1, &hex!("04 bfffffff")[..]),
            (-1, &hex!("04 ffffffff")[..]),
            (-(1 << 28), &hex!("04 c0808000")[..]),
        ] {
            let v = Amf3Value::Integer(i);
            assert_eq!(enc(&v), bytes, "{i}");
            assert_eq!(decode_all(bytes).unwrap(), vec![v]);
        }
        assert_eq!(
            enc(&Amf3Value::Integer(1 << 28)),
            hex!("05 41b0000000000000")
        );
    }

    #[test]
    fn string_references() {
        // "ab", then a reference to string 0, then the empty string (never referenced)
        let data = hex!("06 05 6162 06 00 06 01");
        assert_eq!(
            decode_all(&data).unwrap(),
            vec![
                Amf3Value::String("ab".into()),
                Amf3Value::String("ab".into()),
                Amf3Value::String(String::new()),
            ]
        );
        assert_eq!(
            decode_all(&hex!("06 02")),
            Err(AmfError::InvalidReference {
                table: "string",
                index: 1
            })
        );
    }

    #[test]
    fn objects_with_trait_and_object_references() {
        // array of dense length 3: [obj{class "", sealed x=1, dynamic y="z"}, obj with trait
        // ref 0 and x=2, reference to object 1]
        let data = hex!(
            "09 07 01"
            "0a 1b 01 03 78 04 01 03 79 06 03 7a 01"
            "0a 01 04 02 01"
            "0a 02"
        );
        let v = decode_all(&data).unwrap();
        let first = Amf3Value::Object(Amf3Object {
            class_name: String::new(),
            dynamic: true,
            sealed: vec![("x".into(), Amf3Value::Integer(1))],
            dynamic_members: vec![("y".into(), Amf3Value::String("z".into()))],
        });
        let second = Amf3Value::Object(Amf3Object {
            class_name: String::new(),
            dynamic: true,
            sealed: vec![("x".into(), Amf3Value::Integer(2))],
            dynamic_members: vec![],
        });
        assert_eq!(
            v,
            vec![Amf3Value::Array {
                assoc: vec![],
                dense: vec![first.clone(), second, first.clone()],
            }]
        );
        assert_eq!(v[0].get("x"), None);
        assert_eq!(first.get("y").and_then(Amf3Value::as_str), Some("z"));
        // re-encoding (inline) decodes to the same tree
        assert_eq!(decode_all(&enc(&v[0])).unwrap(), v);
    }

    #[test]
    fn cycles_and_bombs_are_errors() {
        // array whose only element references the array itself
        assert_eq!(
            decode_all(&hex!("09 03 01 09 00")),
            Err(AmfError::CyclicReference { index: 0 })
        );
        // a 64 KiB byte array referenced many times
        let mut data = vec![0x09];
        let refs = 400usize;
        let mut out = BytesMut::new();
        put_inline_len(refs + 1, &mut out);
        data.extend_from_slice(&out);
        data.push(0x01);
        data.push(0x0c);
        let mut out = BytesMut::new();
        put_inline_len(65536, &mut out);
        data.extend_from_slice(&out);
        data.extend(std::iter::repeat_n(0u8, 65536));
        for _ in 0..refs {
            data.extend_from_slice(&hex!("0c 02"));
        }
        assert_eq!(
            decode_all(&data),
            Err(AmfError::ExpansionLimit {
                limit: EXPANSION_LIMIT
            })
        );
    }

    #[test]
    fn vectors_dictionary_and_others_round_trip() {
        let values = vec![
            Amf3Value::Undefined,
            Amf3Value::Null,
            Amf3Value::Boolean(true),
            Amf3Value::Double(1.5),
            Amf3Value::XmlDocument("<a/>".into()),
            Amf3Value::Xml("<b/>".into()),
            Amf3Value::Date(1e12),
            Amf3Value::ByteArray(vec![1, 2, 3]),
            Amf3Value::VectorInt {
                fixed: true,
                items: vec![-1, 2],
            },
            Amf3Value::VectorUint {
                fixed: false,
                items: vec![u32::MAX],
            },
            Amf3Value::VectorDouble {
                fixed: false,
                items: vec![0.25],
            },
            Amf3Value::VectorObject {
                fixed: false,
                type_name: "*".into(),
                items: vec![Amf3Value::Null],
            },
            Amf3Value::Dictionary {
                weak_keys: false,
                entries: vec![(Amf3Value::Integer(1), Amf3Value::String("one".into()))],
            },
            Amf3Value::Array {
                assoc: vec![("k".into(), Amf3Value::Boolean(false))],
                dense: vec![Amf3Value::Integer(7)],
            },
        ];
        let mut out = BytesMut::new();
        for v in &values {
            encode(v, &mut out);
        }
        assert_eq!(decode_all(&out).unwrap(), values);
        assert_eq!(enc(&values[7]), hex!("0c 07 010203"));
        assert_eq!(enc(&values[6]), hex!("08 01 426d1a94a2000000"));
    }

    #[test]
    fn limits() {
        assert_eq!(
            decode_all(&hex!("0d 7f 00 00000001")),
            Err(AmfError::CountExceedsInput {
                what: "amf3 vector",
                count: 63,
                available: 4
            })
        );
        assert_eq!(
            decode_all(&hex!("0a 07 03 61")),
            Err(AmfError::Externalizable {
                class_name: "a".into()
            })
        );
        // an array nested 40 deep, then referenced from depth 40: 80 levels if inlined
        let mut data = hex!("09 05 01").to_vec();
        data.extend_from_slice(&hex!("09 03 01").repeat(39));
        data.push(0x01);
        data.extend_from_slice(&hex!("09 03 01").repeat(39));
        data.extend_from_slice(&hex!("09 02"));
        assert_eq!(
            decode_all(&data),
            Err(AmfError::TooDeep { limit: MAX_DEPTH })
        );
        let deep = hex!("09 03 01").repeat(100);
        assert_eq!(
            decode_all(&deep),
            Err(AmfError::TooDeep { limit: MAX_DEPTH })
        );
        assert_eq!(
            decode_all(&hex!("12")),
            Err(AmfError::UnknownAmf3Marker { marker: 0x12 })
        );
    }
}
