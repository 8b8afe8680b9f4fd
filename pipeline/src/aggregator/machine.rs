//! Beam's trigger state machines, as pure functions over a per-(key, window) state value.
//!
//! A [`Trigger`] tree is compiled once into a [`TriggerProgram`]: its nodes in pre-order, each knowing
//! where its subtree ends, as Beam's `ExecutableTriggerStateMachine` numbers them. What a trigger
//! remembers for one key and window is a [`TriggerState`]: the finished bit of every node (Beam's
//! `FinishedTriggersBitSet`) and the state of the nodes that have any (the element count of
//! `AfterPane`, the target time of `AfterProcessingTime`). The program's methods are Beam's
//! `onElement`, `onMerge`, `shouldFire`, `onFire` and `clear`, one arm per state machine of
//! `runners/core-java/.../core/triggers/`, with the same rules: `Repeatedly` resets its sub-trigger
//! when it finishes, `AfterEach` moves on to the next unfinished sub-trigger, `OrFinally` finishes as
//! soon as either side does, `AfterWatermark` runs its early trigger until the end of the window and its
//! late trigger after it, both implicitly repeated. Timers a trigger asks for come back as [`Wakeups`];
//! the windowing core keeps them. Nothing here knows about keys, panes or accumulators.
//!
//! The root trigger is *closed* for a window once its finished bit is set (Beam's
//! `TriggerStateMachineRunner.isClosed`); the default trigger never finishes, so it keeps no bits.

use crate::time::Timestamp;
use crate::trigger::{TimeTransform, Trigger};
use crate::window::Window;

/// One compiled trigger node. Children are node indices.
#[derive(Debug, Clone)]
enum Node {
    /// `DefaultTrigger`: fires whenever the watermark is past the end of the window, never finishes.
    Default,
    /// `AfterWatermark.pastEndOfWindow()`: fires once, when the watermark passes the end of the window.
    EndOfWindow,
    /// `AfterWatermark.pastEndOfWindow().withEarlyFirings(early)[.withLateFirings(late)]` (Beam's
    /// `AfterWatermarkEarlyAndLate`; `withLateFirings` alone has a `Never` early trigger).
    EarlyAndLate {
        early: usize,
        late: Option<usize>,
    },
    /// `AfterProcessingTime.pastFirstElementInPane()` and its transforms.
    ProcessingTime(Vec<TimeTransform>),
    /// `AfterPane.elementCountAtLeast(n)`.
    ElementCount(u64),
    Repeatedly(usize),
    AfterEach(Vec<usize>),
    AfterFirst(Vec<usize>),
    AfterAll(Vec<usize>),
    OrFinally {
        main: usize,
        until: usize,
    },
    Never,
}

/// What a trigger remembers for one key and window: one pointer, since the windowing core keeps one per
/// open window. Everything (finished bits, the per-node state of `AfterPane` and `AfterProcessingTime`) is
/// boxed, and absent while there is nothing to remember: the default trigger never allocates.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriggerState {
    rest: Option<Box<Rest>>,
}

/// The boxed part of a [`TriggerState`].
#[derive(Debug, Clone, Default)]
struct Rest {
    /// Finished bits of nodes 0 to 63.
    finished: u64,
    /// Finished bits of nodes 64 and on.
    large: Vec<u64>,
    /// Per-node state, indexed by node; empty when the trigger has no node that keeps any.
    slots: Box<[Slot]>,
}

/// The state of one node: nothing, `AfterPane`'s element count, or `AfterProcessingTime`'s target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Slot {
    #[default]
    Empty,
    Count(u64),
    DelayedUntil(Timestamp),
}

impl PartialEq for TriggerState {
    /// Equal when every bit and node state is: a state with nothing to remember equals one without a box.
    fn eq(&self, other: &Self) -> bool {
        let words = self.words().max(other.words());
        let slots = self.slot_count().max(other.slot_count());
        (0..words * 64).all(|i| self.bit(i) == other.bit(i)) && (0..slots).all(|i| self.slot(i) == other.slot(i))
    }
}

impl Eq for TriggerState {}

impl TriggerState {
    fn words(&self) -> usize {
        1 + self.rest.as_ref().map_or(0, |r| r.large.len())
    }

    fn slot_count(&self) -> usize {
        self.rest.as_ref().map_or(0, |r| r.slots.len())
    }

