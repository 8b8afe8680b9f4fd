//! Tests of the trigger state machines alone, ported from Beam's `*StateMachineTest.java`
//! (`runners/core-java/src/test/java/org/apache/beam/runners/core/triggers/`). Each test names the Java
//! test it comes from; Beam's mock sub-triggers are replaced by real ones with the same behaviour.
//!
//! [`Tester`] is Beam's `TriggerStateMachineTester`: elements whose value is their timestamp, windows
//! from a window function, an active window set, `mergeWindows` on demand, and both clocks starting at
//! `TIMESTAMP_MIN_VALUE` as in `InMemoryTimerInternals`.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::time::{Duration, TIMESTAMP_MIN_VALUE};
use crate::trigger::{
    AfterAll, AfterEach, AfterFirst, AfterPane, AfterProcessingTime, AfterWatermark, Never, Repeatedly,
};
use crate::window::{FixedWindows, GlobalWindows, Sessions, WindowFn};

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn win(start: i64, end: i64) -> Window {
    Window::new(ts(start), ts(end))
}

struct Tester {
    program: TriggerProgram,
    window_fn: Box<dyn WindowFn>,
    watermark: Timestamp,
    processing_time: Timestamp,
    /// Trigger state (finished bits and node state) of every window ever touched.
    states: BTreeMap<Window, TriggerState>,
    active: BTreeSet<Window>,
    merged_into: BTreeMap<Window, Window>,
    wakeups: Wakeups,
}

impl Tester {
    fn new(trigger: impl Into<Trigger>, window_fn: impl WindowFn + 'static) -> Tester {
        Tester {
            program: TriggerProgram::new(&trigger.into()),
            window_fn: Box::new(window_fn),
            watermark: TIMESTAMP_MIN_VALUE,
            processing_time: TIMESTAMP_MIN_VALUE,
            states: BTreeMap::new(),
            active: BTreeSet::new(),
            merged_into: BTreeMap::new(),
            wakeups: Wakeups::default(),
        }
    }

    fn env(&mut self, window: Window) -> Env<'_> {
        Env {
            window,
            watermark: self.watermark,
            processing_time: self.processing_time,
            merging: self.window_fn.is_merging(),
            wakeups: &mut self.wakeups,
        }
    }

    fn state(&self, window: Window) -> TriggerState {
        self.states
            .get(&window)
            .cloned()
            .unwrap_or_else(|| self.program.new_state())
    }

    /// `injectElements`: each value is its own timestamp; one bundle.
    fn inject(&mut self, values: &[i64]) {
        self.wakeups.clear();
        let mut assigned = Vec::new();
        for &v in values {
            let mut windows = Vec::new();
            self.window_fn.assign_windows(ts(v), &mut windows);
            self.active.extend(windows.iter().copied());
            assigned.push(windows);
        }
        for windows in assigned {
            for w in windows {
                let w = self.merged_into.get(&w).copied().unwrap_or(w);
                let mut state = self.state(w);
                if !self.program.is_closed(&state) {
                    let program = self.program.clone();
                    program.on_element(&mut state, &mut self.env(w));
                }
                self.states.insert(w, state);
            }
        }
    }

    fn should_fire(&mut self, window: Window) -> bool {
        let state = self.state(window);
        let program = self.program.clone();
        let env = self.env(window);
        program.should_fire(&state, &env)
    }

    /// `fireIfShouldFire`: fires, and forgets a window whose trigger finished.
    fn fire_if_should_fire(&mut self, window: Window) {
        if !self.should_fire(window) {
            return;
        }
        let mut state = self.state(window);
        let program = self.program.clone();
        program.on_fire(&mut state, &mut self.env(window));
        if program.is_closed(&state) {
            self.active.remove(&window);
            program.clear_state(&mut state);
        }
        self.states.insert(window, state);
    }

    fn is_marked_finished(&self, window: Window) -> bool {
        self.states.get(&window).is_some_and(|s| self.program.is_closed(s))
    }

    /// `mergeWindows`: one merge of the active windows, handing the merging windows' states to `onMerge`.
    fn merge_windows(&mut self) {
        self.wakeups.clear();
        self.merged_into.clear();
        let active: Vec<Window> = self.active.iter().copied().collect();
        for (group, result) in self.window_fn.merge_windows(&active) {
            let sources: Vec<TriggerState> = group
                .iter()
                .filter(|w| self.active.contains(w))
                .map(|w| self.state(*w))
                .collect();
            let result_is_source = group.contains(&result);
            let mut state = self.state(result);
            let refs: Vec<&TriggerState> = sources.iter().collect();
            let program = self.program.clone();
            program.on_merge(
                &mut state,
                &MergingStates {
                    sources: &refs,
                    result_is_source,
                },
                &mut self.env(result),
            );
            self.states.insert(result, state);
            for w in &group {
                self.merged_into.insert(*w, result);
                self.active.remove(w);
            }
            self.active.insert(result);
        }
    }
}

