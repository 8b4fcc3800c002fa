//! Server and client sessions: the NetConnection/NetStream state machines on top of the chunk
//! stream (RTMP 1.0 §7.2 and §7.3, Enhanced RTMP).
//!
//! Both are sans-IO: read received bytes into `input_buffer` and call `process_input` (or
//! feed them with `handle_input`), then drain `poll_transmit` (bytes for the socket) and
//! `poll_event` (what happened) until they are empty.

mod client;
mod names;
mod server;
mod shared;
#[cfg(test)]
mod tests;

pub use client::{ClientEvent, ClientSession, ClientSessionConfig};
pub use names::{validate_app, validate_name, QueryString, RequestId, StreamKey, StreamName};
pub use server::{ServerEvent, ServerSession, ServerSessionConfig};
