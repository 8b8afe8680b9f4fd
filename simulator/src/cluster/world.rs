//! The simulated world: a broker with its logs, a consumer group, a transaction coordinator and a number
//! of `traffic-agg` instances, each running the real [`ConsumerCore`], all in virtual time and driven by a
//! seeded RNG and a [`FaultPlan`].
//!
//! One step handles one event (input produced, a fetch, a delivery, a commit or transaction response, an
//! end-offset answer, a timer, a crash or restart, a rebalance). The instance it concerns runs its core on
//! the event and its actions are carried out as the broker would: messages are appended when acknowledged,
//! commits stored with their metadata (or without it, in the metadata-dropping mode), transactions
//! committed or aborted with markers, reads done per isolation level. Crashes strike at action boundaries
//! named by the plan and lose all in-memory state; a supervisor restarts the instance, which rejoins the
//! group and resumes from the committed offsets. After every step the [`Checker`] checks the invariants.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use kafka_core::{
    Action, Assignment, ConsumerCore, CoreConfig, EndOffsets, InputRecord, KafkaOutput, Message, MessageKind, Topics,
    TxnError, TxnStep,
};
use pipeline::combine::CombineFn;
use pipeline::io::{Position, Record};
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::watermark::BoundedOutOfOrderness;
use pipeline::{Emitted, Pipeline};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::faults::{Baseline, Fault, FaultPlan};
use super::invariants::{describe_difference, since, Checker, Violation};
use super::log::{Isolation, RecordState, Topic};

/// When the input records reach the input topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// As recorded: a record arrives when the largest event time so far says it happened (live traffic).
    #[default]
    Recorded,
    /// All at once, before the instances start (a backlog read after the fact).
    Burst,
}

impl std::str::FromStr for Pace {
    type Err = String;
    fn from_str(s: &str) -> Result<Pace, String> {
        match s {
            "recorded" => Ok(Pace::Recorded),
            "burst" => Ok(Pace::Burst),
            _ => Err(format!("unknown pace {s:?}: expected recorded or burst")),
        }
    }
}

/// How to run a simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Partitions of the input topic.
    pub partitions: usize,
    /// `traffic-agg` instances in the consumer group.
    pub instances: usize,
    /// Outputs and offsets in transactions; the input and output are read `read_committed`.
    pub exactly_once: bool,
    /// The cores' settings (topics are set by the simulation).
    pub core: CoreConfig,
    /// When the input arrives.
    pub pace: Pace,
    /// The broker drops offset-commit metadata (as tansu does): checkpoints are lost.
    pub drop_commit_metadata: bool,
    /// Seeds the world's randomness: latencies, restart delays, what a crash loses.
    pub seed: u64,
    /// What goes wrong.
    pub plan: FaultPlan,
    /// Keep a trace of what happened (assignments, commits, crashes, rebalances, what became visible),
    /// for explaining a failure.
    pub trace: bool,
    /// A deliberately broken core, to prove the checks can fail (see `kafka_core::Mutation`).
    #[cfg(feature = "mutations")]
    pub mutation: Option<kafka_core::Mutation>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            partitions: 3,
            instances: 2,
            exactly_once: false,
            core: CoreConfig::default(),
            pace: Pace::default(),
            drop_commit_metadata: false,
            seed: 0,
            plan: FaultPlan::default(),
            trace: false,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }
}

/// A message on the dead-letter or late topic, as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedRecord {
    /// The original record's bytes.
    pub value: Vec<u8>,
    /// `reason`, `source.topic`, `source.partition`, `source.offset` (and `event_time`, `watermark`).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReportedRecord {
    /// The value of header `name` as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The input position the record came from.
    pub fn source(&self) -> Option<(i32, i64)> {
        Some((
            self.header("source.partition")?.parse().ok()?,
            self.header("source.offset")?.parse().ok()?,
        ))
    }
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Steps (events handled).
    pub steps: u64,
    /// Virtual time the run took, in milliseconds.
    pub duration_ms: i64,
    /// Instances that died (crashes and fatal errors).
    pub crashes: u64,
    /// Of those, fatal errors (a failed delivery or transaction stopped the core).
    pub fatal_errors: u64,
    /// Rebalances completed.
    pub rebalances: u64,
    /// Offset commits stored (transactions with offsets, exactly once).
    pub commits: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Transactions aborted (by a core, or fenced at a restart).
    pub aborted_transactions: u64,
    /// Messages sent by the instances.
    pub messages: u64,
    /// Records handed to cores (re-reads included).
    pub records_received: u64,
    /// Input records.
    pub input_records: u64,
}

/// What a run produced and whether every invariant held.
#[derive(Debug, Clone)]
pub struct ClusterReport {
    /// The output topic's values as a reader sees them, in offset order (exactly once: `read_committed`;
    /// at least once: every emitted record).
    pub output: Vec<Vec<u8>>,
    /// The dead-letter topic, as a reader sees it.
    pub dead_letters: Vec<ReportedRecord>,
    /// The late topic, as a reader sees it.
    pub late: Vec<ReportedRecord>,
    /// The first invariant that broke, if any.
    pub violation: Option<Violation>,
    /// The faults of the run.
    pub plan: FaultPlan,
    /// Counts.
    pub stats: ClusterStats,
    /// What the run did, for drawing plans that strike where something happens.
    pub baseline: Baseline,
    /// With [`ClusterOptions::trace`]: one line per notable happening, `<ms into the run> <what>`.
    pub trace: Vec<String>,
    /// Which invariants the run was held to (they depend on the pipeline and the broker).
    pub rules: Rules,
}

/// Which of the invariants a run is held to (see [`crate::cluster::invariants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// No (key, window) visible with two different values.
    pub one_value_per_key: bool,
    /// At the end, the output equals the reference exactly; otherwise every window of the reference is
    /// emitted at least once.
    pub output_equals_reference: bool,
}

impl std::fmt::Display for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.output_equals_reference {
            "the output equals the reference"
        } else {
            "every window of the reference is emitted at least once"
        })
    }
}

const OUTPUT: usize = 0;
const DEAD_LETTERS: usize = 1;
const LATE: usize = 2;

