//! Boundary tests of the windowing core: each Beam rule at the millisecond where it flips.

use super::*;
use crate::combine::{combine_fn, Count};
use crate::strategy::{AccumulationMode, WindowingStrategy};
use crate::time::Duration;
use crate::window::SlidingWindows;

const S: i64 = 1000;

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn wm(ms: i64) -> Watermark {
    Watermark::at(ts(ms))
}

fn win(start: i64, end: i64) -> Window {
    Window::new(ts(start), ts(end))
}

/// (key, window, timing, index, is_last, values) of one pane.
type FiredPane = (&'static str, Window, PaneTiming, u64, bool, Vec<i64>);

/// A core over fixed 20 s windows that collects its inputs, so panes show exactly which elements they hold.
struct Harness {
    core: WindowedAggregator<&'static str, Box<dyn CombineFnDyn>>,
    panes: Vec<Pane<&'static str, Vec<i64>>>,
}

/// Object-safe alias so the harness can hold any list-collecting combine.
trait CombineFnDyn: CombineFn<Input = i64, Accumulator = Vec<i64>, Output = Vec<i64>> {}
impl<T: CombineFn<Input = i64, Accumulator = Vec<i64>, Output = Vec<i64>>> CombineFnDyn for T {}

impl CombineFn for Box<dyn CombineFnDyn> {
    type Input = i64;
    type Accumulator = Vec<i64>;
    type Output = Vec<i64>;
    fn create_accumulator(&self) -> Vec<i64> {
        (**self).create_accumulator()
    }
    fn add_input(&self, acc: &mut Vec<i64>, input: i64) {
        (**self).add_input(acc, input)
    }
    fn merge_accumulators(&self, acc: &mut Vec<i64>, other: Vec<i64>) {
        (**self).merge_accumulators(acc, other)
    }
    fn extract_output(&self, acc: &Vec<i64>) -> Vec<i64> {
        (**self).extract_output(acc)
    }
}

impl Harness {
    fn new(strategy: WindowingStrategy) -> Harness {
        let collect = combine_fn(
            Vec::new,
            |acc: &mut Vec<i64>, x: i64| acc.push(x),
            |acc: &mut Vec<i64>, other: Vec<i64>| acc.extend(other),
            |acc: &Vec<i64>| {
                let mut sorted = acc.clone();
                sorted.sort_unstable();
                sorted
            },
        );
        Harness {
            core: WindowedAggregator::new(strategy, Box::new(collect)),
            panes: Vec::new(),
        }
    }

    fn fixed(lateness_ms: i64, mode: AccumulationMode) -> Harness {
        Harness::new(
            WindowingStrategy::fixed(Duration::seconds(20))
                .with_allowed_lateness(Duration::millis(lateness_ms))
                .with_accumulation(mode),
        )
    }

    /// One bundle of elements for one key; returns their fates.
    fn bundle(&mut self, key: &'static str, times: &[i64]) -> Vec<Fate> {
        let elements: Vec<(&'static str, i64)> = times.iter().map(|&t| (key, t)).collect();
        self.keyed_bundle(&elements)
    }

    /// One bundle of (key, timestamp) elements, each element's value its timestamp; returns their fates.
    fn keyed_bundle(&mut self, elements: &[(&'static str, i64)]) -> Vec<Fate> {
        let mut fates = Vec::new();
        self.core.process_bundle(
            elements.iter().map(|&(k, t)| (k, ts(t), t)),
            &mut fates,
            &mut self.panes,
        );
        fates
    }

    fn watermark(&mut self, ms: i64) {
        self.core.advance_watermark(wm(ms), &mut self.panes);
    }

    fn processing(&mut self, ms: i64) {
        self.core.advance_processing_time(ts(ms), &mut self.panes);
    }

    /// Panes fired since the last call, as (key, window, pane info, values).
    fn take_info(&mut self) -> Vec<(&'static str, Window, PaneInfo, Vec<i64>)> {
        self.panes
            .drain(..)
            .map(|p| (p.key, p.window, p.info, p.value))
            .collect()
    }

    /// Panes fired since the last call, as (key, window, timing, index, is_last, values).
    fn take(&mut self) -> Vec<FiredPane> {
        self.panes
            .drain(..)
            .map(|p| (p.key, p.window, p.info.timing, p.info.index, p.info.is_last, p.value))
            .collect()
    }
}

use PaneTiming::{Late, OnTime};

mod sessions;
mod triggers;

/// Beam's `PaneInfo.createPane(isFirst, isLast, timing, index, onTimeIndex)`, first when the index is 0;
/// `None` stands for Beam's −1 (an early pane).
fn pane(timing: PaneTiming, index: u64, non_speculative_index: Option<u64>, is_last: bool) -> PaneInfo {
    PaneInfo {
        timing,
        index,
        non_speculative_index,
        is_first: index == 0,
        is_last,
    }
}

#[test]
fn watermark_at_end_minus_one_does_not_fire_and_at_end_does() {
    let mut h = Harness::fixed(0, AccumulationMode::Discarding);
    h.bundle("a", &[0, 19_999]);
    h.watermark(19_999);
    assert_eq!(h.take(), vec![]);
    h.watermark(20_000);
    assert_eq!(h.take(), vec![("a", win(0, 20 * S), OnTime, 0, true, vec![0, 19_999])]);
    assert_eq!(
        h.core.open_windows(),
        0,
        "zero lateness drops state with the on-time pane"
    );
}

#[test]
fn element_at_window_end_is_counted_in_the_next_window() {
    let mut h = Harness::fixed(0, AccumulationMode::Discarding);
    h.bundle("a", &[19_999, 20_000]);
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(
        h.take(),
        vec![
            ("a", win(0, 20 * S), OnTime, 0, true, vec![19_999]),
            ("a", win(20 * S, 40 * S), OnTime, 0, true, vec![20_000]),
        ]
    );
}

#[test]
fn zero_lateness_drops_an_element_once_the_watermark_reaches_the_end() {
    let mut h = Harness::fixed(0, AccumulationMode::Discarding);
    h.watermark(19_999);
    assert_eq!(
        h.bundle("a", &[5_000]),
        vec![Fate::Accepted],
        "19.999 + 0 < 19.999 is false: kept"
    );
    h.watermark(20_000);
    assert_eq!(h.take().len(), 1);
    assert_eq!(
        h.bundle("a", &[5_000]),
        vec![Fate::DroppedLate],
        "19.999 + 0 < 20.000: dropped"
    );
    assert_eq!(h.take(), vec![]);
    assert_eq!(h.core.stats().dropped_late, 1);
}

#[test]
fn lateness_edge_keeps_at_gc_time_and_drops_one_past_it() {
    // window [0, 20 s), lateness 10 s: gc time = 19.999 + 10 = 29.999
    let mut h = Harness::fixed(10 * S, AccumulationMode::Discarding);
    h.bundle("a", &[1_000]);
    h.watermark(29_999);
    assert_eq!(h.take(), vec![("a", win(0, 20 * S), OnTime, 0, false, vec![1_000])]);
    assert_eq!(
        h.bundle("a", &[2_000]),
        vec![Fate::Accepted],
        "29.999 < 29.999 is false: still accepted"
    );
    assert_eq!(h.take(), vec![("a", win(0, 20 * S), Late, 1, false, vec![2_000])]);
    h.watermark(30_000);
    assert_eq!(h.take(), vec![], "the garbage-collection firing has nothing new");
    assert_eq!(h.core.open_windows(), 0);
    assert_eq!(
        h.bundle("a", &[3_000]),
        vec![Fate::DroppedLate],
        "29.999 < 30.000: dropped"
    );
    assert_eq!(h.take(), vec![]);
}

#[test]
fn late_panes_in_discarding_mode_hold_only_new_elements() {
    let mut h = Harness::fixed(60 * S, AccumulationMode::Discarding);
    h.bundle("a", &[1_000, 2_000]);
    h.watermark(25_000);
    h.bundle("a", &[3_000]);
    h.bundle("a", &[4_000, 5_000]);
    assert_eq!(
        h.take(),
        vec![
            ("a", win(0, 20 * S), OnTime, 0, false, vec![1_000, 2_000]),
            ("a", win(0, 20 * S), Late, 1, false, vec![3_000]),
            ("a", win(0, 20 * S), Late, 2, false, vec![4_000, 5_000]),
        ]
    );
}

#[test]
fn late_panes_in_accumulating_mode_hold_everything_so_far() {
    let mut h = Harness::fixed(60 * S, AccumulationMode::Accumulating);
    h.bundle("a", &[1_000, 2_000]);
    h.watermark(25_000);
    h.bundle("a", &[3_000]);
    h.bundle("a", &[4_000, 5_000]);
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(
        h.take(),
        vec![
            ("a", win(0, 20 * S), OnTime, 0, false, vec![1_000, 2_000]),
            ("a", win(0, 20 * S), Late, 1, false, vec![1_000, 2_000, 3_000]),
            (
                "a",
                win(0, 20 * S),
                Late,
                2,
                false,
                vec![1_000, 2_000, 3_000, 4_000, 5_000]
            ),
        ]
    );
}

#[test]
fn a_bundle_fires_one_late_pane_per_key_and_window() {
    let mut h = Harness::fixed(60 * S, AccumulationMode::Discarding);
    h.bundle("a", &[1_000]);
    h.watermark(45_000);
    h.take();
    let fates = h.keyed_bundle(&[("b", 7_000), ("a", 3_000), ("a", 21_000), ("a", 2_000)]);
    assert!(fates.iter().all(|f| *f == Fate::Accepted));
    assert_eq!(
        h.take(),
        vec![
            ("a", win(0, 20 * S), Late, 1, false, vec![2_000, 3_000]),
            ("b", win(0, 20 * S), Late, 0, false, vec![7_000]),
            ("a", win(20 * S, 40 * S), Late, 0, false, vec![21_000]),
        ],
        "ordered by window, then key"
    );
}

#[test]
fn a_window_whose_first_element_is_late_fires_a_late_pane_with_index_zero() {
    let mut h = Harness::fixed(30 * S, AccumulationMode::Discarding);
    h.watermark(25_000);
    h.bundle("a", &[10_000]);
    let panes = std::mem::take(&mut h.panes);
    assert_eq!(panes.len(), 1);
    assert_eq!(
        panes[0].info,
        PaneInfo {
            timing: Late,
            index: 0,
            non_speculative_index: Some(0),
            is_first: true,
            is_last: false
        }
    );
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(h.take(), vec![], "no on-time pane follows a late one");
}

#[test]
fn buffered_elements_fire_on_time_when_the_watermark_jumps_past_the_lateness_horizon() {
    let mut h = Harness::fixed(10 * S, AccumulationMode::Discarding);
    h.bundle("a", &[1_000, 15_000]);
    h.watermark(500 * S);
    assert_eq!(
        h.take(),
        vec![("a", win(0, 20 * S), OnTime, 0, true, vec![1_000, 15_000])]
    );
    assert_eq!(h.core.open_windows(), 0);
}

#[test]
fn pane_indices_count_up_and_the_on_time_pane_is_non_speculative_zero() {
    let mut h = Harness::fixed(60 * S, AccumulationMode::Discarding);
    h.bundle("a", &[1_000]);
    h.watermark(20_000);
    h.bundle("a", &[2_000]);
    let infos: Vec<PaneInfo> = h.panes.iter().map(|p| p.info).collect();
    assert_eq!(
        infos,
        vec![
            PaneInfo {
                timing: OnTime,
                index: 0,
                non_speculative_index: Some(0),
                is_first: true,
                is_last: false
            },
            PaneInfo {
                timing: Late,
                index: 1,
                non_speculative_index: Some(1),
                is_first: false,
                is_last: false
            },
        ]
    );
}

#[test]
fn sliding_windows_fire_each_window_of_an_element() {
    let strategy = WindowingStrategy::new(SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)));
    let mut h = Harness::new(strategy);
    h.bundle("a", &[45_000]);
    h.watermark(Timestamp::MAX.millis());
    let windows: Vec<Window> = h.take().into_iter().map(|p| p.1).collect();
    assert_eq!(
        windows,
        vec![win(0, 60 * S), win(20 * S, 80 * S), win(40 * S, 100 * S)],
        "in end order"
    );
}

#[test]
fn sliding_windows_drop_only_the_expired_windows_of_an_element() {
    let strategy = WindowingStrategy::new(SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)));
    let mut h = Harness::new(strategy);
    h.watermark(45_000);
    // 30 s is in [-20, 40) (expired), [0, 60) and [20, 80) (open).
    assert_eq!(h.bundle("a", &[30_000]), vec![Fate::Accepted]);
    assert_eq!(h.core.stats().dropped_window_assignments, 1);
    assert_eq!(h.core.stats().dropped_late, 0);
}

