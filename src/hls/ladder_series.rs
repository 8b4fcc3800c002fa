//! The ladders' series: read from each published stream's [`LadderReport`] when scraped, so
//! they exist while a ladder runs and go with its publication.
//!
//! [`LadderReport`]: super::LadderReport

use std::sync::Weak;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::stream::lock;
use super::OriginInner;

/// What a live stream's ladder reports.
struct Row {
    app: String,
    name: String,
    shed: u64,
    dropped_frames: u64,
    lag: Duration,
    max_lag: Duration,
}

/// `onair_ladder_*` of an origin's published streams.
pub(super) struct LadderCollector(pub(super) Weak<OriginInner>);

impl std::fmt::Debug for LadderCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LadderCollector").finish_non_exhaustive()
    }
}

impl LadderCollector {
    fn rows(&self) -> Vec<Row> {
        let Some(inner) = self.0.upgrade() else {
            return Vec::new();
        };
        let streams = lock(&inner.streams);
        let mut rows: Vec<Row> = streams
            .ids()
            .into_iter()
            .filter_map(|(app, name)| {
                let stream = streams.get(&app, &name)?;
                let state = stream.lock();
                let report = state.ladder.as_ref().filter(|_| state.publishing)?;
                Some(Row {
                    shed: report.shed.len() as u64,
                    dropped_frames: report.dropped_frames,
                    lag: report.lag,
                    max_lag: report.max_lag,
                    app,
                    name,
                })
            })
            .collect();
        rows.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        rows
    }
}

impl Collector for LadderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let rows = self.rows();
        if rows.is_empty() {
            return Ok(());
        }
        let labels = |r: &Row| [("app", r.app.clone()), ("name", r.name.clone())];
        let mut shed = encoder.encode_descriptor(
            "onair_ladder_shed_renditions",
            "Renditions the stream's ladder shed because it fell behind real time",
            None,
            MetricType::Counter,
        )?;
        for r in &rows {
            ConstCounter::new(r.shed).encode(shed.encode_family(&labels(r))?)?;
        }
        let mut dropped = encoder.encode_descriptor(
            "onair_ladder_dropped_frames",
            "Input frames the stream's ladder dropped because its queue was full",
            None,
            MetricType::Counter,
        )?;
        for r in &rows {
            ConstCounter::new(r.dropped_frames).encode(dropped.encode_family(&labels(r))?)?;
        }
        let mut lag = encoder.encode_descriptor(
            "onair_ladder_lag_seconds",
            "How far the stream's ladder is behind its publisher, as of its last check",
            None,
            MetricType::Gauge,
        )?;
        for r in &rows {
            ConstGauge::new(r.lag.as_secs_f64()).encode(lag.encode_family(&labels(r))?)?;
        }
        let mut lag = encoder.encode_descriptor(
            "onair_ladder_max_lag_seconds",
            "The most the stream's ladder was behind its publisher",
            None,
            MetricType::Gauge,
        )?;
        for r in &rows {
            ConstGauge::new(r.max_lag.as_secs_f64()).encode(lag.encode_family(&labels(r))?)?;
        }
        Ok(())
    }
}
