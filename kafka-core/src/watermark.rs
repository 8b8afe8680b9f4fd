//! Per-partition watermarks with idleness: how a consumer turns the event times it reads from several
//! partitions into one pipeline watermark, and when silence may advance it.
//!
//! # The rule
//!
//! For every assigned partition `p` the core keeps
//!
//! * `max_p`, the largest event time among the records of `p` read since the assignment;
//! * `floor_p`, the watermark restored from `p`'s committed checkpoint (−∞ when there is none, see
//!   [`crate::ledger`]): every window ending at or before it has already been emitted for `p`;
//! * `last_p`, the processing time `p` last delivered a record (or, before its first one, was assigned);
//! * the latest **end-offset report** of `p`: the broker answered, at processing time `r_p`, that the
//!   partition ends at offset `end_p` while the consumer's fetch position was `position_p`.
//!
//! The partition watermark is `wm_p = max(floor_p, max_p − max_out_of_orderness)` (−∞ while both are
//! unknown): bounded out-of-orderness, per partition, as Beam's and Flink's Kafka sources do it.
//!
//! A partition is **caught up** at `now` when its latest report is fresh (`now − r_p < idle_timeout / 2`)
//! and says `position_p ≥ end_p`. It has been caught up **since** `c_p` when every report from `c_p` on
//! said so, with no gap in which the last one went stale, and no record arrived. It is **idle** when it has
//! been caught up for the idle timeout: `now − c_p ≥ idle_timeout`. Only silence while the broker keeps
//! saying there is nothing more counts: a partition that cannot be fetched (a broker outage, a leader
//! moving) is never idle, however long it is silent, and after an outage its silence starts over, so
//! records the producers buffered during the outage are read before the partition can stop holding the
//! watermark.
//!
//! The pipeline watermark is then
//!
//! * the minimum of `wm_p` over the assigned partitions that are not idle, when there is at least one;
//! * when every assigned partition is idle and at least one record was read since the assignment:
//!   `now − max_out_of_orderness`, the rule of Beam `KafkaIO`'s timestamp policy for a reader that has
//!   caught up (event time is expected to follow processing time, so "now minus the bound" is the earliest
//!   time a record arriving from now on can carry). It keeps advancing with processing time, so the last
//!   windows close although no more records come;
//! * otherwise (no partition assigned, or nothing read yet) it does not move.
//!
//! The pipeline watermark never moves backwards: a partition that wakes up again (or is newly assigned)
//! with a lower `wm_p` holds it where it is, and its records behind it are late. That is the price of
//! idleness, as in Flink's `withIdleness`: choose `idle_timeout` longer than any pause a live producer can
//! have. Processing time is passed in, never read here.

use std::collections::BTreeMap;

use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::watermark::BoundedOutOfOrderness;

/// What the broker answered about one partition: where it ends and where the consumer's fetch stands.
///
/// `end` is the log end offset (the last stable offset when reading `read_committed`); `position` is the
/// next offset the consumer will fetch (past transaction markers and aborted records, which are never
/// delivered). `position >= end` means everything there is has been fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOffsets {
    /// The consumer's fetch position.
    pub position: i64,
    /// The end of the partition as the consumer may read it.
    pub end: i64,
}

impl EndOffsets {
    /// True when nothing is left to fetch.
    pub fn caught_up(&self) -> bool {
        self.position >= self.end
    }
}

/// The watermark state of one assigned partition.
#[derive(Debug, Clone)]
struct PartitionClock {
    generator: BoundedOutOfOrderness,
    floor: Watermark,
    last_active: Timestamp,
    report: Option<(EndOffsets, Timestamp)>,
    /// Since when fresh reports have said, without a gap, that the partition is caught up.
    caught_up_since: Option<Timestamp>,
}

impl PartitionClock {
    fn watermark(&self) -> Watermark {
        self.floor.max(self.generator.current())
    }
}

