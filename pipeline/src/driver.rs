//! The one driver loop: how a timeline of [`Step`]s moves a running pipeline.
//!
//! Every runner feeds the windowing core through a [`Driver`] — `simulate` replaying a file, a `TestStream`
//! script, the simulated Kafka cluster and the rdkafka consumer — so what a step means is written once:
//!
//! * a **bundle** is decoded (once), processed (expired elements are late, late elements within allowed
//!   lateness fire their late panes at the end of the bundle), then, under a bounded watermark, the
//!   watermark follows the largest event time seen minus the bound; when processing time follows event
//!   time (a recording replayed as if its records arrived when they happened), it moves to that time too;
//! * a **watermark** step moves the watermark (never backwards) and fires what it passes, except under the
//!   perfect watermark, which holds everything until the end;
//! * a **processing-time** step moves processing time forward and fires the processing-time triggers
//!   (`AfterProcessingTime`) it passes;
//! * the **end of input** moves the watermark to +∞: every window fires and is dropped.
//!
//! Runners that compute the watermark themselves (the Kafka consumer min-combines its partitions') use the
//! explicit strategy and hand the driver decoded bundles and watermark steps. Nothing here reads a clock.

use std::hash::Hash;

use crate::combine::CombineFn;
use crate::dataflow::{BundleSummary, Decoded, Emitted, Pipeline, PipelineInstance, PipelineStats};
use crate::step::{Position, Step};
use crate::time::{Timestamp, Watermark};
use crate::watermark::{BoundedOutOfOrderness, WatermarkStrategy};

/// Where processing time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingTimeRule {
    /// Only processing-time steps (and the runner) move it: scripts, `TestStream`, the Kafka consumer.
    #[default]
    Scripted,
    /// It follows the largest event time seen, as if records arrived when they happened: a recording.
    FollowsEventTime,
}

/// How a [`Driver`] moves time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverOptions {
    /// Where the watermark comes from.
    pub watermark: WatermarkStrategy,
    /// Where processing time comes from.
    pub processing_time: ProcessingTimeRule,
}

impl Default for DriverOptions {
    /// Beam's `TestStream`: only the steps move time.
    fn default() -> Self {
        DriverOptions {
            watermark: WatermarkStrategy::Explicit,
            processing_time: ProcessingTimeRule::Scripted,
        }
    }
}

/// A running pipeline and the rules that move its time: see the module docs.
///
/// ```
/// use pipeline::{Driver, DriverOptions, Position, Step};
/// use pipeline::traffic::{traffic_pipeline, TrafficConfig};
/// use pipeline::watermark::WatermarkStrategy;
/// use pipeline::time::Duration;
///
/// let options = DriverOptions { watermark: WatermarkStrategy::Bounded(Duration::seconds(5)), ..DriverOptions::default() };
/// let mut driver = Driver::new(&traffic_pipeline(TrafficConfig::default()), options);
/// let visit = |t: &str| format!(r#"{{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"{t}","event_ts":0}}"#);
/// driver.step(Step::record(visit("2024-04-28T23:12:41.000"), Position::Line { line: 1 }));
/// // 23:13:05 minus the 5 s bound passes 23:13:00, the end of the first window: its pane fires.
/// driver.step(Step::record(visit("2024-04-28T23:13:05.000"), Position::Line { line: 2 }));
/// assert_eq!(driver.emitted().outputs.len(), 1);
/// driver.finish();
/// assert_eq!(driver.emitted().outputs.len(), 2);
/// assert!(driver.stats().check_conservation().is_ok());
/// ```
pub struct Driver<E, K, C: CombineFn, O> {
    instance: PipelineInstance<E, K, C, O>,
    watermark: WatermarkStrategy,
    bounded: Option<BoundedOutOfOrderness>,
    processing_time: ProcessingTimeRule,
    emitted: Emitted<K, O>,
    max_open_windows: usize,
    /// The most windows a watermark step wakes before the runner takes what they emitted.
    part: usize,
}