/// `AfterPaneStateMachineTest.testAfterPaneElementCountFixedWindows`
#[test]
fn after_pane_fires_and_finishes_only_the_window_that_reached_the_count() {
    let mut t = Tester::new(
        AfterPane::element_count_at_least(2),
        FixedWindows::of(Duration::millis(10)),
    );
    t.inject(&[1]);
    assert!(!t.should_fire(win(0, 10)));
    t.inject(&[2]);
    t.inject(&[11]);
    assert!(t.should_fire(win(0, 10)));
    t.fire_if_should_fire(win(0, 10));
    assert!(t.is_marked_finished(win(0, 10)));
    assert!(!t.is_marked_finished(win(10, 20)));
}

/// `AfterPaneStateMachineTest.testClear`
#[test]
fn clearing_after_pane_forgets_its_count() {
    let mut t = Tester::new(
        AfterPane::element_count_at_least(2),
        FixedWindows::of(Duration::millis(10)),
    );
    t.inject(&[1, 2, 3]);
    let mut state = t.state(win(0, 10));
    t.program.clear_state(&mut state);
    assert_eq!(state, t.program.new_state());
}

/// `AfterPaneStateMachineTest.testAfterPaneElementCountSessions`
#[test]
fn after_pane_counts_the_elements_of_merged_sessions_together() {
    let mut t = Tester::new(
        AfterPane::element_count_at_least(2),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1, 2]);
    assert!(!t.should_fire(win(1, 11)));
    assert!(!t.should_fire(win(2, 12)));
    t.merge_windows();
    assert!(t.should_fire(win(1, 12)));
    t.fire_if_should_fire(win(1, 12));
    assert!(t.is_marked_finished(win(1, 12)));
    // The closed window is gone from the active set, so the next two merge on their own.
    t.inject(&[7, 9]);
    t.merge_windows();
    assert!(t.should_fire(win(7, 19)));
    t.fire_if_should_fire(win(7, 19));
    assert!(t.is_marked_finished(win(7, 19)));
}

/// `AfterProcessingTimeStateMachineTest.testAfterProcessingTimeFixedWindows`
#[test]
fn after_processing_time_fires_strictly_after_the_first_elements_time_plus_the_delay() {
    let trigger = AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::millis(5));
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(10)));
    t.processing_time = ts(10);
    t.inject(&[1]); // target 15
    t.processing_time = ts(12);
    assert!(!t.should_fire(win(0, 10)));
    t.inject(&[11, 12, 13]); // target 17
    assert!(!t.should_fire(win(10, 20)));
    t.processing_time = ts(14);
    assert!(!t.should_fire(win(0, 10)));
    // A later first-element time does not move the target.
    t.inject(&[2, 3]);
    t.processing_time = ts(15);
    assert!(!t.should_fire(win(0, 10)), "at the target exactly: not yet");
    t.processing_time = ts(16);
    assert!(t.should_fire(win(0, 10)));
    assert!(!t.should_fire(win(10, 20)));
    t.fire_if_should_fire(win(0, 10));
    assert!(t.is_marked_finished(win(0, 10)));
    t.processing_time = ts(18);
    assert!(t.should_fire(win(10, 20)));
    t.fire_if_should_fire(win(10, 20));
    assert!(t.is_marked_finished(win(10, 20)));
}

