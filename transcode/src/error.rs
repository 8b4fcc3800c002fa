use onair_encoder::EncoderError;
use onair_media_types::CodecId;
use rsmpeg::error::RsmpegError;

use crate::RenditionId;

/// What went wrong in the transcoder. Bad input (corrupt packets, a resolution change) is
/// not an error: it is counted and reported as an [`Event`](crate::Event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// A frame came for a track that was never announced with
    /// [`push_track`](crate::Transcoder::push_track), or the announcement carried no usable
    /// decoder configuration (an AVC/HEVC record without SPS or PPS).
    #[error("track {track} has no decoder configuration")]
    MissingDecoderConfig {
        /// The track.
        track: u32,
    },
    /// The input codec cannot be transcoded (video: H.264, H.265; audio: AAC, MP3, Opus).
    #[error("{codec:?} input is not supported")]
    UnsupportedCodec {
        /// The codec.
        codec: CodecId,
    },
    /// A second video track was announced; the ladder transcodes one.
    #[error("a second video track ({track}) was announced")]
    SecondVideoTrack {
        /// The extra track.
        track: u32,
    },
    /// [`HardwarePolicy::GpuOnly`](crate::HardwarePolicy::GpuOnly) and no GPU encoder
    /// opened; each encoder tried and why it failed.
    #[error("no gpu encoder could be opened (tried {})", tried_list(tried))]
    HardwareUnavailable {
        /// The FFmpeg encoders tried, with their errors.
        tried: Vec<(&'static str, EncoderError)>,
    },
    /// A rendition's encoder failed.
    #[error("rendition {rendition}: {source}")]
    Encoder {
        /// The rendition.
        rendition: RenditionId,
        /// What the encoder said.
        source: EncoderError,
    },
    /// The audio encoder (MP3/Opus to AAC) failed.
    #[error("audio encoder: {0}")]
    AudioEncoder(EncoderError),
    /// An FFmpeg call outside the encoders failed (opening a decoder, a scaler, a
    /// resampler) with an `AVERROR` code (-1 when FFmpeg gave none).
    #[error("ffmpeg {op} failed with error {code}")]
    Ffmpeg {
        /// The operation.
        op: &'static str,
        /// FFmpeg's error code.
        code: i32,
    },
    /// No rendition has this id.
    #[error("no rendition {id}")]
    UnknownRendition {
        /// The id.
        id: RenditionId,
    },
    /// A configuration value is out of range.
    #[error("invalid transcoder configuration: {what}")]
    InvalidConfig {
        /// The field.
        what: &'static str,
    },
    /// A rendition's worker thread stopped unexpectedly.
    #[error("rendition {rendition}: encoder worker stopped")]
    WorkerStopped {
        /// The rendition.
        rendition: RenditionId,
    },
    /// Input after [`flush`](crate::Transcoder::flush).
    #[error("the transcoder was flushed and takes no more input")]
    Flushed,
}

impl TranscodeError {
    pub(crate) fn ffmpeg(op: &'static str) -> impl FnOnce(RsmpegError) -> Self {
        move |e| TranscodeError::Ffmpeg {
            op,
            code: e.raw_error().unwrap_or(-1),
        }
    }
}

/// `h264_nvenc: ffmpeg avcodec_open2 failed with error -1; h264_vaapi: ...`
fn tried_list(tried: &[(&'static str, EncoderError)]) -> String {
    tried
        .iter()
        .map(|(name, e)| format!("{name}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}
