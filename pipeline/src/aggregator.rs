//! The sans-IO windowing core: per-key, per-window aggregation state, triggers, timers and pane firing.
//!
//! [`WindowedAggregator`] is a synchronous state machine in the style of quinn-proto: the caller hands it
//! input bundles (key, event timestamp, input), watermark advances and processing-time advances, and it
//! pushes the panes that fire onto an output vector. Its timers are values it keeps: the caller asks for
//! [`next_timer`](WindowedAggregator::next_timer) and
//! [`next_processing_time_timer`](WindowedAggregator::next_processing_time_timer) to know when to wake
//! it. It never reads a clock, draws a random number or performs I/O, so every runner (simulator,
//! TestStream, Kafka) drives the same code.
//!
//! # Semantics (Apache Beam's, as the Java SDK's `ReduceFnRunner` implements them)
//!
//! * Windows are `[start, end)`; a window's max timestamp is `end − 1 ms`. An element is dropped for a
//!   window when `end − 1 ms + allowed_lateness < watermark` (the window is *expired*); at that same
//!   point the window's state is garbage-collected.
//! * **A bundle** is processed as `ReduceFnRunner.processElements`: with a merging window function
//!   (sessions) the key's windows merge first (the bundle's new windows with the active ones); then every
//!   element is added to its (merged) windows; then every window the bundle touched is asked whether its
//!   trigger should fire, and fires at most once. So a bundle of late elements fires one late pane per
//!   key and window.
//! * **Triggers** run as Beam's state machines (`machine`), per key and window. The watermark and
//!   processing time wake a window through the timers its trigger set (the end of the window for
//!   `AfterWatermark`, the target of `AfterProcessingTime`); a timer fires once its clock is strictly past
//!   it, and wakes the window to ask `shouldFire`, at most once per step. Processing-time timers of an
//!   expired window are ignored.
//! * **A closed window**: once the root trigger finishes, the window's pane state is dropped and its
//!   finished bits are kept until garbage collection; elements for it are dropped (Beam's
//!   `droppedDueToClosedWindow`, [`Fate::DroppedClosed`]).
//! * **Garbage collection** (the watermark past `end − 1 ms + allowed_lateness`): a window still open
//!   emits a final pane if it holds new elements, or always with `ClosingBehavior::FIRE_ALWAYS`, or when
//!   that final pane is the on-time one and `OnTimeBehavior::FIRE_ALWAYS`; then all its state goes.
//! * **Pane timing** follows Beam's `PaneInfoTracker`: `EARLY` while the watermark has not passed the
//!   end of the window; the first non-early pane is `ON_TIME` unless the window's output was already late
//!   (see below); every pane after a non-early one is `LATE`. Indices count from 0; the non-speculative
//!   index counts non-early panes and is `None` (Beam's −1) for early ones. An empty pane that is
//!   neither the on-time pane under `OnTimeBehavior::FIRE_ALWAYS` nor a final pane under
//!   `ClosingBehavior::FIRE_ALWAYS` is not emitted and takes no index.
//! * **Late for output**: Beam calls a pane late when the output watermark is already past the window's
//!   max timestamp. The output watermark is held by the window's element holds (on-time elements not
//!   yet in a pane) and by its end-of-window timer; it catches up with the input watermark at the end of
//!   a step. This core keeps that hold per window: a window's output is late once, at the end of an
//!   earlier step, the watermark was past its max timestamp while it held nothing there. A window whose
//!   first element is already behind the watermark is late from the start (its late pane has index 0).
//! * **Merging windows**: the merged window takes the merged windows' accumulators
//!   ([`CombineFn::merge_accumulators`]), their new-element counts, and their trigger state through
//!   `onMerge`; the merged-away windows' end-of-window and garbage-collection timers are cancelled and
//!   their pane history is forgotten, so a merged window that is new starts again at pane index 0
//!   (Beam's `PaneInfoTracker.clear` in `ReduceFnRunner.onMerge`). A merged window equal to one of the
//!   merging windows keeps its pane history.
//! * **Determinism**: panes that fire in the same step are emitted ordered by window end, window start,
//!   then key.
//! * **Accumulation**: discarding panes hold the inputs since the previous pane; accumulating panes all
//!   inputs so far. A pane is final (`is_last`) when the trigger finished with it or the window was
//!   garbage-collected right after it.
//!
//! # Cost
//!
//! The (key, window) states and the event-time timers live in an index (`store`): a record costs a hash
//! lookup of its key and of each of its windows, a watermark step takes only the timer buckets that are
//! due, and a firing sorts only the due windows, so none of them depends on how many windows are open.
//! Session merges find their candidates by a range query over the key's active windows. An open window of
//! a `u64` accumulator with the default trigger takes about 80 bytes of the index's tables.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, PaneTiming};
use crate::strategy::{AccumulationMode, WindowingStrategy};
use crate::time::{Timestamp, Watermark};
use crate::trigger::{ClosingBehavior, OnTimeBehavior};
use crate::window::Window;

mod machine;
mod store;

use machine::{Env, MergingStates, TriggerProgram, TriggerState, Wakeups};
use store::{KeyId, SlotId, Store, TimerQueue};

/// What became of one element of a bundle handed to [`WindowedAggregator::process_bundle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Added to at least one window.
    Accepted,
    /// Every window of the element had expired: the element is dropped as late.
    DroppedLate,
    /// No window took the element and at least one of them had its trigger finished (closed): Beam drops
    /// elements for a closed window (`droppedDueToClosedWindow`). The window is one of the closed ones.
    DroppedClosed(Window),
    /// The window function put the element in no window at all: the built-in ones do so for a
    /// timestamp outside `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`. Nothing is kept; a pipeline
    /// dead-letters such an element (and checks the range before it gets here).
    NoWindow,
}

