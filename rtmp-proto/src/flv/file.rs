//! FLV files (FLV 10.1 specification, annex E.2-E.3): a 9-byte header, then tags, each
//! followed by its size.
//!
//! [`FlvReader`] reads from any [`Read`] (tag by tag, or in large blocks whose tag bodies are
//! handed out without a copy), or from [`Bytes`] without copying tag data;
//! [`FlvWriter`] writes to any [`Write`], and with [`Seek`] patches `duration` and `filesize` of
//! the `onMetaData` tag when the recording ends so the file is complete and seekable.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::FlvError;
use crate::amf0::{self, Amf0Value};

/// The type of an FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlvTagType {
    /// 8: an audio tag body.
    Audio,
    /// 9: a video tag body.
    Video,
    /// 18: script data (AMF0, e.g. `onMetaData`).
    Script,
    /// Any other type number.
    Other(u8),
}

impl FlvTagType {
    /// The type number on the wire (the same as the RTMP message type).
    pub fn as_u8(self) -> u8 {
        match self {
            FlvTagType::Audio => 8,
            FlvTagType::Video => 9,
            FlvTagType::Script => 18,
            FlvTagType::Other(v) => v,
        }
    }

    /// The type of a type number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            8 => FlvTagType::Audio,
            9 => FlvTagType::Video,
            18 => FlvTagType::Script,
            other => FlvTagType::Other(other),
        }
    }
}

/// The FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    /// The version byte (1).
    pub version: u8,
    /// The file declares audio tags.
    pub has_audio: bool,
    /// The file declares video tags.
    pub has_video: bool,
}

/// One FLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// What the body holds.
    pub tag_type: FlvTagType,
    /// Milliseconds, with the extended (upper) byte applied.
    pub timestamp: u32,
    /// The tag body.
    pub data: Bytes,
}

enum Source<R> {
    Read(R),
    Bytes(Bytes),
    Blocks(Blocks<R>),
}

/// The largest header (`DataOffset`) accepted: version 1 defines 9 bytes; larger ones are
/// skipped, up to the size of a tag.
const MAX_HEADER_SIZE: usize = 9 + 0xff_ffff;

/// How many blocks a read-ahead reader keeps for reuse.
const BLOCK_POOL: usize = 4;

/// A block of input that tag bodies point into. Shared between the reader's pool and the
/// [`Bytes`] handed out: when every tag of a block is dropped, the reader fills it again,
/// so steady-state reading allocates nothing and never zero-fills.
struct Block(Arc<Vec<u8>>);

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A [`Read`] consumed in large blocks; tag bodies are slices of the blocks.
struct Blocks<R> {
    inner: R,
    /// The bytes read but not yet consumed (a slice of the newest block).
    data: Bytes,
    /// A block being filled when `inner` failed, and how many bytes it holds (`data` is
    /// then empty).
    partial: Option<(Vec<u8>, usize)>,
    /// Blocks handed out or free for reuse (free when only the pool holds them).
    pool: Vec<Arc<Vec<u8>>>,
    block: usize,
    eof: bool,
}