/// Latencies and timeouts of the simulated world. A run's broker answers within one of these maxima,
/// drawn from its seed: a quick broker, a busy one, and one slower than the commit interval.
const MAX_LATENCIES_MS: [i64; 3] = [20, 200, 2_000];
const SESSION_TIMEOUT: Duration = Duration::seconds(6);
const DELIVERY_TIMEOUT: Duration = Duration::seconds(30);
/// How long a consumer waits before asking again for offsets a transaction still holds (librdkafka's
/// `retry.backoff.ms`).
const OFFSET_FETCH_BACKOFF: Duration = Duration::millis(100);
const MAX_POLL_RECORDS: usize = 500;
/// How long a run may go on after its input is complete before it is declared stuck.
const LIVENESS_BOUND: Duration = Duration::minutes(30);

#[derive(Debug, Clone)]
enum Event {
    Produce,
    Fetch {
        instance: usize,
        incarnation: u32,
    },
    Deliver {
        instance: usize,
        incarnation: u32,
        id: u64,
    },
    CommitDone {
        instance: usize,
        incarnation: u32,
        id: u64,
        offsets: Vec<kafka_core::CommitPoint>,
        generation: Option<u64>,
        fails: bool,
    },
    TxnDone {
        instance: usize,
        incarnation: u32,
        step: TxnStep,
        epoch: u64,
        offsets: Option<(Vec<kafka_core::CommitPoint>, Option<u64>)>,
        fails: bool,
    },
    EndOffsets {
        instance: usize,
        incarnation: u32,
        partitions: Vec<i32>,
    },
    Tick {
        instance: usize,
        incarnation: u32,
    },
    Restart {
        instance: usize,
    },
    SessionExpired {
        instance: usize,
        incarnation: u32,
    },
    Rebalance {
        instance: usize,
    },
    /// A member of `generation` asks for the committed offsets of its `partitions` (again).
    FetchCommitted {
        instance: usize,
        incarnation: u32,
        generation: u64,
        partitions: Vec<i32>,
    },
}

struct InFlight {
    message: Message,
    sent_at: Timestamp,
    fails: bool,
}

struct Instance<E, K, C: CombineFn, O> {
    core: Option<ConsumerCore<E, K, C, O>>,
    incarnation: u32,
    generation: Option<u64>,
    positions: BTreeMap<i32, i64>,
    paused: BTreeSet<i32>,
    fetch_scheduled: bool,
    tick_at: Option<Timestamp>,
    in_flight: BTreeMap<u64, InFlight>,
    /// The producer epoch of this incarnation (exactly once).
    epoch: u64,
    actions: u64,
}

struct OpenTxn {
    number: u64,
    touched: BTreeSet<usize>,
    offsets: Option<Vec<kafka_core::CommitPoint>>,
    failed_delivery: bool,
}

#[derive(Default)]
struct Coordinator {
    epoch: u64,
    open: Option<OpenTxn>,
}

#[derive(Default)]
struct Group {
    generation: u64,
    members: BTreeSet<usize>,
    assignment: BTreeMap<usize, Vec<i32>>,
    revoking: Option<BTreeSet<usize>>,
    committed: BTreeMap<i32, (i64, String)>,
}

/// Runs `input` (raw records in file order) through `options.instances` instances of `pipeline` on a
/// simulated cluster, with the faults of `options.plan`; stops at the first broken invariant.
pub fn run_cluster<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: &[Vec<u8>],
    options: &ClusterOptions,
) -> ClusterReport
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    let mut world = World::new(pipeline, input, options);
    world.run();
    world.report()
}

struct World<'a, E, K, C: CombineFn, O> {
    pipeline: &'a Pipeline<E, K, C, O>,
    options: &'a ClusterOptions,
    config: CoreConfig,
    isolation: Isolation,
    rng: ChaCha8Rng,
    max_latency_ms: i64,
    origin: Timestamp,
    now: Timestamp,
    queue: BTreeMap<(Timestamp, u64), Event>,
    next_event: u64,
    /// Input records with their arrival times, in file order.
    arrivals: Vec<(Timestamp, &'a [u8])>,
    produced: usize,
    input: Topic,
    outputs: [Topic; 3],
    group: Group,
    coordinators: Vec<Coordinator>,
    next_txn: u64,
    instances: Vec<Instance<E, K, C, O>>,
    outages: Vec<(Timestamp, Timestamp)>,
    checker: Checker,
    violation: Option<Violation>,
    stats: ClusterStats,
    baseline: Baseline,
    fetches: u64,
    txn_steps: u64,
    commit_requests: u64,
    crashes_so_far: u64,
    step: u64,
    trace: Vec<String>,
}

