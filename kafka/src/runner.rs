//! The Kafka runner: a consumer-group member that drives a [`PipelineInstance`] from a topic and writes
//! its results to topics, committing input offsets only for records whose results are acknowledged.
//!
//! The runner is a thin, synchronous driver of the pipeline crate's sans-IO core, on two threads:
//!
//! 1. the polling thread polls up to `poll_batch` records (waiting at most 100 ms for the first) and
//!    queues them as one batch (at most two batches wait); rebalance callbacks run on it;
//! 2. the processing thread takes each batch and splits it into bundles of at most `max_bundle`
//!    consecutive records of one partition; to each it applies the checkpoint rules of
//!    [`crate::ledger`] (skipping what a previous owner already emitted) and hands the records to
//!    [`PipelineInstance::process_bundle`];
//! 3. after each bundle it feeds the bundle's largest event time to that partition's watermark
//!    generator and moves the pipeline watermark to the combined watermark ([`crate::watermark`]; this
//!    also runs when no batch came for 100 ms, so idleness advances it). Lateness is judged against
//!    the watermark before the bundle, so `max_bundle` bounds how coarse that is while catching up;
//! 4. it sends window results, dead letters and late records to their topics;
//! 5. every `commit_interval` it waits for every delivery report, then commits the ledger's safe
//!    offsets with their checkpoints (in exactly-once mode: adds them to the open transaction and
//!    commits it).
//!
//! Splitting polling from processing lets librdkafka's per-message work overlap with decoding; the
//! pipeline state itself is only ever touched under one lock, by one thread at a time.
//!
//! # Rebalances
//!
//! The consumer uses an eager assignment strategy, so a rebalance revokes every partition at once. On
//! revoke (inside the rebalance callback, before the partitions move) the runner commits what is safe
//! and drops all pipeline state: open windows are not flushed, because their records are at or after
//! the committed offsets and whoever owns the partitions next rebuilds them. On assign it reads the
//! committed offsets and their checkpoints and starts a fresh pipeline instance. Records polled before
//! a rebalance but not yet processed are discarded (they lie after the committed offsets).
//!
//! # Scale-out and keys
//!
//! Each process aggregates only what its partitions hold, so a per-key count is right only when every
//! record of a key is on one partition. `datagen --to kafka` and [`crate::produce`] key messages by user
//! id, which guarantees it; input keyed otherwise must go through [`crate::repartition`] first.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration as Wall, Instant, SystemTime, UNIX_EPOCH};

use pipeline::combine::CombineFn;
use pipeline::io::{LateRecord, Position, Record};
use pipeline::time::{Timestamp, Watermark};
use pipeline::window::Window;
use pipeline::{Emitted, Pipeline, PipelineInstance, PipelineStats};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::error::RuntimeError;
use crate::ledger::{CommitPoint, OffsetLedger, Replay};
use crate::options::RunnerOptions;
use crate::shutdown::Shutdown;
use crate::sink::{KafkaOutput, OutputProducer};
use crate::watermark::PartitionWatermarks;

/// How long the first poll of a bundle waits: an idle runner wakes this often to move the watermark
/// and commit.
const POLL_WAIT: Wall = Wall::from_millis(100);
/// How long reading committed offsets at assignment may take.
const COMMITTED_TIMEOUT: Wall = Wall::from_secs(30);

/// Counts of a run, over every pipeline instance it started (one per assignment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// The pipeline's own counts, summed over instances (`read` excludes skipped replays).
    pub pipeline: PipelineStats,
    /// Records re-read after a restart or rebalance and skipped because a previous owner had already
    /// emitted them (see [`crate::ledger`]).
    pub replay_skipped: u64,
    /// Records dropped as late because their partition's restored watermark had passed their windows.
    pub late_behind_floor: u64,
    /// Window results sent.
    pub outputs_sent: u64,
    /// Dead letters sent to the DLQ topic.
    pub dead_letters_sent: u64,
    /// Late records sent to the late topic.
    pub late_sent: u64,
    /// Successful offset commits (transactions in exactly-once mode).
    pub commits: u64,
    /// Partition assignments received.
    pub assignments: u64,
}

