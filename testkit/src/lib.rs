//! Beam's testing kit for pipelines built with the `pipeline` crate. It is pure (no broker, no async
//! runtime, no librdkafka: the Kafka test brokers are the `test-broker` crate), so a pipeline's tests build in
//! seconds.
//!
//! # Testing pipelines
//!
//! [`TestStream`] scripts bundles, watermark steps and processing-time steps ([`stream`]) and runs them
//! in virtual time ([`run`]); [`TestPipeline`] and [`assert_that`] check panes the way `PAssert` does
//! ([`assert`](mod@assert)); [`Transcript`] turns a run into a snapshot-ready document ([`transcript`]);
//! [`strategies`] draws scripts, triggers and windows for proptest; [`scenario`] reads the scenario files
//! of the data-driven tests; [`timestamped`] holds Beam-style elements ([`TimestampedValue`]) and a
//! ready-made pipeline that reads them, for tests written the way Beam writes its own; [`traffic`] and
//! [`time`](mod@time) hold the fixtures and literals that keep tests short.
//! A complete test of the seed's traffic pipeline:
//!
//! ```
//! use pipeline::traffic::{traffic_pipeline, TrafficConfig};
//! use testkit::{assert_that, page_views, visit, window, TestPipeline, TestStream};
//!
//! let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
//! let output = p.apply(
//!     TestStream::new()
//!         .add_elements([visit("alice", "2024-04-28T23:12:41"), visit("bob", "2024-04-28T23:12:45")])
//!         .add_elements([visit("alice", "2024-04-28T23:12:59.999")]) // end − 1 ms: still in the window
//!         .advance_watermark_to("2024-04-28T23:13:00") // the watermark reaches the end: on-time panes
//!         .add_elements([visit("alice", "2024-04-28T23:12:50")]) // behind the watermark: dropped
//!         .add_elements([visit("alice", "2024-04-28T23:13:00")]) // end: the next window
//!         .advance_watermark_to_infinity(),
//! );
//! let first = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
//! let next = window("2024-04-28T23:13:00", "2024-04-28T23:13:20");
//! assert_that(&output)
//!     .in_on_time_pane(first)
//!     .contains_in_any_order([page_views("alice", first, 2), page_views("bob", first, 1)]);
//! assert_that(&output).in_late_pane(first).is_empty();
//! assert_that(&output).in_final_pane(next).contains_in_any_order([page_views("alice", next, 1)]);
//! assert_that(&output).satisfies(|panes| panes.iter().all(|p| p.pane.index == 0));
//! p.run();
//! assert_eq!(output.output().late.len(), 1);
//! ```

pub mod assert;
pub mod run;
pub mod scenario;
pub mod strategies;
pub mod stream;
pub mod time;
pub mod timestamped;
pub mod traffic;
pub mod transcript;

pub use assert::{assert_that, PCollection, PaneAssert, TestPipeline, Verdict};
pub use run::{ElementFate, ElementOutcome, FiredPane, StepOutcome, TestOutput};
pub use scenario::TrafficScenario;
pub use stream::{Element, ScriptError, TestStream, ToTimestamp, WithTimestamp};
pub use time::{timestamp, window};
pub use timestamped::{timestamped_values, KeyedValues, PaneOutput, TimestampedValue};
pub use traffic::{page_views, visit};
pub use transcript::Transcript;

/// The README's Rust examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// This crate's README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct TestkitReadmeDoctests;
