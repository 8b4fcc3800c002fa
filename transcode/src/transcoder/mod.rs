//! The ladder: one decode, one keyframe clock, one scaler cascade, one encoder per rung.

mod audio;
mod plan;
mod video;

use std::collections::VecDeque;
use std::time::Duration;

use onair_encoder::{FrameRate, VideoBackend, VideoCodec, VideoEncoderConfig};
use onair_media_types::{CodecConfig, CodecId, Frame, MediaKind, MediaTime, TrackId, TrackInfo};
use rsmpeg::avutil::AVFrame;
use rsmpeg::ffi as av;

use crate::audio::AudioPath;
use crate::decode::{Received, Sent, VideoDecoder};
use crate::ffi::thread_cpu_time;
use crate::hardware::{self, Attempts};
use crate::keyframes::{self, Judgement, KeyframeClock, PassthroughJudge, Verdict, CLOCK};
use crate::ladder::{self, PlannedRung, SourcePicture};
use crate::scale::{Geometry, Scaler};
use crate::worker::{EncoderSlot, SlotError};
use crate::{
    Event, HardwarePolicy, Output, PassthroughRefusal, RemovalReason, Rendition, RenditionId,
    RenditionKind, RenditionStats, Rung, TranscodeError, TranscoderConfig, TranscoderStats,
};

/// Audio frames kept while no video keyframe has come yet (about 20 s of AAC at 48 kHz).
const EARLY_AUDIO_LIMIT: usize = 1024;

/// Source frames kept for the `source` rendition until the first pictures decode.
const EARLY_VIDEO_LIMIT: usize = 1024;

/// Source keyframes remembered while their pictures are in the decoder (more than any
/// decoder delay holds).
const SOURCE_KEYS_LIMIT: usize = 64;

/// GOP length given to the encoders: never reached, so that only the ladder places IDRs.
const GOP_NEVER: u32 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Made while `source` is judged; its outputs wait.
    Pending,
    Active,
    Removed,
}

struct RenditionState {
    info: Rendition,
    status: Status,
    queue: VecDeque<Output>,
    stats: RenditionStats,
    /// Audio waits for the rendition's first video frame (after its video track is
    /// announced), so that a packager, which cuts on video, sees the stream start with video
    /// and keeps the audio of the same moment.
    awaiting_video: bool,
    held_audio: VecDeque<Frame>,
}

impl RenditionState {
    fn new(info: Rendition, status: Status) -> Self {
        Self {
            info,
            status,
            queue: VecDeque::new(),
            stats: RenditionStats::default(),
            awaiting_video: true,
            held_audio: VecDeque::new(),
        }
    }

    /// Announces (again) the rendition's video track.
    fn push_video_track(&mut self, track: TrackInfo) {
        self.awaiting_video = true;
        self.queue.push_back(Output::Track(track));
    }

    fn push_audio(&mut self, frame: Frame) {
        if self.awaiting_video {
            if self.held_audio.len() >= EARLY_AUDIO_LIMIT {
                self.held_audio.pop_front();
            }
            self.held_audio.push_back(frame);
        } else {
            self.queue.push_back(Output::Frame(frame));
        }
    }

    fn push_video(&mut self, frame: Frame) {
        self.stats.frames += 1;
        self.stats.bytes += frame.data.len() as u64;
        if frame.keyframe {
            self.stats.keyframes += 1;
        }
        let pts = frame.pts_time();
        if self
            .stats
            .last_pts
            .is_none_or(|last| pts.as_secs_f64() > last.as_secs_f64())
        {
            self.stats.last_pts = Some(pts);
        }
        self.queue.push_back(Output::Frame(frame));
        if self.awaiting_video {
            self.awaiting_video = false;
            let held = std::mem::take(&mut self.held_audio);
            self.queue.extend(held.into_iter().map(Output::Frame));
        }
    }

    /// The stream ended: audio still waiting for video goes out as it is.
    fn release_audio(&mut self) {
        let held = std::mem::take(&mut self.held_audio);
        self.queue.extend(held.into_iter().map(Output::Frame));
    }

    fn live(&self) -> bool {
        self.status != Status::Removed
    }
}

/// A transcoded rung's place in the cascade.
struct Stage {
    rendition: usize,
    geometry: Geometry,
    /// The stage whose picture this one scales (`None`: the decoded source).
    from: Option<usize>,
    /// `None` when the input already is this stage's picture (same size, YUV 4:2:0).
    scaler: Option<Scaler>,
    encoder: EncoderSlot,
}