/// `AfterProcessingTimeStateMachineTest.testAfterProcessingTimeWithMergingWindow`
#[test]
fn merged_sessions_wait_for_the_earliest_processing_time_target() {
    let trigger = AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::millis(5));
    let mut t = Tester::new(trigger, Sessions::with_gap_duration(Duration::millis(10)));
    t.processing_time = ts(10);
    t.inject(&[1]); // [1, 11), target 15
    assert!(!t.should_fire(win(1, 11)));
    t.processing_time = ts(12);
    t.inject(&[3]); // [3, 13), target 17
    assert!(!t.should_fire(win(3, 13)));
    t.merge_windows();
    assert_eq!(
        t.wakeups.processing,
        [ts(15)],
        "the merged window asks to be woken at the earliest"
    );
    t.processing_time = ts(16);
    assert!(t.should_fire(win(1, 13)));
}

#[test]
fn aligned_processing_time_rounds_up_to_the_next_period_as_beams_align_fn() {
    let at = |transforms: Vec<TimeTransform>, pt| target_time(&transforms, ts(pt));
    let align = |period, offset| TimeTransform::AlignTo {
        period: Duration::millis(period),
        offset: ts(offset),
    };
    assert_eq!(at(vec![align(10, 0)], 20), ts(20), "on a boundary: unchanged");
    assert_eq!(at(vec![align(10, 0)], 21), ts(30));
    assert_eq!(at(vec![align(10, 3)], 21), ts(23));
    // Java's remainder truncates: before the offset, -7 % 10 = -7, so 1 + 10 + 7 = 18.
    assert_eq!(at(vec![align(10, 8)], 1), ts(18));
    assert_eq!(
        at(vec![TimeTransform::Delay(Duration::millis(5)), align(10, 0)], 21),
        ts(30),
        "transforms apply in order"
    );
}

/// `AfterWatermarkStateMachineTest.testEarlyAndAtWatermark`, with `AfterPane(2)` for the mocked early
/// trigger.
#[test]
fn early_firings_repeat_until_the_watermark_fires_and_finishes() {
    let trigger = AfterWatermark::past_end_of_window().with_early_firings(AfterPane::element_count_at_least(2));
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(100)));
    let w = win(0, 100);
    t.inject(&[1]);
    assert!(!t.should_fire(w));
    t.inject(&[2]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w), "early firings repeat implicitly");
    t.inject(&[3]);
    assert!(!t.should_fire(w), "the early trigger started over");
    t.watermark = ts(99);
    assert!(!t.should_fire(w), "the watermark at the max timestamp is not past it");
    t.watermark = ts(100);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(t.is_marked_finished(w));
}

/// `AfterWatermarkStateMachineTest.testAtWatermarkAndLate` and `testEarlyAndAtWatermarkAndLate`
#[test]
fn late_firings_repeat_after_the_on_time_firing_and_never_finish() {
    let trigger = AfterWatermark::past_end_of_window()
        .with_early_firings(AfterPane::element_count_at_least(100))
        .with_late_firings(AfterPane::element_count_at_least(2));
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(100)));
    let w = win(0, 100);
    t.inject(&[1]);
    assert!(!t.should_fire(w));
    t.watermark = ts(100);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    assert!(
        !t.should_fire(w),
        "the late trigger starts afresh at the on-time firing"
    );
    t.inject(&[5]);
    assert!(!t.should_fire(w));
    t.inject(&[6]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    t.inject(&[7, 8]);
    assert!(t.should_fire(w), "and again");
}

fn watermark_then_each_element() -> Trigger {
    AfterEach::in_order([
        Trigger::from(AfterWatermark::past_end_of_window()),
        Repeatedly::forever(AfterPane::element_count_at_least(1)),
    ])
}

/// `AfterWatermarkStateMachineTest.testOnMergeAlreadyFinished`
#[test]
fn a_watermark_trigger_finished_in_every_merged_window_stays_finished() {
    let mut t = Tester::new(
        watermark_then_each_element(),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1]);
    t.inject(&[5]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    t.watermark = ts(15);
    assert!(t.should_fire(first) && t.should_fire(second));
    t.fire_if_should_fire(first);
    t.fire_if_should_fire(second);
    assert!(!t.should_fire(first) && !t.should_fire(second));
    t.inject(&[1]);
    t.inject(&[5]);
    assert!(t.should_fire(first) && t.should_fire(second));
    t.fire_if_should_fire(first);
    t.fire_if_should_fire(second);
    t.merge_windows();
    assert!(!t.should_fire(merged), "on the second trigger");
    t.inject(&[1]);
    assert!(t.should_fire(merged));
}