impl<'a, E, K, C, O> World<'a, E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    fn new(pipeline: &'a Pipeline<E, K, C, O>, input: &'a [Vec<u8>], options: &'a ClusterOptions) -> Self {
        assert!(
            options.partitions > 0 && options.instances > 0,
            "a cluster needs partitions and instances"
        );
        let config = CoreConfig {
            topics: Topics {
                input: "website-visit".to_owned(),
                output: "traffic-agg".to_owned(),
                dead_letters: Some("website-visit-dlq".to_owned()),
                late: Some("website-visit-late".to_owned()),
            },
            exactly_once: options.exactly_once,
            ..options.core.clone()
        };
        let event_times: Vec<Option<Timestamp>> =
            input.iter().map(|r| pipeline.decode(r).ok().map(|(_, t)| t)).collect();
        let first = event_times.iter().flatten().next().copied().unwrap_or(Timestamp::EPOCH);
        let latest = event_times.iter().flatten().max().copied().unwrap_or(Timestamp::EPOCH);
        // Live traffic happens as it is produced; a backlog is read after the fact.
        let origin = match options.pace {
            Pace::Recorded => first,
            Pace::Burst => latest.plus(Duration::seconds(1)),
        };
        let mut clock = origin;
        let arrivals = input
            .iter()
            .zip(&event_times)
            .map(|(record, t)| {
                if options.pace == Pace::Recorded {
                    clock = clock.max(t.unwrap_or(clock));
                }
                (clock, record.as_slice())
            })
            .collect();
        let outages = options
            .plan
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::Outage { at, lasting } => Some((origin.plus(*at), origin.plus(*at).plus(*lasting))),
                _ => None,
            })
            .collect();
        // One pane per window (allowed lateness 0, the default trigger), windows that never merge, and
        // checkpoints that survive restarts: then a window is only ever emitted with one value. Otherwise
        // only the weaker rule holds (every window present at least once): a broker that drops commit
        // metadata loses the checkpoints; early, late and repeated panes give a window several values;
        // and a restart can re-emit a closed session with a partial count (see kafka_core::ledger).
        let strategy = pipeline.strategy();
        let one_value_per_key = strategy.allowed_lateness == Duration::ZERO
            && strategy.trigger == pipeline::trigger::Trigger::Default
            && !strategy.window_fn.is_merging()
            && !options.drop_commit_metadata;
        let mut world = World {
            pipeline,
            options,
            config,
            isolation: if options.exactly_once {
                Isolation::ReadCommitted
            } else {
                Isolation::ReadUncommitted
            },
            max_latency_ms: MAX_LATENCIES_MS[(options.seed % 3) as usize],
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            origin,
            now: origin,
            queue: BTreeMap::new(),
            next_event: 0,
            arrivals,
            produced: 0,
            input: Topic::new(options.partitions),
            outputs: [Topic::new(1), Topic::new(1), Topic::new(1)],
            group: Group::default(),
            coordinators: (0..options.instances).map(|_| Coordinator::default()).collect(),
            next_txn: 0,
            instances: Vec::new(),
            outages,
            checker: Checker::new(one_value_per_key, options.exactly_once),
            violation: None,
            stats: ClusterStats {
                input_records: input.len() as u64,
                ..ClusterStats::default()
            },
            baseline: Baseline {
                actions: vec![0; options.instances],
                ..Baseline::default()
            },
            fetches: 0,
            txn_steps: 0,
            commit_requests: 0,
            crashes_so_far: 0,
            step: 0,
            trace: Vec::new(),
        };
        for i in 0..options.instances {
            world.instances.push(Instance {
                core: None,
                incarnation: 0,
                generation: None,
                positions: BTreeMap::new(),
                paused: BTreeSet::new(),
                fetch_scheduled: false,
                tick_at: None,
                in_flight: BTreeMap::new(),
                epoch: 0,
                actions: 0,
            });
            world.schedule(origin, Event::Restart { instance: i });
        }
        world.schedule(origin, Event::Produce);
        for fault in &options.plan.faults {
            if let Fault::Rebalance { instance, at } = fault {
                world.schedule(origin.plus(*at), Event::Rebalance { instance: *instance });
            }
        }
        world
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        if self.options.trace {
            let line = format!("{:>9} {}", since(self.origin, self.now), what());
            self.trace.push(line);
        }
    }

    fn schedule(&mut self, at: Timestamp, event: Event) {
        self.queue.insert((at, self.next_event), event);
        self.next_event += 1;
    }

    fn latency(&mut self) -> Duration {
        Duration::millis(self.rng.random_range(1..=self.max_latency_ms))
    }

    fn is_down(&self, t: Timestamp) -> bool {
        self.outages.iter().any(|(from, to)| *from <= t && t < *to)
    }

    /// The end of the outage `t` falls in (or `t`).
    fn up_again(&self, t: Timestamp) -> Timestamp {
        self.outages
            .iter()
            .filter(|(from, to)| *from <= t && t < *to)
            .map(|(_, to)| *to)
            .max()
            .unwrap_or(t)
    }

    fn violate(&mut self, (invariant, detail): (&'static str, String)) {
        if self.violation.is_none() {
            self.note(|| format!("VIOLATION {invariant}: {detail}"));
            self.violation = Some(Violation {
                invariant,
                step: self.step,
                at_ms: since(self.origin, self.now),
                detail,
            });
        }
    }

    fn run(&mut self) {
        let input_complete_by = self.arrivals.last().map_or(self.origin, |(t, _)| *t);
        let deadline = input_complete_by.max(self.origin).plus(LIVENESS_BOUND);
        while self.violation.is_none() {
            if self.done() {
                self.final_checks();
                break;
            }
            let Some(((at, _), event)) = self.queue.pop_first() else {
                self.violate((
                    "the run finishes",
                    format!("nothing left to do but {}", self.unfinished()),
                ));
                break;
            };
            if at > deadline {
                self.violate((
                    "the run finishes",
                    format!(
                        "still unfinished {LIVENESS_BOUND} after the input was complete: {}",
                        self.unfinished()
                    ),
                ));
                break;
            }
            self.now = self.now.max(at);
            self.handle(event);
            self.step += 1;
            self.check_cores();
        }
        self.stats.steps = self.step;
        self.stats.duration_ms = since(self.origin, self.now);
        self.baseline.duration = Duration::millis(self.stats.duration_ms);
        self.baseline.fetches = self.fetches;
        self.baseline.txn_steps = self.txn_steps;
        self.baseline.commits = self.commit_requests;
        self.baseline.messages = self.stats.messages;
    }

    fn done(&self) -> bool {
        self.produced == self.arrivals.len()
            && self.group.revoking.is_none()
            && self
                .instances
                .iter()
                .all(|i| i.core.is_some() && i.in_flight.is_empty())
            && self.coordinators.iter().all(|c| c.open.is_none())
            && (0..self.input.partitions.len()).all(|p| {
                let end = self.input.partitions[p].end(self.isolation);
                self.group.committed.get(&(p as i32)).map_or(0, |(o, _)| *o) >= end
            })
    }

    fn unfinished(&self) -> String {
        let committed: Vec<String> = (0..self.input.partitions.len())
            .map(|p| {
                format!(
                    "partition {p} committed {} of {}",
                    self.group.committed.get(&(p as i32)).map_or(0, |(o, _)| *o),
                    self.input.partitions[p].end(self.isolation)
                )
            })
            .collect();
        let instances: Vec<String> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| match &inst.core {
                None => format!("instance {i} down"),
                Some(core) => format!(
                    "instance {i}: partitions {:?}, watermark {}, {} open windows, {} unacknowledged{}",
                    core.assigned(),
                    core.watermark(),
                    core.open_windows(),
                    core.unacknowledged(),
                    if core.is_revoking() { ", revoking" } else { "" }
                ),
            })
            .collect();
        format!("{}; {}", committed.join(", "), instances.join("; "))
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Produce => self.produce(),
            Event::Fetch { instance, incarnation } => {
                if self.alive(instance, incarnation) {
                    self.instances[instance].fetch_scheduled = false;
                    self.fetch(instance);
                }
            }
            Event::Deliver {
                instance,
                incarnation,
                id,
            } => {
                if self.alive(instance, incarnation) {
                    self.deliver(instance, id);
                }
            }
            Event::CommitDone {
                instance,
                incarnation,
                id,
                offsets,
                generation,
                fails,
            } => self.commit_done(instance, incarnation, id, offsets, generation, fails),
            Event::TxnDone {
                instance,
                incarnation,
                step,
                epoch,
                offsets,
                fails,
            } => self.txn_done(instance, incarnation, step, epoch, offsets, fails),
            Event::EndOffsets {
                instance,
                incarnation,
                partitions,
            } => {
                if self.alive(instance, incarnation) && !self.is_down(self.now) {
                    for p in partitions {
                        let Some(position) = self.instances[instance].positions.get(&p).copied() else {
                            continue;
                        };
                        let end = self.input.partitions[p as usize].end(self.isolation);
                        let now = self.now;
                        if let Some(core) = &mut self.instances[instance].core {
                            core.on_end_offsets(now, p, EndOffsets { position, end });
                        }
                    }
                    self.pump(instance);
                }
            }
            Event::Tick { instance, incarnation } => {
                if self.alive(instance, incarnation) && self.instances[instance].tick_at == Some(self.now) {
                    self.instances[instance].tick_at = None;
                    let now = self.now;
                    if let Some(core) = &mut self.instances[instance].core {
                        core.on_tick(now);
                    }
                    self.pump(instance);
                }
            }
            Event::Restart { instance } => self.restart(instance),
            Event::SessionExpired { instance, incarnation } => {
                let inst = &self.instances[instance];
                if inst.incarnation == incarnation && inst.core.is_none() && self.group.members.remove(&instance) {
                    self.begin_rebalance();
                }
            }
            Event::Rebalance { instance } => {
                if self.instances[instance].core.is_some() && self.group.members.contains(&instance) {
                    self.begin_rebalance();
                }
            }
            Event::FetchCommitted {
                instance,
                incarnation,
                generation,
                partitions,
            } => {
                if self.alive(instance, incarnation) && generation == self.group.generation {
                    self.fetch_committed(instance, partitions);
                }
            }
        }
    }

    fn alive(&self, instance: usize, incarnation: u32) -> bool {
        let inst = &self.instances[instance];
        inst.incarnation == incarnation && inst.core.is_some()
    }

    fn produce(&mut self) {
        if self.is_down(self.now) {
            // The producers buffer while the broker is away and deliver once they reconnect, up to a few
            // seconds after it is back.
            let back = self.up_again(self.now);
            let reconnect = Duration::millis(self.rng.random_range(0..=3_000));
            self.schedule(back.plus(reconnect), Event::Produce);
            return;
        }
        let mut touched = BTreeSet::new();
        while let Some((at, value)) = self.arrivals.get(self.produced).copied() {
            if at > self.now {
                self.schedule(at, Event::Produce);
                break;
            }
            let key = record_key(value);
            let partition = self.input.partition_for(key.as_deref(), self.produced as u64);
            self.input.partitions[partition].append(key, value.to_vec(), Vec::new(), RecordState::Committed);
            touched.insert(partition as i32);
            self.produced += 1;
        }
        for i in 0..self.instances.len() {
            let assigned = self.group.assignment.get(&i).cloned().unwrap_or_default();
            if assigned.iter().any(|p| touched.contains(p)) {
                self.wake_fetch(i);
            }
        }
    }

    fn wake_fetch(&mut self, instance: usize) {
        let inst = &self.instances[instance];
        if inst.core.is_none() || inst.fetch_scheduled {
            return;
        }
        let incarnation = inst.incarnation;
        self.instances[instance].fetch_scheduled = true;
        let at = self.now.plus(self.latency());
        self.schedule(at, Event::Fetch { instance, incarnation });
    }

    fn fetch(&mut self, instance: usize) {
        let inst = &self.instances[instance];
        let Some(core) = &inst.core else { return };
        if core.is_revoking() || inst.generation != Some(self.group.generation) || self.group.revoking.is_some() {
            return;
        }
        if self.is_down(self.now) {
            let at = self.up_again(self.now);
            let incarnation = inst.incarnation;
            self.instances[instance].fetch_scheduled = true;
            self.schedule(at, Event::Fetch { instance, incarnation });
            return;
        }
        let partitions: Vec<i32> = core.assigned();
        let incarnation = inst.incarnation;
        let mut got_any = false;
        for p in partitions {
            if !self.alive(instance, incarnation) {
                return;
            }
            let inst = &self.instances[instance];
            if inst.paused.contains(&p) {
                continue;
            }
            let position = inst.positions.get(&p).copied().unwrap_or(0);
            let (records, next) = self.input.partitions[p as usize].fetch(position, MAX_POLL_RECORDS, self.isolation);
            let batch: Vec<InputRecord> = records
                .into_iter()
                .map(|r| InputRecord {
                    offset: r.offset,
                    payload: r.value.clone(),
                })
                .collect();
            self.instances[instance].positions.insert(p, next);
            if batch.is_empty() {
                continue;
            }
            got_any = true;
            let redeliver = self
                .options
                .plan
                .faults
                .contains(&Fault::Redeliver { fetch: self.fetches });
            self.fetches += 1;
            self.stats.records_received += batch.len() as u64;
            let now = self.now;
            let again = redeliver.then(|| batch.clone());
            if let Some(core) = &mut self.instances[instance].core {
                core.on_records(now, p, batch);
                if let Some(again) = again {
                    core.on_records(now, p, again);
                }
            }
            self.pump(instance);
        }
        if got_any {
            self.wake_fetch(instance);
        }
    }

    /// Carries out the instance's actions until it has none, crashing it where the plan says.
    fn pump(&mut self, instance: usize) {
        loop {
            let Some(core) = &mut self.instances[instance].core else {
                return;
            };
            let Some(action) = core.poll_action() else { break };
            // The action counts even when a crash loses it, so the restarted instance does not crash again.
            let n = self.instances[instance].actions;
            self.instances[instance].actions += 1;
            self.baseline.actions[instance] = self.baseline.actions[instance].max(n + 1);
            if self.options.plan.faults.contains(&Fault::Crash {
                instance,
                action: n,
                after: false,
            }) {
                self.crash(instance, false);
                return;
            }
            self.execute(instance, action);
            if self.options.plan.faults.contains(&Fault::Crash {
                instance,
                action: n,
                after: true,
            }) {
                self.crash(instance, false);
                return;
            }
        }
        let now = self.now;
        let inst = &mut self.instances[instance];
        let Some(core) = &mut inst.core else { return };
        while core.poll_notice().is_some() {}
        if core.fatal().is_some() {
            self.crash(instance, true);
            return;
        }
        let revoking = core.is_revoking();
        if let Some(at) = core.poll_timeout() {
            if inst.tick_at.is_none_or(|t| at < t || t <= now) {
                inst.tick_at = Some(at);
                let incarnation = inst.incarnation;
                self.schedule(at, Event::Tick { instance, incarnation });
            }
        }
        if !revoking {
            self.finish_revoke_if_done(instance);
        }
    }

    fn execute(&mut self, instance: usize, action: Action) {
        let incarnation = self.instances[instance].incarnation;
        match action {
            Action::Send(message) => {
                self.note(|| {
                    format!(
                        "instance {instance} sends #{} {}",
                        message.id,
                        String::from_utf8_lossy(&message.value)
                    )
                });
                let n = self.stats.messages;
                self.stats.messages += 1;
                if self.options.exactly_once && self.coordinators[instance].open.is_none() {
                    self.violate((
                        "exactly once, every message is sent inside a transaction",
                        format!("instance {instance} sent message {} outside one", message.id),
                    ));
                }
                let fails = self.options.plan.faults.contains(&Fault::DeliveryError { message: n });
                let id = message.id;
                self.instances[instance].in_flight.insert(
                    id,
                    InFlight {
                        message,
                        sent_at: self.now,
                        fails,
                    },
                );
                let at = self.now.plus(self.latency());
                self.schedule(
                    at,
                    Event::Deliver {
                        instance,
                        incarnation,
                        id,
                    },
                );
            }
            Action::Commit { id, offsets } => {
                let n = self.commit_requests;
                self.commit_requests += 1;
                let fails = self.options.plan.faults.contains(&Fault::CommitError { commit: n });
                let generation = self.instances[instance].generation;
                let at = self.now.plus(self.latency());
                self.schedule(
                    at,
                    Event::CommitDone {
                        instance,
                        incarnation,
                        id,
                        offsets,
                        generation,
                        fails,
                    },
                );
            }
            Action::BeginTransaction => self.txn_request(instance, TxnStep::Begin, None),
            Action::SendOffsetsToTransaction { offsets } => {
                let generation = self.instances[instance].generation;
                self.txn_request(instance, TxnStep::SendOffsets, Some((offsets, generation)))
            }
            Action::CommitTransaction => self.txn_request(instance, TxnStep::Commit, None),
            Action::AbortTransaction => self.txn_request(instance, TxnStep::Abort, None),
            Action::Pause(partitions) => self.instances[instance].paused.extend(partitions),
            Action::Resume(partitions) => {
                for p in partitions {
                    self.instances[instance].paused.remove(&p);
                }
                self.wake_fetch(instance);
            }
            Action::FetchEndOffsets(partitions) => {
                let at = self.now.plus(self.latency());
                self.schedule(
                    at,
                    Event::EndOffsets {
                        instance,
                        incarnation,
                        partitions,
                    },
                );
            }
        }
    }

    fn txn_request(
        &mut self,
        instance: usize,
        step: TxnStep,
        offsets: Option<(Vec<kafka_core::CommitPoint>, Option<u64>)>,
    ) {
        let n = self.txn_steps;
        self.txn_steps += 1;
        let fails = self.options.plan.faults.contains(&Fault::TxnError { step: n });
        let inst = &self.instances[instance];
        // A commit waits for every message of the transaction to be acknowledged, as librdkafka's does.
        let mut at = self.now;
        if step == TxnStep::Commit {
            at = inst.in_flight.values().map(|f| f.sent_at).max().unwrap_or(at).max(at);
        }
        let (incarnation, epoch) = (inst.incarnation, inst.epoch);
        let at = at.plus(Duration::millis(self.max_latency_ms)).plus(self.latency());
        self.schedule(
            at,
            Event::TxnDone {
                instance,
                incarnation,
                step,
                epoch,
                offsets,
                fails,
            },
        );
    }

    fn deliver(&mut self, instance: usize, id: u64) {
        let Some(flight) = self.instances[instance].in_flight.remove(&id) else {
            return;
        };
        if self.is_down(self.now) && !flight.fails {
            if self.now.minus(DELIVERY_TIMEOUT) >= flight.sent_at {
                self.report_delivery(instance, id, Err("message timed out".to_owned()));
                return;
            }
            let at = self.up_again(self.now).plus(self.latency());
            let incarnation = self.instances[instance].incarnation;
            self.instances[instance].in_flight.insert(id, flight);
            self.schedule(
                at,
                Event::Deliver {
                    instance,
                    incarnation,
                    id,
                },
            );
            return;
        }
        if flight.fails {
            if self.options.exactly_once {
                if let Some(open) = &mut self.coordinators[instance].open {
                    open.failed_delivery = true;
                }
            }
            self.report_delivery(instance, id, Err("the broker refused the message".to_owned()));
            return;
        }
        self.append_output(instance, flight.message);
        self.report_delivery(instance, id, Ok(()));
    }

    fn report_delivery(&mut self, instance: usize, id: u64, result: Result<(), String>) {
        let now = self.now;
        if let Some(core) = &mut self.instances[instance].core {
            core.on_delivery(now, id, result);
        }
        self.pump(instance);
    }

    /// The broker got `message` from `instance`: at least once it is visible now; exactly once it waits
    /// for its transaction (or is aborted with it).
    fn append_output(&mut self, instance: usize, message: Message) {
        let topic = match message.kind {
            MessageKind::Output => OUTPUT,
            MessageKind::DeadLetter => DEAD_LETTERS,
            MessageKind::Late => LATE,
        };
        if self.options.exactly_once {
            let Some(open) = &mut self.coordinators[instance].open else {
                return; // its transaction is gone (fenced or aborted): the broker rejects it
            };
            open.touched.insert(topic);
            let state = RecordState::Pending(open.number);
            self.outputs[topic].partitions[0].append(message.key, message.value, message.headers, state);
            return;
        }
        let Message {
            key, value, headers, ..
        } = message;
        self.note(|| {
            format!(
                "instance {instance} wrote to topic {topic}: {}",
                String::from_utf8_lossy(&value)
            )
        });
        let check = self.check_visible(topic, key.as_deref(), &value, &headers);
        self.outputs[topic].partitions[0].append(key, value, headers, RecordState::Committed);
        if let Err(v) = check {
            self.violate(v);
        }
    }

    fn check_visible(
        &mut self,
        topic: usize,
        key: Option<&[u8]>,
        value: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> Result<(), (&'static str, String)> {
        match topic {
            OUTPUT => self.checker.on_output(key.unwrap_or_default(), value),
            _ => {
                let record = ReportedRecord {
                    value: value.to_vec(),
                    headers: headers.to_vec(),
                };
                let source = record.source().ok_or((
                    "dead letters and late records say where they came from",
                    format!("no source headers in {:?}", record.headers),
                ))?;
                self.checker.on_reported(topic == LATE, source)
            }
        }
    }

    fn commit_done(
        &mut self,
        instance: usize,
        incarnation: u32,
        id: u64,
        offsets: Vec<kafka_core::CommitPoint>,
        generation: Option<u64>,
        fails: bool,
    ) {
        let result = if fails {
            Err("the coordinator refused the commit".to_owned())
        } else if self.is_down(self.now) {
            Err("the coordinator is not available".to_owned())
        } else if generation != Some(self.group.generation)
            || self.group.revoking.is_none() && !self.group.members.contains(&instance)
        {
            Err("illegal generation: the group has rebalanced".to_owned())
        } else {
            self.store_offsets(&offsets);
            Ok(())
        };
        if self.alive(instance, incarnation) {
            let now = self.now;
            if let Some(core) = &mut self.instances[instance].core {
                core.on_commit_result(now, id, result);
            }
            self.pump(instance);
        }
    }

    fn store_offsets(&mut self, offsets: &[kafka_core::CommitPoint]) {
        for point in offsets {
            let metadata = if self.options.drop_commit_metadata {
                String::new()
            } else {
                point.checkpoint.encode()
            };
            self.note(|| {
                format!(
                    "committed partition {} offset {} ({})",
                    point.partition, point.offset, point.checkpoint
                )
            });
            self.group.committed.insert(point.partition, (point.offset, metadata));
            if let Err(v) = self.checker.on_commit(point.partition, point.offset) {
                self.violate(v);
            }
        }
        if !offsets.is_empty() {
            self.stats.commits += 1;
        }
    }

    fn txn_done(
        &mut self,
        instance: usize,
        incarnation: u32,
        step: TxnStep,
        epoch: u64,
        offsets: Option<(Vec<kafka_core::CommitPoint>, Option<u64>)>,
        fails: bool,
    ) {
        let retry_at = if self.is_down(self.now) {
            // Transactional requests are retried until the broker is back.
            Some(self.up_again(self.now))
        } else if step == TxnStep::Commit
            && self.alive(instance, incarnation)
            && !self.instances[instance].in_flight.is_empty()
        {
            // librdkafka's commit_transaction first waits for every message of the transaction.
            Some(self.now)
        } else {
            None
        };
        if let Some(at) = retry_at {
            let at = at.plus(self.latency());
            self.schedule(
                at,
                Event::TxnDone {
                    instance,
                    incarnation,
                    step,
                    epoch,
                    offsets,
                    fails,
                },
            );
            return;
        }
        let fenced = epoch != self.coordinators[instance].epoch;
        let result = if fenced {
            Err(TxnError {
                fenced: true,
                message: "producer fenced by a newer epoch".to_owned(),
            })
        } else if fails {
            Err(TxnError {
                fenced: false,
                message: format!("the coordinator refused {step}"),
            })
        } else {
            self.apply_txn_step(instance, step, offsets)
        };
        self.note(|| format!("instance {instance}: {step}: {result:?}"));
        if self.alive(instance, incarnation) {
            let now = self.now;
            if let Some(core) = &mut self.instances[instance].core {
                core.on_transaction_result(now, step, result);
            }
            self.pump(instance);
        }
    }

    fn apply_txn_step(
        &mut self,
        instance: usize,
        step: TxnStep,
        offsets: Option<(Vec<kafka_core::CommitPoint>, Option<u64>)>,
    ) -> Result<(), TxnError> {
        let refuse = |message: &str| {
            Err(TxnError {
                fenced: false,
                message: message.to_owned(),
            })
        };
        match step {
            TxnStep::Begin => {
                if self.coordinators[instance].open.is_some() {
                    return refuse("a transaction is already open");
                }
                self.coordinators[instance].open = Some(OpenTxn {
                    number: self.next_txn,
                    touched: BTreeSet::new(),
                    offsets: None,
                    failed_delivery: false,
                });
                self.next_txn += 1;
                Ok(())
            }
            TxnStep::SendOffsets => {
                let (points, generation) = offsets.expect("offsets go with the step");
                if generation != Some(self.group.generation) {
                    return refuse("illegal generation: the group has rebalanced");
                }
                match &mut self.coordinators[instance].open {
                    Some(open) => {
                        open.offsets = Some(points);
                        Ok(())
                    }
                    None => refuse("no open transaction"),
                }
            }
            TxnStep::Commit => {
                let Some(open) = self.coordinators[instance].open.take() else {
                    return refuse("no open transaction");
                };
                if open.failed_delivery {
                    self.decide(open, false);
                    return refuse("a message of the transaction was not delivered");
                }
                self.decide(open, true);
                Ok(())
            }
            TxnStep::Abort => {
                if let Some(open) = self.coordinators[instance].open.take() {
                    self.decide(open, false);
                }
                Ok(())
            }
        }
    }

    /// Commits or aborts a transaction: markers on every partition it wrote, its offsets stored.
    fn decide(&mut self, open: OpenTxn, commit: bool) {
        if commit {
            self.stats.transactions += 1;
        } else {
            self.stats.aborted_transactions += 1;
        }
        for topic in &open.touched {
            let log = &mut self.outputs[*topic].partitions[0];
            let pending: Vec<usize> = log
                .records()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.state == RecordState::Pending(open.number))
                .map(|(i, _)| i)
                .collect();
            log.decide(open.number, commit);
            if commit {
                for i in pending {
                    let record = self.outputs[*topic].partitions[0].records()[i].clone();
                    self.note(|| {
                        format!(
                            "transaction {} made visible on topic {topic}: {}",
                            open.number,
                            String::from_utf8_lossy(&record.value)
                        )
                    });
                    if let Err(v) = self.check_visible(*topic, record.key.as_deref(), &record.value, &record.headers) {
                        self.violate(v);
                    }
                }
            }
        }
        if commit {
            if let Some(offsets) = &open.offsets {
                self.store_offsets(offsets);
            }
        }
    }

    fn crash(&mut self, instance: usize, fatal: bool) {
        self.note(|| {
            format!(
                "instance {instance} {}",
                if fatal { "stopped on a fatal error" } else { "crashed" }
            )
        });
        self.stats.crashes += 1;
        if fatal {
            self.stats.fatal_errors += 1;
        }
        let crash_number = self.crashes_so_far;
        self.crashes_so_far += 1;
        let mut fate = ChaCha8Rng::seed_from_u64(self.options.seed ^ crash_number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let inst = &mut self.instances[instance];
        inst.core = None;
        inst.tick_at = None;
        inst.fetch_scheduled = false;
        inst.positions.clear();
        inst.paused.clear();
        inst.generation = None;
        let in_flight = std::mem::take(&mut inst.in_flight);
        let incarnation = inst.incarnation;
        // What was in flight reached the broker, or not.
        for (_, flight) in in_flight {
            if !flight.fails && fate.random::<bool>() {
                self.append_output(instance, flight.message);
            }
        }
        if let Some(revoking) = &mut self.group.revoking {
            revoking.remove(&instance);
        }
        let restart_in = Duration::millis(self.rng.random_range(100..=3_000));
        let (now, expiry) = (self.now, self.now.plus(SESSION_TIMEOUT));
        self.schedule(now.plus(restart_in), Event::Restart { instance });
        self.schedule(expiry, Event::SessionExpired { instance, incarnation });
        self.complete_rebalance_if_done();
    }

    fn restart(&mut self, instance: usize) {
        if self.instances[instance].core.is_some() {
            return;
        }
        let mut config = self.config.clone();
        #[cfg(feature = "mutations")]
        {
            config.mutation = self.options.mutation;
        }
        config.exactly_once = self.options.exactly_once;
        let core = ConsumerCore::new(self.pipeline.clone(), config).expect("the simulation's settings are valid");
        // A new producer with the same transactional id fences the old one and aborts its transaction.
        if self.options.exactly_once {
            self.coordinators[instance].epoch += 1;
            if let Some(open) = self.coordinators[instance].open.take() {
                self.decide(open, false);
            }
        }
        self.note(|| format!("instance {instance} (re)started"));
        let inst = &mut self.instances[instance];
        inst.core = Some(core);
        inst.incarnation += 1;
        inst.epoch = self.coordinators[instance].epoch;
        self.group.members.insert(instance);
        self.begin_rebalance();
    }

    /// Every member is revoked (eager protocol), then the partitions are assigned anew.
    fn begin_rebalance(&mut self) {
        let members: BTreeSet<usize> = self
            .group
            .members
            .iter()
            .copied()
            .filter(|i| self.instances[*i].core.is_some())
            .collect();
        let mut revoking = self.group.revoking.take().unwrap_or_default();
        let now = self.now;
        for &i in &members {
            if let Some(core) = &mut self.instances[i].core {
                core.on_revoke(now);
                if core.is_revoking() {
                    revoking.insert(i);
                }
            }
        }
        self.group.revoking = Some(revoking);
        for &i in &members {
            self.pump(i);
        }
        self.complete_rebalance_if_done();
    }

    fn finish_revoke_if_done(&mut self, instance: usize) {
        if let Some(revoking) = &mut self.group.revoking {
            if revoking.remove(&instance) {
                self.complete_rebalance_if_done();
            }
        }
    }

    fn complete_rebalance_if_done(&mut self) {
        let Some(revoking) = &self.group.revoking else { return };
        let still: Vec<usize> = revoking
            .iter()
            .copied()
            .filter(|i| self.instances[*i].core.as_ref().is_some_and(|c| c.is_revoking()))
            .collect();
        if !still.is_empty() {
            return;
        }
        self.group.revoking = None;
        self.group.generation += 1;
        self.stats.rebalances += 1;
        let members: Vec<usize> = self
            .group
            .members
            .iter()
            .copied()
            .filter(|i| self.instances[*i].core.is_some())
            .collect();
        // Kafka's range assignor: contiguous ranges, the first members taking one more.
        let n = self.input.partitions.len();
        let mut assignment = BTreeMap::new();
        let mut next = 0usize;
        for (k, &member) in members.iter().enumerate() {
            let count = n / members.len() + usize::from(k < n % members.len());
            assignment.insert(member, (next..next + count).map(|p| p as i32).collect::<Vec<i32>>());
            next += count;
        }
        self.group.assignment = assignment.clone();
        for (member, partitions) in assignment {
            let inst = &mut self.instances[member];
            inst.generation = Some(self.group.generation);
            inst.positions.clear();
            inst.paused.clear();
            self.fetch_committed(member, partitions);
        }
    }

    /// Partitions whose offsets sit in a transaction that is neither committed nor aborted yet.
    fn unstable_offsets(&self) -> BTreeSet<i32> {
        self.coordinators
            .iter()
            .filter_map(|c| c.open.as_ref()?.offsets.as_ref())
            .flatten()
            .map(|point| point.partition)
            .collect()
    }

    /// Hands `member` its `partitions` with their committed offsets, once those are stable. As with
    /// KIP-447's `require_stable` (which librdkafka asks for when reading `read_committed`), offsets sent
    /// to a transaction that is still open are not handed out: the fetch is retried until the
    /// transaction is decided, so a new owner never resumes from the offsets before it.
    fn fetch_committed(&mut self, member: usize, partitions: Vec<i32>) {
        let unstable = self.unstable_offsets();
        if partitions.iter().any(|p| unstable.contains(p)) {
            self.note(|| {
                format!(
                    "instance {member} waits for the offsets of partitions {partitions:?}: a transaction holds them"
                )
            });
            let (incarnation, generation) = (self.instances[member].incarnation, self.group.generation);
            let at = self.now.plus(OFFSET_FETCH_BACKOFF).plus(self.latency());
            self.schedule(
                at,
                Event::FetchCommitted {
                    instance: member,
                    incarnation,
                    generation,
                    partitions,
                },
            );
            return;
        }
        let now = self.now;
        let assignments: Vec<Assignment> = partitions
            .iter()
            .map(|p| {
                let committed = self.group.committed.get(p);
                Assignment {
                    partition: *p,
                    committed: committed.map(|(o, _)| *o),
                    metadata: committed.map(|(_, m)| m.clone()).filter(|m| !m.is_empty()),
                }
            })
            .collect();
        self.note(|| {
            let what: Vec<String> = assignments
                .iter()
                .map(|a| format!("{}@{:?} {:?}", a.partition, a.committed, a.metadata))
                .collect();
            format!("instance {member} assigned {}", what.join(", "))
        });
        let inst = &mut self.instances[member];
        inst.positions = assignments
            .iter()
            .map(|a| (a.partition, a.committed.unwrap_or(0)))
            .collect();
        if let Some(core) = &mut inst.core {
            core.on_assign(now, &assignments);
        }
        self.pump(member);
        self.wake_fetch(member);
    }

    fn check_cores(&mut self) {
        for i in 0..self.instances.len() {
            let inst = &self.instances[i];
            let Some(core) = &inst.core else { continue };
            let stats = core.stats();
            if let Err(e) = stats.check_conservation() {
                self.violate(("counts add up", format!("instance {i}: {e}")));
                return;
            }
            if core.assigned().is_empty() {
                continue;
            }
            // Each assignment starts a fresh pipeline, whose watermark starts at −∞.
            let (pipeline_instance, watermark) = ((inst.incarnation, stats.assignments), core.watermark());
            if let Err(v) = self.checker.on_watermark(i, pipeline_instance, watermark) {
                self.violate(v);
                return;
            }
        }
    }

    fn final_checks(&mut self) {
        // The dead letters are exactly the records that do not decode.
        let mut expected_dead = BTreeSet::new();
        let mut reference = self.pipeline.start();
        let mut emitted = Emitted::default();
        let late = self.checker.late_positions().clone();
        for (p, log) in self.input.partitions.iter().enumerate() {
            // The partition's watermark before each record, as the Kafka core judges it: each window of a
            // record that it had passed is dropped (a sliding window's record may keep some windows only).
            let mut partition_clock = BoundedOutOfOrderness::new(self.config.max_out_of_orderness);
            for record in log.visible(self.isolation) {
                let position = (p as i32, record.offset);
                let r = Record::new(
                    record.value.clone(),
                    Position::Offset {
                        partition: position.0,
                        offset: position.1,
                    },
                );
                let mut decoded = self.pipeline.decode_record(r);
                let Some(t) = decoded.event_time() else {
                    expected_dead.insert(position);
                    continue;
                };
                decoded.lateness_horizon = partition_clock.current();
                partition_clock.observe(t);
                if !late.contains(&position) {
                    reference.process_decoded(vec![decoded], &mut emitted);
                }
            }
        }
        reference.advance_watermark(Watermark::MAX, &mut emitted);
        if let Some(missing) = expected_dead.difference(self.checker.dead_letter_positions()).next() {
            self.violate((
                "every record that does not decode is dead-lettered",
                format!(
                    "partition {} offset {} is not in the dead-letter topic",
                    missing.0, missing.1
                ),
            ));
            return;
        }
        if let Some(extra) = self.checker.dead_letter_positions().difference(&expected_dead).next() {
            self.violate((
                "only records that do not decode are dead-lettered",
                format!("partition {} offset {} decodes but was dead-lettered", extra.0, extra.1),
            ));
            return;
        }
        let expected: BTreeMap<Vec<u8>, Vec<u8>> = emitted
            .outputs
            .iter()
            .map(|o| (o.value.message_key(), o.value.message_value()))
            .collect();
        if !self.output_equals_reference() {
            // The weaker rule: every window of the reference was emitted at least once.
            if let Some(missing) = expected.keys().find(|k| !self.checker.outputs().contains_key(*k)) {
                self.violate((
                    "every window of the reference is emitted at least once",
                    format!("{} was never emitted", String::from_utf8_lossy(missing)),
                ));
            }
            return;
        }
        if let Some(difference) = describe_difference(&expected, self.checker.outputs()) {
            self.violate((
                "the output equals the reference (same records, perfect watermark, minus those reported late)",
                difference,
            ));
        }
    }

    /// Whether the run's output must equal the reference exactly (see `one_value_per_key`).
    fn output_equals_reference(&self) -> bool {
        self.checker.one_value_per_key
    }

    fn report(self) -> ClusterReport {
        let reported = |topic: &Topic, isolation| {
            topic.partitions[0]
                .visible(isolation)
                .into_iter()
                .map(|r| ReportedRecord {
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                })
                .collect()
        };
        let rules = Rules {
            one_value_per_key: self.checker.one_value_per_key,
            output_equals_reference: self.output_equals_reference(),
        };
        ClusterReport {
            rules,
            output: self.outputs[OUTPUT].partitions[0]
                .visible(self.isolation)
                .into_iter()
                .map(|r| r.value.clone())
                .collect(),
            dead_letters: reported(&self.outputs[DEAD_LETTERS], self.isolation),
            late: reported(&self.outputs[LATE], self.isolation),
            violation: self.violation,
            plan: self.options.plan.clone(),
            stats: self.stats,
            baseline: self.baseline,
            trace: self.trace,
        }
    }
}

/// The message key `datagen` gives a visit: its `id`, when the record is a JSON object with a string `id`.
fn record_key(value: &[u8]) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Keyed<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Keyed>(value)
        .ok()
        .map(|k| k.id.as_bytes().to_vec())
}
