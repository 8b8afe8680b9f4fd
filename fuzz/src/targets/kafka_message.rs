//! Target `kafka_message`: how the Kafka runtime handles arbitrary message bytes, without a broker.
//!
//! The input's first line is the metadata of a committed offset: [`Checkpoint::decode`] must not panic
//! and what it decodes must survive `encode`/`decode`. The rest drives a small consumer, [`Consumer`],
//! through the runtime's own pieces as `kafka_runtime::runner` wires them: records (visits or arbitrary
//! message values) are read from up to three partitions in bundles, checked against the restored
//! checkpoint ([`OffsetLedger::replay_rule`]), processed by the traffic pipeline, and the watermark moves
//! with [`PartitionWatermarks`]; commits and restarts happen in between. Properties: a partition's
//! committed offset never goes back, a commit point never passes a bundle whose windows have not all
//! fired, a checkpoint never lowers its floor, and every record read is counted, dropped as late,
//! dead-lettered or skipped as already done.
//!
//! The consumer model is kept in one struct so it can be re-pointed at a sans-IO Kafka core later.

use std::collections::BTreeMap;
use std::time::{Duration as Wall, Instant};

use arbitrary::{Result, Unstructured};
use kafka_runtime::ledger::{Checkpoint, OffsetLedger, Replay};
use kafka_runtime::watermark::PartitionWatermarks;
use pipeline::io::{Position, Record};
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::traffic::{traffic_pipeline, TrafficConfig, TrafficPipeline};
use pipeline::window::Window;
use pipeline::{Emitted, PipelineInstance};

use crate::generate;

/// Checkpoint words and message values worth splicing in.
pub const DICTIONARY: &[&str] = &[
    "kafka-runtime/1",
    " floor=",
    " replay-until=",
    "-inf",
    "+inf",
    "9223372036854775807",
    "-9223372036854775808",
    "1714345960000",
    "\n",
    "{\"event_datetime\":\"2024-04-28T23:12:41.000\"}",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let (first_line, script) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let metadata = String::from_utf8_lossy(first_line);
    let restored = Checkpoint::decode(&metadata);
    if let Some(checkpoint) = restored {
        check_round_trip(checkpoint);
    }
    let mut u = Unstructured::new(script);
    if let (Ok(floor), Ok(replay_until)) = (u.arbitrary::<i64>(), u.arbitrary::<i64>()) {
        check_round_trip(Checkpoint {
            floor: Watermark::at(Timestamp::from_millis(floor)),
            replay_until,
        });
    }
    let committed_at = u.int_in_range(0..=20i64).unwrap_or(0);
    let mut consumer = Consumer::new(committed_at, metadata.into_owned());
    for _ in 0..64 {
        if u.is_empty() || consumer.step(&mut u).is_err() {
            break;
        }
    }
    consumer.finish();
}

fn check_round_trip(checkpoint: Checkpoint) {
    let text = checkpoint.encode();
    assert_eq!(
        Checkpoint::decode(&text),
        Some(checkpoint),
        "{checkpoint} encodes as {text:?}"
    );
}

/// The start of the event times the consumer's visits carry: 2024-04-28T23:12:40Z.
const BASE_MS: i64 = 1_714_345_960_000;
const PARTITIONS: i32 = 3;
const MAX_BUNDLE: usize = 5;

/// A bundle processed since the partition was assigned, and when its windows have all fired.
struct Bundle {
    partition: i32,
    first: i64,
    release_at: Option<Timestamp>,
}

/// A consumer of the runtime's pieces, in virtual time, with a "broker" that is a map of committed
/// offsets and their metadata text.
struct Consumer {
    pipeline: TrafficPipeline,
    instance:
        PipelineInstance<pipeline::event::VisitEvent, String, pipeline::combine::Count, pipeline::traffic::TrafficAgg>,
    emitted: Emitted<String, pipeline::traffic::TrafficAgg>,
    ledger: OffsetLedger,
    watermarks: PartitionWatermarks,
    /// The broker's committed offset and metadata per partition.
    committed: BTreeMap<i32, (i64, String)>,
    /// The next offset to read per partition.
    position: BTreeMap<i32, i64>,
    bundles: Vec<Bundle>,
    /// Records read since the last (re)start, and those the replay rules skipped or declared late.
    read: u64,
    skipped: u64,
    late_behind_floor: u64,
    start: Instant,
    now_ms: u64,
    wall: Timestamp,
}

