//! Sans-IO RTMP (RTMP 1.0, Enhanced RTMP v2): handshake, chunk stream, NetConnection/NetStream
//! commands, data messages, and server and client sessions.
//!
//! The formats RTMP carries are crates of their own: command and data messages are AMF
//! ([`onair_amf`]), audio and video messages are FLV tag bodies ([`onair_flv`]: read their
//! headers with `VideoTagHeader` / `AudioTagHeader`). The types of those crates that this
//! crate's API takes or returns are re-exported here.
//!
//! Nothing here opens a socket, reads a clock or draws random numbers: the caller feeds bytes
//! in, drains bytes and events out, and supplies time and randomness as arguments.
//!
//! # Driving a session
//!
//! [`ServerSession`] and [`ClientSession`] speak the same vocabulary:
//!
//! - **Input**: read the socket straight into [`input_buffer`](ServerSession::input_buffer)
//!   (tokio's `read_buf`, after reserving room) and call
//!   [`process_input`](ServerSession::process_input); or hand over bytes you already hold
//!   with [`handle_input`](ServerSession::handle_input). Commands are methods: `connect`,
//!   `publish`, `play` on the client; `accept`, `reject` and `send_*` on the server.
//! - **Output**, after every input and every command: [`poll_transmit`](ServerSession::poll_transmit)
//!   appends what to send to a buffer you own (call until it returns `false`; one call hands
//!   everything over), and [`poll_event`](ServerSession::poll_event) returns what happened
//!   (call until `None`).
//! - **Errors**: an `Err` from the input methods ends the session for good; send what
//!   `poll_transmit` still gives (the `_error` or `onStatus` that tells the peer why), then
//!   close the connection. [`is_closed`](ServerSession::is_closed) says the same after a
//!   rejected request.
//! - **Time**: the sessions have no timers (RTMP has no retransmission or keep-alive of its
//!   own; pings are answered as they come), so there is no `poll_timeout`. Idle timeouts and
//!   pacing are the runtime's business.
//!
//! A whole run loop, with a client and a server wired back to back in memory (over TCP each
//! side reads and writes its socket where this copies between the two):
//!
//! ```
//! use bytes::BytesMut;
//! use onair_rtmp_proto::{
//!     ClientEvent, ClientSession, ClientSessionConfig, ServerEvent, ServerSession,
//!     ServerSessionConfig,
//! };
//!
//! // `epoch` and `random` fill the handshake: the caller's clock and randomness.
//! let mut client = ClientSession::new(ClientSessionConfig::default(), 0, &[0x11; 1528]);
//! let mut server = ServerSession::new(ServerSessionConfig::default(), 0, &[0x22; 1528]);
//! client.connect("live", "rtmp://127.0.0.1/live")?;
//! client.publish("my-key?token=abc")?; // pipelined behind connect, as ffmpeg does
//!
//! let mut wire = BytesMut::new();
//! let mut received = Vec::new();
//! loop {
//!     // Client to server: the server's own input buffer is where a socket read would land.
//!     let client_sent = client.poll_transmit(&mut wire);
//!     server.input_buffer().extend_from_slice(&wire);
//!     wire.clear();
//!     server.process_input()?;
//!     while let Some(event) = server.poll_event() {
//!         match event {
//!             ServerEvent::PublishRequested { request, key, .. } => {
//!                 assert_eq!(key.as_str(), "my-key");
//!                 server.accept(request)?;
//!             }
//!             ServerEvent::Video { timestamp_ms, data, .. } => received.push((timestamp_ms, data)),
//!             _ => {}
//!         }
//!     }
//!     // Server to client: bytes already held go in with `handle_input`.
//!     let server_sent = server.poll_transmit(&mut wire);
//!     client.handle_input(&wire)?;
//!     wire.clear();
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::PublishStarted { .. } = event {
//!             client.send_video(40, &[0x17, 0x01, 0, 0, 0])?;
//!         }
//!     }
//!     if !client_sent && !server_sent {
//!         break; // both sides are idle: a real loop would wait for its socket here
//!     }
//! }
//! assert_eq!(received, [(40, bytes::Bytes::from_static(&[0x17, 0x01, 0, 0, 0]))]);
//! # Ok::<(), onair_rtmp_proto::Error>(())
//! ```

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
