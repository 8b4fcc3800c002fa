//! Publishing live: raw pictures and sound in, an RTMP stream out, adapted to the upload link.
//!
//! A [`LivePublisher`] owns the encoders (`onair-encoder`: H.264 + AAC through FFmpeg), turns
//! their frames into FLV tag bodies and hands them to a tokio task that sends them over RTMP.
//! Encoding happens on the caller's thread (it is CPU work; call from a thread of your own,
//! paced by your camera), sending on the runtime. Between the two sits a queue measured in
//! media time: when the link cannot carry the stream, [`RateController`] lowers the video
//! bitrate to what the link was seen to carry (and raises it again when it keeps up), and
//! beyond [`RateConfig::drop_after`] of queue the publisher drops video up to the next
//! keyframe, so the stream stays decodable and does not fall further behind. Pushing never
//! blocks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), onair::publish::PublishError> {
//! use onair::encoder::{AudioEncoderConfig, FrameRate, RawVideoFrame, VideoEncoderConfig};
//! use onair::publish::{LivePublisher, PublisherConfig};
//!
//! let fps = FrameRate::new(30, 1);
//! let config = PublisherConfig::new(
//!     VideoEncoderConfig::new(1280, 720, fps, 2_500_000),
//!     AudioEncoderConfig::new(48_000, 2, 128_000),
//! );
//! let mut publisher =
//!     LivePublisher::connect("127.0.0.1:1935", "live", "KEY", config).await?;
//! let picture = vec![128u8; RawVideoFrame::i420_len(1280, 720)];
//! let sound = vec![0.0f32; 2 * 1600];
//! for n in 0..300 {
//!     // from a camera thread, in real time
//!     publisher.push_video(&RawVideoFrame::from_i420(1280, 720, &picture)?, n * fps.frame_duration())?;
//!     publisher.push_audio_f32(&sound)?;
//! }
//! let stats = publisher.finish().await?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use onair_amf::amf0::Amf0Value;
use onair_encoder::{
    AudioEncoder, AudioEncoderConfig, EncoderError, RateChange, RateConfig, RateController,
    RawVideoFrame, VideoEncoder, VideoEncoderConfig,
};
use onair_flv::{FlvError, FlvTagType, MediaMuxer, MuxedTag};
use onair_media_types::{CodecConfig, Frame};
use tokio::net::ToSocketAddrs;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::rtmp::{ClientError, MediaMessage, RtmpClient};

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The RTMP connection failed or the server refused.
    #[error(transparent)]
    Rtmp(#[from] ClientError),
    /// An encoder failed or was given bad input.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// A frame could not be put in an FLV tag.
    #[error(transparent)]
    Flv(#[from] FlvError),
    /// The sending task is gone (its error, if any, comes from [`LivePublisher::finish`]).
    #[error("the RTMP sender stopped")]
    SenderStopped,
}

/// How a [`LivePublisher`] encodes and adapts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublisherConfig {
    /// The video encoder (its bitrate is the maximum the adaptation returns to).
    pub video: VideoEncoderConfig,
    /// The audio encoder.
    pub audio: AudioEncoderConfig,
    /// Bitrate adaptation to the link; `None` keeps the configured bitrate whatever happens
    /// (video is still dropped beyond [`PublisherConfig::max_queue`]).
    pub adapt: Option<RateConfig>,
    /// Beyond this much queued media, pushes drop frames instead of queueing more.
    pub max_queue: Duration,
    /// Send no faster than this many bits per second: simulates a slow upload link (for
    /// demos and tests); `None` sends as fast as the socket takes.
    pub simulated_uplink_bps: Option<u64>,
}

impl PublisherConfig {
    /// Adaptation on with [`RateConfig::new`] defaults, 3 s of queue at most.
    pub fn new(video: VideoEncoderConfig, audio: AudioEncoderConfig) -> Self {
        let adapt = RateConfig::new(video.bitrate_bps, audio.bitrate_bps);
        Self {
            video,
            audio,
            adapt: Some(adapt),
            max_queue: Duration::from_secs(3),
            simulated_uplink_bps: None,
        }
    }
}

