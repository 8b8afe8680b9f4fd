//! Running a [`TestStream`] against a pipeline in virtual time, and [`TestOutput`], what the run produced.
//!
//! The run feeds the script's steps to the pipeline crate's [`Driver`], the one driver loop every runner
//! shares, which fires every pane the step allows before the call returns, so each step takes effect at
//! quiescence, as Beam's `TestStream` requires ("a step is applied only when nothing more can fire"). If the script does not
//! end with the watermark at +∞, the run adds that step (marked implicit), as the end of a scenario file
//! does in `simulate`. Every pane is kept with the step that fired it and the watermark at that moment;
//! every element with what became of it. Nothing here reads a clock.

use std::fmt;
use std::hash::Hash;

use pipeline::combine::CombineFn;
use pipeline::io::{DeadLetter, LateRecord, Position};
use pipeline::pane::PaneInfo;
use pipeline::time::{Timestamp, Watermark};
use pipeline::window::Window;
use pipeline::{Driver, DriverOptions, Pipeline, PipelineStats, Step};

use crate::stream::{ScriptError, TestStream};

/// Everything a run produced: per step, per pane and per element.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutput<K, O> {
    /// One outcome per script step, plus the implicit end of input when the script lacked it.
    pub steps: Vec<StepOutcome<K>>,
    /// Every pane, in firing order.
    pub panes: Vec<FiredPane<K, O>>,
    /// Elements dropped as late; `Position::Index` is the element's index in the whole run.
    pub late: Vec<LateRecord>,
    /// Records the pipeline could not decode; positioned like `late`.
    pub dead_letters: Vec<DeadLetter>,
    /// The pipeline's record counts at the end.
    pub stats: PipelineStats,
    /// Open (key, window) states at the end: 0 unless a window survived the watermark reaching +∞.
    pub open_windows: usize,
}

/// One pane with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct FiredPane<K, O> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// Timing, index and first/last flags.
    pub pane: PaneInfo,
    /// What the pipeline's output function made of the pane.
    pub value: O,
    /// The 1-based number of the step that fired it.
    pub step: usize,
    /// The watermark when it fired (after its step).
    pub watermark: Watermark,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome<K> {
    /// 1-based: step `n` is line `n` of the script's scenario form.
    pub number: usize,
    /// The step.
    pub step: Step,
    /// True for the end of input that the run added to a script not ending at +∞.
    pub implicit: bool,
    /// The watermark before the step.
    pub watermark_before: Watermark,
    /// The watermark after the step.
    pub watermark: Watermark,
    /// Processing time after the step.
    pub processing_time: Timestamp,
    /// The bundle's elements and their fates (empty for time steps).
    pub elements: Vec<ElementOutcome<K>>,
}

/// One element of a bundle and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementOutcome<K> {
    /// 0-based index of the element in the whole run (its `Position::Index`).
    pub index: u64,
    /// Its key, when it decoded.
    pub key: Option<K>,
    /// Its event time, when it decoded.
    pub event_time: Option<Timestamp>,
    /// Counted, filtered out, dropped (as late, or for a closed window) or dead-lettered.
    pub fate: ElementFate,
}

/// What became of an element (the pipeline crate's transcript wording owns it).
pub use pipeline::transcript::ElementFate;

impl TestStream {
    /// Runs the script against a fresh instance of `pipeline`, step by step in virtual time, after
    /// checking the script's rules.
    ///
    /// ```
    /// use testkit::{visit, window, TestStream};
    /// use pipeline::traffic::{traffic_pipeline, TrafficConfig};
    ///
    /// let output = TestStream::new()
    ///     .add_elements([visit("alice", "2024-04-28T23:12:41"), visit("alice", "2024-04-28T23:12:59.999")])
    ///     .advance_watermark_to("2024-04-28T23:13:00")
    ///     .run(&traffic_pipeline(TrafficConfig::default()))
    ///     .unwrap();
    /// let pane = &output.panes[0];
    /// assert_eq!((pane.value.page_views, pane.step), (2, 2));
    /// assert_eq!(pane.window, window("2024-04-28T23:12:40", "2024-04-28T23:13:00"));
    /// assert_eq!(output.steps.len(), 3, "the run added the end of input");
    /// ```
    pub fn run<E, K, C, O>(&self, pipeline: &Pipeline<E, K, C, O>) -> Result<TestOutput<K, O>, ScriptError>
    where
        K: Clone + Ord + Hash,
        C: CombineFn + Clone,
    {
        self.validate()?;
        let mut run = Run {
            driver: Driver::new(pipeline, DriverOptions::default()),
            output: TestOutput {
                steps: Vec::new(),
                panes: Vec::new(),
                late: Vec::new(),
                dead_letters: Vec::new(),
                stats: PipelineStats::default(),
                open_windows: 0,
            },
        };
        for step in self.steps() {
            run.step(step.clone(), false);
        }
        if !self.is_complete() {
            run.step(Step::Watermark(Watermark::MAX), true);
        }
        let mut output = run.output;
        output.stats = run.driver.stats();
        output.open_windows = run.driver.instance().open_windows();
        Ok(output)
    }
}

