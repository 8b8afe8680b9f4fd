//! The Kafka runner: a consumer-group member that drives a [`kafka_core::ConsumerCore`] from a topic
//! with rdkafka. The core owns the protocol (offsets and checkpoints, replays, per-partition watermarks
//! and idleness, dead-letter and late routing, transactions); the runner only moves events in and
//! carries actions out ([`crate::shell`]), on two threads:
//!
//! 1. the polling thread polls up to `poll_batch` records (waiting at most 100 ms for the first) and
//!    queues them as one batch (at most two batches wait), together with the end offsets of the
//!    statistics librdkafka emitted meanwhile ([`crate::end_offsets`]); rebalance callbacks and
//!    statistics run on it;
//! 2. the processing thread takes each batch and hands its records to the core in bundles of at most
//!    `max_bundle` consecutive records of one partition, the partitions in turn, then the end offsets;
//!    then the delivery reports that came in and the wall clock (`on_tick`, at least every 100 ms).
//!    After every event it carries out the core's actions: sends, commits, transaction steps, pauses.
//!
//! Splitting polling from processing lets librdkafka's per-message work overlap with decoding; the
//! core itself is only ever touched under one lock, by one thread at a time.
//!
//! # Rebalances
//!
//! The consumer uses an eager assignment strategy, so a rebalance revokes every partition at once. On
//! revoke (inside the rebalance callback, before the partitions move) the runner tells the core and
//! drives it until it has committed what is safe and dropped its state (waiting for delivery reports
//! as they come, at most the core's revoke timeout): open windows are not flushed, because their
//! records are at or after the committed offsets and whoever owns the partitions next rebuilds them.
//! On assign it reads the committed offsets and their checkpoints and hands them to the core. Records
//! polled before a rebalance but not yet processed are discarded (they lie after the committed
//! offsets). Shutdown is a revoke too, before the consumer leaves the group.
//!
//! # Scale-out and keys
//!
//! Each process aggregates only what its partitions hold, so a per-key count is right only when every
//! record of a key is on one partition. `datagen --to kafka` and [`crate::produce`] key messages by user
//! id, which guarantees it; input keyed otherwise must go through [`crate::repartition`] first.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration as Wall, Instant};

use kafka_core::{ConsumerCore, CoreStats, KafkaOutput};
use pipeline::combine::CombineFn;
use pipeline::time::Watermark;
use pipeline::{Pipeline, PipelineInstance};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::Message;

use crate::end_offsets::{EndOffsetReader, EndOffsetReport};
use crate::error::RuntimeError;
use crate::options::RunnerOptions;
use crate::recording::RecordingFile;
use crate::shell::{partition_list, wall_clock, PolledRecord, Shell};
use crate::shutdown::Shutdown;
use crate::sink::MessageProducer;

/// How long the first poll of a batch waits, and the processing thread for a batch: an idle runner
/// wakes this often to tell the core the time.
const POLL_WAIT: Wall = Wall::from_millis(100);

/// The counts of a run: the core's ([`CoreStats`]), over every assignment.
pub type RunStats = CoreStats;

/// What [`run`] reports when it stops cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Counts of the run.
    pub stats: RunStats,
    /// The watermark when it stopped.
    pub watermark: Watermark,
    /// Dead letters and late records sent cut short because the whole record did not fit a message.
    pub truncated: u64,
    /// With [`RunnerOptions::record`]: the scenario lines the recording holds.
    pub recorded_lines: Option<u64>,
}

/// Runs `pipeline` as a member of `options.group_id` until `shutdown` is raised, then commits what is
/// safe (a revoke of every partition) and leaves the group. Errors that make the results unsafe to
/// continue (a delivery failure, a fenced or failed transaction, a fatal client error) stop it without
/// committing past them; a restart resumes from the committed offsets.
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

/// [`run`], calling `observer` with the counts so far and the watermark after every batch and tick
/// (benchmarks and embedding programs watch progress this way; it must be quick).
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
    if options.poll_batch == 0 {
        return Err(RuntimeError::Options("poll_batch must be at least 1".to_owned()));
    }
    let mut core = ConsumerCore::new(pipeline, options.core_config()).map_err(RuntimeError::Options)?;
    let recording = match &options.record {
        Some(path) => {
            core.record();
            Some(RecordingFile::create(path).map_err(|source| RuntimeError::Io {
                path: path.display().to_string(),
                source,
            })?)
        }
        None => None,
    };
    let (producer, deliveries) = MessageProducer::new(&options.producer_config())?;
    let mut shell = Shell::new(core, producer, deliveries);
    if let Some(recording) = recording {
        shell.record_to(recording);
    }
    let shell = Arc::new(Mutex::new(shell));
    let context = RunnerContext {
        shell: shell.clone(),
        generation: AtomicU64::new(0),
        lag: Mutex::new(None),
        input_topic: options.input_topic.clone(),
        end_offsets: Mutex::new(EndOffsetReader::new(
            &options.input_topic,
            options.exactly_once,
            options.idle_timeout,
            wall_clock(),
        )),
        reports: Mutex::new(Vec::new()),
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
    let finish = result.and_then(|()| {
        // Shutdown: commit what is safe and drop the state, as a rebalance would.
        let mut shell = lock(&shell);
        shell.stopping();
        shell.on_revoke(&consumer);
        shell.take_failure().map_or(Ok(()), Err)
    });
    // The recording goes in place however the run ended: a failed run's recording is exact up to
    // where its core stopped, which is what a replay needs to look into the failure.
    let recorded = lock(&shell).finish_recording();
    // Leaving the group runs the revoke callback once more: nothing is assigned by now.
    consumer.unsubscribe();
    let _ = consumer.poll(Wall::ZERO);
    drop(consumer);
    finish?;
    let recorded = recorded?;
    if let Some(r) = &recorded {
        tracing::info!(path = %r.path.display(), lines = r.lines, cut_at_rebalance = r.cut_at_rebalance, "recording written");
    }
    let shell = lock(&shell);
    let summary = RunSummary {
        stats: shell.core().stats(),
        watermark: shell.core().watermark(),
        truncated: shell.truncated(),
        recorded_lines: recorded.map(|r| r.lines),
    };
    tracing::info!(?summary, "traffic-agg runner stopped");
    Ok(summary)
}

