//! What flows from a publisher to its players and recorder: media tag bodies, classified once
//! (keyframe? sequence header?) so queues and the GOP cache never parse them again.

use std::sync::Arc;

use bytes::Bytes;
use onair_amf::amf0::Amf0Value;
use onair_flv::{AudioTagHeader, VideoFrameType, VideoTagHeader};

/// `onMetaData` properties as a publisher sent them.
pub(crate) type MetadataProps = Arc<Vec<(String, Amf0Value)>>;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaType {
    Audio,
    Video,
}

/// One FLV audio or video tag body with its timestamp and what the fan-out needs to know.
#[derive(Debug, Clone)]
pub(crate) struct MediaPacket {
    pub(crate) media: MediaType,
    pub(crate) timestamp_ms: u64,
    pub(crate) data: Bytes,
    /// A video keyframe (a player may start here).
    pub(crate) keyframe: bool,
    /// A sequence header / decoder configuration (AVC/HEVC config, AAC config, ...).
    pub(crate) config: bool,
}

impl MediaPacket {
    pub(crate) fn video(timestamp_ms: u64, data: Bytes) -> Self {
        let (keyframe, config) = classify_video(&data);
        Self {
            media: MediaType::Video,
            timestamp_ms,
            data,
            keyframe,
            config,
        }
    }

    pub(crate) fn audio(timestamp_ms: u64, data: Bytes) -> Self {
        let config = is_audio_config(&data);
        Self {
            media: MediaType::Audio,
            timestamp_ms,
            data,
            keyframe: false,
            config,
        }
    }
}

/// An item in a player's queue.
#[derive(Debug, Clone)]
pub(crate) enum Packet {
    Metadata(MetadataProps),
    Media(MediaPacket),
    /// The publisher left: the player gets UnpublishNotify / StreamEOF and stays subscribed.
    End,
    /// A publisher started on a name the player waits for: the player gets Stream Begin,
    /// Play.Start and PublishNotify, then the new publisher's media.
    Begin,
}

impl Packet {
    pub(crate) fn size(&self) -> usize {
        match self {
            Packet::Media(m) => m.data.len(),
            Packet::Metadata(_) | Packet::End | Packet::Begin => 64,
        }
    }

    /// Metadata and sequence headers: survive a skip, since a decoder needs them.
    pub(crate) fn is_config(&self) -> bool {
        match self {
            Packet::Metadata(_) => true,
            Packet::Media(m) => m.config,
            Packet::End | Packet::Begin => false,
        }
    }

    pub(crate) fn is_video_keyframe(&self) -> bool {
        matches!(self, Packet::Media(m) if m.media == MediaType::Video && m.keyframe && !m.config)
    }

    pub(crate) fn is_video(&self) -> bool {
        matches!(self, Packet::Media(m) if m.media == MediaType::Video)
    }
}

/// (keyframe, decoder configuration) of a video tag body; a body whose header can't be read
/// is neither.
fn classify_video(data: &[u8]) -> (bool, bool) {
    VideoTagHeader::parse(data).map_or((false, false), |h| {
        // Frame type 4 (generated keyframe) is reserved for servers: only a publisher's
        // keyframes start a GOP.
        (
            h.frame_type() == VideoFrameType::Keyframe,
            h.is_decoder_config(),
        )
    })
}

/// Whether an audio tag body configures the decoder (AAC AudioSpecificConfig, Enhanced RTMP
/// SequenceStart or MultichannelConfig).
fn is_audio_config(data: &[u8]) -> bool {
    AudioTagHeader::parse(data).is_ok_and(|h| h.is_decoder_config())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_legacy_avc() {
        assert_eq!(classify_video(&[0x17, 0x00, 0, 0, 0]), (true, true));
        assert_eq!(classify_video(&[0x17, 0x01, 0, 0, 0]), (true, false));
        assert_eq!(classify_video(&[0x27, 0x01, 0, 0, 0]), (false, false));
        assert_eq!(classify_video(&[]), (false, false));
    }

    #[test]
    fn classifies_enhanced_hevc() {
        // IsExHeader | key frame | SequenceStart, 'hvc1'
        assert_eq!(classify_video(b"\x90hvc1"), (true, true));
        // key frame, CodedFramesX
        assert_eq!(classify_video(b"\x93hvc1"), (true, false));
        // inter frame, CodedFrames with its composition time
        assert_eq!(classify_video(b"\xa1hvc1\x00\x00\x28"), (false, false));
        // ModEx (a nanosecond offset) before SequenceStart
        assert_eq!(
            classify_video(b"\x97\x02\x00\x01\x02\x00hvc1"),
            (true, true)
        );
        // multitrack, one track, SequenceStart of av01
        assert_eq!(classify_video(b"\x96\x00av01\x01\x81"), (true, true));
    }

    #[test]
    fn classifies_legacy_hevc_and_broken_headers() {
        // codec id 12: HEVC with the AVC layout, as before Enhanced RTMP
        assert_eq!(classify_video(&[0x1c, 0x00, 0, 0, 0]), (true, true));
        assert_eq!(classify_video(&[0x2c, 0x01, 0, 0, 0]), (false, false));
        // a generated keyframe is no place to join
        assert_eq!(classify_video(&[0x47, 0x01, 0, 0, 0]), (false, false));
        // frame type 0 and a header cut short are neither
        assert_eq!(classify_video(&[0x07, 0x00, 0, 0, 0]), (false, false));
        assert_eq!(classify_video(&[0x17, 0x00]), (false, false));
    }

    #[test]
    fn classifies_audio() {
        assert!(is_audio_config(&[0xaf, 0x00, 0x12, 0x10]));
        assert!(!is_audio_config(&[0xaf, 0x01, 0x21]));
        assert!(is_audio_config(b"\x90Opus"));
        assert!(!is_audio_config(b"\x91Opus"));
        assert!(!is_audio_config(&[0x2f]));
        // MultichannelConfig, and a multitrack SequenceStart
        assert!(is_audio_config(b"\x94Opus\x00\x02"));
        assert!(is_audio_config(b"\x95\x00Opus\x01OpusHead"));
    }
}
