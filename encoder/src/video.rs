use std::ffi::CString;

use onair_media_types::{CodecConfig, CodecId, Frame, TrackId, TrackInfo};
use rsmpeg::avcodec::{AVCodec, AVCodecContext, AVPacket};
use rsmpeg::avutil::{ra, AVFrame};
use rsmpeg::ffi;

use crate::backend::{self, PictureInput};
use crate::queue::EncodedFrames;
use crate::{ffi as raw, hevc, nal, EncoderError, VideoBackend};

/// Ticks per second of the timestamps [`VideoEncoder`] takes and gives: 90 kHz, the MPEG
/// clock, so that frame times of common rates (including 30000/1001) are exact integers.
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// libx264's presets (libx265 has the same names), fastest first.
const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// A frame rate as a fraction, e.g. `30/1` or `30000/1001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    /// Frames ...
    pub num: u32,
    /// ... per this many seconds.
    pub den: u32,
}

impl FrameRate {
    /// `num / den` frames per second.
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// The duration of one frame in [`VIDEO_TIMESCALE`] ticks, rounded down (0 for a rate of
    /// 0).
    pub fn frame_duration(self) -> i64 {
        if self.num == 0 {
            return 0;
        }
        i64::from(VIDEO_TIMESCALE) * i64::from(self.den) / i64::from(self.num)
    }
}

/// The compression format [`VideoEncoder`] produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VideoCodec {
    /// H.264 / AVC with libx264: the classic RTMP/FLV video codec every peer takes.
    #[default]
    H264,
    /// H.265 / HEVC with libx265, for peers that announce it in Enhanced RTMP's
    /// `fourCcList` (`hvc1`); about the same quality at a lower bitrate, at more CPU.
    H265,
}

impl VideoCodec {
    /// The FFmpeg encoder behind it.
    pub fn encoder_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "libx264",
            VideoCodec::H265 => "libx265",
        }
    }

    /// The codec id put on the frames.
    pub fn codec_id(self) -> CodecId {
        match self {
            VideoCodec::H264 => CodecId::H264,
            VideoCodec::H265 => CodecId::H265,
        }
    }
}

/// How [`VideoEncoder`] compresses pictures (H.264 with libx264 or H.265 with libx265).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEncoderConfig {
    /// H.264 (default) or H.265.
    pub codec: VideoCodec,
    /// Picture width in pixels (even).
    pub width: u32,
    /// Picture height in pixels (even).
    pub height: u32,
    /// The nominal frame rate (timestamps may still vary; rate control follows them).
    pub fps: FrameRate,
    /// Target bitrate in bits per second (average, with a VBV of one second at this rate).
    pub bitrate_bps: u64,
    /// Keyframe interval in frames: every `gop`-th frame is an IDR picture, and no others
    /// are unless forced with [`VideoEncoder::force_keyframe`] (scene-cut detection is off, so
    /// segmenters see a regular cadence; for H.265 open GOPs are off too, so every keyframe
    /// is an IDR picture).
    pub gop: u32,
    /// The libx264/libx265 preset (`"ultrafast"` ... `"placebo"`); default `"veryfast"`.
    pub preset: String,
    /// Use the encoder's `zerolatency` tune (no frame lookahead, no frame delay); default on.
    pub zerolatency: bool,
    /// Maximum consecutive B-frames; default 0, so that DTS equals PTS and no frame waits.
    pub b_frames: u32,
    /// The track id put on the [`TrackInfo`] and every [`Frame`]; default 1.
    pub track: TrackId,
    /// Ticks per second of the timestamps given to the encoder and put on its frames (the
    /// encoder's time base); default [`VIDEO_TIMESCALE`]. A transcoder sets its input's
    /// timescale here so that timestamps pass through unchanged.
    pub timescale: u32,
    /// The VBV maximum rate in bits per second; default (`None`) the target bitrate.
    pub max_bitrate_bps: Option<u64>,
    /// The VBV buffer in bits; default (`None`) one second at the maximum rate.
    pub buffer_size_bits: Option<u64>,
    /// The profile, as the encoder names it (`"baseline"`, `"main"`, `"high"` for libx264;
    /// `"main"`, `"main10"` for libx265); default the encoder's choice.
    pub profile: Option<String>,
    /// The level (`"3.1"`, `"4.1"`, ...); default the encoder's choice from size, rate and
    /// bitrate.
    pub level: Option<String>,
    /// Threads of the encoder itself; 0 (default) lets it choose (libx264: 1.5 per core,
    /// frame-parallel). 1 makes the encoder work in the calling thread only.
    pub threads: u32,
    /// Frames of rate-control lookahead (libx264/libx265 `rc-lookahead`; each frame is
    /// that much delay); default (`None`) the preset's (none with `zerolatency`).
    pub lookahead: Option<u32>,
    /// Which implementation encodes: the software encoders (default) or a GPU encoder
    /// FFmpeg has a wrapper for. Opening a GPU encoder fails where the machine has no such
    /// GPU or driver (see [`VideoBackend`]).
    pub backend: VideoBackend,
    /// Treat the input as constant frame rate at [`fps`](Self::fps) (libx264's
    /// `force-cfr`): rate control counts frames instead of reading timestamps, and the SPS
    /// timing says the frame rate (with variable-rate input libx264 writes its time base
    /// there: 1000 "fps" for milliseconds). Timestamps still pass through. Default off.
    pub constant_frame_rate: bool,
    /// libx264's threads split each picture into slices (`sliced-threads`: no frame of
    /// delay per thread, less efficient) instead of working on several pictures at once.
    /// Default off.
    pub sliced_threads: bool,
}

