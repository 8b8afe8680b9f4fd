//! The sans-IO windowing core: per-key, per-window aggregation state, timers and pane firing.
//!
//! [`WindowedAggregator`] is a synchronous state machine in the style of quinn-proto: the caller hands it
//! elements (key, event timestamp, input), bundle boundaries, watermark advances and processing-time
//! ticks, and it pushes the panes that fire onto an output vector. It never reads a clock, draws a
//! random number or performs I/O, so every runner (simulator, TestStream, Kafka) drives the same code.
//!
//! # Semantics (Apache Beam's, as the Java SDK implements them)
//!
//! * Windows are `[start, end)`; a window's max timestamp is `end − 1 ms`.
//! * The on-time pane of a key's window fires when the watermark reaches `end` (passes `end − 1 ms`),
//!   only for windows that received data. It holds everything buffered, however far the watermark
//!   jumped past the end.
//! * An element is dropped for a window when `end − 1 ms + allowed_lateness < watermark`; at that same
//!   point the window's state is dropped, so nothing can fire for it afterwards.
//! * After the watermark passed the end, elements within allowed lateness fire a late pane when their
//!   input bundle ends: one pane per key and window per bundle. A window whose first element is already
//!   late fires a late pane with index 0.
//! * Discarding panes hold the inputs since the previous pane; accumulating panes hold all inputs so far.
//! * A pane is final (`is_last`) when the window's state is dropped right after it: the on-time pane when
//!   the watermark went past `end − 1 ms + allowed_lateness` at once (always so with zero lateness).

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, PaneTiming};
use crate::strategy::{AccumulationMode, WindowingStrategy};
use crate::time::{Timestamp, Watermark};
use crate::window::Window;

/// What became of one element handed to [`WindowedAggregator::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Added to at least one window.
    Accepted,
    /// Every window of the element had expired: the element is dropped as late.
    DroppedLate,
    /// The window function put the element in no window at all: the built-in ones do so for a
    /// timestamp outside `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`. Nothing is kept; a pipeline
    /// dead-letters such an element (and checks the range before it gets here).
    NoWindow,
}

/// Which timer a window is waiting for. A window has exactly one pending timer at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerKind {
    /// Fires the on-time pane when the watermark passes `end − 1 ms`.
    EndOfWindow,
    /// Drops the window's state when the watermark passes `end − 1 ms + allowed_lateness`.
    GarbageCollection,
}

struct WindowState<A> {
    window: Window,
    accumulator: A,
    /// Inputs added since the previous pane (Beam's "non-empty pane" flag, as a count).
    inputs_since_last_pane: u64,
    /// The previous pane, if any: its index, non-speculative index and timing decide the next one.
    last_pane: Option<PaneInfo>,
    timer: TimerKind,
    /// Queued in `late_windows` to fire at the end of the current bundle.
    late_fire_pending: bool,
}

/// Counters the core keeps for runners' summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregatorStats {
    /// Elements added to at least one window.
    pub accepted: u64,
    /// Elements dropped because every window they belong to had expired.
    pub dropped_late: u64,
    /// Elements the window function assigned to no window ([`Fate::NoWindow`]).
    pub no_window: u64,
    /// (element, window) pairs dropped as expired, including those of elements accepted elsewhere
    /// (sliding windows).
    pub dropped_window_assignments: u64,
    /// Panes fired.
    pub panes: u64,
}

/// The windowing core: aggregates inputs per key and window and fires panes by Beam's rules.
///
/// ```
/// use pipeline::aggregator::WindowedAggregator;
/// use pipeline::combine::Count;
/// use pipeline::pane::PaneTiming;
/// use pipeline::strategy::WindowingStrategy;
/// use pipeline::time::{Duration, Timestamp, Watermark};
///
/// let mut core = WindowedAggregator::new(WindowingStrategy::fixed(Duration::seconds(20)), Count);
/// let mut panes = Vec::new();
/// for t in [1_000, 5_000, 19_999] {
///     core.process("alice", Timestamp::from_millis(t), ());
///     core.finish_bundle(&mut panes);
/// }
/// core.advance_watermark(Watermark::at(Timestamp::from_millis(19_999)), &mut panes);
/// assert!(panes.is_empty(), "end − 1 ms does not fire");
/// core.advance_watermark(Watermark::at(Timestamp::from_millis(20_000)), &mut panes);
/// assert_eq!(panes.len(), 1);
/// assert_eq!((panes[0].value, panes[0].info.timing), (3, PaneTiming::OnTime));
/// ```
pub struct WindowedAggregator<K, C: CombineFn> {
    strategy: WindowingStrategy,
    combine: C,
    watermark: Watermark,
    processing_time: Timestamp,
    /// Open windows per key. A key holds few windows at once, so a vector beats a map here.
    windows_by_key: HashMap<K, Vec<WindowState<C::Accumulator>>>,
    /// Pending event-time timers, ordered by (time, window, key): the canonical firing order.
    timers: BTreeSet<(Timestamp, Window, K)>,
    /// Windows that took late elements in the current bundle.
    late_windows: Vec<(Window, K)>,
    assigned: Vec<Window>,
    open_windows: usize,
    stats: AggregatorStats,
}