/// `AfterWatermarkStateMachineTest.testOnMergeRewinds`
#[test]
fn a_merge_revives_a_watermark_trigger_whose_merged_window_has_not_ended() {
    let mut t = Tester::new(
        watermark_then_each_element(),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1]);
    t.inject(&[5]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    t.watermark = ts(11);
    assert!(t.should_fire(first));
    assert!(!t.should_fire(second));
    t.fire_if_should_fire(first);
    assert!(!t.should_fire(first));
    t.inject(&[1]);
    assert!(t.should_fire(first));
    t.fire_if_should_fire(first);
    t.merge_windows();
    assert!(!t.should_fire(merged));
    t.inject(&[1]);
    assert!(!t.should_fire(merged), "back on the watermark trigger");
    t.watermark = ts(15);
    assert!(t.should_fire(merged));
}

/// `AfterWatermarkStateMachine.FromEndOfWindow.onMerge`: "if the trigger is still active in any merging
/// window then it is still active in the new merged window, because even if the merged window is done,
/// some pending elements haven't had a chance to fire".
#[test]
fn a_watermark_trigger_pending_in_one_merged_window_stays_unfinished_past_the_end() {
    let mut t = Tester::new(
        watermark_then_each_element(),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1]);
    t.inject(&[5]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    t.watermark = ts(11);
    t.fire_if_should_fire(first);
    // Past the end of the second window and of the merged one, but the second has not fired yet.
    t.watermark = ts(16);
    assert!(t.should_fire(second));
    t.merge_windows();
    // Node 1 is AfterWatermark.pastEndOfWindow(), the first sub-trigger of AfterEach.
    assert!(!t.program.is_finished(&t.state(merged), 1));
    assert!(t.should_fire(merged));
}

fn early_and_late_counts() -> Trigger {
    AfterWatermark::past_end_of_window()
        .with_early_firings(AfterPane::element_count_at_least(100))
        .with_late_firings(AfterPane::element_count_at_least(1))
        .into()
}

/// `AfterWatermarkStateMachineTest.testEarlyAndLateOnMergeAlreadyFinished`
#[test]
fn merged_windows_all_past_their_end_stay_on_the_late_trigger() {
    let mut t = Tester::new(
        early_and_late_counts(),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1]);
    t.inject(&[5]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    t.watermark = ts(15);
    t.fire_if_should_fire(first);
    t.fire_if_should_fire(second);
    assert!(!t.should_fire(first) && !t.should_fire(second));
    t.inject(&[1]);
    t.inject(&[5]);
    assert!(t.should_fire(first) && t.should_fire(second));
    t.fire_if_should_fire(first);
    t.fire_if_should_fire(second);
    t.merge_windows();
    assert!(!t.should_fire(merged));
    t.inject(&[1]);
    assert!(t.should_fire(merged), "on the late trigger");
}

/// `AfterWatermarkStateMachineTest.testEarlyAndLateOnMergeRewinds`
#[test]
fn a_merge_brings_early_and_late_back_to_the_early_phase_before_the_end() {
    let mut t = Tester::new(
        early_and_late_counts(),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1]);
    t.inject(&[5]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    t.watermark = ts(11);
    assert!(t.should_fire(first));
    assert!(!t.should_fire(second));
    t.fire_if_should_fire(first);
    t.inject(&[1]);
    assert!(t.should_fire(first));
    t.fire_if_should_fire(first);
    t.merge_windows();
    assert!(!t.should_fire(merged));
    t.inject(&[1]);
    assert!(!t.should_fire(merged), "back on the early trigger");
    t.watermark = ts(15);
    assert!(t.should_fire(merged));
}