/// A script being run: the one driver loop, and what each step did.
struct Run<E, K, C: CombineFn, O> {
    driver: Driver<E, K, C, O>,
    output: TestOutput<K, O>,
}

impl<E, K, C, O> Run<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    fn step(&mut self, step: Step, implicit: bool) {
        let number = self.output.steps.len() + 1;
        let watermark_before = self.driver.watermark();
        let mut elements = Vec::new();
        match &step {
            Step::Bundle(records) => {
                let mut bundle = Vec::with_capacity(records.len());
                for record in records {
                    let Position::Index { index } = record.position else {
                        unreachable!("a script places its records by index");
                    };
                    // Decoded once, here: the outcome reports the key and event time, the pipeline
                    // processes the event. Dead letters and late drops are reported by the pipeline
                    // below; filtering is not.
                    let decoded = self.driver.pipeline().decode_record(record.clone());
                    let event = decoded.event.as_ref().ok();
                    let fate = match event {
                        Some((event, _)) if !self.driver.pipeline().keeps(event) => ElementFate::Filtered,
                        _ => ElementFate::Counted,
                    };
                    elements.push(ElementOutcome {
                        index,
                        key: event.map(|(event, _)| self.driver.pipeline().key_of(event)),
                        event_time: decoded.event_time(),
                        fate,
                    });
                    bundle.push(decoded);
                }
                self.driver.bundle(bundle);
            }
            step => self.driver.step(step.clone()),
        }
        let watermark = self.driver.watermark();
        let processing_time = self.driver.processing_time();
        let first_index = elements.first().map_or(0, |e| e.index);
        let mut mark = |position: Position, fate: ElementFate| {
            if let Position::Index { index } = position {
                elements[(index - first_index) as usize].fate = fate;
            }
        };
        let emitted = self.driver.emitted();
        for late in emitted.late.drain(..) {
            mark(late.position, drop_fate(&late));
            self.output.late.push(late);
        }
        for dead in emitted.dead_letters.drain(..) {
            mark(dead.position, ElementFate::DeadLettered);
            self.output.dead_letters.push(dead);
        }
        for out in emitted.outputs.drain(..) {
            self.output.panes.push(FiredPane {
                key: out.key,
                window: out.window,
                pane: out.pane,
                value: out.value,
                step: number,
                watermark,
            });
        }
        self.output.steps.push(StepOutcome {
            number,
            step,
            implicit,
            watermark_before,
            watermark,
            processing_time,
            elements,
        });
    }
}

fn drop_fate(late: &LateRecord) -> ElementFate {
    ElementFate::of_late_reason(&late.reason)
}

impl<K, O> TestOutput<K, O> {
    /// The panes of `window`, in firing order.
    pub fn panes_in(&self, window: Window) -> impl Iterator<Item = &FiredPane<K, O>> {
        self.panes.iter().filter(move |p| p.window == window)
    }

    /// The outcome of step `number` (1-based). Panics when there is no such step.
    pub fn step(&self, number: usize) -> &StepOutcome<K> {
        assert!(
            (1..=self.steps.len()).contains(&number),
            "no step {number}: the run has steps 1 to {}",
            self.steps.len()
        );
        &self.steps[number - 1]
    }

    /// Every element of the run with its fate, in arrival order.
    pub fn elements(&self) -> impl Iterator<Item = &ElementOutcome<K>> {
        self.steps.iter().flat_map(|s| s.elements.iter())
    }
}

impl<K> StepOutcome<K> {
    /// The step in the builder's words: `advance_watermark_to(2024-04-28T23:13:00.000)`.
    pub fn action(&self) -> String {
        pipeline::transcript::StepAction::of(&self.step, self.implicit).to_string()
    }
}

impl<K> fmt::Display for StepOutcome<K> {
    /// `step 3: advance_watermark_to(2024-04-28T23:13:00.000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.number, self.action())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{visit, window};
    use pipeline::pane::PaneTiming;
    use pipeline::time::Duration;
    use pipeline::traffic::{traffic_pipeline, TrafficConfig};

