//! The edges of a pipeline: records in, results out, and the traits every runner's I/O implements.
//!
//! A [`Source`] yields [`SourceEvent`]s: records (alone or in bundles), and, for scripted inputs, watermark
//! and processing-time steps. A [`Sink`] takes results one by one. Records carry their raw bytes and a
//! [`Position`] (a file line now, a partition and offset for Kafka) so that every dead letter and every
//! late record can say where it came from. File and in-memory implementations live in the submodules;
//! the Kafka ones live with the Kafka runtime.

pub mod dlq;
pub mod jsonl;
pub mod memory;
pub mod pyjson;

use std::fmt;

use serde::Serialize;

use crate::time::{Duration, Timestamp, Watermark};

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

/// What a source yields next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// A bundle of records processed together: late elements among them fire one late pane per key and
    /// window. A plain record is a bundle of one.
    Bundle(Vec<Record>),
    /// The watermark moves to this point (scripted inputs only).
    Watermark(Watermark),
    /// Processing time moves forward by this much (scripted inputs only).
    ProcessingTime(Duration),
}

/// A supply of input events, pulled one at a time. `Ok(None)` means the input has ended, after which the
/// runner moves the watermark to +∞.
pub trait Source {
    /// The next event, `Ok(None)` at the end of input, or an error that stops reading (an unreadable
    /// file, a lost connection: never a bad record, which is a dead letter instead).
    fn next_event(&mut self) -> Result<Option<SourceEvent>, SourceError>;
}

/// A destination for results of type `T`.
pub trait Sink<T: ?Sized> {
    /// Writes one item.
    fn write(&mut self, item: &T) -> Result<(), SinkError>;
    /// Makes everything written so far durable or visible.
    fn flush(&mut self) -> Result<(), SinkError>;
}

impl<T: ?Sized, S: Sink<T> + ?Sized> Sink<T> for &mut S {
    fn write(&mut self, item: &T) -> Result<(), SinkError> {
        (**self).write(item)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

impl<T: ?Sized, S: Sink<T> + ?Sized> Sink<T> for Box<S> {
    fn write(&mut self, item: &T) -> Result<(), SinkError> {
        (**self).write(item)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

/// A source that cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Reading failed.
    #[error("cannot read {what}: {source}")]
    Io {
        /// What was being read (a path, a topic).
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A scripted input has a line that is not a valid step (a scenario file's own syntax, not a record).
    #[error("{what}, line {line}: {message}")]
    Script {
        /// The script's name or path.
        what: String,
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Any other source failure (a broker error, for example).
    #[error("{0}")]
    Other(String),
}

/// A sink that cannot take more.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed.
    #[error("cannot write {what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The item could not be serialized.
    #[error("cannot serialize a result: {0}")]
    Serialize(String),
    /// Any other sink failure (a broker refusing a message, for example).
    #[error("{0}")]
    Other(String),
}

/// A record that could not be turned into an element, and why. It never stops the pipeline.
///
/// As a JSON line (`--dlq-out`), it keeps the record's exact bytes: see [`dlq`] for the format and
/// [`DeadLetter::from_json_line`] to read one back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where the record came from.
    pub position: Position,
    /// What was wrong with it.
    pub reason: String,
    /// The record's bytes, untouched.
    pub payload: Vec<u8>,
}

/// A parsed element dropped because every window it belongs to had expired.
///
/// As a JSON line (`--late-out`), it keeps the record's exact bytes: see [`dlq`] for the format and
/// [`LateRecord::from_json_line`] to read one back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRecord {
    /// Where the record came from.
    pub position: Position,
    /// The element's event time.
    pub event_time: Timestamp,
    /// The watermark when it arrived.
    pub watermark: Watermark,
    /// Why it was dropped, in words.
    pub reason: String,
    /// The record's bytes, untouched.
    pub payload: Vec<u8>,
}
