//! The offset ledger: which input offsets are safe to commit, and the checkpoint a commit carries so
//! that a restart rebuilds exactly the windows that were still open.
//!
//! # What is committed
//!
//! A record is *done* once every window it was added to has fired and the resulting messages were
//! acknowledged by the broker (records that were dead-lettered or dropped as late are done once their
//! DLQ or late-topic message is acknowledged). The core commits only once every message sent before
//! the commit was decided is acknowledged, so at commit time "fired" implies "acknowledged". Per
//! partition the ledger commits the smallest offset among records that are not done, or the next
//! offset to read when all are.
//!
//! Tracking is per bundle, not per record: each bundle of a partition (consecutive offsets) is held
//! until the windowing core holds none of its records in any open state, which the core tells by the
//! earliest start among its open windows ([`OpenState`]): a bundle whose largest windowed event time
//! lies before that start is released. This is safe for every window function and trigger, because a
//! state holds only elements at or after its window's start: a session that can still merge and grow
//! holds its bundles until it is garbage-collected, and so does a window whose panes go on past its
//! end (allowed lateness, a `FIRE_ALWAYS` final pane, early and late firings). The price is that a
//! long session or the global window holds back its partition's commits for as long as it is open.
//! Holds are kept with strictly increasing event times (a bundle whose records are no later than the
//! one before it is released no later and adds nothing), so the queue stays short.
//!
//! # The checkpoint
//!
//! Committing the smallest open offset means a restart re-reads some records whose windows *have*
//! fired (a late element of an old window sits before records of newer, still open windows). Adding
//! those again would emit a second, partial pane for an already emitted window. So every commit carries
//! a [`Checkpoint`] in the offset's metadata:
//!
//! * `floor`: the pipeline watermark at commit time (at least the floor restored at assignment). Every
//!   window of this partition ending at or before it was emitted and acknowledged. With merging windows
//!   (sessions) the floor is also kept at or below the earliest open window's start: a record of a
//!   still-open session can lie far behind the watermark while its session grows, and the replay rule
//!   below, which judges a record by its own (unmerged) window, must not skip it. Every record of an
//!   open session is at or after the committed offset (the hold rule above), so a restart rebuilds the
//!   open sessions whole. A session that had closed can then be re-emitted with a partial count (some of
//!   its records skipped, others replayed): with sessions only the weaker rule holds, every session at
//!   least once.
//! * `replay_until`: the next offset to read at commit time. Records before it were processed by the
//!   committer.
//! * `max`: the largest event time among the partition's records before the committed offset. A restart
//!   starts its partition watermark from it, so the partition watermark before every record — against
//!   which the core judges lateness, see [`crate::ConsumerCore`] — is the same in every incarnation that
//!   reads the record: a replay decides lateness exactly as the first reading did.
//!
//! On restart, a record below `replay_until` whose windows all end at or before `floor` is skipped (it
//! was counted and emitted, or reported late, or dead-lettered, before the commit); every other record
//! is processed. Records at or after `replay_until` whose windows all end at or before `floor` are late
//! for this partition even if the new pipeline's watermark is lower (it can be, when partitions
//! committed by different instances meet in one). The runner applies these rules; this module keeps the
//! numbers. Brokers that drop commit metadata (tansu does) lose the checkpoint: a restart then treats
//! everything from the committed offset as new, which can re-emit a window with a partial count.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use pipeline::time::{Timestamp, Watermark};

/// Prefix of the offset metadata this crate writes.
const CHECKPOINT_TAG: &str = "kafka-runtime/2";
/// The previous format, without `max`: still read, its `max` taken as unknown (−∞).
const CHECKPOINT_TAG_V1: &str = "kafka-runtime/1";

/// What a committed offset carries in its metadata: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every window of the partition ending at or before this was emitted and acknowledged.
    pub floor: Watermark,
    /// Records before this offset were processed before the commit.
    pub replay_until: i64,
    /// The largest event time among the partition's records before the committed offset (`None`: none).
    pub max_event_time: Option<Timestamp>,
}

