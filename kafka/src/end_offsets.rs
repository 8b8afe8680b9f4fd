//! Where each input partition ends, read from librdkafka's statistics: how the runner tells its
//! [`kafka_core::ConsumerCore`] which partitions are caught up (the core's
//! [`FetchEndOffsets`](kafka_core::Action::FetchEndOffsets) is answered by the next statistics).
//!
//! librdkafka emits statistics every `statistics.interval.ms`; the runner chooses a quarter of the idle
//! timeout, at least 100 ms ([`statistics_interval`]), so that while the broker answers a report younger
//! than half the idle timeout (what the core accepts as fresh) is always at hand. For each partition of
//! the input topic they give
//!
//! * `next_offset`: the fetch position, the next offset librdkafka will fetch. It moves past
//!   transaction markers and aborted records, which are never delivered, so a `read_committed` consumer
//!   that has read everything stands at the end, not before its last marker. Every record before it
//!   was fetched, and the statistics event is queued behind those records: by the time the polling
//!   thread sees the event it has already polled them (the runner hands the report to the core after
//!   them, in the same batch);
//! * `hi_offset`, the high watermark, or under `read_committed` `ls_offset`, the last stable offset:
//!   the end as the consumer may read it, as of the last fetch response;
//! * `broker`, the broker fetched from (the leader, unless fetching from a follower), whose `rxidle`
//!   says how many microseconds ago anything was last received from it (on its own connection: the
//!   group coordinator's logical connection is not looked at).
//!
//! They become [`EndOffsets`] `{ position: next_offset, end }`. A partition is reported only when its
//! broker received something less than half the idle timeout before the statistics were taken: during
//! a broker outage (a stopped or unreachable broker, a lost connection) the old end offsets would claim
//! a partition caught up that may have records waiting, so nothing is reported and the partition keeps
//! holding the watermark. A report is dated when the broker was last heard from (the statistics'
//! time minus `rxidle`), not when it reaches the core, so it goes stale as early as the core's rule
//! says. The end offsets can be up to one fetch wait (`fetch.wait.max.ms`, 500 ms) older than that
//! date when the last thing received was not a fetch response (a heartbeat): a partition is then
//! counted caught up a little longer than it has been known to be.
//!
//! **After an outage**, reports of the broker's partitions are held back until it has been heard from
//! in every statistics for one idle timeout. The producers buffered their records while the broker was
//! away and deliver them once it is back; a fetch answered before they land would report the old end,
//! and the core, which counts a partition's silence from its last record, would find the partition
//! caught up *and* silent for the whole outage, hence idle at once, and move the watermark past the
//! records still landing. Waiting one idle timeout gives the producers the time the idle timeout
//! promises them anyway ("longer than any pause a live producer can have").

use std::collections::BTreeMap;
use std::time::Duration as Wall;

use kafka_core::EndOffsets;
use pipeline::time::{Duration, Timestamp};
use rdkafka::statistics::Statistics;

/// The shortest statistics interval the runner asks for.
const MIN_STATISTICS_INTERVAL: Wall = Wall::from_millis(100);

/// How often librdkafka is asked for statistics with `idle_timeout`: a quarter of it, at least 100 ms.
///
/// ```
/// use std::time::Duration;
/// use kafka_runtime::end_offsets::statistics_interval;
/// assert_eq!(statistics_interval(Duration::from_secs(10)), Duration::from_millis(2500));
/// assert_eq!(statistics_interval(Duration::from_millis(200)), Duration::from_millis(100));
/// ```
pub fn statistics_interval(idle_timeout: Wall) -> Wall {
    (idle_timeout / 4).max(MIN_STATISTICS_INTERVAL)
}

/// What the broker said about one partition, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOffsetReport {
    /// The partition.
    pub partition: i32,
    /// Its fetch position and end.
    pub offsets: EndOffsets,
    /// When its broker was last heard from.
    pub at: Timestamp,
}

/// Reads [`EndOffsetReport`]s of one topic out of a consumer's statistics, one statistics after the
/// other (it remembers when each broker was last unheard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndOffsetReader {
    topic: String,
    read_committed: bool,
    idle_timeout: Duration,
    max_receive_idle: Duration,
    created_at: Timestamp,
    /// Per broker id: the time of the latest statistics in which it was not heard from recently.
    unheard: BTreeMap<i32, Timestamp>,
}

