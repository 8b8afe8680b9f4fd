//! Re-keying an input topic by user id through an internal topic, for input that is not keyed by the
//! grouping key.
//!
//! The aggregation counts per user id within each partition, so it is correct only when all visits of
//! a user are on one partition. [`crate::produce`] (and so `datagen --to kafka`) keys messages by id,
//! which guarantees that. Input written by other producers (round-robin, keyed by session, ...) does
//! not; `traffic-agg --repartition` then runs this stage in the same process: a consumer group
//! `<group-id>-repartition` reads the input topic and writes every record unchanged, keyed by its `id`,
//! to `<group-id>-repartition` (created with the input's partition count), which the aggregation reads
//! instead. Records without a string `id` (malformed ones) are written without a key and dead-lettered
//! by the aggregation as usual. A record too big for one message is forwarded cut short (see
//! [`crate::sink`]) rather than stopping the stage; the aggregation dead-letters the truncated JSON.
//!
//! At-least-once, a crash of this stage re-sends the records after its last commit, and the aggregation
//! counts them twice. With `--exactly-once` the stage is transactional too (reads `read_committed`,
//! writes and commits input offsets in one transaction), and the aggregation reads only committed
//! records, so the counts stay exact.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration as Wall, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::error::RuntimeError;
use crate::options::RunnerOptions;
use crate::produce::{create_topic_if_missing, topic_partitions, visit_id};
use crate::shutdown::Shutdown;
use crate::sink::OutputProducer;

/// The settings of the repartition stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepartitionOptions {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The topic read.
    pub input_topic: String,
    /// The internal topic written, keyed by id.
    pub output_topic: String,
    /// The stage's consumer group.
    pub group_id: String,
    /// Transactional writes and reads.
    pub exactly_once: bool,
    /// The transactional id in exactly-once mode.
    pub transactional_id: String,
    /// How often input offsets are committed.
    pub commit_interval: Wall,
    /// The consumer's session timeout.
    pub session_timeout: Wall,
    /// Extra consumer settings.
    pub consumer_properties: Vec<(String, String)>,
    /// Extra producer settings.
    pub producer_properties: Vec<(String, String)>,
}

impl RepartitionOptions {
    /// The stage in front of a runner: reads the runner's input topic, writes `<group>-repartition`,
    /// with the runner's broker, commit, session and transaction settings.
    pub fn for_runner(runner: &RunnerOptions) -> RepartitionOptions {
        RepartitionOptions {
            bootstrap_servers: runner.bootstrap_servers.clone(),
            input_topic: runner.input_topic.clone(),
            output_topic: format!("{}-repartition", runner.group_id),
            group_id: format!("{}-repartition", runner.group_id),
            exactly_once: runner.exactly_once,
            transactional_id: format!("{}-repartition", runner.effective_transactional_id()),
            commit_interval: runner.commit_interval,
            session_timeout: runner.session_timeout,
            consumer_properties: runner.consumer_properties.clone(),
            producer_properties: runner.producer_properties.clone(),
        }
    }

    fn consumer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.consumer_properties {
            config.set(key, value);
        }
        let session_ms = self.session_timeout.as_millis().max(1);
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", &self.group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", session_ms.to_string())
            .set("heartbeat.interval.ms", (session_ms / 6).clamp(100, 3000).to_string())
            .set(
                "isolation.level",
                if self.exactly_once {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            );
        config
    }

    fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("linger.ms", "5");
        for (key, value) in &self.producer_properties {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("acks", "all")
            .set("enable.idempotence", "true");
        if self.exactly_once {
            config.set("transactional.id", &self.transactional_id);
        }
        config
    }
}

/// Creates the internal topic with the input topic's partition count, unless it exists.
pub fn ensure_topic(options: &RepartitionOptions) -> Result<(), RuntimeError> {
    let partitions = topic_partitions(&options.bootstrap_servers, &options.input_topic)?;
    create_topic_if_missing(&options.bootstrap_servers, &options.output_topic, partitions, 1)?;
    Ok(())
}

/// A repartition stage running on its own thread.
#[derive(Debug)]
pub struct RepartitionStage {
    thread: JoinHandle<Result<u64, RuntimeError>>,
}

impl RepartitionStage {
    /// Waits for the stage to stop (raise the [`Shutdown`] it was given first); the number of records
    /// it forwarded, or its error.
    pub fn join(self) -> Result<u64, RuntimeError> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(RuntimeError::Options("the repartition thread panicked".to_owned())))
    }
}