impl Checkpoint {
    /// The metadata text: `kafka-runtime/2 floor=<ms|-inf|+inf> replay-until=<offset> max=<ms|none>`.
    ///
    /// ```
    /// use kafka_core::ledger::Checkpoint;
    /// use pipeline::time::{Timestamp, Watermark};
    /// let c = Checkpoint {
    ///     floor: Watermark::at(Timestamp::from_millis(20_000)),
    ///     replay_until: 7,
    ///     max_event_time: Some(Timestamp::from_millis(26_000)),
    /// };
    /// assert_eq!(c.encode(), "kafka-runtime/2 floor=20000 replay-until=7 max=26000");
    /// assert_eq!(Checkpoint::decode(&c.encode()), Some(c));
    /// assert_eq!(Checkpoint::decode(""), None);
    /// ```
    pub fn encode(&self) -> String {
        let floor = match self.floor {
            Watermark::MIN => "-inf".to_owned(),
            Watermark::MAX => "+inf".to_owned(),
            w => w.timestamp().millis().to_string(),
        };
        let max = self
            .max_event_time
            .map_or_else(|| "none".to_owned(), |t| t.millis().to_string());
        format!(
            "{CHECKPOINT_TAG} floor={floor} replay-until={} max={max}",
            self.replay_until
        )
    }

    /// Reads metadata written by [`encode`](Self::encode) (or by the previous format, without `max`);
    /// `None` for anything else (empty metadata, another tool's).
    pub fn decode(text: &str) -> Option<Checkpoint> {
        let mut words = text.split_ascii_whitespace();
        let v1 = match words.next()? {
            CHECKPOINT_TAG => false,
            CHECKPOINT_TAG_V1 => true,
            _ => return None,
        };
        let floor = match words.next()?.strip_prefix("floor=")? {
            "-inf" => Watermark::MIN,
            "+inf" => Watermark::MAX,
            ms => Watermark::at(Timestamp::from_millis(ms.parse().ok()?)),
        };
        let replay_until = words.next()?.strip_prefix("replay-until=")?.parse().ok()?;
        let max_event_time = if v1 {
            None
        } else {
            match words.next()?.strip_prefix("max=")? {
                "none" => None,
                ms => Some(Timestamp::from_millis(ms.parse().ok()?)),
            }
        };
        if words.next().is_some() {
            return None;
        }
        Some(Checkpoint {
            floor,
            replay_until,
            max_event_time,
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "floor {} replay-until {}", self.floor, self.replay_until)?;
        match self.max_event_time {
            Some(t) => write!(f, " max {t}"),
            None => Ok(()),
        }
    }
}

/// An offset to commit for one partition, with its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPoint {
    /// The partition.
    pub partition: i32,
    /// The offset to commit: the next record a restart reads.
    pub offset: i64,
    /// The metadata to commit with it.
    pub checkpoint: Checkpoint,
}

/// How the runner must treat a record, given its partition's restored checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Process it normally: no checkpoint rule applies.
    Process,
    /// It lies before the checkpoint's `replay_until`: decode it, skip it if all its windows end at or
    /// before `floor` (or it does not decode), process it otherwise.
    BeforeCheckpoint {
        /// The partition's floor.
        floor: Watermark,
    },
    /// It is new, but the partition's floor is ahead of the pipeline watermark: decode it, and if all
    /// its windows end at or before `floor` it is late.
    BehindFloor {
        /// The partition's floor.
        floor: Watermark,
    },
}

#[derive(Debug, Clone)]
struct PartitionLedger {
    /// The committed offset found at assignment, if any.
    start: Option<i64>,
    /// One past the last record processed (or skipped) since the assignment.
    next: Option<i64>,
    restored: Option<Checkpoint>,
    /// Held bundles, release times strictly increasing.
    holds: VecDeque<Hold>,
    /// The largest event time read so far (the restored one included).
    max_event_time: Option<Timestamp>,
    /// The last point the broker accepted.
    last_commit: Option<(i64, Checkpoint)>,
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    /// The bundle's first offset.
    first: i64,
    /// The largest event time among the bundle's records that went into a window: once every open
    /// window starts after it, no state holds any record of the bundle.
    windowed_max: Timestamp,
    /// The partition's largest event time before the bundle.
    max_before: Option<Timestamp>,
}

/// What the windowing core still holds, as the ledger needs it to release bundles and bound the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenState {
    /// The earliest start among the core's open windows (`None`: none is open).
    pub earliest_window_start: Option<Timestamp>,
    /// True when windows merge (sessions): the checkpoint's floor then stays at or below
    /// `earliest_window_start` (see the module docs).
    pub merging: bool,
}