/// What [`run`] reports when it stops cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Counts of the run.
    pub stats: RunStats,
    /// The watermark when it stopped.
    pub watermark: Watermark,
}

/// Runs `pipeline` as a member of `options.group_id` until `shutdown` is raised, then flushes, commits
/// what is safe and leaves the group. Errors that make the results unsafe to continue (a delivery
/// failure, a fenced or failed transaction, a fatal client error) stop it without committing past
/// them; a restart resumes from the committed offsets.
pub fn run<E, K, C, O>(
    pipeline: Pipeline<E, K, C, O>,
    options: RunnerOptions,
    shutdown: &Shutdown,
) -> Result<RunSummary, RuntimeError>
where
    E: 'static,
    K: Clone + Ord + Hash + Send + 'static,
    C: CombineFn + Clone + Send + 'static,
    O: KafkaOutput + Send + 'static,
    PipelineInstance<E, K, C, O>: Send,
{
    run_observed(pipeline, options, shutdown, &mut |_, _| {})
}

/// [`run`], calling `observer` with the counts so far and the watermark after every poll (benchmarks
/// and embedding programs watch progress this way; it must be quick).
pub fn run_observed<E, K, C, O>(
    pipeline: Pipeline<E, K, C, O>,
    options: RunnerOptions,
    shutdown: &Shutdown,
    observer: &mut (dyn FnMut(&RunStats, Watermark) + Send),
) -> Result<RunSummary, RuntimeError>
where
    E: 'static,
    K: Clone + Ord + Hash + Send + 'static,
    C: CombineFn + Clone + Send + 'static,
    O: KafkaOutput + Send + 'static,
    PipelineInstance<E, K, C, O>: Send,
{
    if options.max_bundle == 0 || options.poll_batch == 0 {
        return Err(RuntimeError::Options(
            "max_bundle and poll_batch must be at least 1".to_owned(),
        ));
    }
    let mut topics = vec![&options.output_topic];
    topics.extend(options.dlq_topic.iter());
    topics.extend(options.late_topic.iter());
    if topics.contains(&&options.input_topic) {
        return Err(RuntimeError::Options(format!(
            "the input topic {} is also an output topic",
            options.input_topic
        )));
    }
    let producer = OutputProducer::new(&options.producer_config())?;
    let engine = Arc::new(Mutex::new(Engine::new(pipeline, producer, options.clone())));
    let context = RunnerContext {
        engine: engine.clone(),
        generation: AtomicU64::new(0),
        lag: Mutex::new(None),
        input_topic: options.input_topic.clone(),
    };
    let consumer: BaseConsumer<RunnerContext<E, K, C, O>> = options
        .consumer_config()
        .create_with_context(context)
        .map_err(|source| RuntimeError::Client {
            client: "consumer",
            bootstrap_servers: options.bootstrap_servers.clone(),
            source,
        })?;
    consumer
        .subscribe(&[&options.input_topic])
        .map_err(RuntimeError::kafka(format!("subscribing to {}", options.input_topic)))?;
    tracing::info!(
        input = %options.input_topic,
        output = %options.output_topic,
        group = %options.group_id,
        exactly_once = options.exactly_once,
        "traffic-agg runner started"
    );

    let result = poll_loop(&consumer, &options, shutdown, observer);
    let finish = match result {
        Ok(()) => lock(&engine).commit(&consumer),
        Err(e) => Err(e),
    };
    // Leaving the group runs the revoke callback, which commits again (a no-op by now) and drops state.
    consumer.unsubscribe();
    let _ = consumer.poll(Wall::ZERO);
    drop(consumer);
    finish?;
    let engine = lock(&engine);
    if let Some(e) = engine.fatal.as_ref() {
        tracing::warn!("after the final commit: {e}");
    }
    let summary = RunSummary {
        stats: engine.stats(),
        watermark: engine.instance.watermark(),
    };
    tracing::info!(?summary, "traffic-agg runner stopped");
    Ok(summary)
}

