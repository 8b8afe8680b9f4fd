//! Merging windows (sessions) in the core: merging within a bundle and across bundles, late data that
//! extends or merges sessions, merges of windows that fired early panes, closed sessions. Tests named
//! after a Java test are ports of Beam's `ReduceFnRunnerTest.java` (its mock trigger replaced by a real
//! one that behaves the same); the others follow Beam's `ReduceFnRunner` merging rules.

use super::*;
use crate::trigger::{AfterPane, Repeatedly, Trigger};
use crate::window::Sessions;
use PaneTiming::Early;

fn sessions(gap_ms: i64, trigger: impl Into<Trigger>, lateness_ms: i64) -> WindowingStrategy {
    WindowingStrategy::new(Sessions::with_gap_duration(Duration::millis(gap_ms)))
        .with_trigger(trigger)
        .with_allowed_lateness(Duration::millis(lateness_ms))
}

/// (window, info, values) of the panes fired since the last call.
fn fired(h: &mut Harness) -> Vec<(Window, PaneInfo, Vec<i64>)> {
    h.take_info()
        .into_iter()
        .map(|(_, w, info, values)| (w, info, values))
        .collect()
}

/// `ReduceFnRunnerTest.testMergeBeforeFinalizing`
#[test]
fn overlapping_sessions_of_one_bundle_merge_before_anything_fires() {
    let mut h = Harness::new(sessions(10, Trigger::Default, 0));
    // [1, 11) and [10, 20) overlap: one session [1, 20).
    h.bundle("a", &[1, 10]);
    h.watermark(100);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 20), pane(OnTime, 0, Some(0), true), vec![1, 10])]
    );
    assert_eq!(h.core.stats().merges, 1);
}

#[test]
fn sessions_a_millisecond_apart_stay_apart_and_touching_ones_merge() {
    let mut h = Harness::new(sessions(10, Trigger::Default, 0));
    // [0, 10) and [11, 21) do not touch; [21, 31) touches [11, 21).
    h.bundle("a", &[0]);
    h.bundle("a", &[11]);
    h.bundle("a", &[21]);
    h.watermark(Timestamp::MAX.millis());
    let windows: Vec<(Window, Vec<i64>)> = fired(&mut h).into_iter().map(|(w, _, v)| (w, v)).collect();
    assert_eq!(windows, vec![(win(0, 10), vec![0]), (win(11, 31), vec![11, 21])]);
}

#[test]
fn a_later_element_extends_a_session_and_moves_its_end_of_window() {
    let mut h = Harness::new(sessions(10, Trigger::Default, 0));
    h.bundle("a", &[1]);
    h.watermark(5);
    h.bundle("a", &[8]); // [8, 18) merges with [1, 11): the session now ends at 18
    h.watermark(11);
    assert_eq!(
        fired(&mut h),
        vec![],
        "[1, 11) was merged away: its end no longer fires"
    );
    assert_eq!(h.core.next_timer(), Some(ts(17)));
    h.watermark(17);
    assert_eq!(fired(&mut h), vec![]);
    h.watermark(18);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 18), pane(OnTime, 0, Some(0), true), vec![1, 8])]
    );
    assert_eq!(h.core.open_windows(), 0);
}

#[test]
fn a_new_element_inside_a_session_keeps_its_window_and_pane_history() {
    let mut h = Harness::new(sessions(
        10,
        Repeatedly::forever(AfterPane::element_count_at_least(1)),
        0,
    ));
    h.bundle("a", &[1, 5]);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 15), pane(Early, 0, None, false), vec![1, 5])]
    );
    // [2, 12) lies inside [1, 15): the merge result is the existing window, which keeps its panes.
    h.bundle("a", &[2]);
    assert_eq!(fired(&mut h), vec![(win(1, 15), pane(Early, 1, None, false), vec![2])]);
}

