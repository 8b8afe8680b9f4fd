//! What a Kafka runner is told: topics, group, watermark and commit settings, and the librdkafka
//! configurations derived from them.
//!
//! [`RunnerOptions`] holds every setting of the `traffic-agg` binary except the windowing, which
//! belongs to the pipeline ([`pipeline::traffic::TrafficConfig`]). The client settings that the
//! runner's guarantees rest on are fixed here and cannot be overridden: manual commits, eager
//! rebalancing (an eager revoke drops all state at once, see [`crate::runner`]), `read_committed` input
//! and a transactional producer in exactly-once mode. The producer defaults to idempotent `acks=all`.

use std::time::Duration as Wall;

use pipeline::time::Duration;
use rdkafka::ClientConfig;

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
    /// How long a partition may deliver nothing before it stops holding the watermark back.
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
}

impl RunnerOptions {
    /// The seed's settings: `website-visit` in, `traffic-agg` out, group `traffic-agg`, 5 s
    /// out-of-orderness, 10 s idle timeout, at-least-once.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        RunnerOptions {
            bootstrap_servers: bootstrap_servers.into(),
            input_topic: "website-visit".to_owned(),
            output_topic: "traffic-agg".to_owned(),
            group_id: "traffic-agg".to_owned(),
            max_out_of_orderness: Duration::seconds(5),
            idle_timeout: Wall::from_secs(10),
            dlq_topic: None,
            late_topic: None,
            exactly_once: false,
            transactional_id: None,
            commit_interval: Wall::from_secs(1),
            progress_interval: Wall::from_secs(10),
            session_timeout: Wall::from_secs(10),
            max_bundle: 50,
            poll_batch: 500,
            consumer_properties: Vec::new(),
            producer_properties: Vec::new(),
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
        if !self.progress_interval.is_zero() {
            config.set(
                "statistics.interval.ms",
                self.progress_interval.as_millis().max(1000).to_string(),
            );
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
