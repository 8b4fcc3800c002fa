//! One FFmpeg decoder per input track: video (H.264, H.265) with corrupt-packet detection,
//! audio (MP3, Opus) for re-encoding to AAC.

use onair_media_types::{CodecConfig, CodecId, Frame, NalUnits, TrackInfo};
use rsmpeg::avcodec::{AVCodec, AVCodecContext};
use rsmpeg::avutil::AVFrame;
use rsmpeg::error::RsmpegError;
use rsmpeg::ffi;

use crate::{ffi as raw, TranscodeError};

/// What became of a frame sent to a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Decoding it.
    Decoding,
    /// Dropped while waiting for a keyframe.
    Skipped,
    /// Malformed, or refused by the decoder: the caller resets and waits for a keyframe.
    Corrupt,
}

/// What a decoder gave back.
pub(crate) enum Received {
    Picture(AVFrame),
    /// A picture the decoder flagged as damaged (concealed errors), or an error.
    Corrupt,
    /// Nothing more until more input.
    Empty,
}

/// Opens FFmpeg's decoder for `codec` with `extradata`.
fn open(
    codec: CodecId,
    extradata: &[u8],
    threads: u32,
    timescale: u32,
    audio: Option<(u32, u32)>,
) -> Result<AVCodecContext, TranscodeError> {
    let id = match codec {
        CodecId::H264 => ffi::AVCodecID_AV_CODEC_ID_H264,
        CodecId::H265 => ffi::AVCodecID_AV_CODEC_ID_HEVC,
        CodecId::Mp3 => ffi::AVCodecID_AV_CODEC_ID_MP3,
        CodecId::Opus => ffi::AVCodecID_AV_CODEC_ID_OPUS,
        CodecId::Aac => ffi::AVCodecID_AV_CODEC_ID_AAC,
        other => return Err(TranscodeError::UnsupportedCodec { codec: other }),
    };
    let decoder = AVCodec::find_decoder(id).ok_or(TranscodeError::UnsupportedCodec { codec })?;
    let mut ctx = AVCodecContext::new(&decoder);
    raw::set_extradata(&mut ctx, extradata)?;
    raw::set_decoder_options(
        &mut ctx,
        i32::try_from(threads).unwrap_or(1),
        i32::try_from(timescale).unwrap_or(1000),
    );
    if let Some((rate, channels)) = audio {
        ctx.set_sample_rate(i32::try_from(rate).unwrap_or(48_000));
        ctx.set_channels(i32::try_from(channels).unwrap_or(2));
    }
    ctx.open(None)
        .map_err(TranscodeError::ffmpeg("avcodec_open2"))?;
    Ok(ctx)
}

/// The decoder of the source's video track.
pub(crate) struct VideoDecoder {
    ctx: AVCodecContext,
    nal_length_size: u8,
    waiting_for_keyframe: bool,
    draining: bool,
}

impl VideoDecoder {
    /// A decoder for `track` (H.264 or H.265 with its decoder configuration record).
    pub(crate) fn new(track: &TrackInfo, threads: u32) -> Result<Self, TranscodeError> {
        let missing = TranscodeError::MissingDecoderConfig { track: track.id.0 };
        let (record, nal_length_size) = match &track.config {
            CodecConfig::Avc(c) => {
                if c.sps.is_empty() || c.pps.is_empty() {
                    return Err(missing);
                }
                (&c.record, c.nal_length_size)
            }
            CodecConfig::Hevc(c) => {
                if c.sps.is_empty() || c.pps.is_empty() {
                    return Err(missing);
                }
                (&c.record, c.nal_length_size)
            }
            other => {
                return Err(TranscodeError::UnsupportedCodec {
                    codec: other.codec(),
                })
            }
        };
        let ctx = open(track.config.codec(), record, threads, track.timescale, None)?;
        Ok(Self {
            ctx,
            nal_length_size,
            waiting_for_keyframe: true,
            draining: false,
        })
    }

    /// Whether the payload is well-formed length-prefixed NAL units.
    fn well_formed(&self, data: &[u8]) -> bool {
        let mut units = NalUnits::new(data, self.nal_length_size);
        let mut any = false;
        for unit in units.by_ref() {
            // An empty unit or a set forbidden_zero_bit is not H.264/H.265.
            if unit.first().is_none_or(|b| b & 0x80 != 0) {
                return false;
            }
            any = true;
        }
        any && !units.is_truncated()
    }

