//! The crate error: one enum per layer, wrapped by [`Error`].

/// Any error of this crate. Sessions return it from `handle_input` and their commands; after
/// an error from `handle_input` the session is dead (send what `poll_transmit` gives, then
/// close the connection).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] crate::handshake::HandshakeError),
    /// The chunk stream is malformed or exceeds a configured limit.
    #[error("chunk stream: {0}")]
    Chunk(#[from] crate::chunk::ChunkError),
    /// A protocol control or user control message is malformed.
    #[error("control message: {0}")]
    Control(#[from] crate::control::ControlError),
    /// An AMF0/AMF3 value is malformed.
    #[error("amf: {0}")]
    Amf(#[from] onair_amf::AmfError),
    /// An FLV tag or file is malformed.
    #[error("flv: {0}")]
    Flv(#[from] onair_flv::FlvError),
    /// A command message is malformed.
    #[error("command: {0}")]
    Command(#[from] CommandError),
    /// The peer or the caller broke the session protocol.
    #[error("session: {0}")]
    Session(#[from] SessionError),
}

/// Why an application name, stream key or play name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("empty name")]
    Empty,
    /// The name is longer than the configured limit.
    #[error("name of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Length of the name in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The name contains `/`, `\` or `:` (apps: more than one `/`).
    #[error("name contains a path separator")]
    PathSeparator,
    /// The name is `.` or contains `..`.
    #[error("name contains a dot segment")]
    DotSegment,
    /// The name starts with a dot (a hidden file or directory).
    #[error("name starts with a dot")]
    LeadingDot,
    /// The name contains a control character.
    #[error("name contains a control character")]
    ControlCharacter,
}

/// A command message (AMF0 type 20 or AMF3 type 17) that can't be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The message type is not a command message.
    #[error("message type {type_id} is not a command")]
    NotACommand {
        /// The message type id.
        type_id: u8,
    },
    /// The first value is not a string (the command name).
    #[error("command name missing")]
    MissingName,
    /// The second value is not a number (the transaction id).
    #[error("transaction id missing")]
    MissingTransactionId,
    /// A required argument is missing or has the wrong type.
    #[error("argument {index} of {command} missing or of the wrong type")]
    BadArgument {
        /// The command.
        command: &'static str,
        /// Index of the argument after the command object.
        index: usize,
    },
    /// The AMF payload is malformed.
    #[error("amf: {0}")]
    Amf(#[from] onair_amf::AmfError),
}

/// The peer or the caller broke the session protocol.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A name was refused (connect app, publish key or play name).
    #[error("invalid name: {0}")]
    InvalidName(#[from] NameError),
    /// The peer sent a stream command before `connect`.
    #[error("command before connect")]
    NotConnected,
    /// The session was closed (by an earlier error or a rejected request).
    #[error("session closed")]
    Closed,
    /// `accept`/`reject` of a request that is not pending (unknown, answered already, or
    /// cancelled by the peer's deleteStream). Not fatal.
    #[error("request {request} is not pending")]
    RequestNotPending {
        /// The request number.
        request: u64,
    },
    /// The message stream is not a playing stream of this session.
    #[error("stream {stream_id} is not playing")]
    NotPlaying {
        /// The message stream id.
        stream_id: u32,
    },
    /// The client is not publishing.
    #[error("not publishing")]
    NotPublishing,
    /// A client method was called in the wrong state.
    #[error("{operation} not allowed now")]
    InvalidState {
        /// What was attempted.
        operation: &'static str,
    },
    /// The server answered `connect`, `createStream` or `play`/`publish` with something the
    /// client can't use.
    #[error("unexpected response to {command}")]
    UnexpectedResponse {
        /// The command that got the response.
        command: &'static str,
    },
    /// Too many message streams in one connection.
    #[error("more than {max} message streams")]
    TooManyStreams {
        /// The limit.
        max: usize,
    },
}
