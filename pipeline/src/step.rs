//! The vocabulary of a timeline: raw records, where they came from, and the steps every runner feeds the
//! core.
//!
//! A [`Record`] is undecoded bytes with a [`Position`] (a file line, a Kafka partition and offset, an
//! index in a script). A [`Step`] is one thing that happens to a running pipeline: a bundle of records
//! arrives, the watermark moves, or processing time passes. A recorded file, a scenario script, a
//! `TestStream`, the simulated cluster and the Kafka consumer all speak in these steps, and the one driver
//! loop ([`crate::driver`]) is the only place that turns them into calls on the windowing core.

use std::fmt;

use serde::Serialize;

use crate::time::{Duration, Watermark};

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Position {
    /// Line `line` (1-based) of a text input.
    Line {
        /// The 1-based line number.
        line: u64,
    },
    /// An offset in a Kafka partition.
    Offset {
        /// The partition.
        partition: i32,
        /// The offset within the partition.
        offset: i64,
    },
    /// The n-th record (0-based) of an in-memory input.
    Index {
        /// The 0-based index.
        index: u64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line } => write!(f, "line {line}"),
            Position::Offset { partition, offset } => write!(f, "partition {partition} offset {offset}"),
            Position::Index { index } => write!(f, "record {index}"),
        }
    }
}

/// One raw input record: its bytes and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The undecoded payload (one JSON line, one Kafka message value).
    pub payload: Vec<u8>,
    /// Where the record came from.
    pub position: Position,
}

impl Record {
    /// A record of `payload` at `position`.
    pub fn new(payload: impl Into<Vec<u8>>, position: Position) -> Record {
        Record {
            payload: payload.into(),
            position,
        }
    }
}

/// One step of a timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A bundle of records processed together: late elements among them fire one late pane per key and
    /// window (Beam's bundle). A plain record is a bundle of one.
    Bundle(Vec<Record>),
    /// The watermark moves to this point ("no element with an earlier timestamp is expected").
    Watermark(Watermark),
    /// Processing time moves forward by this much.
    ProcessingTime(Duration),
}

impl Step {
    /// A bundle of one record.
    pub fn record(payload: impl Into<Vec<u8>>, position: Position) -> Step {
        Step::Bundle(vec![Record::new(payload, position)])
    }
}

/// A step as a [`Source`](crate::io::Source) lends it: one record whose bytes stay in the source's
/// buffer until the next step is asked for, or any step, owned.
#[derive(Debug, PartialEq, Eq)]
pub enum LentStep<'a> {
    /// A bundle of one record, its bytes borrowed.
    Record {
        /// The undecoded payload.
        payload: &'a [u8],
        /// Where it came from.
        position: Position,
    },
    /// Any other step.
    Step(Step),
}

impl LentStep<'_> {
    /// The step, owned (a lent record is copied).
    pub fn into_step(self) -> Step {
        match self {
            LentStep::Record { payload, position } => Step::record(payload, position),
            LentStep::Step(step) => step,
        }
    }
}
