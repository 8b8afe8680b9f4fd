//! The Kafka runtime: the traffic aggregation on a real broker.
//!
//! This crate is the I/O shell around the pipeline crate's sans-IO core, for Kafka. It owns:
//!
//! * [`runner`]: a consumer-group member that drives a [`pipeline::PipelineInstance`] from a topic,
//!   handles rebalances and commits offsets only for records whose results are acknowledged;
//! * [`watermark`]: per-partition bounded out-of-orderness watermarks with an idleness timeout;
//! * [`ledger`]: which offsets are safe to commit and the checkpoint a commit carries, so a restart
//!   rebuilds exactly the windows that were still open;
//! * [`sink`]: window results, dead letters and late records as Kafka messages (the seed's bytes);
//! * [`options`]: the runner's settings and the librdkafka configurations derived from them;
//! * [`produce`]: writing visit lines to a topic (the Kafka side of `datagen`);
//! * [`repartition`]: re-keying an input topic by user id through an internal topic;
//! * [`shutdown`]: stopping cleanly on Ctrl-C or SIGTERM;
//! * [`connect`]: waiting for a broker at start, with a deadline;
//! * [`client_log`]: librdkafka's logs and errors, each repeated message once per interval.
//!
//! The windowing rules, the visit model and the output format belong to the pipeline crate; brokers
//! for tests belong to `test-broker`. The `traffic-agg` binary is a thin command line over
//! [`traffic_agg`]. See `kafka/README.md` for the guarantees and how to run it.

pub mod cli;
pub mod client_log;
pub mod connect;
pub mod error;
pub mod ledger;
pub mod options;
pub mod produce;
pub mod repartition;
pub mod runner;
pub mod shutdown;
pub mod sink;
pub mod watermark;

pub use error::RuntimeError;
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
