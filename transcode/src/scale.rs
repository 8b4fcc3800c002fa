//! Scaling with swscale: bicubic, as FFmpeg's `scale` filter does by default, into a
//! picture buffer that is reused while nobody else holds it.

use rsmpeg::avutil::AVFrame;
use rsmpeg::ffi;
use rsmpeg::swscale::SwsContext;

use crate::TranscodeError;

/// A picture's geometry and pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) width: i32,
    pub(crate) height: i32,
    pub(crate) format: i32,
}

impl Geometry {
    pub(crate) fn of(frame: &AVFrame) -> Self {
        Self {
            width: frame.width,
            height: frame.height,
            format: frame.format,
        }
    }

    pub(crate) fn yuv420p(width: u32, height: u32) -> Self {
        Self {
            width: i32::try_from(width).unwrap_or(2),
            height: i32::try_from(height).unwrap_or(2),
            format: ffi::AVPixelFormat_AV_PIX_FMT_YUV420P,
        }
    }
}

/// Pictures kept for reuse per scaler: enough for a worker's queue to hold some while the
/// next is written.
const SPARE_PICTURES: usize = 12;

/// Scales pictures of one geometry into YUV 4:2:0 pictures of another.
pub(crate) struct Scaler {
    sws: SwsContext,
    input: Geometry,
    output: Geometry,
    picture: AVFrame,
    /// Earlier pictures, reused once nobody else holds them (fresh buffers cost page faults).
    spare: Vec<AVFrame>,
}

impl Scaler {
    pub(crate) fn new(input: Geometry, output: Geometry) -> Result<Self, TranscodeError> {
        let sws = SwsContext::get_context(
            input.width,
            input.height,
            input.format,
            output.width,
            output.height,
            output.format,
            ffi::SWS_BICUBIC,
        )
        .ok_or(TranscodeError::Ffmpeg {
            op: "sws_getContext",
            code: -1,
        })?;
        Ok(Self {
            sws,
            input,
            output,
            picture: new_picture(output)?,
            spare: Vec::new(),
        })
    }

    pub(crate) fn input(&self) -> Geometry {
        self.input
    }

    /// Scales `src` into the scaler's picture and returns it. A picture still held by
    /// someone else (an encoder's worker) is set aside and a free one (or a fresh one) is
    /// written instead: nothing is copied, nothing held is overwritten.
    pub(crate) fn scale(&mut self, src: &AVFrame) -> Result<&mut AVFrame, TranscodeError> {
        if !self.picture.is_writable().unwrap_or(false) {
            let free = self
                .spare
                .iter()
                .position(|p| p.is_writable().unwrap_or(false));
            let next = match free {
                Some(i) => self.spare.swap_remove(i),
                None => new_picture(self.output)?,
            };
            let held = std::mem::replace(&mut self.picture, next);
            if self.spare.len() < SPARE_PICTURES {
                self.spare.push(held);
            }
        }
        self.sws
            .scale_frame(src, 0, src.height, &mut self.picture)
            .map_err(TranscodeError::ffmpeg("sws_scale"))?;
        Ok(&mut self.picture)
    }

    /// The last picture scaled.
    pub(crate) fn picture(&self) -> &AVFrame {
        &self.picture
    }
}

fn new_picture(g: Geometry) -> Result<AVFrame, TranscodeError> {
    let mut picture = AVFrame::new();
    picture.set_width(g.width);
    picture.set_height(g.height);
    picture.set_format(g.format);
    picture
        .alloc_buffer()
        .map_err(TranscodeError::ffmpeg("av_frame_get_buffer"))?;
    Ok(picture)
}
