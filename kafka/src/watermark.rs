//! Per-partition watermarks with idleness: how the Kafka runner turns the event times it reads from
//! several partitions into one pipeline watermark.
//!
//! # The rule
//!
//! For every assigned partition `p` the runner keeps
//!
//! * `max_p`, the largest event time among the records of `p` read since the assignment;
//! * `floor_p`, the watermark restored from `p`'s committed checkpoint (−∞ when there is none, see
//!   [`crate::ledger`]): every window ending at or before it has already been emitted for `p`;
//! * `last_p`, when `p` last delivered a record (or, before its first one, when it was assigned).
//!
//! The partition watermark is `wm_p = max(floor_p, max_p − max_out_of_orderness)` (−∞ while both are
//! unknown): bounded out-of-orderness, per partition, as Beam's and Flink's Kafka sources do it.
//!
//! A partition is **idle** when `now − last_p ≥ idle_timeout`. The pipeline watermark is then
//!
//! * the minimum of `wm_p` over the assigned partitions that are not idle, when there is at least one;
//! * when every assigned partition is idle and at least one record was read since the assignment:
//!   `wall_clock_now − max_out_of_orderness`, the rule of Beam's `KafkaIO` timestamp policy for a reader
//!   that has caught up (event time is expected to follow the wall clock, so "now minus the bound" is the
//!   earliest time a record arriving from now on can carry). It keeps advancing with processing time, so
//!   the last windows close even though no more records come. For a replay of old traffic it means
//!   "flush everything" once the input is exhausted;
//! * otherwise (no partition assigned, or nothing read yet) it does not move.
//!
//! The pipeline watermark never moves backwards: a partition that wakes up again (or is newly assigned)
//! with a lower `wm_p` holds it where it is, and its records behind it are late. That is the price of
//! idleness, as in Flink's `withIdleness`: choose `idle_timeout` longer than any pause a live partition
//! can have. Time is passed in, never read here, so the rule is unit-tested without a broker or a clock.

use std::collections::BTreeMap;
use std::time::Instant;

use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::watermark::BoundedOutOfOrderness;

/// The watermark state of one assigned partition.
#[derive(Debug, Clone)]
struct PartitionClock {
    generator: BoundedOutOfOrderness,
    floor: Watermark,
    last_active: Instant,
}

impl PartitionClock {
    fn watermark(&self) -> Watermark {
        self.floor.max(self.generator.current())
    }
}

/// The watermarks of the partitions assigned to one runner, min-combined with idleness (see the module
/// docs for the exact rule).
///
/// ```
/// use std::time::{Duration as Wall, Instant};
/// use kafka_runtime::watermark::PartitionWatermarks;
/// use pipeline::time::{Duration, Timestamp, Watermark};
///
/// let t0 = Instant::now();
/// let mut wm = PartitionWatermarks::new(Duration::seconds(5), Wall::from_secs(10));
/// wm.assign(0, Watermark::MIN, t0);
/// wm.assign(1, Watermark::MIN, t0);
/// wm.observe(0, Some(Timestamp::from_millis(60_000)), t0);
/// wm.observe(1, Some(Timestamp::from_millis(30_000)), t0);
/// assert_eq!(wm.compute(t0, Timestamp::EPOCH), Watermark::at(Timestamp::from_millis(25_000)));
/// // Partition 1 falls silent: after the idle timeout it no longer holds the watermark back.
/// let later = t0 + Wall::from_secs(11);
/// wm.observe(0, Some(Timestamp::from_millis(70_000)), later);
/// assert_eq!(wm.compute(later, Timestamp::EPOCH), Watermark::at(Timestamp::from_millis(65_000)));
/// ```
#[derive(Debug, Clone)]
pub struct PartitionWatermarks {
    bound: Duration,
    idle_timeout: std::time::Duration,
    partitions: BTreeMap<i32, PartitionClock>,
    seen_record: bool,
    current: Watermark,
}

impl PartitionWatermarks {
    /// No partitions yet; `bound` is the out-of-orderness allowed within a partition, `idle_timeout`
    /// how long a partition may be silent before it stops holding the watermark back.
    pub fn new(bound: Duration, idle_timeout: std::time::Duration) -> Self {
        PartitionWatermarks {
            bound,
            idle_timeout,
            partitions: BTreeMap::new(),
            seen_record: false,
            current: Watermark::MIN,
        }
    }

    /// Starts tracking `partition`, whose restored checkpoint says every window ending at or before
    /// `floor` was emitted. It counts as active (not idle) from `now`.
    pub fn assign(&mut self, partition: i32, floor: Watermark, now: Instant) {
        self.partitions.insert(
            partition,
            PartitionClock {
                generator: BoundedOutOfOrderness::new(self.bound),
                floor,
                last_active: now,
            },
        );
    }

    /// Stops tracking every partition (an eager rebalance revokes them all). The pipeline watermark is
    /// forgotten too: the next assignment starts a fresh pipeline.
    pub fn clear(&mut self) {
        self.partitions.clear();
        self.seen_record = false;
        self.current = Watermark::MIN;
    }