    /// Node `i`'s finished bit.
    fn bit(&self, i: usize) -> bool {
        let Some(rest) = &self.rest else {
            return false;
        };
        if i < 64 {
            (rest.finished >> i) & 1 == 1
        } else {
            rest.large
                .get((i - 64) / 64)
                .is_some_and(|w| (w >> ((i - 64) % 64)) & 1 == 1)
        }
    }

    fn set_bit(&mut self, i: usize, value: bool) {
        if !value && self.rest.is_none() {
            return;
        }
        let rest = self.rest.get_or_insert_with(Box::default);
        let (word, bit) = if i < 64 {
            (&mut rest.finished, i)
        } else {
            let at = (i - 64) / 64;
            if rest.large.len() <= at {
                if !value {
                    return;
                }
                rest.large.resize(at + 1, 0);
            }
            (&mut rest.large[at], (i - 64) % 64)
        };
        if value {
            *word |= 1 << bit;
        } else {
            *word &= !(1 << bit);
        }
    }

    /// Node `i`'s state (`Empty` when the trigger keeps none).
    fn slot(&self, i: usize) -> Slot {
        self.rest
            .as_ref()
            .and_then(|r| r.slots.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// Sets node `i`'s state. The program gives a state room for every node up front
    /// ([`TriggerProgram::new_state`]); a state without it grows.
    fn set_slot(&mut self, i: usize, slot: Slot) {
        let rest = self.rest.get_or_insert_with(Box::default);
        if rest.slots.len() <= i {
            let mut grown = std::mem::take(&mut rest.slots).into_vec();
            grown.resize(i + 1, Slot::Empty);
            rest.slots = grown.into_boxed_slice();
        }
        rest.slots[i] = slot;
    }
}

/// Timers a trigger asked for while handling one call. The core turns them into timers of the window.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    /// An event-time timer at the window's max timestamp (`AfterWatermark`, the default trigger).
    pub end_of_window: bool,
    /// Processing-time timers (`AfterProcessingTime`).
    pub processing: Vec<Timestamp>,
}

impl Wakeups {
    pub fn clear(&mut self) {
        self.end_of_window = false;
        self.processing.clear();
    }
}

/// What a state machine may look at: the window, the clocks and whether windows merge. Beam's
/// `TriggerContext`: `currentEventTime` is the input watermark.
pub(crate) struct Env<'a> {
    pub window: Window,
    pub watermark: Timestamp,
    pub processing_time: Timestamp,
    pub merging: bool,
    pub wakeups: &'a mut Wakeups,
}

impl Env<'_> {
    /// Beam's `endOfWindowReached`: the input watermark is strictly after the window's max timestamp.
    fn end_of_window_reached(&self) -> bool {
        self.watermark > self.window.max_timestamp()
    }
}

/// The windows merging into one, for [`TriggerProgram::on_merge`]: the state of each merging window
/// that was active (Beam's `activeToBeMerged`), including the result window's own when it is one of
/// them.
pub(crate) struct MergingStates<'a> {
    pub sources: &'a [&'a TriggerState],
    /// True when the result window is one of the active merging windows (its state is then also in
    /// `sources`, as it was before the merge).
    pub result_is_source: bool,
}

impl MergingStates<'_> {
    /// `finishedInAnyMergingWindow` (false when no merging window was active).
    fn finished_in_any(&self, i: usize) -> bool {
        self.sources.iter().any(|s| s.bit(i))
    }

    /// `finishedInAllMergingWindows` (vacuously true when no merging window was active, as in Beam).
    fn finished_in_all(&self, i: usize) -> bool {
        self.sources.iter().all(|s| s.bit(i))
    }
}

/// A trigger tree compiled for execution.
#[derive(Debug, Clone)]
pub(crate) struct TriggerProgram {
    nodes: Vec<Node>,
    /// The first node index after each node's subtree.
    ends: Vec<usize>,
    /// Any node with an element count or a processing-time target.
    has_slots: bool,
    /// The root is the default trigger.
    default_root: bool,
}