/// What a publication did, from [`LivePublisher::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishStats {
    /// Video frames pushed.
    pub video_frames: u64,
    /// Video frames dropped because the link could not keep up.
    pub dropped_video_frames: u64,
    /// Audio frames dropped because the queue was full.
    pub dropped_audio_frames: u64,
    /// Times the bitrate was lowered / raised.
    pub lowered: u64,
    /// Times the bitrate was raised.
    pub raised: u64,
    /// The video bitrate at the end, bits per second.
    pub final_bitrate: u64,
    /// Tag bodies sent (video, audio).
    pub sent_tags: (u64, u64),
    /// Bytes of tag bodies sent.
    pub sent_bytes: u64,
}

/// Counters shared by the pushing side and the sending task.
#[derive(Debug, Default)]
struct Link {
    /// Timestamp (ms) of the newest tag queued.
    queued_ms: AtomicU64,
    /// Timestamp (ms) of the newest tag sent.
    sent_ms: AtomicU64,
    /// Bytes of tag bodies sent so far.
    sent_bytes: AtomicU64,
}

impl Link {
    fn queued(&self) -> Duration {
        let queued = self.queued_ms.load(Ordering::Relaxed);
        let sent = self.sent_ms.load(Ordering::Relaxed);
        Duration::from_millis(queued.saturating_sub(sent))
    }
}

/// A live RTMP publication fed with raw pictures and PCM; see the [module](self) docs.
pub struct LivePublisher {
    video: VideoEncoder,
    audio: AudioEncoder,
    muxer: MediaMuxer,
    rate: Option<RateController>,
    max_queue: Duration,
    link: Arc<Link>,
    tx: mpsc::UnboundedSender<MuxedTag>,
    sender: JoinHandle<Result<(u64, u64), ClientError>>,
    started: Instant,
    /// Dropping video until the next keyframe.
    dropping: bool,
    stats: PublishStats,
}

