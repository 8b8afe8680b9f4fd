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
use pipeline::io::{DeadLetter, LateRecord, Sink, SinkError, Source, SourceError, Step};
use pipeline::time::Watermark;
use pipeline::watermark::WatermarkStrategy;
use pipeline::{Decoded, Driver, DriverOptions, Pipeline, PipelineStats, ProcessingTimeRule, WindowOutput};

use crate::disorder::{Disorder, DisorderOptions};

/// How to run a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationOptions {
    /// Where the watermark comes from.
    pub watermark: WatermarkStrategy,
    /// Seeded disorder applied to arrival order (recordings only).
    pub disorder: Option<DisorderOptions>,
    /// Where processing time comes from: a recording's follows its event time, a script's is scripted.
    pub processing_time: ProcessingTimeRule,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        SimulationOptions {
            watermark: WatermarkStrategy::Bounded(pipeline::watermark::DEFAULT_BOUND),
            disorder: None,
            processing_time: ProcessingTimeRule::FollowsEventTime,
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
    let driver_options = DriverOptions {
        watermark: options.watermark,
        processing_time: options.processing_time,
    };
    let mut sim = Simulation {
        driver: Driver::new(pipeline, driver_options),
        disorder: options.disorder.filter(|d| !d.is_identity()).map(Disorder::new),
        released: Vec::new(),
        sinks,
        dropped_before: 0,
    };
    while let Some(step) = source.next_step()? {
        sim.report_dropped_late(source.take_dropped_late());
        let horizons = source.take_lateness_horizons();
        sim.on_step(step, horizons)?;
        on_progress(&sim.stats());
    }
    sim.report_dropped_late(source.take_dropped_late());
    sim.finish()
}

struct Simulation<'a, E, K, C: CombineFn, O> {
    driver: Driver<E, K, C, O>,
    disorder: Option<Disorder<Decoded<E>>>,
    released: Vec<Decoded<E>>,
    sinks: Sinks<'a, K, O>,
    /// Records the input reported as dropped late before any pipeline saw them.
    dropped_before: u64,
}

impl<E, K, C, O> Simulation<'_, E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    fn on_step(&mut self, step: Step, horizons: Option<Vec<Watermark>>) -> Result<(), SimulationError> {
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

    fn drain(&mut self) -> Result<(), SimulationError> {
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
        Ok(())
    }

    fn finish(mut self) -> Result<SimulationReport, SimulationError> {
        if let Some(disorder) = &mut self.disorder {
            disorder.finish(&mut self.released);
            self.process_released();
            self.drain()?;
        }
        let watermark_before_end = self.driver.watermark();
        self.driver.finish();
        self.drain()?;
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