impl OpenState {
    /// True when no open window can hold an element at or before `t`.
    fn releases(&self, t: Timestamp) -> bool {
        self.earliest_window_start.is_none_or(|start| start > t)
    }
}

/// The commit bookkeeping of every assigned partition.
///
/// ```
/// use kafka_core::ledger::OffsetLedger;
/// use pipeline::time::{Timestamp, Watermark};
///
/// let mut ledger = OffsetLedger::default();
/// use kafka_core::ledger::OpenState;
/// let at = |ms| Timestamp::from_millis(ms);
/// let open_from = |ms| OpenState { earliest_window_start: Some(at(ms)), merging: false };
/// ledger.assign(0, None, None);
/// // Offsets 0..=9 went into the window [0 s, 20 s); 10..=19 into [20 s, 40 s).
/// ledger.processed(0, 0, 9, Some(at(19_000)), Some(at(19_000)));
/// ledger.processed(0, 10, 19, Some(at(39_000)), Some(at(39_000)));
/// let wm = |ms| Watermark::at(at(ms));
/// assert_eq!(ledger.commit_points(wm(19_999), open_from(0))[0].offset, 0);
/// // [0 s, 20 s) fired and was dropped: the earliest open window starts at 20 s.
/// let point = ledger.commit_points(wm(20_000), open_from(20_000))[0];
/// // A restart from offset 10 starts the partition's watermark from the largest event time before it.
/// assert_eq!((point.offset, point.checkpoint.max_event_time), (10, Some(at(19_000))));
/// assert_eq!(ledger.commit_points(wm(40_000), OpenState::default())[0].offset, 20);
/// ```
#[derive(Debug, Clone, Default)]
pub struct OffsetLedger {
    partitions: BTreeMap<i32, PartitionLedger>,
}

impl OffsetLedger {
    /// Starts tracking `partition`, which resumes from `committed` (`None`: no commit, the consumer
    /// starts by `auto.offset.reset`) with the checkpoint found in its metadata, if any.
    pub fn assign(&mut self, partition: i32, committed: Option<i64>, checkpoint: Option<Checkpoint>) {
        // A checkpoint only means something together with the offset it was committed with.
        let restored = checkpoint.filter(|_| committed.is_some());
        self.partitions.insert(
            partition,
            PartitionLedger {
                start: committed,
                next: None,
                restored,
                holds: VecDeque::new(),
                max_event_time: restored.and_then(|c| c.max_event_time),
                last_commit: None,
            },
        );
    }

    /// Forgets every partition (they were revoked).
    pub fn clear(&mut self) {
        self.partitions.clear();
    }

    /// Whether `partition` is tracked.
    pub fn is_assigned(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// The checkpoint restored for `partition` at assignment.
    pub fn restored(&self, partition: i32) -> Option<Checkpoint> {
        self.partitions.get(&partition).and_then(|p| p.restored)
    }

    /// The largest event time of `partition` read so far, the restored one included.
    pub fn max_event_time(&self, partition: i32) -> Option<Timestamp> {
        self.partitions.get(&partition).and_then(|p| p.max_event_time)
    }

    /// The floor restored for `partition` (−∞ without a checkpoint).
    pub fn floor(&self, partition: i32) -> Watermark {
        self.restored(partition).map_or(Watermark::MIN, |c| c.floor)
    }

    /// How the record at `offset` of `partition` must be treated when the pipeline watermark is
    /// `watermark` (see [`Replay`]).
    pub fn replay_rule(&self, partition: i32, offset: i64, watermark: Watermark) -> Replay {
        match self.restored(partition) {
            Some(c) if offset < c.replay_until => Replay::BeforeCheckpoint { floor: c.floor },
            Some(c) if c.floor > watermark => Replay::BehindFloor { floor: c.floor },
            _ => Replay::Process,
        }
    }

    /// Records `first..=last` of `partition` were handled. `windowed_max` is the largest event time among
    /// those added to a window (`None` when none was: all were skipped, dead-lettered or late, and are
    /// done once the producer is flushed); `max_event_time` the largest event time among those that
    /// decoded, skipped and late ones included.
    pub fn processed(
        &mut self,
        partition: i32,
        first: i64,
        last: i64,
        windowed_max: Option<Timestamp>,
        max_event_time: Option<Timestamp>,
    ) {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return;
        };
        debug_assert!(first <= last);
        p.next = Some(p.next.map_or(last + 1, |n| n.max(last + 1)));
        let max_before = p.max_event_time;
        p.max_event_time = p.max_event_time.max(max_event_time);
        if let Some(windowed_max) = windowed_max {
            if p.holds.back().is_none_or(|h| windowed_max > h.windowed_max) {
                p.holds.push_back(Hold {
                    first,
                    windowed_max,
                    max_before,
                });
            }
        }
    }