impl EndOffsetReader {
    /// A reader for `topic`, consumed `read_committed` or not, with `idle_timeout`, for a consumer
    /// created at wall-clock time `created_at` (statistics count their time from the client's creation).
    pub fn new(topic: impl Into<String>, read_committed: bool, idle_timeout: Wall, created_at: Timestamp) -> Self {
        let idle_ms = i64::try_from(idle_timeout.as_millis()).unwrap_or(i64::MAX);
        EndOffsetReader {
            topic: topic.into(),
            read_committed,
            idle_timeout: Duration::millis(idle_ms),
            max_receive_idle: Duration::millis(idle_ms / 2),
            created_at,
            unheard: BTreeMap::new(),
        }
    }

    /// The reports `statistics` holds, by partition: those of partitions whose broker was heard from
    /// recently, and in every statistics for the last idle timeout, with known offsets (see the module
    /// docs).
    pub fn reports(&mut self, statistics: &Statistics) -> Vec<EndOffsetReport> {
        // `age`: microseconds since the client was created, when the statistics were taken.
        let taken_at = self.created_at.plus(Duration::millis(statistics.age / 1000));
        let max_rxidle_us = self.max_receive_idle.as_millis().saturating_mul(1000);
        // Logical brokers (the group coordinator's handle) are other connections: not the fetch's.
        let brokers = || statistics.brokers.values().filter(|b| b.source != "logical");
        for broker in brokers() {
            // -1: nothing received yet on the current connection.
            if broker.rxidle < 0 || broker.rxidle >= max_rxidle_us {
                self.unheard.insert(broker.nodeid, taken_at);
            }
        }
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return Vec::new();
        };
        let mut reports: Vec<EndOffsetReport> = topic
            .partitions
            .values()
            // -1 is librdkafka's internal "unassigned" partition.
            .filter(|p| p.partition >= 0)
            .filter_map(|p| {
                let broker_id = if p.broker >= 0 { p.broker } else { p.leader };
                let broker = brokers().find(|b| b.nodeid == broker_id)?;
                let heard_throughout = self
                    .unheard
                    .get(&broker_id)
                    .is_none_or(|&at| taken_at.minus(self.idle_timeout) >= at);
                if !heard_throughout {
                    return None;
                }
                let end = if self.read_committed { p.ls_offset } else { p.hi_offset };
                // Negative offsets are librdkafka's "not known yet".
                if p.next_offset < 0 || end < 0 {
                    return None;
                }
                // Rounded up: the broker was heard from at least this long ago.
                let heard_ms = (broker.rxidle + 999) / 1000;
                Some(EndOffsetReport {
                    partition: p.partition,
                    offsets: EndOffsets {
                        position: p.next_offset,
                        end,
                    },
                    at: taken_at.minus(Duration::millis(heard_ms)),
                })
            })
            .collect();
        reports.sort_by_key(|r| r.partition);
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::statistics::{Broker, Partition, Topic};

    const CREATED: i64 = 1_714_345_959_000;

    fn reader(read_committed: bool) -> EndOffsetReader {
        EndOffsetReader::new(
            "website-visit",
            read_committed,
            Wall::from_secs(10),
            Timestamp::from_millis(CREATED),
        )
    }

    fn partition(partition: i32, next_offset: i64, hi_offset: i64, ls_offset: i64) -> Partition {
        Partition {
            partition,
            broker: 1,
            leader: 1,
            next_offset,
            hi_offset,
            ls_offset,
            ..Partition::default()
        }
    }

    /// Statistics taken 60 s after the client's creation, `rxidle_us` after broker 1 last answered.
    fn statistics(rxidle_us: i64, partitions: Vec<Partition>) -> Statistics {
        statistics_at(60_000, rxidle_us, partitions)
    }

