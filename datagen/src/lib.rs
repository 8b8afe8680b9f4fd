//! The website-visit generator: reproducible JSON-lines traffic for the traffic-aggregation pipelines.
//!
//! This crate re-creates the seed tutorial's `datagen/generate_data.py` as a library: a fixed set of
//! users visits pages of a small site, and each visit is one JSON object per line with the seed's twelve
//! fields (`ip`, `id`, `lat`, `lng`, `user_agent`, `age_bracket`, `opted_into_marketing`,
//! `http_request`, `http_response`, `file_size_bytes`, `event_datetime`, `event_ts`). Unlike the seed,
//! every run is a pure function of its [`GeneratorConfig`]: the same seed gives the same bytes, and the
//! disorder a pipeline must cope with (out-of-order jitter, late events, malformed lines, empty
//! coordinates) is dialled in explicitly and reported per line.
//!
//! The crate owns generation only; the model it writes is [`pipeline::event::VisitEvent`], which is
//! where lines are parsed, and the `datagen` binary is a thin command-line shell around [`Generator`].
//! Sending lines to Kafka is `kafka_runtime::produce`; only the binary wires it up (`--to kafka`, feature
//! `kafka`, on by default), so this library builds without librdkafka (`default-features = false`).
//!
//! ```
//! use datagen::{Generator, GeneratorConfig};
//! use pipeline::event::VisitEvent;
//!
//! let config = GeneratorConfig { seed: 7, num_users: 5, events: 100, ..GeneratorConfig::default() };
//! for line in Generator::new(config)? {
//!     let visit = VisitEvent::from_json(line.text.as_bytes())?;
//!     assert_eq!(visit.event_time()?.millis(), visit.event_ts);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
pub mod generator;
pub mod population;
pub mod render;

pub use config::{ConfigError, GeneratorConfig};
pub use generator::{GeneratedLine, Generator, LineMeta, Summary};
pub use render::{Coordinates, Malformation};
