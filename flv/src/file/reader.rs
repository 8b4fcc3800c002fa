//! [`FlvReader`]: FLV files from any [`Read`] (tag by tag, or in large blocks whose tag bodies
//! are handed out without a copy), or from [`Bytes`] without copying tag data.

use std::io::Read;

use bytes::{Buf, Bytes};

use super::blocks::Blocks;
use super::{FlvHeader, FlvTag, FlvTagType};
use crate::FlvError;

enum Source<R> {
    Read(R),
    Bytes(Bytes),
    Blocks(Blocks<R>),
}

/// The largest header (`DataOffset`) accepted: version 1 defines 9 bytes; larger ones are
/// skipped, up to the size of a tag.
const MAX_HEADER_SIZE: usize = 9 + 0xff_ffff;

/// Reads an FLV file tag by tag.
///
/// ```
/// use onair_flv::{FlvReader, FlvTagType, FlvWriter};
/// let mut writer = FlvWriter::new(Vec::new(), true, false).unwrap();
/// writer.write_tag(FlvTagType::Audio, 40, &[0xaf, 0x01, 0x21]).unwrap();
/// let file = writer.into_inner();
///
/// let mut reader = FlvReader::from_bytes(file);
/// let tag = reader.next_tag().unwrap().unwrap();
/// assert_eq!((tag.tag_type, tag.timestamp), (FlvTagType::Audio, 40));
/// assert!(reader.next_tag().unwrap().is_none());
/// ```
pub struct FlvReader<R> {
    source: Source<R>,
    header: Option<FlvHeader>,
}

impl FlvReader<std::io::Empty> {
    /// A block size for [`FlvReader::with_read_ahead`] that suits files: 256 KiB, few
    /// system calls while the block is still in cache when its tags are consumed.
    pub const READ_AHEAD_BLOCK: usize = 256 << 10;

    /// A reader over a whole file in memory; tag bodies are slices of `data`.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        Self {
            source: Source::Bytes(data.into()),
            header: None,
        }
    }
}