    #[test]
    fn every_element_gets_its_fate_and_every_pane_its_step() {
        let output = TestStream::new()
            .add_elements([
                visit("alice", "2024-04-28T23:12:41"),
                visit("bob", "2024-04-28T23:12:42"),
            ])
            .advance_watermark_to("2024-04-28T23:13:00")
            .add_elements([visit("alice", "2024-04-28T23:12:43")])
            .add_raw_elements([r#"{"id": "carol"}"#])
            .advance_processing_time(Duration::seconds(1))
            .run(&traffic_pipeline(TrafficConfig::default()))
            .unwrap();
        let fates: Vec<ElementFate> = output.elements().map(|e| e.fate).collect();
        use ElementFate::*;
        assert_eq!(fates, [Counted, Counted, DroppedLate, DeadLettered]);
        assert_eq!(output.step(1).elements[1].key.as_deref(), Some("bob"));
        assert_eq!(output.panes.len(), 2);
        assert!(output
            .panes
            .iter()
            .all(|p| p.step == 2 && p.pane.timing == PaneTiming::OnTime));
        assert_eq!(
            output
                .panes_in(window("2024-04-28T23:12:40", "2024-04-28T23:13:00"))
                .count(),
            2
        );
        assert_eq!(output.steps.len(), 6);
        assert!(output.steps[5].implicit);
        assert_eq!(
            output.step(5).processing_time,
            Timestamp::EPOCH.plus(Duration::seconds(1))
        );
        assert_eq!(output.step(3).to_string(), "step 3: add_elements(1 element)");
        assert_eq!(output.step(2).watermark_before, Watermark::MIN);
        assert!(output.stats.check_conservation().is_ok());
        assert_eq!(output.open_windows, 0);
    }

    #[test]
    fn filtered_elements_are_told_apart_from_counted_ones() {
        use pipeline::event::VisitEvent;
        use pipeline::Pipeline;
        let only_alice = Pipeline::builder(VisitEvent::from_json, VisitEvent::event_time)
            .filter(|v: &VisitEvent| v.id == "alice")
            .windows(pipeline::window::FixedWindows::of(Duration::seconds(20)))
            .key_by(|v: &VisitEvent| v.id.clone())
            .count()
            .output(|_, _, _, n| n);
        let output = TestStream::new()
            .add_elements([
                visit("alice", "2024-04-28T23:12:41"),
                visit("bob", "2024-04-28T23:12:42"),
            ])
            .run(&only_alice)
            .unwrap();
        let fates: Vec<ElementFate> = output.elements().map(|e| e.fate).collect();
        assert_eq!(fates, [ElementFate::Counted, ElementFate::Filtered]);
        assert_eq!(output.panes.len(), 1);
        assert_eq!(output.stats.filtered, 1);
    }

    #[test]
    fn an_element_for_a_window_its_trigger_closed_is_told_apart_from_a_late_one() {
        use crate::timestamped::{timestamped_values, KeyedValues, TimestampedValue};
        use pipeline::trigger::AfterPane;
        use pipeline::window::FixedWindows;
        // AfterPane.elementCountAtLeast(1), not repeated: the first pane finishes the trigger.
        let once = timestamped_values::<(String, i64)>()
            .windows(FixedWindows::of(Duration::seconds(10)))
            .allowed_lateness(Duration::seconds(10))
            .triggering(AfterPane::element_count_at_least(1))
            .count_per_key();
        let kv = |v: i64, ms: i64| TimestampedValue::of(("k".to_owned(), v), Timestamp::from_millis(ms));
        let output = TestStream::new()
            .add_elements([kv(1, 1_000)])
            .add_elements([kv(2, 2_000)]) // the window is closed
            .advance_watermark_to(Timestamp::from_millis(30_000))
            .add_elements([kv(3, 3_000)]) // the window expired at 19.999 s
            .run(&once)
            .unwrap();
        let fates: Vec<ElementFate> = output.elements().map(|e| e.fate).collect();
        use ElementFate::*;
        assert_eq!(fates, [Counted, DroppedClosed, DroppedLate]);
        assert_eq!((output.stats.dropped_late, output.stats.dropped_closed), (2, 1));
        assert_eq!(output.late.len(), 2);
        assert_eq!(DroppedClosed.to_string(), "dropped: its window's trigger had finished");
    }

    #[test]
    fn an_invalid_script_does_not_run() {
        let err = TestStream::new()
            .advance_processing_time(Duration::ZERO)
            .run(&traffic_pipeline(TrafficConfig::default()))
            .unwrap_err();
        assert!(matches!(err, ScriptError::ProcessingTimeNotAdvancing { step: 1, .. }));
    }

    /// Visits of alice (100 and 300 bytes) and bob (50 bytes) in one window, then the end of input.
    fn sized_visits() -> TestStream {
        use pipeline::event::VisitEvent;
        let sized = |id: &str, at: &str, bytes: i64| VisitEvent {
            file_size_bytes: bytes,
            ..visit(id, at)
        };
        TestStream::new()
            .add_elements([
                sized("alice", "2024-04-28T23:12:41", 100),
                sized("bob", "2024-04-28T23:12:45", 50),
            ])
            .add_elements([sized("alice", "2024-04-28T23:12:59.999", 300)])
            .advance_watermark_to("2024-04-28T23:13:00")
            .advance_watermark_to_infinity()
    }

    /// Runs `pipeline` over `stream` with `TestStream::run` and with `simulator::simulate` (the script's
    /// own watermark), checks that both fire the same panes, and returns each pane's key and value.
    fn run_both_ways<C, O>(
        pipeline: &Pipeline<pipeline::event::VisitEvent, String, C, O>,
        stream: &TestStream,
    ) -> Vec<(String, O)>
    where
        C: CombineFn + Clone,
        O: Clone + PartialEq + fmt::Debug,
    {
        use formats::scenario::ScenarioSource;
        use pipeline::io::memory::MemorySink;
        use pipeline::watermark::WatermarkStrategy;
        use pipeline::ProcessingTimeRule;
        use simulator::{simulate, SimulationOptions, Sinks};

        let scripted = stream.run(pipeline).unwrap();
        let text = stream.to_scenario();
        let mut source = ScenarioSource::from_reader("script", text.as_bytes());
        let (mut outputs, mut late, mut dead) = (MemorySink::default(), MemorySink::default(), MemorySink::default());
        let options = SimulationOptions {
            watermark: WatermarkStrategy::Explicit,
            disorder: None,
            processing_time: ProcessingTimeRule::Scripted,
            ..SimulationOptions::default()
        };
        let sinks = Sinks {
            outputs: &mut outputs,
            late: &mut late,
            dead_letters: &mut dead,
        };
        let report = simulate(pipeline, &mut source, &options, sinks, &mut |_| {}).unwrap();
        let simulated: Vec<(String, O)> = outputs.items.into_iter().map(|o| (o.key, o.value)).collect();
        let from_script: Vec<(String, O)> = scripted.panes.into_iter().map(|p| (p.key, p.value)).collect();
        assert_eq!(simulated, from_script, "simulate and TestStream disagree");
        assert_eq!(report.stats, scripted.stats);
        from_script
    }

    fn by_user() -> pipeline::dataflow::KeyedBuilder<pipeline::event::VisitEvent, String> {
        use pipeline::event::VisitEvent;
        pipeline::Pipeline::builder(VisitEvent::from_json, VisitEvent::event_time)
            .windows(pipeline::window::FixedWindows::of(Duration::seconds(20)))
            .key_by(|v: &VisitEvent| v.id.clone())
    }

    fn pairs<O>(expected: [(&str, O); 2]) -> Vec<(String, O)> {
        expected.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn every_builtin_aggregation_runs_in_a_test_stream_and_in_the_simulator() {
        use pipeline::event::VisitEvent;
        let stream = sized_visits();
        let bytes = |v: &VisitEvent| v.file_size_bytes;
        let count = by_user().count().output(|_, _, _, n| n);
        assert_eq!(run_both_ways(&count, &stream), pairs([("alice", 2), ("bob", 1)]));
        let sum = by_user().sum(bytes).output(|_, _, _, total| total);
        assert_eq!(run_both_ways(&sum, &stream), pairs([("alice", 400), ("bob", 50)]));
        let min = by_user().min(bytes).output(|_, _, _, least| least);
        assert_eq!(
            run_both_ways(&min, &stream),
            pairs([("alice", Some(100)), ("bob", Some(50))])
        );
        let max = by_user().max(bytes).output(|_, _, _, most| most);
        assert_eq!(
            run_both_ways(&max, &stream),
            pairs([("alice", Some(300)), ("bob", Some(50))])
        );
        let mean = by_user()
            .mean(|v: &VisitEvent| v.file_size_bytes as f64)
            .output(|_, _, _, m| m);
        assert_eq!(
            run_both_ways(&mean, &stream),
            pairs([("alice", Some(200.0)), ("bob", Some(50.0))])
        );
    }

    #[test]
    fn a_closure_aggregation_runs_in_a_test_stream_and_in_the_simulator() {
        use pipeline::combine::combine_fn;
        use pipeline::event::VisitEvent;
        let sizes = by_user()
            .combine(
                |v: &VisitEvent| v.file_size_bytes,
                combine_fn(
                    Vec::new,
                    |acc: &mut Vec<i64>, x| acc.push(x),
                    |acc, other| acc.extend(other),
                    |acc| {
                        let mut sorted = acc.clone();
                        sorted.sort_unstable();
                        sorted
                    },
                ),
            )
            .output(|_, _, _, sizes| sizes);
        assert_eq!(
            run_both_ways(&sizes, &sized_visits()),
            pairs([("alice", vec![100, 300]), ("bob", vec![50])])
        );
    }
}