impl VideoEncoderConfig {
    /// A configuration with the defaults: a GOP of two seconds, `veryfast`, `zerolatency`, no
    /// B-frames, track 1, 90 kHz timestamps, a VBV of one second at the bitrate, software.
    pub fn new(width: u32, height: u32, fps: FrameRate, bitrate_bps: u64) -> Self {
        let gop = if fps.den == 0 {
            0
        } else {
            (2 * u64::from(fps.num) / u64::from(fps.den)).max(1)
        };
        Self {
            codec: VideoCodec::H264,
            width,
            height,
            fps,
            bitrate_bps,
            gop: u32::try_from(gop).unwrap_or(u32::MAX),
            preset: "veryfast".to_owned(),
            zerolatency: true,
            b_frames: 0,
            track: TrackId(1),
            timescale: VIDEO_TIMESCALE,
            max_bitrate_bps: None,
            buffer_size_bits: None,
            profile: None,
            level: None,
            threads: 0,
            lookahead: None,
            backend: VideoBackend::Software,
            constant_frame_rate: false,
            sliced_threads: false,
        }
    }
}

/// One picture in planar YUV 4:2:0 (I420: a Y plane, then U, then V, chroma at half the
/// width and height, rounded up), borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct RawVideoFrame<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The Y, U and V planes.
    pub planes: [&'a [u8]; 3],
    /// Bytes from the start of one row to the next, per plane.
    pub strides: [usize; 3],
}

impl<'a> RawVideoFrame<'a> {
    /// A frame over one tightly packed I420 buffer (Y, then U, then V, no row padding), as
    /// `ffmpeg -pix_fmt yuv420p -f rawvideo` writes.
    pub fn from_i420(width: u32, height: u32, data: &'a [u8]) -> Result<Self, EncoderError> {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let needed = w * h + 2 * cw * ch;
        if data.len() < needed {
            return Err(EncoderError::InvalidInput {
                what: "i420 buffer length",
                expected: needed,
                got: data.len(),
            });
        }
        let (y, rest) = data.split_at(w * h);
        let (u, rest) = rest.split_at(cw * ch);
        Ok(Self {
            width,
            height,
            planes: [y, u, &rest[..cw * ch]],
            strides: [w, cw, cw],
        })
    }

    /// The size in bytes of a tightly packed I420 picture of `width` x `height`.
    pub fn i420_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
    }
}

