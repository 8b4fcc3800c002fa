//! What server and client sessions share: their input and output methods, the outbound chunk
//! writer, the inbound chunk reader with acknowledgements and pings, per-stream timestamp
//! extension and aggregate messages.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};
use onair_amf::amf0::{self, Amf0Value};
use onair_flv::StreamMetadata;

use crate::chunk::{
    ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, ChunkStreamId, MessageStreamId, MessageType,
    RawMessage,
};
use crate::command::CommandMessage;
use crate::control::{ControlMessage, UserControlEvent};
use crate::error::Error;
use crate::metadata::DataMessage;
use crate::timestamp::{RtmpTimestamp, TimestampExtender};

/// Chunk stream for NetConnection commands (stream 0).
pub(crate) const CSID_COMMAND: ChunkStreamId = ChunkStreamId(3);
/// Chunk stream for NetStream commands and data messages.
pub(crate) const CSID_STREAM: ChunkStreamId = ChunkStreamId(5);
/// Chunk stream for audio.
pub(crate) const CSID_AUDIO: ChunkStreamId = ChunkStreamId(6);
/// Chunk stream for video.
pub(crate) const CSID_VIDEO: ChunkStreamId = ChunkStreamId(7);

/// Most streams one connection may create; real clients use one or two.
pub(crate) const MAX_STREAMS: usize = 16;

/// The input and output methods of a session, the same for [`ServerSession`] and
/// [`ClientSession`] (written once here, with their documentation). The session type has the
/// fields `inbound: Inbound`, `outbound: Outbound`, `events: VecDeque<$event>` and
/// `closed: bool`, and a `process(&mut self) -> Result<(), Error>` that consumes what
/// `inbound.buffer` holds.
///
/// [`ServerSession`]: crate::ServerSession
/// [`ClientSession`]: crate::ClientSession
macro_rules! session_io {
    ($session:ty, $event:ty) => {
        impl $session {
            /// The buffer received bytes go into, for a caller that reads its socket straight
            /// into it (tokio's `read_buf`, after reserving room for one read); call
            /// [`process_input`](Self::process_input) after each read. Between calls it holds
            /// at most one incomplete chunk, which the chunk decoder's `max_message_length`
            /// bounds: memory stays bounded by that plus what the caller reserves per read.
            pub fn input_buffer(&mut self) -> &mut bytes::BytesMut {
                &mut self.inbound.buffer
            }

            /// Processes what [`input_buffer`](Self::input_buffer) holds, then drain
            /// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event).
            /// Events raised before an error are still queued. On `Err` the session is dead:
            /// send what `poll_transmit` gives (an `_error` or `onStatus` that tells the peer
            /// why) and close the connection.
            pub fn process_input(&mut self) -> Result<(), crate::error::Error> {
                if self.closed {
                    self.inbound.buffer.clear();
                    return Err(crate::error::SessionError::Closed.into());
                }
                let result = self.process();
                if result.is_err() {
                    self.closed = true;
                    self.inbound.buffer.clear();
                }
                result
            }

            /// Feeds bytes the caller already holds (a copy into
            /// [`input_buffer`](Self::input_buffer), then
            /// [`process_input`](Self::process_input)).
            pub fn handle_input(&mut self, input: &[u8]) -> Result<(), crate::error::Error> {
                if !self.closed {
                    self.inbound.buffer.extend_from_slice(input);
                }
                self.process_input()
            }

            /// Appends the bytes to send to the peer to `out`; returns whether anything was
            /// appended. Call after every input and every command, until it returns `false`
            /// (one call drains everything queued).
            pub fn poll_transmit(&mut self, out: &mut bytes::BytesMut) -> bool {
                self.outbound.drain(out)
            }

            /// The next event; call until `None` after every input and every command.
            pub fn poll_event(&mut self) -> Option<$event> {
                self.events.pop_front()
            }

            /// Bytes queued and not yet drained by `poll_transmit`.
            pub fn bytes_pending(&self) -> usize {
                self.outbound.pending()
            }

            /// Whether the session is over (an error, a rejected request, or a refused
            /// `connect`): send what `poll_transmit` gives and close the connection.
            pub fn is_closed(&self) -> bool {
                self.closed
            }
        }
    };
}
pub(crate) use session_io;