#[test]
fn a_lateness_horizon_drops_the_windows_it_has_passed_though_the_watermark_has_not() {
    let strategy = WindowingStrategy::new(SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)));
    let mut h = Harness::new(strategy);
    // 30 s is in [-20, 40), [0, 60) and [20, 80); a horizon at 40 s has passed only the first (max 39.999 s).
    assert_eq!(
        h.core.process_within("a", ts(30_000), 1, wm(40 * S - 1)),
        Fate::Accepted
    );
    assert_eq!(
        h.core.stats().dropped_window_assignments,
        0,
        "39.999 s has not passed [-20, 40)"
    );
    assert_eq!(h.core.process_within("a", ts(30_000), 2, wm(40 * S)), Fate::Accepted);
    assert_eq!(h.core.stats().dropped_window_assignments, 1);
    assert_eq!(h.core.process_within("a", ts(30_000), 3, wm(80 * S)), Fate::DroppedLate);
    h.core.finish_bundle(&mut h.panes);
    h.watermark(Timestamp::MAX.millis());
    let panes: Vec<(Window, Vec<i64>)> = h.take().into_iter().map(|p| (p.1, p.5)).collect();
    assert_eq!(
        panes,
        vec![
            (win(-20 * S, 40 * S), vec![1]),
            (win(0, 60 * S), vec![1, 2]),
            (win(20 * S, 80 * S), vec![1, 2]),
        ]
    );
}

