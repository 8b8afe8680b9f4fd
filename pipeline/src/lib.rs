//! The pipeline crate: the pure core every runner drives.
//!
//! A record is parsed in [`event`], assigned to windows in [`window`], aggregated and fired as panes in
//! [`aggregator`] (Beam's rules, as the Java SDK applies them), under a [`strategy`]; [`dataflow`] holds the
//! typed pipeline a user builds (decode → event time → key → window → combine → output). A timeline is
//! made of [`step`]s, and [`driver`] is the one loop that turns steps into calls on the core, for the
//! simulator, the testkit and the Kafka consumer alike. Nothing in this crate reads a clock, draws a random
//! number or touches a file or a socket: file formats live in the `formats` crate, Kafka in `kafka-core`
//! and `kafka-runtime`.

pub mod aggregator;
pub mod combine;
pub mod dataflow;
pub mod driver;
pub mod event;
pub mod io;
pub mod pane;
pub mod step;
pub mod strategy;
pub mod time;
pub mod traffic;
pub mod transcript;
pub mod trigger;
pub mod trigger_parse;
pub mod watermark;
pub mod window;
pub mod windowing;

pub use dataflow::{Decoded, Emitted, Pipeline, PipelineInstance, PipelineStats, WindowOutput};
pub use driver::{Driver, DriverOptions, ProcessingTimeRule};
pub use step::{LentStep, Position, Record, Step};
