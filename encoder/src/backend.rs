//! Which FFmpeg encoder implements a codec (the software libraries or a GPU), the private
//! options each of them takes for onair's settings, and the pictures they accept.

use std::ffi::CString;

use rsmpeg::avcodec::AVCodecContext;
use rsmpeg::avutil::AVFrame;
use rsmpeg::ffi;
use rsmpeg::swscale::SwsContext;

use crate::hwframes::{self, HwFrames};
use crate::{ffi as raw, EncoderError, VideoCodec, VideoEncoderConfig};

/// The implementation that encodes, for [`VideoEncoderConfig::backend`].
///
/// FFmpeg builds (Debian's among them) carry the GPU wrappers whether or not the machine has
/// the GPU: finding the encoder succeeds and only opening it tells (`Cannot load
/// libcuda.so.1`, no VA-API device, no MFX session), as an [`EncoderError::Ffmpeg`] from
/// `avcodec_open2` (or `av_hwdevice_ctx_create` for VA-API). A caller that wants a fallback
/// opens the software encoder then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VideoBackend {
    /// libx264 / libx265 on the CPU.
    #[default]
    Software,
    /// NVIDIA NVENC (`h264_nvenc` / `hevc_nvenc`): pictures go in from system memory.
    Nvenc,
    /// VA-API (`h264_vaapi` / `hevc_vaapi`, Intel and AMD GPUs through the default DRM
    /// render node): pictures are converted to NV12 and uploaded to GPU surfaces.
    Vaapi,
    /// Intel Quick Sync (`h264_qsv` / `hevc_qsv`): pictures are converted to NV12 and go in
    /// from system memory.
    Qsv,
}

impl VideoBackend {
    /// The GPU backends, in the order a fallback tries them.
    pub const GPUS: [VideoBackend; 3] =
        [VideoBackend::Nvenc, VideoBackend::Vaapi, VideoBackend::Qsv];

    /// The FFmpeg encoder of `codec` in this backend.
    pub fn encoder_name(self, codec: VideoCodec) -> &'static str {
        match (self, codec) {
            (VideoBackend::Software, c) => c.encoder_name(),
            (VideoBackend::Nvenc, VideoCodec::H264) => "h264_nvenc",
            (VideoBackend::Nvenc, VideoCodec::H265) => "hevc_nvenc",
            (VideoBackend::Vaapi, VideoCodec::H264) => "h264_vaapi",
            (VideoBackend::Vaapi, VideoCodec::H265) => "hevc_vaapi",
            (VideoBackend::Qsv, VideoCodec::H264) => "h264_qsv",
            (VideoBackend::Qsv, VideoCodec::H265) => "hevc_qsv",
        }
    }

    /// Whether this is a GPU encoder.
    pub fn is_hardware(self) -> bool {
        self != VideoBackend::Software
    }
}

fn c_string(what: &'static str, s: &str) -> Result<CString, EncoderError> {
    CString::new(s).map_err(|_| EncoderError::InvalidConfig { what, value: 0 })
}

/// libx264's and libx265's preset names mapped onto NVENC's `p1` (fastest) to `p7`.
fn nvenc_preset(preset: &str) -> &'static str {
    match preset {
        "ultrafast" | "superfast" => "p1",
        "veryfast" => "p2",
        "faster" => "p3",
        "fast" => "p4",
        "medium" => "p5",
        "slow" => "p6",
        _ => "p7",
    }
}

/// Quick Sync's presets run from `veryfast` to `veryslow`.
fn qsv_preset(preset: &str) -> &'static str {
    match preset {
        "ultrafast" | "superfast" | "veryfast" => "veryfast",
        "faster" => "faster",
        "fast" => "fast",
        "medium" => "medium",
        "slow" => "slow",
        "slower" => "slower",
        _ => "veryslow",
    }
}