/// An H.264 or H.265 encoder (FFmpeg's libx264 or libx265 wrapper, per
/// [`VideoEncoderConfig::codec`]): [`RawVideoFrame`]s in, [`Frame`]s out.
///
/// Feed pictures with [`encode`](Self::encode), then drain what came out with
/// [`poll_frame`](Self::poll_frame) until it returns `None`; at the end call
/// [`flush`](Self::flush) and drain again. Output frames carry 4-byte length-prefixed NAL
/// units (AVCC), PTS/DTS in the configured [`timescale`](VideoEncoderConfig::timescale)
/// ([`VIDEO_TIMESCALE`] by default) and the keyframe flag; the parameter sets
/// are not repeated in the stream but given once in [`track_info`](Self::track_info)'s
/// AVCDecoderConfigurationRecord or HEVCDecoderConfigurationRecord (the FLV/RTMP sequence
/// header; for H.265 an Enhanced RTMP `SequenceStart`).
///
/// ```no_run
/// use onair_encoder::{FrameRate, RawVideoFrame, VideoEncoder, VideoEncoderConfig};
/// # fn main() -> Result<(), onair_encoder::EncoderError> {
/// let config = VideoEncoderConfig::new(320, 240, FrameRate::new(30, 1), 500_000);
/// let mut encoder = VideoEncoder::new(config)?;
/// let sequence_header = encoder.track_info().clone();
/// let picture = vec![128u8; RawVideoFrame::i420_len(320, 240)];
/// for n in 0..60 {
///     let pts = n * FrameRate::new(30, 1).frame_duration();
///     encoder.encode(&RawVideoFrame::from_i420(320, 240, &picture)?, pts)?;
///     while let Some(frame) = encoder.poll_frame() {
///         // send `frame` (e.g. through onair-flv's MediaMuxer)
///     }
/// }
/// encoder.flush()?;
/// while let Some(frame) = encoder.poll_frame() { /* send */ }
/// # Ok(()) }
/// ```
pub struct VideoEncoder {
    ctx: AVCodecContext,
    input: PictureInput,
    picture: AVFrame,
    config: VideoEncoderConfig,
    track: TrackInfo,
    out: EncodedFrames,
    force_keyframe: bool,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("config", &self.config)
            .field("queued", &self.out.len())
            .field("flushed", &self.out.is_flushed())
            .finish_non_exhaustive()
    }
}

/// Refuses a target bitrate under 1 kbit/s.
fn check_bitrate(bitrate_bps: u64) -> Result<(), EncoderError> {
    if bitrate_bps < 1000 {
        return Err(EncoderError::InvalidConfig {
            what: "bitrate_bps",
            value: i64::try_from(bitrate_bps).unwrap_or(i64::MAX),
        });
    }
    Ok(())
}

fn to_i32(what: &'static str, value: u64) -> Result<i32, EncoderError> {
    i32::try_from(value).map_err(|_| EncoderError::InvalidConfig {
        what,
        value: i64::try_from(value).unwrap_or(i64::MAX),
    })
}

fn c_string(what: &'static str, s: &str) -> Result<CString, EncoderError> {
    CString::new(s).map_err(|_| EncoderError::InvalidConfig { what, value: 0 })
}

/// An opened encoder: its context, the track it describes and how pictures go in.
struct Opened {
    ctx: AVCodecContext,
    track: TrackInfo,
    input: PictureInput,
}

