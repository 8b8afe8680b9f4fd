//! What must hold in a simulated cluster run, checked as the run goes (after every step) and at its end.
//!
//! After every step:
//! * a group's committed offset of a partition never goes back;
//! * no (key, window) is ever visible with two different values (with allowed lateness 0, where a window
//!   has exactly one pane); exactly once, no output key, dead letter or late record is visible twice;
//! * every live consumer core's counts add up (`received = discarded + redelivered + replay-skipped +
//!   late behind floor + read`, `read = counted + filtered + late + dead-lettered`);
//! * a core's watermark never moves backwards.
//!
//! At the end (the input fully produced and committed):
//! * the dead-letter topic holds exactly the input records that do not decode;
//! * the output, deduplicated by key, equals the reference: the same pipeline over the same records with a
//!   perfect watermark, leaving out only the records reported on the late topic. Every window is there (at
//!   least once), and a record is either counted or reported late, never both and never neither.
//!
//! On a broker that drops offset-commit metadata (the checkpoints are lost), a restart can emit a window
//! again with a partial count, so only the weaker rule the README documents is checked: every window of the
//! reference is emitted at least once, committed offsets never go back, counts add up, and the dead letters
//! are exactly the records that do not decode. With allowed lateness or a trigger other than the default,
//! where a window has several panes, the same weaker rule applies, and so it does with session windows: a
//! restart rebuilds every open session whole, but can re-emit a session that had already closed with a
//! partial count (see `kafka_core::ledger`).
//!
//! A run's [`ClusterReport::rules`](crate::cluster::ClusterReport::rules) says which rules it was held to.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use pipeline::time::{Timestamp, Watermark};

/// A broken invariant: which, where in the run, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant, in a few words.
    pub invariant: &'static str,
    /// The step of the run at which it broke (0-based).
    pub step: u64,
    /// Virtual time since the start of the run.
    pub at_ms: i64,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (step {}, {} ms into the run): {}",
            self.invariant, self.step, self.at_ms, self.detail
        )
    }
}

/// The running checks of one run.
#[derive(Debug, Default)]
pub struct Checker {
    /// Check "one value per key" (allowed lateness 0: a window has one pane).
    pub one_value_per_key: bool,
    /// Exactly once: each output key, dead letter and late record visible once.
    pub exactly_once: bool,
    committed: BTreeMap<i32, i64>,
    outputs: BTreeMap<Vec<u8>, Vec<u8>>,
    dead_letters: BTreeSet<(i32, i64)>,
    late: BTreeSet<(i32, i64)>,
    watermarks: BTreeMap<(usize, (u32, u64)), Watermark>,
}

impl Checker {
    /// The checks of a run: `one_value_per_key` with allowed lateness 0, `exactly_once` with transactions.
    pub fn new(one_value_per_key: bool, exactly_once: bool) -> Checker {
        Checker {
            one_value_per_key,
            exactly_once,
            ..Checker::default()
        }
    }

    /// The group committed `offset` for `partition`.
    pub fn on_commit(&mut self, partition: i32, offset: i64) -> Result<(), (&'static str, String)> {
        let previous = self.committed.insert(partition, offset);
        match previous {
            Some(p) if offset < p => Err((
                "committed offsets never go back",
                format!("partition {partition} went from {p} back to {offset}"),
            )),
            _ => Ok(()),
        }
    }

    /// An output message became visible to a reader.
    pub fn on_output(&mut self, key: &[u8], value: &[u8]) -> Result<(), (&'static str, String)> {
        match self.outputs.get(key) {
            Some(_) if self.exactly_once => Err((
                "a read_committed reader sees each window exactly once",
                format!("key {} visible twice", String::from_utf8_lossy(key)),
            )),
            Some(first) if self.one_value_per_key && first != value => Err((
                "no (key, window) emitted with two different values",
                format!(
                    "key {}: first {}, now {}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(first),
                    String::from_utf8_lossy(value)
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.outputs.insert(key.to_vec(), value.to_vec());
                Ok(())
            }
        }
    }

    /// A dead letter (`late == false`) or late record became visible, from input position `source`.
    pub fn on_reported(&mut self, late: bool, source: (i32, i64)) -> Result<(), (&'static str, String)> {
        let set = if late { &mut self.late } else { &mut self.dead_letters };
        if !set.insert(source) && self.exactly_once {
            let what = if late { "late record" } else { "dead letter" };
            return Err((
                "a read_committed reader sees each dead letter and late record once",
                format!("the {what} of partition {} offset {} twice", source.0, source.1),
            ));
        }
        Ok(())
    }

    /// Instance `instance` has watermark `now` in its pipeline `pipeline` (incarnation, assignment).
    pub fn on_watermark(
        &mut self,
        instance: usize,
        pipeline: (u32, u64),
        now: Watermark,
    ) -> Result<(), (&'static str, String)> {
        let last = self.watermarks.entry((instance, pipeline)).or_insert(Watermark::MIN);
        if now < *last {
            return Err((
                "a watermark never moves backwards",
                format!("instance {instance} went from {} back to {now}", *last),
            ));
        }
        *last = now;
        Ok(())
    }

    /// The distinct input positions reported late.
    pub fn late_positions(&self) -> &BTreeSet<(i32, i64)> {
        &self.late
    }

    /// The distinct input positions dead-lettered.
    pub fn dead_letter_positions(&self) -> &BTreeSet<(i32, i64)> {
        &self.dead_letters
    }

    /// The first value seen of every output key.
    pub fn outputs(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.outputs
    }
}

/// Compares two key → value maps; `None` when equal, else a short description of the first differences.
pub fn describe_difference(
    expected: &BTreeMap<Vec<u8>, Vec<u8>>,
    actual: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut lines = Vec::new();
    for (key, value) in expected {
        match actual.get(key) {
            None => lines.push(format!("missing {}: expected {}", text(key), text(value))),
            Some(v) if v != value => lines.push(format!("{}: expected {}, got {}", text(key), text(value), text(v))),
            Some(_) => {}
        }
    }
    for (key, value) in actual {
        if !expected.contains_key(key) {
            lines.push(format!("unexpected {}: {}", text(key), text(value)));
        }
    }
    if lines.is_empty() {
        return None;
    }
    let total = lines.len();
    lines.truncate(5);
    Some(format!(
        "{total} window(s) differ from the reference; first: {}",
        lines.join("; ")
    ))
}

/// Milliseconds from `origin` to `t`.
pub fn since(origin: Timestamp, t: Timestamp) -> i64 {
    t.millis().saturating_sub(origin.millis())
}