/// Serialises messages into chunks and queues them until `poll_transmit`.
pub(crate) struct Outbound {
    encoder: ChunkEncoder,
    queue: BytesMut,
    scratch: BytesMut,
}

impl Outbound {
    pub(crate) fn new() -> Self {
        Self {
            encoder: ChunkEncoder::new(),
            queue: BytesMut::new(),
            scratch: BytesMut::new(),
        }
    }

    /// Queues raw bytes (the handshake).
    pub(crate) fn raw(&mut self) -> &mut BytesMut {
        &mut self.queue
    }

    pub(crate) fn control(&mut self, message: &ControlMessage) -> Result<(), Error> {
        self.scratch.clear();
        message.write(&mut self.scratch);
        self.encoder.encode(
            ChunkStreamId::PROTOCOL_CONTROL,
            RtmpTimestamp(0),
            message.type_id(),
            MessageStreamId(0),
            &self.scratch,
            &mut self.queue,
        )?;
        Ok(())
    }

    /// Sends Set Chunk Size and switches the encoder to it.
    pub(crate) fn set_chunk_size(&mut self, size: u32) -> Result<(), Error> {
        self.control(&ControlMessage::SetChunkSize(size))?;
        self.encoder.set_chunk_size(size)?;
        Ok(())
    }

    pub(crate) fn command(
        &mut self,
        csid: ChunkStreamId,
        stream_id: MessageStreamId,
        command: &CommandMessage,
    ) -> Result<(), Error> {
        self.scratch.clear();
        command.write(&mut self.scratch);
        self.encoder.encode(
            csid,
            RtmpTimestamp(0),
            MessageType::COMMAND_AMF0,
            stream_id,
            &self.scratch,
            &mut self.queue,
        )?;
        Ok(())
    }

    /// A data message (type 18) made of `values`.
    pub(crate) fn data(
        &mut self,
        stream_id: MessageStreamId,
        timestamp: RtmpTimestamp,
        values: &[Amf0Value],
    ) -> Result<(), Error> {
        self.scratch.clear();
        for value in values {
            amf0::encode(value, &mut self.scratch);
        }
        self.encoder.encode(
            CSID_STREAM,
            timestamp,
            MessageType::DATA_AMF0,
            stream_id,
            &self.scratch,
            &mut self.queue,
        )?;
        Ok(())
    }

    /// A data message with an already encoded body.
    pub(crate) fn data_raw(
        &mut self,
        stream_id: MessageStreamId,
        body: &[u8],
    ) -> Result<(), Error> {
        self.encoder.encode(
            CSID_STREAM,
            RtmpTimestamp(0),
            MessageType::DATA_AMF0,
            stream_id,
            body,
            &mut self.queue,
        )?;
        Ok(())
    }

    /// Audio or video; the 64-bit media time wraps to the 32-bit RTMP timestamp.
    pub(crate) fn media(
        &mut self,
        type_id: MessageType,
        stream_id: MessageStreamId,
        timestamp_ms: u64,
        body: &[u8],
    ) -> Result<(), Error> {
        let csid = if type_id == MessageType::AUDIO {
            CSID_AUDIO
        } else {
            CSID_VIDEO
        };
        // Truncation is the point: RTMP timestamps are the media time modulo 2^32.
        let ts = RtmpTimestamp(timestamp_ms as u32);
        self.encoder
            .encode(csid, ts, type_id, stream_id, body, &mut self.queue)?;
        Ok(())
    }

    pub(crate) fn drain(&mut self, out: &mut BytesMut) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        if out.is_empty() {
            // Hand the queue over instead of copying it (the common case).
            std::mem::swap(out, &mut self.queue);
        } else {
            out.extend_from_slice(&self.queue);
            self.queue.clear();
        }
        true
    }

    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }
}

/// Reassembles messages, tracks the peer's acknowledgement window and answers pings.
pub(crate) struct Inbound {
    pub(crate) buffer: BytesMut,
    decoder: ChunkDecoder,
    /// The window the peer asked us to acknowledge (its Window Acknowledgement Size).
    ack_window: u32,
    last_ack: u64,
    extenders: HashMap<u32, TimestampExtender>,
}

