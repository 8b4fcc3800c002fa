#![no_main]
//! FLV tag bodies and their header views, script data, FLV files and the media demuxer on
//! arbitrary bytes: no panics, every tag body that parses writes back to bytes that parse to
//! the same tag, and the header read in place says what the parsed tag says.

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use onair_flv::{
    AudioTag, AudioTagHeader, FlvReader, FlvTagType, MediaDemuxer, StreamMetadata, TagCodec,
    VideoTag, VideoTagHeader,
};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);

    let video_header = VideoTagHeader::parse(data);
    if let Ok(h) = &video_header {
        assert!(h.header_len() + h.payload().len() <= data.len());
    }
    if let Ok(tag) = VideoTag::parse(&bytes) {
        // the view reads legacy codec 12 (HEVC) with the AVC layout, the parse keeps it opaque
        let legacy_hevc = data[0] & 0x8f == 0x0c;
        match video_header {
            Ok(_) if legacy_hevc => {}
            Err(_) if legacy_hevc => {}
            Ok(h) => {
                assert_eq!(h.frame_type(), tag.frame_type);
                assert_eq!(h.is_keyframe(), tag.is_keyframe());
                assert_eq!(h.is_sequence_header(), tag.is_sequence_header());
                assert_eq!(h.timestamp_nano_offset(), tag.timestamp_nano_offset);
            }
            Err(e) => panic!("{e} for a tag that parses"),
        }
        let mut out = BytesMut::new();
        tag.write(&mut out);
        let again = VideoTag::parse(&out.freeze()).expect("our video tag parses");
        assert_eq!(tag, again);
    }
    let audio_header = AudioTagHeader::parse(data);
    if let Ok(tag) = AudioTag::parse(&bytes) {
        let h = audio_header.expect("the header of a tag that parses");
        assert_eq!(h.is_sequence_header(), tag.is_sequence_header());
        assert_eq!(h.timestamp_nano_offset(), tag.timestamp_nano_offset);
        assert_eq!(h.is_enhanced(), matches!(h.codec(), TagCodec::FourCc(_)));
        let mut out = BytesMut::new();
        tag.write(&mut out);
        let again = AudioTag::parse(&out.freeze()).expect("our audio tag parses");
        assert_eq!(tag, again);
    }
    let _ = StreamMetadata::parse_script(data);

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
