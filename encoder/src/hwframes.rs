//! GPU surfaces for VA-API encoders and the codec-context fields rsmpeg 0.14 has no setter
//! for, through raw pointers. Each function checks what it relies on before it dereferences.
#![allow(unsafe_code)]

use std::ptr;

use rsmpeg::avcodec::AVCodecContext;
use rsmpeg::avutil::AVFrame;
use rsmpeg::{ffi, UnsafeDerefMut};

use crate::EncoderError;

/// Sets the encoder's thread count (`AVCodecContext.thread_count`) before it is opened.
pub(crate) fn set_thread_count(ctx: &mut AVCodecContext, threads: i32) {
    // SAFETY: a plain integer field of a context we hold exclusively (`&mut`), read by
    // avcodec_open2.
    unsafe { ctx.deref_mut().thread_count = threads };
}

/// A VA-API device and a pool of NV12 surfaces on it (an `AVHWFramesContext`), owned.
pub(crate) struct HwFrames {
    device: *mut ffi::AVBufferRef,
    frames: *mut ffi::AVBufferRef,
}

// SAFETY: the two buffer references are owned by this value alone; FFmpeg's reference
// counting of AVBufferRef is thread-safe, and the device is only used through them.
unsafe impl Send for HwFrames {}

impl HwFrames {
    /// Opens the default VA-API device and a pool of `width` x `height` NV12 surfaces.
    pub(crate) fn vaapi_nv12(width: i32, height: i32) -> Result<Self, EncoderError> {
        let mut device = ptr::null_mut();
        // SAFETY: out-pointer to a local; a null device name and options select the default
        // render node; on failure nothing is allocated.
        let ret = unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut device,
                ffi::AVHWDeviceType_AV_HWDEVICE_TYPE_VAAPI,
                ptr::null(),
                ptr::null_mut(),
                0,
            )
        };
        if ret < 0 || device.is_null() {
            return Err(EncoderError::Ffmpeg {
                op: "av_hwdevice_ctx_create",
                code: ret.min(-1),
            });
        }
        // SAFETY: `device` is a valid device reference we own.
        let frames = unsafe { ffi::av_hwframe_ctx_alloc(device) };
        let mut this = Self { device, frames };
        if frames.is_null() {
            return Err(EncoderError::Ffmpeg {
                op: "av_hwframe_ctx_alloc",
                code: -1,
            });
        }
        // SAFETY: `frames` is a freshly allocated, not yet initialised AVHWFramesContext
        // reference we own; its `data` is the AVHWFramesContext.
        let ret = unsafe {
            let fc = (*this.frames).data.cast::<ffi::AVHWFramesContext>();
            (*fc).format = ffi::AVPixelFormat_AV_PIX_FMT_VAAPI;
            (*fc).sw_format = ffi::AVPixelFormat_AV_PIX_FMT_NV12;
            (*fc).width = width;
            (*fc).height = height;
            (*fc).initial_pool_size = 8;
            ffi::av_hwframe_ctx_init(this.frames)
        };
        if ret < 0 {
            this.release();
            return Err(EncoderError::Ffmpeg {
                op: "av_hwframe_ctx_init",
                code: ret,
            });
        }
        Ok(this)
    }

    /// A GPU surface holding `picture` (NV12, the pool's size), with its timestamp and
    /// picture type.
    pub(crate) fn upload(&mut self, picture: &AVFrame) -> Result<AVFrame, EncoderError> {
        let mut surface = AVFrame::new();
        // SAFETY: `frames` is an initialised frames context we own; `surface` is an empty
        // frame that av_hwframe_get_buffer fills with a reference to a pool surface.
        let ret = unsafe { ffi::av_hwframe_get_buffer(self.frames, surface.as_mut_ptr(), 0) };
        if ret < 0 {
            return Err(EncoderError::Ffmpeg {
                op: "av_hwframe_get_buffer",
                code: ret,
            });
        }
        // SAFETY: both frames are valid; the source is a system-memory NV12 frame of the
        // pool's size, the destination a surface of that pool.
        let ret =
            unsafe { ffi::av_hwframe_transfer_data(surface.as_mut_ptr(), picture.as_ptr(), 0) };
        if ret < 0 {
            return Err(EncoderError::Ffmpeg {
                op: "av_hwframe_transfer_data",
                code: ret,
            });
        }
        surface.set_pts(picture.pts);
        surface.set_pict_type(picture.pict_type);
        Ok(surface)
    }

    fn release(&mut self) {
        // SAFETY: both references are ours (or null); av_buffer_unref nulls them.
        unsafe {
            ffi::av_buffer_unref(&mut self.frames);
            ffi::av_buffer_unref(&mut self.device);
        }
    }
}

impl Drop for HwFrames {
    fn drop(&mut self) {
        self.release();
    }
}

/// Gives the encoder a reference to the surface pool it encodes from.
pub(crate) fn attach(ctx: &mut AVCodecContext, frames: &HwFrames) -> Result<(), EncoderError> {
    // SAFETY: `frames.frames` is a valid, initialised reference; the context takes its own
    // new reference, which avcodec_free_context releases.
    let reference = unsafe { ffi::av_buffer_ref(frames.frames) };
    if reference.is_null() {
        return Err(EncoderError::Ffmpeg {
            op: "av_buffer_ref",
            code: -1,
        });
    }
    // SAFETY: a pointer field of a context we hold exclusively, not yet opened.
    unsafe {
        let raw = ctx.deref_mut();
        ffi::av_buffer_unref(&mut raw.hw_frames_ctx);
        raw.hw_frames_ctx = reference;
    }
    Ok(())
}
