//! `simulate --explain ID@WINDOW_START`: why one key's window holds the count it does.
//!
//! An [`Explainer`] is a [`RunObserver`] that keeps, for one key only, every record that arrived (its
//! position, arrival index, event time, the watermark then, its fate and, when dropped, the late record's
//! watermark and reason) and every pane that fired. [`Explainer::report`] then answers for the window
//! starting at the given instant: the records that went into each pane, those dropped and why (the
//! watermark at that moment against the window's max timestamp plus the allowed lateness — Beam's
//! garbage-collection bound), and the records of the same key that fell into the next window (windows
//! are half-open: a record at exactly the end belongs to the next one). It holds one key's records, so
//! its memory is that key's share of the input. Pure: the report is text.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use pipeline::io::Position;
use pipeline::pane::{PaneInfo, PaneTiming};
use pipeline::strategy::{AccumulationMode, WindowingStrategy};
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::transcript::ElementFate;
use pipeline::window::{Window, WindowFn};
use serde::Serialize;

use crate::observe::{ObservedKey, ObservedStep, RunObserver};

/// What to explain: a key (the output's `id`) and the start of one of its windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainTarget {
    /// The key as text (a string key as it is, another as JSON).
    pub key: String,
    /// The window's start.
    pub window_start: Timestamp,
}

/// An `--explain` argument that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExplainTargetError {
    /// No `@` between the key and the window start.
    #[error("expected ID@WINDOW_START (e.g. 42@2024-04-28T23:12:40), got {0:?}")]
    Shape(String),
    /// The window start is neither the output's `window_start` text nor RFC 3339.
    #[error("bad window start {text:?}: expected the output's window_start (2024-04-28T23:12:40) or RFC 3339 (2024-04-28T23:12:40Z, 2024-04-29T09:12:40+10:00)")]
    Start {
        /// The text after the `@`.
        text: String,
    },
}

impl FromStr for ExplainTarget {
    type Err = ExplainTargetError;

    /// `ID@WINDOW_START`, split at the last `@`; the start as the output writes it, or RFC 3339.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, start) = text
            .rsplit_once('@')
            .ok_or_else(|| ExplainTargetError::Shape(text.to_owned()))?;
        let window_start = Timestamp::parse_datetime(start)
            .ok()
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(start)
                    .ok()
                    .map(|t| Timestamp::from_millis(t.timestamp_millis()))
            })
            .ok_or_else(|| ExplainTargetError::Start { text: start.to_owned() })?;
        Ok(ExplainTarget {
            key: key.to_owned(),
            window_start,
        })
    }
}

/// One record of the key.
#[derive(Debug, Clone)]
struct Seen {
    arrival: u64,
    position: Position,
    event_time: Timestamp,
    step: usize,
    watermark_then: Watermark,
    fate: ElementFate,
    behind_window_end: bool,
    /// For a dropped record: the watermark at the drop and the pipeline's reason.
    dropped: Option<(Watermark, String)>,
}

/// One pane of the key.
#[derive(Debug, Clone)]
struct SeenPane {
    window: Window,
    pane: PaneInfo,
    value: String,
    step: usize,
    after_arrivals: u64,
    watermark: Watermark,
}

/// Keeps one key's records and panes through a run; see the module docs.
pub struct Explainer {
    target: ExplainTarget,
    window_fn: Arc<dyn WindowFn>,
    allowed_lateness: Duration,
    accumulation: AccumulationMode,
    seen: Vec<Seen>,
    panes: Vec<SeenPane>,
    arrivals: u64,
}

impl Explainer {
    /// An explainer of `target` for a pipeline windowed by `strategy`.
    pub fn new(target: ExplainTarget, strategy: &WindowingStrategy) -> Self {
        Explainer {
            target,
            window_fn: strategy.window_fn.clone(),
            allowed_lateness: strategy.allowed_lateness,
            accumulation: strategy.accumulation,
            seen: Vec::new(),
            panes: Vec::new(),
            arrivals: 0,
        }
    }

    fn windows_of(&self, t: Timestamp) -> Vec<Window> {
        let mut windows = Vec::new();
        self.window_fn.assign_windows(t, &mut windows);
        windows
    }

