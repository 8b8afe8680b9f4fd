//! [`ConsumerCore`]: the Kafka consumer's protocol as a pure state machine.
//!
//! Like quinn-proto's `Connection`, the core never touches a socket, a clock or a thread. Its driver (the
//! rdkafka shell in `kafka-runtime`, or the simulated cluster in `simulator`) hands it events — partitions
//! assigned with their committed offsets and checkpoints, partitions revoked, records of a partition,
//! delivery reports, commit and transaction results, end offsets the broker answered, and the passing of
//! processing time — and pulls [`Action`]s out: messages to send, offsets to commit (with their checkpoint
//! metadata), transaction steps, fetches to pause or resume, end offsets to ask for. `poll_timeout` says
//! when time next matters. Every input record is accounted for in [`CoreStats`].
//!
//! # What it guarantees (and how)
//!
//! * **Nothing committed before it is written.** At least once, offsets are committed only when every
//!   message sent before the commit was decided has been acknowledged ([`crate::ledger`] says which
//!   offsets are safe: those whose windows have fired). Exactly once, outputs and offsets go in one
//!   transaction. A delivery failure or a failed transaction stops the core ([`CoreError`]); the driver
//!   restarts, and the restart resumes from the committed offsets.
//! * **A replay re-emits nothing new.** A committed offset carries a checkpoint; after a restart or a
//!   rebalance, records the previous owner had already emitted are skipped (see [`crate::ledger`]).
//! * **Silence is not idleness.** The watermark advances without records only for partitions the broker
//!   says are caught up ([`crate::watermark`]).
//! * **Revocation commits first.** Partitions are revoked eagerly (all at once); the core commits what is
//!   safe, then drops all state: open windows are rebuilt by the next owner from the committed offsets.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::hash::Hash;

use pipeline::combine::CombineFn;
use pipeline::io::{LateRecord, Position, Record};
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::window::Window;
use pipeline::{Driver, DriverOptions, Pipeline, PipelineStats};

use crate::config::CoreConfig;
use crate::ledger::{Checkpoint, CommitPoint, OffsetLedger, OpenState, Replay};
use crate::message::{dead_letter_headers, late_headers, KafkaOutput, Message, MessageKind};
use crate::recording::{Recorded, Recorder};
use crate::watermark::{EndOffsets, PartitionWatermarks};

/// One record as fetched: its offset in its partition and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// The offset.
    pub offset: i64,
    /// The message value, untouched.
    pub payload: Vec<u8>,
}

/// A partition handed to this consumer, with what its group committed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The partition.
    pub partition: i32,
    /// The committed offset, if any (`None`: the consumer starts from the earliest offset).
    pub committed: Option<i64>,
    /// The metadata committed with it (the checkpoint, for offsets this crate committed).
    pub metadata: Option<String>,
}

/// A step of a Kafka transaction, to match a result with what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStep {
    /// `begin_transaction`.
    Begin,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

impl fmt::Display for TxnStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxnStep::Begin => "beginning a transaction",
            TxnStep::SendOffsets => "adding offsets to the transaction",
            TxnStep::Commit => "committing the transaction",
            TxnStep::Abort => "aborting the transaction",
        })
    }
}

/// A failed transaction step, as the client reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnError {
    /// The producer was fenced by a newer instance with the same transactional id.
    pub fenced: bool,
    /// What the client said.
    pub message: String,
}

/// What the core asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Produce this message and report its delivery with [`ConsumerCore::on_delivery`].
    Send(Message),
    /// Commit these offsets, with their checkpoints as metadata, for the consumer group; report with
    /// [`ConsumerCore::on_commit_result`].
    Commit {
        /// Matches the result.
        id: u64,
        /// Per partition: the offset and the checkpoint to store with it.
        offsets: Vec<CommitPoint>,
    },
    /// Begin a transaction (exactly once); report with [`ConsumerCore::on_transaction_result`].
    BeginTransaction,
    /// Add these offsets (and checkpoints) to the open transaction, for the consumer group.
    SendOffsetsToTransaction {
        /// Per partition: the offset and the checkpoint.
        offsets: Vec<CommitPoint>,
    },
    /// Commit the open transaction.
    CommitTransaction,
    /// Abort the open transaction.
    AbortTransaction,
    /// Stop fetching these partitions (too many messages await acknowledgement).
    Pause(Vec<i32>),
    /// Fetch these partitions again.
    Resume(Vec<i32>),
    /// Ask the broker where these partitions end; report with [`ConsumerCore::on_end_offsets`].
    FetchEndOffsets(Vec<i32>),
}