impl Consumer {
    fn new(committed_at: i64, metadata: String) -> Consumer {
        let pipeline = traffic_pipeline(TrafficConfig::default());
        let mut consumer = Consumer {
            instance: pipeline.start(),
            pipeline,
            emitted: Emitted::default(),
            ledger: OffsetLedger::default(),
            watermarks: PartitionWatermarks::new(Duration::seconds(5), Wall::from_secs(10)),
            committed: BTreeMap::from([(0, (committed_at, metadata))]),
            position: BTreeMap::new(),
            bundles: Vec::new(),
            read: 0,
            skipped: 0,
            late_behind_floor: 0,
            start: Instant::now(),
            now_ms: 0,
            wall: Timestamp::from_millis(BASE_MS),
        };
        consumer.assign();
        consumer
    }

    fn now(&self) -> Instant {
        self.start + Wall::from_millis(self.now_ms)
    }

    /// Assigns every partition from its committed offset and checkpoint, as the runner's `on_assign`.
    fn assign(&mut self) {
        let now = self.now();
        for partition in 0..PARTITIONS {
            let committed = self.committed.get(&partition);
            let offset = committed.map(|(offset, _)| *offset);
            let checkpoint = committed.and_then(|(_, metadata)| Checkpoint::decode(metadata));
            self.ledger.assign(partition, offset, checkpoint);
            self.watermarks.assign(partition, self.ledger.floor(partition), now);
            self.position.insert(partition, offset.unwrap_or(0));
        }
        self.advance_watermark();
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=9)? {
            0..=5 => self.read_bundle(u)?,
            6 => {
                self.now_ms += u.int_in_range(0..=15_000u64)?;
                self.wall = self.wall.plus(Duration::millis(u.int_in_range(0..=60_000i64)?));
                self.advance_watermark();
            }
            7 | 8 => self.commit(),
            _ => self.restart(u.ratio(1, 2)?),
        }
        Ok(())
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

    fn latest_window_end(&self, t: Timestamp) -> Timestamp {
        let mut windows = Vec::new();
        self.pipeline.strategy().window_fn.assign_windows(t, &mut windows);
        windows.iter().map(Window::end).max().unwrap_or(t)
    }

    /// Reads a bundle of one partition and processes it as the runner's `process_partition`.
    fn read_bundle(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let partition = u.int_in_range(0..=PARTITIONS - 1)?;
        let count = u.int_in_range(1..=MAX_BUNDLE)?;
        let watermark = self.instance.watermark();
        let mut offset = self.position[&partition];
        let first = offset;
        let mut last = offset;
        let mut records = Vec::new();
        for _ in 0..count {
            let payload = Consumer::message(u)?;
            self.read += 1;
            last = offset;
            let position = Position::Offset { partition, offset };
            match self.ledger.replay_rule(partition, offset, watermark) {
                Replay::Process => records.push(Record::new(payload, position)),
                Replay::BeforeCheckpoint { floor } => match self.pipeline.decode(&payload) {
                    Err(_) => self.skipped += 1,
                    Ok((_, t)) if self.latest_window_end(t) <= floor.timestamp() => self.skipped += 1,
                    Ok(_) => records.push(Record::new(payload, position)),
                },
                Replay::BehindFloor { floor } => match self.pipeline.decode(&payload) {
                    Ok((_, t)) if self.latest_window_end(t) <= floor.timestamp() => self.late_behind_floor += 1,
                    _ => records.push(Record::new(payload, position)),
                },
            }
            // Transaction markers and compaction leave gaps between offsets.
            offset += 1 + i64::from(u.int_in_range(0..=2u8)?.saturating_sub(1));
        }
        self.position.insert(partition, offset);
        let summary = self.instance.process_bundle(records, &mut self.emitted);
        self.watermarks.observe(partition, summary.max_event_time, self.now());
        let release_at = summary.max_event_time.map(|t| self.latest_window_end(t));
        self.ledger.processed(partition, first, last, release_at);
        self.bundles.push(Bundle {
            partition,
            first,
            release_at,
        });
        self.advance_watermark();
        Ok(())
    }

