//! One stream's ladder at work, on a thread of its own: input from the publisher's queue into
//! the [`Transcoder`], each rendition's output into its packager, and the watch for falling
//! behind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use onair_media_types::{Frame, MediaKind, MediaTime};
use onair_transcode::{Event, Output, RenditionId, RenditionKind, Transcoder};
use tracing::{debug, info, warn};

use super::feed::{Input, Shared};
use super::LadderConfig;
use crate::hls::stream::{LiveHls, Rendition, RenditionIndex, StreamState};
use crate::hls::HlsOrigin;

/// How often the worker checks how far behind it is.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// How long the ladder must stay too far behind before a rung is shed (a moment's contention
/// for the CPU is not overload).
const SUSTAINED: Duration = Duration::from_secs(1);
/// After a shed, how long the others get to catch up before another is shed.
const SETTLE: Duration = Duration::from_secs(3);
/// How often the cost model is checked against what the ladder really spent.
const CALIBRATE_EVERY: Duration = Duration::from_secs(5);

pub(super) struct Worker {
    origin: HlsOrigin,
    stream: Arc<LiveHls>,
    /// The stream's life this worker feeds; a newer publisher of the name takes over.
    life: u64,
    config: LadderConfig,
    transcoder: Transcoder,
    /// What admission expected the ladder to cost (cores, before calibration).
    modelled: f64,
    /// Renditions announced, with their place in the stream.
    renditions: Vec<(RenditionId, RenditionIndex)>,
    /// The first announcement of this life retires what a former life left.
    announced: bool,
    /// The `source` rung was judged (or there is none).
    judged: bool,
    /// Shared by the segment names of the renditions this worker makes.
    tag: String,
    /// (wall clock, presentation time) of the first video frame: every rendition's dates.
    wall_map: Option<(i64, MediaTime)>,
    last_shed: Option<Instant>,
    /// Since when the ladder has been too far behind.
    behind_since: Option<Instant>,
    /// How far behind it was at the last checks, newest last (a few seconds).
    behind_history: std::collections::VecDeque<(Instant, Duration)>,
    errors: u64,
    /// (when, CPU seconds the ladder had spent) at the last calibration.
    calibrated: Option<(Instant, Duration)>,
}

impl Worker {
    pub(super) fn new(
        origin: HlsOrigin,
        stream: Arc<LiveHls>,
        life: u64,
        config: LadderConfig,
        transcoder: Transcoder,
        modelled: f64,
    ) -> Self {
        let tag = origin.life_tag();
        Self {
            origin,
            stream,
            life,
            config,
            transcoder,
            modelled,
            renditions: Vec::new(),
            announced: false,
            judged: false,
            tag,
            wall_map: None,
            last_shed: None,
            behind_since: None,
            behind_history: std::collections::VecDeque::new(),
            errors: 0,
            calibrated: None,
        }
    }

    /// Runs until the publisher leaves (or a newer one of the name takes over).
    pub(super) fn run(mut self, feed: Arc<Shared>) {
        let mut checked = Instant::now();
        loop {
            let result = match feed.pop(CHECK_EVERY) {
                Some(Input::Track(track)) => self.transcoder.push_track(track),
                Some(Input::Frame(frame, arrived)) => {
                    self.map_wallclock(&frame, arrived);
                    self.transcoder.push_frame(frame)
                }
                Some(Input::End) => {
                    if let Err(e) = self.transcoder.flush() {
                        debug!(error = %e, "ladder: flushing");
                    }
                    self.pump();
                    self.finish();
                    return;
                }
                None => Ok(()),
            };
            if let Err(e) = result {
                self.errors += 1;
                if self.errors <= 3 || self.errors % 1000 == 0 {
                    warn!(error = %e, errors = self.errors, "ladder refused input");
                }
            }
            if !self.pump() {
                debug!("ladder: a new publisher took the stream over");
                return;
            }
            if checked.elapsed() >= CHECK_EVERY {
                checked = Instant::now();
                self.check_lag(&feed);
                self.calibrate();
            }
        }
    }

    /// The first video frame's arrival, in wall-clock time, dates every rendition alike.
    fn map_wallclock(&mut self, frame: &Frame, arrived: Instant) {
        if self.wall_map.is_some() || frame.codec.kind() != MediaKind::Video {
            return;
        }
        let clock = &self.origin.inner.clock;
        let since = clock.now().saturating_duration_since(arrived);
        let unix_ms = self.origin.unix_ms() - i64::try_from(since.as_millis()).unwrap_or(0);
        self.wall_map = Some((unix_ms, frame.pts_time()));
    }

