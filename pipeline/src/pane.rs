//! Panes: one firing of one key's window, and what the firing was (early, on time, late, final).
//!
//! [`PaneInfo`] mirrors Beam's `PaneInfo`: timing, index, the index among non-early panes, and the
//! first/last flags. A [`Pane`] carries it together with the key, the window and the aggregated value.

use std::fmt;

use crate::window::Window;

/// When a pane fired relative to the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaneTiming {
    /// Before the watermark reached the end of the window (speculative; needs an early-firing trigger).
    Early,
    /// The one pane fired when the watermark reached the end of the window.
    OnTime,
    /// After the on-time pane, for elements that arrived behind the watermark within allowed lateness.
    Late,
}

impl PaneTiming {
    /// `EARLY`, `ON_TIME` or `LATE`, as Beam prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaneTiming::Early => "EARLY",
            PaneTiming::OnTime => "ON_TIME",
            PaneTiming::Late => "LATE",
        }
    }
}

impl fmt::Display for PaneTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a firing was: Beam's `PaneInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaneInfo {
    /// Early, on time or late.
    pub timing: PaneTiming,
    /// 0 for the first pane of this key and window, then 1, 2, …
    pub index: u64,
    /// The index among non-early panes (the on-time pane is 0); `None` for early panes.
    pub non_speculative_index: Option<u64>,
    /// True for the first pane of this key and window.
    pub is_first: bool,
    /// True for the last pane: the window's state is dropped right after it.
    pub is_last: bool,
}

/// One firing: the value aggregated for `key` in `window`, and what the firing was.
#[derive(Debug, Clone, PartialEq)]
pub struct Pane<K, V> {
    /// The grouping key.
    pub key: K,
    /// The window the value covers.
    pub window: Window,
    /// Timing and index of this firing.
    pub info: PaneInfo,
    /// The aggregated value: only this pane's inputs when discarding, all inputs so far when accumulating.
    pub value: V,
}
