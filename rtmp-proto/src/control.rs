//! Protocol control messages (RTMP 1.0 §5.4, types 1-3, 5, 6) and User Control messages
//! (RTMP 1.0 §6.2 and §7.1.7, type 4).
//!
//! These travel on chunk stream 2, message stream 0. [`ChunkDecoder`](crate::ChunkDecoder)
//! already applies Set Chunk Size and Abort from the peer; the session handles the rest
//! (acknowledgements, pings).

use bytes::{BufMut, Bytes, BytesMut};

use crate::chunk::{ChunkStreamId, MessageType};

/// The limit type of a Set Peer Bandwidth message (RTMP 1.0 §5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerBandwidthLimit {
    /// 0: limit the output bandwidth to the indicated window size.
    Hard,
    /// 1: limit to the window size or the current limit, whichever is smaller.
    Soft,
    /// 2: hard if the previous limit was hard, otherwise ignore.
    Dynamic,
}

impl PeerBandwidthLimit {
    /// The wire value (0, 1, 2).
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Hard => 0,
            Self::Soft => 1,
            Self::Dynamic => 2,
        }
    }
}

/// A User Control message event (RTMP 1.0 §7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControlEvent {
    /// 0: the stream with this id became functional.
    StreamBegin(u32),
    /// 1: playback of the stream with this id is over.
    StreamEof(u32),
    /// 2: no more data on the stream with this id.
    StreamDry(u32),
    /// 3: the client's buffer length for a stream.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// 4: the stream with this id is a recorded stream.
    StreamIsRecorded(u32),
    /// 6: the server pings the client with a timestamp.
    PingRequest(u32),
    /// 7: the client's answer to a ping, echoing the timestamp.
    PingResponse(u32),
    /// Any other event type, kept as is.
    Other {
        /// Event type.
        event_type: u16,
        /// Event data.
        data: Bytes,
    },
}

impl UserControlEvent {
    /// The event type number.
    #[must_use]
    pub fn event_type(&self) -> u16 {
        match self {
            Self::StreamBegin(_) => 0,
            Self::StreamEof(_) => 1,
            Self::StreamDry(_) => 2,
            Self::SetBufferLength { .. } => 3,
            Self::StreamIsRecorded(_) => 4,
            Self::PingRequest(_) => 6,
            Self::PingResponse(_) => 7,
            Self::Other { event_type, .. } => *event_type,
        }
    }
}

/// A protocol control or User Control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// Type 1: the sender's new maximum chunk size.
    SetChunkSize(u32),
    /// Type 2: discard the partly received message on this chunk stream.
    Abort(ChunkStreamId),
    /// Type 3: bytes received so far (sequence number).
    Acknowledgement(u32),
    /// Type 5: the window size after which the receiver must acknowledge.
    WindowAckSize(u32),
    /// Type 6: limit the peer's output bandwidth.
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// How to apply it.
        limit: PeerBandwidthLimit,
    },
    /// Type 4: a User Control event.
    UserControl(UserControlEvent),
}

/// Errors parsing a control message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The body is shorter than its type requires.
    #[error("control message of type {type_id} has {available} bytes, needs {needed}")]
    TooShort {
        /// The message type id.
        type_id: u8,
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A Set Peer Bandwidth limit type other than 0, 1 or 2.
    #[error("unknown peer bandwidth limit type {value}")]
    InvalidLimitType {
        /// The value received.
        value: u8,
    },
}

fn be_u32(payload: &[u8], pos: usize, type_id: u8) -> Result<u32, ControlError> {
    match payload.get(pos..pos + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(ControlError::TooShort {
            type_id,
            needed: pos + 4,
            available: payload.len(),
        }),
    }
}

impl ControlMessage {
    /// Parses a message body; `Ok(None)` when `type_id` is not a control message type.
    /// Bytes after the fields are ignored.
    pub fn parse(type_id: MessageType, payload: &[u8]) -> Result<Option<Self>, ControlError> {
        let t = type_id.0;
        let message = match type_id {
            MessageType::SET_CHUNK_SIZE => Self::SetChunkSize(be_u32(payload, 0, t)?),
            MessageType::ABORT => Self::Abort(ChunkStreamId(be_u32(payload, 0, t)?)),
            MessageType::ACKNOWLEDGEMENT => Self::Acknowledgement(be_u32(payload, 0, t)?),
            MessageType::WINDOW_ACK_SIZE => Self::WindowAckSize(be_u32(payload, 0, t)?),
            MessageType::SET_PEER_BANDWIDTH => {
                let size = be_u32(payload, 0, t)?;
                let limit = match payload.get(4) {
                    Some(0) => PeerBandwidthLimit::Hard,
                    Some(1) => PeerBandwidthLimit::Soft,
                    Some(2) => PeerBandwidthLimit::Dynamic,
                    Some(&value) => return Err(ControlError::InvalidLimitType { value }),
                    None => {
                        return Err(ControlError::TooShort {
                            type_id: t,
                            needed: 5,
                            available: payload.len(),
                        })
                    }
                };
                Self::SetPeerBandwidth { size, limit }
            }
            MessageType::USER_CONTROL => Self::UserControl(parse_user_control(payload)?),
            _ => return Ok(None),
        };
        Ok(Some(message))
    }

    /// The message type id to send it with.
    #[must_use]
    pub fn type_id(&self) -> MessageType {
        match self {
            Self::SetChunkSize(_) => MessageType::SET_CHUNK_SIZE,
            Self::Abort(_) => MessageType::ABORT,
            Self::Acknowledgement(_) => MessageType::ACKNOWLEDGEMENT,
            Self::WindowAckSize(_) => MessageType::WINDOW_ACK_SIZE,
            Self::SetPeerBandwidth { .. } => MessageType::SET_PEER_BANDWIDTH,
            Self::UserControl(_) => MessageType::USER_CONTROL,
        }
    }