#[test]
fn on_time_panes_fire_in_window_then_key_order() {
    let mut h = Harness::fixed(0, AccumulationMode::Discarding);
    h.bundle("b", &[21_000]);
    h.bundle("b", &[1_000]);
    h.bundle("a", &[2_000]);
    h.bundle("c", &[22_000]);
    h.watermark(Timestamp::MAX.millis());
    let order: Vec<(&str, i64)> = h.take().into_iter().map(|p| (p.0, p.1.start().millis())).collect();
    assert_eq!(order, vec![("a", 0), ("b", 0), ("b", 20_000), ("c", 20_000)]);
}

#[test]
fn a_watermark_behind_the_current_one_changes_nothing() {
    let mut h = Harness::fixed(0, AccumulationMode::Discarding);
    h.watermark(30_000);
    h.watermark(10_000);
    assert_eq!(h.core.watermark(), wm(30_000));
    assert_eq!(h.bundle("a", &[15_000]), vec![Fate::DroppedLate]);
}

#[test]
fn counts_add_up() {
    let mut core = WindowedAggregator::new(WindowingStrategy::fixed(Duration::seconds(20)), Count);
    let mut panes = Vec::new();
    let mut fates = Vec::new();
    for (i, t) in [1_000, 50_000, 2_000, 70_000, 3_000].into_iter().enumerate() {
        core.process_bundle([(i % 2, ts(t), ())], &mut fates, &mut panes);
        core.advance_watermark(wm(t - 5_000), &mut panes);
    }
    core.advance_watermark(Watermark::MAX, &mut panes);
    let stats = core.stats();
    let counted: u64 = panes.iter().map(|p| p.value).sum();
    assert_eq!(stats.accepted + stats.dropped_late, 5);
    assert_eq!(counted, stats.accepted);
    assert_eq!(
        stats.dropped_late, 2,
        "2 s and 3 s arrive after the watermark passed 20 s"
    );
}

