//! The pipeline crate: the visit model, the sans-IO windowing core and the pipeline builder.
//!
//! Records with event timestamps, watermark advances and processing-time ticks go in; panes come out.
//! Nothing in this crate reads a clock, draws a random number or touches a file or socket except the
//! explicit I/O shells in [`io`]; the simulator, the testkit and the Kafka runtime all drive the same core.

pub mod aggregator;
pub mod combine;
pub mod dataflow;
pub mod event;
pub mod io;
pub mod pane;
pub mod strategy;
pub mod time;
pub mod traffic;
pub mod watermark;
pub mod window;

pub use dataflow::{Emitted, Pipeline, PipelineInstance, PipelineStats, WindowOutput};