/// What the ladder was planned against.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Source {
    geometry: Geometry,
    sample_aspect: (u32, u32),
    fps: FrameRate,
}

/// An adaptive bitrate ladder: one encoded video stream (H.264 or H.265) and its audio in,
/// several renditions out, each with its own video and the shared audio, with keyframes at
/// the same presentation times in every rendition.
///
/// # Design
///
/// - **One decode.** Each input track has one decoder; every rung is made from the same
///   decoded pictures.
/// - **One clock.** Before a picture goes to any encoder, the ladder decides whether it is
///   an IDR picture, for all renditions at once, and forces it (libx264/libx265 with
///   `forced-idr`, scene cuts off and a GOP never reached, so they place none of their
///   own). With a `source` rung whose keyframes are regular (judged on the first GOP), the
///   IDRs go on the pictures that were source keyframes; otherwise on the first picture at
///   or after each multiple of the segment target, where the HLS packager cuts. Every
///   rendition's keyframe list is the same by construction.
/// - **A scaler cascade.** Rungs are scaled (swscale, bicubic as FFmpeg's `scale` filter)
///   largest first, each from the nearest larger picture: 1080p -> 720p -> 480p -> 360p.
///   A rung at the source's size takes the decoded picture as it is.
/// - **Encoders on workers.** With [`TranscoderConfig::parallel`] (default) each rung's
///   encoder runs on a thread of its own, fed references to the scaled pictures (no copy)
///   over a bounded queue: encoders run in parallel with each other and with decoding,
///   and each rung's CPU time is measured ([`RenditionStats::encode_cpu`]). Decoding,
///   scaling and the rest run in the calling thread. Without it, everything runs in the
///   calling thread.
/// - **No IO, no async.** Frames in, outputs and events out; the caller owns the clock,
///   the sockets and the packagers.
///
/// # The `source` rung
///
/// The source's keyframes are judged live on its first GOP (first keyframe to second): if
/// a whole number of GOPs makes the segment target (within half a frame), the source is
/// passed through ([`Event::PassthroughAccepted`]) and every rendition gets its IDRs where
/// the source has keyframes; if not, or if no second keyframe comes within the target, it
/// is refused ([`Event::PassthroughRefused`] with a [`PassthroughRefusal`]) and a
/// transcoded rung at the source's size (encoded from the start, while judging) takes its
/// place. Later, a GOP unlike the first is followed by every rendition and reported
/// ([`Event::IrregularSourceGop`]); keyframes that stop for longer than
/// [`TranscoderConfig::passthrough_max_gop`] end the passthrough
/// ([`Event::PassthroughEnded`]): the stand-in starts, every rendition gets an IDR there, and
/// the ladder's own clock takes over.
///
/// # Bad input
///
/// A corrupt video packet (malformed NAL units, a decoder error, a picture the decoder
/// flags as damaged) is counted and reported ([`Event::CorruptInput`]); the decoder is reset
/// and decoding resumes at the next keyframe (the pictures in between are missing from the
/// transcoded renditions). A new sequence header is a new decoder; pictures of another size
/// plan the ladder again ([`Event::Reinitialized`]): encoders restart with an IDR and
/// announce their track again (a packager makes that a discontinuity), renditions keep
/// their ids where their rung still fits. A frame without a decoder configuration is
/// [`TranscodeError::MissingDecoderConfig`]. Audio-only input makes no renditions.
///
/// # Delay
///
/// The ladder holds the first two decoded pictures to learn the frame rate; then a picture
/// is delayed by the decoder (its reordering, plus one frame per extra decoder thread) and
/// by each encoder's lookahead ([`EncoderSettings::lookahead`](crate::EncoderSettings),
/// 10 frames by default) and B-frames (none by default): about a third of a second at
/// 30 fps, plus the time to encode. A `source` rung's outputs wait until its first GOP has
/// been judged (at most the segment target). [`Transcoder::lag`] measures it.
///
/// # Run loop
///
/// Push tracks and frames as they come, then drain every rendition's outputs and the
/// events, each until `None`:
///
/// ```no_run
/// use onair_transcode::{Event, Output, Transcoder, TranscoderConfig};
/// # fn run(input: Vec<(Option<onair_media_types::TrackInfo>, Option<onair_media_types::Frame>)>) -> Result<(), onair_transcode::TranscodeError> {
/// let config = TranscoderConfig::new("source,720p,480p,360p".parse().unwrap());
/// let mut ladder = Transcoder::new(config)?;
/// let mut live = Vec::new();
/// for (track, frame) in input {
///     if let Some(track) = track {
///         ladder.push_track(track)?;
///     }
///     if let Some(frame) = frame {
///         ladder.push_frame(frame)?;
///     }
///     while let Some(event) = ladder.poll_event() {
///         match event {
///             Event::RenditionAdded { id } => live.push(id), // and make it a packager
///             other => { /* log it, count it */ }
///         }
///     }
///     for &id in &live {
///         while let Some(output) = ladder.poll_output(id) {
///             match output {
///                 Output::Track(track) => { /* packager.add_track(track) */ }
///                 Output::Frame(frame) => { /* packager.push_frame(frame) */ }
///             }
///         }
///     }
/// }
/// ladder.flush()?; // then drain once more
/// # Ok(()) }
/// ```
pub struct Transcoder {
    config: TranscoderConfig,
    events: VecDeque<Event>,
    stats: TranscoderStats,
    flushed: bool,