#[test]
fn a_window_with_a_huge_allowed_lateness_still_closes_at_the_end_of_input() {
    let mut h = Harness::fixed(i64::MAX, AccumulationMode::Discarding);
    h.bundle("a", &[1_000]);
    h.watermark(Timestamp::MAX.millis());
    assert_eq!(h.take(), vec![("a", win(0, 20 * S), OnTime, 0, true, vec![1_000])]);
    assert_eq!(
        h.core.open_windows(),
        0,
        "garbage collection is capped at the end of the global window"
    );
}

#[test]
fn elements_at_the_ends_of_time_fire_and_close() {
    use crate::time::{END_OF_GLOBAL_WINDOW, TIMESTAMP_MAX_VALUE, TIMESTAMP_MIN_VALUE};
    let mut h = Harness::fixed(60 * S, AccumulationMode::Discarding);
    let (first, last) = (TIMESTAMP_MIN_VALUE.millis(), TIMESTAMP_MAX_VALUE.millis() - 1);
    assert_eq!(
        h.bundle("a", &[first, END_OF_GLOBAL_WINDOW.millis(), last]),
        vec![Fate::Accepted; 3]
    );
    assert_eq!(h.bundle("a", &[i64::MAX, i64::MIN]), vec![Fate::NoWindow; 2]);
    assert_eq!(h.core.stats().no_window, 2);
    h.watermark(Timestamp::MAX.millis());
    let values: Vec<Vec<i64>> = h.take().into_iter().map(|p| p.5).collect();
    assert_eq!(
        values,
        vec![vec![first], vec![END_OF_GLOBAL_WINDOW.millis()], vec![last]]
    );
    assert_eq!(h.core.open_windows(), 0);
}
