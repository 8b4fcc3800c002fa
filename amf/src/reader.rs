//! The byte cursor and string helpers shared by the AMF0 and AMF3 codecs.

use crate::AmfError;

/// A byte cursor shared by the AMF0 and AMF3 decoders.
pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        if self.data.len() < n {
            return Err(AmfError::NotEnoughData {
                needed: n,
                available: self.data.len(),
            });
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn peek(&self) -> Result<u8, AmfError> {
        self.data.first().copied().ok_or(AmfError::NotEnoughData {
            needed: 1,
            available: 0,
        })
    }

    pub(crate) fn u16(&mut self) -> Result<u16, AmfError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, AmfError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, AmfError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    pub(crate) fn utf8(&mut self, len: usize) -> Result<String, AmfError> {
        Ok(lossy_string(self.take(len)?))
    }

    /// Fails unless `count` items of at least `min_size` bytes each could fit in what is left.
    pub(crate) fn check_count(
        &self,
        what: &'static str,
        count: u64,
        min_size: u64,
    ) -> Result<(), AmfError> {
        if count.saturating_mul(min_size) > self.data.len() as u64 {
            return Err(AmfError::CountExceedsInput {
                what,
                count,
                available: self.data.len(),
            });
        }
        Ok(())
    }
}

pub(crate) fn lossy_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_to(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