/// Something worth telling the operator; the driver logs it (the core does no I/O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Partitions were assigned: `partition@offset (checkpoint)` each.
    Assigned(String),
    /// Every partition was revoked and the state dropped.
    Revoked {
        /// Whether the final commit happened (false: it timed out or failed; the next owner re-reads).
        committed: bool,
    },
    /// A commit failed; the next one carries the same or later offsets.
    CommitFailed(String),
    /// Records that do not decode are counted and dropped: there is no dead-letter topic.
    NoDeadLetterTopic,
    /// Late records are counted and dropped: there is no late topic.
    NoLateTopic,
    /// A message sent before a revocation failed after it; nothing was committed past it.
    DeliveryFailedAfterRevoke(String),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Assigned(what) => write!(f, "partitions assigned: {what}"),
            Notice::Revoked { committed: true } => f.write_str("partitions revoked: committed and dropped state"),
            Notice::Revoked { committed: false } => {
                f.write_str("partitions revoked without a final commit: the next owner re-reads from the last one")
            }
            Notice::CommitFailed(e) => write!(f, "committing offsets failed (will retry): {e}"),
            Notice::NoDeadLetterTopic => {
                f.write_str("records that do not parse are counted and dropped (no dead-letter topic)")
            }
            Notice::NoLateTopic => f.write_str("late records are counted and dropped (no late topic)"),
            Notice::DeliveryFailedAfterRevoke(e) => write!(f, "a message sent before the revocation failed: {e}"),
        }
    }
}

/// Why a core stopped. Its driver must stop too; a restart resumes from the committed offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The broker did not acknowledge a message: nothing past it may be committed.
    #[error("delivery to {topic} failed: {message}")]
    Delivery {
        /// The topic of the message.
        topic: String,
        /// What the client reported.
        message: String,
    },
    /// The transactional producer was fenced by a newer instance with the same transactional id.
    #[error("the transactional producer was fenced by a newer instance: {message}")]
    Fenced {
        /// What the client reported.
        message: String,
    },
    /// A transaction step failed and the transaction was aborted.
    #[error("{step} failed: {message}")]
    Transaction {
        /// The step.
        step: TxnStep,
        /// What the client reported.
        message: String,
    },
}

/// Counts of a core's life, over every pipeline instance it started (one per assignment).
///
/// Conservation: `received = discarded + redelivered + replay_skipped + late_behind_floor +
/// late_in_partition + pipeline.read`,
/// and the pipeline's own `read = counted + filtered + dropped_late + dead_lettered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Records handed to [`ConsumerCore::on_records`].
    pub received: u64,
    /// Records of partitions not (or no longer) assigned, or arriving after a fatal error: the owner
    /// reads them again from the committed offset.
    pub discarded: u64,
    /// Records at offsets already processed in this assignment (a fetch delivered them twice).
    pub redelivered: u64,
    /// The pipeline's own counts, summed over instances.
    pub pipeline: PipelineStats,
    /// Records re-read after a restart or rebalance and skipped because a previous owner had already
    /// emitted them (see [`crate::ledger`]).
    pub replay_skipped: u64,
    /// Records dropped as late because their partition's restored floor had passed their windows.
    pub late_behind_floor: u64,
    /// Records dropped as late because their partition's watermark had passed their windows (see
    /// [`ConsumerCore`]'s lateness rule).
    pub late_in_partition: u64,
    /// Window results sent.
    pub outputs_sent: u64,
    /// Dead letters sent.
    pub dead_letters_sent: u64,
    /// Late records sent.
    pub late_sent: u64,
    /// Dead letters counted and dropped because there is no dead-letter topic.
    pub dead_letters_unrouted: u64,
    /// Late records counted and dropped because there is no late topic.
    pub late_unrouted: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// Successful commits (transactions, in exactly-once mode).
    pub commits: u64,
    /// Assignments received.
    pub assignments: u64,
}

impl CoreStats {
    /// Records the core read, in any sense: the number a user compares with the input.
    pub fn records_read(&self) -> u64 {
        self.pipeline.read + self.replay_skipped + self.late_behind_floor + self.late_in_partition
    }

    /// Records reported late: by the pipeline, behind their partition's watermark or its restored floor.
    pub fn late(&self) -> u64 {
        self.pipeline.dropped_late + self.late_behind_floor + self.late_in_partition
    }

    /// Checks that every record received is accounted for exactly once.
    pub fn check_conservation(&self) -> Result<(), String> {
        self.pipeline.check_conservation()?;
        let accounted = self.discarded + self.redelivered + self.records_read();
        if self.received != accounted {
            return Err(format!(
                "records lost: received {} != discarded {} + redelivered {} + replay-skipped {} + late behind \
                 floor {} + late in partition {} + read by the pipeline {}",
                self.received,
                self.discarded,
                self.redelivered,
                self.replay_skipped,
                self.late_behind_floor,
                self.late_in_partition,
                self.pipeline.read
            ));
        }
        let late = self.late();
        if self.late_sent + self.late_unrouted > late
            || self.dead_letters_sent + self.dead_letters_unrouted > self.pipeline.dead_lettered
        {
            return Err(format!(
                "more late records or dead letters routed than counted: {self:?}"
            ));
        }
        Ok(())
    }
}