/// Counters the core keeps for runners' summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregatorStats {
    /// Elements added to at least one window.
    pub accepted: u64,
    /// Elements dropped because every window they belong to had expired.
    pub dropped_late: u64,
    /// Elements dropped because none of their windows was open and at least one was closed
    /// ([`Fate::DroppedClosed`]).
    pub dropped_closed: u64,
    /// Elements the window function assigned to no window ([`Fate::NoWindow`]).
    pub no_window: u64,
    /// (element, window) pairs dropped as expired, including those of elements accepted elsewhere
    /// (sliding windows).
    pub dropped_window_assignments: u64,
    /// (element, window) pairs dropped because the window's trigger had finished: Beam's
    /// `droppedDueToClosedWindow` counter.
    pub dropped_closed_window: u64,
    /// Window merges (a set of windows becoming one).
    pub merges: u64,
    /// Elements in no pane yet whose window merged into a window whose trigger had finished. Beam's
    /// `ReduceFnRunner` merges them into the closed window's state, which never fires again, so they are in
    /// no pane; they are counted here so that nothing goes unaccounted (see [`Fate::DroppedClosed`]).
    pub merged_into_closed: u64,
    /// Panes fired.
    pub panes: u64,
}

/// One key's window: its accumulator, trigger state, pane history, holds and timers. Kept small (64 bytes
/// with a `u64` accumulator): a core may hold millions.
struct WindowState<A> {
    window: Window,
    accumulator: A,
    /// Elements added since the previous pane (Beam's `NonEmptyPanes`).
    inputs_since_last_pane: u64,
    /// The step since whose end the window has held the output watermark nowhere at or before its max
    /// timestamp (no element hold, no end-of-window timer); [`HOLDING`] while it does. See the module docs.
    clear_since: u64,
    trigger: TriggerState,
    /// The key's id in the store.
    key: KeyId,
    /// Beam's `PaneInfoTracker` state: panes fired so far (the previous pane's index + 1; 0 for none) ...
    panes: u32,
    /// ... and how many of them were early (panes go EARLY* ON_TIME? LATE*, so the previous pane was early
    /// exactly when all were).
    early_panes: u32,
    /// In Beam's active window set: it has state and its trigger has not finished. A window that is not
    /// active is a closed one, remembered for its finished bits until garbage collection.
    active: bool,
    /// [`ELEMENT_HOLD`], [`EOW_TIMER`], [`GC_TIMER`], [`CONSIDERED`], and the store's `ENDS_LAST`.
    flags: u8,
}

/// `clear_since` of a window that holds the output watermark.
const HOLDING: u64 = u64::MAX;
/// An element hold at the window's max timestamp: an on-time element is waiting for a pane.
const ELEMENT_HOLD: u8 = 1;
/// A trigger's event-time timer at the window's max timestamp is pending.
const EOW_TIMER: u8 = 2;
/// The garbage-collection timer is pending.
const GC_TIMER: u8 = 4;
/// Queued in the bundle's windows to ask `shouldFire`.
const CONSIDERED: u8 = 8;
// Bit 7 is the store's (`store::ENDS_LAST`).

