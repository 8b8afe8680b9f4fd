//! The rdkafka shell around a [`ConsumerCore`]: it hands the core what happens (records, end offsets,
//! delivery reports, the wall clock, rebalances) and carries out every [`Action`] the core asks for
//! with the consumer and the producer. It decides nothing itself: what is safe to commit, when a
//! partition is idle, what is late, when a transaction commits are the core's (`kafka-core`), and the
//! simulator drives the very same core through a simulated cluster.
//!
//! | core action | rdkafka call | reported back with |
//! | --- | --- | --- |
//! | `Send` | producer `send` (dead letters and late records too big for a message cut short, see [`crate::sink`]) | the delivery report, by message id, through a channel → `on_delivery` (a refused send at once) |
//! | `Commit` | consumer `commit` (synchronous), each offset with `checkpoint.encode()` as metadata | `on_commit_result` |
//! | `BeginTransaction`, `SendOffsetsToTransaction`, `CommitTransaction`, `AbortTransaction` | the transactional producer's calls (offsets with the consumer's group metadata) | `on_transaction_result`, fencing recognised by its error code |
//! | `Pause`, `Resume` | consumer `pause`, `resume` | — |
//! | `FetchEndOffsets` | nothing: the next statistics answer it ([`crate::end_offsets`]) | `on_end_offsets` |
//!
//! Processing time is the wall clock ([`SystemTime`], in milliseconds), read afresh for every event.
//! Every [`Notice`] is logged through [`crate::client_log`]'s rate limiter. A [`kafka_core::CoreError`]
//! (or a failure of the shell's own calls, such as reading the committed offsets) stops the runner
//! with an error.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::mpsc;
use std::time::{Duration as Wall, SystemTime, UNIX_EPOCH};

use kafka_core::{Action, Assignment, CommitPoint, ConsumerCore, InputRecord, KafkaOutput, Notice, TxnError, TxnStep};
use pipeline::combine::CombineFn;
use pipeline::time::Timestamp;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::end_offsets::EndOffsetReport;
use crate::error::RuntimeError;
use crate::recording::{RecordingFile, RecordingSummary};
use crate::sink::{Delivery, MessageProducer};

/// How long reading committed offsets at assignment may take.
const COMMITTED_TIMEOUT: Wall = Wall::from_secs(30);
/// The longest a revocation waits for a delivery report before it looks at the clock again.
const REVOKE_WAIT: Wall = Wall::from_millis(100);

/// The wall clock as processing time.
pub(crate) fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millis(ms)
}

/// One record as polled, before it is grouped by partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolledRecord {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) payload: Vec<u8>,
    /// The message's timestamp in epoch milliseconds, when it has one (kept by `--record`).
    pub(crate) timestamp: Option<i64>,
}

/// A consumer core and what carries out its actions (see the module docs).
pub(crate) struct Shell<E, K, C: CombineFn, O> {
    core: ConsumerCore<E, K, C, O>,
    producer: MessageProducer,
    deliveries: mpsc::Receiver<Delivery>,
    input_topic: String,
    max_bundle: usize,
    /// A failure of one of the shell's own calls; the core's are its `fatal()`.
    failure: Option<RuntimeError>,
    metadata_checked: bool,
    /// `--record`: where what the core recorded is written.
    recording: Option<RecordingFile>,
    stopping: bool,
}

