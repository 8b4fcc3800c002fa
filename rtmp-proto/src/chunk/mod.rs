//! The RTMP chunk stream (RTMP 1.0 §5.3): messages cut into chunks with compressed headers,
//! interleaved over chunk stream ids.
//!
//! [`ChunkDecoder`] turns received bytes into whole [`RawMessage`]s; [`ChunkEncoder`] turns
//! messages into chunks. Both keep per-chunk-stream header state so that the header formats
//! 1-3 can be resolved (decoder) and chosen (encoder).

mod decoder;
mod encoder;
mod header;

pub use decoder::{ChunkDecoder, ChunkDecoderConfig};
pub use encoder::ChunkEncoder;

use bytes::Bytes;

use crate::timestamp::RtmpTimestamp;

/// The id of a chunk stream (RTMP 1.0 §5.3.1.1): 2 to 65599. Id 2 carries protocol control
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkStreamId(pub u32);

impl ChunkStreamId {
    /// The chunk stream reserved for protocol control messages (RTMP 1.0 §5.4).
    pub const PROTOCOL_CONTROL: Self = Self(2);
    /// The largest chunk stream id a 3-byte basic header can carry.
    pub const MAX: Self = Self(65599);
}

/// The id of a message stream (RTMP 1.0 §5.3.1.2.1); 0 is the NetConnection's own stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageStreamId(pub u32);

/// The message type id of an RTMP message (RTMP 1.0 §5.4, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u8);

impl MessageType {
    /// Set Chunk Size (protocol control).
    pub const SET_CHUNK_SIZE: Self = Self(1);
    /// Abort Message (protocol control).
    pub const ABORT: Self = Self(2);
    /// Acknowledgement (protocol control).
    pub const ACKNOWLEDGEMENT: Self = Self(3);
    /// User Control Message.
    pub const USER_CONTROL: Self = Self(4);
    /// Window Acknowledgement Size (protocol control).
    pub const WINDOW_ACK_SIZE: Self = Self(5);
    /// Set Peer Bandwidth (protocol control).
    pub const SET_PEER_BANDWIDTH: Self = Self(6);
    /// Audio data (an FLV audio tag body).
    pub const AUDIO: Self = Self(8);
    /// Video data (an FLV video tag body).
    pub const VIDEO: Self = Self(9);
    /// Data message, AMF3.
    pub const DATA_AMF3: Self = Self(15);
    /// Shared object message, AMF3.
    pub const SHARED_OBJECT_AMF3: Self = Self(16);
    /// Command message, AMF3.
    pub const COMMAND_AMF3: Self = Self(17);
    /// Data message, AMF0 (e.g. `@setDataFrame`).
    pub const DATA_AMF0: Self = Self(18);
    /// Shared object message, AMF0.
    pub const SHARED_OBJECT_AMF0: Self = Self(19);
    /// Command message, AMF0.
    pub const COMMAND_AMF0: Self = Self(20);
    /// Aggregate message.
    pub const AGGREGATE: Self = Self(22);
}

/// One complete RTMP message as carried by the chunk stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The chunk stream it arrived on (or is to be sent on).
    pub csid: ChunkStreamId,
    /// Absolute timestamp: header deltas already resolved.
    pub timestamp: RtmpTimestamp,
    /// Message type id.
    pub type_id: MessageType,
    /// Message stream id.
    pub stream_id: MessageStreamId,
    /// The message body.
    pub payload: Bytes,
}

/// Errors of the chunk stream layer. Any of them means the connection can't be trusted any
/// more and should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The peer asked for a chunk size above the configured maximum.
    #[error("chunk size {size} is larger than the maximum of {max}")]
    ChunkSizeTooLarge {
        /// Requested size.
        size: u32,
        /// Configured maximum.
        max: u32,
    },
    /// A chunk size of 0, or with the reserved top bit set.
    #[error("invalid chunk size {size}")]
    InvalidChunkSize {
        /// The value received or requested.
        size: u32,
    },
    /// A message header announced a length above the configured maximum.
    #[error("message of {length} bytes is longer than the maximum of {max}")]
    MessageTooLong {
        /// Announced length.
        length: u32,
        /// Configured maximum (or 0xFFFFFF, the format's own limit, when encoding).
        max: u32,
    },
    /// More messages were being reassembled at once than allowed.
    #[error("more than {max} partial messages in flight")]
    TooManyPartialMessages {
        /// Configured maximum.
        max: usize,
    },
    /// More chunk streams were opened than allowed.
    #[error("more than {max} chunk streams")]
    TooManyChunkStreams {
        /// Configured maximum.
        max: usize,
    },
    /// A header of format 1, 2 or 3 arrived on a chunk stream that never had a format 0 header.
    #[error("chunk stream {csid} has no previous header to continue")]
    MissingPreviousHeader {
        /// The chunk stream id.
        csid: u32,
    },
    /// A Set Chunk Size or Abort message whose body is too short.
    #[error("control message of type {type_id} has {length} bytes, needs {needed}")]
    MalformedControl {
        /// The message type id.
        type_id: u8,
        /// Body length received.
        length: usize,
        /// Body length required.
        needed: usize,
    },
    /// An attempt to encode on a chunk stream id outside 2..=65599.
    #[error("chunk stream id {csid} is outside 2..=65599")]
    InvalidChunkStreamId {
        /// The chunk stream id.
        csid: u32,
    },
}