impl Inbound {
    pub(crate) fn new(config: ChunkDecoderConfig) -> Self {
        Self {
            buffer: BytesMut::new(),
            decoder: ChunkDecoder::new(config),
            ack_window: 0,
            last_ack: 0,
            extenders: HashMap::new(),
        }
    }

    /// The next complete message in the buffer. Protocol control messages are handled here
    /// (acks, pings, window size) and returned too, so the caller may look at them.
    pub(crate) fn next_message(
        &mut self,
        out: &mut Outbound,
    ) -> Result<Option<(RawMessage, Option<ControlMessage>)>, Error> {
        let Some(message) = self.decoder.decode(&mut self.buffer)? else {
            self.send_ack_if_due(out)?;
            return Ok(None);
        };
        let control = ControlMessage::parse(message.type_id, &message.payload)?;
        match &control {
            Some(ControlMessage::WindowAckSize(size)) => self.ack_window = *size,
            Some(ControlMessage::UserControl(UserControlEvent::PingRequest(t))) => {
                out.control(&ControlMessage::UserControl(
                    UserControlEvent::PingResponse(*t),
                ))?;
            }
            _ => {}
        }
        self.send_ack_if_due(out)?;
        Ok(Some((message, control)))
    }

    fn send_ack_if_due(&mut self, out: &mut Outbound) -> Result<(), Error> {
        let received = self.decoder.bytes_received();
        if self.ack_window > 0
            && received.saturating_sub(self.last_ack) >= u64::from(self.ack_window)
        {
            // The sequence number is the byte count modulo 2^32 (RTMP 1.0 §5.4.3).
            out.control(&ControlMessage::Acknowledgement(received as u32))?;
            self.last_ack = received;
        }
        Ok(())
    }

    /// Monotonic media time of a message on `stream_id`.
    pub(crate) fn extend(&mut self, stream_id: MessageStreamId, ts: RtmpTimestamp) -> u64 {
        self.extenders.entry(stream_id.0).or_default().extend(ts)
    }

    /// Forgets the timestamp history of a deleted stream.
    pub(crate) fn forget_stream(&mut self, stream_id: MessageStreamId) {
        self.extenders.remove(&stream_id.0);
    }
}

/// One message inside an aggregate message (RTMP 1.0 §7.1.6).
pub(crate) struct SubMessage {
    pub(crate) type_id: MessageType,
    pub(crate) timestamp: RtmpTimestamp,
    pub(crate) payload: Bytes,
}

/// What a session does with the media and data messages it receives; [`dispatch`] routes
/// messages (and the parts of aggregate messages) to it, the same way for server and client.
pub(crate) trait MessageHandler {
    /// Whether audio, video and data messages on `stream_id` are wanted; the others are
    /// ignored, as nginx-rtmp does.
    fn takes_media(&self, stream_id: MessageStreamId) -> bool;
    /// `onMetaData` (or `@setDataFrame onMetaData`) on a stream that takes media; `size` is
    /// the length of its payload.
    fn on_metadata(&mut self, stream_id: MessageStreamId, metadata: StreamMetadata, size: usize);
    /// Audio or video on a stream that takes media, its timestamp extended past 2^32.
    fn on_media(
        &mut self,
        stream_id: MessageStreamId,
        type_id: MessageType,
        timestamp_ms: u64,
        data: Bytes,
    );
    /// The session's inbound side (for timestamp extension).
    fn inbound(&mut self) -> &mut Inbound;
}