impl<R: Read> Blocks<R> {
    /// Reads until at least `need` bytes are buffered or the input ends. The bytes left over
    /// from the previous block (less than one tag) are copied to the start of the next.
    fn fill(&mut self, need: usize) -> Result<(), FlvError> {
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
    fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
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

/// Reads an FLV file tag by tag.
///
/// ```
/// use onair_rtmp_proto::flv::{FlvReader, FlvTagType, FlvWriter};
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

/// Writes an FLV file.
pub struct FlvWriter<W> {
    inner: W,
    written: u64,
    /// Offsets from the start of the file of the `duration` and `filesize` numbers.
    duration_at: Option<u64>,
    filesize_at: Option<u64>,
}

impl<W: Write> FlvWriter<W> {
    /// Writes the file header to `inner`.
    pub fn new(inner: W, has_audio: bool, has_video: bool) -> Result<Self, FlvError> {
        let mut w = Self {
            inner,
            written: 0,
            duration_at: None,
            filesize_at: None,
        };
        let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
        w.put(&[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), FlvError> {
        self.inner.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    /// Writes one tag. Bodies longer than 2^24 - 1 bytes cannot be represented and are
    /// refused.
    pub fn write_tag(
        &mut self,
        tag_type: FlvTagType,
        timestamp_ms: u32,
        data: &[u8],
    ) -> Result<(), FlvError> {
        let size = u32::try_from(data.len())
            .ok()
            .filter(|s| *s <= 0xff_ffff)
            .ok_or(FlvError::TagTooLarge {
                size: u32::try_from(data.len()).unwrap_or(u32::MAX),
                max: 0xff_ffff,
            })?;
        let s = size.to_be_bytes();
        let t = timestamp_ms.to_be_bytes();
        let header = [
            tag_type.as_u8() & 0x1f,
            s[1],
            s[2],
            s[3],
            t[1],
            t[2],
            t[3],
            t[0],
            0,
            0,
            0,
        ];
        self.put(&header)?;
        self.put(data)?;
        self.put(&(size + 11).to_be_bytes())
    }

    /// Writes an `onMetaData` script tag at time 0 with `props`, adding `duration` and
    /// `filesize` (as 0) when absent so that [`FlvWriter::finish`] can fill them in.
    pub fn write_metadata(&mut self, props: &[(String, Amf0Value)]) -> Result<(), FlvError> {
        let mut body = BytesMut::new();
        amf0::encode(&Amf0Value::from("onMetaData"), &mut body);
        let mut all: Vec<(&str, Amf0Value)> =
            props.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        for key in ["duration", "filesize"] {
            if !all.iter().any(|(k, _)| *k == key) {
                all.push((key, Amf0Value::Number(0.0)));
            }
        }
        body.put_u8(0x08);
        body.put_u32(all.len() as u32);
        let (mut duration_at, mut filesize_at) = (None, None);
        for (k, v) in &all {
            amf0::put_short_str(k, &mut body);
            if let Amf0Value::Number(_) = v {
                // the f64 follows the marker byte
                let at = body.len() as u64 + 1;
                match *k {
                    "duration" => duration_at = Some(at),
                    "filesize" => filesize_at = Some(at),
                    _ => {}
                }
            }
            amf0::encode(v, &mut body);
        }
        body.put_slice(&[0, 0, 9]);
        let body_start = self.written + 11;
        self.write_tag(FlvTagType::Script, 0, &body)?;
        self.duration_at = duration_at.map(|o| body_start + o);
        self.filesize_at = filesize_at.map(|o| body_start + o);
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes and gives back the underlying writer.
    pub fn into_inner(mut self) -> W {
        let _ = self.inner.flush();
        self.inner
    }
}

impl<W: Write + Seek> FlvWriter<W> {
    /// Patches `duration` (seconds) and `filesize` of the metadata written by
    /// [`FlvWriter::write_metadata`], flushes and gives back the writer positioned at the end.
    pub fn finish(mut self, duration_ms: u64) -> Result<W, FlvError> {
        let end = self.written;
        let patches = [
            (self.duration_at, duration_ms as f64 / 1000.0),
            (self.filesize_at, end as f64),
        ];
        for (at, value) in patches {
            let Some(at) = at else { continue };
            // relative seeks: the writer may not have started at position 0 of `inner`
            let back = i64::try_from(end - at).unwrap_or(i64::MAX);
            self.inner.seek(SeekFrom::Current(-back))?;
            self.inner.write_all(&value.to_be_bytes())?;
            self.inner.seek(SeekFrom::Current(back - 8))?;
        }
        self.inner.flush()?;
        Ok(self.inner)
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
    use std::io::Cursor;

    use hex_literal::hex;

    use super::*;

    #[test]
    fn header_and_tag_bytes() {
        let mut w = FlvWriter::new(Vec::new(), true, true).unwrap();
        w.write_tag(FlvTagType::Video, 0x0102_0304, &[0x17, 0x02, 0, 0, 0])
            .unwrap();
        let file = w.into_inner();
        assert_eq!(
            file,
            hex!(
                "464c5601 05 00000009 00000000"
                "09 000005 020304 01 000000 1702000000 00000010"
            )
        );
        let mut reader = FlvReader::from_bytes(file.clone());
        assert_eq!(
            reader.read_header().unwrap(),
            FlvHeader {
                version: 1,
                has_audio: true,
                has_video: true
            }
        );
        let tag = reader.next_tag().unwrap().unwrap();
        assert_eq!(tag.timestamp, 0x0102_0304);
        assert_eq!(tag.tag_type, FlvTagType::Video);
        assert_eq!(&tag.data[..], &hex!("1702000000"));
        assert_eq!(reader.next_tag().unwrap(), None);
        let mut reader = FlvReader::new(&file[..]);
        assert_eq!(reader.next_tag().unwrap().unwrap().timestamp, 0x0102_0304);
        assert_eq!(reader.next_tag().unwrap(), None);
    }

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

    #[test]
    fn finish_patches_duration_and_filesize() {
        let mut cursor = Cursor::new(Vec::new());
        cursor.write_all(b"prefix").unwrap();
        let mut w = FlvWriter::new(cursor, true, true).unwrap();
        w.write_metadata(&[("width".into(), 640.0.into())]).unwrap();
        w.write_tag(FlvTagType::Audio, 1000, &[0xaf, 0x01, 0x21])
            .unwrap();
        let size = w.bytes_written();
        let file = w.finish(12_345).unwrap().into_inner();
        let mut reader = FlvReader::from_bytes(file[6..].to_vec());
        let meta = reader.next_tag().unwrap().unwrap();
        assert_eq!(meta.tag_type, FlvTagType::Script);
        let values = amf0::decode_all(&meta.data).unwrap();
        assert_eq!(values[0].as_str(), Some("onMetaData"));
        assert_eq!(
            values[1].get("duration").and_then(Amf0Value::as_number),
            Some(12.345)
        );
        assert_eq!(
            values[1].get("filesize").and_then(Amf0Value::as_number),
            Some(size as f64)
        );
        assert_eq!(
            values[1].get("width").and_then(Amf0Value::as_number),
            Some(640.0)
        );
        assert_eq!(reader.next_tag().unwrap().unwrap().timestamp, 1000);
        assert_eq!(file.len() as u64, size + 6);
    }
}