/// Beam's `ReduceFnRunner.onMerge` clears the pane history of merged-away windows: a merged window that
/// is new starts again at pane index 0, and its trigger state is the merged windows' (element counts add).
#[test]
fn merging_sessions_that_fired_early_panes_starts_a_new_pane_history() {
    let mut h = Harness::new(sessions(
        10,
        Repeatedly::forever(AfterPane::element_count_at_least(2)),
        0,
    ));
    h.bundle("a", &[1, 2]);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 12), pane(Early, 0, None, false), vec![1, 2])]
    );
    h.bundle("a", &[5]); // [1, 15), one element since the pane
    h.bundle("a", &[20]); // [20, 30), apart
    assert_eq!(fired(&mut h), vec![]);
    // [14, 24) joins [1, 15) and [20, 30): three elements since their panes.
    h.bundle("a", &[14]);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 30), pane(Early, 0, None, false), vec![5, 14, 20])]
    );
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 30), pane(OnTime, 1, Some(0), true), vec![])],
        "the empty on-time pane of OnTimeBehavior.FIRE_ALWAYS"
    );
}

#[test]
fn merged_accumulating_sessions_carry_every_element_of_the_merged_windows() {
    let strategy = sessions(10, Repeatedly::forever(AfterPane::element_count_at_least(2)), 0)
        .with_accumulation(AccumulationMode::Accumulating);
    let mut h = Harness::new(strategy);
    h.bundle("a", &[1, 2]);
    h.bundle("a", &[30]);
    h.bundle("a", &[21]); // [21, 31) joins [30, 40): count 2
                          // [12, 22) touches [1, 12) and overlaps [21, 40); [13, 23) overlaps [21, 40).
    h.bundle("a", &[12, 13]);
    let values: Vec<(Window, Vec<i64>)> = fired(&mut h).into_iter().map(|(w, _, v)| (w, v)).collect();
    assert_eq!(
        values,
        vec![
            (win(1, 12), vec![1, 2]),
            (win(21, 40), vec![21, 30]),
            (win(1, 40), vec![1, 2, 12, 13, 21, 30]),
        ]
    );
}

/// Late data within allowed lateness can extend a session that already fired: the extended session is a
/// new window, so its first pane has index 0, and it is late because the watermark had passed the old
/// session's end with nothing held there.
#[test]
fn a_late_element_extending_a_fired_session_fires_a_late_pane_of_a_new_window() {
    let mut h = Harness::new(sessions(10, Trigger::Default, 50));
    h.bundle("a", &[1]);
    h.watermark(25);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 11), pane(OnTime, 0, Some(0), false), vec![1])]
    );
    // [3, 13): 12 + 50 = 62 is not behind 25, so it is not dropped; it merges into [1, 13).
    assert_eq!(h.bundle("a", &[3]), vec![Fate::Accepted]);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 13), pane(Late, 0, Some(0), false), vec![3])]
    );
    // [1, 13) is collected once the watermark passes 12 + 50 = 62; until then late data still merges.
    h.watermark(62);
    assert_eq!(h.bundle("a", &[4]), vec![Fate::Accepted]);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 14), pane(Late, 0, Some(0), false), vec![4])]
    );
    h.watermark(63);
    assert_eq!(
        h.bundle("a", &[4]),
        vec![Fate::Accepted],
        "[4, 14) expires once the watermark passes 13 + 50"
    );
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 14), pane(Late, 1, Some(1), false), vec![4])],
        "merged into the same window, which keeps its pane history"
    );
    h.watermark(64);
    assert_eq!(h.bundle("a", &[4]), vec![Fate::DroppedLate]);
}

/// A late element can also join two sessions that were apart.
#[test]
fn a_late_element_bridging_two_sessions_merges_them() {
    let mut h = Harness::new(sessions(10, Trigger::Default, 100));
    h.bundle("a", &[0]);
    h.bundle("a", &[15]);
    h.watermark(40);
    let on_time: Vec<Window> = fired(&mut h).into_iter().map(|(w, _, _)| w).collect();
    assert_eq!(on_time, vec![win(0, 10), win(15, 25)]);
    h.bundle("a", &[8]); // [8, 18) touches both
    assert_eq!(
        fired(&mut h),
        vec![(win(0, 25), pane(Late, 0, Some(0), false), vec![8])]
    );
    assert_eq!(h.core.open_windows(), 1);
}

