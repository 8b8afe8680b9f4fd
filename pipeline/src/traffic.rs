//! The seed's traffic aggregation: page views per user id in fixed event-time windows.
//!
//! Key `id`, `FixedWindows(20 s)` by default, count, and the output record
//! `{"id": ..., "window_start": "2024-04-28T23:12:40", "window_end": "2024-04-28T23:13:00", "page_views": 3}`
//! with window bounds in UTC, to the second, without a zone suffix (the seed's
//! `isoformat(timespec="seconds")`). For Kafka the message key is `{"event_id": ..., "window_start": ...}`.

use serde::{Deserialize, Serialize};

use crate::combine::Count;
use crate::dataflow::Pipeline;
use crate::event::PageView;
use crate::io::pyjson;
use crate::strategy::{AccumulationMode, WindowingStrategy};
use crate::time::Duration;
use crate::window::{FixedWindows, Window};

/// One window result of the traffic aggregation, field for field the seed's output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrafficAgg {
    /// The user id.
    pub id: String,
    /// Window start, `YYYY-MM-DDTHH:MM:SS`, UTC.
    pub window_start: String,
    /// Window end (exclusive), `YYYY-MM-DDTHH:MM:SS`, UTC.
    pub window_end: String,
    /// Visits of the user in the window (in this pane).
    pub page_views: u64,
}

/// The Kafka message key of a [`TrafficAgg`]: stable across replays, so compaction keeps one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficKey {
    /// The user id.
    pub event_id: String,
    /// Window start, as in the value.
    pub window_start: String,
}

impl TrafficAgg {
    /// The message key `{"event_id": ..., "window_start": ...}`.
    pub fn key(&self) -> TrafficKey {
        TrafficKey {
            event_id: self.id.clone(),
            window_start: self.window_start.clone(),
        }
    }

    /// The value as the seed writes it (`json.dumps`).
    pub fn to_json(&self) -> String {
        pyjson::to_string(self)
    }
}

/// Options of the traffic aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficConfig {
    /// Window size (the seed: 20 s).
    pub window: Duration,
    /// Allowed lateness (the seed: 0).
    pub allowed_lateness: Duration,
    /// Discarding (the seed) or accumulating panes.
    pub accumulation: AccumulationMode,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            window: Duration::seconds(20),
            allowed_lateness: Duration::ZERO,
            accumulation: AccumulationMode::Discarding,
        }
    }
}

/// The traffic pipeline's type.
///
/// Its events are [`PageView`]s: a line is checked as a whole visit (and dead-lettered with the same
/// reason as [`crate::event::VisitEvent::from_json`] gives), but only the id and the event time are kept.
pub type TrafficPipeline = Pipeline<PageView, String, Count, TrafficAgg>;

/// Builds the seed's traffic aggregation with `config`: [`windowed_traffic_pipeline`] over fixed windows.
///
/// ```
/// use pipeline::traffic::{traffic_pipeline, TrafficConfig};
/// use pipeline::io::{Position, Record};
/// use pipeline::{Emitted, time::Watermark};
///
/// let mut run = traffic_pipeline(TrafficConfig::default()).start();
/// let mut out = Emitted::default();
/// let visit = |t: &str| format!(r#"{{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"{t}","event_ts":0}}"#);
/// for (i, t) in ["2024-04-28T23:12:41.000", "2024-04-28T23:12:59.999"].iter().enumerate() {
///     run.process_bundle(vec![Record::new(visit(t), Position::Line { line: i as u64 + 1 })], &mut out);
/// }
/// run.advance_watermark(Watermark::MAX, &mut out);
/// assert_eq!(
///     out.outputs[0].value.to_json(),
///     r#"{"id": "7", "window_start": "2024-04-28T23:12:40", "window_end": "2024-04-28T23:13:00", "page_views": 2}"#
/// );
/// ```
pub fn traffic_pipeline(config: TrafficConfig) -> TrafficPipeline {
    windowed_traffic_pipeline(
        WindowingStrategy::new(FixedWindows::of(config.window))
            .with_allowed_lateness(config.allowed_lateness)
            .with_accumulation(config.accumulation),
    )
}

/// The traffic aggregation (page views per user id) under any windowing strategy: fixed, sliding,
/// session or global windows, any trigger.
///
/// A session's bounds are those of the merged window, `[first visit, last visit + gap)`. The global
/// window has no bounds a date can show: it is written `"window_start": "-inf", "window_end": "+inf"`,
/// as the watermark's infinities are.
pub fn windowed_traffic_pipeline(strategy: WindowingStrategy) -> TrafficPipeline {
    Pipeline::builder(PageView::from_json, PageView::event_time)
        .strategy(strategy)
        .key_by(|view: &PageView| view.id.clone())
        .count()
        .output(|id, window, _pane, page_views| {
            let (window_start, window_end) = window_bounds(window);
            TrafficAgg {
                id: id.clone(),
                window_start,
                window_end,
                page_views,
            }
        })
}

/// A window's bounds as the traffic output writes them: to the second, or `-inf`/`+inf` for the global
/// window.
pub fn window_bounds(window: &Window) -> (String, String) {
    if window.is_global() {
        return ("-inf".to_owned(), "+inf".to_owned());
    }
    (window.start().format_seconds(), window.end().format_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Position, Record};
    use crate::time::Watermark;
    use crate::window::GlobalWindows;
    use crate::Emitted;

    #[test]
    fn the_global_window_prints_its_bounds_as_infinities() {
        let mut run = windowed_traffic_pipeline(WindowingStrategy::new(GlobalWindows)).start();
        let mut out = Emitted::default();
        let visit = r#"{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:12:41.000","event_ts":0}"#;
        run.process_bundle(vec![Record::new(visit, Position::Line { line: 1 })], &mut out);
        run.advance_watermark(Watermark::MAX, &mut out);
        assert_eq!(
            out.outputs[0].value.to_json(),
            r#"{"id": "7", "window_start": "-inf", "window_end": "+inf", "page_views": 1}"#
        );
    }
}