/// The private options of the encoder `config` names, as (key, value) strings.
pub(crate) fn private_options(
    config: &VideoEncoderConfig,
    x265_level: Option<u8>,
) -> Result<Vec<(CString, CString)>, EncoderError> {
    let mut options: Vec<(&str, String)> = Vec::new();
    match config.backend {
        VideoBackend::Software => {
            options.push(("preset", config.preset.clone()));
            options.push(("forced-idr", "1".into()));
            if config.zerolatency {
                options.push(("tune", "zerolatency".into()));
            }
            match config.codec {
                VideoCodec::H264 => {
                    // no scene-cut keyframes: IDRs come every `gop` frames or when forced
                    let mut params = String::from("scenecut=0");
                    if config.constant_frame_rate {
                        params.push_str(":force-cfr=1");
                    }
                    if config.sliced_threads {
                        params.push_str(":sliced-threads=1");
                    }
                    options.push(("x264-params", params));
                    if let Some(frames) = config.lookahead {
                        options.push(("rc-lookahead", frames.to_string()));
                    }
                    if let Some(level) = &config.level {
                        options.push(("level", level.clone()));
                    }
                }
                VideoCodec::H265 => {
                    options.push(("x265-params", crate::video::x265_params(config, x265_level)));
                }
            }
            if let Some(profile) = &config.profile {
                options.push(("profile", profile.clone()));
            }
        }
        VideoBackend::Nvenc => {
            options.push(("preset", nvenc_preset(&config.preset).into()));
            options.push(("forced-idr", "1".into()));
            options.push(("no-scenecut", "1".into()));
            options.push(("rc", "vbr".into()));
            if config.zerolatency {
                options.push(("zerolatency", "1".into()));
                options.push(("tune", "ll".into()));
            }
            if let Some(frames) = config.lookahead {
                options.push(("rc-lookahead", frames.to_string()));
            }
            push_profile_level(&mut options, config);
        }
        VideoBackend::Qsv => {
            options.push(("preset", qsv_preset(&config.preset).into()));
            options.push(("forced_idr", "1".into()));
            push_profile_level(&mut options, config);
        }
        VideoBackend::Vaapi => {
            // VA-API makes an IDR of every picture sent as an I picture; its profile and
            // level come from the codec context.
        }
    }
    options
        .into_iter()
        .map(|(k, v)| Ok((c_string("option", k)?, c_string("option value", &v)?)))
        .collect()
}

fn push_profile_level(options: &mut Vec<(&str, String)>, config: &VideoEncoderConfig) {
    if let Some(profile) = &config.profile {
        options.push(("profile", profile.clone()));
    }
    if let Some(level) = &config.level {
        options.push(("level", level.clone()));
    }
}

/// What a backend needs done to a YUV 4:2:0 picture before it goes in.
pub(crate) enum PictureInput {
    /// Sent as it is.
    Direct,
    /// Converted to NV12 (Quick Sync).
    Nv12 { sws: SwsContext, nv12: AVFrame },
    /// Converted to NV12 and uploaded to a VA-API surface.
    Upload {
        sws: SwsContext,
        nv12: AVFrame,
        frames: HwFrames,
    },
}

impl std::fmt::Debug for PictureInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PictureInput::Direct => "Direct",
            PictureInput::Nv12 { .. } => "Nv12",
            PictureInput::Upload { .. } => "Upload",
        })
    }
}

fn nv12_converter(width: i32, height: i32) -> Result<(SwsContext, AVFrame), EncoderError> {
    let sws = SwsContext::get_context(
        width,
        height,
        ffi::AVPixelFormat_AV_PIX_FMT_YUV420P,
        width,
        height,
        ffi::AVPixelFormat_AV_PIX_FMT_NV12,
        ffi::SWS_POINT,
    )
    .ok_or(EncoderError::Ffmpeg {
        op: "sws_getContext",
        code: -1,
    })?;
    let mut nv12 = AVFrame::new();
    nv12.set_width(width);
    nv12.set_height(height);
    nv12.set_format(ffi::AVPixelFormat_AV_PIX_FMT_NV12);
    nv12.alloc_buffer()
        .map_err(EncoderError::ffmpeg("av_frame_get_buffer"))?;
    Ok((sws, nv12))
}

