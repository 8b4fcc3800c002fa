//! The output side that the video and audio encoders share: FFmpeg's send/receive loop, the
//! compressed frames waiting for `poll_frame`, and the end of the stream.

use std::collections::VecDeque;

use onair_media_types::Frame;
use rsmpeg::avcodec::{AVCodecContext, AVPacket};
use rsmpeg::avutil::AVFrame;
use rsmpeg::error::RsmpegError;

use crate::EncoderError;

/// Compressed frames an encoder gave out and the caller has not polled yet.
#[derive(Debug, Default)]
pub(crate) struct EncodedFrames {
    ready: VecDeque<Frame>,
    flushed: bool,
}

impl EncodedFrames {
    /// Fails with [`EncoderError::Flushed`] once the stream has ended.
    pub(crate) fn check_open(&self) -> Result<(), EncoderError> {
        if self.flushed {
            Err(EncoderError::Flushed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn is_flushed(&self) -> bool {
        self.flushed
    }

    /// Frames waiting.
    pub(crate) fn len(&self) -> usize {
        self.ready.len()
    }

    pub(crate) fn pop(&mut self) -> Option<Frame> {
        self.ready.pop_front()
    }

    /// Gives `input` to the encoder (`None`: the end of its stream, after which it gives out
    /// what it still holds) and queues every packet it has ready, made a [`Frame`] by
    /// `to_frame`.
    pub(crate) fn send(
        &mut self,
        ctx: &mut AVCodecContext,
        input: Option<&AVFrame>,
        mut to_frame: impl FnMut(&AVPacket) -> Frame,
    ) -> Result<(), EncoderError> {
        ctx.send_frame(input)
            .map_err(EncoderError::ffmpeg("avcodec_send_frame"))?;
        loop {
            match ctx.receive_packet() {
                Ok(packet) => self.ready.push_back(to_frame(&packet)),
                // EAGAIN: it wants more input; EOF: it gave out everything after the end.
                Err(RsmpegError::EncoderDrainError | RsmpegError::EncoderFlushedError) => {
                    return Ok(())
                }
                Err(e) => return Err(EncoderError::ffmpeg("avcodec_receive_packet")(e)),
            }
        }
    }

    /// Ends the stream, once: the encoder's held-back frames are queued, and later input is
    /// refused ([`check_open`](Self::check_open)). A second call does nothing.
    pub(crate) fn flush(
        &mut self,
        ctx: &mut AVCodecContext,
        to_frame: impl FnMut(&AVPacket) -> Frame,
    ) -> Result<(), EncoderError> {
        if self.flushed {
            return Ok(());
        }
        self.flushed = true;
        self.send(ctx, None, to_frame)
    }
}
