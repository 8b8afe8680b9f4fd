//! The simulation on several threads: records decoded in parallel, keys split into shards, each shard its
//! own windowing core, and the results merged back into exactly the order one thread writes them.
//!
//! [`simulate_sharded`] reads the input in batches. Each batch is decoded by all threads at once (each a
//! slice of its records), each element straight into a list for the shard of its key (a hash of the key,
//! so a key's state lives in one shard); then one thread works out, from the event times alone, how time
//! moves after each step (processing time and the watermark, as [`Driver`](pipeline::Driver) moves them)
//! and the lists change hands, their elements left where they are. Each shard
//! runs its own [`PipelineInstance`] over its elements and the *same* sequence of time moves, and tags
//! what it emits with the step that caused it. A key's windows only ever see that key's elements and the
//! shared time, so each pane is the pane one thread would emit; merging the shards' panes by (step, part
//! of the step, window end, window start, key) — the order in which one thread writes the panes of a step
//! — gives the same output, line for line. Late records are merged by record, dead letters all go through
//! shard 0 in record order, and the counts add up across shards.
//!
//! The stages overlap: while the shards work on one batch, the calling thread writes what the previous
//! batch emitted and reads the next (the source and the sinks stay on the calling thread); the buffers
//! are kept from batch to batch.
//!
//! What it does not do: seeded disorder (the caller runs those on one thread).

use std::hash::{Hash, Hasher};

use rayon::prelude::*;

use pipeline::combine::CombineFn;
use pipeline::io::{LateRecord, LentStep, Position, Record, Source, Step};
use pipeline::time::{Timestamp, Watermark};
use pipeline::watermark::{BoundedOutOfOrderness, WatermarkStrategy};
use pipeline::{Decoded, Emitted, Pipeline, PipelineInstance, PipelineStats, ProcessingTimeRule, WindowOutput};

use crate::run::{SimulationError, SimulationOptions, SimulationReport, Sinks};

/// Steps read and decoded together: each batch starts its threads twice and waits for the slowest, so a
/// batch must take far longer than a scheduler's time slice (on a busy machine a thread can wait
/// milliseconds for a core), and small enough to bound memory: 16,384 lines of about 400 bytes are
/// some 6.5 MB of input.
const BATCH: usize = 1 << 14;

/// Runs `pipeline` over `source` on `threads` threads, with the same outputs, in the same order, and the
/// same report as [`simulate`](crate::simulate) on one; see the module docs. With one thread, or with
/// seeded disorder, it is [`simulate`](crate::simulate).
pub fn simulate_sharded<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    source: &mut dyn Source,
    options: &SimulationOptions,
    sinks: Sinks<'_, K, O>,
    threads: usize,
    on_progress: &mut dyn FnMut(&PipelineStats),
) -> Result<SimulationReport, SimulationError>
where
    E: Send,
    K: Clone + Ord + Hash + Send,
    C: CombineFn + Clone,
    O: Send,
    Pipeline<E, K, C, O>: Sync,
    PipelineInstance<E, K, C, O>: Send,
{
    let disorder = options.disorder.filter(|d| !d.is_identity());
    if threads <= 1 || disorder.is_some() {
        return crate::simulate(pipeline, source, options, sinks, on_progress);
    }
    let mut run = ShardedRun {
        pipeline,
        shards: (0..threads).map(|_| Shard::new(pipeline)).collect(),
        clock: Clock::new(options, pipeline.start().processing_time()),
        steps_done: 0,
        max_open_windows: 0,
        firing_part: options.firing_part,
        decoded: (0..threads)
            .map(|_| (0..threads).map(|_| Vec::new()).collect())
            .collect(),
        times: Vec::new(),
        moves: Vec::new(),
    };
    // Threads that last the whole run: a thread started per batch would start with an empty allocator
    // heap each time, and the fresh pages it faults in cost more than the work it shares.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("simulate-shard-{i}"))
        .build()
        .map_err(|e| SimulationError::Threads {
            threads,
            source: Box::new(e),
        })?;
    let mut sinks = sinks;
    let mut batch = Batch::default();
    let mut next = Batch::default();
    read_batch(source, &mut batch)?;
    // Three stages overlap: while the shards work on a batch, this thread writes what the previous batch
    // emitted and reads the next one (reading and writing stay on one thread: the source and the sinks
    // are not shared).
    let mut emitted: Option<BatchOutput<K, O>> = None;
    while !batch.steps.is_empty() {
        let mut output = None;
        let (written, read) = pool.in_place_scope(|scope| {
            let (run, batch, output) = (&mut run, &batch, &mut output);
            scope.spawn(move |_| {
                run.batch(batch);
                *output = Some(run.take_output());
            });
            let written = emitted.as_mut().map_or(Ok(()), |output| output.write(&mut sinks));
            let read = match written {
                Ok(()) => read_batch(source, &mut next),
                Err(_) => Ok(()),
            };
            (written, read)
        });
        let output = output.expect("the batch ran");
        written?;
        if let Some(written) = emitted.replace(output) {
            run.recycle(written);
        }
        on_progress(&run.stats());
        if let Err(e) = read {
            // The batches processed before the error are written (a prefix of what one thread writes);
            // the batch being read when it came is not processed, as the run has failed.
            emitted.take().expect("just set").write(&mut sinks)?;
            return Err(e);
        }
        std::mem::swap(&mut batch, &mut next);
    }
    if let Some(mut output) = emitted {
        output.write(&mut sinks)?;
    }
    run.finish(&pool, sinks)
}

