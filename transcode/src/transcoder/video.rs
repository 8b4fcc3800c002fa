//! The video path: source frames in, passed through and decoded; decoded pictures to the
//! keyframe clock, the scaler cascade and the encoders; their frames to the renditions.

use super::*;

impl Transcoder {
    pub(super) fn video_track_changed(&mut self, track: TrackInfo) -> Result<(), TranscodeError> {
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

    pub(super) fn push_video(&mut self, frame: Frame) -> Result<(), TranscodeError> {
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
    pub(super) fn pass_through(&mut self, frame: &Frame) {
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

    pub(super) fn decode(&mut self, frame: &Frame) -> Result<(), TranscodeError> {
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

    pub(super) fn corrupt(&mut self, track: TrackId, pts: MediaTime) {
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
    pub(super) fn receive_pictures(
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

    pub(super) fn drain_decoder(&mut self) -> Result<(), TranscodeError> {
        if let Some(decoder) = &mut self.decoder {
            decoder.drain();
        }
        self.receive_pictures(None)
    }

    pub(super) fn on_picture(
        &mut self,
        picture: AVFrame,
        source_key: bool,
    ) -> Result<(), TranscodeError> {
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

    pub(super) fn encode_picture(
        &mut self,
        picture: AVFrame,
        source_key: bool,
    ) -> Result<(), TranscodeError> {
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
    pub(super) fn collect(&mut self) -> Result<(), TranscodeError> {
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
}