/// `ReduceFnRunnerTest.testSessionEowAndGcTogether`
#[test]
fn a_session_whose_end_and_garbage_collection_pass_together_fires_one_final_on_time_pane() {
    let strategy = sessions(10, Trigger::Default, 50)
        .with_accumulation(AccumulationMode::Accumulating)
        .with_closing_behavior(crate::trigger::ClosingBehavior::FireAlways);
    let mut h = Harness::new(strategy);
    h.watermark(0);
    h.bundle("a", &[1]);
    h.watermark(100);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 11), pane(OnTime, 0, Some(0), true), vec![1])]
    );
}

/// `ReduceFnRunnerTest.testMergingWithClosedDoesNotPoison`: new windows merging with a closed one's
/// window start a fresh session; the closed window's finished bits are not consulted.
#[test]
fn a_closed_session_does_not_poison_new_windows_merging_around_it() {
    let mut h = Harness::new(sessions(10, AfterPane::element_count_at_least(1), 50));
    h.bundle("a", &[2]);
    assert_eq!(fired(&mut h), vec![(win(2, 12), pane(Early, 0, None, true), vec![2])]);
    assert_eq!(h.bundle("a", &[1, 2, 3]), vec![Fate::Accepted; 3]);
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 13), pane(Early, 0, None, true), vec![1, 2, 3])]
    );
    assert_eq!(h.core.stats().dropped_closed_window, 0);
}

/// `ReduceFnRunnerTest.testMergingWithClosedRepresentative`: new windows merging into exactly the window
/// of a closed session are dropped for it.
#[test]
fn new_windows_merging_into_a_closed_session_window_are_dropped() {
    let mut h = Harness::new(sessions(10, AfterPane::element_count_at_least(1), 50));
    h.bundle("a", &[1, 8]); // [1, 18) fires and closes
    assert_eq!(
        fired(&mut h),
        vec![(win(1, 18), pane(Early, 0, None, true), vec![1, 8])]
    );
    // [1, 11), [2, 12) and [8, 18) are new windows; they merge into [1, 18), which is closed.
    assert_eq!(h.bundle("a", &[1, 2, 8]), vec![Fate::DroppedClosed(win(1, 18)); 3]);
    assert_eq!(h.core.stats().dropped_closed_window, 3);
    assert_eq!(fired(&mut h), vec![]);
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(
        fired(&mut h),
        vec![],
        "a closed window emits nothing at garbage collection"
    );
    assert_eq!(h.core.open_windows(), 0);
}

/// `ReduceFnRunnerTest.testMergingWithReusedWindow`
#[test]
fn an_element_in_exactly_a_closed_sessions_window_is_dropped() {
    let mut h = Harness::new(sessions(10, AfterPane::element_count_at_least(1), 50));
    h.bundle("a", &[1]);
    assert_eq!(fired(&mut h).len(), 1);
    assert_eq!(h.bundle("a", &[1]), vec![Fate::DroppedClosed(win(1, 11))]);
    // A session that merely overlaps the closed one is a new window.
    assert_eq!(h.bundle("a", &[3]), vec![Fate::Accepted]);
    assert_eq!(fired(&mut h), vec![(win(3, 13), pane(Early, 0, None, true), vec![3])]);
}

#[test]
fn sessions_of_different_keys_never_merge() {
    let mut h = Harness::new(sessions(10, Trigger::Default, 0));
    h.keyed_bundle(&[("b", 5), ("a", 1), ("b", 1), ("a", 30)]);
    h.watermark(Timestamp::MAX.millis());
    let order: Vec<(&str, Window)> = h.take().into_iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(order, vec![("a", win(1, 11)), ("b", win(1, 15)), ("a", win(30, 40))]);
}