/// Reads up to [`BATCH`] steps into `batch` (empty at the end of the input).
fn read_batch(source: &mut dyn Source, batch: &mut Batch) -> Result<(), SimulationError> {
    batch.clear();
    while batch.steps.len() < BATCH {
        match source.next_lent()? {
            Some(step) => batch.push(step),
            None => break,
        }
        // A Kafka recording's records judged late before the pipeline, and its lateness horizons,
        // are applied between steps by the one-thread loop only.
        if !source.take_dropped_late().is_empty() || source.take_lateness_horizons().is_some() {
            return Err(SimulationError::Unsupported(
                "--threads above 1 cannot replay a Kafka recording (its dropped_late lines and lateness \
                 horizons); use --threads 1"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

/// One step of a batch; records are stored in the batch.
enum BatchStep {
    /// A bundle of these records (indices into the batch's records).
    Bundle(std::ops::Range<usize>),
    /// The watermark moves here.
    Watermark(Watermark),
    /// Processing time moves forward by this much.
    ProcessingTime(pipeline::time::Duration),
}

/// A batch of steps, its records' bytes in one buffer.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Each record's bytes in `bytes` and its position.
    records: Vec<(std::ops::Range<usize>, Position)>,
    steps: Vec<BatchStep>,
}

impl Batch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.steps.clear();
    }

    fn push(&mut self, step: LentStep<'_>) {
        let first = self.records.len();
        match step {
            LentStep::Record { payload, position } => self.push_record(payload, position),
            LentStep::Step(Step::Bundle(records)) => {
                for record in records {
                    self.push_record(&record.payload, record.position);
                }
            }
            LentStep::Step(Step::Watermark(to)) => return self.steps.push(BatchStep::Watermark(to)),
            LentStep::Step(Step::ProcessingTime(by)) => return self.steps.push(BatchStep::ProcessingTime(by)),
        }
        self.steps.push(BatchStep::Bundle(first..self.records.len()));
    }

    fn push_record(&mut self, payload: &[u8], position: Position) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        self.records.push((start..self.bytes.len(), position));
    }

    fn payload(&self, record: usize) -> &[u8] {
        &self.bytes[self.records[record].0.clone()]
    }
}

/// How time moves after a step: what [`Driver`](pipeline::Driver) does, worked out once for all shards.
#[derive(Debug, Clone, Copy, Default)]
struct TimeMove {
    processing_time: Option<Timestamp>,
    watermark: Option<Watermark>,
}

/// The time rules of the driver, applied to the whole input's event times.
struct Clock {
    strategy: WatermarkStrategy,
    bounded: Option<BoundedOutOfOrderness>,
    processing_time_rule: ProcessingTimeRule,
    processing_time: Timestamp,
}

impl Clock {
    fn new(options: &SimulationOptions, processing_time: Timestamp) -> Clock {
        Clock {
            strategy: options.watermark,
            bounded: match options.watermark {
                WatermarkStrategy::Bounded(bound) => Some(BoundedOutOfOrderness::new(bound)),
                _ => None,
            },
            processing_time_rule: options.processing_time,
            processing_time,
        }
    }

    fn processing_time_to(&mut self, to: Timestamp) -> Option<Timestamp> {
        (to > self.processing_time).then(|| {
            self.processing_time = to;
            to
        })
    }

    /// After a bundle whose largest event time is `max_event_time` (`Driver::bundle`).
    fn after_bundle(&mut self, max_event_time: Option<Timestamp>) -> TimeMove {
        let Some(t) = max_event_time else {
            return TimeMove::default();
        };
        let processing_time = match self.processing_time_rule {
            ProcessingTimeRule::FollowsEventTime => self.processing_time_to(t),
            ProcessingTimeRule::Scripted => None,
        };
        let watermark = self.bounded.as_mut().map(|bounded| {
            bounded.observe(t);
            bounded.current()
        });
        TimeMove {
            processing_time,
            watermark,
        }
    }

    fn step(&mut self, step: &BatchStep) -> TimeMove {
        match step {
            BatchStep::Bundle(_) => unreachable!("bundles move time through after_bundle"),
            BatchStep::Watermark(to) => TimeMove {
                processing_time: None,
                watermark: (self.strategy != WatermarkStrategy::Perfect).then_some(*to),
            },
            BatchStep::ProcessingTime(by) => TimeMove {
                processing_time: self.processing_time_to(self.processing_time.plus(*by)),
                watermark: None,
            },
        }
    }
}

/// Which part of a step a pane came from, in the order the driver runs them.
const PART_BUNDLE: u8 = 0;
const PART_PROCESSING_TIME: u8 = 1;
const PART_WATERMARK: u8 = 2;

/// An element (or a dead letter) handed to a shard: its record in the batch, and its decoding.
struct Item<E> {
    record: usize,
    event: Result<(E, Timestamp), String>,
}

/// One shard: a core for its keys and what it emitted, tagged for the merge.
struct Shard<E, K, C: CombineFn, O> {
    instance: PipelineInstance<E, K, C, O>,
    emitted: Emitted<K, O>,
    /// This shard's items of the batch: one list per decoding thread (the threads decode consecutive
    /// slices of the batch, so the lists one after the other are in record order).
    items: Vec<Vec<Item<E>>>,
    /// The items of one bundle (scratch).
    mine: Vec<Item<E>>,
    /// Panes and the (step, part) that fired them, in firing order.
    outputs: Vec<Tagged<K, O>>,
    /// Late records and their record number in the batch.
    late: Vec<(usize, LateRecord)>,
    /// Open (key, window) states after each bundle of the batch.
    open_after_bundle: Vec<usize>,
}

impl<E, K, C, O> Shard<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    fn new(pipeline: &Pipeline<E, K, C, O>) -> Self {
        Shard {
            instance: pipeline.start(),
            emitted: Emitted::default(),
            items: Vec::new(),
            mine: Vec::new(),
            outputs: Vec::new(),
            late: Vec::new(),
            open_after_bundle: Vec::new(),
        }
    }

    /// Runs this shard's items of `batch` and every time move, tagging what comes out.
    fn run(&mut self, batch: &Batch, moves: &[TimeMove], first_step: u64) {
        let mut all_items = std::mem::take(&mut self.items);
        let mut mine = std::mem::take(&mut self.mine);
        let mut items = all_items.iter_mut().flat_map(|items| items.drain(..)).peekable();
        for (s, step) in batch.steps.iter().enumerate() {
            let tag = |part| (first_step + s as u64, part);
            if let BatchStep::Bundle(range) = step {
                if range.len() == 1 {
                    // A bundle of one record (every step of a recording): no list to gather.
                    if let Some(Item { record, event }) = items.next_if(|item| item.record < range.end) {
                        let position = batch.records[record].1;
                        self.instance
                            .process_lent(batch.payload(record), position, event, &mut self.emitted);
                        self.collect(tag(PART_BUNDLE), |_| record);
                    }
                    self.open_after_bundle.push(self.instance.open_windows());
                } else {
                    mine.clear();
                    while let Some(item) = items.next_if(|item| item.record < range.end) {
                        mine.push(item);
                    }
                    if !mine.is_empty() {
                        let numbers: Vec<(Position, usize)> = mine
                            .iter()
                            .map(|item| (batch.records[item.record].1, item.record))
                            .collect();
                        let bundle = mine
                            .drain(..)
                            .map(|Item { record, event, .. }| Decoded {
                                record: Record::new(batch.payload(record), batch.records[record].1),
                                event,
                                lateness_horizon: Watermark::MIN,
                            })
                            .collect();
                        self.instance.process_decoded(bundle, &mut self.emitted);
                        let number_of = |late: &LateRecord| {
                            numbers
                                .iter()
                                .find(|(position, _)| *position == late.position)
                                .map_or(range.start, |(_, record)| *record)
                        };
                        self.collect(tag(PART_BUNDLE), number_of);
                    }
                    self.open_after_bundle.push(self.instance.open_windows());
                }
            }
            let time = moves[s];
            if let Some(to) = time.processing_time {
                self.instance.advance_processing_time(to, &mut self.emitted);
                self.collect(tag(PART_PROCESSING_TIME), |_| 0);
            }
            if let Some(to) = time.watermark {
                self.instance.advance_watermark(to, &mut self.emitted);
                self.collect(tag(PART_WATERMARK), |_| 0);
            }
        }
        drop(items);
        // The buffers are kept for the next batch: allocating them afresh costs more than the work.
        self.items = all_items;
        self.mine = mine;
    }

    /// Moves what the instance emitted into the tagged lists.
    #[inline]
    fn collect(&mut self, tag: (u64, u8), record_of: impl Fn(&LateRecord) -> usize) {
        // Most steps emit nothing: checked first, as this runs up to three times a step in each shard.
        if !self.emitted.outputs.is_empty() {
            self.outputs.extend(self.emitted.outputs.drain(..).map(|o| (tag, o)));
        }
        if !self.emitted.late.is_empty() {
            self.late
                .extend(self.emitted.late.drain(..).map(|late| (record_of(&late), late)));
        }
    }
}