impl<K, C> WindowedAggregator<K, C>
where
    K: Clone + Ord + Hash,
    C: CombineFn,
{
    /// A core with no state, the watermark at −∞ and processing time at the epoch.
    pub fn new(strategy: WindowingStrategy, combine: C) -> Self {
        // Work in progress: the trigger algebra and merging windows are being built on this core.
        assert!(
            strategy.trigger == crate::trigger::Trigger::Default && !strategy.window_fn.is_merging(),
            "the windowing core runs the default trigger and non-merging windows only, for now; got {} with {:?}",
            strategy.trigger,
            strategy.window_fn
        );
        WindowedAggregator {
            strategy,
            combine,
            watermark: Watermark::MIN,
            processing_time: Timestamp::EPOCH,
            windows_by_key: HashMap::new(),
            timers: BTreeSet::new(),
            late_windows: Vec::new(),
            assigned: Vec::new(),
            open_windows: 0,
            stats: AggregatorStats::default(),
        }
    }

    /// The strategy this core runs.
    pub fn strategy(&self) -> &WindowingStrategy {
        &self.strategy
    }

    /// The current input watermark.
    pub fn watermark(&self) -> Watermark {
        self.watermark
    }

    /// The current processing time (virtual: whatever the runner last said).
    pub fn processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// How many (key, window) states are open.
    pub fn open_windows(&self) -> usize {
        self.open_windows
    }

    /// The earliest start among the open (key, window) states, `None` when none is open: no element
    /// with an earlier timestamp is held in any state (a session's start is its earliest element). The
    /// Kafka consumer holds its offset commits behind it.
    pub fn earliest_open_window_start(&self) -> Option<Timestamp> {
        self.windows_by_key
            .values()
            .flatten()
            .map(|state| state.window.start())
            .min()
    }

    /// The time of the earliest pending event-time timer: the watermark must pass it for anything to fire.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.first().map(|(t, _, _)| *t)
    }

    /// Counters so far.
    pub fn stats(&self) -> AggregatorStats {
        self.stats
    }

    /// Adds one element of the current bundle. Late elements within allowed lateness fire when the bundle
    /// ends ([`finish_bundle`](Self::finish_bundle)); on-time elements wait for the watermark.
    pub fn process(&mut self, key: K, timestamp: Timestamp, input: C::Input) -> Fate {
        self.assigned.clear();
        self.strategy.window_fn.assign_windows(timestamp, &mut self.assigned);
        if self.assigned.is_empty() {
            self.stats.no_window += 1;
            return Fate::NoWindow;
        }
        let watermark = self.watermark;
        let before = self.assigned.len();
        let strategy = &self.strategy;
        self.assigned.retain(|w| !strategy.is_expired(w, watermark));
        self.stats.dropped_window_assignments += (before - self.assigned.len()) as u64;
        if self.assigned.is_empty() {
            self.stats.dropped_late += 1;
            return Fate::DroppedLate;
        }
        self.stats.accepted += 1;

        let states = match self.windows_by_key.get_mut(&key) {
            Some(states) => states,
            None => self.windows_by_key.entry(key.clone()).or_default(),
        };
        for window in &self.assigned {
            let position = match states.iter().position(|s| s.window == *window) {
                Some(p) => p,
                None => {
                    // A window that has passed its end already waits only for garbage collection.
                    let (timer, time) = if watermark.timestamp() > window.max_timestamp() {
                        (TimerKind::GarbageCollection, strategy.gc_time(window))
                    } else {
                        (TimerKind::EndOfWindow, window.max_timestamp())
                    };
                    self.timers.insert((time, *window, key.clone()));
                    self.open_windows += 1;
                    states.push(WindowState {
                        window: *window,
                        accumulator: self.combine.create_accumulator(),
                        inputs_since_last_pane: 0,
                        last_pane: None,
                        timer,
                        late_fire_pending: false,
                    });
                    states.len() - 1
                }
            };
            let state = &mut states[position];
            self.combine.add_input(&mut state.accumulator, input.clone());
            state.inputs_since_last_pane += 1;
            // The default trigger fires as soon as it sees an element behind the watermark.
            if watermark.timestamp() > window.max_timestamp() && !state.late_fire_pending {
                state.late_fire_pending = true;
                self.late_windows.push((*window, key.clone()));
            }
        }
        Fate::Accepted
    }

    /// Ends the current input bundle: fires one late pane per key and window that took late elements.
    pub fn finish_bundle(&mut self, out: &mut Vec<Pane<K, C::Output>>) {
        if self.late_windows.is_empty() {
            return;
        }
        let mut late = std::mem::take(&mut self.late_windows);
        late.sort_unstable();
        for (window, key) in late.drain(..) {
            let states = self.windows_by_key.get_mut(&key).expect("a late window has state");
            let state = states
                .iter_mut()
                .find(|s| s.window == window)
                .expect("a late window has state");
            state.late_fire_pending = false;
            let pane = fire(
                &self.combine,
                self.strategy.accumulation,
                state,
                PaneTiming::Late,
                false,
            );
            self.stats.panes += 1;
            out.push(Pane {
                key,
                window,
                info: pane.0,
                value: pane.1,
            });
        }
        self.late_windows = late;
    }

    /// Moves the watermark forward to `to` and fires every timer it passes, in (time, window, key) order.
    /// A watermark at or behind the current one changes nothing: watermarks never move backwards.
    pub fn advance_watermark(&mut self, to: Watermark, out: &mut Vec<Pane<K, C::Output>>) {
        assert!(
            self.late_windows.is_empty(),
            "advance_watermark inside a bundle: call finish_bundle first"
        );
        if to <= self.watermark {
            return;
        }
        self.watermark = to;
        while let Some((time, _, _)) = self.timers.first() {
            if *time >= to.timestamp() {
                break;
            }
            let (_, window, key) = self.timers.pop_first().expect("checked above");
            self.on_timer(key, window, out);
        }
    }

    /// Moves processing time forward. The default trigger has no processing-time timers; early and late
    /// firings that wait on processing time hook in here.
    pub fn advance_processing_time(&mut self, to: Timestamp, _out: &mut Vec<Pane<K, C::Output>>) {
        if to > self.processing_time {
            self.processing_time = to;
        }
    }

    fn on_timer(&mut self, key: K, window: Window, out: &mut Vec<Pane<K, C::Output>>) {
        let watermark = self.watermark;
        let states = self.windows_by_key.get_mut(&key).expect("a timer's window has state");
        let position = states
            .iter()
            .position(|s| s.window == window)
            .expect("a timer's window has state");
        let expired = self.strategy.is_expired(&window, watermark);
        let state = &mut states[position];
        let fired = match state.timer {
            // Windows only exist once they hold data, so the on-time pane is never empty here.
            TimerKind::EndOfWindow => Some(PaneTiming::OnTime),
            // Late elements fire at the end of their bundle, so a garbage-collection pane is only
            // needed if something arrived since (not possible with the default trigger).
            TimerKind::GarbageCollection => (state.inputs_since_last_pane > 0).then_some(PaneTiming::Late),
        };
        if let Some(timing) = fired {
            let (info, value) = fire(&self.combine, self.strategy.accumulation, state, timing, expired);
            self.stats.panes += 1;
            out.push(Pane {
                key: key.clone(),
                window,
                info,
                value,
            });
        }
        if expired {
            states.swap_remove(position);
            self.open_windows -= 1;
            if states.is_empty() {
                self.windows_by_key.remove(&key);
            }
        } else {
            state.timer = TimerKind::GarbageCollection;
            self.timers.insert((self.strategy.gc_time(&window), window, key));
        }
    }
}

