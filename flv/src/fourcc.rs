//! How a tag names its codec: the 4-bit numbers of legacy FLV (annex E.4.2.1 `SoundFormat`,
//! E.4.3.1 `CodecID`) or the FourCC of Enhanced RTMP.

/// A four-character code naming a codec in Enhanced RTMP.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// H.264.
    pub const AVC1: FourCc = FourCc(*b"avc1");
    /// H.265.
    pub const HVC1: FourCc = FourCc(*b"hvc1");
    /// AV1.
    pub const AV01: FourCc = FourCc(*b"av01");
    /// VP9.
    pub const VP09: FourCc = FourCc(*b"vp09");
    /// VP8.
    pub const VP08: FourCc = FourCc(*b"vp08");
    /// Opus.
    pub const OPUS: FourCc = FourCc(*b"Opus");
    /// AAC.
    pub const MP4A: FourCc = FourCc(*b"mp4a");
    /// MP3.
    pub const MP3: FourCc = FourCc(*b".mp3");
    /// FLAC.
    pub const FLAC: FourCc = FourCc(*b"fLaC");
    /// AC-3.
    pub const AC3: FourCc = FourCc(*b"ac-3");
    /// E-AC-3.
    pub const EAC3: FourCc = FourCc(*b"ec-3");

    /// The code as a big-endian number (how `onMetaData` and `connect` carry it).
    pub fn as_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl std::fmt::Debug for FourCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FourCc(\"{}\")", self.0.escape_ascii())
    }
}

/// The codec a tag header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagCodec {
    /// A legacy header: the video `CodecID` (7 = AVC, ...) or audio `SoundFormat` (10 = AAC,
    /// 2 = MP3, ...).
    Legacy(u8),
    /// An Enhanced RTMP header.
    FourCc(FourCc),
}
