//! The audio every rendition shares: passed through or re-encoded to AAC once, held until
//! the ladder is planned and each rendition's video starts.

use super::*;

impl Transcoder {
    pub(super) fn audio_track_changed(&mut self, track: TrackInfo) -> Result<(), TranscodeError> {
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

    pub(super) fn push_audio(&mut self, frame: &Frame) -> Result<(), TranscodeError> {
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
    pub(super) fn distribute_audio(&mut self) {
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
    pub(super) fn before_first_keyframe(&self, frame: &Frame) -> bool {
        let Some(first) = self.first_keyframe else {
            return false;
        };
        // An AAC frame lasts 1024 samples; one that overlaps the keyframe stays.
        let duration = match self.audio.as_ref().map(|a| &a.track().config) {
            Some(CodecConfig::Aac(c)) if c.sample_rate > 0 => 1024.0 / f64::from(c.sample_rate),
            _ => 0.0,
        };
        frame.pts_time().as_secs_f64() + duration <= first.as_secs_f64()
    }
}