impl TriggerProgram {
    /// Compiles `trigger`. Panics on an `alignedTo` period that is not positive (Beam divides by it).
    pub fn new(trigger: &Trigger) -> TriggerProgram {
        let mut program = TriggerProgram {
            nodes: Vec::new(),
            ends: Vec::new(),
            has_slots: false,
            default_root: false,
        };
        program.compile(trigger);
        program.default_root = matches!(program.nodes[0], Node::Default);
        program.has_slots = program
            .nodes
            .iter()
            .any(|n| matches!(n, Node::ProcessingTime(_) | Node::ElementCount(_)));
        program
    }

    fn compile(&mut self, trigger: &Trigger) -> usize {
        let at = self.nodes.len();
        self.nodes.push(Node::Never);
        self.ends.push(at + 1);
        let node = match trigger {
            Trigger::Default => Node::Default,
            Trigger::AfterWatermark {
                early: None,
                late: None,
            } => Node::EndOfWindow,
            Trigger::AfterWatermark { early, late } => {
                // Beam's `FromEndOfWindow.withLateFirings` runs a `Never` early trigger.
                let early = match early {
                    Some(early) => self.compile(early),
                    None => self.compile(&Trigger::Never),
                };
                let late = late.as_ref().map(|late| self.compile(late));
                Node::EarlyAndLate { early, late }
            }
            Trigger::AfterProcessingTime { transforms } => {
                for t in transforms {
                    if let TimeTransform::AlignTo { period, .. } = t {
                        assert!(
                            period.as_millis() > 0,
                            "AfterProcessingTime.alignedTo needs a positive period, got {period}"
                        );
                    }
                }
                Node::ProcessingTime(transforms.clone())
            }
            Trigger::AfterPane { count } => Node::ElementCount(*count),
            Trigger::Repeatedly(t) => Node::Repeatedly(self.compile(t)),
            Trigger::AfterEach(ts) => Node::AfterEach(ts.iter().map(|t| self.compile(t)).collect()),
            Trigger::AfterFirst(ts) => Node::AfterFirst(ts.iter().map(|t| self.compile(t)).collect()),
            Trigger::AfterAll(ts) => Node::AfterAll(ts.iter().map(|t| self.compile(t)).collect()),
            Trigger::OrFinally { main, until } => {
                let main = self.compile(main);
                let until = self.compile(until);
                Node::OrFinally { main, until }
            }
            Trigger::Never => Node::Never,
        };
        self.nodes[at] = node;
        self.ends[at] = self.nodes.len();
        at
    }

    /// True for Beam's default trigger, whose only firing condition is the watermark being past the end
    /// of the window and which never finishes.
    pub fn is_default(&self) -> bool {
        self.default_root
    }

    /// The state of a window no element has reached yet.
    pub fn new_state(&self) -> TriggerState {
        TriggerState {
            rest: self.has_slots.then(|| {
                Box::new(Rest {
                    finished: 0,
                    large: Vec::new(),
                    slots: vec![Slot::Empty; self.nodes.len()].into_boxed_slice(),
                })
            }),
        }
    }

    /// Beam's `isClosed`: the root trigger has finished, so the window takes no more elements. The
    /// default trigger never finishes (Beam keeps no finished bits for it).
    pub fn is_closed(&self, state: &TriggerState) -> bool {
        state.bit(0)
    }

    /// True when node `i` is marked finished (tests look at sub-triggers).
    #[cfg(test)]
    pub fn is_finished(&self, state: &TriggerState, i: usize) -> bool {
        state.bit(i)
    }

    /// Marks node `i` finished or not (Beam's `TriggerStateMachineTester.setSubTriggerFinishedForWindow`).
    #[cfg(test)]
    pub fn set_finished(&self, state: &mut TriggerState, i: usize, value: bool) {
        state.set_bit(i, value);
    }

    /// The sub-trigger indices of node `i`, for tests that name sub-triggers by position.
    #[cfg(test)]
    pub fn children(&self, i: usize) -> Vec<usize> {
        self.subs(i)
    }

    fn subs(&self, i: usize) -> Vec<usize> {
        match &self.nodes[i] {
            Node::EarlyAndLate { early, late } => std::iter::once(*early).chain(*late).collect(),
            Node::Repeatedly(c) => vec![*c],
            Node::AfterEach(cs) | Node::AfterFirst(cs) | Node::AfterAll(cs) => cs.clone(),
            Node::OrFinally { main, until } => vec![*main, *until],
            _ => Vec::new(),
        }
    }

    fn first_unfinished(&self, state: &TriggerState, children: &[usize]) -> Option<usize> {
        children.iter().copied().find(|c| !state.bit(*c))
    }