/// Opens the encoder `config` asks for and reads its global header into the track
/// description. `level` pins libx265's `general_level_idc` (as in the SPS: 30 times the
/// level) instead of letting it choose from the bitrate.
fn open_codec(config: &VideoEncoderConfig, level: Option<u8>) -> Result<Opened, EncoderError> {
    raw::route_log_to_tracing();
    let name = config.backend.encoder_name(config.codec);
    let codec = AVCodec::find_encoder_by_name(&c_string("codec", name)?)
        .ok_or(EncoderError::EncoderNotFound { name })?;
    let mut ctx = AVCodecContext::new(&codec);
    ctx.set_width(to_i32("width", config.width.into())?);
    ctx.set_height(to_i32("height", config.height.into())?);
    ctx.set_time_base(ra(1, to_i32("timescale", config.timescale.into())?));
    ctx.set_framerate(ra(
        to_i32("fps", config.fps.num.into())?,
        to_i32("fps", config.fps.den.into())?,
    ));
    ctx.set_gop_size(to_i32("gop", config.gop.into())?);
    ctx.set_max_b_frames(to_i32("b_frames", config.b_frames.into())?);
    ctx.set_flags(ctx.flags | ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32);
    let bitrate = i64::try_from(config.bitrate_bps).map_err(|_| EncoderError::InvalidConfig {
        what: "bitrate_bps",
        value: i64::MAX,
    })?;
    ctx.set_bit_rate(bitrate);
    backend::apply_context_settings(&mut ctx, config)?;
    let input = backend::prepare_input(&mut ctx, config.backend)?;
    for (key, value) in backend::private_options(config, level)? {
        raw::set_private_option(&mut ctx, &key, &value).map_err(|code| EncoderError::Ffmpeg {
            op: "av_opt_set",
            code,
        })?;
    }
    ctx.open(None)
        .map_err(EncoderError::ffmpeg("avcodec_open2"))?;

    let extradata = raw::extradata(&ctx);
    if extradata.is_empty() {
        return Err(EncoderError::MissingExtradata);
    }
    let codec_config = match config.codec {
        VideoCodec::H264 => CodecConfig::Avc(nal::avc_config(extradata)?),
        VideoCodec::H265 => CodecConfig::Hevc(hevc::hevc_config(extradata)?),
    };
    let track = TrackInfo {
        id: config.track,
        timescale: config.timescale,
        config: codec_config,
    };
    Ok(Opened { ctx, track, input })
}

/// libx265's own settings for a live stream: a fixed GOP of closed IDR pictures (no scene
/// cuts, no open GOPs), the parameter sets only in the global header (the
/// HEVCDecoderConfigurationRecord carries them), no version SEI, the VBV of one second, and
/// its log off: x265 prints to stderr itself, not through FFmpeg's log (which is routed to
/// `tracing`); its failures still surface as FFmpeg's `avcodec_open2` error. `level` pins
/// the level (`general_level_idc`, 30 times the level), which x265 otherwise derives from the
/// bitrate.
pub(crate) fn x265_params(config: &VideoEncoderConfig, level: Option<u8>) -> String {
    let max_kbps = config.max_bitrate_bps.unwrap_or(config.bitrate_bps) / 1000;
    let buffer_kbits = config.buffer_size_bits.map_or(max_kbps, |bits| bits / 1000);
    let mut params = format!(
        "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:bframes={b}:repeat-headers=0:\
         info=0:vbv-maxrate={max_kbps}:vbv-bufsize={buffer_kbits}:log-level=none",
        gop = config.gop,
        b = config.b_frames,
    );
    if let Some(frames) = config.lookahead {
        params.push_str(&format!(":rc-lookahead={frames}"));
    }
    if config.threads > 0 {
        params.push_str(&format!(":pools={t}:frame-threads={t}", t = config.threads));
    }
    if let Some(level) = level {
        // x265 reads values of 7 and more as ten times the level (21 = level 2.1).
        params.push_str(&format!(":level-idc={}", level / 3));
    } else if let Some(level) = &config.level {
        params.push_str(&format!(":level-idc={level}"));
    }
    params
}

