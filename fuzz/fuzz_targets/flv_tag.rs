#![no_main]
//! FLV tag bodies, FLV files and the media demuxer on arbitrary bytes: no panics, and every
//! tag body that parses writes back to bytes that parse to the same tag.

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use onair_flv::{AudioTag, FlvReader, FlvTagType, MediaDemuxer, VideoTag};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);

    if let Ok(tag) = VideoTag::parse(&bytes) {
        let mut out = BytesMut::new();
        tag.write(&mut out);
        let again = VideoTag::parse(&out.freeze()).expect("our video tag parses");
        assert_eq!(tag, again);
    }
    if let Ok(tag) = AudioTag::parse(&bytes) {
        let mut out = BytesMut::new();
        tag.write(&mut out);
        let again = AudioTag::parse(&out.freeze()).expect("our audio tag parses");
        assert_eq!(tag, again);
    }

    // the same bytes as one video and one audio message of a stream
    let mut demuxer = MediaDemuxer::new();
    let _ = demuxer.push_video(0, &bytes);
    let _ = demuxer.push_audio(0, &bytes);
    while demuxer.poll_event().is_some() {}

    // as a whole FLV file (with a valid header prepended too, to reach the tags)
    let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    file.extend_from_slice(data);
    for input in [bytes, Bytes::from(file)] {
        let mut reader = FlvReader::from_bytes(input);
        let mut demuxer = MediaDemuxer::new();
        while let Ok(Some(tag)) = reader.next_tag() {
            let ts = u64::from(tag.timestamp);
            let _ = match tag.tag_type {
                FlvTagType::Video => demuxer.push_video(ts, &tag.data),
                FlvTagType::Audio => demuxer.push_audio(ts, &tag.data),
                _ => Ok(()),
            };
            while demuxer.poll_event().is_some() {}
        }
    }
});
