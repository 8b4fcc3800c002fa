use bytes::Bytes;
use onair_media_types::{AacConfig, CodecConfig, CodecId, Frame, TrackId, TrackInfo};
use rsmpeg::avcodec::{AVCodec, AVCodecContext, AVPacket};
use rsmpeg::avutil::{ra, AVFrame};
use rsmpeg::ffi;

use crate::queue::EncodedFrames;
use crate::{ffi as raw, EncoderError};

/// `AV_CH_FRONT_CENTER` (bindgen does not see FFmpeg's layout macros).
const LAYOUT_MONO: u64 = 0x4;
/// `AV_CH_FRONT_LEFT | AV_CH_FRONT_RIGHT`.
const LAYOUT_STEREO: u64 = 0x3;

/// How [`AudioEncoder`] compresses sound (AAC-LC with FFmpeg's native encoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioEncoderConfig {
    /// Samples per second per channel (one of the AAC rates, e.g. 44100 or 48000).
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo).
    pub channels: u16,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u64,
    /// The track id put on the [`TrackInfo`] and every [`Frame`]; default 2.
    pub track: TrackId,
}

impl AudioEncoderConfig {
    /// A configuration for track 2.
    pub fn new(sample_rate: u32, channels: u16, bitrate_bps: u64) -> Self {
        Self {
            sample_rate,
            channels,
            bitrate_bps,
            track: TrackId(2),
        }
    }
}

/// An AAC-LC encoder (FFmpeg's native `aac`): interleaved PCM in, [`Frame`]s out.
///
/// PCM of any length goes in with [`push_f32`](Self::push_f32) or
/// [`push_s16`](Self::push_s16); it is cut into the encoder's frames of
/// [`frame_size`](Self::frame_size) samples per channel, and the compressed frames are
/// drained with [`poll_frame`](Self::poll_frame) until it returns `None`. At the end,
/// [`flush`](Self::flush) encodes the last partial frame (padded with silence) and the
/// encoder's delay.
///
/// Timestamps are in samples ([`TrackInfo::timescale`] is the sample rate) and count the
/// samples pushed, starting at 0. The first output frame is at 0 and decodes to the encoder's
/// priming ([`priming_samples`](Self::priming_samples), 1024): the decoded sound is that
/// much later than the input's sample count says (21 ms at 48 kHz), which FLV cannot express
/// otherwise, as it has no negative timestamps or edit lists.
pub struct AudioEncoder {
    ctx: AVCodecContext,
    config: AudioEncoderConfig,
    track: TrackInfo,
    frame_size: usize,
    priming: i64,
    /// Samples not yet sent, one queue per channel (planar float, the encoder's format).
    pending: Vec<Vec<f32>>,
    /// Samples sent to the encoder so far (the PTS of the next frame).
    sent: i64,
    out: EncodedFrames,
}

impl std::fmt::Debug for AudioEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioEncoder")
            .field("config", &self.config)
            .field("sent", &self.sent)
            .field("queued", &self.out.len())
            .field("flushed", &self.out.is_flushed())
            .finish_non_exhaustive()
    }
}

impl AudioEncoder {
    /// Opens FFmpeg's AAC encoder with `config`.
    ///
    /// Fails with [`EncoderError::InvalidConfig`] for other than 1 or 2 channels or a zero
    /// rate, and [`EncoderError::Ffmpeg`] if the encoder refuses the settings (e.g. a rate
    /// AAC has no index for).
    pub fn new(config: AudioEncoderConfig) -> Result<Self, EncoderError> {
        let layout = match config.channels {
            1 => LAYOUT_MONO,
            2 => LAYOUT_STEREO,
            n => {
                return Err(EncoderError::InvalidConfig {
                    what: "channels",
                    value: n.into(),
                })
            }
        };
        let rate = i32::try_from(config.sample_rate)
            .ok()
            .filter(|r| *r > 0)
            .ok_or(EncoderError::InvalidConfig {
                what: "sample_rate",
                value: config.sample_rate.into(),
            })?;
        let bitrate = i64::try_from(config.bitrate_bps)
            .ok()
            .filter(|b| *b > 0)
            .ok_or(EncoderError::InvalidConfig {
                what: "bitrate_bps",
                value: i64::try_from(config.bitrate_bps).unwrap_or(i64::MAX),
            })?;
        raw::route_log_to_tracing();
        let codec = AVCodec::find_encoder_by_name(c"aac")
            .ok_or(EncoderError::EncoderNotFound { name: "aac" })?;
        let mut ctx = AVCodecContext::new(&codec);
        ctx.set_sample_rate(rate);
        ctx.set_channel_layout(layout);
        ctx.set_channels(config.channels.into());
        ctx.set_sample_fmt(ffi::AVSampleFormat_AV_SAMPLE_FMT_FLTP);
        ctx.set_time_base(ra(1, rate));
        ctx.set_bit_rate(bitrate);
        ctx.set_flags(ctx.flags | ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32);
        ctx.open(None)
            .map_err(EncoderError::ffmpeg("avcodec_open2"))?;

        let extradata = raw::extradata(&ctx);
        if extradata.is_empty() {
            return Err(EncoderError::MissingExtradata);
        }
        let track = TrackInfo {
            id: config.track,
            timescale: config.sample_rate,
            config: CodecConfig::Aac(AacConfig::parse(Bytes::copy_from_slice(extradata))?),
        };
        let frame_size = usize::try_from(ctx.frame_size)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(1024);
        let priming = i64::from(ctx.initial_padding.max(0));
        Ok(Self {
            ctx,
            pending: vec![Vec::with_capacity(frame_size * 2); usize::from(config.channels)],
            config,
            track,
            frame_size,
            priming,
            sent: 0,
            out: EncodedFrames::default(),
        })
    }

