//! The simulation loop: steps from a source, seeded disorder, the one driver, results into sinks.
//!
//! [`simulate`] runs any [`Pipeline`] over any [`Source`] with the pipeline crate's [`Driver`] (the one
//! driver loop every runner shares) under a [`WatermarkStrategy`] and optional seeded
//! [`Disorder`](crate::disorder::Disorder). Time is virtual: event time comes from the records, the
//! watermark from the strategy (or the script), and processing time from scenario steps (for a recording it
//! follows the largest event time seen, as if the records arrived as they happened). Each record is decoded
//! once, also when disorder needs its event time first. The same input and seed always give the same
//! outputs in the same order.

use std::hash::Hash;

use pipeline::combine::CombineFn;
use pipeline::io::{DeadLetter, LateRecord, LentStep, Position, Sink, SinkError, Source, SourceError, Step};
use pipeline::time::Watermark;
use pipeline::transcript::{ElementFate, StepAction};
use pipeline::watermark::WatermarkStrategy;
use pipeline::window::Window;
use pipeline::{Decoded, Driver, DriverOptions, Pipeline, PipelineStats, ProcessingTimeRule, WindowOutput};

use crate::disorder::{Disorder, DisorderOptions};
use crate::observe::{ArrivedElement, ObservedStep, RunObserver};

/// The default [`SimulationOptions::firing_part`]: small enough that a part's panes take a few hundred
/// kB, large enough that a part costs nothing noticeable over firing the step whole.
pub const DEFAULT_FIRING_PART: usize = 4096;

/// How to run a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationOptions {
    /// Where the watermark comes from.
    pub watermark: WatermarkStrategy,
    /// Seeded disorder applied to arrival order (recordings only).
    pub disorder: Option<DisorderOptions>,
    /// Where processing time comes from: a recording's follows its event time, a script's is scripted.
    pub processing_time: ProcessingTimeRule,
    /// The most windows a watermark step fires before their outputs are written (see
    /// [`Driver::fire_in_parts`]): the end of input of a million users then holds a part's panes at a
    /// time, not a million. The output does not depend on it. Runs with an observer fire steps whole.
    pub firing_part: usize,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        SimulationOptions {
            watermark: WatermarkStrategy::Bounded(pipeline::watermark::DEFAULT_BOUND),
            disorder: None,
            processing_time: ProcessingTimeRule::FollowsEventTime,
            firing_part: DEFAULT_FIRING_PART,
        }
    }
}

/// Where a simulation's results go.
pub struct Sinks<'a, K, O> {
    /// Window results.
    pub outputs: &'a mut dyn Sink<WindowOutput<K, O>>,
    /// Elements dropped as late.
    pub late: &'a mut dyn Sink<LateRecord>,
    /// Records that did not decode.
    pub dead_letters: &'a mut dyn Sink<DeadLetter>,
}

/// What a simulation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulationReport {
    /// Record counts; conservation holds. Records a recording says were dropped as late before its
    /// pipeline ([`Source::take_dropped_late`]) are in `read`, `parsed` and `dropped_late`.
    pub stats: PipelineStats,
    /// The most (key, window) states open at once: the run's memory high-water mark.
    pub max_open_windows: usize,
    /// The watermark before the end of input flushed everything.
    pub watermark_before_end: Watermark,
}

/// Why a simulation stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// The input could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A result could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The input needs something this way of running does not do.
    #[error("{0}")]
    Unsupported(String),
    /// The operating system would not start the threads `--threads` asked for.
    #[error("cannot start {threads} simulation threads: {source}")]
    Threads {
        /// How many were asked for.
        threads: usize,
        /// Why they could not start.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Runs `pipeline` over everything `source` yields, then moves the watermark to +∞ so every window
/// flushes. `on_progress` is called after each step (for progress bars).
pub fn simulate<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    source: &mut dyn Source,
    options: &SimulationOptions,
    sinks: Sinks<'_, K, O>,
    on_progress: &mut dyn FnMut(&PipelineStats),
) -> Result<SimulationReport, SimulationError>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    run_simulation(pipeline, source, options, sinks, on_progress, None)
}