    /// `onElement` of the root, for an element added to the window.
    pub fn on_element(&self, state: &mut TriggerState, env: &mut Env<'_>) {
        self.element(0, state, env);
    }

    fn element(&self, i: usize, st: &mut TriggerState, env: &mut Env<'_>) {
        match &self.nodes[i] {
            // Both ask to be woken at the end of the window, unless it is already behind the watermark
            // (then the bundle's own `shouldFire` check sees it).
            Node::Default | Node::EndOfWindow => {
                if !env.end_of_window_reached() {
                    env.wakeups.end_of_window = true;
                }
            }
            Node::EarlyAndLate { early, late } => {
                if !env.end_of_window_reached() {
                    env.wakeups.end_of_window = true;
                }
                let children: Vec<usize> = std::iter::once(*early).chain(*late).collect();
                if env.merging {
                    // A merge may revive a finished phase, so both keep their state.
                    for c in children {
                        self.element(c, st, env);
                    }
                } else if let Some(c) = self.first_unfinished(st, &children) {
                    self.element(c, st, env);
                }
            }
            Node::ProcessingTime(transforms) => {
                // Processing time only moves forward, so a later target could only be ignored.
                if let Slot::Empty = st.slot(i) {
                    let target = target_time(transforms, env.processing_time);
                    st.set_slot(i, Slot::DelayedUntil(target));
                    env.wakeups.processing.push(target);
                }
            }
            Node::ElementCount(_) => {
                let count = match st.slot(i) {
                    Slot::Count(n) => n,
                    _ => 0,
                };
                st.set_slot(i, Slot::Count(count + 1));
            }
            Node::Repeatedly(c) => self.element(*c, st, env),
            Node::AfterEach(cs) => {
                if env.merging {
                    for &c in cs {
                        self.element(c, st, env);
                    }
                } else if let Some(c) = self.first_unfinished(st, cs) {
                    self.element(c, st, env);
                }
            }
            Node::AfterFirst(cs) => {
                for &c in cs {
                    self.element(c, st, env);
                }
            }
            Node::AfterAll(cs) => {
                for &c in cs {
                    if !st.bit(c) {
                        self.element(c, st, env);
                    }
                }
            }
            Node::OrFinally { main, until } => {
                self.element(*main, st, env);
                self.element(*until, st, env);
            }
            Node::Never => {}
        }
    }

    /// `shouldFire` of the root.
    pub fn should_fire(&self, state: &TriggerState, env: &Env<'_>) -> bool {
        self.fires(0, state, env)
    }

    fn fires(&self, i: usize, st: &TriggerState, env: &Env<'_>) -> bool {
        match &self.nodes[i] {
            Node::Default | Node::EndOfWindow => env.end_of_window_reached(),
            Node::EarlyAndLate { early, late } => {
                if !st.bit(*early) {
                    self.fires(*early, st, env) || env.end_of_window_reached()
                } else {
                    late.is_some_and(|late| self.fires(late, st, env))
                }
            }
            // Strictly after: a target of 15 fires once processing time is past 15.
            Node::ProcessingTime(_) => {
                matches!(st.slot(i), Slot::DelayedUntil(t) if env.processing_time > t)
            }
            Node::ElementCount(n) => {
                let count = match st.slot(i) {
                    Slot::Count(c) => c,
                    _ => 0,
                };
                count >= *n
            }
            Node::Repeatedly(c) => self.fires(*c, st, env),
            Node::AfterEach(cs) => self.first_unfinished(st, cs).is_some_and(|c| self.fires(c, st, env)),
            Node::AfterFirst(cs) => cs.iter().any(|&c| st.bit(c) || self.fires(c, st, env)),
            Node::AfterAll(cs) => cs.iter().all(|&c| st.bit(c) || self.fires(c, st, env)),
            Node::OrFinally { main, until } => self.fires(*main, st, env) || self.fires(*until, st, env),
            Node::Never => false,
        }
    }

    /// `onFire` of the root, once `shouldFire` said yes: moves the trigger to its next pane.
    pub fn on_fire(&self, state: &mut TriggerState, env: &mut Env<'_>) {
        self.fire(0, state, env);
    }

