//! Target `kafka_message`: the Kafka consumer core handling arbitrary message bytes and arbitrary events.
//!
//! The input's first line is the metadata of a committed offset: [`Checkpoint::decode`] must not panic,
//! and what it decodes must survive `encode`/`decode`. The rest drives the real sans-IO
//! [`ConsumerCore`] (the one the rdkafka shell and the simulated cluster run) through a small "broker"
//! made of the input's choices: partitions assigned with committed offsets and that metadata, records of
//! up to three partitions (visits or arbitrary bytes, with offset gaps), delivery reports (acknowledged or
//! refused), commit and transaction results, end-offset reports, the passing of processing time,
//! revocations and crashes. After every event the core's counts add up and its watermark has not moved
//! back; a committed offset never goes back and never passes what was fed; at the end everything read is
//! accounted for.

use std::collections::{BTreeMap, VecDeque};

use arbitrary::{Result, Unstructured};
use kafka_core::{
    Action, Assignment, Checkpoint, CommitPoint, ConsumerCore, CoreConfig, EndOffsets, InputRecord, Topics, TxnError,
    TxnStep,
};
use pipeline::combine::Count;
use pipeline::event::PageView;
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};

use crate::generate;

/// Checkpoint words and message values worth splicing in.
pub const DICTIONARY: &[&str] = &[
    "kafka-runtime/2",
    "kafka-runtime/1",
    " floor=",
    " replay-until=",
    " max=",
    "none",
    "-inf",
    "+inf",
    "9223372036854775807",
    "-9223372036854775808",
    "1714345960000",
    "\n",
    "{\"event_datetime\":\"2024-04-28T23:12:41.000\"}",
];

type Core = ConsumerCore<PageView, String, Count, TrafficAgg>;

/// The start of the event times the visits carry: 2024-04-28T23:12:40Z; processing time starts there too.
const BASE_MS: i64 = 1_714_345_960_000;
const PARTITIONS: i32 = 3;

/// Runs one input.
pub fn run(data: &[u8]) {
    let (first_line, script) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let metadata = String::from_utf8_lossy(first_line).into_owned();
    if let Some(checkpoint) = Checkpoint::decode(&metadata) {
        check_round_trip(checkpoint);
    }
    let mut u = Unstructured::new(script);
    if let (Ok(floor), Ok(replay_until), Ok(max)) =
        (u.arbitrary::<i64>(), u.arbitrary::<i64>(), u.arbitrary::<Option<i64>>())
    {
        check_round_trip(Checkpoint {
            floor: Watermark::at(Timestamp::from_millis(floor)),
            replay_until,
            max_event_time: max.map(Timestamp::from_millis),
        });
    }
    let exactly_once = u.ratio(1, 3).unwrap_or(false);
    let committed_at = u.int_in_range(0..=20i64).unwrap_or(0);
    let mut world = World::new(exactly_once, committed_at, metadata);
    for _ in 0..96 {
        if u.is_empty() || world.core.fatal().is_some() || world.step(&mut u).is_err() {
            break;
        }
        world.check();
    }
    world.finish();
}

fn check_round_trip(checkpoint: Checkpoint) {
    let text = checkpoint.encode();
    assert_eq!(
        Checkpoint::decode(&text),
        Some(checkpoint),
        "{checkpoint} encodes as {text:?}"
    );
}

/// The core and a broker made of the input's choices.
struct World {
    core: Core,
    exactly_once: bool,
    now: Timestamp,
    /// The broker's committed offset and metadata per partition.
    committed: BTreeMap<i32, (i64, String)>,
    /// The next offset the broker hands out per partition.
    next: BTreeMap<i32, i64>,
    sends: VecDeque<u64>,
    commits: VecDeque<(u64, Vec<CommitPoint>)>,
    txn_steps: VecDeque<TxnStep>,
    pending_offsets: Option<Vec<CommitPoint>>,
    /// The last watermark seen, per assignment (reset when the core is revoked or restarted).
    last_watermark: Watermark,
}

impl World {
    fn new(exactly_once: bool, committed_at: i64, metadata: String) -> World {
        let mut world = World {
            core: World::fresh_core(exactly_once),
            exactly_once,
            now: Timestamp::from_millis(BASE_MS),
            committed: BTreeMap::from([(0, (committed_at, metadata))]),
            next: BTreeMap::new(),
            sends: VecDeque::new(),
            commits: VecDeque::new(),
            txn_steps: VecDeque::new(),
            pending_offsets: None,
            last_watermark: Watermark::MIN,
        };
        world.assign();
        world
    }