    /// Sends one frame (in decode order).
    pub(crate) fn send(&mut self, frame: &Frame) -> Result<Sent, TranscodeError> {
        if self.waiting_for_keyframe {
            if !frame.keyframe {
                return Ok(Sent::Skipped);
            }
            self.waiting_for_keyframe = false;
        }
        if !self.well_formed(&frame.data) {
            return Ok(Sent::Corrupt);
        }
        let packet = raw::packet(&frame.data, frame.pts, frame.dts, frame.keyframe)?;
        match self.ctx.send_packet(Some(&packet)) {
            Ok(()) => Ok(Sent::Decoding),
            Err(RsmpegError::SendPacketError(_)) => Ok(Sent::Corrupt),
            // Never full: every send is followed by receiving until empty.
            Err(RsmpegError::DecoderFullError) => Ok(Sent::Corrupt),
            Err(e) => Err(TranscodeError::ffmpeg("avcodec_send_packet")(e)),
        }
    }

    /// The next decoded picture.
    pub(crate) fn receive(&mut self) -> Received {
        match self.ctx.receive_frame() {
            Ok(picture) => {
                let damaged = picture.decode_error_flags != 0
                    || picture.flags & ffi::AV_FRAME_FLAG_CORRUPT as i32 != 0;
                if damaged {
                    Received::Corrupt
                } else {
                    Received::Picture(picture)
                }
            }
            Err(RsmpegError::DecoderDrainError | RsmpegError::DecoderFlushedError) => {
                Received::Empty
            }
            Err(_) => Received::Corrupt,
        }
    }

    /// Forgets everything in flight and waits for the next keyframe.
    pub(crate) fn reset(&mut self) {
        raw::flush_decoder(&mut self.ctx);
        self.waiting_for_keyframe = true;
        self.draining = false;
    }

    /// Asks for the pictures still held (reordering, frame threads); receive until empty.
    pub(crate) fn drain(&mut self) {
        if !self.draining {
            self.draining = true;
            let _ = self.ctx.send_packet(None);
        }
    }

    /// The frame rate the bitstream declares (H.264/H.265 VUI timing), if any.
    pub(crate) fn frame_rate(&self) -> Option<(u32, u32)> {
        let r = self.ctx.framerate;
        let (num, den) = (u32::try_from(r.num).ok()?, u32::try_from(r.den).ok()?);
        (num > 0 && den > 0 && num / den <= 240).then_some((num, den))
    }
}

/// The decoder of an MP3 or Opus audio track.
pub(crate) struct AudioDecoder {
    ctx: AVCodecContext,
}

impl AudioDecoder {
    pub(crate) fn new(track: &TrackInfo) -> Result<Self, TranscodeError> {
        let (extradata, audio): (&[u8], _) = match &track.config {
            CodecConfig::Mp3(c) => (&[], Some((c.sample_rate, u32::from(c.channels)))),
            CodecConfig::Opus(c) => (&c.record, Some((48_000, u32::from(c.channels.max(1))))),
            CodecConfig::Aac(c) => (&c.record, None),
            other => {
                return Err(TranscodeError::UnsupportedCodec {
                    codec: other.codec(),
                })
            }
        };
        let ctx = open(track.config.codec(), extradata, 1, track.timescale, audio)?;
        Ok(Self { ctx })
    }

    /// Sends one frame; `false` if the decoder refused it.
    pub(crate) fn send(&mut self, frame: &Frame) -> Result<bool, TranscodeError> {
        let packet = raw::packet(&frame.data, frame.pts, frame.dts, true)?;
        match self.ctx.send_packet(Some(&packet)) {
            Ok(()) => Ok(true),
            Err(RsmpegError::SendPacketError(_) | RsmpegError::DecoderFullError) => Ok(false),
            Err(e) => Err(TranscodeError::ffmpeg("avcodec_send_packet")(e)),
        }
    }

    /// Ends the input; receive until `None`.
    pub(crate) fn drain(&mut self) {
        let _ = self.ctx.send_packet(None);
    }

    /// The next decoded block of samples.
    pub(crate) fn receive(&mut self) -> Option<AVFrame> {
        self.ctx.receive_frame().ok()
    }
}