    fn advance_watermark(&mut self) {
        let watermark = self.watermarks.compute(self.now(), self.wall);
        self.instance.advance_watermark(watermark, &mut self.emitted);
        self.emitted = Emitted::default();
    }

    /// Commits what the ledger allows, checking each point against what the consumer knows.
    fn commit(&mut self) {
        let watermark = self.instance.watermark();
        let points = self.ledger.commit_points(watermark);
        for point in &points {
            let p = point.partition;
            let previous = self.committed.get(&p);
            if let Some((offset, metadata)) = previous {
                assert!(
                    point.offset >= *offset,
                    "partition {p}: the commit goes back from {offset} to {}",
                    point.offset
                );
                if let Some(before) = Checkpoint::decode(metadata) {
                    assert!(
                        point.checkpoint.floor >= before.floor,
                        "partition {p}: the floor goes back"
                    );
                }
            }
            assert!(
                point.offset <= self.position[&p],
                "partition {p}: commit {} is past the next read",
                point.offset
            );
            assert!(
                point.checkpoint.floor >= watermark,
                "the floor {} is behind the watermark",
                point.checkpoint.floor
            );
            assert!(point.checkpoint.replay_until >= point.offset, "{:?}", point);
            for bundle in &self.bundles {
                let unreleased = bundle.release_at.is_some_and(|r| watermark.timestamp() < r);
                if bundle.partition == p && unreleased {
                    assert!(
                        point.offset <= bundle.first,
                        "partition {p}: commit {} passes the bundle at {} whose windows have not fired",
                        point.offset,
                        bundle.first
                    );
                }
            }
            check_round_trip(point.checkpoint);
            self.committed.insert(p, (point.offset, point.checkpoint.encode()));
        }
        self.ledger.committed(&points);
    }

    /// A crash (nothing more committed) or a rebalance (commit first), then a fresh assignment.
    fn restart(&mut self, commit_first: bool) {
        if commit_first {
            self.commit();
        }
        self.check_conservation();
        self.instance = self.pipeline.start();
        self.emitted = Emitted::default();
        self.ledger.clear();
        self.watermarks.clear();
        self.bundles.clear();
        (self.read, self.skipped, self.late_behind_floor) = (0, 0, 0);
        self.assign();
    }

    fn check_conservation(&self) {
        let stats = self.instance.stats();
        if let Err(lost) = stats.check_conservation() {
            panic!("{lost}");
        }
        assert_eq!(
            self.read,
            stats.read + self.skipped + self.late_behind_floor,
            "records read = processed + skipped as done + late behind the floor: {stats:?}"
        );
    }

    fn finish(mut self) {
        self.instance.advance_watermark(Watermark::MAX, &mut self.emitted);
        self.check_conservation();
        assert_eq!(
            self.instance.open_windows(),
            0,
            "a window survived the watermark reaching +inf"
        );
        self.commit();
    }
}

/// A checkpoint line, then random choices for the consumer.
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
    let mut line = match u.int_in_range(0..=7)? {
        0 => String::new(),
        1 => String::from_utf8_lossy(&generate::raw_bytes(u, 30)?).replace('\n', " "),
        2 => format!("kafka-runtime/2 floor={floor} replay-until={replay_until}"),
        3 => format!("kafka-runtime/1  floor={floor}\treplay-until={replay_until} extra"),
        _ => format!("kafka-runtime/1 floor={floor} replay-until={replay_until}"),
    }
    .into_bytes();
    line.push(b'\n');
    line.extend_from_slice(&generate::raw_bytes(u, 2048)?);
    Ok(line)
}
