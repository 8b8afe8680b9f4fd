//! Triggers in the core: early, on-time and late panes, closing and on-time behaviours, closed windows,
//! processing-time timers and the global window, each at the millisecond where it flips. Tests named
//! after a Java test are ports of Beam's `ReduceFnRunnerTest.java` (same timeline, same expected panes);
//! the others are written from Beam's documented semantics.

use super::*;
use crate::time::END_OF_GLOBAL_WINDOW;
use crate::trigger::{
    AfterEach, AfterFirst, AfterPane, AfterProcessingTime, AfterWatermark, ClosingBehavior, OnTimeBehavior, Repeatedly,
    Trigger,
};
use crate::window::GlobalWindows;
use PaneTiming::Early;

/// Fixed windows of `size_ms` with the given trigger, lateness and accumulation.
fn fixed(size_ms: i64, trigger: impl Into<Trigger>, lateness_ms: i64, mode: AccumulationMode) -> WindowingStrategy {
    WindowingStrategy::new(FixedWindows::of(Duration::millis(size_ms)))
        .with_trigger(trigger)
        .with_allowed_lateness(Duration::millis(lateness_ms))
        .with_accumulation(mode)
}

use crate::window::FixedWindows;
use AccumulationMode::{Accumulating, Discarding};

/// Infos and values of the panes fired since the last call.
fn infos(h: &mut Harness) -> Vec<(PaneInfo, Vec<i64>)> {
    h.take_info()
        .into_iter()
        .map(|(_, _, info, values)| (info, values))
        .collect()
}

fn processing_every(delay_ms: i64) -> Trigger {
    Repeatedly::forever(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::millis(delay_ms)))
}

/// `AfterEach(Repeatedly(5 ms after the first element).orFinally(end of window), Repeatedly(25 ms after
/// the first element))`, the trigger of Beam's processing-time tests.
fn speculative_then_late() -> Trigger {
    AfterEach::in_order([
        processing_every(5).or_finally(AfterWatermark::past_end_of_window()),
        processing_every(25),
    ])
}

/// `ReduceFnRunnerTest.testProcessingTime`
#[test]
fn processing_time_fires_early_then_the_watermark_on_time_then_processing_time_late() {
    let mut h = Harness::new(fixed(10, speculative_then_late(), 100, Accumulating));
    h.watermark(0);
    h.processing(0);
    h.bundle("a", &[1, 3, 7, 5]);
    h.processing(5);
    assert_eq!(
        infos(&mut h),
        vec![],
        "processing time at the target 0 + 5 exactly: not yet"
    );
    h.processing(6);
    h.bundle("a", &[8, 4]);
    h.watermark(11);
    h.bundle("a", &[8, 4, 5]);
    h.watermark(12);
    h.bundle("a", &[3]);
    h.processing(15);
    h.bundle("a", &[5]);
    h.processing(32); // 32 > 6 + 25
    h.bundle("a", &[3]);
    h.watermark(125);
    let panes: Vec<(PaneInfo, usize)> = infos(&mut h).into_iter().map(|(i, v)| (i, v.len())).collect();
    assert_eq!(
        panes,
        vec![
            (pane(Early, 0, None, false), 4),
            (pane(OnTime, 1, Some(0), false), 6),
            (pane(Late, 2, Some(1), false), 11),
            (pane(Late, 3, Some(2), true), 12),
        ]
    );
}

/// `ReduceFnRunnerTest.testEmptyOnTimeFromOrFinally`
#[test]
fn an_empty_on_time_pane_fires_when_or_finally_reaches_the_end_of_the_window() {
    let mut h = Harness::new(fixed(10, speculative_then_late(), 100, Accumulating));
    h.watermark(0);
    h.processing(0);
    h.bundle("a", &[1, 3, 7, 5]);
    h.processing(6);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1, 3, 5, 7])]);
    h.watermark(9);
    assert_eq!(
        infos(&mut h),
        vec![],
        "the watermark at the max timestamp is not past it"
    );
    h.watermark(10);
    assert_eq!(
        infos(&mut h),
        vec![(pane(OnTime, 1, Some(0), false), vec![1, 3, 5, 7])],
        "no new element, but the on-time pane fires (OnTimeBehavior.FIRE_ALWAYS)"
    );
}

