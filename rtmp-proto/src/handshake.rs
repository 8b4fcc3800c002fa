//! The RTMP handshake (RTMP 1.0 §5.2). Being written; the error type comes first so other
//! modules can refer to it.

/// Errors of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer asked for a protocol version other than 3 (6 and 8 are RTMPE, not supported).
    #[error("unsupported rtmp version {version}")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
}