impl<R: Read> FlvReader<R> {
    /// A reader over `inner`; each tag body is read into its own buffer, and nothing past the
    /// current tag is read from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            source: Source::Read(inner),
            header: None,
        }
    }

    /// A reader over `inner` that reads ahead in blocks of `block_size` bytes (use
    /// [`FlvReader::READ_AHEAD_BLOCK`] for files; a block always holds at least one whole
    /// tag) and hands tag bodies out as slices of those blocks: one copy (the kernel's)
    /// instead of two, and no allocation per tag. `inner` needs no buffering of its own.
    ///
    /// A block is reused once every tag body pointing into it is dropped; holding on to a
    /// tag keeps its whole block alive (copy the body out to keep it for long). Reading stops
    /// as soon as the tag asked for is complete, so a live source is not waited on.
    pub fn with_read_ahead(inner: R, block_size: usize) -> Self {
        Self {
            source: Source::Blocks(Blocks {
                inner,
                data: Bytes::new(),
                partial: None,
                pool: Vec::new(),
                block: block_size.max(1),
                eof: false,
            }),
            header: None,
        }
    }

    /// Fills `buf` exactly; `Ok(false)` if the input ended before the first byte.
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Result<bool, FlvError> {
        match &mut self.source {
            Source::Bytes(b) => take_exact_or_eof(b, buf),
            Source::Blocks(blocks) => {
                blocks.fill(buf.len())?;
                take_exact_or_eof(&mut blocks.data, buf)
            }
            Source::Read(r) => {
                let mut filled = 0;
                while filled < buf.len() {
                    match r.read(&mut buf[filled..]) {
                        Ok(0) if filled == 0 => return Ok(false),
                        Ok(0) => {
                            return Err(FlvError::NotEnoughData {
                                what: "flv file",
                                needed: buf.len(),
                                available: filled,
                            })
                        }
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(true)
            }
        }
    }

    fn read_body(&mut self, len: usize) -> Result<Bytes, FlvError> {
        match &mut self.source {
            Source::Bytes(b) => {
                if b.len() < len {
                    return Err(FlvError::NotEnoughData {
                        what: "flv tag",
                        needed: len,
                        available: b.len(),
                    });
                }
                Ok(b.split_to(len))
            }
            Source::Blocks(blocks) => {
                blocks.fill(len)?;
                let b = &mut blocks.data;
                if b.len() < len {
                    return Err(FlvError::NotEnoughData {
                        what: "flv tag",
                        needed: len,
                        available: b.len(),
                    });
                }
                Ok(b.split_to(len))
            }
            Source::Read(r) => {
                // One allocation of the declared size: the 24-bit size field caps it at 16 MiB,
                // so a lying header costs at most that, and honest files are read without regrowth.
                let mut v = Vec::with_capacity(len);
                r.by_ref().take(len as u64).read_to_end(&mut v)?;
                if v.len() < len {
                    return Err(FlvError::NotEnoughData {
                        what: "flv tag",
                        needed: len,
                        available: v.len(),
                    });
                }
                Ok(Bytes::from(v))
            }
        }
    }

    /// Reads (once) and returns the file header.
    pub fn read_header(&mut self) -> Result<FlvHeader, FlvError> {
        if let Some(h) = self.header {
            return Ok(h);
        }
        if let Source::Blocks(b) = &mut self.source {
            // the whole header in the buffer first, so that a `WouldBlock` consumes nothing
            b.fill(9)?;
            if let Some(o) = b.data.get(5..9) {
                let offset = u32::from_be_bytes([o[0], o[1], o[2], o[3]]) as usize;
                b.fill(offset.min(MAX_HEADER_SIZE) + 4)?;
            }
        }
        let mut h = [0u8; 9];
        if !self.read_exact_or_eof(&mut h)? {
            return Err(FlvError::NotEnoughData {
                what: "flv header",
                needed: 9,
                available: 0,
            });
        }
        if &h[..3] != b"FLV" {
            return Err(FlvError::BadSignature {
                signature: [h[0], h[1], h[2]],
            });
        }
        let offset = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        if offset < 9 || offset as usize > MAX_HEADER_SIZE {
            return Err(FlvError::Unsupported {
                what: "flv header size",
                value: offset,
            });
        }
        // header extension (none defined), then PreviousTagSize0
        self.read_body(offset as usize - 9)?;
        let mut prev = [0u8; 4];
        if !self.read_exact_or_eof(&mut prev)? {
            return Err(FlvError::NotEnoughData {
                what: "flv previous tag size",
                needed: 4,
                available: 0,
            });
        }
        let header = FlvHeader {
            version: h[3],
            has_audio: h[4] & 0x04 != 0,
            has_video: h[4] & 0x01 != 0,
        };
        self.header = Some(header);
        Ok(header)
    }

    /// The next tag, or `None` at the end of the file. Reads the header first if needed.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        self.read_header()?;
        if let Source::Blocks(b) = &mut self.source {
            return b.next_tag();
        }
        let mut h = [0u8; 11];
        if !self.read_exact_or_eof(&mut h)? {
            return Ok(None);
        }
        let size = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let data = self.read_body(size)?;
        // a file cut after the last body lacks its PreviousTagSize; that is still a whole tag
        let mut prev = [0u8; 4];
        self.read_exact_or_eof(&mut prev)?;
        Ok(Some(FlvTag {
            tag_type: FlvTagType::from_u8(h[0] & 0x1f),
            timestamp,
            data,
        }))
    }

    /// Gives back the underlying reader (`None` for a reader made by `from_bytes`). For a
    /// reader made by [`with_read_ahead`](Self::with_read_ahead) it is positioned after the
    /// bytes read ahead.
    pub fn into_inner(self) -> Option<R> {
        match self.source {
            Source::Read(r) => Some(r),
            Source::Blocks(b) => Some(b.inner),
            Source::Bytes(_) => None,
        }
    }
}

