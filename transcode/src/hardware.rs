//! Opening a rung's encoder under the [`HardwarePolicy`]: GPU encoders are tried where
//! FFmpeg has them, and a failure to open is the moment to fall back (FFmpeg finds its GPU
//! wrappers on machines without the GPU; only opening tells).

use onair_encoder::{EncoderError, FrameRate, VideoBackend, VideoEncoder, VideoEncoderConfig};

use crate::{HardwarePolicy, TranscodeError};

/// The encoders tried, with their errors.
pub(crate) type Attempts = Vec<(&'static str, EncoderError)>;

/// What opening under a policy gave.
pub(crate) struct Opened {
    pub(crate) encoder: VideoEncoder,
    /// GPU encoders that failed before this one opened (empty when none was tried or the
    /// first worked).
    pub(crate) failed: Attempts,
}

/// Finds which GPU backend opens on this machine, with a small picture: `Ok(Some)` for the
/// first that does, `Ok(None)` with the attempts when none does.
pub(crate) fn probe(template: &VideoEncoderConfig) -> (Option<VideoBackend>, Attempts) {
    let mut tried = Vec::new();
    for backend in VideoBackend::GPUS {
        let mut config = template.clone();
        config.backend = backend;
        config.width = 256;
        config.height = 144;
        config.fps = FrameRate::new(30, 1);
        config.bitrate_bps = 300_000;
        match VideoEncoder::new(config) {
            Ok(_) => return (Some(backend), tried),
            Err(EncoderError::EncoderNotFound { .. }) => {}
            Err(e) => tried.push((backend.encoder_name(template.codec), e)),
        }
    }
    (None, tried)
}

/// Why an encoder did not open.
pub(crate) enum OpenError {
    /// The software encoder refused the settings.
    Encoder(EncoderError),
    /// `GpuOnly` and the GPU encoder did not open.
    NoGpu(Attempts),
}

impl OpenError {
    pub(crate) fn for_rendition(self, rendition: crate::RenditionId) -> TranscodeError {
        match self {
            OpenError::Encoder(source) => TranscodeError::Encoder { rendition, source },
            OpenError::NoGpu(tried) => TranscodeError::HardwareUnavailable { tried },
        }
    }
}

/// Opens `config`'s encoder on `gpu` (the backend the probe found) under `policy`.
pub(crate) fn open(
    config: VideoEncoderConfig,
    policy: HardwarePolicy,
    gpu: Option<VideoBackend>,
) -> Result<Opened, OpenError> {
    let software = |mut config: VideoEncoderConfig, failed| {
        config.backend = VideoBackend::Software;
        VideoEncoder::new(config)
            .map(|encoder| Opened { encoder, failed })
            .map_err(OpenError::Encoder)
    };
    let Some(gpu) = gpu.filter(|_| policy != HardwarePolicy::Cpu) else {
        return match policy {
            HardwarePolicy::GpuOnly => Err(OpenError::NoGpu(Vec::new())),
            _ => software(config, Vec::new()),
        };
    };
    let mut on_gpu = config.clone();
    on_gpu.backend = gpu;
    match VideoEncoder::new(on_gpu) {
        Ok(encoder) => Ok(Opened {
            encoder,
            failed: Vec::new(),
        }),
        Err(e) => {
            let failed = vec![(gpu.encoder_name(config.codec), e)];
            match policy {
                HardwarePolicy::GpuOnly => Err(OpenError::NoGpu(failed)),
                _ => software(config, failed),
            }
        }
    }
}
