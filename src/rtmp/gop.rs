//! The GOP cache: what a new player needs to start decoding at once (metadata, the newest
//! sequence headers, and every packet since the last video keyframe), as SRS's gop_cache.

use super::packet::{MediaPacket, MediaType, MetadataProps, Packet};

/// Beyond this many bytes in one GOP the cache gives up until the next keyframe, so a
/// publisher with absurdly long GOPs cannot grow memory without bound.
const MAX_GOP_BYTES: usize = 32 * 1024 * 1024;
const MAX_GOP_PACKETS: usize = 8192;

#[derive(Debug, Default)]
pub(crate) struct GopCache {
    metadata: Option<MetadataProps>,
    video_config: Option<MediaPacket>,
    audio_config: Option<MediaPacket>,
    /// Starts with a video keyframe (or is empty).
    gop: Vec<MediaPacket>,
    gop_bytes: usize,
    seen_video: bool,
}

impl GopCache {
    pub(crate) fn set_metadata(&mut self, props: MetadataProps) {
        self.metadata = Some(props);
    }

    pub(crate) fn push(&mut self, packet: &MediaPacket) {
        if packet.config {
            match packet.media {
                MediaType::Video => self.video_config = Some(packet.clone()),
                MediaType::Audio => self.audio_config = Some(packet.clone()),
            }
            return;
        }
        if packet.media == MediaType::Video {
            self.seen_video = true;
            if packet.keyframe {
                self.gop.clear();
                self.gop_bytes = 0;
            }
        }
        if self.gop.is_empty() && !(packet.media == MediaType::Video && packet.keyframe) {
            // Waiting for a keyframe; an audio-only stream needs no GOP to start.
            return;
        }
        if self.gop_bytes + packet.data.len() > MAX_GOP_BYTES || self.gop.len() >= MAX_GOP_PACKETS {
            self.gop.clear();
            self.gop_bytes = 0;
            return;
        }
        self.gop_bytes += packet.data.len();
        self.gop.push(packet.clone());
    }

    /// Packets a new player gets before the live ones, in order.
    pub(crate) fn snapshot(&self) -> impl Iterator<Item = Packet> + '_ {
        let metadata = self.metadata.clone().map(Packet::Metadata);
        let configs = [&self.video_config, &self.audio_config]
            .into_iter()
            .flatten()
            .map(|p| {
                // A sequence header goes out with the timestamp of the first frame after it, so
                // players that join late do not see time run backwards.
                let mut p = p.clone();
                if let Some(first) = self.gop.first() {
                    p.timestamp_ms = first.timestamp_ms;
                }
                Packet::Media(p)
            });
        let gop = self.gop.iter().cloned().map(Packet::Media);
        metadata.into_iter().chain(configs).chain(gop)
    }

    #[cfg(test)]
    pub(crate) fn gop_len(&self) -> usize {
        self.gop.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn keeps_config_and_the_current_gop_only() {
        let mut c = GopCache::default();
        c.push(&MediaPacket::video(
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0]),
        ));
        c.push(&MediaPacket::audio(
            0,
            Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
        ));
        // frames before the first keyframe are not cached
        c.push(&MediaPacket::video(
            10,
            Bytes::from_static(&[0x27, 1, 0, 0, 0]),
        ));
        assert_eq!(c.gop_len(), 0);
        c.push(&MediaPacket::video(
            33,
            Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        ));
        c.push(&MediaPacket::audio(
            40,
            Bytes::from_static(&[0xaf, 1, 0x21]),
        ));
        c.push(&MediaPacket::video(
            66,
            Bytes::from_static(&[0x27, 1, 0, 0, 0]),
        ));
        assert_eq!(c.gop_len(), 3);
        c.push(&MediaPacket::video(
            99,
            Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        ));
        assert_eq!(c.gop_len(), 1);
        let snap: Vec<Packet> = c.snapshot().collect();
        assert_eq!(snap.len(), 3);
        assert!(snap[0].is_config() && snap[1].is_config());
        assert!(snap[2].is_video_keyframe());
        for p in &snap {
            let Packet::Media(m) = p else {
                panic!("media expected")
            };
            assert_eq!(m.timestamp_ms, 99);
        }
    }
}