    fn fire(&self, i: usize, st: &mut TriggerState, env: &mut Env<'_>) {
        match &self.nodes[i] {
            Node::Default => {}
            Node::EndOfWindow => st.set_bit(i, true),
            Node::EarlyAndLate { early, late } => {
                if !st.bit(*early) {
                    if !env.end_of_window_reached() {
                        // An early firing; the early trigger repeats implicitly.
                        self.fire(*early, st, env);
                        self.clear(*early, st);
                        st.set_bit(*early, false);
                    } else {
                        // The on-time firing ends the early phase and starts the late one afresh.
                        if self.fires(*early, st, env) {
                            self.fire(*early, st, env);
                        }
                        st.set_bit(*early, true);
                        self.clear(*early, st);
                        match late {
                            None => st.set_bit(i, true),
                            Some(late) => self.clear(*late, st),
                        }
                    }
                } else if let Some(late) = late {
                    // A late firing; the late trigger repeats implicitly too.
                    self.fire(*late, st, env);
                    self.clear(*late, st);
                    st.set_bit(*late, false);
                } else {
                    st.set_bit(i, true);
                }
            }
            Node::ProcessingTime(_) | Node::ElementCount(_) => {
                st.set_slot(i, Slot::Empty);
                st.set_bit(i, true);
            }
            Node::Repeatedly(c) => {
                self.fire(*c, st, env);
                if st.bit(*c) {
                    self.reset_tree(*c, st);
                }
            }
            Node::AfterEach(cs) => {
                if let Some(c) = self.first_unfinished(st, cs) {
                    self.fire(c, st, env);
                }
                if env.merging {
                    // Every sub-trigger runs in parallel for the next pane, since a merge may revive any.
                    for &c in cs {
                        self.clear(c, st);
                    }
                }
                let done = self.first_unfinished(st, cs).is_none();
                st.set_bit(i, done);
            }
            Node::AfterFirst(cs) => {
                for &c in cs {
                    if self.fires(c, st, env) {
                        self.fire(c, st, env);
                    } else {
                        // Whatever pane it was tracking is gone.
                        self.clear(c, st);
                    }
                }
                st.set_bit(i, true);
            }
            Node::AfterAll(cs) => {
                for &c in cs {
                    self.fire(c, st, env);
                }
                st.set_bit(i, true);
            }
            Node::OrFinally { main, until } => {
                if self.fires(*until, st, env) {
                    self.fire(*until, st, env);
                    self.clear(*main, st);
                } else {
                    // `until` keeps counting across the firings of `main`.
                    self.fire(*main, st, env);
                }
                let done = st.bit(*main) || st.bit(*until);
                st.set_bit(i, done);
            }
            // Beam throws: `Never` cannot fire. Its parents never ask it to.
            Node::Never => {}
        }
    }

    /// `clear` of the root: drops every node's state, keeps the finished bits (Beam's
    /// `TriggerStateMachineRunner.clearState`, when the trigger has closed).
    pub fn clear_state(&self, state: &mut TriggerState) {
        self.clear(0, state);
    }

    fn clear(&self, i: usize, st: &mut TriggerState) {
        match &self.nodes[i] {
            Node::ProcessingTime(_) | Node::ElementCount(_) => st.set_slot(i, Slot::Empty),
            _ => {
                for c in self.subs(i) {
                    self.clear(c, st);
                }
            }
        }
    }

    /// Beam's `resetTree`: unsets the finished bits of the subtree and clears its state.
    fn reset_tree(&self, i: usize, st: &mut TriggerState) {
        for n in i..self.ends[i] {
            st.set_bit(n, false);
        }
        self.clear(i, st);
    }

    /// `onMerge` of the root: `result` starts as the result window's own state (fresh for a new window)
    /// and becomes the merged state; `merging` holds the merging windows' states. The merging windows'
    /// finished bits are dropped with them by the caller.
    pub fn on_merge(&self, result: &mut TriggerState, merging: &MergingStates<'_>, env: &mut Env<'_>) {
        self.merge(0, result, merging, env);
    }