struct ShardedRun<'p, E, K, C: CombineFn, O> {
    pipeline: &'p Pipeline<E, K, C, O>,
    shards: Vec<Shard<E, K, C, O>>,
    clock: Clock,
    steps_done: u64,
    max_open_windows: usize,
    /// [`SimulationOptions::firing_part`].
    firing_part: usize,
    /// Buffers kept from batch to batch: what each decoding thread decoded, a list for each shard; each
    /// record's event time (none for a dead letter); and the time moves.
    decoded: Vec<Vec<Vec<Item<E>>>>,
    times: Vec<Option<Timestamp>>,
    moves: Vec<TimeMove>,
}

/// A pane and the (step, part of the step) that fired it.
type Tagged<K, O> = ((u64, u8), WindowOutput<K, O>);

/// Which of the shards' lists of panes, each in its firing order and read up to `next_of[i]`, holds the
/// pane one thread writes next: the least by (step, part of the step, window end, window start, key).
/// `None` when all are read.
fn first_in_order<'a, K: Ord + 'a, O: 'a>(
    lists: impl Iterator<Item = &'a [Tagged<K, O>]>,
    next_of: &[usize],
) -> Option<usize> {
    lists
        .zip(next_of)
        .enumerate()
        .filter_map(|(i, (list, &at))| {
            list.get(at)
                .map(|(tag, o)| (i, (tag, o.window.end(), o.window.start(), &o.key)))
        })
        .min_by(|a, b| a.1.cmp(&b.1))
        .map(|(i, _)| i)
}

