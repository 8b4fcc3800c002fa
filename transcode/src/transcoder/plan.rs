//! Planning: the ladder against the source (renditions, encoders, the scaler cascade), the
//! passthrough verdicts, and planning again when the source changes.

use super::*;

impl Transcoder {
    pub(super) fn plan_from_held(&mut self) -> Result<(), TranscodeError> {
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

    pub(super) fn source_picture(&self) -> Option<SourcePicture> {
        let source = self.source?;
        Some(SourcePicture {
            width: u32::try_from(source.geometry.width).unwrap_or(0),
            height: u32::try_from(source.geometry.height).unwrap_or(0),
            sample_aspect: source.sample_aspect,
            bitrate_bps: self.config.source_bitrate_bps,
        })
    }

    pub(super) fn encoder_config(
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
    pub(super) fn plan(&mut self) -> Result<(), TranscodeError> {
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

    pub(super) fn add_rendition(&mut self, mut info: Rendition, status: Status) -> usize {
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
    pub(super) fn build_stage(
        &mut self,
        rung: &PlannedRung,
        status: Status,
    ) -> Result<(), TranscodeError> {
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
    pub(super) fn sort_and_link(&mut self) -> Result<(), TranscodeError> {
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

    pub(super) fn finish_stage(&mut self, index: usize) -> Result<(), TranscodeError> {
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

    pub(super) fn on_judgement(&mut self, judgement: Judgement) -> Result<(), TranscodeError> {
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

    pub(super) fn activate(&mut self, index: usize) {
        let r = &mut self.renditions[index];
        r.status = Status::Active;
        self.events
            .push_back(Event::RenditionAdded { id: r.info.id });
    }

    /// Drops a rendition that was never announced (the loser of the passthrough judgement).
    pub(super) fn discard(&mut self, index: usize) {
        let r = &mut self.renditions[index];
        r.status = Status::Removed;
        r.queue.clear();
        self.stages.retain(|s| s.rendition != index);
    }

    pub(super) fn reinitialize(&mut self, picture: &AVFrame) -> Result<(), TranscodeError> {
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
}