impl std::fmt::Debug for LivePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePublisher")
            .field("bitrate", &self.video.bitrate())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl LivePublisher {
    /// Opens the encoders, connects to `addr`, publishes `key` in `app` (sending metadata and
    /// the sequence headers) and starts the sending task on the current tokio runtime.
    pub async fn connect(
        addr: impl ToSocketAddrs + std::fmt::Display,
        app: &str,
        key: &str,
        config: PublisherConfig,
    ) -> Result<Self, PublishError> {
        let video = VideoEncoder::new(config.video.clone())?;
        let audio = AudioEncoder::new(config.audio.clone())?;
        let tc_url = format!("rtmp://{addr}/{app}");
        let mut client = RtmpClient::connect(addr, app, &tc_url).await?;
        client.publish(key).await?;
        let v = &config.video;
        let mut props = vec![
            ("width".to_owned(), Amf0Value::Number(f64::from(v.width))),
            ("height".to_owned(), Amf0Value::Number(f64::from(v.height))),
            (
                "framerate".to_owned(),
                Amf0Value::Number(f64::from(v.fps.num) / f64::from(v.fps.den.max(1))),
            ),
            (
                "videodatarate".to_owned(),
                Amf0Value::Number(v.bitrate_bps as f64 / 1000.0),
            ),
            (
                "audiosamplerate".to_owned(),
                Amf0Value::Number(f64::from(config.audio.sample_rate)),
            ),
            (
                "encoder".to_owned(),
                Amf0Value::String(format!("onair {}", env!("CARGO_PKG_VERSION"))),
            ),
        ];
        for info in [video.track_info(), audio.track_info()] {
            let id = match info.config {
                CodecConfig::Avc(_) => Some(("videocodecid", 7.0)),
                // Enhanced RTMP: the FourCC as a number
                CodecConfig::Hevc(_) => {
                    Some(("videocodecid", f64::from(u32::from_be_bytes(*b"hvc1"))))
                }
                CodecConfig::Aac(_) => Some(("audiocodecid", 10.0)),
                _ => None,
            };
            if let Some((key, id)) = id {
                props.push((key.to_owned(), Amf0Value::Number(id)));
            }
        }
        client.send_metadata(&props).await?;

        let link = Arc::new(Link::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let sender = tokio::spawn(send(client, rx, link.clone(), config.simulated_uplink_bps));
        let mut publisher = Self {
            video,
            audio,
            muxer: MediaMuxer::new(),
            rate: config.adapt.map(RateController::new),
            max_queue: config.max_queue,
            link,
            tx,
            sender,
            started: Instant::now(),
            dropping: false,
            stats: PublishStats::default(),
        };
        for info in [
            publisher.video.track_info().clone(),
            publisher.audio.track_info().clone(),
        ] {
            if let Some(tag) = publisher.muxer.track(&info)? {
                publisher.queue(tag)?;
            }
        }
        Ok(publisher)
    }

    /// The video bitrate in use, bits per second.
    pub fn bitrate(&self) -> u64 {
        self.video.bitrate()
    }

    /// Media queued for sending.
    pub fn queued(&self) -> Duration {
        self.link.queued()
    }

    /// What happened so far.
    pub fn stats(&self) -> &PublishStats {
        &self.stats
    }

    /// Encodes one picture (`pts` in 90 kHz ticks, increasing) and queues what comes out.
    /// Adapts the bitrate to the link first. Never blocks on the network.
    pub fn push_video(&mut self, frame: &RawVideoFrame<'_>, pts: i64) -> Result<(), PublishError> {
        self.adapt()?;
        self.video.encode(frame, pts)?;
        self.stats.video_frames += 1;
        self.drain_video()
    }

    /// Encodes interleaved `f32` PCM (any length) and queues the frames that come out.
    pub fn push_audio_f32(&mut self, interleaved: &[f32]) -> Result<(), PublishError> {
        self.audio.push_f32(interleaved)?;
        self.drain_audio()
    }

    /// Encodes interleaved `i16` PCM (any length) and queues the frames that come out.
    pub fn push_audio_s16(&mut self, interleaved: &[i16]) -> Result<(), PublishError> {
        self.audio.push_s16(interleaved)?;
        self.drain_audio()
    }

    /// Flushes the encoders, sends everything queued, ends the publication and closes.
    pub async fn finish(mut self) -> Result<PublishStats, PublishError> {
        self.video.flush()?;
        self.audio.flush()?;
        self.drain_video()?;
        self.drain_audio()?;
        let Self {
            tx,
            sender,
            mut stats,
            video,
            link,
            ..
        } = self;
        drop(tx);
        let (v, a) = sender.await.map_err(|_| PublishError::SenderStopped)??;
        stats.sent_tags = (v, a);
        stats.sent_bytes = link.sent_bytes.load(Ordering::Relaxed);
        stats.final_bitrate = video.bitrate();
        info!(?stats, "publication finished");
        Ok(stats)
    }

    fn adapt(&mut self) -> Result<(), PublishError> {
        let Some(rate) = &mut self.rate else {
            return Ok(());
        };
        let queued = self.link.queued();
        let sent = self.link.sent_bytes.load(Ordering::Relaxed);
        let (bps, lowered) = match rate.update(self.started.elapsed(), queued, sent) {
            Some(RateChange::Lowered { bps, link_bps }) => {
                info!(
                    queued_ms = queued.as_millis() as u64,
                    link_kbps = link_bps / 1000,
                    kbps = bps / 1000,
                    "uplink too slow: lowering the bitrate"
                );
                (bps, true)
            }
            Some(RateChange::Raised { bps }) => {
                info!(kbps = bps / 1000, "uplink keeps up: raising the bitrate");
                (bps, false)
            }
            None => return Ok(()),
        };
        match self.video.set_bitrate(bps) {
            Ok(()) if lowered => self.stats.lowered += 1,
            Ok(()) => self.stats.raised += 1,
            Err(EncoderError::Unsupported { what }) => {
                // e.g. libx265 under FFmpeg 5.1: only dropping to keyframes is left
                warn!(
                    what,
                    "the encoder cannot change its bitrate: adaptation off"
                );
                self.rate = None;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    fn too_far_behind(&self) -> bool {
        let queued = self.link.queued();
        queued > self.max_queue || self.rate.as_ref().is_some_and(|r| r.should_drop(queued))
    }

    fn drain_video(&mut self) -> Result<(), PublishError> {
        while let Some(frame) = self.video.poll_frame() {
            // Too far behind: drop video up to the next keyframe (of the regular GOP: forcing
            // one would spend many bits just when they are short).
            let behind = self.too_far_behind();
            if self.dropping && frame.keyframe && !behind {
                self.dropping = false;
                debug!("caught up: sending video again");
            }
            if behind && !self.dropping {
                self.dropping = true;
                debug!(
                    queued_ms = self.link.queued().as_millis() as u64,
                    "behind: dropping video to the next keyframe"
                );
            }
            if self.dropping {
                self.stats.dropped_video_frames += 1;
                continue;
            }
            self.send_frame(&frame)?;
        }
        Ok(())
    }

    fn drain_audio(&mut self) -> Result<(), PublishError> {
        while let Some(frame) = self.audio.poll_frame() {
            if self.link.queued() > self.max_queue {
                self.stats.dropped_audio_frames += 1;
                continue;
            }
            self.send_frame(&frame)?;
        }
        Ok(())
    }

    fn send_frame(&mut self, frame: &Frame) -> Result<(), PublishError> {
        let tag = self.muxer.frame(frame)?;
        self.queue(tag)
    }

    fn queue(&mut self, tag: MuxedTag) -> Result<(), PublishError> {
        let ms = u64::try_from(tag.timestamp_ms).unwrap_or(0);
        self.tx.send(tag).map_err(|_| PublishError::SenderStopped)?;
        self.link.queued_ms.fetch_max(ms, Ordering::Relaxed);
        Ok(())
    }
}

/// The sending task: tags out in order, counters updated, optionally paced like a slow link.
async fn send(
    mut client: RtmpClient,
    mut rx: mpsc::UnboundedReceiver<MuxedTag>,
    link: Arc<Link>,
    uplink_bps: Option<u64>,
) -> Result<(u64, u64), ClientError> {
    let started = Instant::now();
    let mut sent_bits = 0u64;
    let (mut video, mut audio) = (0u64, 0u64);
    while let Some(tag) = rx.recv().await {
        let ms = u64::try_from(tag.timestamp_ms).unwrap_or(0);
        let size = tag.data.len() as u64;
        let message = if tag.tag_type == FlvTagType::Video {
            video += 1;
            MediaMessage::Video {
                timestamp_ms: ms,
                data: tag.data,
            }
        } else {
            audio += 1;
            MediaMessage::Audio {
                timestamp_ms: ms,
                data: tag.data,
            }
        };
        // Written out at once: the queue in front measures the link by what left.
        client.send(message).await?;
        link.sent_bytes.fetch_add(size, Ordering::Relaxed);
        link.sent_ms.fetch_max(ms, Ordering::Relaxed);
        if let Some(bps) = uplink_bps.filter(|b| *b > 0) {
            // this tag's bits (plus chunk headers) leave no earlier than such a link allows
            sent_bits += (size + 16) * 8;
            let due = Duration::from_secs_f64(sent_bits as f64 / bps as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    client.close().await?;
    Ok((video, audio))
}
