//! What a Kafka runner is told: topics, group, watermark and commit settings, and the librdkafka
//! configurations derived from them.
//!
//! [`RunnerOptions`] holds every setting of the `traffic-agg` binary except the windowing, which
//! belongs to the pipeline ([`pipeline::traffic::TrafficConfig`]). The protocol's settings go to the
//! consumer core as a [`CoreConfig`] ([`RunnerOptions::core_config`]); their defaults are
//! [`kafka_core::defaults`]. The client settings that the runner's guarantees rest on are fixed here and
//! cannot be overridden: manual commits, eager rebalancing (an eager revoke drops all state at once, see
//! [`crate::runner`]), `read_committed` input and a transactional producer in exactly-once mode, and
//! statistics every quarter of the idle timeout (they tell which partitions are caught up, see
//! [`crate::end_offsets`]). The producer defaults to idempotent `acks=all`.

use std::time::Duration as Wall;

use kafka_core::{defaults, CoreConfig, Topics};
use pipeline::time::Duration;
use rdkafka::ClientConfig;

use crate::end_offsets::statistics_interval;

/// How long the fetcher waits before it looks again at a full prefetch queue (librdkafka's
/// `fetch.queue.backoff.ms`, 1 s by default): under the time the pipeline takes to empty it (a full
/// 64 MiB queue holds some 160,000 visits, 0.2 s of work even at 800,000 records/s), so the queue does
/// not run dry; 10 ms did no better in the benchmark and wakes the fetcher ten times as often.
const FETCH_QUEUE_BACKOFF: Wall = Wall::from_millis(100);

/// The settings of one runner (one `traffic-agg` process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerOptions {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The topic of raw visits.
    pub input_topic: String,
    /// The topic window results go to.
    pub output_topic: String,
    /// The consumer group: processes with the same group split the input's partitions.
    pub group_id: String,
    /// Bounded out-of-orderness allowed within one partition.
    pub max_out_of_orderness: Duration,
    /// How long a partition that is caught up may deliver nothing before it stops holding the
    /// watermark back (see [`kafka_core::watermark`]).
    pub idle_timeout: Wall,
    /// Records that do not parse go here (original bytes, reason and source position in headers).
    pub dlq_topic: Option<String>,
    /// Records dropped as late go here (original bytes, reason, event time and watermark in headers).
    pub late_topic: Option<String>,
    /// Outputs and input offsets in one Kafka transaction.
    pub exactly_once: bool,
    /// The producer's `transactional.id` in exactly-once mode: unique per running instance, stable
    /// across its restarts so a restart fences the crashed instance's open transaction.
    pub transactional_id: Option<String>,
    /// How often safe offsets are committed (and, in exactly-once mode, transactions committed).
    pub commit_interval: Wall,
    /// How often a progress line is logged (zero: never).
    pub progress_interval: Wall,
    /// The consumer's `session.timeout.ms`: how soon a crashed instance's partitions move.
    pub session_timeout: Wall,
    /// At most this many records of one partition are processed as one bundle; the watermark moves
    /// after each bundle, so this is also how coarsely lateness is judged while catching up.
    pub max_bundle: usize,
    /// At most this many records are handed from the polling thread to the processing thread at once.
    pub poll_batch: usize,
    /// Extra librdkafka settings for the consumer (applied before the fixed ones).
    pub consumer_properties: Vec<(String, String)>,
    /// Extra librdkafka settings for the producer: they override the defaults (`acks=all`,
    /// idempotence, `linger.ms=5`), not the transactional id.
    pub producer_properties: Vec<(String, String)>,
    /// Record what the pipeline sees to this scenario file, for an exact replay by `simulate`
    /// ([`crate::recording`]).
    pub record: Option<std::path::PathBuf>,
}