/// The watermarks of the partitions assigned to one consumer, min-combined with idleness (see the module
/// docs for the exact rule).
///
/// ```
/// use kafka_core::watermark::{EndOffsets, PartitionWatermarks};
/// use pipeline::time::{Duration, Timestamp, Watermark};
///
/// let at = Timestamp::from_millis;
/// let mut wm = PartitionWatermarks::new(Duration::seconds(5), Duration::seconds(10));
/// wm.assign(0, Watermark::MIN, None, at(0));
/// wm.assign(1, Watermark::MIN, None, at(0));
/// wm.observe(0, Some(at(60_000)), at(0));
/// wm.observe(1, Some(at(30_000)), at(0));
/// assert_eq!(wm.compute(at(0)), Watermark::at(at(25_000)));
/// // Partition 1 falls silent. Silence alone holds the watermark back...
/// wm.observe(0, Some(at(70_000)), at(11_000));
/// assert_eq!(wm.compute(at(11_000)), Watermark::at(at(25_000)));
/// // ...until the broker has said for the idle timeout that partition 1 has nothing more to fetch.
/// for now in [11_000, 13_500, 16_000, 18_500, 21_000] {
///     wm.on_end_offsets(1, EndOffsets { position: 8, end: 8 }, at(now));
/// }
/// assert_eq!(wm.compute(at(21_000)), Watermark::at(at(65_000)));
/// ```
#[derive(Debug, Clone)]
pub struct PartitionWatermarks {
    bound: Duration,
    idle_timeout: Duration,
    partitions: BTreeMap<i32, PartitionClock>,
    seen_record: bool,
    current: Watermark,
}

impl PartitionWatermarks {
    /// No partitions yet; `bound` is the out-of-orderness allowed within a partition, `idle_timeout` how
    /// long a caught-up partition may be silent before it stops holding the watermark back.
    pub fn new(bound: Duration, idle_timeout: Duration) -> Self {
        PartitionWatermarks {
            bound,
            idle_timeout,
            partitions: BTreeMap::new(),
            seen_record: false,
            current: Watermark::MIN,
        }
    }

    /// How old an end-offset report may be and still prove a partition caught up.
    pub fn report_freshness(&self) -> Duration {
        Duration::millis((self.idle_timeout.as_millis() / 2).max(1))
    }