    /// The windows of the key: those its panes fired for and, unless windows merge (sessions, whose
    /// records' own windows are only proto-windows), those its records were assigned to (a window all of
    /// whose records were dropped fired no pane).
    fn key_windows(&self) -> Vec<Window> {
        let mut windows: Vec<Window> = self.panes.iter().map(|p| p.window).collect();
        if !self.window_fn.is_merging() {
            windows.extend(self.seen.iter().flat_map(|s| self.windows_of(s.event_time)));
        }
        windows
    }

    /// The window explained: the key's window starting at the given instant or, when that instant is a
    /// whole second (as the output writes a window_start), starting within that second (a session starts
    /// at its first record's millisecond).
    fn target_window(&self) -> Option<Window> {
        let start = self.target.window_start;
        let windows = self.key_windows();
        windows.iter().copied().find(|w| w.start() == start).or_else(|| {
            let second = |t: Timestamp| t.millis().div_euclid(1000);
            (start.millis().rem_euclid(1000) == 0)
                .then(|| windows.iter().copied().find(|w| second(w.start()) == second(start)))
                .flatten()
        })
    }

    /// The explanation, or why there is none (the key never appeared, or has no window starting there:
    /// the message lists the starts it has).
    pub fn report(&self) -> Result<String, String> {
        let key = &self.target.key;
        if self.seen.is_empty() {
            return Err(format!("no record of key {key:?} was read"));
        }
        let Some(window) = self.target_window() else {
            let mut starts: Vec<Timestamp> = self.key_windows().iter().map(Window::start).collect();
            starts.sort();
            starts.dedup();
            let listed: Vec<String> = starts
                .iter()
                .take(20)
                .map(|t| {
                    if t.millis().rem_euclid(1000) == 0 {
                        t.format_seconds()
                    } else {
                        t.format_millis()
                    }
                })
                .collect();
            return Err(format!(
                "key {key:?} has no window starting at {}; its windows start at {}{}",
                self.target.window_start,
                listed.join(", "),
                if starts.len() > 20 { ", ..." } else { "" }
            ));
        };
        let mut out = String::new();
        let bound = window.max_timestamp().plus(self.allowed_lateness);
        let _ = writeln!(out, "key {key}, window {window}");
        let _ = writeln!(
            out,
            "  max timestamp {} + allowed lateness {} = {bound}: a record for this window is dropped when \
             the watermark is past {bound} (Beam's garbage collection)",
            window.max_timestamp(),
            self.allowed_lateness
        );
        let panes: Vec<&SeenPane> = self.panes.iter().filter(|p| p.window == window).collect();
        let in_window = |s: &&Seen| window.contains(s.event_time);
        let counted: Vec<&Seen> = self
            .seen
            .iter()
            .filter(in_window)
            .filter(|s| s.fate == ElementFate::Counted)
            .collect();
        let accumulating = self.accumulation == AccumulationMode::Accumulating;
        let _ = writeln!(
            out,
            "  {} pane(s){}",
            panes.len(),
            if accumulating {
                "; accumulating: each pane's value also holds the records of the panes before it"
            } else {
                "; discarding: each pane's value holds the records since the pane before it"
            }
        );
        let mut previous_step = 0;
        for (i, pane) in panes.iter().enumerate() {
            let _ = writeln!(
                out,
                "\npane {} of {}: {} (index {}{}), fired at step {} after {} arrival(s), watermark {}: {}",
                i + 1,
                panes.len(),
                timing_name(pane.pane.timing),
                pane.pane.index,
                if pane.pane.is_last { ", final" } else { "" },
                pane.step,
                pane.after_arrivals,
                pane.watermark,
                pane.value
            );
            let new: Vec<&&Seen> = counted
                .iter()
                .filter(|s| previous_step < s.step && s.step <= pane.step)
                .collect();
            let _ = writeln!(out, "  {} record(s) new in this pane:", new.len());
            for s in new {
                let _ = writeln!(
                    out,
                    "    {}{}",
                    describe(s),
                    if s.behind_window_end {
                        ": late data (the watermark had passed the window's end), within the allowed lateness"
                    } else {
                        ""
                    }
                );
            }
            previous_step = pane.step;
        }
        let unfired: Vec<&&Seen> = counted.iter().filter(|s| s.step > previous_step).collect();
        if !unfired.is_empty() {
            let _ = writeln!(
                out,
                "\n{} record(s) counted after the last pane (in no pane: a closed or merged window):",
                unfired.len()
            );
            for s in unfired {
                let _ = writeln!(out, "    {}", describe(s));
            }
        }
        let dropped: Vec<&Seen> = self
            .seen
            .iter()
            .filter(in_window)
            .filter(|s| matches!(s.fate, ElementFate::DroppedLate | ElementFate::DroppedClosed))
            .collect();
        let _ = writeln!(out, "\n{} record(s) of this window dropped:", dropped.len());
        for s in &dropped {
            let (watermark, reason) = s.dropped.clone().unwrap_or((s.watermark_then, String::new()));
            let why = if s.fate == ElementFate::DroppedClosed {
                format!("the window's trigger had finished (closed window; watermark {watermark}) [{reason}]")
            } else {
                format!("the watermark {watermark} was past max timestamp + allowed lateness = {bound}")
            };
            let _ = writeln!(out, "    {}: dropped: {why}", describe(s));
        }
        self.write_next_window(&mut out, window);
        Ok(out)
    }