/// `AfterEachStateMachineTest.testAfterEachInSequence`
#[test]
fn after_each_runs_its_sub_triggers_in_turn() {
    let trigger = AfterEach::in_order([
        Repeatedly::forever(AfterPane::element_count_at_least(2)).or_finally(AfterPane::element_count_at_least(3)),
        Repeatedly::forever(AfterPane::element_count_at_least(5)).or_finally(AfterWatermark::past_end_of_window()),
    ]);
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(10)));
    let w = win(0, 10);
    t.inject(&[1]);
    assert!(!t.should_fire(w));
    t.inject(&[2]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    // orFinally(AfterPane(3)) fires and finishes the first sub-trigger.
    t.inject(&[1, 2, 3]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    assert!(!t.should_fire(w));
    // Enough to fire the first sub-trigger, not the second.
    t.inject(&[1, 2, 3, 4]);
    assert!(!t.should_fire(w));
    t.inject(&[5]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    t.watermark = ts(10);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(t.is_marked_finished(w));
}

/// `OrFinallyStateMachineTest.testActualFiresAndFinishes`
#[test]
fn or_finally_finishes_when_its_main_trigger_finishes() {
    let trigger = AfterPane::element_count_at_least(2).or_finally(AfterPane::element_count_at_least(100));
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(100)));
    let w = win(0, 100);
    t.inject(&[1]);
    assert!(!t.should_fire(w));
    assert!(!t.is_marked_finished(w));
    t.inject(&[2]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(t.is_marked_finished(w));
}

/// `OrFinallyStateMachineTest.testActualFiresOnly`
#[test]
fn or_finally_keeps_firing_with_a_repeated_main_trigger() {
    let trigger =
        Repeatedly::forever(AfterPane::element_count_at_least(2)).or_finally(AfterPane::element_count_at_least(100));
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(100)));
    let w = win(0, 100);
    t.inject(&[1]);
    assert!(!t.should_fire(w));
    t.inject(&[2]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    t.inject(&[3, 4]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
}

/// `OrFinallyStateMachineTest.testActualFiresButUntilFinishes`
#[test]
fn or_finally_finishes_when_until_fires_counting_across_main_firings() {
    let trigger =
        Repeatedly::forever(AfterPane::element_count_at_least(2)).or_finally(AfterPane::element_count_at_least(3));
    let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(10)));
    let w = win(0, 10);
    t.inject(&[1]);
    assert!(!t.should_fire(w));
    t.inject(&[2]);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    t.inject(&[3]);
    assert!(t.should_fire(w), "until has seen 3 elements, main only 1");
    t.fire_if_should_fire(w);
    assert!(t.is_marked_finished(w));
}

/// `OrFinallyStateMachineTest.testShouldFireAfterMerge`
#[test]
fn a_merge_revives_a_finished_or_finally_inside_after_each() {
    let trigger = AfterEach::in_order([
        AfterPane::element_count_at_least(5).or_finally(AfterWatermark::past_end_of_window()),
        Repeatedly::forever(AfterPane::element_count_at_least(1)),
    ]);
    let mut t = Tester::new(trigger, Sessions::with_gap_duration(Duration::millis(10)));
    t.inject(&[1]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    assert!(!t.should_fire(first));
    t.watermark = ts(11);
    assert!(t.should_fire(first));
    t.fire_if_should_fire(first);
    t.inject(&[5]);
    assert!(!t.should_fire(second));
    t.merge_windows();
    assert!(!t.should_fire(merged), "not on the second trigger");
    t.inject(&[1, 2, 3, 4, 5]);
    t.merge_windows();
    assert!(t.should_fire(merged));
}

/// `AfterFirstStateMachineTest.testOnlyT1ShouldFireFixedWindows` and friends, with real sub-triggers.
#[test]
fn after_first_fires_and_finishes_when_any_sub_trigger_fires() {
    for (first, second, fires) in [(3, 5, false), (2, 5, true), (5, 2, true), (2, 2, true)] {
        let trigger = AfterFirst::of([
            AfterPane::element_count_at_least(first),
            AfterPane::element_count_at_least(second),
        ]);
        let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(10)));
        let w = win(0, 10);
        t.inject(&[1, 2]);
        assert_eq!(t.should_fire(w), fires, "AfterFirst({first}, {second})");
        t.fire_if_should_fire(w);
        assert_eq!(t.is_marked_finished(w), fires);
    }
}