/// Sets the pixel format (and for VA-API the GPU surfaces) of a context before it is opened,
/// and returns how pictures go in.
pub(crate) fn prepare_input(
    ctx: &mut AVCodecContext,
    backend: VideoBackend,
) -> Result<PictureInput, EncoderError> {
    let (w, h) = (ctx.width, ctx.height);
    match backend {
        VideoBackend::Software | VideoBackend::Nvenc => {
            ctx.set_pix_fmt(ffi::AVPixelFormat_AV_PIX_FMT_YUV420P);
            Ok(PictureInput::Direct)
        }
        VideoBackend::Qsv => {
            ctx.set_pix_fmt(ffi::AVPixelFormat_AV_PIX_FMT_NV12);
            let (sws, nv12) = nv12_converter(w, h)?;
            Ok(PictureInput::Nv12 { sws, nv12 })
        }
        VideoBackend::Vaapi => {
            let frames = HwFrames::vaapi_nv12(w, h)?;
            ctx.set_pix_fmt(ffi::AVPixelFormat_AV_PIX_FMT_VAAPI);
            hwframes::attach(ctx, &frames)?;
            let (sws, nv12) = nv12_converter(w, h)?;
            Ok(PictureInput::Upload { sws, nv12, frames })
        }
    }
}

impl PictureInput {
    /// Hands `picture` (YUV 4:2:0, timestamps and picture type already set) to `send` in
    /// the form the backend takes.
    pub(crate) fn with_prepared<R>(
        &mut self,
        picture: &AVFrame,
        send: impl FnOnce(&AVFrame) -> Result<R, EncoderError>,
    ) -> Result<R, EncoderError> {
        match self {
            PictureInput::Direct => send(picture),
            PictureInput::Nv12 { sws, nv12 } => {
                convert(sws, picture, nv12)?;
                send(nv12)
            }
            PictureInput::Upload { sws, nv12, frames } => {
                convert(sws, picture, nv12)?;
                let surface = frames.upload(nv12)?;
                send(&surface)
            }
        }
    }
}

fn convert(
    sws: &mut SwsContext,
    picture: &AVFrame,
    nv12: &mut AVFrame,
) -> Result<(), EncoderError> {
    nv12.make_writable()
        .map_err(EncoderError::ffmpeg("av_frame_make_writable"))?;
    sws.scale_frame(picture, 0, picture.height, nv12)
        .map_err(EncoderError::ffmpeg("sws_scale"))?;
    nv12.set_pts(picture.pts);
    nv12.set_pict_type(picture.pict_type);
    Ok(())
}

/// Applies the settings rsmpeg has no setter for: threads and the VBV.
pub(crate) fn apply_context_settings(
    ctx: &mut AVCodecContext,
    config: &VideoEncoderConfig,
) -> Result<(), EncoderError> {
    let invalid = |what, value: u64| EncoderError::InvalidConfig {
        what,
        value: i64::try_from(value).unwrap_or(i64::MAX),
    };
    let max_rate = config.max_bitrate_bps.unwrap_or(config.bitrate_bps);
    let buffer = config.buffer_size_bits.unwrap_or(max_rate);
    let max_rate = i64::try_from(max_rate).map_err(|_| invalid("max_bitrate_bps", max_rate))?;
    let buffer = i32::try_from(buffer).map_err(|_| invalid("buffer_size_bits", buffer))?;
    raw::set_vbv(ctx, max_rate, buffer);
    if config.threads > 0 {
        let threads =
            i32::try_from(config.threads).map_err(|_| invalid("threads", config.threads.into()))?;
        hwframes::set_thread_count(ctx, threads);
    }
    Ok(())
}