/// `ReduceFnRunnerTest.testEmptyOnTimeWithOnTimeBehaviorFireIfNonEmpty`
#[test]
fn on_time_fire_if_non_empty_skips_the_empty_on_time_pane_and_fire_always_closes_with_a_late_one() {
    let strategy = fixed(10, speculative_then_late(), 100, Accumulating)
        .with_closing_behavior(ClosingBehavior::FireAlways)
        .with_on_time_behavior(OnTimeBehavior::FireIfNonEmpty);
    let mut h = Harness::new(strategy);
    h.watermark(0);
    h.processing(0);
    h.bundle("a", &[1, 3, 7, 5]);
    h.processing(6);
    h.watermark(11);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1, 3, 5, 7])]);
    h.watermark(109);
    assert_eq!(
        infos(&mut h),
        vec![],
        "garbage collection at 9 + 100 = 109 needs the watermark past it"
    );
    h.watermark(110);
    assert_eq!(
        infos(&mut h),
        vec![(pane(Late, 1, Some(0), true), vec![1, 3, 5, 7])],
        "the empty final pane of FIRE_ALWAYS; the skipped on-time pane took no index"
    );
}

/// `ReduceFnRunnerTest.testEmptyOnTimeWithOnTimeBehaviorFireIfNonEmptyAndLateData`
#[test]
fn after_a_skipped_on_time_pane_late_data_fires_a_late_pane() {
    let strategy =
        fixed(10, speculative_then_late(), 100, Accumulating).with_on_time_behavior(OnTimeBehavior::FireIfNonEmpty);
    let mut h = Harness::new(strategy);
    h.watermark(0);
    h.processing(0);
    h.bundle("a", &[1, 3, 7, 5]);
    h.processing(6);
    h.watermark(11);
    h.bundle("a", &[9]);
    h.processing(6 + 25 + 1);
    let panes: Vec<(PaneInfo, usize)> = infos(&mut h).into_iter().map(|(i, v)| (i, v.len())).collect();
    assert_eq!(
        panes,
        vec![(pane(Early, 0, None, false), 4), (pane(Late, 1, Some(0), false), 5)]
    );
}

/// `ReduceFnRunnerTest.testEmptyOnTimeWithOnTimeBehaviorBackwardCompatibility`
#[test]
fn with_zero_lateness_the_on_time_pane_is_final_even_when_empty() {
    let trigger = AfterWatermark::past_end_of_window().with_early_firings(AfterPane::element_count_at_least(1));
    let mut h = Harness::new(fixed(10, trigger, 0, Accumulating));
    h.watermark(0);
    h.bundle("a", &[1]);
    h.watermark(10);
    assert_eq!(
        infos(&mut h),
        vec![
            (pane(Early, 0, None, false), vec![1]),
            (pane(OnTime, 1, Some(0), true), vec![1]),
        ]
    );
}

/// `ReduceFnRunnerTest.testPaneInfoAllStatesAfterWatermark`
#[test]
fn repeated_after_first_fires_early_then_an_empty_on_time_pane_then_an_empty_final_one() {
    let trigger = Repeatedly::forever(AfterFirst::of([
        AfterPane::element_count_at_least(2),
        AfterWatermark::past_end_of_window().into(),
    ]));
    let strategy = fixed(10, trigger, 100, Discarding).with_closing_behavior(ClosingBehavior::FireAlways);
    let mut h = Harness::new(strategy);
    h.watermark(0);
    h.bundle("a", &[1, 2]);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1, 2])]);
    h.watermark(50);
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 1, Some(0), false), vec![])]);
    h.watermark(150);
    assert_eq!(infos(&mut h), vec![(pane(Late, 2, Some(1), true), vec![])]);
}

/// `ReduceFnRunnerTest.noEmptyPanesFinalIfNonEmpty` and `noEmptyPanesFinalAlways`
#[test]
fn the_empty_final_pane_fires_only_under_fire_always() {
    for (closing, panes) in [(ClosingBehavior::FireIfNonEmpty, 2), (ClosingBehavior::FireAlways, 3)] {
        let trigger = Repeatedly::forever(AfterFirst::of([
            AfterPane::element_count_at_least(2),
            AfterWatermark::past_end_of_window().into(),
        ]));
        let mut h = Harness::new(fixed(10, trigger, 100, Accumulating).with_closing_behavior(closing));
        h.watermark(0);
        h.bundle("a", &[1, 2]);
        h.watermark(20);
        h.watermark(250);
        let fired = infos(&mut h);
        assert_eq!(fired.len(), panes, "{closing}: {fired:?}");
        assert!(
            fired.iter().all(|(_, values)| values == &[1, 2]),
            "accumulating: {fired:?}"
        );
    }
}