/// `AfterFirstStateMachineTest.testShouldFireAfterMerge`
#[test]
fn a_merge_revives_a_finished_after_first_inside_after_each() {
    let trigger = AfterEach::in_order([
        AfterFirst::of([
            AfterPane::element_count_at_least(5),
            AfterWatermark::past_end_of_window().into(),
        ]),
        Repeatedly::forever(AfterPane::element_count_at_least(1)),
    ]);
    let mut t = Tester::new(trigger, Sessions::with_gap_duration(Duration::millis(10)));
    t.inject(&[1]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    assert!(!t.should_fire(first));
    t.watermark = ts(11);
    assert!(t.should_fire(first));
    t.fire_if_should_fire(first);
    t.inject(&[5]);
    assert!(!t.should_fire(second));
    t.merge_windows();
    assert!(!t.should_fire(merged));
    t.inject(&[1, 2, 3, 4, 5]);
    t.merge_windows();
    assert!(t.should_fire(merged));
}

/// `AfterAllStateMachineTest.testT1FiresFirst` and `testT2FiresFirst`
#[test]
fn after_all_fires_once_every_sub_trigger_has_fired() {
    for (first, second) in [(1, 2), (2, 1)] {
        let trigger = AfterAll::of([
            AfterPane::element_count_at_least(first),
            AfterPane::element_count_at_least(second),
        ]);
        let mut t = Tester::new(trigger, FixedWindows::of(Duration::millis(100)));
        let w = win(0, 100);
        t.inject(&[1]);
        assert!(!t.should_fire(w));
        t.inject(&[2]);
        assert!(t.should_fire(w));
        t.fire_if_should_fire(w);
        assert!(t.is_marked_finished(w));
    }
}

/// `AfterAllStateMachineTest.testOnMergeRewinds`
#[test]
fn a_merge_unsets_the_finished_bit_of_after_all() {
    let trigger = AfterEach::in_order([
        AfterAll::of([
            Trigger::from(AfterWatermark::past_end_of_window()),
            AfterPane::element_count_at_least(1),
        ]),
        Repeatedly::forever(AfterPane::element_count_at_least(1)),
    ]);
    let mut t = Tester::new(trigger, Sessions::with_gap_duration(Duration::millis(10)));
    t.inject(&[1]);
    t.inject(&[5]);
    let (first, second, merged) = (win(1, 11), win(5, 15), win(1, 15));
    t.watermark = ts(11);
    assert!(t.should_fire(first));
    assert!(!t.should_fire(second));
    t.fire_if_should_fire(first);
    t.merge_windows();
    assert!(!t.is_marked_finished(merged));
    t.inject(&[3]);
    t.merge_windows();
    assert!(!t.should_fire(merged), "back on AfterAll");
    t.watermark = ts(15);
    assert!(t.should_fire(merged));
    t.fire_if_should_fire(merged);
    t.inject(&[2]);
    t.merge_windows();
    assert!(t.should_fire(merged));
    t.fire_if_should_fire(merged);
    t.inject(&[2]);
    t.merge_windows();
    assert!(t.should_fire(merged));
}

/// `RepeatedlyStateMachineTest.testShouldFireAfterMerge`
#[test]
fn repeatedly_counts_merged_sessions_together() {
    let mut t = Tester::new(
        Repeatedly::forever(AfterPane::element_count_at_least(2)),
        Sessions::with_gap_duration(Duration::millis(10)),
    );
    t.inject(&[1]);
    assert!(!t.should_fire(win(1, 11)));
    t.inject(&[5]);
    assert!(!t.should_fire(win(5, 15)));
    t.merge_windows();
    assert!(t.should_fire(win(1, 15)));
}

/// `RepeatedlyStateMachineTest.testRepeatedlyElementCount` and `testRepeatedlyAfterFirstElementCount`
#[test]
fn repeatedly_resets_its_sub_trigger_after_each_firing() {
    let after_first = AfterFirst::of([
        Trigger::from(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::minutes(15))),
        AfterPane::element_count_at_least(5),
    ]);
    for trigger in [
        Repeatedly::forever(AfterPane::element_count_at_least(5)),
        Repeatedly::forever(after_first),
    ] {
        let mut t = Tester::new(trigger.clone(), GlobalWindows);
        let w = Window::global();
        t.inject(&[1]);
        assert!(!t.should_fire(w), "{trigger}");
        t.inject(&[2, 3, 4, 5]);
        assert!(t.should_fire(w), "{trigger}");
        t.fire_if_should_fire(w);
        assert!(!t.should_fire(w), "{trigger}");
        assert!(!t.is_marked_finished(w));
    }
}