/// What the shards emitted for a batch, taken out of them so that they can go on with the next batch
/// while this is written.
struct BatchOutput<K, O> {
    /// Each shard's panes, tagged, in its firing order.
    outputs: Vec<Vec<Tagged<K, O>>>,
    /// Late records and their record number in the batch.
    late: Vec<(usize, LateRecord)>,
    dead_letters: Vec<pipeline::io::DeadLetter>,
}

impl<K: Ord, O> BatchOutput<K, O> {
    /// Writes the panes, late records and dead letters in one thread's order, and empties the lists
    /// (keeping their room, for [`ShardedRun::recycle`]).
    fn write(&mut self, sinks: &mut Sinks<'_, K, O>) -> Result<(), SimulationError> {
        let mut next_of = vec![0; self.outputs.len()];
        while let Some(i) = first_in_order(self.outputs.iter().map(Vec::as_slice), &next_of) {
            sinks.outputs.write(&self.outputs[i][next_of[i]].1)?;
            next_of[i] += 1;
        }
        // One record is late at most once and belongs to one shard, so record numbers are unique.
        self.late.sort_by_key(|(record, _)| *record);
        for (_, record) in self.late.drain(..) {
            sinks.late.write(&record)?;
        }
        for dead in self.dead_letters.drain(..) {
            sinks.dead_letters.write(&dead)?;
        }
        self.outputs.iter_mut().for_each(Vec::clear);
        Ok(())
    }
}

