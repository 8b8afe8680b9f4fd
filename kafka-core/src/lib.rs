//! The Kafka consumer's protocol as a pure state machine, and nothing else.
//!
//! This crate owns everything a Kafka runner promises — which offsets are safe to commit and the checkpoint
//! they carry ([`ledger`]), per-partition watermarks and when silence may advance them ([`watermark`]),
//! replays after a restart or rebalance, dead-letter and late routing, transactions, and the counts that
//! prove nothing was lost — in [`ConsumerCore`], a sans-IO state machine in the style of quinn-proto:
//! events in, [`Action`]s out, time passed in. It has no rdkafka, no clock and no threads, so the same code
//! runs under the rdkafka shell (`kafka-runtime`) and under the simulator's seeded Kafka cluster, where
//! crashes, rebalances and broker faults are explored from a seed. The messages' bytes are in [`message`];
//! the defaults of every Kafka runner in [`config`]; what its pipeline saw, for an exact replay, in
//! [`recording`].
//!
//! ```
//! use kafka_core::{Action, Assignment, ConsumerCore, CoreConfig, InputRecord};
//! use pipeline::time::Timestamp;
//! use pipeline::traffic::{traffic_pipeline, TrafficConfig};
//!
//! let mut core = ConsumerCore::new(traffic_pipeline(TrafficConfig::default()), CoreConfig::default()).unwrap();
//! let now = Timestamp::from_millis(0);
//! core.on_assign(now, &[Assignment { partition: 0, committed: None, metadata: None }]);
//! core.on_records(now, 0, vec![InputRecord { offset: 0, payload: b"not json".to_vec() }]);
//! // No dead-letter topic is configured: the record is counted and dropped, never lost.
//! assert_eq!(core.stats().pipeline.dead_lettered, 1);
//! assert!(core.stats().check_conservation().is_ok());
//! // A second later the commit interval has passed: offset 1 is safe, with its checkpoint as metadata.
//! core.on_tick(Timestamp::from_millis(1_000));
//! let commit = std::iter::from_fn(|| core.poll_action()).find_map(|a| match a {
//!     Action::Commit { offsets, .. } => Some(offsets),
//!     _ => None,
//! });
//! assert_eq!(commit.unwrap()[0].offset, 1);
//! ```

pub mod config;
mod core;
pub mod ledger;
pub mod message;
pub mod recording;
pub mod watermark;

#[cfg(feature = "mutations")]
pub use crate::config::Mutation;
pub use crate::config::{defaults, CoreConfig, Topics};
pub use crate::core::{Action, Assignment, ConsumerCore, CoreError, CoreStats, InputRecord, Notice, TxnError, TxnStep};
pub use crate::ledger::{Checkpoint, CommitPoint};
pub use crate::message::{KafkaOutput, Message, MessageKind};
pub use crate::recording::Recorded;
pub use crate::watermark::EndOffsets;
