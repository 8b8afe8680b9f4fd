//! The deterministic discrete-event simulator and the `simulate` binary's library half.
//!
//! It replays recorded traffic or scripted scenarios through any pipeline built with the `pipeline`
//! crate, in virtual time: [`scenario`] owns the script format, [`disorder`] the seeded reordering and
//! late delivery, [`run`] the event loop, [`output`] the JSON-lines results, [`golden`] the comparison
//! with committed golden files and [`files`] the safety of the files a run writes. The binary (`src/bin/simulate.rs`) only parses flags and wires these.

pub mod cluster;
pub mod disorder;
pub mod files;
pub mod golden;
pub mod output;
pub mod run;
pub mod scenario;

pub use run::{simulate, SimulationError, SimulationOptions, SimulationReport, Sinks};
