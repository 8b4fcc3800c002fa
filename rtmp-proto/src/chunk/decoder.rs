//! Chunk stream decoding (RTMP 1.0 §5.3): reassembles interleaved chunks into messages.

use bytes::{Buf, BytesMut};

use super::header::{
    parse_basic_header, read_u24, read_u32_be, read_u32_le, EXTENDED_TIMESTAMP, MESSAGE_HEADER_LEN,
};
use super::{ChunkError, ChunkStreamId, MessageStreamId, MessageType, RawMessage};
use crate::timestamp::RtmpTimestamp;

/// The chunk size every connection starts with (RTMP 1.0 §5.4.1).
pub(super) const DEFAULT_CHUNK_SIZE: u32 = 128;

/// Chunk sizes above this are equivalent: no chunk is longer than a message (RTMP 1.0 §5.4.1).
const LARGEST_USEFUL_CHUNK_SIZE: u32 = 0x00FF_FFFF;

/// At most this much is reserved up front for a message being reassembled; the rest grows as
/// chunks really arrive, so a header announcing a huge length costs nothing by itself.
const MAX_PREALLOC: usize = 64 * 1024;

/// Limits that keep a hostile peer from making the decoder use unbounded memory.
///
/// Memory held by the decoder is bounded by about
/// `max_partial_messages * max_message_length` plus a few dozen bytes per chunk stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkDecoderConfig {
    /// Largest chunk size the peer may set with Set Chunk Size; larger requests are an error.
    /// Requests above 0xFFFFFF are treated as 0xFFFFFF (they are equivalent). Default 0xFFFFFF.
    pub max_chunk_size: u32,
    /// Largest message length accepted. Default 8 MiB.
    pub max_message_length: u32,
    /// How many messages may be reassembled at the same time (one per chunk stream at most).
    /// Default 8.
    pub max_partial_messages: usize,
    /// How many distinct chunk stream ids may be used over the connection. Default 64.
    pub max_chunk_streams: usize,
}

impl Default for ChunkDecoderConfig {
    fn default() -> Self {
        Self {
            max_chunk_size: LARGEST_USEFUL_CHUNK_SIZE,
            max_message_length: 8 * 1024 * 1024,
            max_partial_messages: 8,
            max_chunk_streams: 64,
        }
    }
}

/// What the decoder remembers about one chunk stream.
#[derive(Debug)]
struct StreamState {
    csid: u32,
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// The last timestamp field received in a format 0-2 header: absolute for format 0, a
    /// delta for formats 1 and 2. A format 3 header that starts a message adds it again.
    ts_field: u32,
    /// Whether that field was sent as an extended timestamp: format 3 chunks may then repeat it.
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Bytes of the current message received so far.
    received: u32,
    /// Whether a message is being reassembled in `buf`.
    in_progress: bool,
    /// Reassembly buffer, reused from message to message.
    buf: BytesMut,
}

/// The header of a message about to start, as read from a chunk.
#[derive(Debug, Clone, Copy)]
struct NewMessage {
    timestamp: u32,
    ts_field: u32,
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

enum Step {
    NeedMore,
    Partial,
    Message(RawMessage),
}

/// Reassembles RTMP messages from the chunk stream a peer sends (RTMP 1.0 §5.3).
///
/// Feed it the bytes that follow the handshake. It consumes whole chunks only, leaving an
/// incomplete chunk in the input for the next call. Set Chunk Size (type 1) and Abort (type 2)
/// messages from the peer are applied by the decoder itself and still returned.
///
/// Format 3 chunks after an extended timestamp may or may not repeat the 4-byte extended
/// field (ffmpeg, librtmp and FMS do; some servers don't): the decoder checks whether the next
/// four bytes equal the last extended value and skips them if so, as librtmp does. (So such a
/// chunk is only decoded once four bytes past its basic header have arrived.)
///
/// ```
/// use bytes::BytesMut;
/// use onair_rtmp_proto::{ChunkDecoder, ChunkDecoderConfig, MessageType};
///
/// let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
/// // format 0 on chunk stream 3, timestamp 0, 2-byte payload, type 20, message stream 0
/// let mut input = BytesMut::from(&[3u8, 0, 0, 0, 0, 0, 2, 20, 0, 0, 0, 0, 0xAB, 0xCD][..]);
/// let message = decoder.decode(&mut input).unwrap().unwrap();
/// assert_eq!(message.type_id, MessageType::COMMAND_AMF0);
/// assert_eq!(&message.payload[..], &[0xAB, 0xCD]);
/// assert!(decoder.decode(&mut input).unwrap().is_none());
/// ```
#[derive(Debug)]
pub struct ChunkDecoder {
    config: ChunkDecoderConfig,
    chunk_size: u32,
    streams: Vec<StreamState>,
    partials: usize,
    bytes_received: u64,
    /// Index in `streams` of the chunk stream of the last chunk.
    last_index: usize,
}

impl ChunkDecoder {
    /// A decoder for a fresh connection (chunk size 128).
    #[must_use]
    pub fn new(config: ChunkDecoderConfig) -> Self {
        Self {
            config,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            partials: 0,
            bytes_received: 0,
            last_index: 0,
        }
    }