    /// The key's next window after `window` and its records: the ones that "just missed".
    fn write_next_window(&self, out: &mut String, window: Window) {
        let next = self
            .seen
            .iter()
            .flat_map(|s| self.windows_of(s.event_time))
            .chain(self.panes.iter().map(|p| p.window))
            .filter(|w| w.start() >= window.end())
            .min_by_key(|w| (w.start(), w.end()));
        let Some(next) = next else {
            let _ = writeln!(out, "\nno record of this key fell into a later window");
            return;
        };
        let records: Vec<&Seen> = self.seen.iter().filter(|s| next.contains(s.event_time)).collect();
        let at_end = records.iter().filter(|s| s.event_time == window.end()).count();
        let _ = writeln!(
            out,
            "\nnext window {next}: {} record(s) of this key{}:",
            records.len(),
            if at_end > 0 {
                format!(
                    " ({at_end} at exactly {}, the end of the window explained: windows are half-open)",
                    window.end()
                )
            } else {
                String::new()
            }
        );
        for s in records {
            let _ = writeln!(out, "    {}: {}", describe(s), s.fate);
        }
    }
}

fn describe(s: &Seen) -> String {
    format!(
        "{} (arrival {}), event time {}, watermark then {}",
        s.position, s.arrival, s.event_time, s.watermark_then
    )
}

fn timing_name(timing: PaneTiming) -> &'static str {
    match timing {
        PaneTiming::Early => "EARLY",
        PaneTiming::OnTime => "ON_TIME",
        PaneTiming::Late => "LATE",
    }
}

impl<K: ObservedKey, O: Serialize> RunObserver<K, O> for Explainer {
    fn on_step(&mut self, step: &ObservedStep<'_, K, O>) {
        for e in step.elements {
            self.arrivals = self.arrivals.max(e.index + 1);
            let (Some(key), Some(t)) = (&e.key, e.event_time) else {
                continue;
            };
            if key.to_text() != self.target.key {
                continue;
            }
            let dropped = step
                .late
                .iter()
                .find(|l| l.position == e.position && l.event_time == t)
                .map(|l| (l.watermark, l.reason.clone()));
            self.seen.push(Seen {
                arrival: e.index,
                position: e.position,
                event_time: t,
                step: step.number,
                watermark_then: step.watermark_before,
                fate: e.fate,
                behind_window_end: e.behind_window_end,
                dropped,
            });
        }
        for out in step.outputs {
            if out.key.to_text() != self.target.key {
                continue;
            }
            self.panes.push(SeenPane {
                window: out.window,
                pane: out.pane,
                value: serde_json::to_string(&out.value).unwrap_or_default(),
                step: step.number,
                after_arrivals: self.arrivals,
                watermark: step.watermark,
            });
        }
    }
}