/// Starts [`run`] on a thread named `repartition`. When the stage fails, it raises `shutdown` so the
/// aggregation stops too.
pub fn spawn(options: RepartitionOptions, shutdown: Shutdown) -> std::io::Result<RepartitionStage> {
    let thread = std::thread::Builder::new()
        .name("repartition".to_owned())
        .spawn(move || {
            let result = run(&options, &shutdown);
            if let Err(e) = &result {
                tracing::error!("repartition stage stopped: {e}");
                shutdown.request();
            }
            result
        })?;
    Ok(RepartitionStage { thread })
}

struct Stage {
    producer: OutputProducer,
    /// Next offset to read per input partition, for what was forwarded since the last commit.
    positions: BTreeMap<i32, i64>,
    options: RepartitionOptions,
    forwarded: u64,
    fatal: Option<RuntimeError>,
}

impl Stage {
    fn commit<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>) -> Result<(), RuntimeError> {
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &self.positions {
            offsets
                .add_partition_offset(&self.options.input_topic, partition, Offset::Offset(next))
                .map_err(RuntimeError::kafka("building the offsets to commit"))?;
        }
        if self.producer.is_transactional() {
            let group = consumer
                .group_metadata()
                .ok_or_else(|| RuntimeError::Options("the repartition stage has no group metadata".to_owned()))?;
            self.producer.commit_transaction(&offsets, &group)?;
        } else {
            self.producer.flush()?;
            if offsets.count() > 0 {
                consumer
                    .commit(&offsets, CommitMode::Sync)
                    .map_err(RuntimeError::kafka("committing repartition offsets"))?;
            }
        }
        self.positions.clear();
        Ok(())
    }
}

struct StageContext {
    stage: Arc<Mutex<Stage>>,
}

impl ClientContext for StageContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::client_log("repartition consumer", level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::client_log::client_error("repartition consumer", &error, reason);
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            let mut stage = lock(&self.stage);
            if let Err(e) = stage.commit(consumer) {
                tracing::warn!("repartition commit at revoke failed: {e}");
                stage.producer.abort_transaction();
                stage.fatal.get_or_insert(e);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forwards records from the input topic to the internal topic, keyed by id, until `shutdown` is
/// raised; returns how many it forwarded.
pub fn run(options: &RepartitionOptions, shutdown: &Shutdown) -> Result<u64, RuntimeError> {
    let producer = OutputProducer::new(&options.producer_config())?;
    let stage = Arc::new(Mutex::new(Stage {
        producer,
        positions: BTreeMap::new(),
        options: options.clone(),
        forwarded: 0,
        fatal: None,
    }));
    let consumer: BaseConsumer<StageContext> = options
        .consumer_config()
        .create_with_context(StageContext { stage: stage.clone() })
        .map_err(|source| RuntimeError::Client {
            client: "repartition consumer",
            bootstrap_servers: options.bootstrap_servers.clone(),
            source,
        })?;
    consumer
        .subscribe(&[&options.input_topic])
        .map_err(RuntimeError::kafka(format!("subscribing to {}", options.input_topic)))?;
    tracing::info!(input = %options.input_topic, output = %options.output_topic, "repartition stage started");
    let mut last_commit = Instant::now();
    let result = loop {
        if shutdown.is_requested() {
            break lock(&stage).commit(&consumer);
        }
        let polled = consumer.poll(Wall::from_millis(100));
        let mut stage = lock(&stage);
        if let Some(e) = stage.fatal.take() {
            break Err(e);
        }
        match polled {
            Some(Ok(message)) => {
                let payload = message.payload().unwrap_or_default();
                let key = visit_id(payload);
                let topic = stage.options.output_topic.clone();
                let position = pipeline::io::Position::Offset {
                    partition: message.partition(),
                    offset: message.offset(),
                };
                // An oversized record is forwarded cut short rather than stopping the stage; the
                // aggregation then dead-letters it as the truncated JSON it is.
                if let Err(e) = stage.producer.send_record(
                    &topic,
                    key.as_deref().map(str::as_bytes),
                    payload,
                    rdkafka::message::OwnedHeaders::new(),
                    position,
                ) {
                    break Err(e);
                }
                stage.positions.insert(message.partition(), message.offset() + 1);
                stage.forwarded += 1;
            }
            Some(Err(e)) => crate::client_log::warn_client_error("repartition consumer", &e),
            None => {}
        }
        if last_commit.elapsed() >= options.commit_interval {
            last_commit = Instant::now();
            if let Err(e) = stage.commit(&consumer) {
                break Err(e);
            }
        }
    };
    let forwarded = lock(&stage).forwarded;
    consumer.unsubscribe();
    drop(consumer);
    result.map(|()| forwarded)
}