    /// Starts tracking `partition`, whose restored checkpoint says every window ending at or before `floor`
    /// was emitted and that the records before the committed offset reached `max_event_time`. It counts
    /// as active (not idle) from `now`.
    pub fn assign(&mut self, partition: i32, floor: Watermark, max_event_time: Option<Timestamp>, now: Timestamp) {
        let mut generator = BoundedOutOfOrderness::new(self.bound);
        if let Some(t) = max_event_time {
            generator.observe(t);
        }
        self.partitions.insert(
            partition,
            PartitionClock {
                generator,
                floor,
                last_active: now,
                report: None,
                caught_up_since: None,
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
    /// that decoded (`None` when none did: the partition is active all the same).
    pub fn observe(&mut self, partition: i32, max_event_time: Option<Timestamp>, now: Timestamp) {
        let Some(clock) = self.partitions.get_mut(&partition) else {
            return;
        };
        clock.last_active = clock.last_active.max(now);
        // Records came: the partition was not caught up, whatever an earlier report said.
        clock.caught_up_since = None;
        self.seen_record = true;
        if let Some(t) = max_event_time {
            clock.generator.observe(t);
        }
    }

    /// The broker answered at `now` where `partition` ends and where the fetch stands.
    pub fn on_end_offsets(&mut self, partition: i32, offsets: EndOffsets, now: Timestamp) {
        let freshness = self.report_freshness();
        let Some(clock) = self.partitions.get_mut(&partition) else {
            return;
        };
        // A report older than the latest, or than the last record, says nothing new.
        if clock.report.is_some_and(|(_, at)| at > now) || now < clock.last_active {
            return;
        }
        let continues = clock
            .report
            .is_some_and(|(previous, at)| previous.caught_up() && now.minus(freshness) < at);
        clock.caught_up_since = match (offsets.caught_up(), clock.caught_up_since) {
            (false, _) => None,
            (true, Some(since)) if continues => Some(since),
            (true, _) => Some(now),
        };
        clock.report = Some((offsets, now));
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

    /// The largest event time read from `partition` since the assignment.
    pub fn max_event_time(&self, partition: i32) -> Option<Timestamp> {
        self.partitions.get(&partition).and_then(|c| c.generator.max_seen())
    }

    /// Whether a fresh report at `now` says `partition` has nothing more to fetch.
    pub fn is_caught_up(&self, partition: i32, now: Timestamp) -> bool {
        self.partitions.get(&partition).is_some_and(|c| self.caught_up(c, now))
    }

    fn caught_up(&self, clock: &PartitionClock, now: Timestamp) -> bool {
        clock
            .report
            .is_some_and(|(offsets, at)| offsets.caught_up() && now.minus(self.report_freshness()) < at)
    }

    fn idle(&self, clock: &PartitionClock, now: Timestamp) -> bool {
        self.caught_up(clock, now)
            && clock
                .caught_up_since
                .is_some_and(|since| now.minus(self.idle_timeout) >= since)
    }

    /// Whether `partition` is idle at `now`: caught up and silent for the idle timeout.
    pub fn is_idle(&self, partition: i32, now: Timestamp) -> bool {
        self.partitions.get(&partition).is_some_and(|c| self.idle(c, now))
    }

    /// How many assigned partitions are idle at `now`.
    pub fn idle_count(&self, now: Timestamp) -> usize {
        self.partitions.values().filter(|c| self.idle(c, now)).count()
    }

    /// The partitions worth asking the broker about at `now`: those silent for at least a quarter of the
    /// idle timeout (they may be caught up; a busy partition plainly is not).
    pub fn silent_partitions(&self, now: Timestamp) -> Vec<i32> {
        let quarter = Duration::millis(self.idle_timeout.as_millis() / 4);
        self.partitions
            .iter()
            .filter(|(_, c)| now.minus(quarter) >= c.last_active)
            .map(|(p, _)| *p)
            .collect()
    }

    /// The earliest processing time after `now` at which a partition's idleness can change by the passing
    /// of time alone (a caught-up partition reaching the idle timeout, a report going stale), if any.
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        self.partitions
            .values()
            .flat_map(|c| {
                let idle_from = c.caught_up_since.map(|since| since.plus(self.idle_timeout));
                let report_stales = c.report.map(|(_, at)| at.plus(self.report_freshness()));
                [idle_from, report_stales]
            })
            .flatten()
            .filter(|t| *t > now)
            .min()
    }

    /// The pipeline watermark at processing time `now` (see the module docs), never behind the previous
    /// answer.
    pub fn compute(&mut self, now: Timestamp) -> Watermark {
        let active = self
            .partitions
            .values()
            .filter(|c| !self.idle(c, now))
            .map(PartitionClock::watermark)
            .min();
        let candidate = match active {
            Some(w) => w,
            None if !self.partitions.is_empty() && self.seen_record => Watermark::at(now.minus(self.bound)),
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

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn wm(ms: i64) -> Watermark {
        Watermark::at(at(ms))
    }

    fn two_partitions() -> PartitionWatermarks {
        let mut w = PartitionWatermarks::new(Duration::seconds(5), Duration::seconds(10));
        w.assign(0, Watermark::MIN, None, at(0));
        w.assign(1, Watermark::MIN, None, at(0));
        w
    }

    const CAUGHT_UP: EndOffsets = EndOffsets { position: 10, end: 10 };
    const BEHIND: EndOffsets = EndOffsets { position: 9, end: 10 };

    /// The broker says `partition` is caught up every 2.5 s (a quarter of the idle timeout) from `from`
    /// through `to`.
    fn caught_up(w: &mut PartitionWatermarks, partition: i32, from: i64, to: i64) {
        for now in (from..=to).step_by(2_500) {
            w.on_end_offsets(partition, CAUGHT_UP, at(now));
        }
    }

    #[test]
    fn a_partition_without_records_holds_the_watermark_at_minus_infinity() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        assert_eq!(w.compute(at(0)), Watermark::MIN);
    }

    #[test]
    fn the_pipeline_watermark_is_the_minimum_over_active_partitions() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        assert_eq!(w.compute(at(0)), wm(35_000));
        assert_eq!(w.partition_watermark(0), wm(95_000));
    }

    #[test]
    fn out_of_order_records_do_not_move_a_partition_watermark_back() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(0, Some(at(10_000)), at(0));
        assert_eq!(w.partition_watermark(0), wm(95_000));
    }

    #[test]
    fn a_caught_up_partition_stops_holding_the_watermark_back_after_the_idle_timeout() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        // Partition 1 is caught up from 2.5 s on, and stays so.
        caught_up(&mut w, 1, 2_500, 12_500);
        w.observe(0, Some(at(100_000)), at(12_499));
        assert_eq!(
            w.compute(at(12_499)),
            wm(35_000),
            "one millisecond before it has been caught up for the idle timeout"
        );
        assert!(w.is_idle(1, at(12_500)) && !w.is_idle(0, at(12_500)));
        assert_eq!(w.compute(at(12_500)), wm(95_000));
    }

    #[test]
    fn silence_during_an_outage_does_not_count_towards_idleness() {
        // Partition 1 went quiet at 0 and the broker did not answer for a minute. Once it answers again,
        // the partition must stay caught up for a whole idle timeout: records its producers buffered
        // during the outage get their chance to arrive first.
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        caught_up(&mut w, 1, 60_000, 69_999);
        w.observe(0, Some(at(100_000)), at(69_999));
        assert!(!w.is_idle(1, at(69_999)));
        caught_up(&mut w, 1, 70_000, 70_000);
        assert!(w.is_idle(1, at(70_000)));
    }

    #[test]
    fn a_record_restarts_the_silence() {
        let mut w = two_partitions();
        caught_up(&mut w, 1, 0, 7_500);
        w.observe(1, Some(at(40_000)), at(8_000));
        caught_up(&mut w, 1, 10_000, 17_500);
        assert!(!w.is_idle(1, at(17_500)), "caught up since 10 s only");
        caught_up(&mut w, 1, 20_000, 20_000);
        assert!(w.is_idle(1, at(20_000)));
    }

    #[test]
    fn silence_without_a_report_never_makes_a_partition_idle() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        for now in [10_000, 60_000, 3_600_000] {
            w.observe(0, Some(at(100_000)), at(now));
            assert_eq!(w.compute(at(now)), wm(35_000), "at {now} ms");
        }
    }