    /// The offsets to commit now that the pipeline watermark is `watermark`, the windowing core holds
    /// `open`, and everything produced so far is acknowledged; only partitions whose offset or checkpoint
    /// changed since the last [`committed`](Self::committed) are listed.
    pub fn commit_points(&mut self, watermark: Watermark, open: OpenState) -> Vec<CommitPoint> {
        let mut points = Vec::new();
        // With merging windows a record of an open session can lie behind the watermark: the floor must
        // stay at or below the earliest open start, so that a replay never skips such a record.
        let floor_now = match (open.merging, open.earliest_window_start) {
            (true, Some(start)) => watermark.min(Watermark::at(start)),
            _ => watermark,
        };
        for (&partition, p) in &mut self.partitions {
            while p.holds.front().is_some_and(|h| open.releases(h.windowed_max)) {
                p.holds.pop_front();
            }
            let (offset, max_event_time) = match (p.holds.front(), p.next, p.start) {
                (Some(hold), _, _) => (hold.first, hold.max_before),
                (None, Some(next), _) => (next, p.max_event_time),
                (None, None, Some(start)) => (start, p.max_event_time),
                (None, None, None) => continue,
            };
            let restored = p.restored.unwrap_or(Checkpoint {
                floor: Watermark::MIN,
                replay_until: offset,
                max_event_time: None,
            });
            let checkpoint = Checkpoint {
                floor: restored.floor.max(floor_now),
                replay_until: restored.replay_until.max(p.next.unwrap_or(offset)).max(offset),
                max_event_time,
            };
            // Any change matters: a transaction that makes the effects of newly read records visible must
            // also move `replay_until` past them, or a replay would report them again.
            if p.last_commit == Some((offset, checkpoint)) {
                continue;
            }
            points.push(CommitPoint {
                partition,
                offset,
                checkpoint,
            });
        }
        points
    }

    /// The broker accepted `points`.
    pub fn committed(&mut self, points: &[CommitPoint]) {
        for point in points {
            if let Some(p) = self.partitions.get_mut(&point.partition) {
                p.last_commit = Some((point.offset, point.checkpoint));
            }
        }
    }

