//! Watching a simulation step by step: what arrived, what became of it, what fired.
//!
//! A [`RunObserver`] is handed one [`ObservedStep`] after each step the driver took: the elements that
//! arrived in it (arrival index, position in the input, key, event time, fate), the watermark before and
//! after, and the panes, late records and dead letters the step produced, before they go to the sinks.
//! The transcript, the timeline picture and `--explain` are observers. This module owns only the shape
//! of what is observed; [`crate::run`] produces it, and nothing here does I/O.

use pipeline::io::{DeadLetter, LateRecord, Position};
use pipeline::time::{Timestamp, Watermark};
use pipeline::transcript::{ElementFate, StepAction};
use pipeline::WindowOutput;

/// One element as it arrived, with what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivedElement<K> {
    /// 0-based arrival index in the whole run (after any disorder).
    pub index: u64,
    /// Where it was in the input (the line of a file).
    pub position: Position,
    /// Its key, when it decoded and passed the filter.
    pub key: Option<K>,
    /// Its event time, when it decoded.
    pub event_time: Option<Timestamp>,
    /// Counted, filtered out, dropped (late, or for a closed window) or dead-lettered.
    pub fate: ElementFate,
    /// For a counted element: it arrived after the watermark had passed the end of one of its windows
    /// (`max timestamp < watermark`), so it is counted in a late pane, not the on-time one.
    pub behind_window_end: bool,
    /// For a dropped or dead-lettered element: the reason the pipeline gave.
    pub reason: Option<String>,
}

/// What one step did.
#[derive(Debug)]
pub struct ObservedStep<'a, K, O> {
    /// 1-based step number, as the transcript numbers it.
    pub number: usize,
    /// The step (a bundle of how many elements, a watermark or processing-time step, the end of input).
    pub action: StepAction,
    /// The watermark before the step.
    pub watermark_before: Watermark,
    /// The watermark after the step.
    pub watermark: Watermark,
    /// Processing time after the step.
    pub processing_time: Timestamp,
    /// The elements that arrived in the step, in arrival order.
    pub elements: &'a [ArrivedElement<K>],
    /// The panes the step fired, in firing order.
    pub outputs: &'a [WindowOutput<K, O>],
    /// The elements the step dropped.
    pub late: &'a [LateRecord],
    /// The elements that did not decode.
    pub dead_letters: &'a [DeadLetter],
}

/// Something that watches a run; see the module docs.
pub trait RunObserver<K, O> {
    /// Called after each step, before its results go to the sinks.
    fn on_step(&mut self, step: &ObservedStep<'_, K, O>);
}

/// Several observers watching the same run, in order.
impl<K, O> RunObserver<K, O> for Vec<&mut dyn RunObserver<K, O>> {
    fn on_step(&mut self, step: &ObservedStep<'_, K, O>) {
        for observer in self.iter_mut() {
            observer.on_step(step);
        }
    }
}

/// A key as the observers show it: JSON (a string key as a JSON string).
pub trait ObservedKey {
    /// The key as JSON.
    fn to_json(&self) -> serde_json::Value;

    /// The key as text: a string as it is, anything else as JSON.
    fn to_text(&self) -> String {
        match self.to_json() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

impl ObservedKey for String {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.clone())
    }
}

impl ObservedKey for i64 {
    fn to_json(&self) -> serde_json::Value {
        (*self).into()
    }
}

impl ObservedKey for () {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A SQL group: its one value, or the list of its values.
impl ObservedKey for sql::GroupKey {
    fn to_json(&self) -> serde_json::Value {
        let values: Vec<serde_json::Value> = self
            .0
            .iter()
            .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
            .collect();
        match <[serde_json::Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(values) => serde_json::Value::Array(values),
        }
    }
}