    video_track: Option<TrackInfo>,
    decoder: Option<VideoDecoder>,
    audio: Option<AudioPath>,
    audio_scratch: VecDeque<Frame>,

    judge: Option<PassthroughJudge>,
    clock: KeyframeClock,
    /// Presentation times of source keyframes sent to the decoder and not yet decoded.
    source_keys: VecDeque<i64>,
    first_keyframe: Option<MediaTime>,
    force_idr: bool,

    gpu: Option<VideoBackend>,
    source: Option<Source>,
    /// Decoded pictures (and whether each was a source keyframe) held until the ladder is
    /// planned.
    held: Vec<(AVFrame, bool)>,
    early_video: VecDeque<Frame>,
    early_audio: VecDeque<Frame>,

    renditions: Vec<RenditionState>,
    stages: Vec<Stage>,
    next_id: u32,
    /// An encoder failure noticed while polling, reported by the next push.
    failure: Option<TranscodeError>,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("ladder", &self.config.ladder.to_string())
            .field("renditions", &self.renditions().collect::<Vec<_>>())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn pts90(t: MediaTime) -> i64 {
    t.rescale(CLOCK)
}

fn picture_pts(picture: &AVFrame) -> i64 {
    if picture.pts != av::AV_NOPTS_VALUE {
        picture.pts
    } else {
        picture.best_effort_timestamp
    }
}

fn reduce(num: u32, den: u32) -> FrameRate {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(num, den).max(1);
    FrameRate::new(num / g, den / g)
}

impl Transcoder {
    /// A ladder for `config`. With a GPU [`HardwarePolicy`] the GPU encoders are tried
    /// here, once, with a small picture: under
    /// [`GpuOnly`](HardwarePolicy::GpuOnly) this fails with
    /// [`TranscodeError::HardwareUnavailable`] when none opens; under
    /// [`GpuThenCpu`](HardwarePolicy::GpuThenCpu) it queues an
    /// [`Event::HardwareFallback`] and the rungs use libx264/libx265.
    pub fn new(config: TranscoderConfig) -> Result<Self, TranscodeError> {
        if config.segment_target.is_zero() {
            return Err(TranscodeError::InvalidConfig {
                what: "segment_target",
            });
        }
        if config
            .passthrough_max_gop
            .is_some_and(|max| max < config.segment_target)
        {
            return Err(TranscodeError::InvalidConfig {
                what: "passthrough_max_gop (below the segment target)",
            });
        }
        let mut this = Self {
            clock: KeyframeClock::new(config.segment_target),
            config,
            events: VecDeque::new(),
            stats: TranscoderStats::default(),
            flushed: false,
            video_track: None,
            decoder: None,
            audio: None,
            audio_scratch: VecDeque::new(),
            judge: None,
            source_keys: VecDeque::new(),
            first_keyframe: None,
            force_idr: false,
            gpu: None,
            source: None,
            held: Vec::new(),
            early_video: VecDeque::new(),
            early_audio: VecDeque::new(),
            renditions: Vec::new(),
            stages: Vec::new(),
            next_id: 0,
            failure: None,
        };
        if this.config.hardware != HardwarePolicy::Cpu {
            let template = this.encoder_config(320, 180, 1_000_000, FrameRate::new(30, 1), 1000);
            let (gpu, tried) = hardware::probe(&template);
            this.gpu = gpu;
            if gpu.is_none() {
                if this.config.hardware == HardwarePolicy::GpuOnly {
                    return Err(TranscodeError::HardwareUnavailable { tried });
                }
                this.report_fallback(None, tried);
            }
        }
        Ok(this)
    }

