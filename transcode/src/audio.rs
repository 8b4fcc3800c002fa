//! The audio every rendition shares: AAC passes through; MP3 and Opus are decoded,
//! converted with swresample (to interleaved float, at most stereo, at the source's rate
//! when AAC has it, else 48 kHz) and encoded to AAC once for all renditions, so that every
//! rendition plays in hls.js and Safari.

use std::collections::VecDeque;

use onair_encoder::{AudioEncoder, AudioEncoderConfig};
use onair_media_types::{CodecConfig, Frame, TrackInfo};
use rsmpeg::avutil::AVFrame;
use rsmpeg::ffi;
use rsmpeg::swresample::SwrContext;

use crate::decode::AudioDecoder;
use crate::{ffi as raw, TranscodeError};

/// The sampling rates AAC's table has (ISO/IEC 14496-3 table 1.18), up to 48 kHz.
const AAC_RATES: [u32; 10] = [
    48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350,
];

/// `AV_CH_FRONT_CENTER`, `AV_CH_FRONT_LEFT | AV_CH_FRONT_RIGHT`.
const LAYOUT_MONO: u64 = 0x4;
const LAYOUT_STEREO: u64 = 0x3;

/// How the source's audio reaches the renditions.
pub(crate) enum AudioPath {
    /// AAC: the frames as they are.
    Passthrough { track: TrackInfo },
    /// MP3 or Opus, re-encoded to AAC.
    Transcode(Box<AudioTranscode>),
}

impl AudioPath {
    /// The path for `track`: passthrough for AAC, a decoder and an AAC encoder for MP3 and
    /// Opus.
    pub(crate) fn new(track: &TrackInfo, bitrate_bps: u64) -> Result<Self, TranscodeError> {
        match &track.config {
            CodecConfig::Aac(_) => Ok(AudioPath::Passthrough {
                track: track.clone(),
            }),
            CodecConfig::Mp3(_) | CodecConfig::Opus(_) => Ok(AudioPath::Transcode(Box::new(
                AudioTranscode::new(track, bitrate_bps)?,
            ))),
            other => Err(TranscodeError::UnsupportedCodec {
                codec: other.codec(),
            }),
        }
    }

    /// The track the renditions carry.
    pub(crate) fn track(&self) -> &TrackInfo {
        match self {
            AudioPath::Passthrough { track } => track,
            AudioPath::Transcode(t) => &t.track_out,
        }
    }
}

/// MP3/Opus to AAC.
pub(crate) struct AudioTranscode {
    decoder: AudioDecoder,
    resampler: Option<(SwrContext, (i32, u64, i32))>,
    encoder: AudioEncoder,
    track_in: TrackInfo,
    track_out: TrackInfo,
    channels: u16,
    rate: u32,
    /// The first input timestamp, in output samples: where the encoder's sample count
    /// starts.
    start: Option<i64>,
    /// Frames the decoder refused.
    pub(crate) refused: u64,
}

impl AudioTranscode {
    fn new(track: &TrackInfo, bitrate_bps: u64) -> Result<Self, TranscodeError> {
        let (rate, channels) = match &track.config {
            CodecConfig::Mp3(c) => (c.sample_rate, c.channels),
            CodecConfig::Opus(c) => (48_000, c.channels),
            _ => (48_000, 2),
        };
        let rate = if AAC_RATES.contains(&rate) {
            rate
        } else {
            48_000
        };
        let channels = u16::from(channels.clamp(1, 2));
        let mut config = AudioEncoderConfig::new(rate, channels, bitrate_bps);
        config.track = track.id;
        let encoder = AudioEncoder::new(config).map_err(TranscodeError::AudioEncoder)?;
        let track_out = encoder.track_info().clone();
        Ok(Self {
            decoder: AudioDecoder::new(track)?,
            resampler: None,
            encoder,
            track_in: track.clone(),
            track_out,
            channels,
            rate,
            start: None,
            refused: 0,
        })
    }

    /// Decodes `frame` and queues the AAC frames that come out.
    pub(crate) fn push(
        &mut self,
        frame: &Frame,
        out: &mut VecDeque<Frame>,
    ) -> Result<(), TranscodeError> {
        if self.start.is_none() {
            self.start = Some(frame.pts_time().rescale(self.rate));
        }
        if !self.decoder.send(frame)? {
            self.refused += 1;
        }
        while let Some(decoded) = self.decoder.receive() {
            self.convert(Some(&decoded))?;
        }
        self.collect(out);
        Ok(())
    }

    /// Drains the decoder, the resampler and the encoder.
    pub(crate) fn flush(&mut self, out: &mut VecDeque<Frame>) -> Result<(), TranscodeError> {
        self.decoder.drain();
        while let Some(decoded) = self.decoder.receive() {
            self.convert(Some(&decoded))?;
        }
        if self.resampler.is_some() {
            self.convert(None)?;
        }
        self.encoder.flush().map_err(TranscodeError::AudioEncoder)?;
        self.collect(out);
        Ok(())
    }

    fn convert(&mut self, input: Option<&AVFrame>) -> Result<(), TranscodeError> {
        let layout = if self.channels == 1 {
            LAYOUT_MONO
        } else {
            LAYOUT_STEREO
        };
        if let Some(input) = input {
            let shape = (
                input.format,
                raw::frame_channel_layout(input),
                input.sample_rate,
            );
            if self.resampler.as_ref().is_none_or(|(_, s)| *s != shape) {
                let mut swr = SwrContext::new(
                    layout,
                    ffi::AVSampleFormat_AV_SAMPLE_FMT_FLT,
                    i32::try_from(self.rate).unwrap_or(48_000),
                    shape.1,
                    shape.0,
                    shape.2,
                )
                .ok_or(TranscodeError::Ffmpeg {
                    op: "swr_alloc_set_opts",
                    code: -1,
                })?;
                swr.init().map_err(TranscodeError::ffmpeg("swr_init"))?;
                self.resampler = Some((swr, shape));
            }
        }
        let Some((swr, _)) = &self.resampler else {
            return Ok(());
        };
        let in_samples = input.map_or(0, |i| i.nb_samples);
        let room = swr.get_out_samples(in_samples).max(0);
        if room == 0 {
            return Ok(());
        }
        let mut converted = AVFrame::new();
        converted.set_format(ffi::AVSampleFormat_AV_SAMPLE_FMT_FLT);
        converted.set_channel_layout(layout);
        converted.set_sample_rate(i32::try_from(self.rate).unwrap_or(48_000));
        converted.set_nb_samples(room);
        converted
            .alloc_buffer()
            .map_err(TranscodeError::ffmpeg("av_frame_get_buffer"))?;
        swr.convert_frame(input, &mut converted)
            .map_err(TranscodeError::ffmpeg("swr_convert_frame"))?;
        let channels =
            usize::try_from(raw::frame_channels(&converted)).unwrap_or(usize::from(self.channels));
        if let Some(samples) = raw::interleaved_f32(&converted, channels) {
            self.encoder
                .push_f32(samples)
                .map_err(TranscodeError::AudioEncoder)?;
        }
        Ok(())
    }

    fn collect(&mut self, out: &mut VecDeque<Frame>) {
        let start = self.start.unwrap_or(0);
        while let Some(mut frame) = self.encoder.poll_frame() {
            frame.pts += start;
            frame.dts += start;
            out.push_back(frame);
        }
    }

    /// The input track.
    pub(crate) fn input(&self) -> &TrackInfo {
        &self.track_in
    }
}