/// How many polled batches may wait for the processing thread: enough to keep both threads busy, few
/// enough that a rebalance discards little.
const QUEUED_BATCHES: usize = 2;

/// Records polled together, tagged with the rebalance generation they were polled in.
struct Batch {
    generation: u64,
    records: Vec<InputRecord>,
}

/// Polling and processing run on two threads, so that librdkafka's per-message work and the
/// pipeline's decoding overlap: this thread polls and hands batches over a short queue; the
/// processing thread owns the pipeline through the engine's lock. Rebalance callbacks run here, inside
/// `poll`, and take the same lock, so they happen between two batches; batches polled before a
/// rebalance carry an older generation and are discarded by the processing thread.
fn poll_loop<E, K, C, O>(
    consumer: &BaseConsumer<RunnerContext<E, K, C, O>>,
    options: &RunnerOptions,
    shutdown: &Shutdown,
    observer: &mut (dyn FnMut(&RunStats, Watermark) + Send),
) -> Result<(), RuntimeError>
where
    E: 'static,
    K: Clone + Ord + Hash + Send + 'static,
    C: CombineFn + Clone + Send + 'static,
    O: KafkaOutput + Send + 'static,
    PipelineInstance<E, K, C, O>: Send,
{
    let context = consumer.context();
    let (batches, queue) = std::sync::mpsc::sync_channel::<Batch>(QUEUED_BATCHES);
    std::thread::scope(|scope| {
        let processing = std::thread::Builder::new()
            .name("pipeline".to_owned())
            .spawn_scoped(scope, || process_loop(consumer, options, queue, observer))
            .map_err(|source| RuntimeError::Io {
                path: "spawning the pipeline thread".to_owned(),
                source,
            })?;
        while !shutdown.is_requested() && !processing.is_finished() {
            let mut generation = context.generation.load(Ordering::SeqCst);
            let mut records = Vec::with_capacity(options.poll_batch);
            let mut wait = POLL_WAIT;
            while records.len() < options.poll_batch {
                let polled = consumer.poll(wait);
                // A rebalance ran inside poll: what was polled before it lies after the committed
                // offsets and will be read again by whoever owns its partition now.
                let now_generation = context.generation.load(Ordering::SeqCst);
                if now_generation != generation {
                    records.clear();
                    generation = now_generation;
                }
                match polled {
                    None => break,
                    Some(Ok(message)) => records.push(InputRecord {
                        partition: message.partition(),
                        offset: message.offset(),
                        payload: message.payload().unwrap_or_default().to_vec(),
                    }),
                    Some(Err(e)) => {
                        if let Err(e) = on_poll_error(e) {
                            drop(batches);
                            let _ = processing.join();
                            return Err(e);
                        }
                    }
                }
                wait = Wall::ZERO;
            }
            if records.is_empty() {
                continue;
            }
            if batches.send(Batch { generation, records }).is_err() {
                break; // the processing thread stopped; its result says why
            }
        }
        drop(batches);
        processing
            .join()
            .unwrap_or_else(|_| Err(RuntimeError::Options("the pipeline thread panicked".to_owned())))
    })
}

