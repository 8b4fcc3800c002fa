//! The AMF3 decoder: reference tables and the expansion budget.

use super::marker;
use super::{Amf3Object, Amf3Value, EXPANSION_LIMIT};
use crate::amf0::MAX_DEPTH;
use crate::reader::{lossy_string, Reader};
use crate::AmfError;

/// What one decoded value costs against the budget, besides its string or byte content.
const VALUE_COST: usize = std::mem::size_of::<Amf3Value>();

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