impl VideoEncoder {
    /// Opens libx264 or libx265 (per `config.codec`; or the GPU encoder
    /// `config.backend` names) with `config`.
    ///
    /// Fails with [`EncoderError::EncoderNotFound`] if FFmpeg was built without the encoder,
    /// [`EncoderError::InvalidConfig`] for zero or odd sizes, a zero frame rate or GOP, a
    /// bitrate under 1 kbit/s, [`EncoderError::UnknownPreset`], and [`EncoderError::Ffmpeg`]
    /// if the encoder refuses the settings.
    pub fn new(config: VideoEncoderConfig) -> Result<Self, EncoderError> {
        let invalid = |what, value: u64| EncoderError::InvalidConfig {
            what,
            value: i64::try_from(value).unwrap_or(i64::MAX),
        };
        for (what, v) in [("width", config.width), ("height", config.height)] {
            if v == 0 || v % 2 != 0 {
                return Err(invalid(what, v.into()));
            }
        }
        if config.fps.num == 0 || config.fps.den == 0 {
            return Err(invalid("fps", config.fps.num.into()));
        }
        check_bitrate(config.bitrate_bps)?;
        if config.gop == 0 {
            return Err(invalid("gop", 0));
        }
        if config.timescale == 0 {
            return Err(invalid("timescale", 0));
        }
        // libx264 reports a bad preset on stderr before FFmpeg's log routing applies.
        if !X264_PRESETS.contains(&config.preset.as_str()) {
            return Err(EncoderError::UnknownPreset);
        }
        let Opened { ctx, track, input } = open_codec(&config, None)?;

        let mut picture = AVFrame::new();
        picture.set_width(ctx.width);
        picture.set_height(ctx.height);
        picture.set_format(ffi::AVPixelFormat_AV_PIX_FMT_YUV420P);
        picture
            .alloc_buffer()
            .map_err(EncoderError::ffmpeg("av_frame_get_buffer"))?;

        Ok(Self {
            ctx,
            input,
            picture,
            config,
            track,
            out: EncodedFrames::default(),
            force_keyframe: false,
        })
    }

    /// The track description: id, timescale and the AVCDecoderConfigurationRecord (SPS and
    /// PPS) or HEVCDecoderConfigurationRecord (VPS, SPS and PPS) to send before the first
    /// frame, e.g. as the FLV sequence header.
    pub fn track_info(&self) -> &TrackInfo {
        &self.track
    }

    /// The configuration the encoder was opened with (with the current bitrate).
    pub fn config(&self) -> &VideoEncoderConfig {
        &self.config
    }

    /// Makes the next picture given to [`encode`](Self::encode) an IDR picture (a new GOP
    /// starts there; the regular cadence continues from it).
    pub fn force_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Changes the target bitrate from the next picture on, without restarting the stream
    /// (libx264 reconfigures its rate control; the SPS/PPS stay the same). The VBV maximum
    /// rate and buffer follow (one second at the new rate).
    ///
    /// For H.265 the encoder is replaced: FFmpeg 5.1's libx265 wrapper reads the bitrate
    /// only when it opens the encoder (changing it on the running one left libx265 at about
    /// 1970 kbit/s after a 2000 -> 500 kbit/s change). A new libx265 is opened at the new
    /// rate with the level of the first, the old one is flushed (its last frames are queued
    /// for [`poll_frame`](Self::poll_frame)), and the next picture is an IDR picture that
    /// starts a new GOP. The stream stays one stream: the VPS/SPS/PPS are checked to be the
    /// same, so [`track_info`](Self::track_info) holds. A rate above what the level allows
    /// is capped by libx265 to the level's maximum. Fails with [`EncoderError::Unsupported`]
    /// (and changes nothing) with B-frames (decode times would step back across the switch)
    /// or if the parameter sets would differ, and with [`EncoderError::Flushed`] after
    /// [`flush`](Self::flush).
    pub fn set_bitrate(&mut self, bitrate_bps: u64) -> Result<(), EncoderError> {
        if self.config.codec == VideoCodec::H265 {
            return self.reopen_with_bitrate(bitrate_bps);
        }
        check_bitrate(bitrate_bps)?;
        let buffer = to_i32("bitrate_bps", bitrate_bps)?;
        let rate = i64::from(buffer);
        self.ctx.set_bit_rate(rate);
        raw::set_vbv(&mut self.ctx, rate, buffer);
        self.config.bitrate_bps = bitrate_bps;
        Ok(())
    }

    /// The current target bitrate in bits per second.
    pub fn bitrate(&self) -> u64 {
        self.config.bitrate_bps
    }