/// The processing thread: batches from the queue into the pipeline, the watermark moved (also when no
/// batch comes, so idleness advances it), results sent, offsets committed. Returns when the queue
/// closes (after processing what it held) or on the first error.
fn process_loop<E, K, C, O>(
    consumer: &BaseConsumer<RunnerContext<E, K, C, O>>,
    options: &RunnerOptions,
    queue: std::sync::mpsc::Receiver<Batch>,
    observer: &mut (dyn FnMut(&RunStats, Watermark) + Send),
) -> Result<(), RuntimeError>
where
    E: 'static,
    K: Clone + Ord + Hash + Send + 'static,
    C: CombineFn + Clone + Send + 'static,
    O: KafkaOutput + Send + 'static,
    PipelineInstance<E, K, C, O>: Send,
{
    use std::sync::mpsc::RecvTimeoutError;
    let context = consumer.context();
    let mut progress = Progress::new(options.progress_interval);
    loop {
        let batch = match queue.recv_timeout(POLL_WAIT) {
            Ok(batch) => Some(batch),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut engine = lock(&context.engine);
        if let Some(e) = engine.fatal.take() {
            return Err(e);
        }
        let now = Instant::now();
        let wall = wall_clock();
        if let Some(batch) = batch {
            if batch.generation == context.generation.load(Ordering::SeqCst) {
                engine.process(batch.records, now, wall)?;
            }
        }
        engine.advance_watermark(now, wall)?;
        if now.duration_since(engine.last_commit) >= options.commit_interval {
            engine.commit(consumer)?;
        }
        if progress.due(now) {
            let lag = *context.lag.lock().unwrap_or_else(|e| e.into_inner());
            progress.log(&engine, lag, now);
        }
        observer(&engine.stats(), engine.instance.watermark());
    }
}

fn on_poll_error(error: KafkaError) -> Result<(), RuntimeError> {
    let fatal = matches!(
        error.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::Fatal)
    );
    if fatal {
        return Err(RuntimeError::Kafka {
            operation: "consuming".to_owned(),
            source: error,
        });
    }
    // Transport errors, a topic not created yet: librdkafka retries; say so (once per interval: the
    // error callback reported the same failure with its reason) and go on.
    crate::client_log::warn_client_error("consumer", &error);
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp::from_millis(ms)
}

struct InputRecord {
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
}

/// The consumer's context: rebalance callbacks reach the engine through it, and statistics give the
/// lag for progress lines.
struct RunnerContext<E, K, C: CombineFn, O> {
    engine: Arc<Mutex<Engine<E, K, C, O>>>,
    /// Bumped on every revoke and assign.
    generation: AtomicU64,
    lag: Mutex<Option<i64>>,
    input_topic: String,
}

impl<E, K, C, O> ClientContext for RunnerContext<E, K, C, O>
where
    E: 'static,
    K: Clone + Ord + Hash + Send + 'static,
    C: CombineFn + Clone + Send + 'static,
    O: KafkaOutput + Send + 'static,
    PipelineInstance<E, K, C, O>: Send,
{
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::client_log("consumer", level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::client_log::client_error("consumer", &error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        let lag = statistics.topics.get(&self.input_topic).map(|topic| {
            topic
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum()
        });
        *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }
}

impl<E, K, C, O> ConsumerContext for RunnerContext<E, K, C, O>
where
    E: 'static,
    K: Clone + Ord + Hash + Send + 'static,
    C: CombineFn + Clone + Send + 'static,
    O: KafkaOutput + Send + 'static,
    PipelineInstance<E, K, C, O>: Send,
{
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.generation.fetch_add(1, Ordering::SeqCst);
            lock(&self.engine).on_revoke(consumer, partitions);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                lock(&self.engine).on_assign(consumer, partitions);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
        }
    }
}

/// Everything a runner holds between polls.
struct Engine<E, K, C: CombineFn, O> {
    pipeline: Pipeline<E, K, C, O>,
    instance: PipelineInstance<E, K, C, O>,
    /// Counts of instances dropped at revokes.
    earlier: PipelineStats,
    watermarks: PartitionWatermarks,
    ledger: OffsetLedger,
    producer: OutputProducer,
    emitted: Emitted<K, O>,
    options: RunnerOptions,
    stats: RunStats,
    /// An error raised inside a rebalance callback, returned by the loop.
    fatal: Option<RuntimeError>,
    last_commit: Instant,
    metadata_checked: bool,
    windows: Vec<Window>,
    warned_no_dlq: bool,
    warned_no_late: bool,
    /// Messages sent when the last transaction committed (exactly-once mode).
    txn_sent: u64,
}