/// Moves `buf.len()` bytes from the front of `b` into `buf`; `Ok(false)` if `b` is empty.
fn take_exact_or_eof(b: &mut impl Buf, buf: &mut [u8]) -> Result<bool, FlvError> {
    if !b.has_remaining() {
        return Ok(false);
    }
    if b.remaining() < buf.len() {
        return Err(FlvError::NotEnoughData {
            what: "flv file",
            needed: buf.len(),
            available: b.remaining(),
        });
    }
    b.copy_to_slice(buf);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::super::blocks::BLOCK_POOL;
    use super::super::FlvWriter;
    use super::*;

    #[test]
    fn errors() {
        assert_eq!(
            FlvReader::from_bytes(b"FLX\x01\x05\0\0\0\x09".to_vec()).read_header(),
            Err(FlvError::BadSignature { signature: *b"FLX" })
        );
        let file = hex!("464c5601 05 00000009 00000000 09 000005 000000 00 000000 17");
        assert_eq!(
            FlvReader::from_bytes(file.to_vec()).next_tag(),
            Err(FlvError::NotEnoughData {
                what: "flv tag",
                needed: 5,
                available: 1
            })
        );
        assert_eq!(
            FlvReader::new(&file[..]).next_tag(),
            Err(FlvError::NotEnoughData {
                what: "flv tag",
                needed: 5,
                available: 1
            })
        );
        // a huge declared size does not allocate: only the bytes present are read
        let file = hex!("464c5601 05 00000009 00000000 09 ffffff 000000 00 000000 17");
        assert!(FlvReader::new(&file[..]).next_tag().is_err());
    }

    /// A reader giving at most `max` bytes per call, and `WouldBlock` every third call.
    struct Trickle<'a> {
        data: &'a [u8],
        max: usize,
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.max).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn sample_file() -> (Vec<u8>, Vec<FlvTag>) {
        let mut w = FlvWriter::new(Vec::new(), true, true).unwrap();
        let mut tags = Vec::new();
        for (i, size) in [0usize, 1, 11, 300, 5000, 70_000, 4, 1 << 17, 2, 9000]
            .into_iter()
            .enumerate()
        {
            let tag = FlvTag {
                tag_type: if i % 2 == 0 {
                    FlvTagType::Video
                } else {
                    FlvTagType::Audio
                },
                timestamp: i as u32 * 40,
                data: (0..size).map(|b| (b * 31 + i) as u8).collect(),
            };
            w.write_tag(tag.tag_type, tag.timestamp, &tag.data).unwrap();
            tags.push(tag);
        }
        (w.into_inner(), tags)
    }

    fn read_all<R: Read>(mut reader: FlvReader<R>) -> Vec<FlvTag> {
        let mut tags = Vec::new();
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => tags.push(tag),
                Ok(None) => return tags,
                Err(FlvError::Io {
                    kind: std::io::ErrorKind::WouldBlock,
                }) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn read_ahead_gives_the_same_tags_for_any_block_and_read_size() {
        let (file, tags) = sample_file();
        assert_eq!(read_all(FlvReader::from_bytes(file.clone())), tags);
        for block in [1, 7, 64, 4096, FlvReader::READ_AHEAD_BLOCK, 1 << 20] {
            for max in [3, 100, 65_536, usize::MAX] {
                let reader = FlvReader::with_read_ahead(
                    Trickle {
                        data: &file,
                        max,
                        calls: 0,
                    },
                    block,
                );
                // all tags are held while reading on: blocks in use are never refilled
                assert_eq!(read_all(reader), tags, "block {block} max {max}");
            }
        }
    }

    #[test]
    fn read_ahead_reuses_its_blocks() {
        let (file, tags) = sample_file();
        let mut file_x20 = file.clone();
        for _ in 0..19 {
            file_x20.extend_from_slice(&file[13..]);
        }
        let mut reader = FlvReader::with_read_ahead(&file_x20[..], 4096);
        let mut n = 0;
        while let Some(tag) = reader.next_tag().unwrap() {
            assert_eq!(tag, tags[n % tags.len()]);
            n += 1;
            let Source::Blocks(b) = &reader.source else {
                panic!("not a block source")
            };
            assert!(b.pool.len() <= BLOCK_POOL, "{} blocks", b.pool.len());
        }
        assert_eq!(n, 20 * tags.len());
    }

    #[test]
    fn read_ahead_errors() {
        let file = hex!("464c5601 05 00000009 00000000 09 000005 000000 00 000000 17");
        assert_eq!(
            FlvReader::with_read_ahead(&file[..], 4).next_tag(),
            Err(FlvError::NotEnoughData {
                what: "flv tag",
                needed: 5,
                available: 1
            })
        );
        assert_eq!(
            FlvReader::with_read_ahead(&file[..3], 4).read_header(),
            Err(FlvError::NotEnoughData {
                what: "flv file",
                needed: 9,
                available: 3
            })
        );
        assert_eq!(
            FlvReader::with_read_ahead(&b""[..], 4).read_header(),
            Err(FlvError::NotEnoughData {
                what: "flv header",
                needed: 9,
                available: 0
            })
        );
        // a file cut after the last body still gives its last tag
        let (file, tags) = sample_file();
        let cut = &file[..file.len() - 4];
        assert_eq!(read_all(FlvReader::with_read_ahead(cut, 100)), tags);
        let mut reader = FlvReader::with_read_ahead(&file[..], 100);
        reader.next_tag().unwrap();
        assert!(reader.into_inner().is_some());
    }
}
