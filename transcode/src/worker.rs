//! A rendition's encoder, run in the calling thread or on a worker thread of its own.
//!
//! On a worker, pictures go over a bounded channel as new references to the scaler's (or
//! decoder's) buffers: no pixel is copied. Encoded frames come back over a second channel
//! and are collected without blocking; only [`EncoderSlot::finish`] waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use onair_encoder::{EncoderError, VideoEncoder};
use onair_media_types::{Frame, TrackInfo};
use rsmpeg::avutil::AVFrame;

use crate::ffi::thread_cpu_time;

enum Job {
    Picture {
        picture: AVFrame,
        pts: i64,
        idr: bool,
    },
    Flush,
}

enum Done {
    Frame(Frame),
    Error(EncoderError),
    Flushed,
}

/// Why a slot stopped taking pictures.
#[derive(Debug)]
pub(crate) enum SlotError {
    Encoder(EncoderError),
    Stopped,
}

enum Kind {
    Inline {
        encoder: Box<VideoEncoder>,
        cpu: Duration,
    },
    Worker {
        jobs: Option<SyncSender<Job>>,
        done: Receiver<Done>,
        cpu_ns: Arc<AtomicU64>,
        handle: Option<JoinHandle<()>>,
    },
}

pub(crate) struct EncoderSlot {
    kind: Kind,
    track: TrackInfo,
    encoder_name: &'static str,
    finished: bool,
}

impl EncoderSlot {
    /// Takes `encoder` over; with `parallel` it runs on a thread named `name` with a queue
    /// of `queue` pictures.
    pub(crate) fn new(encoder: VideoEncoder, parallel: bool, queue: usize, name: String) -> Self {
        let track = encoder.track_info().clone();
        let encoder_name = encoder.encoder_name();
        let kind = if parallel {
            let (jobs, job_rx) = mpsc::sync_channel::<Job>(queue.max(1));
            let (done_tx, done) = mpsc::channel::<Done>();
            let cpu_ns = Arc::new(AtomicU64::new(0));
            let cpu = Arc::clone(&cpu_ns);
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || run_worker(encoder, &job_rx, &done_tx, &cpu));
            match spawned {
                Ok(handle) => Kind::Worker {
                    jobs: Some(jobs),
                    done,
                    cpu_ns,
                    handle: Some(handle),
                },
                // The closure (and the encoder) is gone with the failed spawn; report it at
                // the first picture.
                Err(_) => Kind::Worker {
                    jobs: None,
                    done,
                    cpu_ns,
                    handle: None,
                },
            }
        } else {
            Kind::Inline {
                encoder: Box::new(encoder),
                cpu: Duration::ZERO,
            }
        };
        Self {
            kind,
            track,
            encoder_name,
            finished: false,
        }
    }

    pub(crate) fn track_info(&self) -> &TrackInfo {
        &self.track
    }

    pub(crate) fn encoder_name(&self) -> &'static str {
        self.encoder_name
    }

    /// CPU time spent encoding so far.
    pub(crate) fn cpu(&self) -> Duration {
        match &self.kind {
            Kind::Inline { cpu, .. } => *cpu,
            Kind::Worker { cpu_ns, .. } => Duration::from_nanos(cpu_ns.load(Ordering::Relaxed)),
        }
    }

    /// Encodes `picture` at `pts`, an IDR picture if `idr`. On a worker this waits only
    /// when its queue is full.
    pub(crate) fn submit(
        &mut self,
        picture: &mut AVFrame,
        pts: i64,
        idr: bool,
    ) -> Result<(), SlotError> {
        match &mut self.kind {
            Kind::Inline { encoder, cpu } => {
                let start = thread_cpu_time();
                let result = encoder.encode_picture(picture, pts, idr);
                *cpu += thread_cpu_time().saturating_sub(start);
                result.map_err(SlotError::Encoder)
            }
            Kind::Worker { jobs, .. } => {
                let job = Job::Picture {
                    picture: picture.clone(),
                    pts,
                    idr,
                };
                jobs.as_ref()
                    .ok_or(SlotError::Stopped)?
                    .send(job)
                    .map_err(|_| SlotError::Stopped)
            }
        }
    }

    /// Hands the frames encoded so far to `out`, without waiting.
    pub(crate) fn collect(&mut self, out: &mut impl FnMut(Frame)) -> Result<(), SlotError> {
        match &mut self.kind {
            Kind::Inline { encoder, .. } => {
                while let Some(frame) = encoder.poll_frame() {
                    out(frame);
                }
                Ok(())
            }
            Kind::Worker { done, .. } => loop {
                match done.try_recv() {
                    Ok(Done::Frame(frame)) => out(frame),
                    Ok(Done::Error(e)) => return Err(SlotError::Encoder(e)),
                    Ok(Done::Flushed) | Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => {
                        return if self.finished {
                            Ok(())
                        } else {
                            Err(SlotError::Stopped)
                        }
                    }
                }
            },
        }
    }

    /// Flushes the encoder and hands every remaining frame to `out`, waiting for a worker
    /// to finish. Nothing can be submitted afterwards.
    pub(crate) fn finish(&mut self, out: &mut impl FnMut(Frame)) -> Result<(), SlotError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        match &mut self.kind {
            Kind::Inline { encoder, cpu } => {
                let start = thread_cpu_time();
                let result = encoder.flush();
                *cpu += thread_cpu_time().saturating_sub(start);
                result.map_err(SlotError::Encoder)?;
                while let Some(frame) = encoder.poll_frame() {
                    out(frame);
                }
                Ok(())
            }
            Kind::Worker {
                jobs, done, handle, ..
            } => {
                let sent = jobs.take().is_some_and(|j| j.send(Job::Flush).is_ok());
                let mut result = if sent {
                    Ok(())
                } else {
                    Err(SlotError::Stopped)
                };
                while let Ok(message) = done.recv() {
                    match message {
                        Done::Frame(frame) => out(frame),
                        Done::Error(e) => result = Err(SlotError::Encoder(e)),
                        Done::Flushed => break,
                    }
                }
                if let Some(handle) = handle.take() {
                    let _ = handle.join();
                }
                result
            }
        }
    }
}

impl Drop for EncoderSlot {
    fn drop(&mut self) {
        if let Kind::Worker { jobs, handle, .. } = &mut self.kind {
            // Closing the queue ends the worker after the pictures it holds.
            jobs.take();
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}

fn run_worker(
    mut encoder: VideoEncoder,
    jobs: &Receiver<Job>,
    done: &mpsc::Sender<Done>,
    cpu_ns: &AtomicU64,
) {
    let publish_cpu = || {
        let ns = u64::try_from(thread_cpu_time().as_nanos()).unwrap_or(u64::MAX);
        cpu_ns.store(ns, Ordering::Relaxed);
    };
    while let Ok(job) = jobs.recv() {
        let flush = matches!(job, Job::Flush);
        let result = match job {
            Job::Picture {
                mut picture,
                pts,
                idr,
            } => encoder.encode_picture(&mut picture, pts, idr),
            Job::Flush => encoder.flush(),
        };
        if let Err(e) = result {
            let _ = done.send(Done::Error(e));
            publish_cpu();
            return;
        }
        while let Some(frame) = encoder.poll_frame() {
            if done.send(Done::Frame(frame)).is_err() {
                return;
            }
        }
        publish_cpu();
        if flush {
            let _ = done.send(Done::Flushed);
            return;
        }
    }
}