impl<E, K, C, O> Shell<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    /// A shell driving `core` with `producer`, whose delivery reports arrive on `deliveries`.
    pub(crate) fn new(
        core: ConsumerCore<E, K, C, O>,
        producer: MessageProducer,
        deliveries: mpsc::Receiver<Delivery>,
    ) -> Self {
        Shell {
            input_topic: core.config().topics.input.clone(),
            max_bundle: core.config().max_bundle,
            core,
            producer,
            deliveries,
            failure: None,
            metadata_checked: false,
            recording: None,
            stopping: false,
        }
    }

    /// Writes what the core records (it must record from its start) to `recording`.
    pub(crate) fn record_to(&mut self, recording: RecordingFile) {
        self.recording = Some(recording);
    }

    /// The runner is shutting down: the revocation that follows ends the recording as planned.
    pub(crate) fn stopping(&mut self) {
        self.stopping = true;
    }

    /// Puts the recording in place, if there is one (when the runner stops, cleanly or not).
    pub(crate) fn finish_recording(&mut self) -> Result<Option<RecordingSummary>, RuntimeError> {
        self.drain_recorded();
        let Some(recording) = self.recording.take() else {
            return Ok(None);
        };
        let path = recording.path().display().to_string();
        recording
            .commit(self.stopping)
            .map(Some)
            .map_err(|source| RuntimeError::Io { path, source })
    }

    /// Writes what the core recorded since the last call.
    fn drain_recorded(&mut self) {
        let Some(recording) = &mut self.recording else {
            return;
        };
        while let Some(recorded) = self.core.poll_recorded() {
            let end = matches!(recorded, kafka_core::Recorded::End);
            if let Err(source) = recording.write(recorded) {
                self.failure.get_or_insert(RuntimeError::Io {
                    path: recording.path().display().to_string(),
                    source,
                });
                return;
            }
            if end && !self.stopping {
                tracing::warn!(
                    "--record: the recording ends here, at a rebalance that dropped the pipeline's state; \
                     a replay covers one assignment"
                );
            }
        }
    }

    /// The core, for its counts and watermark.
    pub(crate) fn core(&self) -> &ConsumerCore<E, K, C, O> {
        &self.core
    }

    /// Dead letters and late records sent cut short.
    pub(crate) fn truncated(&self) -> u64 {
        self.producer.truncated()
    }

    /// Why the runner must stop, if it must: the core's error, or a failed call of the shell's.
    pub(crate) fn take_failure(&mut self) -> Option<RuntimeError> {
        if let Some(e) = self.failure.take() {
            return Some(e);
        }
        self.core
            .fatal()
            .cloned()
            .map(|e| RuntimeError::from_core(e, self.producer.transactional_id()))
    }

    /// The records of one poll, in bundles of at most `max_bundle` consecutive records of one partition,
    /// the partitions in turn so that their watermarks move together.
    pub(crate) fn on_records<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>, records: Vec<PolledRecord>) {
        let mut by_partition: BTreeMap<i32, Vec<InputRecord>> = BTreeMap::new();
        if let Some(recording) = &mut self.recording {
            for record in &records {
                recording.timestamp(record.partition, record.offset, record.timestamp);
            }
        }
        for record in records {
            by_partition.entry(record.partition).or_default().push(InputRecord {
                offset: record.offset,
                payload: record.payload,
            });
        }
        let mut queues: Vec<(i32, std::vec::IntoIter<InputRecord>)> = by_partition
            .into_iter()
            .map(|(p, records)| (p, records.into_iter()))
            .collect();
        while !queues.is_empty() {
            for (partition, records) in &mut queues {
                let bundle: Vec<InputRecord> = records.by_ref().take(self.max_bundle).collect();
                if !bundle.is_empty() {
                    self.core.on_records(wall_clock(), *partition, bundle);
                    self.execute(consumer);
                }
            }
            queues.retain(|(_, records)| records.len() > 0);
        }
        if let Some(recording) = &mut self.recording {
            recording.clear_timestamps();
        }
    }

    /// End offsets read from the statistics, each at the time its broker was last heard from.
    pub(crate) fn on_end_offsets<X: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<X>,
        reports: &[EndOffsetReport],
    ) {
        for report in reports {
            self.core.on_end_offsets(report.at, report.partition, report.offsets);
        }
        self.execute(consumer);
    }

    /// The delivery reports that came in, then the passing of time.
    pub(crate) fn tick<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>) {
        self.feed_deliveries();
        self.core.on_tick(wall_clock());
        self.execute(consumer);
        // A killed runner leaves what was flushed in the recording's temporary file.
        if let Some(recording) = &mut self.recording {
            if let Err(source) = recording.flush() {
                let path = recording.path().display().to_string();
                self.failure.get_or_insert(RuntimeError::Io { path, source });
            }
        }
    }

    /// Partitions were assigned: their committed offsets and checkpoints go to the core.
    pub(crate) fn on_assign<X: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<X>,
        partitions: &TopicPartitionList,
    ) {
        let committed = match consumer.committed_offsets(partitions.clone(), COMMITTED_TIMEOUT) {
            Ok(committed) => committed,
            Err(source) => {
                self.failure.get_or_insert(RuntimeError::Kafka {
                    operation: format!("reading committed offsets of {}", partition_list(partitions)),
                    source,
                });
                return;
            }
        };
        let assignments: Vec<Assignment> = committed
            .elements()
            .iter()
            .filter(|e| e.topic() == self.input_topic)
            .map(|e| Assignment {
                partition: e.partition(),
                committed: match e.offset() {
                    Offset::Offset(n) => Some(n),
                    _ => None,
                },
                metadata: Some(e.metadata().to_owned()).filter(|m| !m.is_empty()),
            })
            .collect();
        self.core.on_assign(wall_clock(), &assignments);
        self.execute(consumer);
    }

    /// Every partition is revoked (a rebalance, or shutdown): the core commits what is safe and drops
    /// its state. Returns once it is done, after the revoke timeout at the latest; meanwhile delivery
    /// reports are fed to it as they come.
    pub(crate) fn on_revoke<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>) {
        self.core.on_revoke(wall_clock());
        loop {
            self.execute(consumer);
            if !self.core.is_revoking() || self.core.fatal().is_some() {
                break;
            }
            let until_timeout = self
                .core
                .poll_timeout()
                .map(|t| t.millis().saturating_sub(wall_clock().millis()))
                .map_or(REVOKE_WAIT, |ms| Wall::from_millis(u64::try_from(ms).unwrap_or(0)));
            match self
                .deliveries
                .recv_timeout(until_timeout.clamp(Wall::from_millis(1), REVOKE_WAIT))
            {
                Ok(delivery) => self.core.on_delivery(wall_clock(), delivery.id, delivery.result),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // The producer (which holds the sender) lives as long as the shell: cannot happen.
                Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(REVOKE_WAIT),
            }
            self.feed_deliveries();
            self.core.on_tick(wall_clock());
        }
        self.execute(consumer);
    }

    fn feed_deliveries(&mut self) {
        while let Ok(delivery) = self.deliveries.try_recv() {
            self.core.on_delivery(wall_clock(), delivery.id, delivery.result);
        }
    }

    /// Carries out every action the core has queued (results may queue more), then logs its notices.
    /// A stopped core's remaining actions are dropped: nothing more is sent or committed.
    fn execute<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>) {
        while self.core.fatal().is_none() {
            let Some(action) = self.core.poll_action() else {
                break;
            };
            self.carry_out(consumer, action);
        }
        self.drain_recorded();
        self.log_notices();
    }

    fn carry_out<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>, action: Action) {
        match action {
            Action::Send(message) => {
                if let Err(e) = self.producer.send(&message) {
                    let reason = format!("{}: {e}", message.topic);
                    self.core.on_delivery(wall_clock(), message.id, Err(reason));
                }
            }
            Action::Commit { id, offsets } => {
                let result = self.offset_list(&offsets).and_then(|list| {
                    consumer.commit(&list, CommitMode::Sync)?;
                    Ok(list)
                });
                if let Ok(list) = &result {
                    self.check_metadata(consumer, list);
                }
                let result = result.map(drop).map_err(|e| e.to_string());
                self.core.on_commit_result(wall_clock(), id, result);
            }
            Action::BeginTransaction => {
                let result = self.producer.begin_transaction();
                self.core.on_transaction_result(wall_clock(), TxnStep::Begin, result);
            }
            Action::SendOffsetsToTransaction { offsets } => {
                let result = match (self.offset_list(&offsets), consumer.group_metadata()) {
                    (Ok(list), Some(group)) => self.producer.send_offsets_to_transaction(&list, &group),
                    (Err(e), _) => Err(TxnError {
                        fenced: false,
                        message: format!("building the offsets: {e}"),
                    }),
                    (_, None) => Err(TxnError {
                        fenced: false,
                        message: "the consumer has no group metadata (group.id)".to_owned(),
                    }),
                };
                self.core
                    .on_transaction_result(wall_clock(), TxnStep::SendOffsets, result);
            }
            Action::CommitTransaction => {
                let result = self.producer.commit_transaction();
                self.core.on_transaction_result(wall_clock(), TxnStep::Commit, result);
            }
            Action::AbortTransaction => {
                let result = self.producer.abort_transaction();
                self.core.on_transaction_result(wall_clock(), TxnStep::Abort, result);
            }
            Action::Pause(partitions) => {
                if let Err(e) = self.partition_list(&partitions).and_then(|list| consumer.pause(&list)) {
                    crate::client_log::warn_repeated("pause", format_args!("pausing the fetch failed: {e}"));
                }
            }
            Action::Resume(partitions) => {
                if let Err(e) = self.partition_list(&partitions).and_then(|list| consumer.resume(&list)) {
                    crate::client_log::warn_repeated("resume", format_args!("resuming the fetch failed: {e}"));
                }
            }
            // librdkafka's statistics report end offsets on their own, every quarter of the idle
            // timeout (crate::end_offsets): the next ones answer.
            Action::FetchEndOffsets(_) => {}
        }
    }

    /// The offsets of `points` on the input topic, each with its checkpoint as metadata.
    fn offset_list(&self, points: &[CommitPoint]) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for point in points {
            let mut element = list.add_partition(&self.input_topic, point.partition);
            element.set_offset(Offset::Offset(point.offset))?;
            element.set_metadata(point.checkpoint.encode());
        }
        Ok(list)
    }

    fn partition_list(&self, partitions: &[i32]) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            list.add_partition(&self.input_topic, partition);
        }
        Ok(list)
    }

    /// After the first commit, reads the offsets back once: a broker that drops the commit metadata
    /// loses every checkpoint, which is worth a loud warning.
    fn check_metadata<X: ConsumerContext>(&mut self, consumer: &BaseConsumer<X>, committed: &TopicPartitionList) {
        if std::mem::replace(&mut self.metadata_checked, true) {
            return;
        }
        match consumer.committed_offsets(committed.clone(), COMMITTED_TIMEOUT) {
            Ok(back) if back.elements().iter().all(|e| !e.metadata().is_empty()) => {}
            Ok(_) => tracing::warn!(
                "the broker dropped the checkpoint in the offset-commit metadata: after a restart, windows \
                 that straddle a commit may be emitted again with partial counts"
            ),
            Err(e) => tracing::debug!("reading back committed offsets: {e}"),
        }
    }

    fn log_notices(&mut self) {
        use crate::client_log::{info_repeated, warn_repeated};
        while let Some(notice) = self.core.poll_notice() {
            match &notice {
                // Distinct assignments are all logged (tests and operators follow them); only an
                // identical one repeated within the interval is held back.
                Notice::Assigned(_) | Notice::Revoked { .. } => info_repeated(&notice.to_string(), &notice),
                Notice::CommitFailed(_) => warn_repeated("commit", &notice),
                Notice::NoDeadLetterTopic => warn_repeated("no dead-letter topic", &notice),
                Notice::NoLateTopic => warn_repeated("no late topic", &notice),
                Notice::DeliveryFailedAfterRevoke(_) => warn_repeated("delivery after revoke", &notice),
            }
        }
    }
}

/// `topic/partition, ...` for log lines and errors.
pub(crate) fn partition_list(partitions: &TopicPartitionList) -> String {
    let list: Vec<String> = partitions
        .elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect();
    list.join(", ")
}