#[test]
fn merging_by_count_in_a_pipeline_counts_every_record() {
    use crate::combine::Count;
    let mut core = WindowedAggregator::new(
        sessions(10, Repeatedly::forever(AfterPane::element_count_at_least(3)), 0),
        Count,
    );
    let (mut fates, mut panes) = (Vec::new(), Vec::new());
    for t in [1, 25, 5, 30, 12, 9, 60] {
        core.process_bundle([("k", ts(t), ())], &mut fates, &mut panes);
    }
    core.advance_watermark(Watermark::MAX, &mut panes);
    let total: u64 = panes.iter().map(|p| p.value).sum();
    assert_eq!(total, 7, "{panes:?}");
    assert_eq!(core.open_windows(), 0);
}

/// Sessions handed to the core as an unknown merging window function: the core then offers every active
/// window of a key to each merge, as Beam does, instead of the ones a range query finds.
#[derive(Debug)]
struct AnyMerging(Sessions);

impl crate::window::WindowFn for AnyMerging {
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>) {
        self.0.assign_windows(t, out)
    }
    fn is_merging(&self) -> bool {
        true
    }
    fn merge_windows(&self, windows: &[Window]) -> Vec<(Vec<Window>, Window)> {
        self.0.merge_windows(windows)
    }
}

/// One step of a random session script: a bundle of (key, time) elements, or a watermark move.
#[derive(Debug, Clone)]
enum ScriptStep {
    Bundle(Vec<(&'static str, i64)>),
    Watermark(i64),
}

fn script_step() -> impl proptest::strategy::Strategy<Value = ScriptStep> {
    use proptest::prelude::*;
    let key = prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        3 => prop::collection::vec((key, 0i64..300), 1..5).prop_map(ScriptStep::Bundle),
        1 => (0i64..400).prop_map(ScriptStep::Watermark),
    ]
}

proptest::proptest! {
    /// The range query that finds the windows a new session may merge with gives the same panes, counts and
    /// timers as offering every active window of the key.
    #[test]
    fn finding_merge_candidates_by_range_matches_offering_every_active_window(
        steps in proptest::collection::vec(script_step(), 1..40),
        gap in 1i64..40,
        lateness in 0i64..60,
        counting in proptest::bool::ANY,
    ) {
        let trigger = if counting {
            Repeatedly::forever(AfterPane::element_count_at_least(2))
        } else {
            Trigger::Default
        };
        let strategy = |window_fn: WindowingStrategy| {
            window_fn.with_trigger(trigger.clone()).with_allowed_lateness(Duration::millis(lateness))
        };
        let mut fast = Harness::new(strategy(WindowingStrategy::new(Sessions::with_gap_duration(Duration::millis(gap)))));
        let mut slow = Harness::new(strategy(WindowingStrategy::new(AnyMerging(Sessions::with_gap_duration(Duration::millis(gap))))));
        let mut watermark = 0;
        for step in steps.iter().chain([&ScriptStep::Watermark(i64::MAX / 2)]) {
            match step {
                ScriptStep::Bundle(elements) => {
                    proptest::prop_assert_eq!(fast.keyed_bundle(elements), slow.keyed_bundle(elements));
                }
                ScriptStep::Watermark(t) => {
                    watermark = (*t).max(watermark);
                    fast.watermark(watermark);
                    slow.watermark(watermark);
                }
            }
            proptest::prop_assert_eq!(fast.take_info(), slow.take_info());
            proptest::prop_assert_eq!(fast.core.stats(), slow.core.stats());
            proptest::prop_assert_eq!(fast.core.open_windows(), slow.core.open_windows());
            proptest::prop_assert_eq!(fast.core.next_timer(), slow.core.next_timer());
            proptest::prop_assert_eq!(fast.core.earliest_open_window_start(), slow.core.earliest_open_window_start());
        }
        proptest::prop_assert_eq!(fast.core.open_windows(), 0);
    }
}