enum CommitState {
    Idle,
    /// A commit was decided; it goes out once every message before `barrier` is acknowledged.
    WaitingForAcks {
        barrier: u64,
        points: Vec<CommitPoint>,
    },
    InFlight {
        id: u64,
        points: Vec<CommitPoint>,
    },
}

#[derive(Debug)]
enum Txn {
    None,
    Beginning,
    Open,
    AddingOffsets(Vec<CommitPoint>),
    Committing(Vec<CommitPoint>),
    /// Aborting a failed transaction; the core stops once the abort is done.
    Aborting(CoreError),
    /// Aborting a transaction a revocation gave up on; the core goes on.
    Discarding,
}

struct Revoking {
    deadline: Timestamp,
}

/// The consumer's protocol: see the module docs.
pub struct ConsumerCore<E, K, C: CombineFn, O> {
    pipeline: Pipeline<E, K, C, O>,
    config: CoreConfig,
    /// The one driver loop, with the watermark this core computes and processing time it is given.
    driver: Driver<E, K, C, O>,
    /// Counts of instances dropped at revocations.
    earlier: PipelineStats,
    watermarks: PartitionWatermarks,
    ledger: OffsetLedger,
    actions: VecDeque<Action>,
    notices: VecDeque<Notice>,
    /// Exactly once: messages waiting for an open transaction (they get their id when released).
    held: VecDeque<Message>,
    next_message_id: u64,
    next_commit_id: u64,
    unacked: BTreeSet<u64>,
    commit: CommitState,
    txn: Txn,
    /// Exactly once: a commit of the transaction is wanted as soon as it is open.
    commit_wanted: bool,
    last_commit_decision: Option<Timestamp>,
    revoking: Option<Revoking>,
    fatal: Option<CoreError>,
    paused: bool,
    next_end_offsets_request: Timestamp,
    now: Timestamp,
    stats: CoreStats,
    warned_no_dlq: bool,
    warned_no_late: bool,
    windows: Vec<Window>,
    /// What the pipeline saw, when recording.
    recorder: Option<Recorder>,
}