impl<E, K, C, O> ShardedRun<'_, E, K, C, O>
where
    E: Send,
    K: Clone + Ord + Hash + Send,
    C: CombineFn + Clone,
    O: Send,
    Pipeline<E, K, C, O>: Sync,
    PipelineInstance<E, K, C, O>: Send,
{
    fn batch(&mut self, batch: &Batch) {
        let n = self.shards.len();
        // Every record decoded once, each thread a slice of the batch, straight into the list of its
        // key's shard (no element is moved again before its shard takes it); its event time aside.
        let mut times = std::mem::take(&mut self.times);
        times.clear();
        times.resize(batch.records.len(), None);
        let pipeline = self.pipeline;
        let chunk = batch.records.len().div_ceil(n).max(1);
        self.decoded
            .par_iter_mut()
            .zip(times.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(c, (lists, times))| {
                let first = c * chunk;
                for (i, time) in times.iter_mut().enumerate() {
                    let record = first + i;
                    let event = pipeline.decode_element(batch.payload(record));
                    let shard = match &event {
                        Ok((event, t)) => {
                            *time = Some(*t);
                            shard_of(&pipeline.key_of(event), n)
                        }
                        // Dead letters all go through shard 0, so they come out in record order.
                        Err(_) => 0,
                    };
                    lists[shard].push(Item { record, event });
                }
            });
        // Each shard takes its lists (the lists change hands; their items stay where they are).
        for (c, lists) in self.decoded.iter_mut().enumerate() {
            for (shard, list) in self.shards.iter_mut().zip(lists.iter_mut()) {
                if shard.items.len() <= c {
                    shard.items.resize_with(c + 1, Vec::new);
                }
                std::mem::swap(&mut shard.items[c], list);
            }
        }
        // Time moves after each step, from the event times alone.
        let mut moves = std::mem::take(&mut self.moves);
        moves.clear();
        moves.extend(batch.steps.iter().map(|step| {
            match step {
                BatchStep::Bundle(range) => self
                    .clock
                    .after_bundle(times[range.clone()].iter().copied().max().flatten()),
                step => self.clock.step(step),
            }
        }));
        self.times = times;
        let first_step = self.steps_done;
        self.shards
            .par_iter_mut()
            .for_each(|shard| shard.run(batch, &moves, first_step));
        self.moves = moves;
        self.steps_done += batch.steps.len() as u64;
        let bundles = self.shards[0].open_after_bundle.len();
        for b in 0..bundles {
            let open: usize = self.shards.iter().map(|s| s.open_after_bundle[b]).sum();
            self.max_open_windows = self.max_open_windows.max(open);
        }
        for shard in &mut self.shards {
            shard.open_after_bundle.clear();
        }
    }

    /// Gives the shards back the (written, empty) lists of an earlier batch, to fill again.
    fn recycle(&mut self, written: BatchOutput<K, O>) {
        for (shard, outputs) in self.shards.iter_mut().zip(written.outputs) {
            if shard.outputs.is_empty() && outputs.capacity() > shard.outputs.capacity() {
                shard.outputs = outputs;
            }
        }
    }

    /// Takes what the shards emitted out of them.
    fn take_output(&mut self) -> BatchOutput<K, O> {
        BatchOutput {
            outputs: self.shards.iter_mut().map(|s| std::mem::take(&mut s.outputs)).collect(),
            late: self.shards.iter_mut().flat_map(|s| s.late.drain(..)).collect(),
            dead_letters: self.shards[0].emitted.dead_letters.drain(..).collect(),
        }
    }

    fn stats(&self) -> PipelineStats {
        self.shards
            .iter()
            .map(|s| s.instance.stats())
            .fold(PipelineStats::default(), |a, b| a + b)
    }

    fn finish(
        mut self,
        pool: &rayon::ThreadPool,
        mut sinks: Sinks<'_, K, O>,
    ) -> Result<SimulationReport, SimulationError> {
        let watermark_before_end = self.shards[0].instance.watermark();
        let tag = (self.steps_done, PART_WATERMARK);
        // Each shard sorts its windows and fires its first part at once; then the shards' parts are merged
        // as they come, a shard firing its next part when the merge has taken all of its last one: the
        // end of input of a million users holds a part of each shard's panes, not the million.
        let mut more: Vec<bool> = pool.install(|| {
            self.shards
                .par_iter_mut()
                .map(|shard| {
                    let more =
                        shard
                            .instance
                            .advance_watermark_in_parts(Watermark::MAX, self.firing_part, &mut shard.emitted);
                    shard.collect(tag, |_| 0);
                    more
                })
                .collect()
        });
        let mut next_of = vec![0; self.shards.len()];
        loop {
            for ((shard, more), next) in self.shards.iter_mut().zip(&mut more).zip(&mut next_of) {
                // A shard with windows left always has a pane in the merge: all that it fires later comes
                // after its panes fired so far, which the merge compares with the other shards'.
                while *more && *next == shard.outputs.len() {
                    shard.outputs.clear();
                    *next = 0;
                    *more = shard.instance.continue_firing(self.firing_part, &mut shard.emitted);
                    shard.collect(tag, |_| 0);
                }
            }
            let lists = self.shards.iter().map(|shard| shard.outputs.as_slice());
            let Some(i) = first_in_order(lists, &next_of) else {
                break;
            };
            sinks.outputs.write(&self.shards[i].outputs[next_of[i]].1)?;
            next_of[i] += 1;
        }
        for shard in &mut self.shards {
            shard.outputs.clear();
            assert_eq!(
                shard.instance.open_windows(),
                0,
                "a window survived the watermark reaching +inf"
            );
            assert!(shard.late.is_empty(), "the end of input makes no record late");
        }
        self.take_output().write(&mut sinks)?;
        let stats = self.stats();
        if let Err(e) = stats.check_conservation() {
            panic!("conservation violated: {e}");
        }
        sinks.outputs.flush()?;
        sinks.late.flush()?;
        sinks.dead_letters.flush()?;
        Ok(SimulationReport {
            stats,
            max_open_windows: self.max_open_windows,
            watermark_before_end,
        })
    }
}

/// The shard of `key` among `n`: a fixed hash, so a run splits its keys the same way every time.
fn shard_of<K: Hash>(key: &K, n: usize) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % n as u64) as usize
}
