//! A simulated Kafka cluster: the whole Kafka runtime under seeded faults, in virtual time.
//!
//! The same [`kafka_core::ConsumerCore`] that runs inside `traffic-agg` on a real broker runs here on a
//! simulated one ([`world`]): topics with partitions and offsets ([`log`]), producers with delivery latency
//! and failures, a consumer group with eager rebalances, committed offsets with metadata (or a broker that
//! drops it), transactions with `read_committed` and aborts, broker outages, and process crashes at any
//! action boundary that lose all in-memory state and restart from the committed offsets. What goes wrong
//! is a [`FaultPlan`] ([`faults`]) drawn from a seed; the invariants ([`invariants`]) are checked after
//! every step; the [`explore`] module runs many seeds and shrinks every failure to a minimal plan that
//! replays exactly. Nothing here reads a clock or touches a socket.

pub mod explore;
pub mod faults;
pub mod invariants;
pub mod log;
pub mod world;

pub use explore::{exhaustive, explore, shrink, Exploration, Finding};
pub use faults::{Baseline, Fault, FaultPlan};
pub use invariants::Violation;
pub use world::{run_cluster, ClusterOptions, ClusterReport, ClusterStats, Pace, ReportedRecord, Rules};
