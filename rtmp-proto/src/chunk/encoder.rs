//! Chunk stream encoding (RTMP 1.0 §5.3): cuts messages into chunks with the most compact
//! header format the previous message on the same chunk stream allows.

use bytes::{BufMut, BytesMut};

use super::decoder::DEFAULT_CHUNK_SIZE;
use super::header::{put_u24, write_basic_header, EXTENDED_TIMESTAMP, MAX_CSID, MIN_CSID};
use super::{ChunkError, ChunkStreamId, MessageStreamId, MessageType, RawMessage};
use crate::timestamp::RtmpTimestamp;

/// The largest message length the 24-bit length field can carry.
const MAX_MESSAGE_LENGTH: u32 = 0x00FF_FFFF;

/// What the encoder last sent on one chunk stream.
#[derive(Debug, Clone, Copy)]
struct StreamState {
    csid: u32,
    timestamp: u32,
    /// The last timestamp field sent (absolute after format 0, a delta after formats 1/2).
    ts_field: u32,
    /// Whether `ts_field` is a delta: only then may a format 3 header start a new message,
    /// since peers disagree on what a format 3 right after a format 0 means.
    field_is_delta: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Cuts messages into chunks (RTMP 1.0 §5.3.1).
///
/// Per chunk stream it picks header format 0 (new stream id or a timestamp going backwards),
/// 1 (new length or type), 2 (new timestamp delta) or 3 (everything repeats), writes extended
/// timestamps when the field reaches 0xFFFFFF and repeats them in format 3 chunks, as ffmpeg
/// and librtmp expect.
///
/// ```
/// use bytes::BytesMut;
/// use onair_rtmp_proto::{
///     ChunkDecoder, ChunkDecoderConfig, ChunkEncoder, ChunkStreamId, MessageStreamId,
///     MessageType, RtmpTimestamp,
/// };
///
/// let mut encoder = ChunkEncoder::new();
/// let mut wire = BytesMut::new();
/// let payload = vec![7u8; 300];
/// encoder
///     .encode(ChunkStreamId(6), RtmpTimestamp(40), MessageType::VIDEO, MessageStreamId(1), &payload, &mut wire)
///     .unwrap();
/// let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
/// let message = decoder.decode(&mut wire).unwrap().unwrap();
/// assert_eq!(message.timestamp, RtmpTimestamp(40));
/// assert_eq!(&message.payload[..], &payload[..]);
/// ```
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: Vec<StreamState>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder for a fresh connection (chunk size 128).
    #[must_use]
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
        }
    }

    /// The chunk size used for outgoing chunks.
    #[must_use]
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the outgoing chunk size. Send the Set Chunk Size message (encoded with the old
    /// size) first, then call this. Valid sizes are 1 to 0x7FFFFFFF (RTMP 1.0 §5.4.1).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > 0x7FFF_FFFF {
            return Err(ChunkError::InvalidChunkSize { size });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Encodes a [`RawMessage`]; see [`ChunkEncoder::encode`].
    pub fn encode_message(
        &mut self,
        message: &RawMessage,
        out: &mut BytesMut,
    ) -> Result<(), ChunkError> {
        self.encode(
            message.csid,
            message.timestamp,
            message.type_id,
            message.stream_id,
            &message.payload,
            out,
        )
    }

    /// Appends the chunks of one message to `out`.
    ///
    /// Fails, writing nothing, when `csid` is outside 2..=65599 or the payload is longer than
    /// 0xFFFFFF bytes.
    pub fn encode(
        &mut self,
        csid: ChunkStreamId,
        timestamp: RtmpTimestamp,
        type_id: MessageType,
        stream_id: MessageStreamId,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), ChunkError> {
        let csid = csid.0;
        if !(MIN_CSID..=MAX_CSID).contains(&csid) {
            return Err(ChunkError::InvalidChunkStreamId { csid });
        }
        let length = match u32::try_from(payload.len()) {
            Ok(l) if l <= MAX_MESSAGE_LENGTH => l,
            _ => {
                return Err(ChunkError::MessageTooLong {
                    length: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                    max: MAX_MESSAGE_LENGTH,
                })
            }
        };
        let ts = timestamp.0;
        let type_id = type_id.0;
        let stream_id = stream_id.0;
        let index = self.streams.iter().position(|s| s.csid == csid);

        let (fmt, field, field_is_delta) = match index.and_then(|i| self.streams.get(i)) {
            Some(prev) if prev.stream_id == stream_id => {
                let delta = ts.wrapping_sub(prev.timestamp);
                if (delta as i32) < 0 {
                    (0u8, ts, false)
                } else if length != prev.length || type_id != prev.type_id {
                    (1, delta, true)
                } else if prev.field_is_delta && delta == prev.ts_field {
                    (3, delta, true)
                } else {
                    (2, delta, true)
                }
            }
            _ => (0, ts, false),
        };
        let extended = field >= EXTENDED_TIMESTAMP;

        // Continuation chunks: a format 3 basic header (plus the repeated extended timestamp).
        let mut cont_buf = [0u8; 7];
        let mut cont_len = match csid {
            0..64 => {
                cont_buf[0] = 0xC0 | csid as u8;
                1
            }
            64..320 => {
                cont_buf[0] = 0xC0;
                cont_buf[1] = (csid - 64) as u8;
                2
            }
            _ => {
                cont_buf[0] = 0xC1;
                cont_buf[1] = ((csid - 64) & 0xFF) as u8;
                cont_buf[2] = ((csid - 64) >> 8) as u8;
                3
            }
        };
        if extended {
            cont_buf[cont_len..cont_len + 4].copy_from_slice(&field.to_be_bytes());
            cont_len += 4;
        }
        let chunk_size = self.chunk_size as usize;
        let chunks = payload.len().div_ceil(chunk_size).max(1);

        out.reserve(payload.len() + 16 + (chunks - 1) * cont_len);

        write_basic_header(fmt, csid, out);
        let field24 = field.min(EXTENDED_TIMESTAMP);
        match fmt {
            0 => {
                put_u24(out, field24);
                put_u24(out, length);
                out.put_u8(type_id);
                out.put_u32_le(stream_id);
            }
            1 => {
                put_u24(out, field24);
                put_u24(out, length);
                out.put_u8(type_id);
            }
            2 => put_u24(out, field24),
            _ => {}
        }
        if extended {
            out.put_u32(field);
        }

        let cont_header = &cont_buf[..cont_len];

        let mut pieces = payload.chunks(chunk_size);
        if let Some(first) = pieces.next() {
            out.put_slice(first);
        }
        for piece in pieces {
            out.put_slice(cont_header);
            out.put_slice(piece);
        }

        let state = StreamState {
            csid,
            timestamp: ts,
            ts_field: field,
            field_is_delta,
            length,
            type_id,
            stream_id,
        };
        match index.and_then(|i| self.streams.get_mut(i)) {
            Some(slot) => *slot = state,
            None => self.streams.push(state),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkDecoder, ChunkDecoderConfig};
    use hex_literal::hex;

    #[test]
    fn header_format_choice() {
        let mut encoder = ChunkEncoder::new();
        let mut out = BytesMut::new();
        let mut enc = |ts: u32, type_id: u8, sid: u32, len: usize, out: &mut BytesMut| {
            out.clear();
            encoder
                .encode(
                    ChunkStreamId(5),
                    RtmpTimestamp(ts),
                    MessageType(type_id),
                    MessageStreamId(sid),
                    &vec![0; len],
                    out,
                )
                .unwrap();
            out[0] >> 6
        };
        assert_eq!(enc(100, 9, 1, 10, &mut out), 0);
        assert_eq!(&out[..12], &hex!("05 00 00 64 00 00 0A 09 01 00 00 00"));
        // a format 3 right after format 0 is avoided (peers read it differently)
        assert_eq!(enc(200, 9, 1, 10, &mut out), 2);
        assert_eq!(&out[..4], &hex!("85 00 00 64"));
        assert_eq!(enc(300, 9, 1, 10, &mut out), 3);
        assert_eq!(enc(300, 9, 1, 11, &mut out), 1);
        assert_eq!(&out[..8], &hex!("45 00 00 00 00 00 0B 09"));
        assert_eq!(enc(300, 8, 1, 11, &mut out), 1);
        assert_eq!(enc(299, 8, 1, 11, &mut out), 0);
        assert_eq!(enc(299, 8, 2, 11, &mut out), 0);
    }

    #[test]
    fn extended_timestamps_repeat_in_continuations() {
        let mut encoder = ChunkEncoder::new();
        let mut out = BytesMut::new();
        encoder
            .encode(
                ChunkStreamId(4),
                RtmpTimestamp(0x0100_0000),
                MessageType::VIDEO,
                MessageStreamId(1),
                &[0x11; 130],
                &mut out,
            )
            .unwrap();
        let mut expected = hex!("04 FF FF FF 00 00 82 09 01 00 00 00 01 00 00 00").to_vec();
        expected.extend_from_slice(&[0x11; 128]);
        expected.extend_from_slice(&hex!("C4 01 00 00 00 11 11"));
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn errors() {
        let mut encoder = ChunkEncoder::new();
        let mut out = BytesMut::new();
        let r = encoder.encode(
            ChunkStreamId(1),
            RtmpTimestamp(0),
            MessageType::VIDEO,
            MessageStreamId(1),
            &[],
            &mut out,
        );
        assert_eq!(r, Err(ChunkError::InvalidChunkStreamId { csid: 1 }));
        let r = encoder.encode(
            ChunkStreamId(3),
            RtmpTimestamp(0),
            MessageType::VIDEO,
            MessageStreamId(1),
            &vec![0; 0x0100_0000],
            &mut out,
        );
        assert_eq!(
            r,
            Err(ChunkError::MessageTooLong {
                length: 0x0100_0000,
                max: 0x00FF_FFFF
            })
        );
        assert!(out.is_empty());
        assert_eq!(
            encoder.set_chunk_size(0),
            Err(ChunkError::InvalidChunkSize { size: 0 })
        );
        assert_eq!(
            encoder.set_chunk_size(0x8000_0000),
            Err(ChunkError::InvalidChunkSize { size: 0x8000_0000 })
        );
        assert_eq!(encoder.set_chunk_size(4096), Ok(()));
        assert_eq!(encoder.chunk_size(), 4096);
    }

    #[test]
    fn round_trip_across_timestamp_wrap_and_chunk_sizes() {
        let mut encoder = ChunkEncoder::new();
        let mut decoder = ChunkDecoder::new(ChunkDecoderConfig::default());
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        let mut ts = 0xFFFF_FF00u32;
        for i in 0..40u32 {
            if i == 20 {
                let size = 1000;
                let m = RawMessage {
                    csid: ChunkStreamId(2),
                    timestamp: RtmpTimestamp(0),
                    type_id: MessageType::SET_CHUNK_SIZE,
                    stream_id: MessageStreamId(0),
                    payload: bytes::Bytes::copy_from_slice(&u32::to_be_bytes(size)),
                };
                encoder.encode_message(&m, &mut wire).unwrap();
                encoder.set_chunk_size(size).unwrap();
                expected.push(m);
            }
            ts = ts.wrapping_add(if i % 7 == 0 { 0x0100_0000 } else { 33 });
            let m = RawMessage {
                csid: ChunkStreamId(4 + i % 2),
                timestamp: RtmpTimestamp(ts),
                type_id: if i % 2 == 0 {
                    MessageType::VIDEO
                } else {
                    MessageType::AUDIO
                },
                stream_id: MessageStreamId(1),
                payload: bytes::Bytes::from(vec![i as u8; (i as usize * 97) % 2000]),
            };
            encoder.encode_message(&m, &mut wire).unwrap();
            expected.push(m);
        }
        let mut got = Vec::new();
        while let Some(m) = decoder.decode(&mut wire).unwrap() {
            got.push(m);
        }
        assert!(wire.is_empty());
        assert_eq!(got, expected);
    }
}