    fn report_fallback(&mut self, rendition: Option<RenditionId>, tried: Attempts) {
        let using = self.config.encoder.codec.encoder_name();
        tracing::warn!(
            ?rendition,
            using,
            tried = ?tried.iter().map(|(name, e)| format!("{name}: {e}")).collect::<Vec<_>>(),
            "gpu encoder unavailable, encoding on the cpu"
        );
        self.stats.hardware_fallbacks += 1;
        self.events.push_back(Event::HardwareFallback {
            rendition,
            tried,
            using,
        });
    }

    /// The configuration.
    pub fn config(&self) -> &TranscoderConfig {
        &self.config
    }

    /// Announces an input track, or a new configuration of the video track (a new
    /// sequence header): the old decoder is drained, a new one opened, and if the pictures
    /// change size the ladder is planned again ([`Event::Reinitialized`]).
    ///
    /// Fails with [`TranscodeError::UnsupportedCodec`] for video other than H.264/H.265 or
    /// audio other than AAC/MP3/Opus, [`TranscodeError::MissingDecoderConfig`] for an
    /// AVC/HEVC record without parameter sets, and [`TranscodeError::SecondVideoTrack`].
    pub fn push_track(&mut self, track: TrackInfo) -> Result<(), TranscodeError> {
        if self.flushed {
            return Err(TranscodeError::Flushed);
        }
        match track.kind() {
            MediaKind::Video => self.video_track_changed(track),
            MediaKind::Audio => self.audio_track_changed(track),
        }
    }

    /// Feeds one frame of an announced track (video in decode order).
    ///
    /// Video frames before the first keyframe are skipped. A corrupt video packet is
    /// counted, reported ([`Event::CorruptInput`]) and decoding resumes at the next
    /// keyframe. With [`TranscoderConfig::parallel`] this waits only when an encoder's queue
    /// is full.
    ///
    /// Fails with [`TranscodeError::MissingDecoderConfig`] for a track never announced,
    /// [`TranscodeError::Encoder`] if an encoder fails, [`TranscodeError::Flushed`] after
    /// [`flush`](Self::flush).
    pub fn push_frame(&mut self, frame: Frame) -> Result<(), TranscodeError> {
        if self.flushed {
            return Err(TranscodeError::Flushed);
        }
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        if self
            .video_track
            .as_ref()
            .is_some_and(|t| t.id == frame.track)
        {
            self.push_video(frame)?;
        } else if self
            .audio
            .as_ref()
            .is_some_and(|a| a.track().id == frame.track)
        {
            self.push_audio(&frame)?;
        } else {
            return Err(TranscodeError::MissingDecoderConfig {
                track: frame.track.0,
            });
        }
        self.collect()
    }

    /// Ends the input: drains the decoders and encoders, queueing every remaining output.
    /// A `source` rung still being judged (the whole input was one GOP within the segment
    /// target) is accepted. Later input fails with [`TranscodeError::Flushed`]; flushing
    /// twice does nothing.
    pub fn flush(&mut self) -> Result<(), TranscodeError> {
        if self.flushed {
            return Ok(());
        }
        self.drain_decoder()?;
        if self.source.is_none() && !self.held.is_empty() {
            self.plan_from_held()?;
        }
        if self.judge.as_ref().map(PassthroughJudge::verdict) == Some(Verdict::Judging) {
            let gop = self
                .first_keyframe
                .zip(self.stats.last_input_pts)
                .map_or(Duration::ZERO, |(first, last)| {
                    keyframes::duration(pts90(last) - pts90(first))
                });
            if let Some(judge) = &mut self.judge {
                judge.accept_at_end();
            }
            self.on_judgement(Judgement::Accepted { gop })?;
        }
        while !self.stages.is_empty() {
            self.finish_stage(0)?;
        }
        if let Some(AudioPath::Transcode(t)) = &mut self.audio {
            t.flush(&mut self.audio_scratch)?;
        }
        self.distribute_audio();
        for r in &mut self.renditions {
            r.release_audio();
        }
        self.flushed = true;
        Ok(())
    }

