//! Read-ahead in large blocks for [`FlvReader::with_read_ahead`](super::FlvReader): tag bodies
//! are slices of reused blocks, so steady-state reading neither copies nor allocates.

use std::io::Read;
use std::sync::Arc;

use bytes::{Buf, Bytes};

use super::{FlvTag, FlvTagType};
use crate::FlvError;

/// How many blocks a read-ahead reader keeps for reuse.
pub(super) const BLOCK_POOL: usize = 4;

/// A block of input that tag bodies point into. Shared between the reader's pool and the
/// [`Bytes`] handed out: when every tag of a block is dropped, the reader fills it again,
/// so steady-state reading allocates nothing and never zero-fills.
pub(super) struct Block(Arc<Vec<u8>>);

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A [`Read`] consumed in large blocks; tag bodies are slices of the blocks.
pub(super) struct Blocks<R> {
    pub(super) inner: R,
    /// The bytes read but not yet consumed (a slice of the newest block).
    pub(super) data: Bytes,
    /// A block being filled when `inner` failed, and how many bytes it holds (`data` is
    /// then empty).
    pub(super) partial: Option<(Vec<u8>, usize)>,
    /// Blocks handed out or free for reuse (free when only the pool holds them).
    pub(super) pool: Vec<Arc<Vec<u8>>>,
    pub(super) block: usize,
    pub(super) eof: bool,
}

impl<R: Read> Blocks<R> {
    /// Reads until at least `need` bytes are buffered or the input ends. The bytes left over
    /// from the previous block (less than one tag) are copied to the start of the next.
    pub(super) fn fill(&mut self, need: usize) -> Result<(), FlvError> {
        if self.data.len() >= need || self.eof {
            return Ok(());
        }
        let (mut v, mut filled) = match self.partial.take() {
            Some((v, filled)) if v.len() >= need => (v, filled),
            Some((old, filled)) => {
                let mut v = self.take_block(self.block.max(need));
                v[..filled].copy_from_slice(&old[..filled]);
                self.give_back(old);
                (v, filled)
            }
            None => {
                let mut v = self.take_block(self.block.max(need));
                let left = self.data.len();
                v[..left].copy_from_slice(&self.data);
                self.data = Bytes::new();
                (v, left)
            }
        };
        // Read until the request is met (not until the block is full: a live source must not
        // be waited on for bytes nobody asked for yet).
        while filled < need {
            match self.inner.read(&mut v[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // keep what was read: a retry (e.g. after `WouldBlock`) goes on from here
                    self.partial = Some((v, filled));
                    return Err(e.into());
                }
            }
        }
        if filled == 0 {
            self.give_back(v);
            return Ok(());
        }
        let block = Arc::new(v);
        self.pool.push(Arc::clone(&block));
        self.data = Bytes::from_owner(Block(block)).slice(..filled);
        Ok(())
    }

    /// A block of at least `size` bytes: a free one from the pool, or a new one.
    fn take_block(&mut self, size: usize) -> Vec<u8> {
        let mut i = 0;
        while i < self.pool.len() {
            if Arc::strong_count(&self.pool[i]) == 1 && self.pool[i].len() >= size {
                match Arc::try_unwrap(self.pool.swap_remove(i)) {
                    Ok(v) => return v,
                    Err(shared) => self.pool.push(shared),
                }
            }
            i += 1;
        }
        // Keep the pool small: forget blocks still in use (they are freed with their last
        // tag), then free blocks beyond the limit.
        if self.pool.len() >= BLOCK_POOL {
            self.pool.retain(|b| Arc::strong_count(b) == 1);
            self.pool.truncate(BLOCK_POOL - 1);
        }
        vec![0; size]
    }

    /// The next tag, consumed only once it is whole: an error from `inner` (such as
    /// `WouldBlock`) leaves the reader where it was, so the call can be repeated.
    pub(super) fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        self.fill(11)?;
        if self.data.is_empty() {
            return Ok(None);
        }
        let Some(h) = self.data.get(..11) else {
            return Err(FlvError::NotEnoughData {
                what: "flv file",
                needed: 11,
                available: self.data.len(),
            });
        };
        let size = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let tag_type = FlvTagType::from_u8(h[0] & 0x1f);
        self.fill(11 + size + 4)?;
        if self.data.len() < 11 + size {
            return Err(FlvError::NotEnoughData {
                what: "flv tag",
                needed: size,
                available: self.data.len() - 11,
            });
        }
        self.data.advance(11);
        let data = self.data.split_to(size);
        // a file cut after the last body lacks its PreviousTagSize; that is still a whole tag
        self.data.advance(self.data.len().min(4));
        Ok(Some(FlvTag {
            tag_type,
            timestamp,
            data,
        }))
    }

    fn give_back(&mut self, v: Vec<u8>) {
        if self.pool.len() < BLOCK_POOL {
            self.pool.push(Arc::new(v));
        }
    }
}