    /// Statistics taken `age_ms` after the client's creation.
    fn statistics_at(age_ms: i64, rxidle_us: i64, partitions: Vec<Partition>) -> Statistics {
        let mut statistics = Statistics {
            age: age_ms * 1000,
            ..Statistics::default()
        };
        let brokers = [
            ("127.0.0.1:9092/bootstrap", -1, "configured", 0),
            ("127.0.0.1:9092/1", 1, "learned", rxidle_us),
            // The group coordinator's connection, whose receives say nothing about the fetch.
            ("GroupCoordinator", 1, "logical", 9_000_000),
        ];
        for (name, nodeid, source, rxidle) in brokers {
            statistics.brokers.insert(
                name.to_owned(),
                Broker {
                    name: name.to_owned(),
                    nodeid,
                    source: source.to_owned(),
                    rxidle,
                    ..Broker::default()
                },
            );
        }
        let topic = Topic {
            topic: "website-visit".to_owned(),
            partitions: partitions.into_iter().map(|p| (p.partition, p)).collect(),
            ..Topic::default()
        };
        statistics.topics.insert("website-visit".to_owned(), topic);
        statistics
    }

    #[test]
    fn a_partition_is_reported_with_its_fetch_position_and_high_watermark() {
        let reports = reader(false).reports(&statistics(
            200_000,
            vec![partition(1, 40, 40, 40), partition(0, 7, 9, 9), partition(-1, 0, 0, 0)],
        ));
        let at = Timestamp::from_millis(CREATED + 60_000 - 200);
        assert_eq!(
            reports,
            vec![
                EndOffsetReport {
                    partition: 0,
                    offsets: EndOffsets { position: 7, end: 9 },
                    at,
                },
                EndOffsetReport {
                    partition: 1,
                    offsets: EndOffsets { position: 40, end: 40 },
                    at,
                },
            ]
        );
        assert!(reports[1].offsets.caught_up() && !reports[0].offsets.caught_up());
    }

    #[test]
    fn read_committed_ends_at_the_last_stable_offset() {
        // An open transaction holds the last stable offset at 30; the fetch stands there.
        let reports = reader(true).reports(&statistics(0, vec![partition(0, 30, 35, 30)]));
        assert_eq!(reports[0].offsets, EndOffsets { position: 30, end: 30 });
        let reports = reader(false).reports(&statistics(0, vec![partition(0, 30, 35, 30)]));
        assert_eq!(reports[0].offsets, EndOffsets { position: 30, end: 35 });
    }

    #[test]
    fn nothing_is_reported_once_the_broker_was_silent_for_half_the_idle_timeout() {
        let caught_up = || vec![partition(0, 10, 10, 10)];
        assert_eq!(reader(false).reports(&statistics(4_999_999, caught_up())).len(), 1);
        assert!(reader(false).reports(&statistics(5_000_000, caught_up())).is_empty());
        // No receive yet on the current connection (it was lost and reopened).
        assert!(reader(false).reports(&statistics(-1, caught_up())).is_empty());
    }

    #[test]
    fn after_an_outage_reports_wait_until_the_broker_was_heard_for_one_idle_timeout() {
        let caught_up = || vec![partition(0, 10, 10, 10)];
        let mut reader = reader(false);
        assert_eq!(reader.reports(&statistics_at(20_000, 0, caught_up())).len(), 1);
        // Stopped: unheard for 6 s at 26 s. Back at 27 s: its producers' records may still be landing.
        assert!(reader
            .reports(&statistics_at(26_000, 6_000_000, caught_up()))
            .is_empty());
        assert!(reader.reports(&statistics_at(27_500, 100_000, caught_up())).is_empty());
        assert!(reader.reports(&statistics_at(35_999, 100_000, caught_up())).is_empty());
        // Heard in every statistics for the 10 s idle timeout since it was last unheard.
        assert_eq!(reader.reports(&statistics_at(36_000, 100_000, caught_up())).len(), 1);
    }

    #[test]
    fn a_partition_whose_broker_is_unknown_or_whose_offsets_are_not_known_yet_is_not_reported() {
        let mut elsewhere = partition(0, 10, 10, 10);
        elsewhere.broker = 7;
        elsewhere.leader = 7;
        let unknown_end = partition(1, 10, -1001, -1001);
        let unknown_position = partition(2, -1001, 10, 10);
        let reports = reader(false).reports(&statistics(0, vec![elsewhere, unknown_end, unknown_position]));
        assert!(reports.is_empty(), "{reports:?}");
    }

    #[test]
    fn other_topics_are_ignored() {
        let mut stats = statistics(0, vec![partition(0, 1, 1, 1)]);
        let topic = stats.topics.remove("website-visit").unwrap();
        stats.topics.insert("other".to_owned(), topic);
        assert!(reader(false).reports(&stats).is_empty());
    }
}