    /// The configuration it was made with.
    #[must_use]
    pub fn config(&self) -> &ChunkDecoderConfig {
        &self.config
    }

    /// The peer's current chunk size.
    #[must_use]
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes of chunk stream consumed so far (for Acknowledgement messages, RTMP 1.0 §5.4.3;
    /// the handshake bytes are not counted).
    #[must_use]
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Decodes the next complete message from `input`, consuming the chunks it used.
    ///
    /// Call it until it returns `Ok(None)`, which means more bytes are needed. After an error
    /// the decoder state is unspecified: close the connection.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            match self.decode_chunk(input)? {
                Step::NeedMore => return Ok(None),
                Step::Partial => {}
                Step::Message(message) => {
                    self.apply_control(&message)?;
                    return Ok(Some(message));
                }
            }
        }
    }

    fn find(&self, csid: u32) -> Option<usize> {
        // Consecutive chunks mostly belong to the same stream: try the last one first.
        if self
            .streams
            .get(self.last_index)
            .is_some_and(|s| s.csid == csid)
        {
            return Some(self.last_index);
        }
        self.streams.iter().position(|s| s.csid == csid)
    }

    /// Reads one chunk if it is complete in `input`. Nothing is consumed or changed otherwise.
    fn decode_chunk(&mut self, input: &mut BytesMut) -> Result<Step, ChunkError> {
        let buf: &[u8] = input;
        let Some(basic) = parse_basic_header(buf) else {
            return Ok(Step::NeedMore);
        };
        let csid = basic.csid;
        let fmt = usize::from(basic.fmt);
        let mut pos = basic.len;
        let header_end = pos + MESSAGE_HEADER_LEN[fmt & 3];
        if buf.len() < header_end {
            return Ok(Step::NeedMore);
        }
        let index = self.find(csid);
        let state = index.and_then(|i| self.streams.get(i));

        // `None` means this chunk continues the message in progress.
        let new_message = match (fmt, state) {
            (0, _) => {
                let field = read_u24(buf, pos).unwrap_or(0);
                let length = read_u24(buf, pos + 3).unwrap_or(0);
                let type_id = buf.get(pos + 6).copied().unwrap_or(0);
                let stream_id = read_u32_le(buf, pos + 7).unwrap_or(0);
                pos = header_end;
                let (ts, extended) = match read_timestamp(buf, &mut pos, field) {
                    Some(t) => t,
                    None => return Ok(Step::NeedMore),
                };
                Some(NewMessage {
                    timestamp: ts,
                    ts_field: ts,
                    extended,
                    length,
                    type_id,
                    stream_id,
                })
            }
            (1 | 2, Some(state)) => {
                let field = read_u24(buf, pos).unwrap_or(0);
                let (length, type_id) = if fmt == 1 {
                    (
                        read_u24(buf, pos + 3).unwrap_or(0),
                        buf.get(pos + 6).copied().unwrap_or(0),
                    )
                } else {
                    (state.length, state.type_id)
                };
                pos = header_end;
                let (delta, extended) = match read_timestamp(buf, &mut pos, field) {
                    Some(t) => t,
                    None => return Ok(Step::NeedMore),
                };
                Some(NewMessage {
                    timestamp: state.timestamp.wrapping_add(delta),
                    ts_field: delta,
                    extended,
                    length,
                    type_id,
                    stream_id: state.stream_id,
                })
            }
            (3, Some(state)) => {
                if state.extended {
                    match read_u32_be(buf, pos) {
                        Some(v) if v == state.ts_field => pos += 4,
                        Some(_) => {}
                        None => return Ok(Step::NeedMore),
                    }
                }
                if state.in_progress {
                    None
                } else {
                    Some(NewMessage {
                        timestamp: state.timestamp.wrapping_add(state.ts_field),
                        ts_field: state.ts_field,
                        extended: state.extended,
                        length: state.length,
                        type_id: state.type_id,
                        stream_id: state.stream_id,
                    })
                }
            }
            _ => return Err(ChunkError::MissingPreviousHeader { csid }),
        };

        // Work out this chunk's payload size and check every limit before changing anything.
        let (remaining, replaces_partial) = match (&new_message, state) {
            (Some(m), state) => {
                if m.length > self.config.max_message_length {
                    return Err(ChunkError::MessageTooLong {
                        length: m.length,
                        max: self.config.max_message_length,
                    });
                }
                (m.length, state.is_some_and(|s| s.in_progress))
            }
            (None, Some(s)) => (s.length.saturating_sub(s.received), false),
            (None, None) => return Err(ChunkError::MissingPreviousHeader { csid }),
        };
        let n = remaining.min(self.chunk_size);
        let chunk_end = pos + n as usize;
        if buf.len() < chunk_end {
            return Ok(Step::NeedMore);
        }
        if let Some(m) = &new_message {
            let partials_after = self.partials.saturating_sub(usize::from(replaces_partial));
            if m.length > n && partials_after >= self.config.max_partial_messages {
                return Err(ChunkError::TooManyPartialMessages {
                    max: self.config.max_partial_messages,
                });
            }
        }
        if index.is_none() && self.streams.len() >= self.config.max_chunk_streams {
            return Err(ChunkError::TooManyChunkStreams {
                max: self.config.max_chunk_streams,
            });
        }

        // Commit.
        self.bytes_received += chunk_end as u64;
        let index = match index {
            Some(i) => i,
            None => {
                self.streams.push(StreamState {
                    csid,
                    timestamp: 0,
                    ts_field: 0,
                    extended: false,
                    length: 0,
                    type_id: 0,
                    stream_id: 0,
                    received: 0,
                    in_progress: false,
                    buf: BytesMut::new(),
                });
                self.streams.len() - 1
            }
        };
        self.last_index = index;
        let Some(state) = self.streams.get_mut(index) else {
            return Err(ChunkError::MissingPreviousHeader { csid });
        };
        input.advance(pos);
        if let Some(m) = new_message {
            if state.in_progress {
                state.buf.clear();
                state.in_progress = false;
                self.partials = self.partials.saturating_sub(1);
            }
            state.timestamp = m.timestamp;
            state.ts_field = m.ts_field;
            state.extended = m.extended;
            state.length = m.length;
            state.type_id = m.type_id;
            state.stream_id = m.stream_id;
            state.received = 0;
            if n == m.length {
                // The whole message is in this chunk: hand out a slice of the input, no copy.
                let payload = input.split_to(n as usize).freeze();
                return Ok(Step::Message(message_of(state, payload)));
            }
            state.in_progress = true;
            self.partials += 1;
            state.buf.reserve((m.length as usize).min(MAX_PREALLOC));
        }
        state
            .buf
            .extend_from_slice(input.get(..n as usize).unwrap_or_default());
        input.advance(n as usize);
        state.received += n;
        if state.received < state.length {
            return Ok(Step::Partial);
        }
        state.in_progress = false;
        self.partials = self.partials.saturating_sub(1);
        let payload = state.buf.split().freeze();
        Ok(Step::Message(message_of(state, payload)))
    }

    fn apply_control(&mut self, message: &RawMessage) -> Result<(), ChunkError> {
        match message.type_id {
            MessageType::SET_CHUNK_SIZE => {
                let size = control_u32(message)?;
                if size == 0 || size & 0x8000_0000 != 0 {
                    return Err(ChunkError::InvalidChunkSize { size });
                }
                let size = size.min(LARGEST_USEFUL_CHUNK_SIZE);
                if size > self.config.max_chunk_size {
                    return Err(ChunkError::ChunkSizeTooLarge {
                        size,
                        max: self.config.max_chunk_size,
                    });
                }
                self.chunk_size = size;
            }
            MessageType::ABORT => {
                let csid = control_u32(message)?;
                if let Some(state) = self.streams.iter_mut().find(|s| s.csid == csid) {
                    if state.in_progress {
                        state.in_progress = false;
                        state.received = 0;
                        state.buf.clear();
                        self.partials = self.partials.saturating_sub(1);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads the extended timestamp if the 24-bit field asks for it; `None` when incomplete.
#[inline]
fn read_timestamp(buf: &[u8], pos: &mut usize, field: u32) -> Option<(u32, bool)> {
    if field == EXTENDED_TIMESTAMP {
        let value = read_u32_be(buf, *pos)?;
        *pos += 4;
        Some((value, true))
    } else {
        Some((field, false))
    }
}

fn control_u32(message: &RawMessage) -> Result<u32, ChunkError> {
    read_u32_be(&message.payload, 0).ok_or(ChunkError::MalformedControl {
        type_id: message.type_id.0,
        length: message.payload.len(),
        needed: 4,
    })
}

fn message_of(state: &StreamState, payload: bytes::Bytes) -> RawMessage {
    RawMessage {
        csid: ChunkStreamId(state.csid),
        timestamp: RtmpTimestamp(state.timestamp),
        type_id: MessageType(state.type_id),
        stream_id: MessageStreamId(state.stream_id),
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkEncoder;
    use bytes::Bytes;
    use hex_literal::hex;

    fn decode_all(decoder: &mut ChunkDecoder, input: &mut BytesMut) -> Vec<RawMessage> {
        let mut out = Vec::new();
        while let Some(m) = decoder.decode(input).unwrap() {
            out.push(m);
        }
        out
    }

    /// Feeds `wire` one byte at a time.
    fn decode_bytewise(config: ChunkDecoderConfig, wire: &[u8]) -> Vec<RawMessage> {
        let mut decoder = ChunkDecoder::new(config);
        let mut input = BytesMut::new();
        let mut out = Vec::new();
        for b in wire {
            input.extend_from_slice(&[*b]);
            out.extend(decode_all(&mut decoder, &mut input));
        }
        assert!(input.is_empty());
        assert_eq!(decoder.bytes_received(), wire.len() as u64);
        out
    }

    /// RTMP 1.0 §5.3.2.1, example 1: four audio messages, formats 0, 2, 3, 3.
    fn spec_example_1() -> Vec<u8> {
        let mut wire = Vec::new();
        wire.extend_from_slice(&hex!("03 00 03 E8 00 00 20 08 39 30 00 00"));
        wire.extend_from_slice(&[1; 32]);
        wire.extend_from_slice(&hex!("83 00 00 14"));
        wire.extend_from_slice(&[2; 32]);
        wire.push(0xC3);
        wire.extend_from_slice(&[3; 32]);
        wire.push(0xC3);
        wire.extend_from_slice(&[4; 32]);
        wire
    }

    /// RTMP 1.0 §5.3.2.2, example 2: one 307-byte video message in three chunks.
    fn spec_example_2() -> Vec<u8> {
        let mut wire = Vec::new();
        wire.extend_from_slice(&hex!("04 00 03 E8 00 01 33 09 39 30 00 00"));
        wire.extend_from_slice(&[9; 128]);
        wire.push(0xC4);
        wire.extend_from_slice(&[9; 128]);
        wire.push(0xC4);
        wire.extend_from_slice(&[9; 51]);
        wire
    }

    #[test]
    fn spec_example_1_decodes() {
        let wire = spec_example_1();
        let messages = decode_bytewise(ChunkDecoderConfig::default(), &wire);
        let times: Vec<u32> = messages.iter().map(|m| m.timestamp.0).collect();
        assert_eq!(times, [1000, 1020, 1040, 1060]);
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m.csid, ChunkStreamId(3));
            assert_eq!(m.type_id, MessageType::AUDIO);
            assert_eq!(m.stream_id, MessageStreamId(12345));
            assert_eq!(&m.payload[..], &[i as u8 + 1; 32]);
        }
        // and the encoder picks exactly the spec's header formats
        let mut encoder = ChunkEncoder::new();
        let mut out = BytesMut::new();
        for m in &messages {
            encoder.encode_message(m, &mut out).unwrap();
        }
        assert_eq!(&out[..], &wire[..]);
    }

    #[test]
    fn spec_example_2_decodes() {
        let wire = spec_example_2();
        let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
        let mut input = BytesMut::from(&wire[..]);
        let messages = decode_all(&mut decoder, &mut input);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].payload.len(), 307);
        assert_eq!(messages[0].type_id, MessageType::VIDEO);
        assert_eq!(messages[0].timestamp, RtmpTimestamp(1000));
        assert_eq!(
            decode_bytewise(ChunkDecoderConfig::default(), &wire),
            messages
        );
        let mut out = BytesMut::new();
        ChunkEncoder::new()
            .encode_message(&messages[0], &mut out)
            .unwrap();
        assert_eq!(&out[..], &wire[..]);
    }

    #[test]
    fn extended_timestamp_with_and_without_repeat_in_format_3() {
        // 200-byte message at 0x01020304 ms: format 0 with extended timestamp, then one
        // format 3 continuation chunk, with (ffmpeg style) and without the repeated field.
        let mut with = Vec::new();
        with.extend_from_slice(&hex!("06 FF FF FF 00 00 C8 09 01 00 00 00 01 02 03 04"));
        with.extend_from_slice(&[0xAA; 128]);
        with.extend_from_slice(&hex!("C6 01 02 03 04"));
        with.extend_from_slice(&[0xBB; 72]);
        let mut without = Vec::new();
        without.extend_from_slice(&hex!("06 FF FF FF 00 00 C8 09 01 00 00 00 01 02 03 04"));
        without.extend_from_slice(&[0xAA; 128]);
        without.push(0xC6);
        without.extend_from_slice(&[0xBB; 72]);
        for wire in [with, without] {
            let messages = decode_bytewise(ChunkDecoderConfig::default(), &wire);
            assert_eq!(messages.len(), 1);
            let m = &messages[0];
            assert_eq!(m.timestamp, RtmpTimestamp(0x0102_0304));
            assert_eq!(m.stream_id, MessageStreamId(1));
            assert_eq!(&m.payload[..128], &[0xAA; 128]);
            assert_eq!(&m.payload[128..], &[0xBB; 72]);
        }
    }

    #[test]
    fn extended_delta_in_format_3_new_message() {
        // format 1 with an extended delta, then a format 3 starting a new message with the
        // same delta (repeating the extended field).
        let mut wire = Vec::new();
        wire.extend_from_slice(&hex!("05 00 00 0A 00 00 01 08 01 00 00 00 11"));
        wire.extend_from_slice(&hex!("45 FF FF FF 00 00 01 08 01 00 00 00 22"));
        wire.extend_from_slice(&hex!("C5 01 00 00 00 33"));
        let messages = decode_bytewise(ChunkDecoderConfig::default(), &wire);
        let times: Vec<u32> = messages.iter().map(|m| m.timestamp.0).collect();
        assert_eq!(times, [10, 10 + 0x0100_0000, 10 + 0x0200_0000]);
        let payloads: Vec<u8> = messages.iter().map(|m| m.payload[0]).collect();
        assert_eq!(payloads, [0x11, 0x22, 0x33]);
    }

    #[test]
    fn format_3_after_format_0_adds_the_format_0_timestamp() {
        // ffmpeg and librtmp read it so (and ffmpeg writes it so when a delta equals the
        // previous absolute timestamp, e.g. 0 then 0)
        let wire = hex!("04 00 00 28 00 00 01 09 01 00 00 00 AA C4 BB");
        let messages = decode_bytewise(ChunkDecoderConfig::default(), &wire);
        let times: Vec<u32> = messages.iter().map(|m| m.timestamp.0).collect();
        assert_eq!(times, [40, 80]);
    }

    #[test]
    fn long_basic_headers_and_interleaving() {
        let mut encoder = ChunkEncoder::new();
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (i, csid) in [2u32, 63, 64, 319, 320, 65599, 64, 2]
            .into_iter()
            .enumerate()
        {
            let m = RawMessage {
                csid: ChunkStreamId(csid),
                timestamp: RtmpTimestamp(i as u32 * 33),
                type_id: MessageType::VIDEO,
                stream_id: MessageStreamId(1),
                payload: Bytes::from(vec![i as u8; 100 + i * 70]),
            };
            encoder.encode_message(&m, &mut wire).unwrap();
            expected.push(m);
        }
        assert_eq!(
            decode_bytewise(ChunkDecoderConfig::default(), &wire),
            expected
        );
    }

    #[test]
    fn set_chunk_size_and_abort_are_applied() {
        let mut wire = Vec::new();
        // Set Chunk Size 200 on csid 2
        wire.extend_from_slice(&hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 C8"));
        // 300-byte message on csid 4: 200 + 100
        wire.extend_from_slice(&hex!("04 00 00 00 00 01 2C 09 01 00 00 00"));
        wire.extend_from_slice(&[7; 200]);
        wire.push(0xC4);
        wire.extend_from_slice(&[7; 100]);
        // start another 300-byte message on csid 4, then abort it
        wire.extend_from_slice(&hex!("C4"));
        wire.extend_from_slice(&[8; 200]);
        wire.extend_from_slice(&hex!("02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 04"));
        // a fresh message via format 3 after the abort
        wire.extend_from_slice(&hex!("C4"));
        wire.extend_from_slice(&[9; 200]);
        wire.extend_from_slice(&hex!("C4"));
        wire.extend_from_slice(&[9; 100]);
        let messages = decode_bytewise(ChunkDecoderConfig::default(), &wire);
        let kinds: Vec<u8> = messages.iter().map(|m| m.type_id.0).collect();
        assert_eq!(kinds, [1, 9, 2, 9]);
        assert_eq!(&messages[1].payload[..], &[7; 300]);
        assert_eq!(&messages[3].payload[..], &[9; 300]);
    }

    #[test]
    fn limits_give_typed_errors() {
        let decode = |config: ChunkDecoderConfig, wire: &[u8]| {
            let mut decoder = ChunkDecoder::new(config);
            let mut input = BytesMut::from(wire);
            loop {
                match decoder.decode(&mut input) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        };
        let config = ChunkDecoderConfig::default();
        assert_eq!(
            decode(config, &hex!("43 00 00 00 00 00 01 08 00")),
            Err(ChunkError::MissingPreviousHeader { csid: 3 })
        );
        assert_eq!(
            decode(config, &hex!("C3 00")),
            Err(ChunkError::MissingPreviousHeader { csid: 3 })
        );
        assert_eq!(
            decode(
                ChunkDecoderConfig {
                    max_message_length: 1000,
                    ..config
                },
                &hex!("03 00 00 00 00 03 E9 09 01 00 00 00")
            ),
            Err(ChunkError::MessageTooLong {
                length: 1001,
                max: 1000
            })
        );
        let mut two_partials = Vec::new();
        for csid in [3u8, 4] {
            two_partials.extend_from_slice(&[csid, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0]);
            two_partials.extend_from_slice(&[0; 128]);
        }
        let one_partial = ChunkDecoderConfig {
            max_partial_messages: 1,
            ..config
        };
        assert_eq!(
            decode(one_partial, &two_partials),
            Err(ChunkError::TooManyPartialMessages { max: 1 })
        );
        assert_eq!(decode(one_partial, &two_partials[..140]), Ok(()));
        assert_eq!(
            decode(
                ChunkDecoderConfig {
                    max_chunk_streams: 1,
                    ..config
                },
                &hex!("03 00 00 00 00 00 00 09 01 00 00 00 04 00 00 00 00 00 00 09 01 00 00 00")
            ),
            Err(ChunkError::TooManyChunkStreams { max: 1 })
        );
        assert_eq!(
            decode(
                config,
                &hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 00")
            ),
            Err(ChunkError::InvalidChunkSize { size: 0 })
        );
        assert_eq!(
            decode(
                config,
                &hex!("02 00 00 00 00 00 04 01 00 00 00 00 80 00 00 80")
            ),
            Err(ChunkError::InvalidChunkSize { size: 0x8000_0080 })
        );
        assert_eq!(
            decode(
                ChunkDecoderConfig {
                    max_chunk_size: 4096,
                    ..config
                },
                &hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 01 00 00")
            ),
            Err(ChunkError::ChunkSizeTooLarge {
                size: 65536,
                max: 4096
            })
        );
        assert_eq!(
            decode(config, &hex!("02 00 00 00 00 00 02 01 00 00 00 00 00 01")),
            Err(ChunkError::MalformedControl {
                type_id: 1,
                length: 2,
                needed: 4
            })
        );
        // sizes above 0xFFFFFF are accepted as 0xFFFFFF
        let mut decoder = ChunkDecoder::new(config);
        let mut input =
            BytesMut::from(&hex!("02 00 00 00 00 00 04 01 00 00 00 00 7F FF FF FF")[..]);
        assert!(decoder.decode(&mut input).unwrap().is_some());
        assert_eq!(decoder.chunk_size(), 0x00FF_FFFF);
    }

    #[test]
    fn single_chunk_messages_share_the_input_buffer() {
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&hex!("03 00 00 00 00 00 04 14 00 00 00 00 DE AD BE EF"));
        let start = wire.as_ptr() as usize;
        let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
        let m = decoder.decode(&mut wire).unwrap().unwrap();
        assert_eq!(m.payload.as_ptr() as usize, start + 12);
    }
}