    /// The track description: id, timescale (the sample rate) and the AudioSpecificConfig to
    /// send before the first frame, e.g. as the FLV sequence header.
    pub fn track_info(&self) -> &TrackInfo {
        &self.track
    }

    /// The configuration the encoder was opened with.
    pub fn config(&self) -> &AudioEncoderConfig {
        &self.config
    }

    /// Samples per channel in each compressed frame (1024 for AAC-LC).
    pub fn frame_size(&self) -> usize {
        self.frame_size
    }

    /// Samples of encoder delay at the start of the stream (see the type's docs).
    pub fn priming_samples(&self) -> i64 {
        self.priming
    }

    /// Adds interleaved float samples (nominally -1.0..=1.0), any number of whole sample
    /// frames (a multiple of the channel count).
    pub fn push_f32(&mut self, interleaved: &[f32]) -> Result<(), EncoderError> {
        self.push(interleaved, |s| s)
    }

    /// Adds interleaved signed 16-bit samples, any number of whole sample frames (a multiple
    /// of the channel count).
    pub fn push_s16(&mut self, interleaved: &[i16]) -> Result<(), EncoderError> {
        self.push(interleaved, |s| f32::from(s) / 32768.0)
    }

    fn push<T: Copy>(
        &mut self,
        interleaved: &[T],
        to_f32: impl Fn(T) -> f32,
    ) -> Result<(), EncoderError> {
        self.out.check_open()?;
        let channels = self.pending.len();
        if interleaved.len() % channels != 0 {
            return Err(EncoderError::InvalidInput {
                what: "samples (not a multiple of the channel count)",
                expected: interleaved.len() - interleaved.len() % channels,
                got: interleaved.len(),
            });
        }
        for frame in interleaved.chunks_exact(channels) {
            for (queue, sample) in self.pending.iter_mut().zip(frame) {
                queue.push(to_f32(*sample));
            }
            if self.pending[0].len() == self.frame_size {
                self.send_pending()?;
            }
        }
        Ok(())
    }

    /// Ends the stream: encodes the samples still buffered (padded with silence to a whole
    /// frame by FFmpeg) and drains the encoder, queueing the frames for
    /// [`poll_frame`](Self::poll_frame). Later input is refused with
    /// [`EncoderError::Flushed`]; flushing twice does nothing.
    pub fn flush(&mut self) -> Result<(), EncoderError> {
        if self.out.is_flushed() {
            return Ok(());
        }
        if !self.pending[0].is_empty() {
            self.send_pending()?;
        }
        let (config, priming) = (&self.config, self.priming);
        self.out
            .flush(&mut self.ctx, |packet| audio_frame(config, priming, packet))
    }

    /// The next compressed frame. Call after each push and after [`flush`](Self::flush)
    /// until it returns `None`.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.out.pop()
    }

    fn send_pending(&mut self) -> Result<(), EncoderError> {
        let samples = self.pending[0].len();
        let mut frame = AVFrame::new();
        frame.set_format(ffi::AVSampleFormat_AV_SAMPLE_FMT_FLTP);
        frame.set_nb_samples(i32::try_from(samples).unwrap_or(i32::MAX));
        frame.set_channel_layout(self.ctx.channel_layout);
        frame.set_sample_rate(self.ctx.sample_rate);
        frame.set_pts(self.sent);
        frame
            .alloc_buffer()
            .map_err(EncoderError::ffmpeg("av_frame_get_buffer"))?;
        for (channel, queue) in self.pending.iter_mut().enumerate() {
            let plane = raw::audio_plane_mut(&mut frame, channel).ok_or(EncoderError::Ffmpeg {
                op: "av_frame_get_buffer",
                code: -1,
            })?;
            plane.copy_from_slice(queue);
            queue.clear();
        }
        self.sent += i64::try_from(samples).unwrap_or(i64::MAX);
        let (config, priming) = (&self.config, self.priming);
        self.out.send(&mut self.ctx, Some(&frame), |packet| {
            audio_frame(config, priming, packet)
        })
    }
}

/// A packet of the encoder as a [`Frame`]. FFmpeg dates the first packet at minus the priming
/// (its decoded sound starts with that much delay); the frames start at 0 instead.
fn audio_frame(config: &AudioEncoderConfig, priming: i64, packet: &AVPacket) -> Frame {
    let pts = packet.pts + priming;
    Frame {
        track: config.track,
        codec: CodecId::Aac,
        timescale: config.sample_rate,
        dts: pts,
        pts,
        keyframe: true,
        data: Bytes::copy_from_slice(raw::packet_data(packet)),
    }
}
