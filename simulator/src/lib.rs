//! The deterministic world, and the `simulate` binary's library half.
//!
//! It replays recorded traffic or scripted scenarios through any pipeline built with the `pipeline`
//! crate, in virtual time: [`run`] feeds steps to the pipeline crate's one driver loop and writes what fires
//! into sinks, [`disorder`] reorders and delays records from a seed, and [`cluster`] runs the Kafka
//! runtime's sans-IO consumer core on a simulated Kafka cluster under seeded faults, and [`sensitivity`]
//! finds the windows whose results depend on arrival order. A run can be watched step by step
//! ([`observe`]): [`transcript`] prints it as the testkit snapshots it, [`timeline`] draws it and
//! [`explain`] answers why one window holds its count. File formats (scripts,
//! JSON lines, dead letters, golden files) live in the `formats` crate. The binary
//! (`src/bin/simulate/`) only parses flags and wires these.

pub mod cluster;
pub mod disorder;
pub mod explain;
pub mod observe;
pub mod run;
pub mod sensitivity;
pub mod shard;
pub mod timeline;
pub mod transcript;

pub use run::{
    simulate, simulate_observed, SimulationError, SimulationOptions, SimulationReport, Sinks, DEFAULT_FIRING_PART,
};
pub use shard::simulate_sharded;
