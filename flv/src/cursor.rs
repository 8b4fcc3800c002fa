//! Reading tag bodies: a cursor over `&[u8]` whose every read is bounds-checked into
//! [`FlvError::NotEnoughData`], and the signed 24-bit integers of composition times.

use bytes::{BufMut, BytesMut};

use crate::{FlvError, FourCc};

/// A position in a tag body. Offsets are from the start of the body, so a caller holding the
/// body as [`Bytes`](bytes::Bytes) can slice payloads out without copying.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// A cursor `pos` bytes into `data` (at its end if `pos` is beyond).
    pub(crate) fn at(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos: pos.min(data.len()),
        }
    }

    /// Bytes read so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// What is left.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// The offset of the end of the input.
    pub(crate) fn end(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FlvError> {
        let rest = self.rest();
        if rest.len() < n {
            return Err(FlvError::NotEnoughData {
                what,
                needed: n,
                available: rest.len(),
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], FlvError> {
        let b = self.take(N, what)?;
        let mut a = [0; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, FlvError> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<usize, FlvError> {
        let [a, b, c] = self.array::<3>(what)?;
        Ok(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
    }

    pub(crate) fn si24(&mut self, what: &'static str) -> Result<i32, FlvError> {
        Ok(si24(&self.array::<3>(what)?))
    }

    pub(crate) fn fourcc(&mut self) -> Result<FourCc, FlvError> {
        Ok(FourCc(self.array::<4>("fourcc")?))
    }

    /// Everything that is left, consumed.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.rest();
        self.pos = self.data.len();
        rest
    }
}

/// A signed 24-bit big-endian integer.
pub(crate) fn si24(b: &[u8; 3]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8
}

/// Writes the low 24 bits of `v` (clamped to the SI24 range).
pub(crate) fn put_si24(v: i32, out: &mut BytesMut) {
    let v = v.clamp(-(1 << 23), (1 << 23) - 1);
    out.put_slice(&v.to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    #[test]
    fn si24_values() {
        assert_eq!(si24(&hex!("7fffff")), 0x7f_ffff);
        assert_eq!(si24(&hex!("800000")), -0x80_0000);
        assert_eq!(si24(&hex!("ffffff")), -1);
        let mut out = BytesMut::new();
        put_si24(-1, &mut out);
        put_si24(1 << 30, &mut out);
        assert_eq!(&out[..], hex!("ffffff 7fffff"));
    }

    #[test]
    fn reads_past_the_end_are_errors() {
        let mut c = Cursor::new(&hex!("0102"));
        assert_eq!(c.u8("a"), Ok(1));
        assert_eq!(
            c.take(2, "b"),
            Err(FlvError::NotEnoughData {
                what: "b",
                needed: 2,
                available: 1
            })
        );
        assert_eq!(c.pos(), 1);
        assert_eq!(c.take_rest(), &[2]);
        assert!(c.is_empty());
    }
}