impl<E, K, C, O> Engine<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    fn new(pipeline: Pipeline<E, K, C, O>, producer: OutputProducer, options: RunnerOptions) -> Self {
        Engine {
            instance: pipeline.start(),
            pipeline,
            earlier: PipelineStats::default(),
            watermarks: PartitionWatermarks::new(options.max_out_of_orderness, options.idle_timeout),
            ledger: OffsetLedger::default(),
            producer,
            emitted: Emitted::default(),
            options,
            stats: RunStats::default(),
            fatal: None,
            last_commit: Instant::now(),
            metadata_checked: false,
            windows: Vec::new(),
            warned_no_dlq: false,
            warned_no_late: false,
            txn_sent: 0,
        }
    }

    fn stats(&self) -> RunStats {
        let now = self.instance.stats();
        let mut stats = self.stats;
        stats.pipeline = self.earlier + now;
        stats
    }

    /// The end of the latest window an element at `t` belongs to: once the watermark reaches it, every
    /// window of the element has fired.
    fn latest_window_end(&mut self, t: Timestamp) -> Timestamp {
        self.windows.clear();
        self.pipeline.strategy().window_fn.assign_windows(t, &mut self.windows);
        self.windows.iter().map(Window::end).max().unwrap_or(t)
    }

    fn process(&mut self, batch: Vec<InputRecord>, now: Instant, wall: Timestamp) -> Result<(), RuntimeError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut by_partition: BTreeMap<i32, Vec<InputRecord>> = BTreeMap::new();
        for record in batch {
            by_partition.entry(record.partition).or_default().push(record);
        }
        // Bundles of the partitions in turn, so that their watermarks move together.
        let mut queues: Vec<(i32, std::vec::IntoIter<InputRecord>)> = by_partition
            .into_iter()
            .filter(|(partition, _)| self.ledger.is_assigned(*partition))
            .map(|(partition, records)| (partition, records.into_iter()))
            .collect();
        while !queues.is_empty() {
            for (partition, records) in &mut queues {
                let bundle: Vec<InputRecord> = records.by_ref().take(self.options.max_bundle).collect();
                if !bundle.is_empty() {
                    self.process_partition(*partition, bundle, now)?;
                    self.advance_watermark(now, wall)?;
                }
            }
            queues.retain(|(_, records)| records.len() > 0);
        }
        Ok(())
    }

    fn process_partition(&mut self, partition: i32, input: Vec<InputRecord>, now: Instant) -> Result<(), RuntimeError> {
        let first = input[0].offset;
        let last = input[input.len() - 1].offset;
        let watermark = self.instance.watermark();
        let mut records = Vec::with_capacity(input.len());
        for record in input {
            let position = Position::Offset {
                partition,
                offset: record.offset,
            };
            match self.ledger.replay_rule(partition, record.offset, watermark) {
                Replay::Process => records.push(Record::new(record.payload, position)),
                Replay::BeforeCheckpoint { floor } => match self.pipeline.decode(&record.payload) {
                    // Dead-lettered before the checkpoint was committed.
                    Err(_) => self.stats.replay_skipped += 1,
                    Ok((_, t)) if self.latest_window_end(t) <= floor.timestamp() => self.stats.replay_skipped += 1,
                    Ok(_) => records.push(Record::new(record.payload, position)),
                },
                Replay::BehindFloor { floor } => match self.pipeline.decode(&record.payload) {
                    Ok((_, t)) if self.latest_window_end(t) <= floor.timestamp() => {
                        self.stats.late_behind_floor += 1;
                        self.emitted.late.push(LateRecord {
                            position,
                            event_time: t,
                            watermark: floor,
                            reason: format!(
                                "late: every window of {t} ended by {floor}, the watermark restored for partition {partition}"
                            ),
                            payload: record.payload,
                        });
                    }
                    _ => records.push(Record::new(record.payload, position)),
                },
            }
        }
        let summary = self.instance.process_bundle(records, &mut self.emitted);
        self.watermarks.observe(partition, summary.max_event_time, now);
        let release_at = summary.max_event_time.map(|t| self.latest_window_end(t));
        self.ledger.processed(partition, first, last, release_at);
        self.send_emitted()
    }

    fn advance_watermark(&mut self, now: Instant, wall: Timestamp) -> Result<(), RuntimeError> {
        let watermark = self.watermarks.compute(now, wall);
        self.instance.advance_watermark(watermark, &mut self.emitted);
        self.send_emitted()
    }

    fn send_emitted(&mut self) -> Result<(), RuntimeError> {
        let topic = &self.options.output_topic;
        for output in self.emitted.outputs.drain(..) {
            self.producer.send_output(topic, &output.value)?;
            self.stats.outputs_sent += 1;
        }
        let source = &self.options.input_topic;
        for dead in self.emitted.dead_letters.drain(..) {
            match &self.options.dlq_topic {
                Some(dlq) => {
                    self.producer.send_dead_letter(dlq, source, &dead)?;
                    self.stats.dead_letters_sent += 1;
                }
                None => {
                    warn_once(
                        &mut self.warned_no_dlq,
                        "records that do not parse are counted and dropped (no --dlq-topic)",
                    );
                    tracing::debug!(position = %dead.position, reason = %dead.reason, "dead letter");
                }
            }
        }
        for late in self.emitted.late.drain(..) {
            match &self.options.late_topic {
                Some(topic) => {
                    self.producer.send_late(topic, source, &late)?;
                    self.stats.late_sent += 1;
                }
                None => {
                    warn_once(
                        &mut self.warned_no_late,
                        "late records are counted and dropped (no --late-topic)",
                    );
                    tracing::debug!(position = %late.position, reason = %late.reason, "late record");
                }
            }
        }
        Ok(())
    }

    /// Waits for every delivery report and commits the ledger's safe offsets (in exactly-once mode:
    /// commits the open transaction with them).
    fn commit<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>) -> Result<(), RuntimeError> {
        self.last_commit = Instant::now();
        let watermark = self.instance.watermark();
        if !self.producer.is_transactional() {
            self.producer.flush()?;
            let points = self.ledger.commit_points(watermark);
            if points.is_empty() {
                return Ok(());
            }
            let offsets = self.offsets(&points)?;
            match consumer.commit(&offsets, CommitMode::Sync) {
                Ok(()) => self.committed(consumer, &points, &offsets),
                // A rebalance in progress, a coordinator moving: the next commit carries the same or
                // later offsets.
                Err(e) => crate::client_log::warn_repeated(
                    "commit",
                    format_args!("committing offsets failed (will retry): {e}"),
                ),
            }
            return Ok(());
        }
        let points = self.ledger.commit_points(watermark);
        let sent_before = self.producer.sent();
        if points.is_empty() && sent_before == self.txn_sent {
            return Ok(());
        }
        let offsets = self.offsets(&points)?;
        let group = consumer.group_metadata().ok_or_else(|| {
            RuntimeError::Options("exactly-once needs a consumer group (group.id) for its offsets".to_owned())
        })?;
        self.producer.commit_transaction(&offsets, &group)?;
        self.txn_sent = sent_before;
        self.committed(consumer, &points, &offsets);
        Ok(())
    }

    fn committed<X: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<X>,
        points: &[CommitPoint],
        offsets: &TopicPartitionList,
    ) {
        self.ledger.committed(points);
        self.stats.commits += 1;
        tracing::debug!(?points, "committed");
        if !self.metadata_checked && !points.is_empty() {
            self.metadata_checked = true;
            match consumer.committed_offsets(offsets.clone(), COMMITTED_TIMEOUT) {
                Ok(back) if back.elements().iter().all(|e| !e.metadata().is_empty()) => {}
                Ok(_) => tracing::warn!(
                    "the broker dropped the checkpoint in the offset-commit metadata: after a restart, \
                     windows that straddle a commit may be emitted again with partial counts"
                ),
                Err(e) => tracing::debug!("reading back committed offsets: {e}"),
            }
        }
    }

    fn offsets(&self, points: &[CommitPoint]) -> Result<TopicPartitionList, RuntimeError> {
        let mut offsets = TopicPartitionList::new();
        for point in points {
            let mut element = offsets.add_partition(&self.options.input_topic, point.partition);
            element
                .set_offset(Offset::Offset(point.offset))
                .map_err(RuntimeError::kafka("building the offsets to commit"))?;
            element.set_metadata(point.checkpoint.encode());
        }
        Ok(offsets)
    }

    fn on_revoke<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>, partitions: &TopicPartitionList) {
        tracing::info!(partitions = %partition_list(partitions), "partitions revoked: committing and dropping state");
        if let Err(e) = self.commit(consumer) {
            // What was not committed is re-read by the next owner; only a fenced producer cannot go on.
            tracing::warn!("commit at revoke failed: {e}");
            if matches!(e, RuntimeError::Fenced { .. } | RuntimeError::Delivery { .. }) {
                self.fatal.get_or_insert(e);
            }
        }
        self.producer.abort_transaction();
        self.earlier = self.earlier + self.instance.stats();
        self.instance = self.pipeline.start();
        self.emitted = Emitted::default();
        self.watermarks.clear();
        self.ledger.clear();
        self.txn_sent = self.producer.sent();
    }

    fn on_assign<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>, partitions: &TopicPartitionList) {
        self.stats.assignments += 1;
        let committed = match consumer.committed_offsets(partitions.clone(), COMMITTED_TIMEOUT) {
            Ok(committed) => committed,
            Err(e) => {
                self.fatal.get_or_insert(RuntimeError::Kafka {
                    operation: format!("reading committed offsets of {}", partition_list(partitions)),
                    source: e,
                });
                return;
            }
        };
        let now = Instant::now();
        let mut described = Vec::new();
        for element in committed.elements() {
            if element.topic() != self.options.input_topic {
                continue;
            }
            let offset = match element.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            };
            let checkpoint = crate::ledger::Checkpoint::decode(element.metadata());
            self.ledger.assign(element.partition(), offset, checkpoint);
            self.watermarks
                .assign(element.partition(), self.ledger.floor(element.partition()), now);
            described.push(match (offset, checkpoint) {
                (Some(o), Some(c)) => format!("{}@{o} ({c})", element.partition()),
                (Some(o), None) => format!("{}@{o}", element.partition()),
                (None, _) => format!("{}@start", element.partition()),
            });
        }
        tracing::info!(partitions = %described.join(", "), "partitions assigned");
        let watermark = self.watermarks.compute(now, wall_clock());
        self.instance.advance_watermark(watermark, &mut self.emitted);
    }
}

