//! The deterministic discrete-event loop: source events in, the pipeline core stepped, results out.
//!
//! [`simulate`] drives any [`Pipeline`] from any [`Source`] under a [`WatermarkStrategy`] and optional
//! seeded [`Disorder`](crate::disorder::Disorder). Time is virtual: event time comes from the records,
//! the watermark from the strategy (or the script), and processing time from scenario steps (for a
//! recording it follows the largest event time seen, as if the records arrived as they happened). The
//! same input and seed always give the same outputs in the same order.

use std::hash::Hash;

use pipeline::combine::CombineFn;
use pipeline::io::{DeadLetter, LateRecord, Record, Sink, SinkError, Source, SourceError, SourceEvent};
use pipeline::time::Watermark;
use pipeline::watermark::{BoundedOutOfOrderness, WatermarkStrategy};
use pipeline::{Emitted, Pipeline, PipelineInstance, PipelineStats, WindowOutput};

use crate::disorder::{Disorder, DisorderOptions};

/// How to run a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationOptions {
    /// Where the watermark comes from.
    pub watermark: WatermarkStrategy,
    /// Seeded disorder applied to arrival order (recordings only).
    pub disorder: Option<DisorderOptions>,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        SimulationOptions {
            watermark: WatermarkStrategy::Bounded(pipeline::time::Duration::seconds(5)),
            disorder: None,
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
/// flushes. `on_progress` is called after each source event (for progress bars).
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
    let mut sim = Simulation {
        instance: pipeline.start(),
        watermark: options.watermark,
        bounded: match options.watermark {
            WatermarkStrategy::Bounded(bound) => Some(BoundedOutOfOrderness::new(bound)),
            _ => None,
        },
        disorder: options.disorder.filter(|d| !d.is_identity()).map(Disorder::new),
        emitted: Emitted::default(),
        released: Vec::new(),
        max_open_windows: 0,
        sinks,
    };
    while let Some(event) = source.next_event()? {
        sim.on_event(event)?;
        on_progress(&sim.instance.stats());
    }
    sim.finish()
}

struct Simulation<'a, E, K, C: CombineFn, O> {
    instance: PipelineInstance<E, K, C, O>,
    watermark: WatermarkStrategy,
    bounded: Option<BoundedOutOfOrderness>,
    disorder: Option<Disorder>,
    emitted: Emitted<K, O>,
    released: Vec<Record>,
    max_open_windows: usize,
    sinks: Sinks<'a, K, O>,
}

impl<E, K, C, O> Simulation<'_, E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    fn on_event(&mut self, event: SourceEvent) -> Result<(), SimulationError> {
        match event {
            SourceEvent::Bundle(records) => match &mut self.disorder {
                Some(disorder) => {
                    for record in records {
                        let t = self.instance.pipeline().decode(&record.payload).ok().map(|(_, t)| t);
                        disorder.push(record, t, &mut self.released);
                    }
                    self.process_released()?;
                }
                None => self.process_bundle(records)?,
            },
            SourceEvent::Watermark(w) => {
                // A perfect watermark never makes anything late, so scripted steps cannot hold for it.
                if self.watermark != WatermarkStrategy::Perfect {
                    self.instance.advance_watermark(w, &mut self.emitted);
                }
            }
            SourceEvent::ProcessingTime(d) => {
                let now = self.instance.processing_time().plus(d);
                self.instance.advance_processing_time(now, &mut self.emitted);
            }
        }
        self.drain()
    }

    fn process_released(&mut self) -> Result<(), SimulationError> {
        let released = std::mem::take(&mut self.released);
        for record in released {
            self.process_bundle(vec![record])?;
        }
        Ok(())
    }

    fn process_bundle(&mut self, records: Vec<Record>) -> Result<(), SimulationError> {
        let summary = self.instance.process_bundle(records, &mut self.emitted);
        self.max_open_windows = self.max_open_windows.max(self.instance.open_windows());
        if let Some(t) = summary.max_event_time {
            if self.instance.processing_time() < t {
                self.instance.advance_processing_time(t, &mut self.emitted);
            }
            if let Some(bounded) = &mut self.bounded {
                bounded.observe(t);
                self.instance.advance_watermark(bounded.current(), &mut self.emitted);
            }
        }
        self.drain()
    }

    fn drain(&mut self) -> Result<(), SimulationError> {
        for output in self.emitted.outputs.drain(..) {
            self.sinks.outputs.write(&output)?;
        }
        for late in self.emitted.late.drain(..) {
            self.sinks.late.write(&late)?;
        }
        for dead in self.emitted.dead_letters.drain(..) {
            self.sinks.dead_letters.write(&dead)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<SimulationReport, SimulationError> {
        if let Some(disorder) = &mut self.disorder {
            disorder.finish(&mut self.released);
            self.process_released()?;
        }
        let watermark_before_end = self.instance.watermark();
        self.instance.advance_watermark(Watermark::MAX, &mut self.emitted);
        self.drain()?;
        self.sinks.outputs.flush()?;
        self.sinks.late.flush()?;
        self.sinks.dead_letters.flush()?;
        let stats = self.instance.stats();
        assert_eq!(
            self.instance.open_windows(),
            0,
            "a window survived the watermark reaching +inf"
        );
        if let Err(e) = stats.check_conservation() {
            panic!("conservation violated: {e}");
        }
        Ok(SimulationReport {
            stats,
            max_open_windows: self.max_open_windows,
            watermark_before_end,
        })
    }
}
