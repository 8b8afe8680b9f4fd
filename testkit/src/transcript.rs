//! Transcripts: a run's window outputs as a canonical, pane-aware document for snapshot tests.
//!
//! A [`Transcript`] has one block per script step: the step in the builder's words, the watermark after
//! it (and, after a processing-time step, the virtual processing time), the elements of a bundle with
//! what became of them, and the panes the step fired (key, window, timing — `EARLY` for a trigger's
//! speculative panes, `ON_TIME`, `LATE` — index, final flag, value). A pane listed under a
//! processing-time step is a processing-time firing. It is built only from virtual time and the run's own order, so it
//! never holds a wall-clock time, a machine path or a hash-map order, and it serializes the same way on
//! every machine. Snapshot it with insta, for example `insta::assert_yaml_snapshot!(output.transcript())`,
//! review changes with `cargo insta review` (or read the `.snap.new` files) and commit the `.snap` files.

use pipeline::pane::PaneTiming;
use pipeline::time::Duration;
use pipeline::{PipelineStats, Step};
use serde::Serialize;
use serde_json::Value;

use crate::run::{ElementFate, TestOutput};

/// A run as a reviewable document; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    /// One block per step, implicit end of input included.
    pub steps: Vec<TranscriptStep>,
    /// The record counts at the end.
    pub stats: PipelineStats,
}

/// One step's block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptStep {
    /// The 1-based step number.
    pub step: usize,
    /// The step in the builder's words: `advance_watermark_to(2024-04-28T23:13:00.000)`.
    pub action: String,
    /// The watermark after the step.
    pub watermark: String,
    /// For a processing-time step, the virtual processing time after it, as the time elapsed since the
    /// run started (`18m`): the panes below it are processing-time firings (`AfterProcessingTime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_time: Option<String>,
    /// For a bundle: `key @ event time`, with the fate when the element was not counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<String>,
    /// The panes the step fired, in firing order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub panes: Vec<TranscriptPane>,
}

/// One pane in a step's block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptPane {
    /// The key.
    pub key: Value,
    /// `[start, end)`, to the millisecond.
    pub window: String,
    /// `EARLY`, `ON_TIME` or `LATE`.
    pub timing: PaneTiming,
    /// 0 for the first pane of the key and window.
    pub index: u64,
    /// True when the window's state was dropped right after this pane.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The value, as the output type serializes.
    pub value: Value,
}

impl<K: Serialize, O: Serialize> TestOutput<K, O> {
    /// The run as a [`Transcript`]. Panics when a key or value does not serialize to JSON.
    pub fn transcript(&self) -> Transcript {
        let steps = self
            .steps
            .iter()
            .map(|s| TranscriptStep {
                step: s.number,
                action: s.action(),
                watermark: s.watermark.to_string(),
                processing_time: match s.step {
                    Step::ProcessingTime(_) => Some(Duration::millis(s.processing_time.millis()).to_string()),
                    _ => None,
                },
                elements: s
                    .elements
                    .iter()
                    .map(|e| match (&e.key, e.event_time, e.fate) {
                        (Some(key), Some(t), ElementFate::Counted) => format!("{} @ {t}", plain(key)),
                        (Some(key), Some(t), fate) => format!("{} @ {t}: {fate}", plain(key)),
                        _ => {
                            let reason = self
                                .dead_letters
                                .iter()
                                .find(|d| d.position == pipeline::io::Position::Index { index: e.index })
                                .map_or("", |d| d.reason.as_str());
                            format!("element {}: {} ({reason})", e.index, e.fate)
                        }
                    })
                    .collect(),
                panes: self
                    .panes
                    .iter()
                    .filter(|p| p.step == s.number)
                    .map(|p| TranscriptPane {
                        key: to_value(&p.key),
                        window: p.window.to_string(),
                        timing: p.pane.timing,
                        index: p.pane.index,
                        is_final: p.pane.is_last,
                        value: to_value(&p.value),
                    })
                    .collect(),
            })
            .collect();
        Transcript {
            steps,
            stats: self.stats,
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| panic!("a transcript needs keys and values that serialize: {e}"))
}

/// A string key as it is, anything else as JSON.
fn plain<K: Serialize>(key: &K) -> String {
    match to_value(key) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