    /// Compresses one picture presented at `pts` (in the configured
    /// [`timescale`](VideoEncoderConfig::timescale), by default [`VIDEO_TIMESCALE`] ticks;
    /// increasing).
    ///
    /// Frames that come out are queued for [`poll_frame`](Self::poll_frame); with the default
    /// configuration (`zerolatency`, no B-frames) each picture comes out at once.
    pub fn encode(&mut self, frame: &RawVideoFrame<'_>, pts: i64) -> Result<(), EncoderError> {
        self.out.check_open()?;
        self.fill_picture(frame)?;
        self.submit(None, pts, false)
    }

    /// Compresses a picture that is already in an FFmpeg frame (planar YUV 4:2:0 of the
    /// configured size, e.g. a decoder's output or a scaler's), without copying it: the
    /// encoder reads the planes where they are. `pts` is in the configured
    /// [`timescale`](VideoEncoderConfig::timescale) and increasing; with `keyframe` the
    /// picture becomes an IDR picture (as after [`force_keyframe`](Self::force_keyframe)).
    ///
    /// The frame's `pts` and picture type are overwritten. The encoder keeps no reference to
    /// the frame's buffers once this returns (libx264 and libx265 copy the picture in), so
    /// the caller may write the next picture into the same buffers.
    ///
    /// Fails with [`EncoderError::InvalidInput`] if the frame is not YUV 4:2:0 at the
    /// configured size, and [`EncoderError::Flushed`] after [`flush`](Self::flush).
    pub fn encode_picture(
        &mut self,
        picture: &mut AVFrame,
        pts: i64,
        keyframe: bool,
    ) -> Result<(), EncoderError> {
        self.out.check_open()?;
        let yuv420p = [
            ffi::AVPixelFormat_AV_PIX_FMT_YUV420P,
            ffi::AVPixelFormat_AV_PIX_FMT_YUVJ420P,
        ];
        if !yuv420p.contains(&picture.format) {
            return Err(EncoderError::InvalidInput {
                what: "pixel format (yuv420p)",
                expected: ffi::AVPixelFormat_AV_PIX_FMT_YUV420P as usize,
                got: usize::try_from(picture.format).unwrap_or(usize::MAX),
            });
        }
        for (what, expected, got) in [
            ("width", self.config.width, picture.width),
            ("height", self.config.height, picture.height),
        ] {
            if u32::try_from(got).ok() != Some(expected) {
                return Err(EncoderError::InvalidInput {
                    what,
                    expected: expected as usize,
                    got: usize::try_from(got).unwrap_or(0),
                });
            }
        }
        self.submit(Some(picture), pts, keyframe)
    }

    /// Stamps a picture (`external`, or the encoder's own that `fill_picture` wrote) and sends
    /// it to the encoder, as an IDR picture when asked for.
    fn submit(
        &mut self,
        external: Option<&mut AVFrame>,
        pts: i64,
        keyframe: bool,
    ) -> Result<(), EncoderError> {
        let picture = match external {
            Some(picture) => picture,
            None => &mut self.picture,
        };
        picture.set_pts(pts);
        picture.set_pict_type(if keyframe || self.force_keyframe {
            ffi::AVPictureType_AV_PICTURE_TYPE_I
        } else {
            ffi::AVPictureType_AV_PICTURE_TYPE_NONE
        });
        self.force_keyframe = false;
        let config = &self.config;
        let (out, ctx) = (&mut self.out, &mut self.ctx);
        self.input.with_prepared(picture, |frame| {
            out.send(ctx, Some(frame), |packet| video_frame(config, packet))
        })
    }