impl<E, K, C, O> Driver<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    /// A fresh instance of `pipeline`, its time moved by `options`.
    pub fn new(pipeline: &Pipeline<E, K, C, O>, options: DriverOptions) -> Self {
        Driver {
            instance: pipeline.start(),
            watermark: options.watermark,
            bounded: match options.watermark {
                WatermarkStrategy::Bounded(bound) => Some(BoundedOutOfOrderness::new(bound)),
                _ => None,
            },
            processing_time: options.processing_time,
            emitted: Emitted::default(),
            max_open_windows: 0,
            part: usize::MAX,
        }
    }

    /// Fires a watermark step that wakes more than `windows` windows in parts of that many: after the
    /// step that began it, [`emitted`](Self::emitted) holds the first part's outputs, and each call of
    /// [`fire_next_part`](Self::fire_next_part) adds the next part's. A runner that drains between
    /// parts holds one part at a time instead of every pane of a step (at the end of input, every
    /// window at once). The outputs and their order are those of a step fired whole; a step given to
    /// the driver before the parts are all out first finishes the one under way.
    ///
    /// ```
    /// use pipeline::{Driver, DriverOptions, Position, Step};
    /// use pipeline::traffic::{traffic_pipeline, TrafficConfig};
    ///
    /// let mut driver = Driver::new(&traffic_pipeline(TrafficConfig::default()), DriverOptions::default());
    /// driver.fire_in_parts(2);
    /// for (line, id) in ["7", "8", "9"].into_iter().enumerate() {
    ///     let visit = format!(r#"{{"ip":"1.2.3.4","id":"{id}","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:12:41.000","event_ts":0}}"#);
    ///     driver.step(Step::record(visit, Position::Line { line: line as u64 + 1 }));
    /// }
    /// driver.end_input();
    /// let mut parts = Vec::new();
    /// loop {
    ///     parts.push(driver.emitted().outputs.drain(..).map(|o| o.key).collect::<Vec<_>>());
    ///     if !driver.fire_next_part() {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(parts, [vec!["7", "8"], vec!["9"]]);
    /// driver.finish();
    /// ```
    pub fn fire_in_parts(&mut self, windows: usize) {
        self.part = windows.max(1);
    }

    /// Adds the next part of a watermark step fired in parts (see [`fire_in_parts`](Self::fire_in_parts))
    /// to [`emitted`](Self::emitted) and returns `true`; returns `false` when no step is under way. A
    /// runner drains after every step and after every `true`.
    pub fn fire_next_part(&mut self) -> bool {
        if !self.instance.is_firing() {
            return false;
        }
        self.instance.continue_firing(self.part, &mut self.emitted);
        true
    }

    /// Applies one step (see the module docs); what fires is added to [`emitted`](Self::emitted).
    pub fn step(&mut self, step: Step) {
        match step {
            Step::Bundle(records) => {
                let pipeline = self.instance.pipeline();
                let decoded = records.into_iter().map(|r| pipeline.decode_record(r)).collect();
                self.bundle(decoded);
            }
            Step::Watermark(to) => self.advance_watermark(to),
            Step::ProcessingTime(by) => {
                let to = self.instance.processing_time().plus(by);
                self.advance_processing_time(to);
            }
        }
    }

    /// A bundle of records already decoded (by [`Pipeline::decode_record`]): each record is decoded once.
    pub fn bundle(&mut self, bundle: Vec<Decoded<E>>) -> BundleSummary {
        let summary = self.instance.process_decoded(bundle, &mut self.emitted);
        self.after_bundle(summary)
    }

    /// A bundle of one record whose bytes the runner lends: decoded in place, copied only when it becomes
    /// a dead letter or a late record (see [`PipelineInstance::process_record`]). The same as
    /// [`step`](Self::step) with a bundle of that one record.
    pub fn record(&mut self, payload: &[u8], position: Position) -> BundleSummary {
        let summary = self.instance.process_record(payload, position, &mut self.emitted);
        self.after_bundle(summary)
    }

    /// After a bundle: time follows what it brought.
    fn after_bundle(&mut self, summary: BundleSummary) -> BundleSummary {
        self.max_open_windows = self.max_open_windows.max(self.instance.open_windows());
        if let Some(t) = summary.max_event_time {
            if self.processing_time == ProcessingTimeRule::FollowsEventTime {
                self.advance_processing_time(t);
            }
            if let Some(bounded) = &mut self.bounded {
                bounded.observe(t);
                let to = bounded.current();
                self.instance
                    .advance_watermark_in_parts(to, self.part, &mut self.emitted);
            }
        }
        summary
    }

    /// A watermark step: the watermark moves to `to` (never backwards) and what it passes fires. Under
    /// the perfect watermark nothing moves before the end of input.
    pub fn advance_watermark(&mut self, to: Watermark) {
        if self.watermark != WatermarkStrategy::Perfect {
            self.instance
                .advance_watermark_in_parts(to, self.part, &mut self.emitted);
        }
    }

    /// Processing time moves to `to` (never backwards).
    pub fn advance_processing_time(&mut self, to: Timestamp) {
        if to > self.instance.processing_time() {
            self.instance.advance_processing_time(to, &mut self.emitted);
        }
    }

    /// The end of input begins: the watermark moves to +∞, so every window fires and is dropped (in
    /// parts, see [`fire_in_parts`](Self::fire_in_parts)). [`finish`](Self::finish) then checks the run.
    pub fn end_input(&mut self) {
        self.instance
            .advance_watermark_in_parts(Watermark::MAX, self.part, &mut self.emitted);
    }

    /// The end of input: the watermark moves to +∞ (if [`end_input`](Self::end_input) has not moved it),
    /// so every window fires and is dropped. Checks that none survived and that every record read is
    /// accounted for (a broken count is a bug: it panics).
    pub fn finish(&mut self) {
        self.instance.advance_watermark(Watermark::MAX, &mut self.emitted);
        assert_eq!(
            self.instance.open_windows(),
            0,
            "a window survived the watermark reaching +inf"
        );
        if let Err(e) = self.instance.stats().check_conservation() {
            panic!("conservation violated: {e}");
        }
    }

    /// What fired so far and was not taken yet: the runner drains it into its sinks.
    pub fn emitted(&mut self) -> &mut Emitted<K, O> {
        &mut self.emitted
    }

    /// The running instance.
    pub fn instance(&self) -> &PipelineInstance<E, K, C, O> {
        &self.instance
    }

    /// The pipeline being run.
    pub fn pipeline(&self) -> &Pipeline<E, K, C, O> {
        self.instance.pipeline()
    }

    /// The current watermark.
    pub fn watermark(&self) -> Watermark {
        self.instance.watermark()
    }

    /// The current processing time.
    pub fn processing_time(&self) -> Timestamp {
        self.instance.processing_time()
    }

    /// The earliest pending processing-time timer of the core: processing time must be advanced past it
    /// for a processing-time trigger (`AfterProcessingTime`) to fire. A runner with a real clock sleeps
    /// until then; a script just advances.
    pub fn next_processing_time_timer(&self) -> Option<Timestamp> {
        self.instance.next_processing_time_timer()
    }

    /// Record counts so far.
    pub fn stats(&self) -> PipelineStats {
        self.instance.stats()
    }

    /// The most (key, window) states open at once: the run's memory high-water mark.
    pub fn max_open_windows(&self) -> usize {
        self.max_open_windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use crate::trigger::{AfterProcessingTime, Repeatedly};
    use crate::window::FixedWindows;

    #[test]
    fn a_processing_time_step_fires_the_processing_time_triggers_it_passes() {
        let pipeline = Pipeline::builder(
            |b: &[u8]| {
                std::str::from_utf8(b)
                    .map_err(|e| e.to_string())?
                    .parse::<i64>()
                    .map_err(|e| e.to_string())
            },
            |n: &i64| Ok::<_, String>(Timestamp::from_millis(*n)),
        )
        .windows(FixedWindows::of(Duration::minutes(1)))
        .triggering(Repeatedly::forever(
            AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::seconds(10)),
        ))
        .key_by(|_| ())
        .count()
        .output(|_, _, pane, n| (pane.timing, n));
        let mut driver = Driver::new(&pipeline, DriverOptions::default());
        driver.step(Step::record("5", Position::Index { index: 0 }));
        assert_eq!(
            driver.next_processing_time_timer(),
            Some(Timestamp::from_millis(10_000))
        );
        driver.step(Step::ProcessingTime(Duration::seconds(10)));
        assert!(driver.emitted().outputs.is_empty(), "at the timer exactly: not yet");
        driver.step(Step::ProcessingTime(Duration::millis(1)));
        let fired: Vec<_> = driver.emitted().outputs.drain(..).map(|o| o.value).collect();
        assert_eq!(fired, vec![(crate::pane::PaneTiming::Early, 1)]);
        driver.finish();
        let fired: Vec<_> = driver.emitted().outputs.drain(..).map(|o| o.value).collect();
        assert_eq!(
            fired,
            vec![(crate::pane::PaneTiming::OnTime, 0)],
            "the end of input fires the empty on-time pane (OnTimeBehavior.FIRE_ALWAYS)"
        );
    }
}
