//! FLV files (FLV 10.1 specification, annex E.2-E.3): a 9-byte header, then tags, each
//! followed by its size.
//!
//! [`FlvReader`] reads from any [`Read`](std::io::Read) (tag by tag, or in large blocks whose tag bodies are
//! handed out without a copy), or from [`Bytes`] without copying tag data;
//! [`FlvWriter`] writes to any [`Write`](std::io::Write), and with [`Seek`](std::io::Seek) patches `duration` and `filesize` of
//! the `onMetaData` tag when the recording ends so the file is complete and seekable.

mod blocks;
mod reader;
mod writer;

pub use reader::FlvReader;
pub use writer::FlvWriter;

use bytes::Bytes;

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

#[cfg(test)]
mod tests {
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
}
