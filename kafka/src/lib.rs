//! The Kafka runtime: the traffic aggregation on a real broker.
//!
//! This crate is the I/O shell around two sans-IO cores: the pipeline crate's windowing, and
//! `kafka-core`'s consumer protocol ([`kafka_core::ConsumerCore`]: offsets and checkpoints, replays,
//! per-partition watermarks and idleness, dead-letter and late routing, transactions), which the
//! simulator drives too. It owns:
//!
//! * [`runner`]: a consumer-group member on two threads (polling, processing) that feeds the core and
//!   handles rebalances;
//! * `shell` (private to [`runner`]): the rdkafka calls that carry out the core's actions;
//! * [`end_offsets`]: which partitions are caught up, read from librdkafka's statistics;
//! * [`sink`]: the producers: the runner's, which reports each delivery to the core, and the plain one;
//! * [`options`]: the runner's settings, the core's configuration and the librdkafka configurations;
//! * [`produce`]: writing visit lines to a topic (the Kafka side of `datagen`);
//! * [`repartition`]: re-keying an input topic by user id through an internal topic;
//! * [`recording`]: `--record`, what the pipeline saw as a scenario file `simulate` replays exactly;
//! * [`shutdown`]: stopping cleanly on Ctrl-C or SIGTERM;
//! * [`connect`]: waiting for a broker at start, with a deadline;
//! * [`client_log`]: librdkafka's logs and errors, each repeated message once per interval.
//!
//! The windowing rules, the visit model and the output format belong to the pipeline crate; the
//! consumer's protocol and the messages' bytes to `kafka-core` ([`ledger`] and [`watermark`] are its
//! modules, re-exported); brokers for tests belong to `test-broker`. The `traffic-agg` binary is
//! a thin command line over [`traffic_agg`]. See `kafka/README.md` for the guarantees and how to run it.

pub mod cli;
pub mod client_log;
pub mod connect;
pub mod end_offsets;
pub mod error;
pub mod options;
pub mod produce;
pub mod recording;
pub mod repartition;
pub mod runner;
mod shell;
pub mod shutdown;
pub mod sink;

pub use error::RuntimeError;
pub use kafka_core::message::KafkaOutput;
pub use kafka_core::{ledger, watermark, CoreStats};
pub use options::RunnerOptions;
pub use runner::{run, run_observed, RunStats, RunSummary};
pub use shutdown::Shutdown;

use pipeline::traffic::{traffic_pipeline, TrafficConfig};

/// Runs the seed's traffic aggregation (page views per user id in fixed windows) with `config` as a
/// member of `options.group_id` until `shutdown` is raised.
pub fn traffic_agg(
    config: TrafficConfig,
    options: RunnerOptions,
    shutdown: &Shutdown,
) -> Result<RunSummary, RuntimeError> {
    run(traffic_pipeline(config), options, shutdown)
}
