//! The edges of a pipeline as traits: steps in, results out, and what comes out besides panes.
//!
//! A [`Source`] yields [`Step`]s: bundles of records, and, for scripted inputs, watermark and
//! processing-time steps. A [`Sink`] takes results one by one. Records that cannot become elements are
//! [`DeadLetter`]s, elements every window of which had expired are [`LateRecord`]s; both keep the
//! record's bytes and [`Position`] so that they can say where they came from. In-memory sources and sinks
//! live here ([`memory`]); file formats live in the `formats` crate, Kafka ones with the Kafka runtime.

pub mod memory;
pub mod pyjson;

pub use crate::step::{LentStep, Position, Record, Step};

use crate::time::{Timestamp, Watermark};

/// A supply of steps, pulled one at a time. `Ok(None)` means the input has ended, after which the runner
/// moves the watermark to +∞.
pub trait Source {
    /// The next step, `Ok(None)` at the end of input, or an error that stops reading (an unreadable file,
    /// a lost connection: never a bad record, which is a dead letter instead).
    fn next_step(&mut self) -> Result<Option<Step>, SourceError>;

    /// Records the input says were dropped as late before they reached a pipeline (a recording of the
    /// Kafka runtime, whose consumer judges lateness per partition), read since the last call. A runner
    /// takes them each time [`next_step`](Self::next_step) returns, before it applies the step, and
    /// reports them as late without processing them. Most sources have none.
    fn take_dropped_late(&mut self) -> Vec<LateRecord> {
        Vec::new()
    }

    /// For the bundle [`next_step`](Self::next_step) just returned, each record's lateness horizon
    /// when the input recorded one ([`crate::Decoded::lateness_horizon`]: the Kafka consumer drops the
    /// windows of a record expired at its partition's watermark). A runner takes it with each step and
    /// applies it to the bundle's records. Most sources have none.
    fn take_lateness_horizons(&mut self) -> Option<Vec<Watermark>> {
        None
    }

    /// The next step, where a source that reads one record at a time may lend the record's bytes from
    /// its buffer instead of copying them (a runner then copies only the records it keeps: dead letters
    /// and late records). The default hands out [`next_step`](Self::next_step)'s step.
    fn next_lent(&mut self) -> Result<Option<LentStep<'_>>, SourceError> {
        Ok(self.next_step()?.map(LentStep::Step))
    }
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
/// As a JSON line (`--dlq-out`), it keeps the record's exact bytes: see the `formats` crate's `dlq` module
/// for the format and for reading one back.
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
/// As a JSON line (`--late-out`), it keeps the record's exact bytes: see the `formats` crate's `dlq`
/// module for the format and for reading one back.
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
