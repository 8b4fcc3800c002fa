//! The AMF3 encoder: every value inline.

use bytes::{BufMut, BytesMut};

use super::marker;
use super::{Amf3Value, U29_MAX};
use crate::reader::truncate_to;

fn put_u29(v: u32, out: &mut BytesMut) {
    let v = v.min(U29_MAX);
    if v < 0x80 {
        out.put_u8(v as u8);
    } else if v < 0x4000 {
        out.put_u8(((v >> 7) | 0x80) as u8);
        out.put_u8((v & 0x7f) as u8);
    } else if v < 0x20_0000 {
        out.put_u8(((v >> 14) | 0x80) as u8);
        out.put_u8((((v >> 7) & 0x7f) | 0x80) as u8);
        out.put_u8((v & 0x7f) as u8);
    } else {
        out.put_u8(((v >> 22) | 0x80) as u8);
        out.put_u8((((v >> 15) & 0x7f) | 0x80) as u8);
        out.put_u8((((v >> 8) & 0x7f) | 0x80) as u8);
        out.put_u8((v & 0xff) as u8);
    }
}

/// Longest byte length an inline U29 header can declare.
const INLINE_MAX: usize = (U29_MAX >> 1) as usize;

pub(super) fn put_inline_len(len: usize, out: &mut BytesMut) {
    put_u29(((len.min(INLINE_MAX) as u32) << 1) | 1, out);
}

fn put_string(s: &str, out: &mut BytesMut) {
    let s = truncate_to(s, INLINE_MAX);
    put_inline_len(s.len(), out);
    out.put_slice(s.as_bytes());
}

fn put_bytes(b: &[u8], out: &mut BytesMut) {
    let b = &b[..b.len().min(INLINE_MAX)];
    put_inline_len(b.len(), out);
    out.put_slice(b);
}

/// Appends the AMF3 encoding of `value` to `out`, every value inline.
///
/// Integers outside the 29-bit range are written as doubles; counts and lengths beyond the
/// 28 bits AMF3 can declare are cut to that size.
pub fn encode(value: &Amf3Value, out: &mut BytesMut) {
    match value {
        Amf3Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf3Value::Null => out.put_u8(marker::NULL),
        Amf3Value::Boolean(false) => out.put_u8(marker::FALSE),
        Amf3Value::Boolean(true) => out.put_u8(marker::TRUE),
        Amf3Value::Integer(i) => {
            if (-(1 << 28)..(1 << 28)).contains(i) {
                out.put_u8(marker::INTEGER);
                put_u29((*i as u32) & U29_MAX, out);
            } else {
                out.put_u8(marker::DOUBLE);
                out.put_f64(f64::from(*i));
            }
        }
        Amf3Value::Double(d) => {
            out.put_u8(marker::DOUBLE);
            out.put_f64(*d);
        }
        Amf3Value::String(s) => {
            out.put_u8(marker::STRING);
            put_string(s, out);
        }
        Amf3Value::XmlDocument(s) => {
            out.put_u8(marker::XML_DOC);
            put_string(s, out);
        }
        Amf3Value::Xml(s) => {
            out.put_u8(marker::XML);
            put_string(s, out);
        }
        Amf3Value::ByteArray(b) => {
            out.put_u8(marker::BYTE_ARRAY);
            put_bytes(b, out);
        }
        Amf3Value::Date(d) => {
            out.put_u8(marker::DATE);
            put_u29(1, out);
            out.put_f64(*d);
        }
        Amf3Value::Array { assoc, dense } => {
            out.put_u8(marker::ARRAY);
            let dense = &dense[..dense.len().min(INLINE_MAX)];
            put_inline_len(dense.len(), out);
            put_members(assoc, out);
            for v in dense {
                encode(v, out);
            }
        }
        Amf3Value::Object(o) => {
            out.put_u8(marker::OBJECT);
            // traits inline: bits are 1 (inline object), 1 (inline traits), 0 (not
            // externalizable), dynamic, then the sealed count
            let sealed = &o.sealed[..o.sealed.len().min((U29_MAX >> 4) as usize)];
            let header = ((sealed.len() as u32) << 4) | (u32::from(o.dynamic) << 3) | 0b011;
            put_u29(header, out);
            put_string(&o.class_name, out);
            for (k, _) in sealed {
                put_string(k, out);
            }
            for (_, v) in sealed {
                encode(v, out);
            }
            if o.dynamic {
                put_members(&o.dynamic_members, out);
            }
        }
        Amf3Value::VectorInt { fixed, items } => {
            out.put_u8(marker::VECTOR_INT);
            let items = &items[..items.len().min(INLINE_MAX)];
            put_inline_len(items.len(), out);
            out.put_u8(u8::from(*fixed));
            for i in items {
                out.put_i32(*i);
            }
        }
        Amf3Value::VectorUint { fixed, items } => {
            out.put_u8(marker::VECTOR_UINT);
            let items = &items[..items.len().min(INLINE_MAX)];
            put_inline_len(items.len(), out);
            out.put_u8(u8::from(*fixed));
            for i in items {
                out.put_u32(*i);
            }
        }
        Amf3Value::VectorDouble { fixed, items } => {
            out.put_u8(marker::VECTOR_DOUBLE);
            let items = &items[..items.len().min(INLINE_MAX)];
            put_inline_len(items.len(), out);
            out.put_u8(u8::from(*fixed));
            for d in items {
                out.put_f64(*d);
            }
        }
        Amf3Value::VectorObject {
            fixed,
            type_name,
            items,
        } => {
            out.put_u8(marker::VECTOR_OBJECT);
            let items = &items[..items.len().min(INLINE_MAX)];
            put_inline_len(items.len(), out);
            out.put_u8(u8::from(*fixed));
            put_string(type_name, out);
            for v in items {
                encode(v, out);
            }
        }
        Amf3Value::Dictionary { weak_keys, entries } => {
            out.put_u8(marker::DICTIONARY);
            let entries = &entries[..entries.len().min(INLINE_MAX)];
            put_inline_len(entries.len(), out);
            out.put_u8(u8::from(*weak_keys));
            for (k, v) in entries {
                encode(k, out);
                encode(v, out);
            }
        }
    }
}

/// Writes name/value pairs and the empty-string terminator. An empty name cannot be written
/// (it would end the list), so such members are skipped.
fn put_members(members: &[(String, Amf3Value)], out: &mut BytesMut) {
    for (k, v) in members {
        if k.is_empty() {
            continue;
        }
        put_string(k, out);
        encode(v, out);
    }
    put_u29(1, out);
}
