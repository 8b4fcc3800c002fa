//! The few places where FFmpeg's structures are read or written through raw pointers that
//! rsmpeg 0.14 does not wrap. Each function checks what it relies on before it dereferences.
#![allow(unsafe_code)]

use std::ffi::CStr;

use rsmpeg::avcodec::{AVCodecContext, AVPacket};
use rsmpeg::avutil::AVFrame;
use rsmpeg::{ffi, UnsafeDerefMut};

/// The payload of a packet the encoder returned.
pub(crate) fn packet_data(packet: &AVPacket) -> &[u8] {
    let Ok(len) = usize::try_from(packet.size) else {
        return &[];
    };
    if packet.data.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: an encoded packet owns `size` readable bytes at `data` for as long as the
    // packet lives, and the returned slice borrows the packet.
    unsafe { std::slice::from_raw_parts(packet.data, len) }
}

/// The encoder's global header (codec private data), empty if it set none.
pub(crate) fn extradata(ctx: &AVCodecContext) -> &[u8] {
    let Ok(len) = usize::try_from(ctx.extradata_size) else {
        return &[];
    };
    if ctx.extradata.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: an opened encoder owns `extradata_size` bytes at `extradata`; the slice borrows
    // the context, which frees them only on drop.
    unsafe { std::slice::from_raw_parts(ctx.extradata, len) }
}

/// Sets the VBV limits (`rc_max_rate`, `rc_buffer_size`), which rsmpeg has no setter for.
pub(crate) fn set_vbv(ctx: &mut AVCodecContext, max_rate: i64, buffer_size: i32) {
    // SAFETY: plain integer fields of a context we own exclusively (`&mut`); libx264 reads
    // them at the next frame.
    unsafe {
        let raw = ctx.deref_mut();
        raw.rc_max_rate = max_rate;
        raw.rc_buffer_size = buffer_size;
    }
}

/// Plane `plane` of an allocated, writable video frame: `linesize * rows` bytes.
///
/// Returns `None` if the frame has no such plane or `rows` exceeds what was allocated
/// (`rows` must be at most the plane's height, which the caller computed from the frame's
/// own width and height).
pub(crate) fn video_plane_mut(frame: &mut AVFrame, plane: usize, rows: usize) -> Option<&mut [u8]> {
    let ptr = *frame.data.get(plane)?;
    let stride = usize::try_from(*frame.linesize.get(plane)?).ok()?;
    let height = usize::try_from(frame.height).ok()?;
    if ptr.is_null() || rows > height {
        return None;
    }
    // SAFETY: av_frame_get_buffer allocated at least `linesize * plane_height` bytes for the
    // plane and `rows` is no more than the plane height; the caller made the frame writable
    // (no other reference to the buffer), and the slice borrows the frame mutably.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, stride * rows) })
}

/// Plane `plane` of an allocated, writable planar float audio frame: `nb_samples` samples.
pub(crate) fn audio_plane_mut(frame: &mut AVFrame, plane: usize) -> Option<&mut [f32]> {
    let samples = usize::try_from(frame.nb_samples).ok()?;
    let channels = usize::try_from(frame.ch_layout.nb_channels).ok()?;
    if plane >= channels || plane >= frame.data.len() {
        return None;
    }
    let ptr = frame.data[plane];
    if ptr.is_null() || (ptr as usize) % std::mem::align_of::<f32>() != 0 {
        return None;
    }
    // SAFETY: for a planar float frame av_frame_get_buffer allocates, per channel, at least
    // `nb_samples` f32 values, aligned (checked above); the caller made the frame writable
    // and the slice borrows the frame mutably.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<f32>(), samples) })
}

/// Sets an option of the codec's private context (libx264's `preset`, `tune`, ...) before
/// it is opened. rsmpeg's dictionary path through `avcodec_open2` double-frees the
/// dictionary when opening fails, so options go in this way instead.
pub(crate) fn set_private_option(
    ctx: &mut AVCodecContext,
    key: &CStr,
    value: &CStr,
) -> Result<(), i32> {
    let target = ctx.priv_data;
    if target.is_null() {
        return Err(ffi::AVERROR_OPTION_NOT_FOUND);
    }
    // SAFETY: `priv_data` of an allocated codec context is an AVClass-enabled struct owned by
    // the context, which we hold exclusively; both strings are NUL-terminated and FFmpeg
    // copies them.
    let ret = unsafe { ffi::av_opt_set(target, key.as_ptr(), value.as_ptr(), 0) };
    if ret < 0 {
        Err(ret)
    } else {
        Ok(())
    }
}

/// Sends FFmpeg's log (process-wide) to `tracing` under the target `ffmpeg` instead of
/// stderr, once: FFmpeg errors and warnings become `error!`/`warn!`, its informational
/// lines (libx264's banner) `debug!`. On targets where the C `va_list` cannot be named
/// portably, FFmpeg's log is silenced instead.
pub(crate) fn route_log_to_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_arch = "x86_64", unix))]
        // SAFETY: the callback is a plain function that stays valid for the process's life.
        unsafe {
            ffi::av_log_set_callback(Some(log_callback));
        }
        #[cfg(not(all(target_arch = "x86_64", unix)))]
        // SAFETY: sets an integer.
        unsafe {
            ffi::av_log_set_level(ffi::AV_LOG_QUIET);
        }
    });
}

#[cfg(all(target_arch = "x86_64", unix))]
unsafe extern "C" fn log_callback(
    avcl: *mut std::os::raw::c_void,
    level: std::os::raw::c_int,
    fmt: *const std::os::raw::c_char,
    vl: *mut ffi::__va_list_tag,
) {
    // FFmpeg calls the callback whatever the level; honour its level as the default
    // callback does, so that debug spam is not even formatted.
    // SAFETY: reads an integer.
    if level > unsafe { ffi::av_log_get_level() } {
        return;
    }
    let mut line = [0 as std::os::raw::c_char; 1024];
    let mut print_prefix: std::os::raw::c_int = 1;
    // SAFETY: FFmpeg hands us its own format string and va_list; the buffer's size is given
    // and av_log_format_line2 always NUL-terminates it.
    let text = unsafe {
        ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            line.as_mut_ptr(),
            line.len() as std::os::raw::c_int,
            &mut print_prefix,
        );
        CStr::from_ptr(line.as_ptr())
    };
    let text = text.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    match u32::try_from(level).unwrap_or(0) {
        0..=ffi::AV_LOG_ERROR => tracing::error!(target: "ffmpeg", "{text}"),
        l if l <= ffi::AV_LOG_WARNING => tracing::warn!(target: "ffmpeg", "{text}"),
        l if l <= ffi::AV_LOG_INFO => tracing::debug!(target: "ffmpeg", "{text}"),
        _ => tracing::trace!(target: "ffmpeg", "{text}"),
    }
}
