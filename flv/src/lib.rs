//! FLV, the format RTMP carries, recordings are written in and the file readers here read:
//! tag bodies (FLV file format specification v10.1, annex E.4: `AUDIODATA`, `VIDEODATA`,
//! `SCRIPTDATA`) with the extended headers of Enhanced RTMP v2 (`ExAudioTagHeader`,
//! `ExVideoTagHeader`: FourCC codecs, `ModEx`, multitrack), FLV files (annex E.2-E.3), and
//! the bridge to `onair_media_types` frames.
//!
//! A format crate of its own, apart from the RTMP protocol (`onair-rtmp-proto` carries these
//! bodies as audio and video messages) and from AMF ([`onair_amf`], the values of script
//! data), so that each is usable alone. Sans-IO: bodies are read from `&[u8]` or
//! [`Bytes`](bytes::Bytes), files from `&[u8]` or any `Read` and written to any `Write`.
//!
//! - [`VideoTagHeader`] / [`AudioTagHeader`]: the header of a tag body read in place
//!   (keyframe? sequence header? codec, packet type, composition time, header length) without
//!   copying or allocating: what a server needs to route a message.
//! - [`VideoTag`] / [`AudioTag`]: a whole tag body as values, parsed and written back byte
//!   for byte; payloads stay slices of the input.
//! - [`FlvReader`] / [`FlvWriter`]: FLV files.
//! - [`StreamMetadata`]: the `onMetaData` script data object.
//! - [`MediaDemuxer`] / [`MediaMuxer`]: tag bodies to and from [`TrackInfo`] and [`Frame`].
//!
//! Malformed input gives an [`FlvError`], never a panic, and no length read from the input
//! sizes an allocation beyond the 16 MiB a tag can declare.
//!
//! ```
//! use bytes::Bytes;
//! use onair_flv::{AudioTagHeader, FlvReader, FlvTagType, FlvWriter, MediaDemuxer, MediaEvent};
//!
//! // A file with an AAC sequence header (AudioSpecificConfig: AAC-LC, 48 kHz, stereo) and
//! // one frame.
//! let mut writer = FlvWriter::new(Vec::new(), true, false)?;
//! writer.write_tag(FlvTagType::Audio, 0, &[0xaf, 0x00, 0x11, 0x90])?;
//! writer.write_tag(FlvTagType::Audio, 21, &[0xaf, 0x01, 0x21, 0x10])?;
//! let file = writer.into_inner();
//!
//! let mut reader = FlvReader::from_bytes(file);
//! let mut demuxer = MediaDemuxer::new();
//! let mut frames = 0;
//! while let Some(tag) = reader.next_tag()? {
//!     let header = AudioTagHeader::parse(&tag.data)?;
//!     assert_eq!(header.is_sequence_header(), tag.timestamp == 0);
//!     demuxer.push_audio(u64::from(tag.timestamp), &tag.data)?;
//!     while let Some(event) = demuxer.poll_event() {
//!         match event {
//!             MediaEvent::Track(info) => assert_eq!(info.config.rfc6381(), "mp4a.40.2"),
//!             MediaEvent::Frame(frame) => {
//!                 assert_eq!((frame.dts, &frame.data[..]), (21, &[0x21, 0x10][..]));
//!                 frames += 1;
//!             }
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(frames, 1);
//! # Ok::<(), onair_flv::FlvError>(())
//! ```
//!
//! [`TrackInfo`]: onair_media_types::TrackInfo
//! [`Frame`]: onair_media_types::Frame

mod audio;
mod cursor;
mod error;
mod ex_header;
mod file;
mod fourcc;
mod media;
mod script;
mod video;

pub use audio::{
    AacPacket, AudioBody, AudioPacket, AudioPacketType, AudioTag, AudioTagHeader, ChannelLayout,
};
pub use error::FlvError;
pub use ex_header::{Multitrack, MultitrackType, Track};
pub use file::{FlvHeader, FlvReader, FlvTag, FlvTagType, FlvWriter};
pub use fourcc::{FourCc, TagCodec};
pub use media::{MediaDemuxer, MediaEvent, MediaMuxer, MuxedTag};
pub use script::{MetadataCodec, StreamMetadata, ON_METADATA};
pub use video::{
    AvcPacket, VideoBody, VideoFrameType, VideoPacket, VideoPacketType, VideoTag, VideoTagHeader,
};
