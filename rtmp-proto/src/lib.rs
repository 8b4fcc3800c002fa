//! Sans-IO RTMP: handshake, chunk stream, AMF0/AMF3, NetConnection/NetStream commands, server
//! and client sessions, and FLV tag bodies and files.
//!
//! Nothing here opens a socket, reads a clock or draws random numbers: the caller feeds bytes
//! in, drains bytes and events out, and supplies time and randomness as arguments.

// == transport (handshake, chunk stream, control messages, timestamps) ==
mod chunk;
mod control;
mod handshake;
mod timestamp;
// == payloads (AMF, metadata, FLV) ==
pub mod amf0;
pub mod amf3;
pub mod flv;
mod metadata;
// == sessions (commands, server and client sessions, errors) ==
mod command;
mod error;
mod session;

// -- transport re-exports (owner: transport) --
pub use chunk::{
    ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, ChunkError, ChunkStreamId, MessageStreamId,
    MessageType, RawMessage,
};
pub use control::{ControlError, ControlMessage, PeerBandwidthLimit, UserControlEvent};
pub use handshake::{
    ClientHandshake, DigestScheme, HandshakeError, HandshakeStatus, ServerHandshake,
    HANDSHAKE_PACKET_LEN, RANDOM_LEN,
};
pub use timestamp::{RtmpTimestamp, TimestampExtender};
// -- end transport --

// -- payloads re-exports (owner: payloads) --
pub use amf0::{Amf0Value, AmfError};
pub use amf3::{Amf3Object, Amf3Value};
pub use flv::{
    AudioTag, FlvError, FlvReader, FlvTag, FlvTagType, FlvWriter, FourCc, MediaDemuxer, MediaEvent,
    MediaMuxer, VideoTag,
};
pub use metadata::{DataMessage, MetadataCodec, StreamMetadata};
// -- end payloads --

// -- sessions re-exports (owner: sessions) --
pub use command::{status_object, CommandMessage, ConnectParams, PlayParams, PublishParams};
pub use error::{CommandError, Error, NameError, SessionError};
pub use session::{
    ClientEvent, ClientSession, ClientSessionConfig, QueryString, RequestId, ServerEvent,
    ServerSession, ServerSessionConfig, StreamKey, StreamName,
};
// -- end sessions --
