//! The file formats at the edge of the house: everything a runner reads from or writes to a file.
//!
//! The pipeline crate speaks in records and steps and touches no file; this crate turns files into steps
//! and results into files. [`jsonl`] reads JSON Lines as a stream (one record a line, never the whole file)
//! and writes `json.dumps`-style lines; [`scenario`] is the scenario-script format (one step a line) and
//! [`scenario::InputFile`], which opens an input once and tells a recording from a script; [`dlq`] is the
//! line format of dead letters and late records, kept byte for byte; [`output`] writes window results;
//! [`golden`] compares a run with a golden file as it goes; [`files`] refuses an output that would destroy
//! an input and writes every file whole or not at all.

pub mod dlq;
pub mod files;
pub mod golden;
pub mod jsonl;
pub mod output;
pub mod scenario;
