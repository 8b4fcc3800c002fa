//! The RTMP runtime (in progress): names that become paths, the stream registry with its GOP
//! cache and bounded per-player queues. The tokio server and client land with the sessions.
#![allow(dead_code)]

mod gop;
mod names;
mod packet;
mod queue;
mod registry;

pub use names::{validate_app, validate_name, NameError, MAX_NAME_BYTES};
pub use queue::QueueLimits;