    #[test]
    fn a_partition_with_records_left_to_fetch_is_never_idle() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        w.on_end_offsets(1, BEHIND, at(20_000));
        w.observe(0, Some(at(100_000)), at(20_000));
        assert_eq!(w.compute(at(20_000)), wm(35_000));
    }

    #[test]
    fn a_stale_report_no_longer_proves_a_partition_caught_up() {
        // The broker answered until 10 s, then went silent (an outage): half the idle timeout after its
        // last answer, the report is stale and the partition holds the watermark again.
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        caught_up(&mut w, 1, 0, 10_000);
        w.observe(0, Some(at(100_000)), at(14_999));
        assert!(w.is_idle(1, at(14_999)));
        assert!(!w.is_idle(1, at(15_000)), "5 s after the last report it is stale");
        assert_eq!(w.next_change(at(14_000)), Some(at(15_000)));
    }

    #[test]
    fn when_every_partition_is_idle_the_watermark_follows_processing_time() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        caught_up(&mut w, 0, 0, 10_000);
        caught_up(&mut w, 1, 0, 10_000);
        assert_eq!(w.compute(at(10_000)), wm(5_000));
        caught_up(&mut w, 0, 12_500, 12_500);
        caught_up(&mut w, 1, 12_500, 12_500);
        assert_eq!(w.compute(at(13_000)), wm(8_000));
    }

    #[test]
    fn nothing_read_means_idleness_does_not_advance_the_watermark() {
        let mut w = two_partitions();
        caught_up(&mut w, 0, 0, 60_000);
        caught_up(&mut w, 1, 0, 60_000);
        assert!(w.is_idle(0, at(60_000)));
        assert_eq!(w.compute(at(60_000)), Watermark::MIN);
    }

    #[test]
    fn the_watermark_never_moves_back_when_a_partition_wakes_up() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(40_000)), at(0));
        caught_up(&mut w, 1, 0, 10_000);
        w.observe(0, Some(at(100_000)), at(10_000));
        assert_eq!(w.compute(at(10_000)), wm(95_000));
        w.observe(1, Some(at(41_000)), at(10_000));
        assert_eq!(w.compute(at(10_000)), wm(95_000));
    }

    #[test]
    fn a_restored_floor_is_a_lower_bound_of_the_partition_watermark() {
        let mut w = PartitionWatermarks::new(Duration::seconds(5), Duration::seconds(10));
        w.assign(0, wm(80_000), None, at(0));
        w.assign(1, wm(60_000), None, at(0));
        assert_eq!(w.compute(at(0)), wm(60_000));
        w.observe(0, Some(at(70_000)), at(0));
        assert_eq!(w.partition_watermark(0), wm(80_000));
        w.observe(1, Some(at(90_000)), at(0));
        assert_eq!(w.compute(at(0)), wm(80_000));
    }

    #[test]
    fn clearing_forgets_partitions_and_the_watermark() {
        let mut w = two_partitions();
        w.observe(0, Some(at(100_000)), at(0));
        w.observe(1, Some(at(100_000)), at(0));
        assert_eq!(w.compute(at(0)), wm(95_000));
        w.clear();
        assert_eq!(w.partitions().count(), 0);
        assert_eq!(w.compute(at(0)), Watermark::MIN);
    }

    #[test]
    fn only_silent_partitions_are_worth_asking_about() {
        let mut w = two_partitions();
        w.observe(0, Some(at(1)), at(3_000));
        assert_eq!(w.silent_partitions(at(3_000)), vec![1]);
        assert_eq!(w.silent_partitions(at(5_500)), vec![0, 1]);
    }
}