impl<E, K, C, O> ConsumerCore<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    /// A core running `pipeline` with `config`; nothing is assigned yet.
    pub fn new(pipeline: Pipeline<E, K, C, O>, config: CoreConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(ConsumerCore {
            driver: Driver::new(&pipeline, DriverOptions::default()),
            pipeline,
            watermarks: PartitionWatermarks::new(config.max_out_of_orderness, config.idle_timeout),
            config,
            earlier: PipelineStats::default(),
            ledger: OffsetLedger::default(),
            actions: VecDeque::new(),
            notices: VecDeque::new(),
            held: VecDeque::new(),
            next_message_id: 0,
            next_commit_id: 0,
            unacked: BTreeSet::new(),
            commit: CommitState::Idle,
            txn: Txn::None,
            commit_wanted: false,
            last_commit_decision: None,
            revoking: None,
            fatal: None,
            paused: false,
            next_end_offsets_request: Timestamp::MIN,
            now: Timestamp::MIN,
            stats: CoreStats::default(),
            warned_no_dlq: false,
            warned_no_late: false,
            windows: Vec::new(),
            recorder: None,
        })
    }

    /// Records from now on what the pipeline sees, for an exact replay ([`crate::recording`]); call it
    /// before the first event, so that the recording starts with the pipeline.
    pub fn record(&mut self) {
        // Beam's spelling of every processing-time trigger starts so; no other trigger reads the clock.
        let uses_processing_time = self
            .pipeline
            .strategy()
            .trigger
            .to_string()
            .contains("AfterProcessingTime");
        self.recorder = Some(Recorder::new(
            self.driver.processing_time(),
            self.driver.watermark(),
            uses_processing_time,
        ));
    }

    /// The next thing recorded, in order (`None` when nothing is waiting or recording is off).
    pub fn poll_recorded(&mut self) -> Option<Recorded> {
        self.recorder.as_mut().and_then(Recorder::poll)
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Counts so far.
    pub fn stats(&self) -> CoreStats {
        let mut stats = self.stats;
        stats.pipeline = self.earlier + self.driver.stats();
        stats
    }

    /// The pipeline watermark.
    pub fn watermark(&self) -> Watermark {
        self.driver.watermark()
    }

    /// Open (key, window) states.
    pub fn open_windows(&self) -> usize {
        self.driver.instance().open_windows()
    }

    /// The assigned partitions, in order.
    pub fn assigned(&self) -> Vec<i32> {
        self.watermarks.partitions().collect()
    }

    /// How many assigned partitions are idle at `now`.
    pub fn idle_partitions(&self, now: Timestamp) -> usize {
        self.watermarks.idle_count(now)
    }

    /// Messages sent and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.unacked.len()
    }

    /// Why the core stopped, if it did. A stopped core emits no more actions but the ones already queued.
    pub fn fatal(&self) -> Option<&CoreError> {
        self.fatal.as_ref()
    }

    /// True while a revocation waits for its deliveries and its commit.
    pub fn is_revoking(&self) -> bool {
        self.revoking.is_some()
    }

    /// The next action for the driver, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next notice worth logging.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// The processing time at which [`on_tick`](Self::on_tick) next has something to do, if any.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.fatal.is_some() {
            return None;
        }
        let mut next = Vec::new();
        if let Some(r) = &self.revoking {
            next.push(r.deadline);
        }
        if self.watermarks.partitions().next().is_some() {
            next.push(self.next_end_offsets_request);
            next.push(self.commit_due_at());
            next.extend(self.watermarks.next_change(self.now));
        }
        next.into_iter().filter(|t| *t > self.now).min()
    }

    /// Partitions were assigned (eagerly: these are all of this consumer's partitions now).
    pub fn on_assign(&mut self, now: Timestamp, partitions: &[Assignment]) {
        self.tick_clock(now);
        if self.fatal.is_some() {
            return;
        }
        self.stats.assignments += 1;
        let mut described = Vec::new();
        for a in partitions {
            let checkpoint = a.metadata.as_deref().and_then(Checkpoint::decode);
            self.ledger.assign(a.partition, a.committed, checkpoint);
            let (floor, max) = (self.ledger.floor(a.partition), self.ledger.max_event_time(a.partition));
            self.watermarks.assign(a.partition, floor, max, self.now);
            described.push(match (a.committed, self.ledger.restored(a.partition)) {
                (Some(o), Some(c)) => format!("{}@{o} ({c})", a.partition),
                (Some(o), None) => format!("{}@{o}", a.partition),
                (None, _) => format!("{}@start", a.partition),
            });
        }
        self.notices.push_back(Notice::Assigned(described.join(", ")));
        self.next_end_offsets_request = self.now;
        self.after_event();
    }

    /// Every partition is being revoked (eager rebalancing, or shutdown). The core commits what is safe
    /// (waiting for its deliveries), then drops all state; [`is_revoking`](Self::is_revoking) says when
    /// that is done. It gives up after the revoke timeout: the next owner then re-reads more.
    pub fn on_revoke(&mut self, now: Timestamp) {
        self.tick_clock(now);
        if self.revoking.is_some() {
            return;
        }
        if self.watermarks.partitions().next().is_none() || self.fatal.is_some() {
            self.finish_revoke(false);
            return;
        }
        self.revoking = Some(Revoking {
            deadline: self.now.plus(self.config.revoke_timeout),
        });
        if self.config.exactly_once {
            self.commit_wanted = true;
        } else if matches!(self.commit, CommitState::Idle) {
            self.decide_commit();
        }
        self.after_event();
    }

    /// Records of `partition`, in offset order, fetched at `now`.
    pub fn on_records(&mut self, now: Timestamp, partition: i32, records: Vec<InputRecord>) {
        self.tick_clock(now);
        self.stats.received += records.len() as u64;
        if self.fatal.is_some() || self.revoking.is_some() || !self.ledger.is_assigned(partition) {
            self.stats.discarded += records.len() as u64;
            return;
        }
        let mut fresh = Vec::with_capacity(records.len());
        let mut next = self.ledger.position(partition);
        for record in records {
            if next.is_some_and(|n| record.offset < n) {
                self.stats.redelivered += 1;
                continue;
            }
            next = Some(record.offset + 1);
            fresh.push(record);
        }
        let mut rest = fresh.into_iter().peekable();
        while rest.peek().is_some() {
            let bundle: Vec<InputRecord> = rest.by_ref().take(self.config.max_bundle).collect();
            self.process_partition(partition, bundle);
            self.advance_watermark();
        }
        self.after_event();
    }

    /// The message `id` was acknowledged (`Ok`) or finally refused (`Err`, with the client's reason).
    pub fn on_delivery(&mut self, now: Timestamp, id: u64, result: Result<(), String>) {
        self.tick_clock(now);
        if !self.unacked.remove(&id) {
            return;
        }
        match result {
            Ok(()) => self.stats.acked += 1,
            Err(message) if self.config.exactly_once => {
                // The transaction holding it cannot commit; committing it is what fails.
                self.fail(CoreError::Delivery {
                    topic: "a transactional message".to_owned(),
                    message,
                });
            }
            Err(message) if self.watermarks.partitions().next().is_none() && self.revoking.is_none() => {
                self.notices.push_back(Notice::DeliveryFailedAfterRevoke(message));
            }
            Err(message) => self.fail(CoreError::Delivery {
                topic: self.config.topics.output.clone(),
                message,
            }),
        }
        self.after_event();
    }

    /// The commit `id` succeeded or failed.
    pub fn on_commit_result(&mut self, now: Timestamp, id: u64, result: Result<(), String>) {
        self.tick_clock(now);
        let CommitState::InFlight { id: expected, .. } = &self.commit else {
            return;
        };
        if *expected != id {
            return;
        }
        let CommitState::InFlight { points, .. } = std::mem::replace(&mut self.commit, CommitState::Idle) else {
            unreachable!("matched above");
        };
        match result {
            Ok(()) => {
                self.ledger.committed(&points);
                self.stats.commits += 1;
                if self.revoking.is_some() {
                    // Commit what became safe since this commit was decided, or finish.
                    self.decide_commit();
                }
            }
            Err(e) => {
                self.notices.push_back(Notice::CommitFailed(e));
                if self.revoking.is_some() {
                    self.finish_revoke(false);
                }
            }
        }
        self.after_event();
    }

    /// A transaction step finished.
    pub fn on_transaction_result(&mut self, now: Timestamp, step: TxnStep, result: Result<(), TxnError>) {
        self.tick_clock(now);
        let txn = std::mem::replace(&mut self.txn, Txn::None);
        match (txn, step, result) {
            (Txn::Beginning, TxnStep::Begin, Ok(())) => {
                self.txn = Txn::Open;
                while let Some(message) = self.held.pop_front() {
                    self.emit_send(message);
                }
            }
            (Txn::AddingOffsets(points), TxnStep::SendOffsets, Ok(())) => {
                self.actions.push_back(Action::CommitTransaction);
                self.txn = Txn::Committing(points);
            }
            (Txn::Committing(points), TxnStep::Commit, Ok(())) => {
                self.ledger.committed(&points);
                self.stats.commits += 1;
                self.commit_wanted = false;
                // Every message sent so far was in this transaction (held ones have no id yet): all are
                // durable and visible now.
                self.stats.acked += self.unacked.len() as u64;
                self.unacked.clear();
                if self.revoking.is_some() {
                    self.finish_revoke(true);
                }
            }
            (Txn::Aborting(error), TxnStep::Abort, _) => self.fail(error),
            (Txn::Discarding, TxnStep::Abort, Ok(())) => {}
            // The transaction began after its revocation gave up; the abort queued behind it ends it.
            (Txn::Discarding, TxnStep::Begin, Ok(())) => self.txn = Txn::Discarding,
            (_, step, Err(e)) => {
                let error = if e.fenced {
                    CoreError::Fenced { message: e.message }
                } else {
                    CoreError::Transaction {
                        step,
                        message: e.message,
                    }
                };
                if e.fenced || step == TxnStep::Abort {
                    self.fail(error);
                } else {
                    self.actions.push_back(Action::AbortTransaction);
                    self.txn = Txn::Aborting(error);
                }
            }
            (txn, step, Ok(())) => {
                // A result nobody asked for: keep the state it was in.
                debug_assert!(false, "unexpected transaction result {step:?} in state {txn:?}");
                self.txn = txn;
            }
        }
        self.after_event();
    }

    /// The broker answered at `now` where `partition` ends and where the fetch stands (solicited by
    /// [`Action::FetchEndOffsets`] or not). A driver may hand a report over after its time (the rdkafka
    /// shell queues it behind the records fetched before it): it then counts from `now`, the time of
    /// the answer, and goes stale as early as it would have.
    pub fn on_end_offsets(&mut self, now: Timestamp, partition: i32, offsets: EndOffsets) {
        self.tick_clock(now);
        self.watermarks.on_end_offsets(partition, offsets, now);
        self.after_event();
    }

    /// Processing time passed: idleness, commits, the revoke deadline.
    pub fn on_tick(&mut self, now: Timestamp) {
        self.tick_clock(now);
        if let Some(r) = &self.revoking {
            if self.now >= r.deadline {
                self.finish_revoke(false);
            }
        }
        self.after_event();
    }

    fn tick_clock(&mut self, now: Timestamp) {
        // A driver's clock that steps back (NTP) must not move processing time back.
        if now > self.now {
            self.now = now;
            // A processing-time step is recorded where it fires a timer; elsewhere with the next step.
            let fires = self.driver.next_processing_time_timer().is_some_and(|t| t < now);
            self.driver.advance_processing_time(now);
            if let (true, Some(recorder)) = (fires, &mut self.recorder) {
                recorder.processing_time(self.driver.processing_time());
            }
        }
    }

    fn fail(&mut self, error: CoreError) {
        if self.fatal.is_none() {
            self.fatal = Some(error);
        }
        self.commit = CommitState::Idle;
        self.held.clear();
        self.revoking = None;
    }

    /// Everything that follows any event: the watermark, sends, commits, pausing, end-offset requests.
    fn after_event(&mut self) {
        if self.fatal.is_some() {
            return;
        }
        if self.revoking.is_none() {
            self.advance_watermark();
            self.maybe_request_end_offsets();
        }
        self.maybe_commit();
        self.maybe_pause();
    }

    fn advance_watermark(&mut self) {
        if self.watermarks.partitions().next().is_none() {
            return;
        }
        let watermark = self.watermarks.compute(self.now);
        self.driver.advance_watermark(watermark);
        if let Some(recorder) = &mut self.recorder {
            recorder.watermark(self.driver.watermark(), self.driver.processing_time());
        }
        self.send_emitted();
    }

    fn maybe_request_end_offsets(&mut self) {
        if self.now < self.next_end_offsets_request {
            return;
        }
        let interval = Duration::millis((self.config.idle_timeout.as_millis() / 4).max(1));
        self.next_end_offsets_request = self.now.plus(interval);
        let silent = self.watermarks.silent_partitions(self.now);
        if !silent.is_empty() {
            self.actions.push_back(Action::FetchEndOffsets(silent));
        }
    }

    fn commit_due_at(&self) -> Timestamp {
        self.last_commit_decision
            .map_or(Timestamp::MIN, |t| t.plus(self.config.commit_interval))
    }

    fn maybe_commit(&mut self) {
        if self.config.exactly_once {
            self.maybe_commit_transaction();
            return;
        }
        if matches!(self.commit, CommitState::Idle)
            && self.revoking.is_none()
            && self.now >= self.commit_due_at()
            && self.watermarks.partitions().next().is_some()
        {
            self.decide_commit();
        }
        if let CommitState::WaitingForAcks { barrier, .. } = &self.commit {
            #[cfg(feature = "mutations")]
            let barrier = &if self.config.mutation == Some(crate::config::Mutation::CommitBeforeAcknowledgement) {
                0
            } else {
                *barrier
            };
            if self.unacked.first().is_none_or(|first| first >= barrier) {
                let CommitState::WaitingForAcks { points, .. } = std::mem::replace(&mut self.commit, CommitState::Idle)
                else {
                    unreachable!("matched above");
                };
                if points.is_empty() {
                    // Only a revocation waits with nothing to commit: its deliveries are in.
                    self.finish_revoke(true);
                    return;
                }
                let id = self.next_commit_id;
                self.next_commit_id += 1;
                self.actions.push_back(Action::Commit {
                    id,
                    offsets: points.clone(),
                });
                self.commit = CommitState::InFlight { id, points };
            }
        }
    }

    /// Decides what to commit now: the ledger's safe offsets, sent once what was produced before now is
    /// acknowledged. A revocation with nothing to commit ends here.
    fn decide_commit(&mut self) {
        self.last_commit_decision = Some(self.now);
        let points = self.ledger.commit_points(self.driver.watermark(), self.open_state());
        #[cfg(feature = "mutations")]
        let points = self.mutate(points);
        if points.is_empty() {
            if self.revoking.is_some() && self.unacked.is_empty() {
                self.finish_revoke(true);
            } else if self.revoking.is_some() {
                // Nothing new to commit, but the revocation still waits for its deliveries so that a
                // failure among them is seen before the state is dropped.
                self.commit = CommitState::WaitingForAcks {
                    barrier: self.next_message_id,
                    points,
                };
            }
            return;
        }
        self.commit = CommitState::WaitingForAcks {
            barrier: self.next_message_id,
            points,
        };
    }

    fn maybe_commit_transaction(&mut self) {
        if matches!(self.txn, Txn::None) && !self.held.is_empty() {
            self.actions.push_back(Action::BeginTransaction);
            self.txn = Txn::Beginning;
        }
        if self.revoking.is_none()
            && !self.commit_wanted
            && self.now >= self.commit_due_at()
            && self.watermarks.partitions().next().is_some()
        {
            self.commit_wanted = true;
        }
        if !self.commit_wanted {
            return;
        }
        match self.txn {
            Txn::Open => {
                self.last_commit_decision = Some(self.now);
                let points = self.ledger.commit_points(self.driver.watermark(), self.open_state());
                #[cfg(feature = "mutations")]
                let points = self.mutate(points);
                if points.is_empty() {
                    self.actions.push_back(Action::CommitTransaction);
                    self.txn = Txn::Committing(points);
                } else {
                    self.actions.push_back(Action::SendOffsetsToTransaction {
                        offsets: points.clone(),
                    });
                    self.txn = Txn::AddingOffsets(points);
                }
            }
            Txn::None => {
                // Open a transaction only when there is something to commit in it.
                let points = self.ledger.commit_points(self.driver.watermark(), self.open_state());
                self.last_commit_decision = Some(self.now);
                if points.is_empty() && self.held.is_empty() {
                    self.commit_wanted = false;
                    if self.revoking.is_some() {
                        self.finish_revoke(true);
                    }
                } else {
                    self.actions.push_back(Action::BeginTransaction);
                    self.txn = Txn::Beginning;
                }
            }
            _ => {}
        }
    }

    #[cfg(feature = "mutations")]
    fn mutate(&self, mut points: Vec<CommitPoint>) -> Vec<CommitPoint> {
        use crate::config::Mutation;
        for point in &mut points {
            match self.config.mutation {
                Some(Mutation::CommitOneTooFar) => point.offset += 1,
                Some(Mutation::SkipCheckpoint) => {
                    point.checkpoint = Checkpoint {
                        floor: Watermark::MIN,
                        replay_until: point.offset,
                        max_event_time: None,
                    }
                }
                _ => {}
            }
        }
        points
    }

    fn maybe_pause(&mut self) {
        let assigned: Vec<i32> = self.watermarks.partitions().collect();
        if !self.paused && self.unacked.len() > self.config.max_in_flight {
            self.paused = true;
            self.actions.push_back(Action::Pause(assigned));
        } else if self.paused && self.unacked.len() <= self.config.max_in_flight / 2 {
            self.paused = false;
            self.actions.push_back(Action::Resume(assigned));
        }
    }

    fn finish_revoke(&mut self, committed: bool) {
        self.revoking = None;
        if self.watermarks.partitions().next().is_some() {
            self.notices.push_back(Notice::Revoked { committed });
        }
        if std::mem::replace(&mut self.paused, false) {
            let assigned: Vec<i32> = self.watermarks.partitions().collect();
            self.actions.push_back(Action::Resume(assigned));
        }
        if let Some(recorder) = &mut self.recorder {
            recorder.state_dropped();
        }
        self.earlier = self.earlier + self.driver.stats();
        self.driver = Driver::new(&self.pipeline, DriverOptions::default());
        // Messages not yet in a transaction belong to windows the next owner rebuilds from the committed
        // offsets: sent now, they would be sent twice.
        self.held.clear();
        if matches!(self.txn, Txn::Beginning | Txn::Open) {
            // A revocation that gave up with a transaction open: what it holds is rebuilt by the next owner.
            self.actions.push_back(Action::AbortTransaction);
            self.txn = Txn::Discarding;
        }
        self.watermarks.clear();
        self.ledger.clear();
        self.commit = CommitState::Idle;
        self.commit_wanted = false;
        self.last_commit_decision = None;
    }

    /// What the windowing core still holds, for the ledger's release rule and floor.
    fn open_state(&self) -> OpenState {
        OpenState {
            earliest_window_start: self.driver.instance().earliest_open_window_start(),
            merging: self.pipeline.strategy().window_fn.is_merging(),
        }
    }

    /// The end of the latest window an element at `t` belongs to: once the watermark reaches it, every
    /// window of the element has fired. Leaves the element's windows in `self.windows`.
    fn latest_window_end(&mut self, t: Timestamp) -> Timestamp {
        self.windows.clear();
        self.pipeline.strategy().window_fn.assign_windows(t, &mut self.windows);
        self.windows.iter().map(Window::end).max().unwrap_or(t)
    }

    /// One bundle of consecutive records of `partition`.
    ///
    /// Each record is judged late against its own partition's watermark just before it
    /// (`max(floor, largest event time before it − bound)`), not against the pipeline watermark, which
    /// depends on how the partitions' reads interleave. The partition watermark depends only on the
    /// partition's records (the checkpoint restores the largest event time before the committed offset),
    /// so a replay after a crash or rebalance decides every record's lateness exactly as the first reading
    /// did, and re-emits identical windows. The same holds for each window of a record that belongs to
    /// several (sliding windows): the pipeline drops the windows expired at the partition watermark (the
    /// record's `lateness_horizon`). Windows the pipeline watermark has already passed are dropped by the
    /// pipeline too (it can be ahead of a partition's after idleness).
    fn process_partition(&mut self, partition: i32, input: Vec<InputRecord>) {
        let first = input[0].offset;
        let last = input[input.len() - 1].offset;
        let watermark = self.driver.watermark();
        let strategy = self.pipeline.strategy().clone();
        let mut bundle = Vec::with_capacity(input.len());
        let mut bundle_max: Option<Timestamp> = None;
        let mut horizons_matter = false;
        for record in input {
            let position = Position::Offset {
                partition,
                offset: record.offset,
            };
            // Decoded once, here: the replay and lateness rules need the event time, the pipeline the event.
            let mut decoded = self.pipeline.decode_record(Record::new(record.payload, position));
            let partition_watermark = self.watermarks.partition_watermark(partition);
            if let Some(t) = decoded.event_time() {
                self.watermarks.observe(partition, Some(t), self.now);
                bundle_max = bundle_max.max(Some(t));
            }
            let rule = self.ledger.replay_rule(partition, record.offset, watermark);
            let Some(t) = decoded.event_time() else {
                match rule {
                    // Dead-lettered before the checkpoint was committed.
                    Replay::BeforeCheckpoint { .. } => self.stats.replay_skipped += 1,
                    _ => bundle.push(decoded),
                }
                continue;
            };
            let latest_end = self.latest_window_end(t);
            match rule {
                Replay::BeforeCheckpoint { floor } if latest_end <= floor.timestamp() => {
                    self.stats.replay_skipped += 1;
                    continue;
                }
                Replay::BehindFloor { floor } if latest_end <= floor.timestamp() => {
                    self.stats.late_behind_floor += 1;
                    let reason = format!(
                        "late: every window of {t} ended by {floor}, the watermark restored for partition {partition}"
                    );
                    self.report_late(decoded.record, t, floor, reason);
                    continue;
                }
                _ => {}
            }
            // `self.windows` holds the element's windows, from `latest_window_end`.
            if self.windows.iter().all(|w| strategy.is_expired(w, partition_watermark)) {
                self.stats.late_in_partition += 1;
                let reason = format!(
                    "late: every window of {t} expired (end - 1ms + allowed lateness {}) before partition \
                     {partition}'s watermark {partition_watermark}",
                    strategy.allowed_lateness
                );
                self.report_late(decoded.record, t, partition_watermark, reason);
                continue;
            }
            // A sliding window's element may have some windows expired at the partition watermark and
            // others not: it joins only the live ones, whatever the pipeline watermark is by now.
            decoded.lateness_horizon = partition_watermark;
            // A replay needs the horizon only where it can drop some of several windows the pipeline
            // watermark has not passed.
            horizons_matter |= self.windows.len() > 1 && partition_watermark > watermark;
            bundle.push(decoded);
        }
        if let Some(recorder) = &mut self.recorder {
            let records = bundle.iter().map(|d| d.record.clone()).collect();
            let horizons = horizons_matter.then(|| bundle.iter().map(|d| d.lateness_horizon).collect());
            recorder.bundle(records, horizons, self.driver.processing_time());
        }
        let summary = self.driver.bundle(bundle);
        self.watermarks.observe(partition, None, self.now);
        self.ledger
            .processed(partition, first, last, summary.max_event_time, bundle_max);
        self.send_emitted();
    }

    fn report_late(&mut self, record: Record, event_time: Timestamp, watermark: Watermark, reason: String) {
        let late = LateRecord {
            position: record.position,
            event_time,
            watermark,
            reason,
            payload: record.payload,
        };
        if let Some(recorder) = &mut self.recorder {
            recorder.dropped_late(&late);
        }
        self.driver.emitted().late.push(late);
    }

    fn send_emitted(&mut self) {
        let input = self.config.topics.input.clone();
        let emitted = std::mem::take(self.driver.emitted());
        for output in emitted.outputs {
            self.stats.outputs_sent += 1;
            let topic = self.config.topics.output.clone();
            let (key, value) = (output.value.message_key(), output.value.message_value());
            self.send(MessageKind::Output, topic, Some(key), value, Vec::new());
        }
        for dead in emitted.dead_letters {
            match self.config.topics.dead_letters.clone() {
                Some(topic) => {
                    self.stats.dead_letters_sent += 1;
                    let headers = dead_letter_headers(&dead, &input);
                    self.send(MessageKind::DeadLetter, topic, None, dead.payload, headers);
                }
                None => {
                    self.stats.dead_letters_unrouted += 1;
                    if !std::mem::replace(&mut self.warned_no_dlq, true) {
                        self.notices.push_back(Notice::NoDeadLetterTopic);
                    }
                }
            }
        }
        for late in emitted.late {
            match self.config.topics.late.clone() {
                Some(topic) => {
                    self.stats.late_sent += 1;
                    let headers = late_headers(&late, &input);
                    self.send(MessageKind::Late, topic, None, late.payload, headers);
                }
                None => {
                    self.stats.late_unrouted += 1;
                    if !std::mem::replace(&mut self.warned_no_late, true) {
                        self.notices.push_back(Notice::NoLateTopic);
                    }
                }
            }
        }
    }

    fn send(
        &mut self,
        kind: MessageKind,
        topic: String,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        headers: Vec<(String, Vec<u8>)>,
    ) {
        let message = Message {
            id: 0,
            kind,
            topic,
            key,
            value,
            headers,
        };
        if !self.config.exactly_once || matches!(self.txn, Txn::Open) {
            self.emit_send(message);
            return;
        }
        self.held.push_back(message);
        if matches!(self.txn, Txn::None) {
            self.actions.push_back(Action::BeginTransaction);
            self.txn = Txn::Beginning;
        }
    }

    fn emit_send(&mut self, mut message: Message) {
        message.id = self.next_message_id;
        self.next_message_id += 1;
        self.unacked.insert(message.id);
        self.actions.push_back(Action::Send(message));
    }
}

#[cfg(test)]
mod tests;