/// [`simulate`], with `observer` shown every step the driver takes (see [`crate::observe`]): each record
/// is then decoded here, so that its key and event time can be shown, and a record released by disorder
/// is a step of its own. The outputs are the same as without an observer.
pub fn simulate_observed<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    source: &mut dyn Source,
    options: &SimulationOptions,
    sinks: Sinks<'_, K, O>,
    on_progress: &mut dyn FnMut(&PipelineStats),
    observer: &mut dyn RunObserver<K, O>,
) -> Result<SimulationReport, SimulationError>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    run_simulation(pipeline, source, options, sinks, on_progress, Some(observer))
}

fn run_simulation<'a, 'w, E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    source: &mut dyn Source,
    options: &SimulationOptions,
    sinks: Sinks<'a, K, O>,
    on_progress: &mut dyn FnMut(&PipelineStats),
    observer: Option<&'w mut dyn RunObserver<K, O>>,
) -> Result<SimulationReport, SimulationError>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    let driver_options = DriverOptions {
        watermark: options.watermark,
        processing_time: options.processing_time,
    };
    let mut driver = Driver::new(pipeline, driver_options);
    if observer.is_none() {
        // Each part's outputs are written before the next part fires: a step that fires a million
        // windows (the end of input of a million users) holds a part's panes, not the million.
        driver.fire_in_parts(options.firing_part);
    }
    let mut sim = Simulation {
        driver,
        disorder: options.disorder.filter(|d| !d.is_identity()).map(Disorder::new),
        released: Vec::new(),
        sinks,
        dropped_before: 0,
        watch: observer.map(|observer| Watch {
            observer,
            steps: 0,
            arrivals: 0,
            elements: Vec::new(),
            windows: Vec::new(),
        }),
    };
    while let Some(step) = source.next_lent()? {
        match step {
            // Without disorder or an observer a lent record goes straight through: copied only if kept.
            LentStep::Record { payload, position } if sim.disorder.is_none() && sim.watch.is_none() => {
                sim.driver.record(payload, position);
                sim.drain()?;
            }
            step => {
                let step = step.into_step();
                sim.report_dropped_late(source.take_dropped_late());
                let horizons = source.take_lateness_horizons();
                sim.on_step(step, horizons)?;
            }
        }
        on_progress(&sim.stats());
    }
    sim.report_dropped_late(source.take_dropped_late());
    sim.finish()
}

/// The observer of a run and what it is shown next.
struct Watch<'a, K, O> {
    observer: &'a mut dyn RunObserver<K, O>,
    steps: usize,
    arrivals: u64,
    elements: Vec<ArrivedElement<K>>,
    windows: Vec<Window>,
}

struct Simulation<'a, 'w, E, K, C: CombineFn, O> {
    driver: Driver<E, K, C, O>,
    disorder: Option<Disorder<Decoded<E>>>,
    released: Vec<Decoded<E>>,
    sinks: Sinks<'a, K, O>,
    /// Records the input reported as dropped late before any pipeline saw them.
    dropped_before: u64,
    /// Who watches the run step by step, if anyone.
    watch: Option<Watch<'w, K, O>>,
}