    /// The next offset to read of `partition`, when known.
    pub fn position(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition).and_then(|p| p.next.or(p.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn wm(ms: i64) -> Watermark {
        Watermark::at(t(ms))
    }

    /// The open state of fixed windows when the watermark is at `ms`: every window that ended by then
    /// fired and was dropped, so the earliest open window starts at `ms` or later.
    fn open_from(ms: i64) -> OpenState {
        OpenState {
            earliest_window_start: Some(t(ms)),
            merging: false,
        }
    }

    #[test]
    fn checkpoints_round_trip_including_infinities() {
        for floor in [Watermark::MIN, Watermark::MAX, wm(-5), wm(1_714_345_980_000)] {
            for max_event_time in [None, Some(t(-7)), Some(t(1_714_345_980_123))] {
                let c = Checkpoint {
                    floor,
                    replay_until: 42,
                    max_event_time,
                };
                assert_eq!(Checkpoint::decode(&c.encode()), Some(c));
            }
        }
        for bad in [
            "x",
            "kafka-runtime/2",
            "kafka-runtime/2 floor=x replay-until=1 max=none",
            "kafka-runtime/2 floor=1 replay-until=1",
            "kafka-runtime/2 floor=1 replay-until=1 max=none extra",
            "other floor=1 replay-until=1",
        ] {
            assert_eq!(Checkpoint::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn checkpoints_of_the_previous_format_are_read_with_an_unknown_max() {
        assert_eq!(
            Checkpoint::decode("kafka-runtime/1 floor=20000 replay-until=7"),
            Some(Checkpoint {
                floor: wm(20_000),
                replay_until: 7,
                max_event_time: None
            })
        );
    }

    #[test]
    fn a_commit_carries_the_largest_event_time_before_its_offset() {
        let mut ledger = OffsetLedger::default();
        let restored = Checkpoint {
            floor: Watermark::MIN,
            replay_until: 0,
            max_event_time: Some(t(5_000)),
        };
        ledger.assign(0, Some(10), Some(restored));
        assert_eq!(
            ledger.commit_points(wm(0), open_from(0))[0].checkpoint.max_event_time,
            Some(t(5_000))
        );
        ledger.processed(0, 10, 19, Some(t(40_000 - 1)), Some(t(21_000)));
        ledger.processed(0, 20, 29, Some(t(60_000 - 1)), Some(t(45_000)));
        let point = ledger.commit_points(wm(40_000), open_from(40_000))[0];
        assert_eq!((point.offset, point.checkpoint.max_event_time), (20, Some(t(21_000))));
        let point = ledger.commit_points(wm(60_000), open_from(60_000))[0];
        assert_eq!((point.offset, point.checkpoint.max_event_time), (30, Some(t(45_000))));
        assert_eq!(ledger.max_event_time(0), Some(t(45_000)));
    }

    #[test]
    fn a_partition_never_read_and_never_committed_is_not_committed() {
        let mut ledger = OffsetLedger::default();
        ledger.assign(0, None, None);
        assert!(ledger.commit_points(wm(0), open_from(0)).is_empty());
    }

    #[test]
    fn a_partition_with_only_done_records_commits_the_next_offset() {
        let mut ledger = OffsetLedger::default();
        ledger.assign(3, Some(100), None);
        ledger.processed(3, 100, 149, None, None);
        let points = ledger.commit_points(wm(0), open_from(0));
        assert_eq!(points.len(), 1);
        assert_eq!((points[0].partition, points[0].offset), (3, 150));
        assert_eq!(
            points[0].checkpoint,
            Checkpoint {
                floor: wm(0),
                replay_until: 150,
                max_event_time: None
            }
        );
    }

    #[test]
    fn the_earliest_unreleased_bundle_bounds_the_commit() {
        let mut ledger = OffsetLedger::default();
        ledger.assign(0, Some(0), None);
        ledger.processed(0, 0, 9, Some(t(40_000 - 1)), None);
        ledger.processed(0, 10, 19, Some(t(20_000 - 1)), None);
        ledger.processed(0, 20, 29, Some(t(60_000 - 1)), None);
        // 10..=19 released first, but 0..=9 still waits: nothing past 0 is safe.
        assert_eq!(ledger.commit_points(wm(20_000), open_from(20_000))[0].offset, 0);
        assert_eq!(ledger.commit_points(wm(40_000), open_from(40_000))[0].offset, 20);
        assert_eq!(ledger.commit_points(wm(60_000), open_from(60_000))[0].offset, 30);
    }

    #[test]
    fn unchanged_points_are_not_listed_again() {
        let mut ledger = OffsetLedger::default();
        ledger.assign(0, Some(0), None);
        ledger.processed(0, 0, 9, None, None);
        let points = ledger.commit_points(wm(5), open_from(5));
        ledger.committed(&points);
        assert!(ledger.commit_points(wm(5), open_from(5)).is_empty());
        assert_eq!(
            ledger.commit_points(wm(6), open_from(6)).len(),
            1,
            "a higher floor is worth committing"
        );
    }

    #[test]
    fn records_read_behind_a_held_bundle_move_replay_until_and_are_worth_committing() {
        // The offset stays at the held bundle, the floor does not move, but offsets 10..=19 were read: a
        // commit must say so, or a replay would treat them as new (and report a late one twice).
        let mut ledger = OffsetLedger::default();
        ledger.assign(0, Some(0), None);
        ledger.processed(0, 0, 9, Some(t(40_000 - 1)), None);
        let points = ledger.commit_points(wm(5), open_from(5));
        ledger.committed(&points);
        ledger.processed(0, 10, 19, None, None);
        let points = ledger.commit_points(wm(5), open_from(5));
        assert_eq!(points.len(), 1);
        assert_eq!((points[0].offset, points[0].checkpoint.replay_until), (0, 20));
    }

    #[test]
    fn a_restored_checkpoint_keeps_its_replay_range_and_floor_until_passed() {
        let mut ledger = OffsetLedger::default();
        let restored = Checkpoint {
            floor: wm(80_000),
            replay_until: 50,
            max_event_time: None,
        };
        ledger.assign(0, Some(10), Some(restored));
        assert_eq!(
            ledger.replay_rule(0, 10, wm(0)),
            Replay::BeforeCheckpoint { floor: wm(80_000) }
        );
        assert_eq!(
            ledger.replay_rule(0, 50, wm(0)),
            Replay::BehindFloor { floor: wm(80_000) }
        );
        assert_eq!(ledger.replay_rule(0, 50, wm(80_000)), Replay::Process);
        // Nothing read yet: recommitting keeps the replay range and never lowers the floor.
        let points = ledger.commit_points(wm(60_000), open_from(60_000));
        assert_eq!(points[0].offset, 10);
        assert_eq!(points[0].checkpoint, restored);
        ledger.processed(0, 10, 19, Some(t(100_000 - 1)), None);
        let points = ledger.commit_points(wm(90_000), open_from(90_000));
        assert_eq!(points[0].offset, 10);
        assert_eq!(
            points[0].checkpoint,
            Checkpoint {
                floor: wm(90_000),
                replay_until: 50,
                max_event_time: None
            }
        );
    }

    #[test]
    fn a_checkpoint_without_a_committed_offset_is_ignored() {
        let mut ledger = OffsetLedger::default();
        ledger.assign(
            0,
            None,
            Some(Checkpoint {
                floor: wm(1),
                replay_until: 5,
                max_event_time: None,
            }),
        );
        assert_eq!(ledger.replay_rule(0, 0, Watermark::MIN), Replay::Process);
    }

    #[test]
    fn a_bundle_is_held_while_an_open_window_starts_at_or_before_its_records() {
        // A session [0 s, 50 s) is open: records at 10 s (offsets 0..=9) are in it even though the
        // watermark is far past their own gap; the bundle at 60 s is behind it in the queue.
        let mut ledger = OffsetLedger::default();
        ledger.assign(0, Some(0), None);
        ledger.processed(0, 0, 9, Some(t(10_000)), Some(t(10_000)));
        ledger.processed(0, 10, 19, Some(t(60_000)), Some(t(60_000)));
        let session_open = OpenState {
            earliest_window_start: Some(t(0)),
            merging: true,
        };
        let point = ledger.commit_points(wm(45_000), session_open)[0];
        assert_eq!(point.offset, 0, "held by the open session");
        assert_eq!(
            point.checkpoint.floor,
            wm(0),
            "the floor stays at the open session's start"
        );
        // The session closed; the window opened by 60 s is the earliest open one.
        let later = OpenState {
            earliest_window_start: Some(t(60_000)),
            merging: true,
        };
        let point = ledger.commit_points(wm(85_000), later)[0];
        assert_eq!(point.offset, 10);
        assert_eq!(point.checkpoint.floor, wm(60_000));
        assert_eq!(ledger.commit_points(wm(95_000), OpenState::default())[0].offset, 20);
    }

    #[test]
    fn a_window_kept_open_past_its_end_holds_its_bundle_until_it_is_dropped() {
        // Allowed lateness (or a FIRE_ALWAYS final pane) keeps [0 s, 20 s) open after the watermark
        // passes 20 s: the old rule released the bundle at 20 s, and a crash then lost the window's state.
        let mut ledger = OffsetLedger::default();
        ledger.assign(0, Some(0), None);
        ledger.processed(0, 0, 9, Some(t(19_000)), Some(t(19_000)));
        let still_open = OpenState {
            earliest_window_start: Some(t(0)),
            merging: false,
        };
        let point = ledger.commit_points(wm(25_000), still_open)[0];
        assert_eq!((point.offset, point.checkpoint.floor), (0, wm(25_000)));
        assert_eq!(ledger.commit_points(wm(30_000), OpenState::default())[0].offset, 10);
    }
}