/// `ReduceFnRunnerTest.testPaneInfoFinalAndOnTime`
#[test]
fn or_finally_at_the_end_of_the_window_fires_a_final_on_time_pane() {
    let trigger =
        Repeatedly::forever(AfterPane::element_count_at_least(2)).or_finally(AfterWatermark::past_end_of_window());
    let strategy = fixed(10, trigger, 100, Discarding).with_closing_behavior(ClosingBehavior::FireAlways);
    let mut h = Harness::new(strategy);
    h.watermark(0);
    h.bundle("a", &[1, 2]);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1, 2])]);
    h.watermark(150);
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 1, Some(0), true), vec![])]);
}

/// `ReduceFnRunnerTest.testOnlyOneOnTimePane`
#[test]
fn the_default_trigger_fires_one_on_time_pane_then_late_ones() {
    let mut h = Harness::new(fixed(10, Trigger::Default, 100, Accumulating));
    h.watermark(0);
    h.bundle("a", &[1]);
    h.watermark(10);
    h.bundle("a", &[3]);
    assert_eq!(
        infos(&mut h),
        vec![
            (pane(OnTime, 0, Some(0), false), vec![1]),
            (pane(Late, 1, Some(1), false), vec![1, 3]),
        ]
    );
}

/// `ReduceFnRunnerTest.testFixedWindowsEowAndGcTogether`
#[test]
fn the_end_of_the_window_and_garbage_collection_in_one_step_fire_one_final_on_time_pane() {
    for closing in [ClosingBehavior::FireAlways, ClosingBehavior::FireIfNonEmpty] {
        let mut h = Harness::new(fixed(10, Trigger::Default, 50, Accumulating).with_closing_behavior(closing));
        h.watermark(0);
        h.bundle("a", &[1]);
        h.watermark(100);
        assert_eq!(
            infos(&mut h),
            vec![(pane(OnTime, 0, Some(0), true), vec![1])],
            "{closing}"
        );
    }
}

#[test]
fn fire_always_closes_with_an_empty_late_pane_at_garbage_collection() {
    let strategy =
        fixed(20_000, Trigger::Default, 10_000, Discarding).with_closing_behavior(ClosingBehavior::FireAlways);
    let mut h = Harness::new(strategy);
    h.bundle("a", &[1_000]);
    h.watermark(20_000);
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 0, Some(0), false), vec![1_000])]);
    // Garbage collection at 19.999 + 10 = 29.999: the watermark must pass it.
    h.watermark(29_999);
    assert_eq!(infos(&mut h), vec![]);
    h.watermark(30_000);
    assert_eq!(infos(&mut h), vec![(pane(Late, 1, Some(1), true), vec![])]);
    assert_eq!(h.core.open_windows(), 0);
}

#[test]
fn on_time_fire_if_non_empty_skips_an_empty_on_time_pane_that_closes_the_window() {
    let trigger = AfterWatermark::past_end_of_window().with_early_firings(AfterPane::element_count_at_least(1));
    for (on_time, expected) in [
        (
            OnTimeBehavior::FireAlways,
            vec![(pane(OnTime, 1, Some(0), true), vec![])],
        ),
        (OnTimeBehavior::FireIfNonEmpty, vec![]),
    ] {
        let strategy = fixed(20_000, trigger.clone(), 10_000, Discarding).with_on_time_behavior(on_time);
        let mut h = Harness::new(strategy);
        h.bundle("a", &[1_000]);
        assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1_000])]);
        h.watermark(19_999);
        assert_eq!(
            infos(&mut h),
            vec![],
            "{on_time}: the max timestamp is not past the end"
        );
        h.watermark(20_000);
        assert_eq!(infos(&mut h), expected, "{on_time}");
        // Without late firings the on-time firing finishes the trigger: the window is closed.
        assert_eq!(
            h.bundle("a", &[2_000]),
            vec![Fate::DroppedClosed(win(0, 20_000))],
            "{on_time}"
        );
        assert_eq!(h.core.stats().dropped_closed_window, 1);
    }
}