fn partition_list(partitions: &TopicPartitionList) -> String {
    let list: Vec<String> = partitions
        .elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect();
    list.join(", ")
}

/// The periodic progress line.
struct Progress {
    interval: Wall,
    last: Instant,
    last_read: u64,
}

impl Progress {
    fn new(interval: Wall) -> Progress {
        Progress {
            interval,
            last: Instant::now(),
            last_read: 0,
        }
    }

    fn due(&self, now: Instant) -> bool {
        !self.interval.is_zero() && now.duration_since(self.last) >= self.interval
    }

    fn log<E, K, C, O>(&mut self, engine: &Engine<E, K, C, O>, lag: Option<i64>, now: Instant)
    where
        K: Clone + Ord + Hash,
        C: CombineFn + Clone,
        O: KafkaOutput,
    {
        let stats = engine.stats();
        let read = stats.pipeline.read + stats.replay_skipped + stats.late_behind_floor;
        let seconds = now.duration_since(self.last).as_secs_f64().max(1e-9);
        let rate = (read - self.last_read) as f64 / seconds;
        let idle = engine.watermarks.idle_count(now);
        let assigned = engine.watermarks.partitions().count();
        tracing::info!(
            "progress: {rate:.0} records/s, watermark {}, {} open windows, lag {}, {assigned} partitions ({idle} idle), \
             {read} read, {} windows out, {} dead letters, {} late, {} commits",
            engine.instance.watermark(),
            engine.instance.open_windows(),
            lag.map_or_else(|| "?".to_owned(), |l| l.to_string()),
            stats.outputs_sent,
            stats.pipeline.dead_lettered,
            stats.pipeline.dropped_late + stats.late_behind_floor,
            stats.commits,
        );
        self.last = now;
        self.last_read = read;
    }
}

/// Logs `message` as a warning the first time only; `warned` remembers that it was.
fn warn_once(warned: &mut bool, message: &str) {
    if !std::mem::replace(warned, true) {
        tracing::warn!("{message}");
    }
}