    /// Hands the transcoder's events and outputs to the stream; `false` once the stream
    /// belongs to a newer publisher.
    fn pump(&mut self) -> bool {
        let now = self.origin.elapsed();
        let at = self.origin.inner.clock.now();
        let stream = self.stream.clone();
        let mut state = stream.lock();
        if state.life != self.life {
            return false;
        }
        let mut removed = Vec::new();
        let mut added = false;
        let mut verdict = false;
        while let Some(event) = self.transcoder.poll_event() {
            if matches!(
                event,
                Event::PassthroughAccepted { .. } | Event::PassthroughRefused { .. }
            ) {
                verdict = true;
            }
            match event {
                Event::RenditionAdded { id } => {
                    if let Some(index) = self.add(&mut state, id) {
                        self.renditions.push((id, index));
                        added = true;
                    }
                }
                Event::RenditionRemoved { id, reason } => {
                    info!(rendition = %self.name(id), ?reason, "rendition stopped");
                    removed.push(id);
                }
                other => self.note(&mut state, other),
            }
        }
        if added && !self.announced {
            self.announced = true;
            let life = self.life;
            state.retire_others(life);
        }
        // the master lists every rendition once all are announced: with a `source` rung,
        // once it was judged
        self.judged |= verdict || !self.transcoder.config().ladder.has_source();
        if self.judged && !self.renditions.is_empty() && !state.settled() {
            state.settle();
        }
        for &(id, index) in &self.renditions {
            let Some(rendition) = state.rendition_mut(index) else {
                continue;
            };
            while let Some(output) = self.transcoder.poll_output(id) {
                let fed = match output {
                    Output::Track(track) => rendition.add_track(track),
                    Output::Frame(frame) => rendition.push_frame(frame),
                };
                if let Err(e) = fed {
                    self.errors += 1;
                    if self.errors <= 3 || self.errors % 1000 == 0 {
                        warn!(error = %e, errors = self.errors, "HLS packaging refused media");
                    }
                }
            }
        }
        for id in removed {
            if let Some(pos) = self.renditions.iter().position(|(r, _)| *r == id) {
                let (_, index) = self.renditions.remove(pos);
                state.retire(index);
            }
        }
        state.drain(now, at);
        true
    }

    /// A rendition for `id`: the same-named one of a former life continued, or a new one
    /// numbered like its siblings.
    fn add(&self, state: &mut StreamState, id: RenditionId) -> Option<RenditionIndex> {
        let info = self.transcoder.rendition(id)?;
        let playlist = format!("{}.m3u8", info.name);
        info!(
            rendition = %info.name,
            width = info.width,
            height = info.height,
            kbps = info.bitrate_bps / 1000,
            encoder = info.encoder,
            "rendition started"
        );
        let index = match state.find(&playlist) {
            Some(index) => {
                let r = state.revive(index)?;
                r.begin_life(self.life);
                index
            }
            None => {
                let sequence = state.next_sequence();
                let mut packager = self.origin.packager_named(Some(&info.name), &self.tag)?;
                if let Err(e) = packager.start_at_sequence(sequence) {
                    debug!(error = %e, "rendition numbering");
                }
                let mut r = Rendition::new(playlist, packager, self.origin.config().grace());
                r.begin_life(self.life);
                state.add(r)
            }
        };
        if let (Some((unix_ms, pts)), Some(r)) = (self.wall_map, state.rendition_mut(index)) {
            r.packager.map_wallclock(unix_ms, pts);
        }
        Some(index)
    }

    /// Logs and counts what the ladder reports.
    fn note(&self, state: &mut StreamState, event: Event) {
        let report = state.ladder.get_or_insert_with(Default::default);
        match event {
            Event::PassthroughAccepted { gop } => {
                info!(gop_ms = gop.as_millis() as u64, "source passed through");
            }
            Event::PassthroughRefused { reason } => {
                warn!(%reason, "source not passed through: transcoded at its size instead");
                report.passthrough_refused = Some(reason.to_string());
            }
            Event::PassthroughEnded { reason } => {
                warn!(%reason, "source passthrough ended");
            }
            Event::IrregularSourceGop { gop } => {
                debug!(
                    gop_ms = gop.as_millis() as u64,
                    "source GOP unlike its first"
                );
            }
            Event::HardwareFallback { using, tried, .. } => {
                warn!(
                    using,
                    tried = tried.len(),
                    "GPU encoder unavailable, encoding on the CPU"
                );
                report.hardware_fallbacks += 1;
            }
            Event::Reinitialized { width, height } => {
                info!(width, height, "source changed: ladder planned again");
                report.reinitializations += 1;
            }
            Event::CorruptInput { pts, .. } => {
                report.corrupt_packets += 1;
                if report.corrupt_packets <= 3 || report.corrupt_packets % 1000 == 0 {
                    warn!(
                        pts_ms = pts.as_millis(),
                        count = report.corrupt_packets,
                        "corrupt video packet: decoding resumes at the next keyframe"
                    );
                }
            }
            Event::RungDropped { rung, reason } => debug!(%rung, ?reason, "rung not made"),
            other => debug!(?other, "ladder event"),
        }
    }