/// `RepeatedlyStateMachineTest.testRepeatedlyProcessingTime` and
/// `testRepeatedlyAfterFirstProcessingTime`
#[test]
fn repeatedly_processing_time_fires_then_waits_for_the_next_first_element() {
    let delay = AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::minutes(15));
    let after_first = AfterFirst::of([Trigger::from(delay.clone()), AfterPane::element_count_at_least(5)]);
    for trigger in [Repeatedly::forever(delay.clone()), Repeatedly::forever(after_first)] {
        let mut t = Tester::new(trigger.clone(), GlobalWindows);
        let w = Window::global();
        t.inject(&[1]);
        assert!(!t.should_fire(w), "{trigger}");
        // The first element came at TIMESTAMP_MIN_VALUE, so any time after the delay is past the target.
        t.processing_time = ts(0).plus(Duration::minutes(15));
        assert!(t.should_fire(w), "{trigger}");
        t.fire_if_should_fire(w);
        assert!(!t.should_fire(w), "{trigger}");
    }
}

#[test]
fn the_default_trigger_fires_past_the_end_of_the_window_and_never_finishes() {
    let mut t = Tester::new(Trigger::Default, FixedWindows::of(Duration::millis(10)));
    let w = win(0, 10);
    t.inject(&[1]);
    assert!(t.wakeups.end_of_window, "it asks to be woken at the end of the window");
    t.watermark = ts(9);
    assert!(!t.should_fire(w));
    t.watermark = ts(10);
    assert!(t.should_fire(w));
    t.fire_if_should_fire(w);
    assert!(!t.is_marked_finished(w));
    assert!(
        t.should_fire(w),
        "every later look fires again (one late pane per bundle)"
    );
}

#[test]
fn never_never_fires() {
    let mut t = Tester::new(Never::ever(), FixedWindows::of(Duration::millis(10)));
    t.inject(&[1, 2, 3]);
    t.watermark = Timestamp::MAX;
    t.processing_time = Timestamp::MAX;
    assert!(!t.should_fire(win(0, 10)));
}

#[test]
fn node_indices_follow_beams_pre_order_numbering() {
    let trigger: Trigger = AfterEach::in_order([
        Repeatedly::forever(AfterPane::element_count_at_least(2)).or_finally(AfterPane::element_count_at_least(3)),
        Trigger::Never,
    ]);
    let program = TriggerProgram::new(&trigger);
    // 0 AfterEach, 1 OrFinally, 2 Repeatedly, 3 AfterPane(2), 4 AfterPane(3), 5 Never.
    assert_eq!(program.children(0), [1, 5]);
    assert_eq!(program.children(1), [2, 4]);
    assert_eq!(program.children(2), [3]);
    let mut state = program.new_state();
    program.set_finished(&mut state, 3, true);
    program.set_finished(&mut state, 2, true);
    program.reset_tree(2, &mut state);
    assert!(!program.is_finished(&state, 2) && !program.is_finished(&state, 3));
}

#[test]
fn finished_bits_past_sixty_four_nodes_are_kept() {
    let trigger = AfterEach::in_order((0..70).map(|_| AfterPane::element_count_at_least(1)));
    let program = TriggerProgram::new(&trigger);
    let mut state = program.new_state();
    program.set_finished(&mut state, 69, true);
    program.set_finished(&mut state, 70, true);
    assert!(program.is_finished(&state, 69) && program.is_finished(&state, 70));
    assert!(!program.is_finished(&state, 68) && !program.is_finished(&state, 140));
    program.set_finished(&mut state, 70, false);
    assert!(!program.is_finished(&state, 70));
}