    /// The next output of rendition `id`, in order; call after every push and after
    /// [`flush`](Self::flush) until `None`. A rendition that is not announced yet (its
    /// [`Event::RenditionAdded`] not given) has none; a removed one hands out what is
    /// left.
    pub fn poll_output(&mut self, id: RenditionId) -> Option<Output> {
        let index = self.renditions.iter().position(|r| r.info.id == id)?;
        if self.renditions[index].status == Status::Pending {
            return None;
        }
        if self.renditions[index].queue.is_empty() {
            // A worker may have finished frames since the last push.
            if let Some(stage) = self.stages.iter_mut().find(|s| s.rendition == index) {
                let r = &mut self.renditions[index];
                if let Err(e) = stage.encoder.collect(&mut |frame| r.push_video(frame)) {
                    self.failure.get_or_insert(slot_error(id, e));
                }
            }
        }
        self.renditions[index].queue.pop_front()
    }

    /// The next event; call after every push until `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The renditions announced (with [`Event::RenditionAdded`]) and not removed, in the
    /// order they were made: the `source` rendition, then the rungs in ladder order.
    pub fn renditions(&self) -> impl Iterator<Item = &Rendition> + '_ {
        self.renditions
            .iter()
            .filter(|r| r.status == Status::Active)
            .map(|r| &r.info)
    }

    /// What rendition `id` is (also after it was removed).
    pub fn rendition(&self, id: RenditionId) -> Option<&Rendition> {
        self.renditions
            .iter()
            .find(|r| r.info.id == id)
            .map(|r| &r.info)
    }

    /// Counters and costs of rendition `id`, with the encoder CPU time up to now.
    pub fn rendition_stats(&self, id: RenditionId) -> Option<RenditionStats> {
        let index = self.renditions.iter().position(|r| r.info.id == id)?;
        let mut stats = self.renditions[index].stats.clone();
        if let Some(stage) = self.stages.iter().find(|s| s.rendition == index) {
            stats.encode_cpu += stage.encoder.cpu();
        }
        Some(stats)
    }

    /// Counters of the whole ladder.
    pub fn stats(&self) -> &TranscoderStats {
        &self.stats
    }

    /// How far rendition `id`'s output is behind the input: the presentation time of the
    /// latest video frame pushed minus that of the latest frame it handed out. `None`
    /// before either exists.
    pub fn lag(&self, id: RenditionId) -> Option<Duration> {
        let input = self.stats.last_input_pts?;
        let output = self
            .renditions
            .iter()
            .find(|r| r.info.id == id)?
            .stats
            .last_pts?;
        Some(Duration::from_secs_f64(
            (input.as_secs_f64() - output.as_secs_f64()).max(0.0),
        ))
    }

    /// Stops rendition `id` (to shed load): its encoder is flushed (the last frames are
    /// queued for [`poll_output`](Self::poll_output)) and closed; rungs that were scaled
    /// from its picture are scaled from the next larger one. The others keep going, their
    /// keyframes still aligned. Reported as [`Event::RenditionRemoved`]; shedding a
    /// removed rendition does nothing.
    pub fn shed(&mut self, id: RenditionId) -> Result<(), TranscodeError> {
        let index = self
            .renditions
            .iter()
            .position(|r| r.info.id == id)
            .ok_or(TranscodeError::UnknownRendition { id })?;
        if !self.renditions[index].live() {
            return Ok(());
        }
        if let Some(stage) = self.stages.iter().position(|s| s.rendition == index) {
            self.finish_stage(stage)?;
            self.sort_and_link()?;
        }
        self.renditions[index].status = Status::Removed;
        tracing::info!(rendition = id.0, name = %self.renditions[index].info.name, "rendition shed");
        self.events.push_back(Event::RenditionRemoved {
            id,
            reason: RemovalReason::Shed,
        });
        Ok(())
    }
}

fn sample_aspect(picture: &AVFrame) -> (u32, u32) {
    let sar = picture.sample_aspect_ratio;
    match (u32::try_from(sar.num), u32::try_from(sar.den)) {
        (Ok(n), Ok(d)) if n > 0 && d > 0 => (n, d),
        _ => (1, 1),
    }
}

fn slot_error(rendition: RenditionId, e: SlotError) -> TranscodeError {
    match e {
        SlotError::Encoder(source) => TranscodeError::Encoder { rendition, source },
        SlotError::Stopped => TranscodeError::WorkerStopped { rendition },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcoder_can_move_to_a_worker_thread() {
        fn send<T: Send>() {}
        send::<Transcoder>();
    }
}
