//! AMF0 and AMF3, the Action Message Format that RTMP commands and data messages and FLV
//! script data tags (`onMetaData`) are written in: [AMF0](amf0) after the AMF0
//! specification (Adobe, 2006), [AMF3](amf3) after the AMF 3 specification (Adobe, 2013),
//! reached from AMF0 through the AVM+ marker `0x11`.
//!
//! A format crate of its own, below both `onair-flv` and `onair-rtmp-proto`: values are plain
//! trees ([`Amf0Value`], [`Amf3Value`]) decoded from `&[u8]` and encoded into a caller's
//! [`BytesMut`](bytes::BytesMut). Decoding is bounded for untrusted input: nesting depth,
//! counts checked against the bytes left, AMF3 references charged to an expansion budget, and
//! every malformed input is an [`AmfError`], never a panic.
//!
//! ```
//! use onair_amf::amf0::{self, Amf0Value};
//!
//! // the body of an FLV onMetaData script tag
//! let mut body = bytes::BytesMut::new();
//! amf0::encode(&Amf0Value::from("onMetaData"), &mut body);
//! amf0::encode(&Amf0Value::EcmaArray(vec![("width".into(), 1280.0.into())]), &mut body);
//!
//! let values = amf0::decode_all(&body)?;
//! assert_eq!(values[0].as_str(), Some("onMetaData"));
//! assert_eq!(values[1].get("width").and_then(Amf0Value::as_number), Some(1280.0));
//! # Ok::<(), onair_amf::AmfError>(())
//! ```

pub mod amf0;
pub mod amf3;
mod error;
mod reader;

pub use amf0::Amf0Value;
pub use amf3::{Amf3Object, Amf3Value};
pub use error::AmfError;