/// Routes one message that is not protocol control to `handler`, and gives back a command
/// (AMF0 type 20 or AMF3 type 17) for the session to run. Shared objects and unknown types are
/// ignored, as nginx-rtmp does.
pub(crate) fn dispatch(
    handler: &mut impl MessageHandler,
    message: RawMessage,
) -> Result<Option<(MessageStreamId, CommandMessage)>, Error> {
    let stream_id = message.stream_id;
    match message.type_id {
        MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
            let command = CommandMessage::parse(message.type_id, &message.payload)?;
            return Ok(Some((stream_id, command)));
        }
        MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => {
            data(handler, stream_id, message.type_id, &message.payload)?
        }
        MessageType::AUDIO | MessageType::VIDEO => {
            let RawMessage {
                type_id,
                timestamp,
                payload,
                ..
            } = message;
            media(handler, stream_id, type_id, timestamp, payload);
        }
        MessageType::AGGREGATE => {
            for sub in AggregateParts::new(&message) {
                match sub.type_id {
                    MessageType::AUDIO | MessageType::VIDEO => {
                        media(handler, stream_id, sub.type_id, sub.timestamp, sub.payload)
                    }
                    MessageType::DATA_AMF0 => data(handler, stream_id, sub.type_id, &sub.payload)?,
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(None)
}

fn data(
    handler: &mut impl MessageHandler,
    stream_id: MessageStreamId,
    type_id: MessageType,
    payload: &[u8],
) -> Result<(), Error> {
    if !handler.takes_media(stream_id) {
        return Ok(());
    }
    if let Some(DataMessage::Metadata { metadata, .. }) = DataMessage::parse(type_id, payload)? {
        handler.on_metadata(stream_id, metadata, payload.len());
    }
    Ok(())
}

fn media(
    handler: &mut impl MessageHandler,
    stream_id: MessageStreamId,
    type_id: MessageType,
    timestamp: RtmpTimestamp,
    data: Bytes,
) {
    if handler.takes_media(stream_id) {
        let timestamp_ms = handler.inbound().extend(stream_id, timestamp);
        handler.on_media(stream_id, type_id, timestamp_ms, data);
    }
}

/// The audio/video/data sub-messages of an aggregate message body, with timestamps moved so
/// that the first sub-message carries the aggregate's own timestamp. A truncated tail is
/// ignored (the sub-messages before it are kept).
pub(crate) struct AggregateParts {
    body: Bytes,
    timestamp: RtmpTimestamp,
    first_ts: Option<RtmpTimestamp>,
}

impl AggregateParts {
    pub(crate) fn new(message: &RawMessage) -> Self {
        Self {
            body: message.payload.clone(),
            timestamp: message.timestamp,
            first_ts: None,
        }
    }
}

impl Iterator for AggregateParts {
    type Item = SubMessage;

    fn next(&mut self) -> Option<SubMessage> {
        // Each sub-message: an FLV-tag-like 11-byte header, the body, a 4-byte back pointer.
        let body = &mut self.body;
        if body.len() < 11 {
            return None;
        }
        let type_id = MessageType(body[0]);
        let size = usize::from(body[1]) << 16 | usize::from(body[2]) << 8 | usize::from(body[3]);
        let ts = u32::from(body[7]) << 24
            | u32::from(body[4]) << 16
            | u32::from(body[5]) << 8
            | u32::from(body[6]);
        if body.len() < 11 + size {
            body.clear();
            return None;
        }
        body.advance(11);
        let payload = body.split_to(size);
        let base = *self.first_ts.get_or_insert(RtmpTimestamp(ts));
        let timestamp = self
            .timestamp
            .wrapping_add(RtmpTimestamp(ts).wrapping_diff(base) as u32);
        body.advance(body.len().min(4));
        Some(SubMessage {
            type_id,
            timestamp,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_is_split_with_rebased_timestamps() {
        let mut body = Vec::new();
        for (i, (t, ts)) in [(9u8, 1000u32), (8, 1010)].iter().enumerate() {
            let payload = vec![i as u8; 3];
            body.extend_from_slice(&[*t, 0, 0, 3]);
            body.extend_from_slice(&[(ts >> 16) as u8, (ts >> 8) as u8, *ts as u8, 0]);
            body.extend_from_slice(&[0, 0, 0]);
            body.extend_from_slice(&payload);
            body.extend_from_slice(&14u32.to_be_bytes());
        }
        // A truncated third header is ignored.
        body.extend_from_slice(&[9, 0, 0, 50, 0]);
        let message = RawMessage {
            csid: ChunkStreamId(6),
            timestamp: RtmpTimestamp(u32::MAX - 4),
            type_id: MessageType::AGGREGATE,
            stream_id: MessageStreamId(1),
            payload: Bytes::from(body),
        };
        let subs: Vec<_> = AggregateParts::new(&message).collect();
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].type_id, MessageType::VIDEO);
        assert_eq!(subs[0].timestamp, RtmpTimestamp(u32::MAX - 4));
        assert_eq!(subs[1].type_id, MessageType::AUDIO);
        assert_eq!(subs[1].timestamp, RtmpTimestamp(5));
        assert_eq!(&subs[1].payload[..], &[1, 1, 1]);
    }
}
