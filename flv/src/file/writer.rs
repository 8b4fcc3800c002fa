//! [`FlvWriter`]: FLV files to any [`Write`]; with [`Seek`], the `onMetaData` tag gets its
//! final `duration` and `filesize` when the recording ends.

use std::io::{Seek, SeekFrom, Write};

use bytes::{BufMut, BytesMut};
use onair_amf::amf0::{self, Amf0Value};

use super::FlvTagType;
use crate::FlvError;

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
            amf0::encode_property_name(k, &mut body);
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::super::FlvReader;
    use super::*;

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