    fn merge(&self, i: usize, st: &mut TriggerState, m: &MergingStates<'_>, env: &mut Env<'_>) {
        match &self.nodes[i] {
            Node::Default => {
                if !env.end_of_window_reached() {
                    env.wakeups.end_of_window = true;
                }
            }
            Node::EndOfWindow => {
                // Still active in any merging window: pending elements have not fired yet. Otherwise it is
                // done for good only if the merged window's end is behind the watermark too.
                let finished = m.finished_in_all(i) && env.end_of_window_reached();
                st.set_bit(i, finished);
            }
            Node::EarlyAndLate { early, late } => {
                if !m.finished_in_all(*early) || !env.end_of_window_reached() {
                    self.merge(*early, st, m, env);
                    st.set_bit(*early, false);
                    if let Some(late) = late {
                        st.set_bit(*late, false);
                        self.clear(*late, st);
                    }
                } else {
                    st.set_bit(*early, true);
                    if let Some(late) = late {
                        self.merge(*late, st, m, env);
                    }
                }
            }
            Node::ProcessingTime(_) => {
                if st.bit(i) {
                    // A finished trigger cannot be revived; its timers are left to fire and be ignored.
                    clear_merged_slot(i, st, m);
                    return;
                }
                // Wait for the earliest target of the merged windows.
                let own = (!m.result_is_source).then_some(st.slot(i));
                let earliest = own
                    .into_iter()
                    .chain(m.sources.iter().map(|s| s.slot(i)))
                    .filter_map(|s| match s {
                        Slot::DelayedUntil(t) => Some(t),
                        _ => None,
                    })
                    .min();
                st.set_slot(i, earliest.map_or(Slot::Empty, Slot::DelayedUntil));
                if let Some(t) = earliest {
                    env.wakeups.processing.push(t);
                }
            }
            Node::ElementCount(_) => {
                if m.finished_in_any(i) {
                    st.set_bit(i, true);
                    clear_merged_slot(i, st, m);
                    return;
                }
                let count = |s: Slot| match s {
                    Slot::Count(c) => c,
                    _ => 0,
                };
                let own = if m.result_is_source { 0 } else { count(st.slot(i)) };
                let total = own + m.sources.iter().map(|s| count(s.slot(i))).sum::<u64>();
                st.set_slot(i, if total == 0 { Slot::Empty } else { Slot::Count(total) });
            }
            Node::Repeatedly(c) => self.merge(*c, st, m, env),
            Node::AfterEach(cs) => {
                // Sub-triggers after the first unfinished one are retroactively "not started".
                let mut prior_all_finished = true;
                for &c in cs {
                    if prior_all_finished {
                        self.merge(c, st, m, env);
                        prior_all_finished &= st.bit(c);
                    } else {
                        self.clear(c, st);
                    }
                }
                let done = self.first_unfinished(st, cs).is_none();
                st.set_bit(i, done);
            }
            Node::AfterFirst(cs) => {
                for &c in cs {
                    self.merge(c, st, m, env);
                }
                let any = cs.iter().any(|&c| st.bit(c));
                st.set_bit(i, any);
            }
            Node::AfterAll(cs) => {
                for &c in cs {
                    self.merge(c, st, m, env);
                }
                let all = cs.iter().all(|&c| st.bit(c));
                st.set_bit(i, all);
            }
            Node::OrFinally { main, until } => {
                self.merge(*main, st, m, env);
                self.merge(*until, st, m, env);
                let any = st.bit(*main) || st.bit(*until);
                st.set_bit(i, any);
            }
            Node::Never => {}
        }
    }
}

/// Beam's `StateMerging.clear`: the merging windows' state goes; the result's own survives unless it was
/// one of them.
fn clear_merged_slot(i: usize, st: &mut TriggerState, m: &MergingStates<'_>) {
    if m.result_is_source {
        st.set_slot(i, Slot::Empty);
    }
}

/// The processing time an `AfterProcessingTime` trigger waits for, from the processing time of the first
/// element of the pane: each transform in order. `alignedTo` is Beam's `AlignFn`, including its Java
/// remainder (truncating, so an instant before the offset is not rounded the way one after it is).
fn target_time(transforms: &[TimeTransform], first_element: Timestamp) -> Timestamp {
    let mut t = i128::from(first_element.millis());
    for transform in transforms {
        match transform {
            TimeTransform::Delay(d) => t += i128::from(d.as_millis()),
            TimeTransform::AlignTo { period, offset } => {
                let size = i128::from(period.as_millis());
                let since_start = (t - i128::from(offset.millis())) % size;
                if since_start != 0 {
                    t = t + size - since_start;
                }
            }
        }
    }
    Timestamp::from_millis(t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests;
