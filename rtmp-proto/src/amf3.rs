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

use bytes::{BufMut, BytesMut};

use crate::amf0::{lossy_string, AmfError, Reader, MAX_DEPTH};

/// Bytes of memory (decoded values, string bytes, reference table copies) one decode call may
/// use, approximately.
pub const EXPANSION_LIMIT: usize = 32 * 1024 * 1024;

/// What one decoded value costs against the budget, besides its string or byte content.
const VALUE_COST: usize = std::mem::size_of::<Amf3Value>();

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

mod marker {
    pub(super) const UNDEFINED: u8 = 0x00;
    pub(super) const NULL: u8 = 0x01;
    pub(super) const FALSE: u8 = 0x02;
    pub(super) const TRUE: u8 = 0x03;
    pub(super) const INTEGER: u8 = 0x04;
    pub(super) const DOUBLE: u8 = 0x05;
    pub(super) const STRING: u8 = 0x06;
    pub(super) const XML_DOC: u8 = 0x07;
    pub(super) const DATE: u8 = 0x08;
    pub(super) const ARRAY: u8 = 0x09;
    pub(super) const OBJECT: u8 = 0x0a;
    pub(super) const XML: u8 = 0x0b;
    pub(super) const BYTE_ARRAY: u8 = 0x0c;
    pub(super) const VECTOR_INT: u8 = 0x0d;
    pub(super) const VECTOR_UINT: u8 = 0x0e;
    pub(super) const VECTOR_DOUBLE: u8 = 0x0f;
    pub(super) const VECTOR_OBJECT: u8 = 0x10;
    pub(super) const DICTIONARY: u8 = 0x11;
}

const U29_MAX: u32 = (1 << 29) - 1;

#[derive(Clone)]
struct Traits {
    class_name: String,
    dynamic: bool,
    externalizable: bool,
    sealed: Vec<String>,
    weight: usize,
}

/// An entry of the object reference table.
enum Slot {
    /// Still being decoded (a reference to it would be a cycle).
    Open {
        /// Its nesting depth.
        depth: usize,
        /// The decoder's `deepest` when it began.
        saved_deepest: usize,
    },
    Done {
        value: Amf3Value,
        /// Bytes of output it holds.
        out_weight: usize,
        /// Budget its decoding spent, including table copies of what it contains.
        total_weight: usize,
        /// How many levels it nests below itself.
        height: usize,
    },
}

/// The reference tables and budget of one AMF3 decode.
struct Decoder<'r, 'a> {
    r: &'r mut Reader<'a>,
    strings: Vec<String>,
    /// Complex values in the order they began.
    objects: Vec<Slot>,
    traits: Vec<Traits>,
    /// Budget spent: output plus reference table copies.
    spent: usize,
    /// Output produced.
    out: usize,
    /// The deepest nesting reached inside the innermost open complex value.
    deepest: usize,
}

/// Decodes one AMF3 value from the front of `input` (with fresh reference tables) and advances
/// `input` past it. On error `input` is left unchanged.
pub fn decode(input: &mut &[u8]) -> Result<Amf3Value, AmfError> {
    let mut r = Reader { data: input };
    let v = decode_nested(&mut r, 0)?;
    *input = r.data;
    Ok(v)
}

/// Decodes AMF3 values until `data` is exhausted, sharing reference tables between them as one
/// message body does.
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf3Value>, AmfError> {
    let mut r = Reader { data };
    let mut d = Decoder::new(&mut r);
    let mut values = Vec::new();
    while !d.r.data.is_empty() {
        values.push(d.value(0)?);
    }
    Ok(values)
}

/// Decodes one value with fresh tables at nesting `depth` (used by the AMF0 AVM+ switch, which
/// starts a new AMF3 context each time).
pub(crate) fn decode_nested(r: &mut Reader<'_>, depth: usize) -> Result<Amf3Value, AmfError> {
    Decoder::new(r).value(depth)
}

impl<'r, 'a> Decoder<'r, 'a> {
    fn new(r: &'r mut Reader<'a>) -> Self {
        Self {
            r,
            strings: Vec::new(),
            objects: Vec::new(),
            traits: Vec::new(),
            spent: 0,
            out: 0,
            deepest: 0,
        }
    }

    /// Charges output (which also counts against the budget).
    fn charge(&mut self, units: usize) -> Result<(), AmfError> {
        self.out = self.out.saturating_add(units);
        self.charge_total(units)
    }

    fn mark(&self) -> (usize, usize) {
        (self.out, self.spent)
    }

    fn charge_total(&mut self, units: usize) -> Result<(), AmfError> {
        self.spent = self.spent.saturating_add(units);
        if self.spent > EXPANSION_LIMIT {
            return Err(AmfError::ExpansionLimit {
                limit: EXPANSION_LIMIT,
            });
        }
        Ok(())
    }