#[test]
fn an_early_pane_fires_once_processing_time_is_past_the_delay() {
    let trigger = AfterWatermark::past_end_of_window()
        .with_early_firings(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::seconds(5)));
    let mut h = Harness::new(fixed(20_000, trigger, 0, Accumulating));
    h.processing(1_000);
    h.bundle("a", &[3_000]);
    assert_eq!(h.core.next_processing_time_timer(), Some(ts(6_000)));
    h.processing(6_000);
    assert_eq!(infos(&mut h), vec![], "at the target exactly: not yet");
    h.processing(6_001);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![3_000])]);
    // The next early pane waits for the next element.
    h.processing(60_000);
    assert_eq!(infos(&mut h), vec![]);
    h.bundle("a", &[4_000]);
    assert_eq!(h.core.next_processing_time_timer(), Some(ts(65_000)));
    h.watermark(20_000);
    assert_eq!(
        infos(&mut h),
        vec![(pane(OnTime, 1, Some(0), true), vec![3_000, 4_000])],
        "accumulating: the on-time pane holds the early elements too"
    );
}

#[test]
fn processing_time_panes_of_one_step_fire_in_window_then_key_order() {
    let mut h = Harness::new(fixed(20_000, processing_every(1_000), 0, Discarding));
    h.keyed_bundle(&[("b", 21_000), ("b", 1_000), ("c", 2_000)]);
    h.processing(500);
    h.keyed_bundle(&[("a", 3_000), ("a", 25_000)]);
    h.processing(10_000);
    let order: Vec<(&str, i64)> = h.take().into_iter().map(|p| (p.0, p.1.start().millis())).collect();
    assert_eq!(order, vec![("a", 0), ("b", 0), ("c", 0), ("a", 20_000), ("b", 20_000)]);
}

/// A pane of on-time elements fired after the end of the window is the on-time pane: their holds kept
/// the output watermark at the end of the window (Beam's `PaneInfoTracker`).
#[test]
fn a_count_trigger_firing_after_the_end_of_the_window_on_held_elements_is_on_time() {
    let mut h = Harness::new(fixed(
        10,
        Repeatedly::forever(AfterPane::element_count_at_least(3)),
        100,
        Discarding,
    ));
    h.watermark(0);
    h.bundle("a", &[1, 2]);
    h.watermark(50);
    assert_eq!(infos(&mut h), vec![]);
    h.bundle("a", &[3]);
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 0, Some(0), false), vec![1, 2, 3])]);
    h.bundle("a", &[4, 5, 6]);
    assert_eq!(infos(&mut h), vec![(pane(Late, 1, Some(1), false), vec![4, 5, 6])]);
}

/// Once early panes took every element, nothing holds the output watermark: when the watermark passes the
/// end, the window's output is late, and its next pane is late rather than on time.
#[test]
fn after_early_panes_took_everything_the_next_pane_past_the_end_is_late() {
    let mut h = Harness::new(fixed(
        10,
        Repeatedly::forever(AfterPane::element_count_at_least(2)),
        100,
        Discarding,
    ));
    h.watermark(0);
    h.bundle("a", &[1, 2]);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1, 2])]);
    h.watermark(10);
    h.bundle("a", &[3, 4]);
    assert_eq!(infos(&mut h), vec![(pane(Late, 1, Some(0), false), vec![3, 4])]);
}

/// `ReduceFnRunnerTest.testDropDataMultipleWindowsFinishedTrigger`
#[test]
fn elements_for_windows_whose_trigger_finished_are_dropped_and_counted_per_window() {
    let strategy = WindowingStrategy::new(SlidingWindows::of(Duration::millis(100), Duration::millis(30)))
        .with_trigger(AfterWatermark::past_end_of_window())
        .with_allowed_lateness(Duration::millis(1000));
    let mut h = Harness::new(strategy);
    // 23 is in [-60, 40), [-30, 70), [0, 100); 40 in [-30, 70), [0, 100), [30, 130).
    h.bundle("a", &[23, 40]);
    assert_eq!(h.core.stats().dropped_closed_window, 0);
    h.watermark(70);
    // [-30, 70) fired on time and closed; [0, 100) and [30, 130) still take 60.
    assert_eq!(h.bundle("a", &[60]), vec![Fate::Accepted]);
    assert_eq!(h.core.stats().dropped_closed_window, 1);
    h.watermark(130);
    assert_eq!(h.bundle("a", &[40]), vec![Fate::DroppedClosed(win(-30, 70))]);
    assert_eq!(h.core.stats().dropped_closed_window, 4);
    assert_eq!((h.core.stats().dropped_closed, h.core.stats().accepted), (1, 3));
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(
        h.core.open_windows(),
        0,
        "closed windows are forgotten at garbage collection"
    );
}

