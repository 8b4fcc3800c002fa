//! Sans-IO RTMP: handshake, chunk stream, NetConnection/NetStream commands, data messages,
//! and server and client sessions.
//!
//! The formats RTMP carries are crates of their own: command and data messages are AMF
//! ([`onair_amf`]), audio and video messages are FLV tag bodies ([`onair_flv`]: read their
//! headers with `VideoTagHeader` / `AudioTagHeader`). The types of those crates that this
//! crate's API takes or returns are re-exported here.
//!
//! Nothing here opens a socket, reads a clock or draws random numbers: the caller feeds bytes
//! in, drains bytes and events out, and supplies time and randomness as arguments.

// == transport (handshake, chunk stream, control messages, timestamps) ==
mod chunk;
mod control;
mod handshake;
mod timestamp;
// == payloads (data messages) ==
mod metadata;
// == sessions (commands, status objects, server and client sessions, errors) ==
mod command;
mod error;
mod session;
mod status;

// transport
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

// payloads
pub use metadata::DataMessage;
pub use onair_amf::{Amf0Value, Amf3Object, Amf3Value, AmfError};
pub use onair_flv::{FlvError, MetadataCodec, StreamMetadata};

// sessions
pub use command::{CommandMessage, ConnectParams, PlayParams, PublishParams, PublishType};
pub use error::{CommandError, Error, NameError, SessionError};
pub use session::{
    validate_app, validate_name, ClientEvent, ClientSession, ClientSessionConfig, QueryString,
    RequestId, ServerEvent, ServerSession, ServerSessionConfig, StreamKey, StreamName,
};
pub use status::{OnStatusCode, Status, StatusLevel};
