//! Transcripts: a run's steps, element fates and panes as a canonical, pane-aware document.
//!
//! This module owns the document and its wording, shared by every runner that writes one: the testkit
//! builds it from a `TestStream` run (and snapshots it), `simulate --transcript` from a replayed file. A
//! [`Transcript`] has one block per step: the step in the builder's words ([`StepAction`]), the watermark
//! after it (and, after a processing-time step, the virtual processing time), the elements of a bundle with
//! what became of them ([`ElementFate`]), and the panes the step fired (key, window, timing — `EARLY` for a
//! trigger's speculative panes, `ON_TIME`, `LATE` — index, final flag, value). It is built only from
//! virtual time and the run's own order, so it never holds a wall-clock time, a machine path or a
//! hash-map order. How it is printed (YAML, as insta snapshots it) is left to the callers.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::pane::{PaneInfo, PaneTiming};
use crate::step::Step;
use crate::time::{Duration, Timestamp, Watermark};
use crate::window::Window;
use crate::PipelineStats;

/// What became of an element: exactly one of these (conservation).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementFate {
    /// Added to at least one window.
    Counted,
    /// Rejected by the pipeline's filter before windowing.
    Filtered,
    /// Every window it belongs to had expired.
    DroppedLate,
    /// Its window was open but closed: the window's trigger had finished, so the window takes nothing
    /// until it expires (Beam's `droppedDueToClosedWindow`). Reported as a late record too.
    DroppedClosed,
    /// It did not decode.
    DeadLettered,
}

impl ElementFate {
    /// `counted`, `filtered out`, `dropped as late` or `dead-lettered`.
    pub fn as_str(self) -> &'static str {
        match self {
            ElementFate::Counted => "counted",
            ElementFate::Filtered => "filtered out",
            ElementFate::DroppedLate => "dropped as late",
            ElementFate::DroppedClosed => "dropped: its window's trigger had finished",
            ElementFate::DeadLettered => "dead-lettered",
        }
    }

    /// The fate of a late record: the pipeline reports both kinds of drop as late records (and counts
    /// closed-window drops apart in `PipelineStats::dropped_closed`); the record tells them apart only
    /// by its reason, which for a closed window starts with `closed window:`.
    pub fn of_late_reason(reason: &str) -> ElementFate {
        if reason.starts_with("closed window:") {
            ElementFate::DroppedClosed
        } else {
            ElementFate::DroppedLate
        }
    }
}

impl fmt::Display for ElementFate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step as a transcript names it, without its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// A bundle of this many records.
    Bundle(usize),
    /// A watermark step.
    Watermark(Watermark),
    /// A processing-time step by this much.
    ProcessingTime(Duration),
    /// The end of input the runner added because the input did not move the watermark to +∞.
    EndOfInput,
}

impl StepAction {
    /// The action of `step`; `implicit` marks the end of input a runner added.
    pub fn of(step: &Step, implicit: bool) -> StepAction {
        match step {
            _ if implicit => StepAction::EndOfInput,
            Step::Bundle(records) => StepAction::Bundle(records.len()),
            Step::Watermark(w) => StepAction::Watermark(*w),
            Step::ProcessingTime(by) => StepAction::ProcessingTime(*by),
        }
    }
}

impl fmt::Display for StepAction {
    /// The step in the builder's words: `advance_watermark_to(2024-04-28T23:13:00.000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepAction::EndOfInput => f.write_str("end of input (the run moved the watermark to +inf)"),
            StepAction::Bundle(1) => f.write_str("add_elements(1 element)"),
            StepAction::Bundle(n) => write!(f, "add_elements({n} elements)"),
            StepAction::Watermark(w) if *w == Watermark::MAX => f.write_str("advance_watermark_to_infinity()"),
            StepAction::Watermark(w) => write!(f, "advance_watermark_to({w})"),
            StepAction::ProcessingTime(by) => write!(f, "advance_processing_time({by})"),
        }
    }
}

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

impl TranscriptStep {
    /// The block of step `number` (1-based): its action, the watermark after it and, for a
    /// processing-time step, the processing time after it; elements and panes are added after.
    pub fn new(number: usize, action: StepAction, watermark: Watermark, processing_time: Timestamp) -> Self {
        TranscriptStep {
            step: number,
            action: action.to_string(),
            watermark: watermark.to_string(),
            processing_time: match action {
                StepAction::ProcessingTime(_) => Some(Duration::millis(processing_time.millis()).to_string()),
                _ => None,
            },
            elements: Vec::new(),
            panes: Vec::new(),
        }
    }

    /// Adds element `index` (0-based in the whole run): `key @ event time`, with the fate unless counted;
    /// an element that did not decode is named by its index, with the dead letter's reason.
    pub fn push_element<K: Serialize>(
        &mut self,
        index: u64,
        decoded: Option<(&K, Timestamp)>,
        fate: ElementFate,
        dead_letter_reason: Option<&str>,
    ) {
        self.elements.push(match (decoded, fate) {
            (Some((key, t)), ElementFate::Counted) => format!("{} @ {t}", plain(key)),
            (Some((key, t)), fate) => format!("{} @ {t}: {fate}", plain(key)),
            (None, fate) => format!("element {index}: {fate} ({})", dead_letter_reason.unwrap_or("")),
        });
    }

    /// Adds a pane the step fired. Panics when the key or value does not serialize to JSON.
    pub fn push_pane<K: Serialize, O: Serialize>(&mut self, key: &K, window: Window, pane: PaneInfo, value: &O) {
        self.panes.push(TranscriptPane {
            key: to_value(key),
            window: window.to_string(),
            timing: pane.timing,
            index: pane.index,
            is_final: pane.is_last,
            value: to_value(value),
        });
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