/// How many polled batches may wait for the processing thread: enough to keep both threads busy, few
/// enough that a rebalance discards little.
const QUEUED_BATCHES: usize = 2;

/// Records polled together and the end offsets reported while they were polled, tagged with the
/// rebalance generation they belong to.
struct Batch {
    generation: u64,
    records: Vec<PolledRecord>,
    end_offsets: Vec<EndOffsetReport>,
}

/// Polling and processing run on two threads, so that librdkafka's per-message work and the
/// pipeline's decoding overlap: this thread polls and hands batches over a short queue; the
/// processing thread owns the core through the shell's lock. Rebalance callbacks run here, inside
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
                    Some(Ok(message)) => records.push(PolledRecord {
                        partition: message.partition(),
                        offset: message.offset(),
                        payload: message.payload().unwrap_or_default().to_vec(),
                        timestamp: message.timestamp().to_millis(),
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
            // The statistics event was queued behind the records fetched before it was taken: they
            // are in this batch or an earlier one, so the core sees them before the end offsets.
            let end_offsets = std::mem::take(&mut *lock(&context.reports));
            if records.is_empty() && end_offsets.is_empty() {
                continue;
            }
            let batch = Batch {
                generation,
                records,
                end_offsets,
            };
            if batches.send(batch).is_err() {
                break; // the processing thread stopped; its result says why
            }
        }
        drop(batches);
        processing
            .join()
            .unwrap_or_else(|_| Err(RuntimeError::Options("the pipeline thread panicked".to_owned())))
    })
}

/// The processing thread: batches from the queue into the core, delivery reports and the wall clock
/// at least every 100 ms, the core's actions carried out. Returns when the queue closes (after
/// processing what it held) or when the core or the shell fails.
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
        let mut shell = lock(&context.shell);
        if let Some(batch) = batch {
            if batch.generation == context.generation.load(Ordering::SeqCst) {
                shell.on_records(consumer, batch.records);
                shell.on_end_offsets(consumer, &batch.end_offsets);
            }
        }
        shell.tick(consumer);
        if let Some(e) = shell.take_failure() {
            return Err(e);
        }
        let now = Instant::now();
        if progress.due(now) {
            let lag = *lock(&context.lag);
            progress.log(shell.core(), lag, now);
        }
        observer(&shell.core().stats(), shell.core().watermark());
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

/// The consumer's context: rebalance callbacks reach the shell through it, and statistics give the
/// end offsets (and the lag for progress lines).
struct RunnerContext<E, K, C: CombineFn, O> {
    shell: Arc<Mutex<Shell<E, K, C, O>>>,
    /// Bumped on every revoke and assign.
    generation: AtomicU64,
    lag: Mutex<Option<i64>>,
    input_topic: String,
    end_offsets: Mutex<EndOffsetReader>,
    /// The end offsets of the latest statistics, until the polling thread puts them in a batch.
    reports: Mutex<Vec<EndOffsetReport>>,
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
        *lock(&self.lag) = lag;
        // Newer statistics supersede what the polling thread has not taken yet.
        let reports = lock(&self.end_offsets).reports(&statistics);
        *lock(&self.reports) = reports;
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
            lock(&self.reports).clear();
            tracing::debug!(partitions = %partition_list(partitions), "revoking");
            lock(&self.shell).on_revoke(consumer);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                lock(&self.reports).clear();
                lock(&self.shell).on_assign(consumer, partitions);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
        }
    }
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

    fn log<E, K, C, O>(&mut self, core: &ConsumerCore<E, K, C, O>, lag: Option<i64>, now: Instant)
    where
        K: Clone + Ord + Hash,
        C: CombineFn + Clone,
        O: KafkaOutput,
    {
        let stats = core.stats();
        let read = stats.records_read();
        let seconds = now.duration_since(self.last).as_secs_f64().max(1e-9);
        let rate = (read - self.last_read) as f64 / seconds;
        let idle = core.idle_partitions(wall_clock());
        let assigned = core.assigned().len();
        tracing::info!(
            "progress: {rate:.0} records/s, watermark {}, {} open windows, lag {}, {assigned} partitions ({idle} idle), \
             {read} read, {} windows out, {} dead letters, {} late, {} commits",
            core.watermark(),
            core.open_windows(),
            lag.map_or_else(|| "?".to_owned(), |l| l.to_string()),
            stats.outputs_sent,
            stats.pipeline.dead_lettered,
            stats.late(),
            stats.commits,
        );
        self.last = now;
        self.last_read = read;
    }
}
