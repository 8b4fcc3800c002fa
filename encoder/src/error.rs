use onair_media_types::ConfigError;
use rsmpeg::error::RsmpegError;

/// What went wrong while setting up or running an encoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncoderError {
    /// The FFmpeg build has no encoder of this name (e.g. built without libx264).
    #[error("ffmpeg has no encoder named {name}")]
    EncoderNotFound {
        /// The encoder asked for.
        name: &'static str,
    },
    /// A configuration value is out of the range the encoder accepts.
    #[error("invalid encoder configuration: {what} = {value}")]
    InvalidConfig {
        /// The field.
        what: &'static str,
        /// The value given.
        value: i64,
    },
    /// The libx264/libx265 preset is not one of `ultrafast`, `superfast`, `veryfast`,
    /// `faster`, `fast`, `medium`, `slow`, `slower`, `veryslow`, `placebo`.
    #[error("unknown encoder preset")]
    UnknownPreset,
    /// The operation is not available for this codec or configuration (e.g. changing the
    /// bitrate of libx265 with B-frames).
    #[error("not supported: {what}")]
    Unsupported {
        /// The operation.
        what: &'static str,
    },
    /// A raw input frame does not match the configured format.
    #[error("invalid input: {what} is {got}, expected {expected}")]
    InvalidInput {
        /// What does not match (a dimension, a plane size, a stride).
        what: &'static str,
        /// What the encoder needs.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// An FFmpeg call failed with an `AVERROR` code (negative; -1 when FFmpeg gave none).
    #[error("ffmpeg {op} failed with error {code}")]
    Ffmpeg {
        /// The operation that failed (`"avcodec_open2"`, `"send_frame"`, ...).
        op: &'static str,
        /// FFmpeg's error code.
        code: i32,
    },
    /// The encoder gave no global header (extradata) to build the codec configuration from.
    #[error("the encoder produced no codec configuration (extradata)")]
    MissingExtradata,
    /// The encoder's global header could not be read as a codec configuration.
    #[error("the encoder's codec configuration is malformed: {0}")]
    Config(#[from] ConfigError),
    /// Input arrived after [`flush`](crate::VideoEncoder::flush): the encoder is finished.
    #[error("the encoder was flushed and takes no more input")]
    Flushed,
}

impl EncoderError {
    pub(crate) fn ffmpeg(op: &'static str) -> impl FnOnce(RsmpegError) -> Self {
        move |e| EncoderError::Ffmpeg {
            op,
            code: e.raw_error().unwrap_or(-1),
        }
    }
}