    fn fresh_core(exactly_once: bool) -> Core {
        let config = CoreConfig {
            topics: Topics {
                dead_letters: Some("dlq".to_owned()),
                late: Some("late".to_owned()),
                ..Topics::default()
            },
            exactly_once,
            max_in_flight: 16,
            ..CoreConfig::default()
        };
        ConsumerCore::new(traffic_pipeline(TrafficConfig::default()), config).expect("a valid configuration")
    }

    /// Every partition, from its committed offset and metadata.
    fn assign(&mut self) {
        let assignments: Vec<Assignment> = (0..PARTITIONS)
            .map(|partition| {
                let committed = self.committed.get(&partition);
                self.next
                    .insert(partition, committed.map_or(0, |(offset, _)| (*offset).max(0)));
                Assignment {
                    partition,
                    committed: committed.map(|(offset, _)| *offset),
                    metadata: committed.map(|(_, metadata)| metadata.clone()),
                }
            })
            .collect();
        self.last_watermark = Watermark::MIN;
        self.core.on_assign(self.now, &assignments);
        self.take_actions();
    }

    fn message(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
        Ok(match u.int_in_range(0..=7)? {
            0..=4 => {
                let ms = BASE_MS + u.int_in_range(-5_000..=120_000i64)?;
                let at = Timestamp::from_millis(ms).format_millis();
                generate::visit_json_at(u, &at)?.into_bytes()
            }
            5 => generate::visit_json(u)?.into_bytes(),
            _ => generate::raw_bytes(u, 32)?,
        })
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=12)? {
            0..=4 => {
                let partition = u.int_in_range(0..=PARTITIONS - 1)?;
                let mut offset = self.next[&partition];
                let mut batch = Vec::new();
                for _ in 0..u.int_in_range(1..=6)? {
                    batch.push(InputRecord {
                        offset,
                        payload: World::message(u)?,
                    });
                    // Transaction markers and compaction leave gaps between offsets.
                    offset += 1 + i64::from(u.int_in_range(0..=2u8)?.saturating_sub(1));
                }
                self.next.insert(partition, offset);
                // A fetch can deliver a batch twice.
                let again = u.ratio(1, 10)?.then(|| batch.clone());
                self.core.on_records(self.now, partition, batch);
                if let Some(again) = again {
                    self.core.on_records(self.now, partition, again);
                }
            }
            5 | 6 => {
                for _ in 0..u.int_in_range(0..=8)? {
                    let Some(id) = self.sends.pop_front() else { break };
                    let result = if u.ratio(1, 40)? {
                        Err("refused".to_owned())
                    } else {
                        Ok(())
                    };
                    self.core.on_delivery(self.now, id, result);
                }
            }
            7 => {
                if let Some((id, offsets)) = self.commits.pop_front() {
                    let ok = !u.ratio(1, 8)?;
                    if ok {
                        self.store(&offsets);
                    }
                    let result = if ok { Ok(()) } else { Err("rebalancing".to_owned()) };
                    self.core.on_commit_result(self.now, id, result);
                }
                if let Some(step) = self.txn_steps.pop_front() {
                    let ok = !u.ratio(1, 12)?;
                    self.answer_txn(step, ok);
                }
            }
            8 => {
                self.now = self.now.plus(Duration::millis(u.int_in_range(0..=15_000i64)?));
                self.core.on_tick(self.now);
            }
            9 => {
                let partition = u.int_in_range(0..=PARTITIONS - 1)?;
                let position = self.next[&partition];
                let end = position + i64::from(u.int_in_range(0..=2u8)?);
                self.core
                    .on_end_offsets(self.now, partition, EndOffsets { position, end });
            }
            10 => self.revoke_and_reassign(),
            11 => {
                // A crash: everything in memory is gone; the broker keeps what was committed.
                self.core = World::fresh_core(self.exactly_once);
                self.sends.clear();
                self.commits.clear();
                self.txn_steps.clear();
                self.pending_offsets = None;
                self.assign();
            }
            _ => {
                self.now = self.now.plus(Duration::millis(u.int_in_range(0..=500i64)?));
            }
        }
        self.take_actions();
        Ok(())
    }

    fn answer_txn(&mut self, step: TxnStep, ok: bool) {
        let result = if ok {
            if step == TxnStep::Commit {
                if let Some(offsets) = self.pending_offsets.take() {
                    self.store(&offsets);
                }
            }
            if step == TxnStep::Abort {
                self.pending_offsets = None;
            }
            Ok(())
        } else {
            Err(TxnError {
                fenced: false,
                message: "refused".to_owned(),
            })
        };
        self.core.on_transaction_result(self.now, step, result);
    }

    /// Everything the core asked for, queued for the broker's answers.
    fn take_actions(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Send(message) => self.sends.push_back(message.id),
                Action::Commit { id, offsets } => self.commits.push_back((id, offsets)),
                Action::BeginTransaction => self.txn_steps.push_back(TxnStep::Begin),
                Action::SendOffsetsToTransaction { offsets } => {
                    self.pending_offsets = Some(offsets);
                    self.txn_steps.push_back(TxnStep::SendOffsets);
                }
                Action::CommitTransaction => self.txn_steps.push_back(TxnStep::Commit),
                Action::AbortTransaction => self.txn_steps.push_back(TxnStep::Abort),
                Action::Pause(_) | Action::Resume(_) | Action::FetchEndOffsets(_) => {}
            }
        }
        while self.core.poll_notice().is_some() {}
    }

    /// The broker stores committed offsets: they never go back and never pass what it handed out.
    fn store(&mut self, offsets: &[CommitPoint]) {
        for point in offsets {
            let p = point.partition;
            if let Some((offset, _)) = self.committed.get(&p) {
                assert!(
                    point.offset >= *offset,
                    "partition {p}: the commit goes back from {offset} to {}",
                    point.offset
                );
            }
            assert!(
                point.offset <= self.next[&p],
                "partition {p}: commit {} is past the next offset handed out, {}",
                point.offset,
                self.next[&p]
            );
            assert!(point.checkpoint.replay_until >= point.offset, "{point:?}");
            check_round_trip(point.checkpoint);
            self.committed.insert(p, (point.offset, point.checkpoint.encode()));
        }
    }

    /// A rebalance: the core commits what is safe (the broker answers everything), then is assigned again.
    fn revoke_and_reassign(&mut self) {
        self.core.on_revoke(self.now);
        self.take_actions();
        for _ in 0..1_000 {
            if !self.core.is_revoking() || self.core.fatal().is_some() {
                break;
            }
            while let Some(id) = self.sends.pop_front() {
                self.core.on_delivery(self.now, id, Ok(()));
            }
            while let Some((id, offsets)) = self.commits.pop_front() {
                self.store(&offsets);
                self.core.on_commit_result(self.now, id, Ok(()));
            }
            while let Some(step) = self.txn_steps.pop_front() {
                self.answer_txn(step, true);
            }
            self.take_actions();
        }
        assert!(
            self.core.is_revoking() || self.core.assigned().is_empty() || self.core.fatal().is_some(),
            "a finished revocation leaves nothing assigned"
        );
        if self.core.fatal().is_none() && !self.core.is_revoking() {
            self.assign();
        }
    }

    fn check(&mut self) {
        if let Err(lost) = self.core.stats().check_conservation() {
            panic!("{lost}");
        }
        if self.core.assigned().is_empty() {
            self.last_watermark = Watermark::MIN;
            return;
        }
        let watermark = self.core.watermark();
        assert!(
            watermark >= self.last_watermark,
            "the watermark went back from {} to {watermark}",
            self.last_watermark
        );
        self.last_watermark = watermark;
    }

    fn finish(mut self) {
        if self.core.fatal().is_none() {
            self.revoke_and_reassign();
        }
        self.check();
    }
}