impl<A> WindowState<A> {
    /// The time of the one event-time timer the window has queued (see `schedule_gc`): its end-of-window
    /// timer while that is pending, then its garbage-collection timer.
    fn queued_timer(&self, strategy: &WindowingStrategy) -> Option<Timestamp> {
        if self.has(EOW_TIMER) {
            Some(self.window.max_timestamp())
        } else if self.has(GC_TIMER) {
            Some(strategy.gc_time(&self.window))
        } else {
            None
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// `clear_since` as an option.
    fn clear_since(&self) -> Option<u64> {
        (self.clear_since != HOLDING).then_some(self.clear_since)
    }

    fn set_clear_since(&mut self, since: Option<u64>) {
        self.clear_since = since.unwrap_or(HOLDING);
    }

    /// The previous pane (Beam's `PaneInfoTracker` state): its index, whether it was early, and its
    /// non-speculative index.
    fn last_pane(&self) -> Option<(u64, bool, Option<u64>)> {
        (self.panes > 0).then(|| {
            let early = self.early_panes == self.panes;
            let non_speculative = (!early).then(|| u64::from(self.panes - self.early_panes - 1));
            (u64::from(self.panes - 1), early, non_speculative)
        })
    }
}

/// Everything but the per-key window states, so that a key's states and the machinery can be borrowed
/// apart.
struct Machinery<K, C: CombineFn> {
    strategy: WindowingStrategy,
    combine: C,
    program: TriggerProgram,
    merging: bool,
    watermark: Watermark,
    /// The watermark at the start of the current step (the output watermark catches up at step ends);
    /// only a watermark advance moves the watermark within a step.
    step_start_watermark: Timestamp,
    processing_time: Timestamp,
    /// The current step: a bundle, a watermark advance or a processing-time advance. Starts at 1.
    step: u64,
    /// Pending event-time timers (end of window, garbage collection).
    event_timers: TimerQueue,
    /// Pending processing-time timers. Like Beam's, they are never cancelled: one that outlived its
    /// purpose wakes the window and finds nothing to fire.
    processing_timers: BTreeSet<(Timestamp, Window, K)>,
    wakeups: Wakeups,
    /// Under a merging window function: the active windows of each key, in order, to find the ones a new
    /// window may merge with by a range query.
    active: BTreeSet<(KeyId, Timestamp, Timestamp)>,
    /// The window function merges exactly chains of intersecting windows ([`WindowFn::merges_intersecting`]).
    ///
    /// [`WindowFn::merges_intersecting`]: crate::window::WindowFn::merges_intersecting
    merges_intersecting: bool,
    /// The windows the current bundle touched.
    to_consider: Vec<SlotId>,
    /// The windows a timer step wakes (kept to spare the allocation); between the parts of a watermark
    /// step fired in parts, `due[due_next..]` are still to be woken (`due` is empty between steps).
    due: Vec<SlotId>,
    due_next: usize,
    /// The windows a watermark step garbage-collects: removed together at the end of the step.
    expired: Vec<SlotId>,
    elements: u64,
    stats: AggregatorStats,
}

/// The windowing core: aggregates inputs per key and window and fires panes by Beam's rules.
///
/// ```
/// use pipeline::aggregator::{Fate, WindowedAggregator};
/// use pipeline::combine::Count;
/// use pipeline::pane::PaneTiming;
/// use pipeline::strategy::WindowingStrategy;
/// use pipeline::time::{Duration, Timestamp, Watermark};
///
/// let mut core = WindowedAggregator::new(WindowingStrategy::fixed(Duration::seconds(20)), Count);
/// let (mut fates, mut panes) = (Vec::new(), Vec::new());
/// for t in [1_000, 5_000, 19_999] {
///     core.process_bundle([("alice", Timestamp::from_millis(t), ())], &mut fates, &mut panes);
///     assert_eq!(fates, [Fate::Accepted]);
/// }
/// core.advance_watermark(Watermark::at(Timestamp::from_millis(19_999)), &mut panes);
/// assert!(panes.is_empty(), "end − 1 ms does not fire");
/// core.advance_watermark(Watermark::at(Timestamp::from_millis(20_000)), &mut panes);
/// assert_eq!(panes.len(), 1);
/// assert_eq!((panes[0].value, panes[0].info.timing), (3, PaneTiming::OnTime));
/// ```
pub struct WindowedAggregator<K, C: CombineFn> {
    machinery: Machinery<K, C>,
    /// Every (key, window) state, open and closed, indexed by key and window.
    store: Store<K, C::Accumulator>,
    assigned: Vec<Window>,
}

/// The canonical order of panes fired in one step: window end, window start, key.
fn firing_order<K: Ord>(a: &(Window, K), b: &(Window, K)) -> std::cmp::Ordering {
    (a.0.end(), a.0.start(), &a.1).cmp(&(b.0.end(), b.0.start(), &b.1))
}

impl<K, C> WindowedAggregator<K, C>
where
    K: Clone + Ord + Hash,
    C: CombineFn,
{
    /// A core with no state, the watermark at −∞ and processing time at the epoch.
    pub fn new(strategy: WindowingStrategy, combine: C) -> Self {
        let program = TriggerProgram::new(&strategy.trigger);
        let merging = strategy.window_fn.is_merging();
        let merges_intersecting = strategy.window_fn.merges_intersecting();
        WindowedAggregator {
            machinery: Machinery {
                strategy,
                combine,
                program,
                merging,
                watermark: Watermark::MIN,
                step_start_watermark: Timestamp::MIN,
                processing_time: Timestamp::EPOCH,
                step: 1,
                event_timers: TimerQueue::default(),
                processing_timers: BTreeSet::new(),
                wakeups: Wakeups::default(),
                active: BTreeSet::new(),
                merges_intersecting,
                to_consider: Vec::new(),
                due: Vec::new(),
                due_next: 0,
                expired: Vec::new(),
                elements: 0,
                stats: AggregatorStats::default(),
            },
            store: Store::new(),
            assigned: Vec::new(),
        }
    }

    /// The strategy this core runs.
    pub fn strategy(&self) -> &WindowingStrategy {
        &self.machinery.strategy
    }

    /// The current input watermark.
    pub fn watermark(&self) -> Watermark {
        self.machinery.watermark
    }

    /// The current processing time (virtual: whatever the runner last said).
    pub fn processing_time(&self) -> Timestamp {
        self.machinery.processing_time
    }

    /// How many (key, window) states are held: open windows, and closed ones remembered until their
    /// garbage collection.
    pub fn open_windows(&self) -> usize {
        self.store.len()
    }

    /// Bytes the state index's tables hold: window states, the key and window tables, timers (B-tree
    /// entries counted at their size, without node overhead), less the keys themselves and whatever keys
    /// and accumulators own on the heap. For benchmarks of the memory an open window takes.
    pub fn state_table_bytes(&self) -> usize {
        let m = &self.machinery;
        self.store.table_bytes()
            + m.event_timers.table_bytes()
            + m.active.len() * std::mem::size_of::<(KeyId, Timestamp, Timestamp)>()
    }

    /// The earliest start among the open (key, window) states, `None` when none is open: no element
    /// with an earlier timestamp is held in any state (a session's start is its earliest element). The
    /// Kafka consumer holds its offset commits behind it.
    pub fn earliest_open_window_start(&self) -> Option<Timestamp> {
        self.store.earliest_start()
    }

    /// The time of the earliest pending event-time timer: the watermark must pass it for anything to fire.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.machinery.event_timers.first()
    }

    /// The time of the earliest pending processing-time timer: processing time must pass it (be advanced
    /// beyond it) for the window it belongs to to be woken. A runner schedules its next processing-time
    /// advance from this.
    pub fn next_processing_time_timer(&self) -> Option<Timestamp> {
        self.machinery.processing_timers.first().map(|(t, _, _)| *t)
    }

    /// Counters so far.
    pub fn stats(&self) -> AggregatorStats {
        self.machinery.stats
    }

    /// True when the window function merges windows (sessions): a bundle must then be handed over whole,
    /// with [`process_bundle`](Self::process_bundle), since Beam merges before it adds any element.
    pub fn merges_windows(&self) -> bool {
        self.machinery.merging
    }

    /// Processes one input bundle (Beam's `ReduceFnRunner.processElements`): merges windows if the window
    /// function merges, adds each element to its windows (dropping it for expired and closed ones), then
    /// fires every window of the bundle whose trigger says so, at most once each. `fates` receives the
    /// fate of each element, in order.
    pub fn process_bundle<I>(&mut self, elements: I, fates: &mut Vec<Fate>, out: &mut Vec<Pane<K, C::Output>>)
    where
        I: IntoIterator<Item = (K, Timestamp, C::Input)>,
    {
        self.complete_firing(out);
        fates.clear();
        if self.machinery.merging {
            let elements: Vec<_> = elements.into_iter().collect();
            self.process_merging(elements, fates);
        } else {
            for (key, t, input) in elements {
                let fate = self.process_element(key, t, input, Watermark::MIN);
                fates.push(fate);
            }
        }
        self.machinery.elements += fates.len() as u64;
        self.finish_bundle(out);
    }

    /// Adds one element to the current bundle, which [`finish_bundle`](Self::finish_bundle) ends: the
    /// element-at-a-time form of [`process_bundle`](Self::process_bundle) for a window function that
    /// does not merge (the same semantics: no window fires before the bundle ends). Panics when the
    /// window function merges ([`merges_windows`](Self::merges_windows)).
    pub fn process(&mut self, key: K, timestamp: Timestamp, input: C::Input) -> Fate {
        self.process_within(key, timestamp, input, Watermark::MIN)
    }

    /// [`process`](Self::process), with windows that are expired at `horizon` dropped too, even when
    /// the aggregator's own watermark has not reached it yet.
    ///
    /// A runner that judges lateness by a watermark of its own (the Kafka core judges each record by its
    /// partition's watermark, which depends only on the partition's records) passes it here, so that
    /// which of an element's windows it joins does not depend on how the partitions' reads interleaved.
    /// With `Watermark::MIN` this is `process`.
    pub fn process_within(&mut self, key: K, timestamp: Timestamp, input: C::Input, horizon: Watermark) -> Fate {
        assert!(
            !self.machinery.merging,
            "a merging window function needs whole bundles: use process_bundle"
        );
        assert!(
            self.machinery.due.is_empty(),
            "a watermark step fired in parts is under way: finish it (continue_firing) before the next element"
        );
        self.machinery.elements += 1;
        self.process_element(key, timestamp, input, horizon)
    }

    /// Ends the current bundle: every window it touched fires if its trigger says so, at most once, in
    /// the canonical order.
    pub fn finish_bundle(&mut self, out: &mut Vec<Pane<K, C::Output>>) {
        self.complete_firing(out);
        if !self.machinery.to_consider.is_empty() {
            self.fire_considered(out);
        }
        let m = &mut self.machinery;
        let s = m.stats;
        assert_eq!(
            s.accepted + s.dropped_late + s.dropped_closed + s.no_window,
            m.elements,
            "every element is accepted or dropped"
        );
        m.step += 1;
    }

    #[inline(always)]
    fn process_element(&mut self, key: K, t: Timestamp, input: C::Input, horizon: Watermark) -> Fate {
        if let Err(fate) = self.machinery.live_windows(t, horizon, &mut self.assigned) {
            return fate;
        }
        let key = self.store.intern(key, |k| k);
        self.machinery.add(&mut self.store, key, &self.assigned, input)
    }

    /// A bundle under a merging window function: Beam merges each key's windows (the bundle's new ones
    /// with the active ones) before it processes any element, so an element joins the merged window.
    fn process_merging(&mut self, elements: Vec<(K, Timestamp, C::Input)>, fates: &mut Vec<Fate>) {
        let mut windows: Vec<Vec<Window>> = Vec::with_capacity(elements.len());
        let mut scratch = Vec::new();
        for (_, t, _) in &elements {
            match self.machinery.live_windows(*t, Watermark::MIN, &mut scratch) {
                Ok(()) => {
                    fates.push(Fate::Accepted);
                    windows.push(scratch.clone());
                }
                Err(fate) => {
                    fates.push(fate);
                    windows.push(Vec::new());
                }
            }
        }
        // Each key's elements, in bundle order; keys in order, for determinism.
        let mut by_key: BTreeMap<&K, Vec<usize>> = BTreeMap::new();
        for (i, (key, _, _)) in elements.iter().enumerate() {
            if !windows[i].is_empty() {
                by_key.entry(key).or_default().push(i);
            }
        }
        let groups: Vec<(K, Vec<usize>)> = by_key.into_iter().map(|(k, is)| (k.clone(), is)).collect();
        let mut inputs: Vec<Option<C::Input>> = elements.into_iter().map(|(_, _, input)| Some(input)).collect();
        for (key, indices) in groups {
            let kid = self.store.intern(key, |k| k);
            let m = &mut self.machinery;
            // Beam's MergingActiveWindowSet: the active windows and the bundle's NEW ones merge together.
            let mut candidates: BTreeSet<Window> = indices.iter().flat_map(|&i| windows[i].iter().copied()).collect();
            m.active_candidates(kid, &mut candidates);
            let candidates: Vec<Window> = candidates.into_iter().collect();
            let merges = m.strategy.window_fn.merge_windows(&candidates);
            let mut merged_into: BTreeMap<Window, Window> = BTreeMap::new();
            for (group, result) in &merges {
                for w in group {
                    merged_into.insert(*w, *result);
                }
                m.merge(&mut self.store, kid, group, *result);
            }
            for i in indices {
                let mut targets: Vec<Window> = Vec::with_capacity(windows[i].len());
                for w in &windows[i] {
                    let target = merged_into.get(w).copied().unwrap_or(*w);
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
                let input = inputs[i].take().expect("each element is processed once");
                fates[i] = m.add(&mut self.store, kid, &targets, input);
            }
        }
    }

    /// The end of a bundle: every window it touched fires if its trigger says so, in the canonical order.
    fn fire_considered(&mut self, out: &mut Vec<Pane<K, C::Output>>) {
        let mut slots = std::mem::take(&mut self.machinery.to_consider);
        let store = &self.store;
        store.sort_in_firing_order(&mut slots);
        for slot in slots.drain(..) {
            let (key, state) = self.store.get_with_key(slot);
            state.set(CONSIDERED, false);
            let m = &mut self.machinery;
            if state.active && !m.program.is_closed(&state.trigger) && m.should_fire(state) {
                m.emit(key, state, out);
            }
        }
        self.machinery.to_consider = slots;
    }

    /// Moves the watermark forward to `to` and wakes every window whose event-time timer it passes: a
    /// window past its garbage-collection time emits its final pane (if any) and is dropped; any other
    /// fires if its trigger says so. A watermark at or behind the current one changes nothing: watermarks
    /// never move backwards.
    pub fn advance_watermark(&mut self, to: Watermark, out: &mut Vec<Pane<K, C::Output>>) {
        self.advance_watermark_in_parts(to, usize::MAX, out);
    }

    /// [`advance_watermark`](Self::advance_watermark), waking at most `at_most` of the step's windows
    /// now: returns `true` when windows remain, which [`continue_firing`](Self::continue_firing) wakes,
    /// part by part, in the same order. The panes are those of `advance_watermark`, in the same order;
    /// only the caller can take each part's panes away before the next, so that a step that fires a
    /// million windows (the end of input) does not hold a million panes at once.
    ///
    /// Until the step is over, an element is refused (a panic: the step's windows are not all woken
    /// yet), and any other step first finishes it.
    ///
    /// ```
    /// use pipeline::aggregator::WindowedAggregator;
    /// use pipeline::combine::Count;
    /// use pipeline::strategy::WindowingStrategy;
    /// use pipeline::time::{Duration, Timestamp, Watermark};
    ///
    /// let mut core = WindowedAggregator::new(WindowingStrategy::fixed(Duration::seconds(20)), Count);
    /// let mut panes = Vec::new();
    /// for key in ["carol", "alice", "bob"] {
    ///     core.process_bundle([(key, Timestamp::from_millis(1_000), ())], &mut Vec::new(), &mut panes);
    /// }
    /// let mut more = core.advance_watermark_in_parts(Watermark::MAX, 2, &mut panes);
    /// assert_eq!(panes.iter().map(|p| p.key).collect::<Vec<_>>(), ["alice", "bob"]);
    /// assert!(more);
    /// panes.clear();
    /// more = core.continue_firing(2, &mut panes);
    /// assert_eq!(panes.iter().map(|p| p.key).collect::<Vec<_>>(), ["carol"]);
    /// assert!(!more);
    /// assert_eq!(core.open_windows(), 0);
    /// ```
    pub fn advance_watermark_in_parts(
        &mut self,
        to: Watermark,
        at_most: usize,
        out: &mut Vec<Pane<K, C::Output>>,
    ) -> bool {
        self.complete_firing(out);
        let m = &mut self.machinery;
        if to <= m.watermark {
            return false;
        }
        m.step_start_watermark = m.watermark.timestamp();
        m.watermark = to;
        if m.event_timers.first().is_none_or(|time| time >= to.timestamp()) {
            // Nothing to wake: the common case under a watermark that follows every record.
            self.end_step();
            return false;
        }
        let mut due = std::mem::take(&mut m.due);
        let store = &self.store;
        let strategy = &m.strategy;
        m.event_timers.pop_before(to.timestamp(), &mut due, |slot, time| {
            store
                .get_live(slot)
                .is_some_and(|state| state.queued_timer(strategy) == Some(time))
        });
        // A window with several timers due is woken once.
        store.sort_in_firing_order(&mut due);
        due.dedup();
        m.due = due;
        m.due_next = 0;
        self.fire_part(at_most, out)
    }

    /// Wakes at most `at_most` (at least one) more windows of a watermark step begun by
    /// [`advance_watermark_in_parts`](Self::advance_watermark_in_parts); returns `true` when windows
    /// remain. With no step under way it does nothing and returns `false`.
    pub fn continue_firing(&mut self, at_most: usize, out: &mut Vec<Pane<K, C::Output>>) -> bool {
        self.is_firing() && self.fire_part(at_most, out)
    }

    /// Wakes the next part of the step's due windows; at the last part (or with none due), ends the step.
    /// `true` when windows remain.
    fn fire_part(&mut self, at_most: usize, out: &mut Vec<Pane<K, C::Output>>) -> bool {
        let m = &mut self.machinery;
        let (from, to) = (m.due_next, m.due_next.saturating_add(at_most.max(1)).min(m.due.len()));
        // Each woken window fires at most one pane: room for the part's at once, so that a step that fires
        // a million windows in one part does not also hold the half-size copy a doubling leaves.
        out.reserve(to - from);
        for i in from..to {
            let slot = self.machinery.due[i];
            self.wake_by_watermark(slot, out);
        }
        let m = &mut self.machinery;
        m.due_next = to;
        if to < m.due.len() {
            return true;
        }
        m.due.clear();
        m.due_next = 0;
        self.end_step();
        false
    }

    /// The end of a watermark step, once every due window is woken.
    fn end_step(&mut self) {
        // Nothing reads a garbage-collected state after its wake-up, so the step removes them all at once,
        // which at the end of input (every window at once) costs no hash probe per window.
        if !self.machinery.expired.is_empty() {
            let mut expired = std::mem::take(&mut self.machinery.expired);
            self.store.remove_many(&mut expired);
            expired.clear();
            self.machinery.expired = expired;
        }
        let m = &mut self.machinery;
        m.step += 1;
        // The output watermark has caught up with this step: the next step starts from here.
        m.step_start_watermark = m.watermark.timestamp();
    }

    /// Wakes what remains of a watermark step fired in parts, if one is under way.
    pub fn complete_firing(&mut self, out: &mut Vec<Pane<K, C::Output>>) {
        self.continue_firing(usize::MAX, out);
    }

    /// True while a watermark step fired in parts has windows left to wake.
    pub fn is_firing(&self) -> bool {
        !self.machinery.due.is_empty()
    }

    /// Beam's `ReduceFnRunner.onTimers` for one window woken by the watermark.
    fn wake_by_watermark(&mut self, slot: SlotId, out: &mut Vec<Pane<K, C::Output>>) {
        let (key, state) = self.store.get_with_key(slot);
        let m = &mut self.machinery;
        let window = state.window;
        // Every timer of the window behind the watermark has fired.
        let watermark = m.watermark.timestamp();
        let gc_time = m.strategy.gc_time(&window);
        let had_eow = state.has(EOW_TIMER);
        if window.max_timestamp() < watermark {
            state.set(EOW_TIMER, false);
        }
        if gc_time < watermark {
            state.set(GC_TIMER, false);
        }
        if had_eow && !state.has(EOW_TIMER) && state.has(GC_TIMER) {
            // The garbage-collection timer waited behind the end-of-window one (see `schedule_gc`).
            m.event_timers.insert(gc_time, slot);
        }
        let open = state.active && !m.program.is_closed(&state.trigger);
        if m.strategy.is_expired(&window, m.watermark) {
            // Garbage collection: the final pane, if the window is still open, then nothing is left.
            if open {
                if let Some(pane) = m.on_trigger(key, state, true) {
                    out.push(pane);
                }
            }
            assert!(
                !state.has(EOW_TIMER) && !state.has(GC_TIMER),
                "the timers of {window:?} were all due"
            );
            if state.active && m.merging {
                m.active.remove(&(state.key, window.start(), window.end()));
            }
            m.expired.push(slot);
            return;
        }
        if open && m.should_fire(state) {
            m.emit(key, state, out);
        }
        // The end-of-window timer has fired: only element holds keep the output watermark back now.
        if m.watermark.timestamp() > window.max_timestamp() {
            m.note_release(state);
        }
    }

    /// Moves processing time forward to `to` and wakes every window whose processing-time timer it passes
    /// (strictly: a timer at 15 fires once processing time is past 15), each at most once, in the
    /// canonical order; a woken window fires if its trigger says so. Firing sets no new processing-time
    /// timer (only elements and merges do), so one pass reaches quiescence.
    pub fn advance_processing_time(&mut self, to: Timestamp, out: &mut Vec<Pane<K, C::Output>>) {
        self.complete_firing(out);
        let m = &mut self.machinery;
        if to <= m.processing_time {
            return;
        }
        m.processing_time = to;
        if m.processing_timers.first().is_none_or(|(time, _, _)| *time >= to) {
            m.step += 1;
            return;
        }
        let mut due = Vec::new();
        while m.processing_timers.first().is_some_and(|(time, _, _)| *time < to) {
            let (_, window, key) = m.processing_timers.pop_first().expect("checked above");
            due.push((window, key));
        }
        due.sort_unstable_by(firing_order);
        due.dedup();
        for (window, key) in due {
            // A timer that outlived its window (collected, or merged away) finds nothing.
            let Some(slot) = self.store.find_key(&key).and_then(|kid| self.store.find(kid, &window)) else {
                continue;
            };
            let (key, state) = self.store.get_with_key(slot);
            let m = &mut self.machinery;
            // Processing-time timers of an expired window are ignored, like late elements.
            if m.strategy.is_expired(&window, m.watermark) {
                continue;
            }
            if state.active && !m.program.is_closed(&state.trigger) && m.should_fire(state) {
                m.emit(key, state, out);
            }
        }
        let m = &mut self.machinery;
        m.step += 1;
    }
}

impl<K, C> Machinery<K, C>
where
    K: Clone + Ord + Hash,
    C: CombineFn,
{
    /// The windows of `t` that are not expired at the watermark or at `horizon`, whichever is later;
    /// `Err` with the element's fate when there are none.
    #[inline]
    fn live_windows(&mut self, t: Timestamp, horizon: Watermark, windows: &mut Vec<Window>) -> Result<(), Fate> {
        windows.clear();
        self.strategy.window_fn.assign_windows(t, windows);
        if windows.is_empty() {
            self.stats.no_window += 1;
            return Err(Fate::NoWindow);
        }
        let before = windows.len();
        let (strategy, watermark) = (&self.strategy, self.watermark.max(horizon));
        windows.retain(|w| !strategy.is_expired(w, watermark));
        self.stats.dropped_window_assignments += (before - windows.len()) as u64;
        if windows.is_empty() {
            self.stats.dropped_late += 1;
            return Err(Fate::DroppedLate);
        }
        Ok(())
    }

    /// Adds to `candidates` (the bundle's new windows of `key`) the key's active windows that may merge
    /// with them. Active windows never intersect one another after a merge, so under a window function
    /// that merges chains of intersecting windows, only those intersecting a new window can merge, and a
    /// range query per new window finds them; under any other merging function, all of them.
    fn active_candidates(&self, key: KeyId, candidates: &mut BTreeSet<Window>) {
        let key_start = (key, Timestamp::MIN, Timestamp::MIN);
        if !self.merges_intersecting {
            let found: Vec<Window> = self
                .active
                .range(key_start..)
                .take_while(|(k, _, _)| *k == key)
                .map(|&(_, start, end)| Window::new(start, end))
                .collect();
            candidates.extend(found);
            return;
        }
        let new: Vec<Window> = candidates.iter().copied().collect();
        for w in new {
            // Active windows are disjoint, so ordered by start they are ordered by end too: walk back
            // from the last one starting at or before w's end while they reach w's start.
            let upper = (key, w.end(), Timestamp::MAX);
            for &(_, start, end) in self.active.range(key_start..=upper).rev() {
                let active = Window::new(start, end);
                if !active.intersects(&w) {
                    break;
                }
                candidates.insert(active);
            }
        }
    }

    fn fresh_state(&self, key: KeyId, window: Window) -> WindowState<C::Accumulator> {
        WindowState {
            window,
            accumulator: self.combine.create_accumulator(),
            inputs_since_last_pane: 0,
            // A window that did not exist held nothing: its output is as late as the watermark says.
            clear_since: 0,
            trigger: self.program.new_state(),
            key,
            panes: 0,
            early_panes: 0,
            active: true,
            flags: 0,
        }
    }

    /// Adds a fresh state of `window` of `key`.
    fn create(&mut self, store: &mut Store<K, C::Accumulator>, key: KeyId, window: Window) -> SlotId {
        if self.merging {
            self.active.insert((key, window.start(), window.end()));
        }
        store.insert(self.fresh_state(key, window))
    }

    /// Adds one element to `windows` of `key` (already merged and not expired): Beam's
    /// `ReduceFnRunner.processElement`. A window whose trigger has closed drops it.
    #[inline(always)]
    fn add(&mut self, store: &mut Store<K, C::Accumulator>, key: KeyId, windows: &[Window], input: C::Input) -> Fate {
        let mut input = Some(input);
        let mut accepted = false;
        let mut closed = None;
        for (n, window) in windows.iter().enumerate() {
            let slot = match store.find(key, window) {
                Some(slot) => {
                    let state = store.get(slot);
                    if self.program.is_closed(&state.trigger) {
                        self.stats.dropped_closed_window += 1;
                        closed = Some(*window);
                        continue;
                    }
                    assert!(state.active, "{window:?} is neither open nor closed");
                    slot
                }
                None => self.create(store, key, *window),
            };
            let value = if n + 1 == windows.len() {
                input.take().expect("taken once, at the last window")
            } else {
                input.clone().expect("not taken before the last window")
            };
            let (k, state) = store.get_with_key(slot);
            self.add_input(k, slot, state, value);
            accepted = true;
        }
        match (accepted, closed) {
            (true, _) => {
                self.stats.accepted += 1;
                Fate::Accepted
            }
            (false, Some(window)) => {
                self.stats.dropped_closed += 1;
                Fate::DroppedClosed(window)
            }
            (false, None) => unreachable!("an element with live windows is added or dropped as closed"),
        }
    }

    #[inline]
    fn add_input(&mut self, key: &K, slot: SlotId, state: &mut WindowState<C::Accumulator>, input: C::Input) {
        let window = state.window;
        let max_timestamp = window.max_timestamp();
        state.inputs_since_last_pane += 1;
        // Beam's WatermarkHold.addHolds: an element hold (at the max timestamp, Beam's default
        // END_OF_WINDOW timestamp combiner) only while the watermark has not passed the end of the window.
        if self.watermark.timestamp() <= max_timestamp {
            state.set(ELEMENT_HOLD, true);
            state.set_clear_since(None);
        }
        self.combine.add_input(&mut state.accumulator, input);
        if self.program.is_default() {
            // The default trigger's onElement, without the machinery: a timer at the end of the window.
            if !state.has(EOW_TIMER) && self.watermark.timestamp() <= max_timestamp {
                self.wakeups.end_of_window = true;
                self.apply_wakeups(key, slot, state);
            }
        } else {
            let mut env = Env {
                window,
                watermark: self.watermark.timestamp(),
                processing_time: self.processing_time,
                merging: self.merging,
                wakeups: &mut self.wakeups,
            };
            self.program.on_element(&mut state.trigger, &mut env);
            self.apply_wakeups(key, slot, state);
        }
        // After the end-of-window timer, so that a new window queues its garbage collection behind it.
        self.schedule_gc(slot, state);
        // The default trigger fires on nothing but the watermark, which does not move within a bundle.
        let may_fire = !self.program.is_default() || self.watermark.timestamp() > max_timestamp;
        if may_fire && !state.has(CONSIDERED) {
            state.set(CONSIDERED, true);
            self.to_consider.push(slot);
        }
    }

    /// Sets the garbage-collection timer. A window queues one event-time timer at a time, its earliest:
    /// the end-of-window one while it is pending (garbage collection is never earlier), then the
    /// garbage-collection one (queued when the end-of-window timer fires, in `wake_by_watermark`). With no
    /// allowed lateness both are at the max timestamp: one timer, as in Beam.
    fn schedule_gc(&mut self, slot: SlotId, state: &mut WindowState<C::Accumulator>) {
        if !state.has(GC_TIMER) {
            state.set(GC_TIMER, true);
            if !state.has(EOW_TIMER) {
                self.event_timers.insert(self.strategy.gc_time(&state.window), slot);
            }
        }
    }

    /// Turns the timers a trigger asked for into timers of the window.
    fn apply_wakeups(&mut self, key: &K, slot: SlotId, state: &mut WindowState<C::Accumulator>) {
        if self.wakeups.end_of_window && !state.has(EOW_TIMER) {
            state.set(EOW_TIMER, true);
            state.set_clear_since(None);
            let time = state.window.max_timestamp();
            if state.has(GC_TIMER) {
                // The queued garbage-collection timer waits behind this one (see `schedule_gc`).
                let gc = self.strategy.gc_time(&state.window);
                if gc != time {
                    self.event_timers.remove(gc, slot);
                    self.event_timers.insert(time, slot);
                }
            } else {
                self.event_timers.insert(time, slot);
            }
        }
        for &time in &self.wakeups.processing {
            self.processing_timers.insert((time, state.window, key.clone()));
        }
        self.wakeups.clear();
    }

    /// The window stopped holding the output watermark at or before its max timestamp, if it did.
    fn note_release(&self, state: &mut WindowState<C::Accumulator>) {
        if !state.has(ELEMENT_HOLD) && !state.has(EOW_TIMER) && state.clear_since().is_none() {
            state.set_clear_since(Some(self.step));
        }
    }

    fn should_fire(&mut self, state: &WindowState<C::Accumulator>) -> bool {
        let env = Env {
            window: state.window,
            watermark: self.watermark.timestamp(),
            processing_time: self.processing_time,
            merging: self.merging,
            wakeups: &mut self.wakeups,
        };
        self.program.should_fire(&state.trigger, &env)
    }

    /// Beam's `ReduceFnRunner.emit`: the trigger moves on, the pane goes out (if it must), and the
    /// window's pane state is reset; a trigger that finished closes the window.
    fn emit(&mut self, key: &K, state: &mut WindowState<C::Accumulator>, out: &mut Vec<Pane<K, C::Output>>) {
        let mut env = Env {
            window: state.window,
            watermark: self.watermark.timestamp(),
            processing_time: self.processing_time,
            merging: self.merging,
            wakeups: &mut self.wakeups,
        };
        self.program.on_fire(&mut state.trigger, &mut env);
        self.wakeups.clear();
        let finished = self.program.is_closed(&state.trigger);
        if let Some(pane) = self.on_trigger(key, state, finished) {
            out.push(pane);
        }
        state.inputs_since_last_pane = 0;
        if finished || self.strategy.accumulation == AccumulationMode::Discarding {
            state.accumulator = self.combine.create_accumulator();
        }
        if finished {
            // Closed: only the finished bits stay, until garbage collection.
            self.program.clear_state(&mut state.trigger);
            state.panes = 0;
            state.early_panes = 0;
            state.active = false;
            if self.merging {
                self.active
                    .remove(&(state.key, state.window.start(), state.window.end()));
            }
        }
    }

    /// Beam's `ReduceFnRunner.onTrigger`: releases the window's holds and emits its pane, unless the pane
    /// is empty and nothing asks for an empty one.
    fn on_trigger(
        &mut self,
        key: &K,
        state: &mut WindowState<C::Accumulator>,
        is_final: bool,
    ) -> Option<Pane<K, C::Output>> {
        assert!(state.active, "a pane for {:?} after its trigger closed", state.window);
        state.set(ELEMENT_HOLD, false);
        self.note_release(state);
        let is_empty = state.inputs_since_last_pane == 0;
        let closing = self.strategy.closing_behavior;
        let on_time = self.strategy.on_time_behavior;
        if is_empty && closing == ClosingBehavior::FireIfNonEmpty && on_time == OnTimeBehavior::FireIfNonEmpty {
            return None;
        }
        let info = self.describe(state, is_final);
        let wanted_empty = (info.timing == PaneTiming::OnTime && on_time == OnTimeBehavior::FireAlways)
            || (is_final && closing == ClosingBehavior::FireAlways);
        if is_empty && !wanted_empty {
            return None;
        }
        // Invariants: a window's pane indices count up from 0, and an empty pane is one a behaviour asked for.
        assert_eq!(
            info.index,
            state.last_pane().map_or(0, |(index, _, _)| index + 1),
            "pane index of {:?}",
            state.window
        );
        assert!(
            !is_empty || wanted_empty,
            "an empty pane nobody asked for in {:?}",
            state.window
        );
        if !is_final {
            state.panes = state.panes.checked_add(1).expect("fewer than 2^32 panes of one window");
            if info.timing == PaneTiming::Early {
                state.early_panes += 1;
            }
        }
        self.stats.panes += 1;
        Some(Pane {
            key: key.clone(),
            window: state.window,
            info,
            value: self.combine.extract_output(&state.accumulator),
        })
    }

    /// Beam's `PaneInfoTracker.describePane`.
    fn describe(&self, state: &WindowState<C::Accumulator>, is_final: bool) -> PaneInfo {
        let max_timestamp = state.window.max_timestamp();
        // (index, early, non-speculative index) of the previous pane; it was never the final one, since
        // nothing is remembered after a final pane.
        let previous = state.last_pane();
        let index = previous.map_or(0, |(index, _, _)| index + 1);
        let late_for_output =
            state.clear_since().is_some_and(|s| s < self.step) && self.step_start_watermark > max_timestamp;
        let only_early_so_far = previous.is_none_or(|(_, early, _)| early);
        let early_for_input = self.watermark.timestamp() <= max_timestamp;
        let timing = if late_for_output || !only_early_so_far {
            PaneTiming::Late
        } else if early_for_input {
            PaneTiming::Early
        } else {
            PaneTiming::OnTime
        };
        // Beam's transitions: EARLY* ON_TIME? LATE*.
        assert!(
            previous.is_none_or(|(_, early, _)| early || timing == PaneTiming::Late),
            "{timing:?} after {previous:?} for {:?}",
            state.window
        );
        let non_speculative_index = match timing {
            PaneTiming::Early => None,
            // An early pane counts as Beam's −1, so the first non-early pane is 0.
            _ => Some(previous.and_then(|(_, _, n)| n).map_or(0, |i| i + 1)),
        };
        PaneInfo {
            timing,
            index,
            non_speculative_index,
            is_first: index == 0,
            is_last: is_final,
        }
    }

    /// Merges `group` of `key`'s windows into `result` (Beam's `ReduceFnRunner.OnMergeCallback.onMerge`
    /// and `MergingActiveWindowSet.recordMerge`). Only active windows have state to merge; the result
    /// becomes active.
    fn merge(&mut self, store: &mut Store<K, C::Accumulator>, key: KeyId, group: &[Window], result: Window) {
        self.stats.merges += 1;
        let existing = store.find(key, &result);
        let result_was_active = existing.is_some_and(|slot| store.get(slot).active) && group.contains(&result);
        // The result's state first (so that the key outlives its merged-away windows): an active window,
        // or a closed one whose finished bits the merge starts from (its pane history was cleared when it
        // closed), or a fresh one.
        let result_slot = match existing {
            Some(slot) => slot,
            None => self.create(store, key, result),
        };
        let mut source_windows: Vec<Window> = group
            .iter()
            .copied()
            .filter(|w| *w != result)
            .filter(|w| store.find(key, w).is_some_and(|slot| store.get(slot).active))
            .collect();
        source_windows.sort();
        // The merged-away windows' pane histories go with them (Beam's PaneInfoTracker.clear): a new
        // merged window starts at pane index 0.
        let mut sources = Vec::with_capacity(source_windows.len());
        for window in source_windows {
            let slot = store.find(key, &window).expect("found above");
            let source = store.remove(slot);
            self.active.remove(&(key, window.start(), window.end()));
            // No need for the merged-away window's timer (its earliest; see `schedule_gc`).
            if source.has(EOW_TIMER) {
                self.event_timers.remove(window.max_timestamp(), slot);
            } else if source.has(GC_TIMER) {
                self.event_timers.remove(self.strategy.gc_time(&window), slot);
            }
            sources.push(source);
        }
        let (k, merged) = store.get_with_key(result_slot);
        let own_trigger = result_was_active.then(|| merged.trigger.clone());
        let merging: Vec<&TriggerState> = own_trigger.iter().chain(sources.iter().map(|s| &s.trigger)).collect();
        let mut env = Env {
            window: result,
            watermark: self.watermark.timestamp(),
            processing_time: self.processing_time,
            merging: true,
            wakeups: &mut self.wakeups,
        };
        self.program.on_merge(
            &mut merged.trigger,
            &MergingStates {
                sources: &merging,
                result_is_source: result_was_active,
            },
            &mut env,
        );
        let any_active = result_was_active || !sources.is_empty();
        // Were all the active merging windows clear of holds at the end of the previous step?
        let clear_before = if any_active {
            let mut since = Some(0);
            for s in own_trigger
                .iter()
                .map(|_| merged.clear_since())
                .chain(sources.iter().map(|s| s.clear_since()))
            {
                since = match (since, s) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            since
        } else {
            merged.clear_since()
        };
        if self.program.is_closed(&merged.trigger) {
            // Only a closed window the merge result coincides with is closed here (the sources are active):
            // what the sources hold that no pane showed yet will never fire.
            self.stats.merged_into_closed += sources.iter().map(|s| s.inputs_since_last_pane).sum::<u64>();
        }
        for source in sources {
            self.combine
                .merge_accumulators(&mut merged.accumulator, source.accumulator);
            merged.inputs_since_last_pane += source.inputs_since_last_pane;
        }
        if any_active {
            // Beam's WatermarkHold.onMerge: the element holds become one at the merged window's end, if it
            // is not behind the watermark.
            merged.set(ELEMENT_HOLD, self.watermark.timestamp() <= result.max_timestamp());
        }
        merged.active = true;
        self.active.insert((key, result.start(), result.end()));
        let since = if merged.has(ELEMENT_HOLD) || merged.has(EOW_TIMER) {
            None
        } else {
            clear_before.or(Some(self.step))
        };
        merged.set_clear_since(since);
        self.apply_wakeups(k, result_slot, merged);
        self.schedule_gc(result_slot, merged);
    }
}

#[cfg(test)]
mod tests;