impl RunnerOptions {
    /// The seed's settings and [`kafka_core::defaults`]: `website-visit` in, `traffic-agg` out, group
    /// `traffic-agg`, 5 s out-of-orderness, 10 s idle timeout, commits every second, at-least-once.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        RunnerOptions {
            bootstrap_servers: bootstrap_servers.into(),
            input_topic: defaults::INPUT_TOPIC.to_owned(),
            output_topic: defaults::OUTPUT_TOPIC.to_owned(),
            group_id: defaults::OUTPUT_TOPIC.to_owned(),
            max_out_of_orderness: defaults::MAX_OUT_OF_ORDERNESS,
            idle_timeout: wall(defaults::IDLE_TIMEOUT),
            dlq_topic: None,
            late_topic: None,
            exactly_once: false,
            transactional_id: None,
            commit_interval: wall(defaults::COMMIT_INTERVAL),
            progress_interval: Wall::from_secs(10),
            session_timeout: Wall::from_secs(10),
            max_bundle: defaults::MAX_BUNDLE,
            poll_batch: 500,
            consumer_properties: Vec::new(),
            producer_properties: Vec::new(),
            record: None,
        }
    }

    /// What the consumer core is told: the topics and the watermark, commit and bundle settings (the
    /// rest are [`kafka_core::defaults`]).
    pub fn core_config(&self) -> CoreConfig {
        CoreConfig {
            topics: Topics {
                input: self.input_topic.clone(),
                output: self.output_topic.clone(),
                dead_letters: self.dlq_topic.clone(),
                late: self.late_topic.clone(),
            },
            max_out_of_orderness: self.max_out_of_orderness,
            idle_timeout: duration(self.idle_timeout),
            commit_interval: duration(self.commit_interval),
            max_bundle: self.max_bundle,
            exactly_once: self.exactly_once,
            ..CoreConfig::default()
        }
    }

    /// The transactional id used in exactly-once mode: the one given, else `<group>-<host>`.
    pub fn effective_transactional_id(&self) -> String {
        self.transactional_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned());
            format!("{}-{host}", self.group_id)
        })
    }

    /// The input consumer's configuration.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.consumer_properties {
            config.set(key, value);
        }
        let session_ms = self.session_timeout.as_millis().max(1);
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", &self.group_id)
            // The seed's consumer setting.
            .set("auto.offset.reset", "earliest")
            // Offsets are committed only once every window a record went into was acknowledged.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // Eager protocols revoke every partition at once; the runner relies on that.
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
        // Statistics say which partitions are caught up (crate::end_offsets); a report is fresh for
        // half the idle timeout, so they come every quarter of it.
        config.set(
            "statistics.interval.ms",
            statistics_interval(self.idle_timeout).as_millis().to_string(),
        );
        // An idle broker answers a fetch after `fetch.wait.max.ms` (500 ms by default); with a short
        // idle timeout it must answer more often than every half of it, or no report is ever fresh.
        let fetch_wait = statistics_interval(self.idle_timeout).min(Wall::from_millis(500));
        if config.get("fetch.wait.max.ms").is_none() && fetch_wait < Wall::from_millis(500) {
            config.set("fetch.wait.max.ms", fetch_wait.as_millis().to_string());
        }
        // Catching up, the fetcher runs ahead of the pipeline until the prefetch queue is full
        // (`queued.max.messages.kbytes`, 64 MiB), then waits `fetch.queue.backoff.ms` before it looks
        // again: by default a whole second, while the pipeline empties the queue in a fraction of it
        // and then idles. A short wait keeps the queue from running dry at the cost of a few wake-ups.
        if config.get("fetch.queue.backoff.ms").is_none() {
            config.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF.as_millis().to_string());
        }
        config
    }

    /// The output producer's configuration (transactional in exactly-once mode).
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("linger.ms", "5")
            .set("acks", "all")
            // Retries never duplicate or reorder within a partition. Not essential at least once (the
            // outputs are keyed and a replay repeats identical values), so it may be turned off.
            .set("enable.idempotence", "true");
        for (key, value) in &self.producer_properties {
            config.set(key, value);
        }
        config.set("bootstrap.servers", &self.bootstrap_servers);
        if self.exactly_once {
            config.set("transactional.id", self.effective_transactional_id());
        }
        config
    }
}

/// A wall-clock duration of a pipeline duration (negative ones are zero).
pub(crate) fn wall(d: Duration) -> Wall {
    Wall::from_millis(u64::try_from(d.as_millis()).unwrap_or(0))
}

/// A pipeline duration of a wall-clock one.
pub(crate) fn duration(d: Wall) -> Duration {
    Duration::millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_defaults_are_the_cores() {
        let options = RunnerOptions::new("127.0.0.1:9092");
        let config = options.core_config();
        assert_eq!(
            config,
            CoreConfig {
                topics: Topics::default(),
                ..CoreConfig::default()
            }
        );
    }

    #[test]
    fn statistics_come_every_quarter_of_the_idle_timeout() {
        let mut options = RunnerOptions::new("127.0.0.1:9092");
        let config = options.consumer_config();
        assert_eq!(config.get("statistics.interval.ms"), Some("2500"));
        assert_eq!(config.get("fetch.wait.max.ms"), None);
        options.idle_timeout = Wall::from_secs(1);
        let config = options.consumer_config();
        assert_eq!(config.get("statistics.interval.ms"), Some("250"));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("250"));
    }

    #[test]
    fn a_full_prefetch_queue_is_looked_at_again_soon_unless_told_otherwise() {
        let mut options = RunnerOptions::new("127.0.0.1:9092");
        assert_eq!(options.consumer_config().get("fetch.queue.backoff.ms"), Some("100"));
        options
            .consumer_properties
            .push(("fetch.queue.backoff.ms".to_owned(), "250".to_owned()));
        assert_eq!(options.consumer_config().get("fetch.queue.backoff.ms"), Some("250"));
    }
}
