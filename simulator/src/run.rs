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
use pipeline::io::{DeadLetter, LateRecord, LentStep, Sink, SinkError, Source, SourceError, Step};
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
    /// Record counts; conservation holds.
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
    };
    while let Some(step) = source.next_lent()? {
        match step {
            // Without disorder a lent record goes straight through: copied only if it is kept.
            LentStep::Record { payload, position } if sim.disorder.is_none() => {
                sim.driver.record(payload, position);
                sim.drain()?;
            }
            step => sim.on_step(step.into_step())?,
        }
        on_progress(&sim.driver.stats());
    }
    sim.finish()
}

struct Simulation<'a, E, K, C: CombineFn, O> {
    driver: Driver<E, K, C, O>,
    disorder: Option<Disorder<Decoded<E>>>,
    released: Vec<Decoded<E>>,
    sinks: Sinks<'a, K, O>,
}

impl<E, K, C, O> Simulation<'_, E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    fn on_step(&mut self, step: Step) -> Result<(), SimulationError> {
        match (step, &mut self.disorder) {
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
            stats: self.driver.stats(),
            max_open_windows: self.driver.max_open_windows(),
            watermark_before_end,
        })
    }
}