    /// The assigned partitions, in order.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.partitions.keys().copied()
    }

    /// Records of `partition` arrived at `now`; `max_event_time` is the largest event time among those
    /// that parsed (`None` when none did: the partition is active all the same).
    pub fn observe(&mut self, partition: i32, max_event_time: Option<Timestamp>, now: Instant) {
        let Some(clock) = self.partitions.get_mut(&partition) else {
            return;
        };
        clock.last_active = now;
        self.seen_record = true;
        if let Some(t) = max_event_time {
            clock.generator.observe(t);
        }
    }

    /// `max(floor_p, max_p − bound)` for one partition (−∞ for an unknown one).
    pub fn partition_watermark(&self, partition: i32) -> Watermark {
        self.partitions
            .get(&partition)
            .map_or(Watermark::MIN, PartitionClock::watermark)
    }

    /// The restored floor of `partition`.
    pub fn floor(&self, partition: i32) -> Watermark {
        self.partitions.get(&partition).map_or(Watermark::MIN, |c| c.floor)
    }

    /// Whether `partition` has been silent for the idle timeout at `now`.
    pub fn is_idle(&self, partition: i32, now: Instant) -> bool {
        self.partitions
            .get(&partition)
            .is_some_and(|c| now.saturating_duration_since(c.last_active) >= self.idle_timeout)
    }

    /// How many assigned partitions are idle at `now`.
    pub fn idle_count(&self, now: Instant) -> usize {
        self.partitions.keys().filter(|p| self.is_idle(**p, now)).count()
    }

    /// The pipeline watermark at monotonic time `now` and wall-clock time `wall` (see the module docs),
    /// never behind the previous answer.
    pub fn compute(&mut self, now: Instant, wall: Timestamp) -> Watermark {
        let active = self
            .partitions
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_active) < self.idle_timeout)
            .map(|(_, c)| c.watermark())
            .min();
        let candidate = match active {
            Some(w) => w,
            None if !self.partitions.is_empty() && self.seen_record => Watermark::at(wall.minus(self.bound)),
            None => self.current,
        };
        self.current = self.current.max(candidate);
        self.current
    }

    /// The last answer of [`compute`](Self::compute).
    pub fn current(&self) -> Watermark {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Wall;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn wm(ms: i64) -> Watermark {
        Watermark::at(at(ms))
    }

    fn two_partitions(t0: Instant) -> PartitionWatermarks {
        let mut w = PartitionWatermarks::new(Duration::seconds(5), Wall::from_secs(10));
        w.assign(0, Watermark::MIN, t0);
        w.assign(1, Watermark::MIN, t0);
        w
    }

    #[test]
    fn a_partition_without_records_holds_the_watermark_at_minus_infinity() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        assert_eq!(w.compute(t0, at(0)), Watermark::MIN);
    }

    #[test]
    fn the_pipeline_watermark_is_the_minimum_over_active_partitions() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        w.observe(1, Some(at(40_000)), t0);
        assert_eq!(w.compute(t0, at(0)), wm(35_000));
        assert_eq!(w.partition_watermark(0), wm(95_000));
    }

    #[test]
    fn out_of_order_records_do_not_move_a_partition_watermark_back() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        w.observe(0, Some(at(10_000)), t0);
        assert_eq!(w.partition_watermark(0), wm(95_000));
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark_back_after_the_timeout() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        w.observe(1, Some(at(40_000)), t0);
        let just_before = t0 + Wall::from_millis(9_999);
        w.observe(0, Some(at(100_000)), just_before);
        assert_eq!(w.compute(just_before, at(0)), wm(35_000));
        let after = t0 + Wall::from_secs(10);
        assert!(w.is_idle(1, after) && !w.is_idle(0, after));
        assert_eq!(w.compute(after, at(0)), wm(95_000));
    }

    #[test]
    fn when_every_partition_is_idle_the_watermark_follows_the_wall_clock() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        let idle = t0 + Wall::from_secs(10);
        assert_eq!(w.compute(idle, at(1_000_000)), wm(995_000));
        let later = idle + Wall::from_secs(3);
        assert_eq!(w.compute(later, at(1_003_000)), wm(998_000));
    }

    #[test]
    fn nothing_read_means_idleness_does_not_advance_the_watermark() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        assert_eq!(w.compute(t0 + Wall::from_secs(60), at(1_000_000)), Watermark::MIN);
    }

    #[test]
    fn the_watermark_never_moves_back_when_a_partition_wakes_up() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        w.observe(1, Some(at(40_000)), t0);
        let after = t0 + Wall::from_secs(10);
        w.observe(0, Some(at(100_000)), after);
        assert_eq!(w.compute(after, at(0)), wm(95_000));
        w.observe(1, Some(at(41_000)), after);
        assert_eq!(w.compute(after, at(0)), wm(95_000));
    }

    #[test]
    fn a_restored_floor_is_a_lower_bound_of_the_partition_watermark() {
        let t0 = Instant::now();
        let mut w = PartitionWatermarks::new(Duration::seconds(5), Wall::from_secs(10));
        w.assign(0, wm(80_000), t0);
        w.assign(1, wm(60_000), t0);
        assert_eq!(w.compute(t0, at(0)), wm(60_000));
        w.observe(0, Some(at(70_000)), t0);
        assert_eq!(w.partition_watermark(0), wm(80_000));
        w.observe(1, Some(at(90_000)), t0);
        assert_eq!(w.compute(t0, at(0)), wm(80_000));
    }

    #[test]
    fn clearing_forgets_partitions_and_the_watermark() {
        let t0 = Instant::now();
        let mut w = two_partitions(t0);
        w.observe(0, Some(at(100_000)), t0);
        w.observe(1, Some(at(100_000)), t0);
        assert_eq!(w.compute(t0, at(0)), wm(95_000));
        w.clear();
        assert_eq!(w.partitions().count(), 0);
        assert_eq!(w.compute(t0, at(0)), Watermark::MIN);
    }
}