    /// Appends the message body (not the chunk header) to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        match self {
            Self::SetChunkSize(v) | Self::Acknowledgement(v) | Self::WindowAckSize(v) => {
                out.put_u32(*v);
            }
            Self::Abort(csid) => out.put_u32(csid.0),
            Self::SetPeerBandwidth { size, limit } => {
                out.put_u32(*size);
                out.put_u8(limit.to_u8());
            }
            Self::UserControl(event) => {
                out.put_u16(event.event_type());
                match event {
                    UserControlEvent::StreamBegin(v)
                    | UserControlEvent::StreamEof(v)
                    | UserControlEvent::StreamDry(v)
                    | UserControlEvent::StreamIsRecorded(v)
                    | UserControlEvent::PingRequest(v)
                    | UserControlEvent::PingResponse(v) => out.put_u32(*v),
                    UserControlEvent::SetBufferLength {
                        stream_id,
                        buffer_ms,
                    } => {
                        out.put_u32(*stream_id);
                        out.put_u32(*buffer_ms);
                    }
                    UserControlEvent::Other { data, .. } => out.put_slice(data),
                }
            }
        }
    }
}

fn parse_user_control(payload: &[u8]) -> Result<UserControlEvent, ControlError> {
    let t = MessageType::USER_CONTROL.0;
    let event_type = match payload.get(..2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => {
            return Err(ControlError::TooShort {
                type_id: t,
                needed: 2,
                available: payload.len(),
            })
        }
    };
    Ok(match event_type {
        0 => UserControlEvent::StreamBegin(be_u32(payload, 2, t)?),
        1 => UserControlEvent::StreamEof(be_u32(payload, 2, t)?),
        2 => UserControlEvent::StreamDry(be_u32(payload, 2, t)?),
        3 => UserControlEvent::SetBufferLength {
            stream_id: be_u32(payload, 2, t)?,
            buffer_ms: be_u32(payload, 6, t)?,
        },
        4 => UserControlEvent::StreamIsRecorded(be_u32(payload, 2, t)?),
        6 => UserControlEvent::PingRequest(be_u32(payload, 2, t)?),
        7 => UserControlEvent::PingResponse(be_u32(payload, 2, t)?),
        other => UserControlEvent::Other {
            event_type: other,
            data: Bytes::copy_from_slice(payload.get(2..).unwrap_or_default()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn round_trip(message: ControlMessage, wire: &[u8]) {
        let mut out = BytesMut::new();
        message.write(&mut out);
        assert_eq!(&out[..], wire);
        assert_eq!(
            ControlMessage::parse(message.type_id(), wire),
            Ok(Some(message))
        );
    }

    #[test]
    fn protocol_control_vectors() {
        round_trip(ControlMessage::SetChunkSize(4096), &hex!("00 00 10 00"));
        round_trip(
            ControlMessage::Abort(ChunkStreamId(6)),
            &hex!("00 00 00 06"),
        );
        round_trip(
            ControlMessage::Acknowledgement(0x0012_3456),
            &hex!("00 12 34 56"),
        );
        round_trip(
            ControlMessage::WindowAckSize(2_500_000),
            &hex!("00 26 25 A0"),
        );
        round_trip(
            ControlMessage::SetPeerBandwidth {
                size: 2_500_000,
                limit: PeerBandwidthLimit::Dynamic,
            },
            &hex!("00 26 25 A0 02"),
        );
    }

    #[test]
    fn user_control_vectors() {
        use UserControlEvent as E;
        let uc = ControlMessage::UserControl;
        round_trip(uc(E::StreamBegin(1)), &hex!("00 00 00 00 00 01"));
        round_trip(uc(E::StreamEof(1)), &hex!("00 01 00 00 00 01"));
        round_trip(uc(E::StreamDry(2)), &hex!("00 02 00 00 00 02"));
        round_trip(
            uc(E::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000,
            }),
            &hex!("00 03 00 00 00 01 00 00 0B B8"),
        );
        round_trip(uc(E::StreamIsRecorded(1)), &hex!("00 04 00 00 00 01"));
        round_trip(uc(E::PingRequest(0xDEAD)), &hex!("00 06 00 00 DE AD"));
        round_trip(uc(E::PingResponse(0xDEAD)), &hex!("00 07 00 00 DE AD"));
        round_trip(
            uc(E::Other {
                event_type: 0x1F,
                data: Bytes::from_static(&hex!("01 02 03")),
            }),
            &hex!("00 1F 01 02 03"),
        );
    }

    #[test]
    fn errors_and_other_types() {
        assert_eq!(ControlMessage::parse(MessageType::VIDEO, &[]), Ok(None));
        assert_eq!(
            ControlMessage::parse(MessageType::SET_CHUNK_SIZE, &hex!("00 10")),
            Err(ControlError::TooShort {
                type_id: 1,
                needed: 4,
                available: 2
            })
        );
        assert_eq!(
            ControlMessage::parse(MessageType::SET_PEER_BANDWIDTH, &hex!("00 00 10 00 07")),
            Err(ControlError::InvalidLimitType { value: 7 })
        );
        assert_eq!(
            ControlMessage::parse(MessageType::USER_CONTROL, &hex!("00 03 00 00 00 01")),
            Err(ControlError::TooShort {
                type_id: 4,
                needed: 10,
                available: 6
            })
        );
        assert_eq!(
            ControlMessage::parse(MessageType::USER_CONTROL, &hex!("00")),
            Err(ControlError::TooShort {
                type_id: 4,
                needed: 2,
                available: 1
            })
        );
    }
}