/// `ReduceFnRunnerTest.fireNonEmptyOnDrainInGlobalWindow`
#[test]
fn the_global_window_fires_its_count_trigger_early_and_the_rest_on_time_at_the_end() {
    let strategy =
        WindowingStrategy::new(GlobalWindows).with_trigger(Repeatedly::forever(AfterPane::element_count_at_least(3)));
    let mut h = Harness::new(strategy);
    h.watermark(0);
    for i in 0..20 {
        h.bundle("a", &[i]);
    }
    let early = infos(&mut h);
    assert_eq!(early.len(), 6);
    for (i, (info, values)) in early.iter().enumerate() {
        assert_eq!(*info, pane(Early, i as u64, None, false));
        assert_eq!(values.len(), 3);
    }
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 6, Some(0), true), vec![18, 19])]);
}

/// `ReduceFnRunnerTest.fireEmptyOnDrainInGlobalWindowIfRequested`
#[test]
fn the_global_window_fires_an_empty_on_time_pane_at_the_end_of_input() {
    let strategy = WindowingStrategy::new(GlobalWindows).with_trigger(processing_every(3));
    let mut h = Harness::new(strategy);
    for i in 0..20 {
        h.processing(i);
        h.bundle("a", &[i]);
    }
    h.processing(24);
    let early = infos(&mut h);
    assert_eq!(early.len(), 5);
    assert!(early
        .iter()
        .all(|(info, values)| info.timing == Early && values.len() == 4));
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 5, Some(0), true), vec![])]);
}

#[test]
fn the_global_window_under_the_default_trigger_fires_once_the_watermark_passes_its_end() {
    let mut h = Harness::new(WindowingStrategy::new(GlobalWindows));
    h.bundle("a", &[1, 1_000_000]);
    h.watermark(END_OF_GLOBAL_WINDOW.millis());
    assert_eq!(
        infos(&mut h),
        vec![],
        "at the global window's max timestamp: not past it"
    );
    h.watermark(END_OF_GLOBAL_WINDOW.millis() + 1);
    assert_eq!(
        infos(&mut h),
        vec![(pane(OnTime, 0, Some(0), true), vec![1, 1_000_000])]
    );
    assert_eq!(h.core.open_windows(), 0);
}

/// `ReduceFnRunnerTest.testCombiningAccumulatingProcessingTimeSeparateBundles`
#[test]
fn a_window_collected_before_its_processing_time_timer_fires_only_its_final_pane() {
    let mut h = Harness::new(fixed(100, processing_every(10), 0, Accumulating));
    h.processing(5_000);
    h.bundle("a", &[2]);
    h.bundle("a", &[5]);
    h.watermark(100);
    h.processing(5_011);
    assert_eq!(infos(&mut h), vec![(pane(OnTime, 0, Some(0), true), vec![2, 5])]);
}

#[test]
fn a_window_without_a_watermark_trigger_is_not_woken_at_its_end() {
    // AfterEach(AfterPane(1), AfterWatermark): the watermark trigger only starts after the first pane, so
    // it never asked for an end-of-window timer; Beam wakes the window at its end through no timer.
    let trigger = AfterEach::in_order([
        AfterPane::element_count_at_least(1),
        AfterWatermark::past_end_of_window().into(),
    ]);
    let mut h = Harness::new(fixed(10, trigger, 100, Discarding));
    h.watermark(0);
    h.bundle("a", &[1]);
    assert_eq!(infos(&mut h), vec![(pane(Early, 0, None, false), vec![1])]);
    h.watermark(50);
    assert_eq!(infos(&mut h), vec![], "no timer at the end of the window");
    h.bundle("a", &[2]);
    assert_eq!(infos(&mut h), vec![(pane(Late, 1, Some(0), true), vec![2])]);
    assert_eq!(h.bundle("a", &[3]), vec![Fate::DroppedClosed(win(0, 10))]);
}