    fn name(&self, id: RenditionId) -> String {
        self.transcoder
            .rendition(id)
            .map_or_else(|| id.to_string(), |r| r.name.clone())
    }

    /// Sheds the most expensive transcoded rendition when the ladder has been further behind
    /// the publisher than allowed for a second, and again after the others had time to catch
    /// up. The last rendition is never shed.
    fn check_lag(&mut self, feed: &Shared) {
        let (queued, dropped) = feed.backlog();
        let lag = self
            .renditions
            .iter()
            .filter_map(|&(id, _)| self.transcoder.lag(id))
            .max()
            .unwrap_or_default();
        let behind = queued + lag;
        {
            let mut state = self.stream.lock();
            let report = state.ladder.get_or_insert_with(Default::default);
            report.dropped_frames = dropped;
            report.lag = behind;
            report.max_lag = report.max_lag.max(behind);
        }
        let now = Instant::now();
        self.behind_history.push_back((now, behind));
        while self
            .behind_history
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > SUSTAINED * 2)
        {
            self.behind_history.pop_front();
        }
        let max_lag = self.config.max_lag;
        if behind <= max_lag {
            self.behind_since = None;
            return;
        }
        let since = *self.behind_since.get_or_insert(now);
        if since.elapsed() < SUSTAINED || self.last_shed.is_some_and(|t| t.elapsed() < SETTLE) {
            return;
        }
        // After a shed the others work off the backlog: while that goes visibly down, wait.
        let a_second_ago = self
            .behind_history
            .iter()
            .find(|(t, _)| now.duration_since(*t) <= SUSTAINED)
            .map(|(_, b)| *b);
        let catching_up =
            a_second_ago.is_some_and(|before| behind + Duration::from_millis(100) < before);
        if self.last_shed.is_some() && catching_up {
            return;
        }
        let transcoded = self.renditions.iter().filter(|&&(id, _)| {
            self.transcoder
                .rendition(id)
                .is_some_and(|r| r.kind == RenditionKind::Transcoded)
        });
        let costliest = transcoded
            .filter_map(|&(id, _)| {
                let cost = self.transcoder.rendition_stats(id)?.cpu_per_frame()?;
                Some((id, cost))
            })
            .max_by_key(|(_, cost)| *cost)
            .map(|(id, _)| id);
        let Some(id) = costliest.filter(|_| self.renditions.len() > 1) else {
            return;
        };
        let name = self.name(id);
        warn!(
            rendition = %name,
            behind_ms = behind.as_millis() as u64,
            max_lag_ms = max_lag.as_millis() as u64,
            "ladder behind real time: shedding its most expensive rendition"
        );
        self.last_shed = Some(Instant::now());
        if let Err(e) = self.transcoder.shed(id) {
            warn!(error = %e, "shedding a rendition");
            return;
        }
        self.stream
            .lock()
            .ladder
            .get_or_insert_with(Default::default)
            .shed
            .push(name);
        self.pump();
    }

    /// Tells admission what this ladder really costs, while it runs as admitted.
    fn calibrate(&mut self) {
        self.origin.inner.cpu.sample();
        if self.last_shed.is_some() || self.modelled <= 0.0 {
            return;
        }
        let spent = self.transcoder.stats().decode_cpu
            + self
                .renditions
                .iter()
                .filter_map(|&(id, _)| self.transcoder.rendition_stats(id))
                .map(|s| s.encode_cpu + s.scale_cpu)
                .sum::<Duration>();
        let now = Instant::now();
        match self.calibrated {
            Some((then, before)) if now.duration_since(then) >= CALIBRATE_EVERY => {
                let cores = spent.saturating_sub(before).as_secs_f64()
                    / now.duration_since(then).as_secs_f64();
                self.origin.inner.cpu.report(cores, self.modelled);
                self.calibrated = Some((now, spent));
            }
            None if !self.renditions.is_empty() => self.calibrated = Some((now, spent)),
            _ => {}
        }
    }

    /// The publisher left: the open segments are closed so players get the tail, and a new
    /// publisher continues after a discontinuity.
    fn finish(&mut self) {
        let now = self.origin.elapsed();
        let at = self.origin.inner.clock.now();
        let mut state = self.stream.lock();
        if state.life != self.life {
            return;
        }
        for &(_, index) in &self.renditions {
            if let Some(r) = state.rendition_mut(index) {
                r.close();
            }
        }
        state.drain(now, at);
        state.release_all();
        state.finish_vod();
        info!(ladder = %self.transcoder.config().ladder, "ladder stopped: publisher left");
    }
}