    /// The FFmpeg encoder that is running (`"libx264"`, `"h264_nvenc"`, ...).
    pub fn encoder_name(&self) -> &'static str {
        self.config.backend.encoder_name(self.config.codec)
    }

    /// Ends the stream: the encoder gives out the pictures it still holds (with B-frames or
    /// lookahead), queued for [`poll_frame`](Self::poll_frame). Later input is refused with
    /// [`EncoderError::Flushed`]; flushing twice does nothing.
    pub fn flush(&mut self) -> Result<(), EncoderError> {
        let config = &self.config;
        self.out
            .flush(&mut self.ctx, |packet| video_frame(config, packet))
    }

    /// The next compressed frame, in decode order. Call after each [`encode`](Self::encode)
    /// and after [`flush`](Self::flush) until it returns `None`.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.out.pop()
    }

    fn reopen_with_bitrate(&mut self, bitrate_bps: u64) -> Result<(), EncoderError> {
        check_bitrate(bitrate_bps)?;
        self.out.check_open()?;
        if self.config.b_frames > 0 {
            return Err(EncoderError::Unsupported {
                what: "changing the bitrate of libx265 with b-frames",
            });
        }
        let CodecConfig::Hevc(current) = &self.track.config else {
            return Err(EncoderError::Unsupported {
                what: "reopening a non-hevc encoder",
            });
        };
        let mut config = self.config.clone();
        config.bitrate_bps = bitrate_bps;
        let Opened { ctx, track, input } = open_codec(&config, Some(current.level_idc))?;
        if track.config != self.track.config {
            return Err(EncoderError::Unsupported {
                what: "a bitrate that changes the h.265 parameter sets",
            });
        }
        // The old encoder's stream ends here; its last frames go out before the new one's.
        let old = &self.config;
        self.out
            .send(&mut self.ctx, None, |packet| video_frame(old, packet))?;
        self.ctx = ctx;
        self.input = input;
        self.config = config;
        Ok(())
    }

    fn fill_picture(&mut self, frame: &RawVideoFrame<'_>) -> Result<(), EncoderError> {
        let mismatch = |what, expected: u32, got: u32| EncoderError::InvalidInput {
            what,
            expected: expected as usize,
            got: got as usize,
        };
        if frame.width != self.config.width {
            return Err(mismatch("width", self.config.width, frame.width));
        }
        if frame.height != self.config.height {
            return Err(mismatch("height", self.config.height, frame.height));
        }
        // The encoder may still hold the previous picture: get a buffer of our own.
        self.picture
            .make_writable()
            .map_err(EncoderError::ffmpeg("av_frame_make_writable"))?;
        let (w, h) = (frame.width as usize, frame.height as usize);
        for plane in 0..3 {
            let (pw, ph) = if plane == 0 {
                (w, h)
            } else {
                (w.div_ceil(2), h.div_ceil(2))
            };
            let stride = frame.strides[plane];
            if stride < pw {
                return Err(EncoderError::InvalidInput {
                    what: "stride",
                    expected: pw,
                    got: stride,
                });
            }
            let src = frame.planes[plane];
            let needed = stride * (ph - 1) + pw;
            if src.len() < needed {
                return Err(EncoderError::InvalidInput {
                    what: "plane length",
                    expected: needed,
                    got: src.len(),
                });
            }
            let dst_stride = usize::try_from(self.picture.linesize[plane]).unwrap_or(0);
            let dst =
                raw::video_plane_mut(&mut self.picture, plane, ph).ok_or(EncoderError::Ffmpeg {
                    op: "av_frame_get_buffer",
                    code: -1,
                })?;
            for (row_out, row_in) in dst.chunks_mut(dst_stride).zip(src.chunks(stride)).take(ph) {
                row_out[..pw].copy_from_slice(&row_in[..pw]);
            }
        }
        Ok(())
    }
}

/// A packet of the encoder as a [`Frame`]: the NAL units length-prefixed, a keyframe where
/// decoding can start.
fn video_frame(config: &VideoEncoderConfig, packet: &AVPacket) -> Frame {
    let data = nal::annex_b_to_avcc(raw::packet_data(packet));
    let keyframe = match config.codec {
        VideoCodec::H264 => packet.flags & ffi::AV_PKT_FLAG_KEY as i32 != 0,
        // libx265 flags only IDR pictures; a decoder can start at any IRAP.
        VideoCodec::H265 => hevc::is_irap(&data),
    };
    let pts = packet.pts;
    let dts = if packet.dts == ffi::AV_NOPTS_VALUE {
        pts
    } else {
        packet.dts
    };
    Frame {
        track: config.track,
        codec: config.codec.codec_id(),
        timescale: config.timescale,
        dts,
        pts,
        keyframe,
        data,
    }
}