/// A checkpoint line, then random choices for the broker and the core.
pub fn generate(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let floor = match u.int_in_range(0..=5)? {
        0 => "-inf".to_owned(),
        1 => "+inf".to_owned(),
        2 => u.arbitrary::<i64>()?.to_string(),
        _ => (BASE_MS + 20_000 * u.int_in_range(0..=6i64)?).to_string(),
    };
    let replay_until = if u.ratio(4, 5)? {
        u.int_in_range(0..=40i64)?
    } else {
        u.arbitrary()?
    };
    let max = match u.int_in_range(0..=3)? {
        0 => "none".to_owned(),
        1 => u.arbitrary::<i64>()?.to_string(),
        _ => (BASE_MS + u.int_in_range(0..=120_000i64)?).to_string(),
    };
    let mut line = match u.int_in_range(0..=7)? {
        0 => String::new(),
        1 => String::from_utf8_lossy(&generate::raw_bytes(u, 30)?).replace('\n', " "),
        2 => format!("kafka-runtime/1 floor={floor} replay-until={replay_until}"),
        3 => format!("kafka-runtime/2  floor={floor}\treplay-until={replay_until} max={max} extra"),
        _ => format!("kafka-runtime/2 floor={floor} replay-until={replay_until} max={max}"),
    }
    .into_bytes();
    line.push(b'\n');
    line.extend_from_slice(&generate::raw_bytes(u, 2048)?);
    Ok(line)
}
