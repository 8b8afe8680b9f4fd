//! The fuzz targets, one module each. Every module has `run(&[u8])`, which panics only on a bug,
//! `generate`, which builds a structured input for the mutation loop, and a `DICTIONARY` of tokens.

pub mod durations_and_datetimes;
pub mod golden_reader;
pub mod kafka_message;
pub mod scenario_reader;
pub mod sql_compiler;
pub mod visit_decoder;

use pipeline::io::{Position, Record};

/// `payloads` as records of one bundle, numbered from 0.
pub(crate) fn records<P: Into<Vec<u8>>>(payloads: impl IntoIterator<Item = P>) -> Vec<Record> {
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, p)| Record::new(p, Position::Index { index: i as u64 }))
        .collect()
}