    fn u29(&mut self) -> Result<u32, AmfError> {
        let mut v = 0u32;
        for _ in 0..3 {
            let b = self.r.u8()?;
            v = (v << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        let b = self.r.u8()?;
        Ok((v << 8) | u32::from(b))
    }

    /// A string with the reference flag (U29S): inline strings join the table unless empty.
    fn string(&mut self) -> Result<String, AmfError> {
        let h = self.u29()?;
        if h & 1 == 0 {
            let index = h >> 1;
            let s = self
                .strings
                .get(index as usize)
                .ok_or(AmfError::InvalidReference {
                    table: "string",
                    index,
                })?
                .clone();
            self.charge(1 + s.len())?;
            return Ok(s);
        }
        let s = lossy_string(self.r.take((h >> 1) as usize)?);
        self.charge(1 + s.len())?;
        if !s.is_empty() {
            self.strings.push(s.clone());
        }
        Ok(s)
    }

    /// Reads the U29 header of a complex value: `Ok(Err(value))` for a resolved reference,
    /// `Ok(Ok((slot, bits)))` for an inline value whose table slot is reserved.
    ///
    /// A copy counts as if it were written inline at `depth`: against the budget and against
    /// [`MAX_DEPTH`], so re-encoding a decoded value always decodes again.
    fn complex_header(
        &mut self,
        depth: usize,
    ) -> Result<Result<(usize, u32), Amf3Value>, AmfError> {
        let h = self.u29()?;
        if h & 1 == 0 {
            let index = h >> 1;
            let (out_weight, total_weight, height) = match self.objects.get(index as usize) {
                None => {
                    return Err(AmfError::InvalidReference {
                        table: "object",
                        index,
                    })
                }
                Some(Slot::Open { .. }) => return Err(AmfError::CyclicReference { index }),
                Some(Slot::Done {
                    out_weight,
                    total_weight,
                    height,
                    ..
                }) => (*out_weight, *total_weight, *height),
            };
            if depth + height >= MAX_DEPTH {
                return Err(AmfError::TooDeep { limit: MAX_DEPTH });
            }
            // as if inline: its output, what its contents' table copies cost, and its own copy
            self.out = self.out.saturating_add(out_weight);
            self.charge_total(total_weight.saturating_add(out_weight))?;
            self.deepest = self.deepest.max(depth + height);
            return match self.objects.get(index as usize) {
                Some(Slot::Done { value, .. }) => Ok(Err(value.clone())),
                _ => Err(AmfError::InvalidReference {
                    table: "object",
                    index,
                }),
            };
        }
        self.objects.push(Slot::Open {
            depth,
            saved_deepest: self.deepest,
        });
        self.deepest = depth;
        Ok(Ok((self.objects.len() - 1, h >> 1)))
    }

    /// Completes the table entry of a complex value, charging the copy kept there.
    fn finish(
        &mut self,
        slot: usize,
        start: (usize, usize),
        value: Amf3Value,
    ) -> Result<Amf3Value, AmfError> {
        let out_weight = self.out - start.0;
        let total_weight = self.spent - start.1;
        self.charge_total(out_weight)?;
        if let Some(entry) = self.objects.get_mut(slot) {
            if let Slot::Open {
                depth,
                saved_deepest,
            } = *entry
            {
                let height = self.deepest.saturating_sub(depth);
                self.deepest = self.deepest.max(saved_deepest);
                *entry = Slot::Done {
                    value: value.clone(),
                    out_weight,
                    total_weight,
                    height,
                };
            }
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Amf3Value, AmfError> {
        if depth >= MAX_DEPTH {
            return Err(AmfError::TooDeep { limit: MAX_DEPTH });
        }
        self.deepest = self.deepest.max(depth);
        let m = self.r.u8()?;
        self.charge(VALUE_COST)?;
        Ok(match m {
            marker::UNDEFINED => Amf3Value::Undefined,
            marker::NULL => Amf3Value::Null,
            marker::FALSE => Amf3Value::Boolean(false),
            marker::TRUE => Amf3Value::Boolean(true),
            marker::INTEGER => {
                let v = self.u29()?;
                // sign-extend 29 bits
                Amf3Value::Integer(((v << 3) as i32) >> 3)
            }
            marker::DOUBLE => Amf3Value::Double(self.r.f64()?),
            marker::STRING => Amf3Value::String(self.string()?),
            marker::XML_DOC | marker::XML | marker::BYTE_ARRAY => {
                let start = self.mark();
                let (slot, len) = match self.complex_header(depth)? {
                    Err(v) => return Ok(v),
                    Ok(x) => x,
                };
                let bytes = self.r.take(len as usize)?;
                self.charge(bytes.len())?;
                let v = match m {
                    marker::XML_DOC => Amf3Value::XmlDocument(lossy_string(bytes)),
                    marker::XML => Amf3Value::Xml(lossy_string(bytes)),
                    _ => Amf3Value::ByteArray(bytes.to_vec()),
                };
                self.finish(slot, start, v)?
            }
            marker::DATE => {
                let start = self.mark();
                let slot = match self.complex_header(depth)? {
                    Err(v) => return Ok(v),
                    Ok((slot, _)) => slot,
                };
                let v = Amf3Value::Date(self.r.f64()?);
                self.finish(slot, start, v)?
            }
            marker::ARRAY => {
                let start = self.mark();
                let (slot, dense_len) = match self.complex_header(depth)? {
                    Err(v) => return Ok(v),
                    Ok(x) => x,
                };
                let mut assoc = Vec::new();
                loop {
                    let key = self.string()?;
                    if key.is_empty() {
                        break;
                    }
                    assoc.push((key, self.value(depth + 1)?));
                }
                self.r.check_count("amf3 array", u64::from(dense_len), 1)?;
                let mut dense = Vec::with_capacity(dense_len as usize);
                for _ in 0..dense_len {
                    dense.push(self.value(depth + 1)?);
                }
                self.finish(slot, start, Amf3Value::Array { assoc, dense })?
            }
            marker::OBJECT => self.object(depth)?,
            marker::VECTOR_INT | marker::VECTOR_UINT | marker::VECTOR_DOUBLE => {
                let start = self.mark();
                let (slot, count) = match self.complex_header(depth)? {
                    Err(v) => return Ok(v),
                    Ok(x) => x,
                };
                let fixed = self.r.u8()? != 0;
                let size = if m == marker::VECTOR_DOUBLE { 8 } else { 4 };
                self.r.check_count("amf3 vector", u64::from(count), size)?;
                self.charge((count as usize).saturating_mul(size as usize))?;
                let v = match m {
                    marker::VECTOR_INT => Amf3Value::VectorInt {
                        fixed,
                        items: (0..count)
                            .map(|_| self.r.u32().map(|x| x as i32))
                            .collect::<Result<_, _>>()?,
                    },
                    marker::VECTOR_UINT => Amf3Value::VectorUint {
                        fixed,
                        items: (0..count).map(|_| self.r.u32()).collect::<Result<_, _>>()?,
                    },
                    _ => Amf3Value::VectorDouble {
                        fixed,
                        items: (0..count).map(|_| self.r.f64()).collect::<Result<_, _>>()?,
                    },
                };
                self.finish(slot, start, v)?
            }
            marker::VECTOR_OBJECT => {
                let start = self.mark();
                let (slot, count) = match self.complex_header(depth)? {
                    Err(v) => return Ok(v),
                    Ok(x) => x,
                };
                let fixed = self.r.u8()? != 0;
                let type_name = self.string()?;
                self.r
                    .check_count("amf3 object vector", u64::from(count), 1)?;
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                let v = Amf3Value::VectorObject {
                    fixed,
                    type_name,
                    items,
                };
                self.finish(slot, start, v)?
            }
            marker::DICTIONARY => {
                let start = self.mark();
                let (slot, count) = match self.complex_header(depth)? {
                    Err(v) => return Ok(v),
                    Ok(x) => x,
                };
                let weak_keys = self.r.u8()? != 0;
                self.r.check_count("amf3 dictionary", u64::from(count), 2)?;
                let mut entries = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                }
                self.finish(slot, start, Amf3Value::Dictionary { weak_keys, entries })?
            }
            other => return Err(AmfError::UnknownAmf3Marker { marker: other }),
        })
    }

    fn object(&mut self, depth: usize) -> Result<Amf3Value, AmfError> {
        let start = self.mark();
        let (slot, bits) = match self.complex_header(depth)? {
            Err(v) => return Ok(v),
            Ok(x) => x,
        };
        let traits = if bits & 1 == 0 {
            let index = bits >> 1;
            let t = self
                .traits
                .get(index as usize)
                .ok_or(AmfError::InvalidReference {
                    table: "trait",
                    index,
                })?
                .clone();
            self.charge(t.weight)?;
            t
        } else {
            let t_start = self.out;
            let externalizable = bits & 2 != 0;
            let dynamic = bits & 4 != 0;
            let count = bits >> 3;
            let class_name = self.string()?;
            self.r
                .check_count("amf3 sealed members", u64::from(count), 1)?;
            let mut sealed = Vec::with_capacity(count as usize);
            for _ in 0..count {
                sealed.push(self.string()?);
            }
            let t = Traits {
                class_name,
                dynamic,
                externalizable,
                sealed,
                weight: self.out - t_start,
            };
            self.traits.push(t.clone());
            t
        };
        if traits.externalizable {
            return Err(AmfError::Externalizable {
                class_name: traits.class_name,
            });
        }
        let mut sealed = Vec::with_capacity(traits.sealed.len());
        for name in traits.sealed {
            let v = self.value(depth + 1)?;
            sealed.push((name, v));
        }
        let mut dynamic_members = Vec::new();
        if traits.dynamic {
            loop {
                let key = self.string()?;
                if key.is_empty() {
                    break;
                }
                dynamic_members.push((key, self.value(depth + 1)?));
            }
        }
        let v = Amf3Value::Object(Amf3Object {
            class_name: traits.class_name,
            dynamic: traits.dynamic,
            sealed,
            dynamic_members,
        });
        self.finish(slot, start, v)
    }
}

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

fn put_inline_len(len: usize, out: &mut BytesMut) {
    put_u29(((len.min(INLINE_MAX) as u32) << 1) | 1, out);
}

fn put_string(s: &str, out: &mut BytesMut) {
    let s = crate::amf0::truncate_to(s, INLINE_MAX);
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

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

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