impl<E, K, C, O> Simulation<'_, '_, E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    fn on_step(&mut self, step: Step, horizons: Option<Vec<Watermark>>) -> Result<(), SimulationError> {
        if self.watch.is_some() {
            return self.on_step_observed(step, horizons);
        }
        match (step, &mut self.disorder) {
            // A recorded bundle whose records carry their partition's lateness horizon (no disorder
            // applies to a scenario).
            (Step::Bundle(records), None) if horizons.as_ref().is_some_and(|h| h.len() == records.len()) => {
                let horizons = horizons.expect("checked above");
                let pipeline = self.driver.pipeline();
                let decoded = records
                    .into_iter()
                    .zip(horizons)
                    .map(|(record, horizon)| {
                        let mut decoded = pipeline.decode_record(record);
                        decoded.lateness_horizon = horizon;
                        decoded
                    })
                    .collect();
                self.driver.bundle(decoded);
            }
            (Step::Bundle(records), Some(disorder)) => {
                // Decoded once: the disorder needs the event time, the pipeline the event.
                for record in records {
                    let decoded = self.driver.pipeline().decode_record(record);
                    let t = decoded.event_time();
                    disorder.push(decoded, t, &mut self.released);
                }
                self.process_released();
            }
            (step, _) => self.driver.step(step),
        }
        self.drain()
    }

    /// Records a recorded runtime dropped as late before its pipeline: reported as they were, before the
    /// step that followed them in the recording.
    fn report_dropped_late(&mut self, late: Vec<LateRecord>) {
        self.dropped_before += late.len() as u64;
        self.driver.emitted().late.extend(late);
    }

    /// The pipeline's counts with the records dropped before it: read, parsed and late.
    fn stats(&self) -> PipelineStats {
        let mut stats = self.driver.stats();
        stats.read += self.dropped_before;
        stats.parsed += self.dropped_before;
        stats.dropped_late += self.dropped_before;
        stats
    }

    /// Released records arrive one by one: each is a bundle of one.
    fn process_released(&mut self) {
        for decoded in std::mem::take(&mut self.released) {
            self.driver.bundle(vec![decoded]);
        }
    }

    /// [`Self::on_step`] under an observer: records are decoded here and each driver step is shown.
    fn on_step_observed(&mut self, step: Step, horizons: Option<Vec<Watermark>>) -> Result<(), SimulationError> {
        match (step, &mut self.disorder) {
            (Step::Bundle(records), Some(disorder)) => {
                for record in records {
                    let decoded = self.driver.pipeline().decode_record(record);
                    let t = decoded.event_time();
                    disorder.push(decoded, t, &mut self.released);
                }
                self.observe_released()
            }
            (Step::Bundle(records), None) => {
                let pipeline = self.driver.pipeline();
                let mut horizons = horizons.filter(|h| h.len() == records.len()).map(Vec::into_iter);
                let decoded = records
                    .into_iter()
                    .map(|r| {
                        let mut decoded = pipeline.decode_record(r);
                        if let Some(horizon) = horizons.as_mut().and_then(Iterator::next) {
                            decoded.lateness_horizon = horizon;
                        }
                        decoded
                    })
                    .collect();
                self.observe_bundle(decoded)
            }
            (step, _) => {
                let before = self.driver.watermark();
                let action = StepAction::of(&step, false);
                self.driver.step(step);
                self.show(action, before)
            }
        }
    }

    fn observe_released(&mut self) -> Result<(), SimulationError> {
        for decoded in std::mem::take(&mut self.released) {
            self.observe_bundle(vec![decoded])?;
        }
        Ok(())
    }

    /// One bundle under an observer: each element's key, event time and windows are noted before the
    /// driver takes it.
    fn observe_bundle(&mut self, bundle: Vec<Decoded<E>>) -> Result<(), SimulationError> {
        let before = self.driver.watermark();
        let watch = self.watch.as_mut().expect("observing");
        let pipeline = self.driver.pipeline();
        for decoded in &bundle {
            let event = decoded.event.as_ref().ok().filter(|(event, _)| pipeline.keeps(event));
            let event_time = decoded.event_time();
            let mut behind_window_end = false;
            if let (Some(t), Some(_)) = (event_time, event) {
                watch.windows.clear();
                pipeline.strategy().window_fn.assign_windows(t, &mut watch.windows);
                // Beam: the on-time pane fires once the watermark is past the window's max timestamp;
                // an element arriving after that is counted in a late pane.
                behind_window_end = watch.windows.iter().any(|w| w.max_timestamp() < before.timestamp());
            }
            watch.elements.push(ArrivedElement {
                index: watch.arrivals,
                position: decoded.record.position,
                key: event.map(|(event, _)| pipeline.key_of(event)),
                event_time,
                fate: match (&decoded.event, event) {
                    (Ok(_), None) => ElementFate::Filtered,
                    _ => ElementFate::Counted,
                },
                behind_window_end,
                reason: None,
            });
            watch.arrivals += 1;
        }
        let action = StepAction::Bundle(bundle.len());
        self.driver.bundle(bundle);
        self.show(action, before)
    }

    /// Shows the observer what the step did (fates from the late records and dead letters it produced),
    /// then drains it into the sinks.
    fn show(&mut self, action: StepAction, watermark_before: Watermark) -> Result<(), SimulationError> {
        let watermark = self.driver.watermark();
        let processing_time = self.driver.processing_time();
        let watch = self.watch.as_mut().expect("observing");
        let emitted = self.driver.emitted();
        // A bundle's records can share a position (the line of a scenario's `events` step): a late
        // record is matched to the first element of that position and event time not yet marked.
        for late in &emitted.late {
            mark(
                &mut watch.elements,
                late.position,
                |e| e.event_time == Some(late.event_time),
                ElementFate::of_late_reason(&late.reason),
                &late.reason,
            );
        }
        for dead in &emitted.dead_letters {
            mark(
                &mut watch.elements,
                dead.position,
                |e| e.key.is_none(),
                ElementFate::DeadLettered,
                &dead.reason,
            );
        }
        watch.steps += 1;
        watch.observer.on_step(&ObservedStep {
            number: watch.steps,
            action,
            watermark_before,
            watermark,
            processing_time,
            elements: &watch.elements,
            outputs: &emitted.outputs,
            late: &emitted.late,
            dead_letters: &emitted.dead_letters,
        });
        watch.elements.clear();
        self.drain()
    }

    /// Writes what the driver emitted to the sinks, and the rest of a step fired in parts, part by part.
    fn drain(&mut self) -> Result<(), SimulationError> {
        loop {
            let emitted = self.driver.emitted();
            for output in emitted.outputs.drain(..) {
                self.sinks.outputs.write(&output)?;
            }
            for late in emitted.late.drain(..) {
                self.sinks.late.write(&late)?;
            }
            for dead in emitted.dead_letters.drain(..) {
                self.sinks.dead_letters.write(&dead)?;
            }
            if !self.driver.fire_next_part() {
                return Ok(());
            }
        }
    }

    fn finish(mut self) -> Result<SimulationReport, SimulationError> {
        if let Some(disorder) = &mut self.disorder {
            disorder.finish(&mut self.released);
            if self.watch.is_some() {
                self.observe_released()?;
            } else {
                self.process_released();
                self.drain()?;
            }
        }
        let watermark_before_end = self.driver.watermark();
        self.driver.end_input();
        if self.watch.is_some() && watermark_before_end != Watermark::MAX {
            self.show(StepAction::EndOfInput, watermark_before_end)?;
        }
        self.drain()?;
        self.driver.finish();
        self.sinks.outputs.flush()?;
        self.sinks.late.flush()?;
        self.sinks.dead_letters.flush()?;
        Ok(SimulationReport {
            stats: self.stats(),
            max_open_windows: self.driver.max_open_windows(),
            watermark_before_end,
        })
    }
}

/// Gives the first element at `position` that `matches` and is still counted the fate `fate` and its
/// reason.
fn mark<K>(
    elements: &mut [ArrivedElement<K>],
    position: Position,
    matches: impl Fn(&ArrivedElement<K>) -> bool,
    fate: ElementFate,
    reason: &str,
) {
    if let Some(e) = elements
        .iter_mut()
        .find(|e| e.position == position && e.fate == ElementFate::Counted && matches(e))
    {
        e.fate = fate;
        e.reason = Some(reason.to_owned());
    }
}
