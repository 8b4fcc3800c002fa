//! What flows from a publisher to its players and recorder: media tag bodies, classified once
//! (keyframe? sequence header?) so queues and the GOP cache never parse them again.

use std::sync::Arc;

use bytes::Bytes;
use onair_rtmp_proto::amf0::Amf0Value;

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

/// (keyframe, sequence header) of a video tag body, legacy or Enhanced RTMP
/// (E-RTMP v2: IsExHeader bit, FrameType in bits 4-6, VideoPacketType in bits 0-3).
fn classify_video(data: &[u8]) -> (bool, bool) {
    let Some(&b0) = data.first() else {
        return (false, false);
    };
    if b0 & 0x80 != 0 {
        let frame_type = (b0 >> 4) & 0x07;
        let mut packet_type = b0 & 0x0f;
        if packet_type == 6 {
            // Multitrack: the packet type of the tracks follows in the next byte's low nibble.
            packet_type = data.get(1).map_or(0xff, |b| b & 0x0f);
        }
        // SequenceStart (0) and MPEG2TSSequenceStart (5) carry the decoder configuration.
        let config = packet_type == 0 || packet_type == 5;
        (frame_type == 1, config)
    } else {
        let frame_type = b0 >> 4;
        let codec = b0 & 0x0f;
        // AVC (7) and the common legacy HEVC id (12): AVCPacketType 0 is the sequence header.
        let config = (codec == 7 || codec == 12) && data.get(1) == Some(&0);
        (frame_type == 1, config)
    }
}

/// Whether an audio tag body is a sequence header (AAC AudioSpecificConfig or Enhanced RTMP
/// SequenceStart / MultichannelConfig).
fn is_audio_config(data: &[u8]) -> bool {
    let Some(&b0) = data.first() else {
        return false;
    };
    match b0 >> 4 {
        10 => data.get(1) == Some(&0),
        9 => {
            let mut packet_type = b0 & 0x0f;
            if packet_type == 5 {
                packet_type = data.get(1).map_or(0xff, |b| b & 0x0f);
            }
            packet_type == 0 || packet_type == 4
        }
        _ => false,
    }
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
        // inter frame, CodedFrames
        assert_eq!(classify_video(b"\xa1hvc1"), (false, false));
    }

    #[test]
    fn classifies_audio() {
        assert!(is_audio_config(&[0xaf, 0x00, 0x12, 0x10]));
        assert!(!is_audio_config(&[0xaf, 0x01, 0x21]));
        assert!(is_audio_config(b"\x90Opus"));
        assert!(!is_audio_config(b"\x91Opus"));
        assert!(!is_audio_config(&[0x2f]));
    }
}
