//! What a consumer core is told: its topics, its watermark, commit and bundle settings, and the defaults of
//! every Kafka runner, defined once.
//!
//! The rdkafka shell builds a [`CoreConfig`] from the `traffic-agg` command line; the simulated cluster
//! builds one from `simulate`'s cluster flags. Client settings (librdkafka properties) are not here: they
//! belong to the shell, which is the only part that talks to a broker.

use pipeline::time::Duration;

/// The defaults of the Kafka runners, in one place.
pub mod defaults {
    use pipeline::time::Duration;

    /// The input topic of the seed.
    pub const INPUT_TOPIC: &str = "website-visit";
    /// The output topic (and consumer group) of the built-in aggregation.
    pub const OUTPUT_TOPIC: &str = "traffic-agg";
    /// Bounded out-of-orderness within one partition.
    pub const MAX_OUT_OF_ORDERNESS: Duration = pipeline::watermark::DEFAULT_BOUND;
    /// How long a caught-up partition may be silent before it stops holding the watermark back.
    pub const IDLE_TIMEOUT: Duration = Duration::seconds(10);
    /// How often safe offsets are committed.
    pub const COMMIT_INTERVAL: Duration = Duration::seconds(1);
    /// At most this many consecutive records of one partition form one bundle.
    pub const MAX_BUNDLE: usize = 50;
    /// Above this many unacknowledged messages the core asks the shell to pause fetching.
    pub const MAX_IN_FLIGHT: usize = 100_000;
    /// How long a revocation may wait for delivery reports and its commit before it gives up (what was
    /// not committed is re-read by the next owner).
    pub const REVOKE_TIMEOUT: Duration = Duration::seconds(60);
}

/// The topics a core reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Raw records (visits).
    pub input: String,
    /// Window results.
    pub output: String,
    /// Records that do not decode; `None`: counted and dropped (the shell logs it once).
    pub dead_letters: Option<String>,
    /// Records dropped as late; `None`: counted and dropped.
    pub late: Option<String>,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            input: defaults::INPUT_TOPIC.to_owned(),
            output: defaults::OUTPUT_TOPIC.to_owned(),
            dead_letters: None,
            late: None,
        }
    }
}

/// Everything a [`ConsumerCore`](crate::ConsumerCore) needs to know besides the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// Where records come from and results go.
    pub topics: Topics,
    /// Bounded out-of-orderness allowed within one partition.
    pub max_out_of_orderness: Duration,
    /// How long a partition that is known to be caught up may deliver nothing before it stops holding
    /// the watermark back (see [`crate::watermark`]).
    pub idle_timeout: Duration,
    /// How often safe offsets are committed (transactions, in exactly-once mode).
    pub commit_interval: Duration,
    /// At most this many consecutive records of one partition are processed as one bundle; the
    /// watermark moves after each bundle.
    pub max_bundle: usize,
    /// Outputs and offsets in one Kafka transaction.
    pub exactly_once: bool,
    /// Above this many unacknowledged messages, fetching is paused until half of them are acknowledged.
    pub max_in_flight: usize,
    /// How long a revocation may wait for its deliveries and commit.
    pub revoke_timeout: Duration,
    /// A deliberate bug, for the test that proves the simulator catches it.
    #[cfg(feature = "mutations")]
    pub mutation: Option<Mutation>,
}

/// A deliberate bug in the core, switched on only by the mutation test (feature `mutations`): each breaks
/// one guarantee, and the simulator's explorer must catch it.
#[cfg(feature = "mutations")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Commits one offset further than the ledger says is safe.
    CommitOneTooFar,
    /// Commits without the checkpoint (no floor, no replay range).
    SkipCheckpoint,
    /// Commits without waiting for the delivery reports of what was sent before.
    CommitBeforeAcknowledgement,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            topics: Topics::default(),
            max_out_of_orderness: defaults::MAX_OUT_OF_ORDERNESS,
            idle_timeout: defaults::IDLE_TIMEOUT,
            commit_interval: defaults::COMMIT_INTERVAL,
            max_bundle: defaults::MAX_BUNDLE,
            exactly_once: false,
            max_in_flight: defaults::MAX_IN_FLIGHT,
            revoke_timeout: defaults::REVOKE_TIMEOUT,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }
}

impl CoreConfig {
    /// Checks the settings that cannot work: a zero bundle, an input topic that is also an output.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_bundle == 0 {
            return Err("max_bundle must be at least 1".to_owned());
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".to_owned());
        }
        for (what, value) in [
            ("max out-of-orderness", self.max_out_of_orderness),
            ("idle timeout", self.idle_timeout),
            ("commit interval", self.commit_interval),
            ("revoke timeout", self.revoke_timeout),
        ] {
            if value < Duration::ZERO {
                return Err(format!("the {what} cannot be negative, got {value}"));
            }
        }
        let t = &self.topics;
        let outputs = [Some(&t.output), t.dead_letters.as_ref(), t.late.as_ref()];
        if outputs.iter().flatten().any(|o| **o == t.input) {
            return Err(format!("the input topic {} is also an output topic", t.input));
        }
        Ok(())
    }
}
