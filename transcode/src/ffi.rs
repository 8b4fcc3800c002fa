//! The few places where FFmpeg's structures are read or written through raw pointers that
//! rsmpeg 0.14 does not wrap, and the thread CPU clock. Each function checks what it relies
//! on before it dereferences.
#![allow(unsafe_code)]

use std::time::Duration;

use rsmpeg::avcodec::{AVCodecContext, AVPacket};
use rsmpeg::avutil::AVFrame;
use rsmpeg::{ffi, UnsafeDerefMut};

use crate::TranscodeError;

/// Gives a decoder its codec configuration (avcC, hvcC, OpusHead) before it is opened:
/// a copy with FFmpeg's zeroed input padding.
pub(crate) fn set_extradata(ctx: &mut AVCodecContext, data: &[u8]) -> Result<(), TranscodeError> {
    if data.is_empty() {
        return Ok(());
    }
    let len = i32::try_from(data.len()).map_err(|_| TranscodeError::InvalidConfig {
        what: "codec configuration size",
    })?;
    let padded = data.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: av_mallocz returns `padded` zeroed bytes or null (checked); we copy `len`
    // bytes into it and hand ownership to the context, which frees extradata on close.
    unsafe {
        let buf = ffi::av_mallocz(padded).cast::<u8>();
        if buf.is_null() {
            return Err(TranscodeError::Ffmpeg {
                op: "av_mallocz",
                code: ffi::AVERROR(ffi::ENOMEM),
            });
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        let raw = ctx.deref_mut();
        ffi::av_freep(std::ptr::addr_of_mut!(raw.extradata).cast());
        raw.extradata = buf;
        raw.extradata_size = len;
    }
    Ok(())
}

/// Decoder threads and the time base of the packets' timestamps, before opening.
pub(crate) fn set_decoder_options(ctx: &mut AVCodecContext, threads: i32, timescale: i32) {
    // SAFETY: plain fields of a context we hold exclusively, read by avcodec_open2.
    unsafe {
        let raw = ctx.deref_mut();
        raw.thread_count = threads;
        raw.pkt_timebase = ffi::AVRational {
            num: 1,
            den: timescale.max(1),
        };
    }
}

/// Discards everything a decoder holds (frames in flight, references) after bad input.
pub(crate) fn flush_decoder(ctx: &mut AVCodecContext) {
    // SAFETY: an opened codec context we hold exclusively.
    unsafe { ffi::avcodec_flush_buffers(ctx.as_mut_ptr()) }
}

/// A packet holding a copy of `data` (FFmpeg wants zeroed padding after it, which the
/// frame's bytes do not have).
pub(crate) fn packet(
    data: &[u8],
    pts: i64,
    dts: i64,
    key: bool,
) -> Result<AVPacket, TranscodeError> {
    let len = i32::try_from(data.len()).map_err(|_| TranscodeError::InvalidConfig {
        what: "packet size",
    })?;
    let mut packet = AVPacket::new();
    // SAFETY: av_new_packet allocates `len` bytes plus zeroed padding for the packet we own;
    // on success `data` points at them and we copy exactly `len` bytes in.
    unsafe {
        let ret = ffi::av_new_packet(packet.as_mut_ptr(), len);
        if ret < 0 {
            return Err(TranscodeError::Ffmpeg {
                op: "av_new_packet",
                code: ret,
            });
        }
        if len > 0 {
            std::ptr::copy_nonoverlapping(data.as_ptr(), packet.data, data.len());
        }
    }
    packet.set_pts(pts);
    packet.set_dts(dts);
    if key {
        packet.set_flags(ffi::AV_PKT_FLAG_KEY as i32);
    }
    Ok(packet)
}

/// The interleaved `f32` samples of a packed float audio frame.
pub(crate) fn interleaved_f32(frame: &AVFrame, channels: usize) -> Option<&[f32]> {
    let samples = usize::try_from(frame.nb_samples).ok()?;
    let ptr = frame.data[0];
    if ptr.is_null() || (ptr as usize) % std::mem::align_of::<f32>() != 0 {
        return None;
    }
    if frame.format != ffi::AVSampleFormat_AV_SAMPLE_FMT_FLT {
        return None;
    }
    // SAFETY: a packed float frame holds `nb_samples * channels` f32 values in plane 0
    // (checked format, alignment, non-null); the slice borrows the frame.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<f32>(), samples * channels) })
}

/// CPU time the calling thread has used.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if ret != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// The channel count of a decoded audio frame (FFmpeg 5.1's `ch_layout`).
pub(crate) fn frame_channels(frame: &AVFrame) -> i32 {
    frame.ch_layout.nb_channels
}

/// The channel mask of a decoded audio frame, or the default layout for its channel count.
pub(crate) fn frame_channel_layout(frame: &AVFrame) -> u64 {
    let layout = &frame.ch_layout;
    if layout.order == ffi::AVChannelOrder_AV_CHANNEL_ORDER_NATIVE {
        // SAFETY: with the native order the union holds the mask.
        let mask = unsafe { layout.u.mask };
        if mask != 0 {
            return mask;
        }
    }
    // SAFETY: a pure function of an integer.
    let default = unsafe { ffi::av_get_default_channel_layout(layout.nb_channels) };
    u64::try_from(default).unwrap_or(0)
}
