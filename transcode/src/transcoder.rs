//! The ladder: one decode, one keyframe clock, one scaler cascade, one encoder per rung.

use std::collections::VecDeque;
use std::time::Duration;

use onair_encoder::{FrameRate, VideoBackend, VideoCodec, VideoEncoderConfig};
use onair_media_types::{CodecId, Frame, MediaKind, MediaTime, TrackId, TrackInfo};
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

    fn video_track_changed(&mut self, track: TrackInfo) -> Result<(), TranscodeError> {
        if let Some(current) = &self.video_track {
            if current.id != track.id {
                return Err(TranscodeError::SecondVideoTrack { track: track.id.0 });
            }
            if *current == track {
                return Ok(());
            }
        }
        if !matches!(track.config.codec(), CodecId::H264 | CodecId::H265) {
            return Err(TranscodeError::UnsupportedCodec {
                codec: track.config.codec(),
            });
        }
        let decoder = VideoDecoder::new(&track, self.config.decoder_threads)?;
        if self.decoder.is_some() {
            self.drain_decoder()?;
        }
        self.decoder = Some(decoder);
        if self.judge.is_none() && self.config.ladder.has_source() {
            self.judge = Some(PassthroughJudge::new(
                self.config.segment_target,
                self.config
                    .passthrough_max_gop
                    .unwrap_or(self.config.segment_target * 2),
            ));
        }
        for r in &mut self.renditions {
            if r.info.kind == RenditionKind::Passthrough && r.live() {
                r.push_video_track(track.clone());
            }
        }
        self.video_track = Some(track);
        Ok(())
    }

    fn audio_track_changed(&mut self, track: TrackInfo) -> Result<(), TranscodeError> {
        let same = self.audio.as_ref().is_some_and(|a| match a {
            AudioPath::Passthrough { track: t } => *t == track,
            AudioPath::Transcode(t) => *t.input() == track,
        });
        if same {
            return Ok(());
        }
        if let Some(AudioPath::Transcode(old)) = &mut self.audio {
            old.flush(&mut self.audio_scratch)?;
            self.distribute_audio();
        }
        let path = AudioPath::new(&track, self.config.audio_bitrate_bps)?;
        let out = path.track().clone();
        self.audio = Some(path);
        for r in self.renditions.iter_mut().filter(|r| r.live()) {
            r.queue.push_back(Output::Track(out.clone()));
        }
        Ok(())
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

    fn push_video(&mut self, frame: Frame) -> Result<(), TranscodeError> {
        self.stats.video_in += 1;
        let pts = frame.pts_time();
        if self
            .stats
            .last_input_pts
            .is_none_or(|l| pts.as_secs_f64() > l.as_secs_f64())
        {
            self.stats.last_input_pts = Some(pts);
        }
        if self.first_keyframe.is_none() {
            if !frame.keyframe {
                self.stats.skipped_frames += 1;
                return Ok(());
            }
            self.first_keyframe = Some(pts);
        }
        if let Some(judgement) = self
            .judge
            .as_mut()
            .and_then(|j| j.on_frame(pts90(pts), frame.keyframe))
        {
            self.on_judgement(judgement)?;
        }
        self.pass_through(&frame);
        self.decode(&frame)
    }

    /// Hands the source frame to the `source` rendition while it lives.
    fn pass_through(&mut self, frame: &Frame) {
        let verdict = self.judge.as_ref().map(PassthroughJudge::verdict);
        if !matches!(verdict, Some(Verdict::Judging | Verdict::Accepted)) {
            return;
        }
        match self
            .renditions
            .iter_mut()
            .find(|r| r.info.kind == RenditionKind::Passthrough && r.live())
        {
            Some(r) => r.push_video(frame.clone()),
            // Until the first pictures decode; a source that never decodes is not
            // buffered forever.
            None if self.source.is_none() && self.early_video.len() < EARLY_VIDEO_LIMIT => {
                self.early_video.push_back(frame.clone());
            }
            None => {}
        }
    }

    fn decode(&mut self, frame: &Frame) -> Result<(), TranscodeError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(());
        };
        let start = thread_cpu_time();
        let sent = decoder.send(frame)?;
        self.stats.decode_cpu += thread_cpu_time().saturating_sub(start);
        match sent {
            Sent::Skipped => {
                self.stats.skipped_frames += 1;
                return Ok(());
            }
            Sent::Corrupt => {
                self.corrupt(frame.track, frame.pts_time());
                return Ok(());
            }
            Sent::Decoding => {}
        }
        if frame.keyframe {
            if self.source_keys.len() >= SOURCE_KEYS_LIMIT {
                self.source_keys.pop_front();
            }
            self.source_keys.push_back(frame.pts);
        }
        self.receive_pictures(Some((frame.track, frame.pts_time())))
    }

    fn corrupt(&mut self, track: TrackId, pts: MediaTime) {
        self.stats.corrupt_packets += 1;
        tracing::warn!(
            track = track.0,
            pts = pts.as_secs_f64(),
            "corrupt video packet, waiting for the next keyframe"
        );
        self.events.push_back(Event::CorruptInput { track, pts });
        if let Some(decoder) = &mut self.decoder {
            decoder.reset();
        }
        self.source_keys.clear();
    }

    /// Takes every picture the decoder has ready. `packet` names the packet just sent, for
    /// the corruption report.
    fn receive_pictures(
        &mut self,
        packet: Option<(TrackId, MediaTime)>,
    ) -> Result<(), TranscodeError> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(());
            };
            let start = thread_cpu_time();
            let received = decoder.receive();
            self.stats.decode_cpu += thread_cpu_time().saturating_sub(start);
            match received {
                Received::Empty => return Ok(()),
                Received::Corrupt => {
                    let (track, pts) = packet.unwrap_or((
                        self.video_track.as_ref().map_or(TrackId(0), |t| t.id),
                        MediaTime::new(0, 1),
                    ));
                    self.corrupt(track, pts);
                    return Ok(());
                }
                Received::Picture(picture) => {
                    self.stats.decoded += 1;
                    let pts = picture_pts(&picture);
                    let mut key = false;
                    while let Some(&k) = self.source_keys.front() {
                        if k > pts {
                            break;
                        }
                        key |= k == pts;
                        self.source_keys.pop_front();
                    }
                    self.on_picture(picture, key)?;
                }
            }
        }
    }

    fn drain_decoder(&mut self) -> Result<(), TranscodeError> {
        if let Some(decoder) = &mut self.decoder {
            decoder.drain();
        }
        self.receive_pictures(None)
    }

    fn on_picture(&mut self, picture: AVFrame, source_key: bool) -> Result<(), TranscodeError> {
        if self.source.is_none() {
            self.held.push((picture, source_key));
            if self.held.len() >= 2 {
                self.plan_from_held()?;
            }
            return Ok(());
        }
        let geometry = Geometry::of(&picture);
        let sar = sample_aspect(&picture);
        if let Some(source) = self.source {
            if source.geometry != geometry || source.sample_aspect != sar {
                self.reinitialize(&picture)?;
            }
        }
        self.encode_picture(picture, source_key)
    }

    fn plan_from_held(&mut self) -> Result<(), TranscodeError> {
        let held = std::mem::take(&mut self.held);
        let Some((first, _)) = held.first() else {
            return Ok(());
        };
        let timescale = self.video_track.as_ref().map_or(1000, |t| t.timescale);
        let measured = held.get(1).and_then(|(second, _)| {
            let step = picture_pts(second) - picture_pts(first);
            u32::try_from(step)
                .ok()
                .filter(|s| *s > 0)
                .map(|s| reduce(timescale, s))
        });
        let fps = self
            .decoder
            .as_ref()
            .and_then(VideoDecoder::frame_rate)
            .map(|(n, d)| reduce(n, d))
            .or(measured)
            .unwrap_or(FrameRate::new(30, 1));
        self.source = Some(Source {
            geometry: Geometry::of(first),
            sample_aspect: sample_aspect(first),
            fps,
        });
        self.plan()?;
        for (picture, key) in held {
            self.on_picture(picture, key)?;
        }
        Ok(())
    }

    fn source_picture(&self) -> Option<SourcePicture> {
        let source = self.source?;
        Some(SourcePicture {
            width: u32::try_from(source.geometry.width).unwrap_or(0),
            height: u32::try_from(source.geometry.height).unwrap_or(0),
            sample_aspect: source.sample_aspect,
            bitrate_bps: self.config.source_bitrate_bps,
        })
    }

    fn encoder_config(
        &self,
        width: u32,
        height: u32,
        bitrate_bps: u64,
        fps: FrameRate,
        timescale: u32,
    ) -> VideoEncoderConfig {
        let s = &self.config.encoder;
        let mut c = VideoEncoderConfig::new(width, height, fps, bitrate_bps);
        c.codec = s.codec;
        c.gop = GOP_NEVER;
        c.preset = s.preset.clone();
        c.zerolatency = false;
        c.b_frames = s.b_frames;
        c.lookahead = Some(s.lookahead);
        let max_rate = bitrate_bps.saturating_mul(u64::from(s.max_rate_percent)) / 100;
        c.max_bitrate_bps = Some(max_rate.max(bitrate_bps));
        c.buffer_size_bits = Some(
            (max_rate as f64 * s.buffer.as_secs_f64())
                .round()
                .max(1000.0) as u64,
        );
        c.profile = match (&s.profile, s.codec) {
            (Some(profile), _) => Some(profile.clone()),
            (None, VideoCodec::H264) => Some("high".to_owned()),
            (None, _) => None,
        };
        c.level = s.level.clone();
        c.threads = s.threads;
        c.sliced_threads = s.sliced_threads;
        c.timescale = timescale;
        // Sources are constant-rate (or meant to be); the SPS then carries the frame rate.
        c.constant_frame_rate = true;
        if let Some(track) = &self.video_track {
            c.track = track.id;
        }
        c
    }

    /// Plans the ladder against `self.source` and makes the renditions and stages.
    fn plan(&mut self) -> Result<(), TranscodeError> {
        let Some(source) = self.source_picture() else {
            return Ok(());
        };
        let plan = ladder::plan(&self.config.ladder, &source);
        for (rung, reason) in &plan.dropped {
            self.events.push_back(Event::RungDropped {
                rung: *rung,
                reason: *reason,
            });
        }
        let verdict = self.judge.as_ref().map(PassthroughJudge::verdict);
        // The passthrough rendition, made once.
        let has_passthrough = self
            .renditions
            .iter()
            .any(|r| r.info.kind == RenditionKind::Passthrough);
        if !has_passthrough && matches!(verdict, Some(Verdict::Judging | Verdict::Accepted)) {
            if let Some(track) = self.video_track.clone() {
                let status = if verdict == Some(Verdict::Accepted) {
                    Status::Active
                } else {
                    Status::Pending
                };
                let index = self.add_rendition(
                    Rendition {
                        id: RenditionId(0),
                        name: "source".to_owned(),
                        rung: Rung::Source,
                        kind: RenditionKind::Passthrough,
                        width: source.width,
                        height: source.height,
                        bitrate_bps: self.config.source_bitrate_bps.unwrap_or(0),
                        codec: track.config.codec(),
                        encoder: "copy",
                    },
                    status,
                );
                let r = &mut self.renditions[index];
                r.push_video_track(track);
                for frame in std::mem::take(&mut self.early_video) {
                    r.push_video(frame);
                }
            }
        }
        self.early_video.clear();
        let mut rungs = plan.rungs;
        if let Some(stand_in) = plan.stand_in {
            match verdict {
                Some(Verdict::Accepted) => {}
                Some(Verdict::Judging) => {
                    self.build_stage(&stand_in, Status::Pending)?;
                }
                _ => rungs.insert(0, stand_in),
            }
        }
        for rung in &rungs {
            self.build_stage(rung, Status::Active)?;
        }
        self.sort_and_link()?;
        self.force_idr = true;
        // Audio that came before planning goes to every rendition.
        let early = std::mem::take(&mut self.early_audio);
        for frame in early {
            self.audio_scratch.push_back(frame);
        }
        self.distribute_audio();
        Ok(())
    }

    fn add_rendition(&mut self, mut info: Rendition, status: Status) -> usize {
        info.id = RenditionId(self.next_id);
        self.next_id += 1;
        let mut queue = VecDeque::new();
        if let Some(audio) = &self.audio {
            queue.push_back(Output::Track(audio.track().clone()));
        }
        if status == Status::Active {
            self.events.push_back(Event::RenditionAdded { id: info.id });
        }
        let mut state = RenditionState::new(info, status);
        state.queue = queue;
        self.renditions.push(state);
        self.renditions.len() - 1
    }

    /// Opens a rung's encoder and makes (or reuses, after a re-plan) its rendition.
    fn build_stage(&mut self, rung: &PlannedRung, status: Status) -> Result<(), TranscodeError> {
        let Some(source) = self.source else {
            return Ok(());
        };
        let timescale = self.video_track.as_ref().map_or(1000, |t| t.timescale);
        let config = self.encoder_config(
            rung.width,
            rung.height,
            rung.bitrate_bps,
            source.fps,
            timescale,
        );
        // A live rendition of the same rung without an encoder (after a re-plan) keeps its
        // id.
        let existing = (0..self.renditions.len()).find(|&i| {
            let r = &self.renditions[i];
            r.live()
                && r.info.kind == RenditionKind::Transcoded
                && r.info.rung == rung.rung
                && !self.stages.iter().any(|s| s.rendition == i)
        });
        let next_id = RenditionId(existing.map_or(self.next_id, |i| self.renditions[i].info.id.0));
        let opened = hardware::open(config, self.config.hardware, self.gpu)
            .map_err(|e| e.for_rendition(next_id))?;
        let slot = EncoderSlot::new(
            opened.encoder,
            self.config.parallel,
            self.config.worker_queue,
            format!("onair-{}", rung.name),
        );
        let info = Rendition {
            id: next_id,
            name: rung.name.clone(),
            rung: rung.rung,
            kind: RenditionKind::Transcoded,
            width: rung.width,
            height: rung.height,
            bitrate_bps: rung.bitrate_bps,
            codec: self.config.encoder.codec.codec_id(),
            encoder: slot.encoder_name(),
        };
        let index = match existing {
            Some(i) => {
                let r = &mut self.renditions[i];
                r.info = info;
                i
            }
            None => self.add_rendition(info, status),
        };
        let id = self.renditions[index].info.id;
        self.renditions[index].push_video_track(slot.track_info().clone());
        if !opened.failed.is_empty() {
            self.report_fallback(Some(id), opened.failed);
        }
        self.stages.push(Stage {
            rendition: index,
            geometry: Geometry::yuv420p(rung.width, rung.height),
            from: None,
            scaler: None,
            encoder: slot,
        });
        Ok(())
    }

    /// Orders the stages largest first and links each to the picture it scales from.
    fn sort_and_link(&mut self) -> Result<(), TranscodeError> {
        let Some(source) = self.source else {
            return Ok(());
        };
        self.stages.sort_by_key(|s| {
            std::cmp::Reverse(i64::from(s.geometry.width) * i64::from(s.geometry.height))
        });
        let sizes: Vec<(u32, u32)> = self
            .stages
            .iter()
            .map(|s| (s.geometry.width as u32, s.geometry.height as u32))
            .collect();
        let links = if self.config.cascade {
            ladder::scale_sources(&sizes)
        } else {
            vec![None; sizes.len()]
        };
        for (i, from) in links.into_iter().enumerate() {
            let input = match from {
                Some(j) => self.stages[j].geometry,
                None => source.geometry,
            };
            let stage = &mut self.stages[i];
            stage.from = from;
            if input == stage.geometry {
                stage.scaler = None;
            } else if stage.scaler.as_ref().is_none_or(|s| s.input() != input) {
                stage.scaler = Some(Scaler::new(input, stage.geometry)?);
            }
        }
        Ok(())
    }

    fn encode_picture(&mut self, picture: AVFrame, source_key: bool) -> Result<(), TranscodeError> {
        let pts = picture_pts(&picture);
        let timescale = self.video_track.as_ref().map_or(1000, |t| t.timescale);
        let follow = matches!(
            self.judge.as_ref().map(PassthroughJudge::verdict),
            Some(Verdict::Judging | Verdict::Accepted)
        );
        let force = std::mem::take(&mut self.force_idr);
        let idr = self.clock.decide(
            pts90(MediaTime::new(pts, timescale)),
            source_key,
            follow,
            force,
        );
        for i in 0..self.stages.len() {
            let (before, rest) = self.stages.split_at_mut(i);
            let stage = &mut rest[0];
            let input: &AVFrame = match stage.from {
                Some(j) => before[j].scaler.as_ref().map_or(&picture, Scaler::picture),
                None => &picture,
            };
            let rendition = stage.rendition;
            let result = match &mut stage.scaler {
                Some(scaler) => {
                    let start = thread_cpu_time();
                    let scaled = scaler.scale(input)?;
                    self.renditions[rendition].stats.scale_cpu +=
                        thread_cpu_time().saturating_sub(start);
                    stage.encoder.submit(scaled, pts, idr)
                }
                None => {
                    let mut direct = input.clone();
                    stage.encoder.submit(&mut direct, pts, idr)
                }
            };
            let id = self.renditions[rendition].info.id;
            result.map_err(|e| slot_error(id, e))?;
        }
        Ok(())
    }

    /// Moves the encoders' frames to their renditions' queues.
    fn collect(&mut self) -> Result<(), TranscodeError> {
        for stage in &mut self.stages {
            let r = &mut self.renditions[stage.rendition];
            let id = r.info.id;
            stage
                .encoder
                .collect(&mut |frame| r.push_video(frame))
                .map_err(|e| slot_error(id, e))?;
        }
        Ok(())
    }

    fn finish_stage(&mut self, index: usize) -> Result<(), TranscodeError> {
        let mut stage = self.stages.remove(index);
        let r = &mut self.renditions[stage.rendition];
        let id = r.info.id;
        let result = stage
            .encoder
            .finish(&mut |frame| r.push_video(frame))
            .map_err(|e| slot_error(id, e));
        r.stats.encode_cpu += stage.encoder.cpu();
        result
    }

    fn on_judgement(&mut self, judgement: Judgement) -> Result<(), TranscodeError> {
        match judgement {
            Judgement::Accepted { gop } => {
                tracing::info!(
                    gop = gop.as_secs_f64(),
                    "source keyframes are regular: passing it through"
                );
                self.events.push_back(Event::PassthroughAccepted { gop });
                for i in 0..self.renditions.len() {
                    let r = &self.renditions[i];
                    if r.status != Status::Pending {
                        continue;
                    }
                    if r.info.kind == RenditionKind::Passthrough {
                        self.activate(i);
                    } else {
                        self.discard(i);
                    }
                }
                self.sort_and_link()?;
            }
            Judgement::Refused(reason) => {
                tracing::info!(
                    ?reason,
                    "source not passed through; a transcoded rung takes its place"
                );
                self.events.push_back(Event::PassthroughRefused { reason });
                for i in 0..self.renditions.len() {
                    let r = &self.renditions[i];
                    if r.status != Status::Pending {
                        continue;
                    }
                    if r.info.kind == RenditionKind::Passthrough {
                        self.discard(i);
                    } else {
                        self.activate(i);
                    }
                }
            }
            Judgement::Irregular { gop } => {
                self.stats.irregular_source_gops += 1;
                tracing::warn!(
                    gop = gop.as_secs_f64(),
                    "irregular source gop; renditions follow it"
                );
                self.events.push_back(Event::IrregularSourceGop { gop });
            }
            Judgement::Ended(reason) => {
                tracing::warn!(?reason, "source keyframes stopped: passthrough ends");
                self.events.push_back(Event::PassthroughEnded { reason });
                for r in &mut self.renditions {
                    if r.info.kind == RenditionKind::Passthrough && r.live() {
                        r.status = Status::Removed;
                        self.events.push_back(Event::RenditionRemoved {
                            id: r.info.id,
                            reason: RemovalReason::PassthroughEnded,
                        });
                    }
                }
                // A transcoded rung at the source's size takes over, and every rendition
                // starts a GOP with it.
                if let Some(source) = self.source_picture() {
                    if let Some(stand_in) = ladder::plan(&self.config.ladder, &source).stand_in {
                        self.build_stage(&stand_in, Status::Active)?;
                        self.sort_and_link()?;
                    }
                }
                self.force_idr = true;
            }
        }
        Ok(())
    }

    fn activate(&mut self, index: usize) {
        let r = &mut self.renditions[index];
        r.status = Status::Active;
        self.events
            .push_back(Event::RenditionAdded { id: r.info.id });
    }

    /// Drops a rendition that was never announced (the loser of the passthrough judgement).
    fn discard(&mut self, index: usize) {
        let r = &mut self.renditions[index];
        r.status = Status::Removed;
        r.queue.clear();
        self.stages.retain(|s| s.rendition != index);
    }

    fn reinitialize(&mut self, picture: &AVFrame) -> Result<(), TranscodeError> {
        let geometry = Geometry::of(picture);
        tracing::info!(
            width = geometry.width,
            height = geometry.height,
            "source changed: planning the ladder again"
        );
        self.stats.reinitializations += 1;
        self.events.push_back(Event::Reinitialized {
            width: u32::try_from(geometry.width).unwrap_or(0),
            height: u32::try_from(geometry.height).unwrap_or(0),
        });
        while !self.stages.is_empty() {
            self.finish_stage(0)?;
        }
        let fps = self.source.map_or(FrameRate::new(30, 1), |s| s.fps);
        self.source = Some(Source {
            geometry,
            sample_aspect: sample_aspect(picture),
            fps,
        });
        let before: Vec<RenditionId> = self
            .renditions
            .iter()
            .filter(|r| r.live() && r.info.kind == RenditionKind::Transcoded)
            .map(|r| r.info.id)
            .collect();
        if self
            .judge
            .as_mut()
            .and_then(|j| j.refuse(PassthroughRefusal::SourceChanged))
            .is_some()
        {
            self.on_judgement(Judgement::Refused(PassthroughRefusal::SourceChanged))?;
        }
        self.plan()?;
        // Renditions whose rung no longer fits the new source end.
        let kept: Vec<usize> = self.stages.iter().map(|s| s.rendition).collect();
        for id in before {
            if let Some(i) = self.renditions.iter().position(|r| r.info.id == id) {
                if !kept.contains(&i) && self.renditions[i].live() {
                    self.renditions[i].status = Status::Removed;
                    self.events.push_back(Event::RenditionRemoved {
                        id,
                        reason: RemovalReason::SourceChanged,
                    });
                }
            }
        }
        Ok(())
    }

    fn push_audio(&mut self, frame: &Frame) -> Result<(), TranscodeError> {
        self.stats.audio_in += 1;
        let Some(audio) = &mut self.audio else {
            return Ok(());
        };
        match audio {
            AudioPath::Passthrough { .. } => self.audio_scratch.push_back(frame.clone()),
            AudioPath::Transcode(t) => {
                let refused = t.refused;
                t.push(frame, &mut self.audio_scratch)?;
                self.stats.dropped_audio += t.refused - refused;
            }
        }
        self.distribute_audio();
        Ok(())
    }

    /// Gives the audio frames in the scratch queue to every live rendition; before the
    /// ladder is planned they wait (bounded), and audio from before the first video
    /// keyframe is dropped so that every rendition starts with video and audio together.
    fn distribute_audio(&mut self) {
        while let Some(frame) = self.audio_scratch.pop_front() {
            if self.source.is_none() {
                if self.early_audio.len() >= EARLY_AUDIO_LIMIT {
                    self.early_audio.pop_front();
                    self.stats.dropped_audio += 1;
                }
                self.early_audio.push_back(frame);
                continue;
            }
            if self.before_first_keyframe(&frame) {
                self.stats.dropped_audio += 1;
                continue;
            }
            for r in self.renditions.iter_mut().filter(|r| r.live()) {
                r.push_audio(frame.clone());
            }
        }
    }

    /// Whether an audio frame ends before the first video keyframe starts.
    fn before_first_keyframe(&self, frame: &Frame) -> bool {
        let Some(first) = self.first_keyframe else {
            return false;
        };
        // An AAC frame lasts 1024 samples; one that overlaps the keyframe stays.
        let duration = match self.audio.as_ref().map(|a| a.track().timescale) {
            Some(rate) if rate > 0 => 1024.0 / f64::from(rate),
            _ => 0.0,
        };
        frame.pts_time().as_secs_f64() + duration <= first.as_secs_f64()
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
