//! The windowing strategy: window function, allowed lateness, trigger, accumulation mode, and the
//! closing and on-time behaviours.
//!
//! This is Beam's `WindowingStrategy`, the complete description of when panes fire and what they hold.
//! The rules it stands for are written in the README ("Semantics") and pinned by the core's tests.

use std::sync::Arc;

use crate::time::{Duration, Timestamp, Watermark, END_OF_GLOBAL_WINDOW};
use crate::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};
use crate::window::{FixedWindows, Window, WindowFn};

/// What a pane holds after the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccumulationMode {
    /// Each pane holds only the inputs since the previous pane (Beam's default).
    #[default]
    Discarding,
    /// Each pane holds every input of the window so far.
    Accumulating,
}

/// Everything the core needs to know to window, fire and expire.
#[derive(Debug, Clone)]
pub struct WindowingStrategy {
    /// Which windows an element belongs to.
    pub window_fn: Arc<dyn WindowFn>,
    /// How far behind the watermark a window still accepts elements.
    pub allowed_lateness: Duration,
    /// When panes fire.
    pub trigger: Trigger,
    /// What later panes hold.
    pub accumulation: AccumulationMode,
    /// Whether a window's last pane fires when it holds nothing new.
    pub closing_behavior: ClosingBehavior,
    /// Whether the on-time pane fires when it holds nothing new.
    pub on_time_behavior: OnTimeBehavior,
}

impl WindowingStrategy {
    /// A strategy with the given window function, no allowed lateness, the default trigger and
    /// discarding panes: Beam's defaults.
    pub fn new(window_fn: impl WindowFn + 'static) -> WindowingStrategy {
        WindowingStrategy {
            window_fn: Arc::new(window_fn),
            allowed_lateness: Duration::ZERO,
            trigger: Trigger::Default,
            accumulation: AccumulationMode::Discarding,
            closing_behavior: ClosingBehavior::default(),
            on_time_behavior: OnTimeBehavior::default(),
        }
    }

    /// Fixed windows of `size`, Beam's defaults otherwise.
    pub fn fixed(size: Duration) -> WindowingStrategy {
        WindowingStrategy::new(FixedWindows::of(size))
    }

    /// Sets the allowed lateness.
    pub fn with_allowed_lateness(mut self, lateness: Duration) -> WindowingStrategy {
        assert!(
            lateness >= Duration::ZERO,
            "allowed lateness cannot be negative, got {lateness}"
        );
        self.allowed_lateness = lateness;
        self
    }

    /// Sets the accumulation mode.
    pub fn with_accumulation(mut self, mode: AccumulationMode) -> WindowingStrategy {
        self.accumulation = mode;
        self
    }

    /// Sets the trigger.
    pub fn with_trigger(mut self, trigger: impl Into<Trigger>) -> WindowingStrategy {
        self.trigger = trigger.into();
        self
    }

    /// Sets what a window's last pane does when it holds nothing new.
    pub fn with_closing_behavior(mut self, behavior: ClosingBehavior) -> WindowingStrategy {
        self.closing_behavior = behavior;
        self
    }

    /// Sets whether an empty on-time pane fires.
    pub fn with_on_time_behavior(mut self, behavior: OnTimeBehavior) -> WindowingStrategy {
        self.on_time_behavior = behavior;
        self
    }

    /// `end − 1 ms + allowed lateness`: the garbage-collection time of `window`. Once the watermark is
    /// past it (strictly), the window is expired: its state is dropped and new elements are dropped.
    ///
    /// As Beam's `LateDataUtils.garbageCollectionTime`, it is capped at the end of the global window
    /// ([`END_OF_GLOBAL_WINDOW`]), or at the window's own max timestamp for the window of the last day
    /// after it: a huge allowed lateness can then never push it to +∞, where no watermark could pass it
    /// and the window's state would outlive the end of input.
    pub fn gc_time(&self, window: &Window) -> Timestamp {
        let max_timestamp = window.max_timestamp();
        if max_timestamp > END_OF_GLOBAL_WINDOW.minus(self.allowed_lateness) {
            return max_timestamp.max(END_OF_GLOBAL_WINDOW);
        }
        max_timestamp.plus(self.allowed_lateness)
    }

    /// Beam's droppable rule (Java SDK): an element is dropped for `window` when
    /// `end − 1 ms + allowed_lateness < watermark`.
    pub fn is_expired(&self, window: &Window, watermark: Watermark) -> bool {
        self.gc_time(window) < watermark.timestamp()
    }
}