/// Emits the pane of `state` and resets it for the next one, following Beam's `PaneInfoTracker`.
fn fire<C: CombineFn>(
    combine: &C,
    mode: AccumulationMode,
    state: &mut WindowState<C::Accumulator>,
    timing: PaneTiming,
    is_last: bool,
) -> (PaneInfo, C::Output) {
    let index = state.last_pane.map_or(0, |p| p.index + 1);
    let non_speculative_index = match (timing, state.last_pane) {
        (PaneTiming::Early, _) => None,
        (
            _,
            Some(PaneInfo {
                non_speculative_index: Some(i),
                ..
            }),
        ) => Some(i + 1),
        _ => Some(0),
    };
    if let Some(previous) = state.last_pane {
        assert!(
            !previous.is_last,
            "a pane fired after the final pane of {:?}",
            state.window
        );
        assert!(
            !(previous.timing != PaneTiming::Early && timing == PaneTiming::OnTime),
            "a second on-time pane for {:?}",
            state.window
        );
    }
    let info = PaneInfo {
        timing,
        index,
        non_speculative_index,
        is_first: index == 0,
        is_last,
    };
    let value = combine.extract_output(&state.accumulator);
    state.last_pane = Some(info);
    state.inputs_since_last_pane = 0;
    if mode == AccumulationMode::Discarding {
        state.accumulator = combine.create_accumulator();
    }
    (info, value)
}

#[cfg(test)]
mod tests;
