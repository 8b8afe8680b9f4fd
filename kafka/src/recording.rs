//! `--record FILE`: what the runner's pipeline saw, written as a scenario file that `simulate` replays
//! exactly.
//!
//! The consumer core notes every bundle its pipeline processed, every watermark it moved it to, the
//! processing time where the trigger can use it, and the records it judged late itself
//! ([`kafka_core::recording`]). [`RecordingFile`] writes them in order as scenario lines
//! ([`formats::scenario`]): bundles with the `partition`, `offset` and Kafka timestamp (`kafka_ts`) of
//! each record, dead letters among them with their raw bytes, watermark steps, and `dropped_late` lines
//! (with their record's `kafka_ts`).
//! `simulate --file FILE` with the run's windowing flags then gives the run's panes, late records and dead
//! letters, in order.
//!
//! The file is written like every other output: to a temporary file beside it (`.NAME.*.tmp`), renamed
//! into place when the runner stops. It is flushed at least every 100 ms (every tick of the processing
//! loop), so a killed runner leaves a readable prefix in the temporary file. The recording ends at the
//! first revocation that drops the pipeline's state (a rebalance, or shutdown): a replay covers one
//! assignment; after a rebalance the windows are rebuilt from the committed offsets, which no scenario
//! step can say.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use formats::files::OutputFile;
use formats::scenario::{scenario_line, ScenarioStep};
use kafka_core::Recorded;
use pipeline::io::{Position, Step};

/// A recording being written: see the module docs.
pub struct RecordingFile {
    file: OutputFile,
    path: PathBuf,
    /// The Kafka timestamps of the records being processed, by partition and offset.
    timestamps: BTreeMap<(i32, i64), Option<i64>>,
    lines: u64,
    ended: bool,
}

/// What a recording held when it was put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Where it is.
    pub path: PathBuf,
    /// Scenario lines written.
    pub lines: u64,
    /// True when it ended at a revocation before shutdown: later records are not in it.
    pub cut_at_rebalance: bool,
}

impl RecordingFile {
    /// Prepares to write `path` (through a temporary file beside it).
    pub fn create(path: &Path) -> io::Result<RecordingFile> {
        Ok(RecordingFile {
            file: OutputFile::create(path)?,
            path: path.to_owned(),
            timestamps: BTreeMap::new(),
            lines: 0,
            ended: false,
        })
    }

    /// The Kafka timestamp of the record at `partition`/`offset`, for the bundle it is recorded in.
    pub fn timestamp(&mut self, partition: i32, offset: i64, timestamp: Option<i64>) {
        self.timestamps.insert((partition, offset), timestamp);
    }

    /// Forgets the timestamps of records already processed.
    pub fn clear_timestamps(&mut self) {
        self.timestamps.clear();
    }

    /// Writes one thing the core recorded.
    pub fn write(&mut self, recorded: Recorded) -> io::Result<()> {
        let line = match recorded {
            Recorded::End => {
                self.ended = true;
                return Ok(());
            }
            _ if self.ended => return Ok(()),
            Recorded::DroppedLate(late) => {
                let kafka_ts = match late.position {
                    Position::Offset { partition, offset } => {
                        self.timestamps.get(&(partition, offset)).copied().flatten()
                    }
                    _ => None,
                };
                ScenarioStep::DroppedLate { late, kafka_ts }
            }
            Recorded::Bundle {
                records,
                lateness_horizons,
            } => {
                let kafka_ts = records
                    .iter()
                    .map(|r| match r.position {
                        Position::Offset { partition, offset } => {
                            self.timestamps.get(&(partition, offset)).copied().flatten()
                        }
                        _ => None,
                    })
                    .collect();
                ScenarioStep::Step {
                    step: Step::Bundle(records),
                    kafka_ts: Some(kafka_ts),
                    lateness_horizons,
                }
            }
            Recorded::Step(step) => step.into(),
        };
        self.lines += 1;
        writeln!(self.file, "{}", scenario_line(&line))
    }

    /// The path being recorded to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once the recording has ended (at a revocation).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Makes what was written so far readable in the temporary file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Puts the recording in place; `stopping` says whether the runner is shutting down (else the
    /// recording was cut at a rebalance).
    pub fn commit(self, stopping: bool) -> io::Result<RecordingSummary> {
        let summary = RecordingSummary {
            path: self.path,
            lines: self.lines,
            cut_at_rebalance: self.ended && !stopping,
        };
        self.file.commit()?;
        Ok(summary)
    }
}
