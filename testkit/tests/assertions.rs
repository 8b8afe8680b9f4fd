//! Each assertion kind passes on the right expectation and fails, with a report naming the pane, the
//! step that fired it and the watermark, on a wrong one. The harness guard fails a test whose
//! assertions never ran.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pipeline::pane::PaneTiming;
use pipeline::time::Duration;
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};
use pipeline::window::Window;
use testkit::{assert_that, page_views, visit, window, TestPipeline, TestStream};

/// 30 s of allowed lateness, so the first window has an on-time pane, a late pane and a dropped
/// element; a later window's only pane is on time and final (the end of input passes its expiry).
fn pipeline() -> TestPipeline<String, TrafficAgg> {
    TestPipeline::new(traffic_pipeline(TrafficConfig {
        allowed_lateness: Duration::seconds(30),
        ..TrafficConfig::default()
    }))
}

fn stream() -> TestStream {
    TestStream::new()
        .add_elements([
            visit("alice", "2024-04-28T23:12:41"),
            visit("alice", "2024-04-28T23:12:59.999"),
            visit("bob", "2024-04-28T23:12:45"),
            visit("alice", "2024-04-28T23:13:45"),
        ])
        .advance_watermark_to("2024-04-28T23:13:00")
        .add_elements([visit("alice", "2024-04-28T23:12:50")])
        .advance_watermark_to("2024-04-28T23:13:30")
        .add_elements([visit("alice", "2024-04-28T23:12:55")])
        .advance_watermark_to_infinity()
}

fn first() -> Window {
    window("2024-04-28T23:12:40", "2024-04-28T23:13:00")
}

fn next() -> Window {
    window("2024-04-28T23:13:40", "2024-04-28T23:14:00")
}

/// The panic message of `f`, which must panic.
fn failure(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should fail");
    match err.downcast::<String>() {
        Ok(s) => *s,
        Err(err) => err.downcast_ref::<&str>().expect("a text panic").to_string(),
    }
}

#[test]
fn every_assertion_kind_passes_on_the_right_expectation() {
    let p = pipeline();
    let output = p.apply(stream());
    let (w, n) = (first(), next());
    assert_that(&output).contains_in_any_order([
        page_views("alice", w, 2),
        page_views("bob", w, 1),
        page_views("alice", w, 1),
        page_views("alice", n, 1),
    ]);
    assert_that(&output).in_window(w).contains_in_any_order([
        page_views("bob", w, 1),
        page_views("alice", w, 1),
        page_views("alice", w, 2),
    ]);
    assert_that(&output)
        .in_on_time_pane(w)
        .contains_in_any_order([page_views("alice", w, 2), page_views("bob", w, 1)]);
    assert_that(&output)
        .in_late_pane(w)
        .contains_in_any_order([page_views("alice", w, 1)]);
    assert_that(&output).in_final_pane(w).is_empty();
    assert_that(&output)
        .in_final_pane(n)
        .contains_in_any_order([page_views("alice", n, 1)]);
    assert_that(&output).in_early_pane(w).is_empty();
    assert_that(&output).in_late_pane(n).is_empty();
    assert_that(&output).in_late_pane(w).satisfies(|panes| {
        panes.len() == 1 && panes[0].pane.index == 1 && panes[0].pane.timing == PaneTiming::Late && panes[0].step == 3
    });
    assert_that(&output).satisfies(|panes| match panes.iter().find(|p| p.pane.is_last) {
        Some(p) if p.window == next() => Ok(()),
        other => Err(format!("expected the final pane in the next window, found {other:?}")),
    });
    p.run();
    assert_eq!(output.output().late.len(), 1);
}

#[test]
#[should_panic(expected = "assert_that(output).contains_in_any_order(..) failed")]
fn contains_in_any_order_fails_on_a_missing_value() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output).contains_in_any_order([page_views("alice", first(), 2)]);
    p.run();
}

#[test]
#[should_panic(expected = "unexpected:\n    TrafficAgg { id: \"alice\", window_start: \"2024-04-28T23:12:40\"")]
fn in_window_fails_on_a_value_in_another_pane() {
    let p = pipeline();
    let output = p.apply(stream());
    let w = first();
    assert_that(&output)
        .in_window(w)
        .contains_in_any_order([page_views("alice", w, 2), page_views("bob", w, 1)]);
    p.run();
}

#[test]
#[should_panic(
    expected = "in_on_time_pane([2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000)).contains_in_any_order(..) failed"
)]
fn in_on_time_pane_fails_when_a_late_value_is_expected_on_time() {
    let p = pipeline();
    let output = p.apply(stream());
    let w = first();
    assert_that(&output)
        .in_on_time_pane(w)
        .contains_in_any_order([page_views("alice", w, 3), page_views("bob", w, 1)]);
    p.run();
}

#[test]
#[should_panic(expected = "in_late_pane([2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000)).is_empty() failed")]
fn in_late_pane_fails_when_a_late_pane_fired() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output).in_late_pane(first()).is_empty();
    p.run();
}

#[test]
#[should_panic(expected = "missing:\n    TrafficAgg { id: \"alice\", window_start: \"2024-04-28T23:12:40\"")]
fn in_final_pane_fails_when_the_window_expired_without_a_final_pane() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output)
        .in_final_pane(first())
        .contains_in_any_order([page_views("alice", first(), 1)]);
    p.run();
}

#[test]
#[should_panic(
    expected = "in_early_pane([2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000)).contains_in_any_order(..) failed"
)]
fn in_early_pane_fails_because_the_default_trigger_fires_no_early_pane() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output)
        .in_early_pane(first())
        .contains_in_any_order([page_views("alice", first(), 2)]);
    p.run();
}

#[test]
#[should_panic(expected = "assert_that(output).is_empty() failed")]
fn is_empty_fails_when_anything_fired() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output).is_empty();
    p.run();
}

#[test]
#[should_panic(expected = "too many panes: 4")]
fn satisfies_fails_with_the_checks_reason() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output).satisfies(|panes| {
        if panes.len() <= 3 {
            Ok(())
        } else {
            Err(format!("too many panes: {}", panes.len()))
        }
    });
    p.run();
}

#[test]
#[should_panic(expected = "the check returned false")]
fn satisfies_with_a_bool_fails_when_false() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output)
        .in_window(first())
        .satisfies(|panes| panes.iter().all(|p| p.pane.timing == PaneTiming::OnTime));
    p.run();
}

#[test]
fn a_failure_report_shows_each_pane_with_its_step_and_watermark() {
    let message = failure(|| {
        let p = pipeline();
        let output = p.apply(stream());
        let w = first();
        assert_that(&output)
            .in_on_time_pane(w)
            .contains_in_any_order([page_views("alice", w, 3), page_views("bob", w, 1)]);
        assert_that(&output).in_late_pane(next()).is_empty(); // passes: only one failure is reported
        p.run();
    });
    let expected = [
        "TestPipeline: 1 of 2 assertion(s) failed or could not run",
        "assert_that(output).in_on_time_pane([2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000)).contains_in_any_order(..) failed",
        "  expected, in any order:\n    TrafficAgg { id: \"alice\", window_start: \"2024-04-28T23:12:40\", window_end: \"2024-04-28T23:13:00\", page_views: 3 }",
        "  missing:\n    TrafficAgg { id: \"alice\", window_start: \"2024-04-28T23:12:40\", window_end: \"2024-04-28T23:13:00\", page_views: 3 }",
        "  panes of window [2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000) (* = selected by the assertion):",
        "  * ON_TIME pane 0, key \"alice\": TrafficAgg { id: \"alice\", window_start: \"2024-04-28T23:12:40\", window_end: \"2024-04-28T23:13:00\", page_views: 2 }\n        fired by step 2: advance_watermark_to(2024-04-28T23:13:00.000), watermark 2024-04-28T23:13:00.000",
        "    LATE pane 1, key \"alice\": TrafficAgg { id: \"alice\", window_start: \"2024-04-28T23:12:40\", window_end: \"2024-04-28T23:13:00\", page_views: 1 }\n        fired by step 3: add_elements(1 element), watermark 2024-04-28T23:13:00.000",
        "    element 5 (key \"alice\", event time 2024-04-28T23:12:55.000) of this window was dropped as late at step 5: add_elements(1 element), watermark 2024-04-28T23:13:30.000",
        "  other windows with panes: [2024-04-28T23:13:40.000, 2024-04-28T23:14:00.000)",
    ];
    for part in expected {
        assert!(message.contains(part), "missing {part:?} in:\n{message}");
    }
}

#[test]
fn a_window_without_panes_is_named_and_the_others_listed() {
    let message = failure(|| {
        let p = pipeline();
        let output = p.apply(stream());
        let typo = window("2024-04-28T23:12:20", "2024-04-28T23:12:40");
        assert_that(&output)
            .in_window(typo)
            .contains_in_any_order([page_views("alice", typo, 1)]);
        p.run();
    });
    assert!(
        message.contains("no pane fired for window [2024-04-28T23:12:20.000, 2024-04-28T23:12:40.000)"),
        "{message}"
    );
    assert!(message.contains("other windows with panes: [2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000), [2024-04-28T23:13:40.000, 2024-04-28T23:14:00.000)"), "{message}");
}

#[test]
#[should_panic(
    expected = "TestPipeline dropped with 1 assertion(s) that never ran; call .run() after declaring them:\n  \
                           assert_that(output).in_late_pane([2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000)).is_empty()"
)]
fn assertions_that_never_ran_fail_the_test() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output).in_late_pane(first()).is_empty();
    // No p.run(): the guard fails the test when `p` is dropped.
}

#[test]
fn a_pipeline_without_assertions_may_go_unrun() {
    let p = pipeline();
    let _output = p.apply(stream());
}

#[test]
fn an_assertion_declared_after_run_is_checked_at_once() {
    let p = pipeline();
    let output = p.apply(stream());
    p.run();
    assert_that(&output).in_late_pane(next()).is_empty();
    let message = failure(|| assert_that(&output).in_late_pane(first()).is_empty());
    assert!(message.starts_with("assert_that(output).in_late_pane("), "{message}");
}

#[test]
fn every_applied_stream_runs_and_is_named_in_reports() {
    let message = failure(|| {
        let p = pipeline();
        let one = p.apply(stream());
        let two = p.apply(TestStream::new().add_elements([visit("carol", "2024-04-28T23:12:41")]));
        assert_that(&one)
            .in_on_time_pane(first())
            .satisfies(|panes| panes.len() == 2);
        assert_that(&two).in_on_time_pane(first()).is_empty();
        p.run();
    });
    assert!(message.contains("1 of 2 assertion(s) failed"), "{message}");
    assert!(message.contains("assert_that(output #2).in_on_time_pane("), "{message}");
}

#[test]
#[should_panic(expected = "output: the TestStream is invalid: step 2: the watermark moves backwards")]
fn an_invalid_script_fails_the_run() {
    let p = pipeline();
    let _output = p.apply(
        TestStream::new()
            .advance_watermark_to("2024-04-28T23:13:00")
            .advance_watermark_to("2024-04-28T23:12:00"),
    );
    p.run();
}

// ---------------------------------------------------------------------------------------------------
// Beam's other selectors, projections and singleton checks, on Beam-style pipelines over timestamped
// integers grouped with ToList (GroupByKey values per pane).

mod beam_style {
    use super::failure;
    use pipeline::strategy::AccumulationMode;
    use pipeline::time::{Duration, Timestamp};
    use pipeline::trigger::{AfterPane, AfterWatermark, Repeatedly};
    use pipeline::window::{FixedWindows, GlobalWindows, Window};
    use testkit::{assert_that, timestamped_values, PaneOutput, TestPipeline, TestStream, TimestampedValue};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn tv(value: i64, ms: i64) -> TimestampedValue<i64> {
        TimestampedValue::of(value, at(ms))
    }

    /// `[0, 1000)`.
    fn first() -> Window {
        Window::new(at(0), at(1000))
    }

    /// One-second windows, 5 s of allowed lateness, the default trigger, all values under one key.
    fn grouped() -> TestPipeline<i32, Vec<i64>> {
        TestPipeline::new(
            timestamped_values::<i64>()
                .windows(FixedWindows::of(Duration::millis(1000)))
                .allowed_lateness(Duration::seconds(5))
                .key_by(|_| 1)
                .to_list(|e| e.value)
                .values(),
        )
    }

    /// 1, 2 on time in the first window, then 3 late; 10 alone in the window `[2000, 3000)`.
    fn on_time_then_late() -> TestStream {
        TestStream::new()
            .add_elements([tv(1, 100), tv(2, 900), tv(10, 2500)])
            .advance_watermark_to(at(1000))
            .add_elements([tv(3, 500)])
            .advance_watermark_to_infinity()
    }

    #[test]
    fn flatten_lists_the_grouped_elements_of_the_selected_panes() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output).flatten().contains_in_any_order([1, 2, 3, 10]);
        assert_that(&output)
            .in_window(first())
            .flatten()
            .contains_in_any_order([3, 2, 1]);
        assert_that(&output)
            .in_on_time_pane(first())
            .contains_in_any_order([vec![1, 2]]);
        assert_that(&output)
            .flat_map(|list| list.iter().map(|n| n * 10).collect::<Vec<_>>())
            .contains_in_any_order([10, 20, 30, 100]);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "assert_that(output).in_window([1970-01-01T00:00:00.000, 1970-01-01T00:00:01.000)).flatten().contains_in_any_order(..) failed\n  expected, in any order:\n    1\n    2\n  actual:\n    1\n    2\n    3\n  missing: (nothing)\n  unexpected:\n    3"
    )]
    fn flatten_fails_with_the_elements_missing_and_unexpected() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_window(first())
            .flatten()
            .contains_in_any_order([1, 2]);
        p.run();
    }

    #[test]
    fn map_projects_each_pane_before_the_check() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_window(first())
            .map(Vec::len)
            .contains_in_any_order([2, 1]);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "assert_that(output).map(..).contains_in_any_order(..) failed\n  expected, in any order:\n    3\n  actual:\n    2\n    1\n    1\n"
    )]
    fn map_fails_showing_the_projected_values() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output).map(Vec::len).contains_in_any_order([3]);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "assert_that(output).in_late_pane([1970-01-01T00:00:00.000, 1970-01-01T00:00:01.000)).flat_map(..).contains_in_any_order(..) failed\n  expected, in any order:\n    4\n  actual:\n    3\n    -3\n"
    )]
    fn flat_map_fails_showing_every_value_it_made() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_late_pane(first())
            .flat_map(|list| list.iter().flat_map(|n| [*n, -n]).collect::<Vec<_>>())
            .contains_in_any_order([4]);
        p.run();
    }

    #[test]
    fn in_combined_non_late_panes_takes_every_pane_but_the_late_ones() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_combined_non_late_panes(first())
            .flatten()
            .contains_in_any_order([1, 2]);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "in_combined_non_late_panes([1970-01-01T00:00:00.000, 1970-01-01T00:00:01.000)).flatten().contains_in_any_order(..) failed"
    )]
    fn in_combined_non_late_panes_fails_on_a_late_element() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_combined_non_late_panes(first())
            .flatten()
            .contains_in_any_order([1, 2, 3]);
        p.run();
    }

    #[test]
    fn in_only_pane_and_is_equal_to_check_a_window_that_fired_once() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        let later = Window::new(at(2000), at(3000));
        assert_that(&output).in_only_pane(later).is_equal_to(vec![10]);
        assert_that(&output).in_only_pane(later).not_equal_to(vec![11]);
        assert_that(&output)
            .in_on_time_pane(first())
            .map(Vec::len)
            .is_equal_to(2);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "expected the window's values from a trigger that fires at most once, but [1, 2] (key 1) is in a pane that is not the last pane (ON_TIME pane 0)"
    )]
    fn in_only_pane_fails_when_the_window_fired_twice() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_only_pane(first())
            .flatten()
            .contains_in_any_order([1, 2, 3]);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "is_equal_to(..) failed\n  expected exactly one value, equal to:\n    [1, 2]\n  actual:\n    [1, 2]\n    [3]"
    )]
    fn is_equal_to_fails_on_more_than_one_value() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output).in_window(first()).is_equal_to(vec![1, 2]);
        p.run();
    }

    #[test]
    #[should_panic(expected = "not_equal_to(..) failed\n  expected exactly one value, different from:\n    [10]")]
    fn not_equal_to_fails_on_the_value() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_window(Window::new(at(2000), at(3000)))
            .not_equal_to(vec![10]);
        p.run();
    }

    #[test]
    fn values_satisfy_sees_the_projected_values() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .in_window(first())
            .flatten()
            .values_satisfy(|values| values.iter().all(|v| (1..=3).contains(*v)));
        p.run();
    }

    #[test]
    #[should_panic(expected = "values_satisfy(..) failed\n  too big: 10\n  actual:\n    1\n    2\n    3\n    10\n")]
    fn values_satisfy_fails_with_the_checks_reason_and_the_values() {
        let p = grouped();
        let output = p.apply(on_time_then_late());
        assert_that(&output)
            .flatten()
            .values_satisfy(|values| match values.iter().find(|v| ***v > 3) {
                Some(v) => Err(format!("too big: {v}")),
                None => Ok(()),
            });
        p.run();
    }

    /// Global windows with a count trigger: a pane for every two elements, accumulating, then the
    /// final pane at the end of input.
    fn global_every_two() -> TestPipeline<i32, Vec<i64>> {
        TestPipeline::new(
            timestamped_values::<i64>()
                .windows(GlobalWindows)
                .triggering(Repeatedly::forever(AfterPane::element_count_at_least(2)))
                .accumulation(AccumulationMode::Accumulating)
                .key_by(|_| 1)
                .to_list(|e| e.value)
                .values(),
        )
    }

    #[test]
    fn in_global_window_and_in_early_global_window_panes_select_the_global_windows_panes() {
        let p = global_every_two();
        let output = p.apply(
            TestStream::new()
                .add_values([1, 2])
                .add_values([3])
                .add_values([4])
                .add_values([5])
                .advance_watermark_to_infinity(),
        );
        assert_that(&output)
            .in_early_global_window_panes()
            .contains_in_any_order([vec![1, 2], vec![1, 2, 3, 4]]);
        assert_that(&output).in_global_window().contains_in_any_order([
            vec![1, 2],
            vec![1, 2, 3, 4],
            vec![1, 2, 3, 4, 5],
        ]);
        assert_that(&output)
            .in_final_pane(Window::global())
            .is_equal_to(vec![1, 2, 3, 4, 5]);
        p.run();
    }

    #[test]
    fn a_failing_global_window_assertion_names_the_global_window() {
        let message = failure(|| {
            let p = global_every_two();
            let output = p.apply(TestStream::new().add_values([1, 2, 3]).advance_watermark_to_infinity());
            assert_that(&output).in_early_global_window_panes().is_empty();
            assert_that(&output).in_global_window().is_empty();
            p.run();
        });
        for part in [
            "2 of 2 assertion(s) failed",
            "assert_that(output).in_early_global_window_panes().is_empty() failed",
            "assert_that(output).in_global_window().is_empty() failed",
            "panes of window GlobalWindow (* = selected by the assertion):",
            "  * EARLY pane 0, key 1: [1, 2, 3]",
        ] {
            assert!(message.contains(part), "missing {part:?} in:\n{message}");
        }
    }

    #[test]
    fn a_failure_report_names_an_element_dropped_for_a_closed_window() {
        let message = failure(|| {
            let p = TestPipeline::new(
                timestamped_values::<i64>()
                    .windows(FixedWindows::of(Duration::millis(1000)))
                    .triggering(AfterPane::element_count_at_least(1))
                    .key_by(|_| 1)
                    .to_list(|e| e.value)
                    .values(),
            );
            let output = p.apply(TestStream::new().add_elements([tv(1, 100)]).add_elements([tv(2, 200)]));
            assert_that(&output)
                .in_window(first())
                .flatten()
                .contains_in_any_order([1, 2]);
            p.run();
        });
        for part in [
            "  * EARLY pane 0, final, key 1: [1]",
            "    element 1 (key 1, event time 1970-01-01T00:00:00.200) of this window was dropped: its window's \
             trigger had finished at step 2: add_elements(1 element), watermark -inf",
        ] {
            assert!(message.contains(part), "missing {part:?} in:\n{message}");
        }
    }

    /// Early panes every element, on time at the end of the window, discarding.
    fn early_every_element() -> TestPipeline<i32, Vec<i64>> {
        TestPipeline::new(
            timestamped_values::<i64>()
                .windows(FixedWindows::of(Duration::millis(1000)))
                .triggering(
                    AfterWatermark::past_end_of_window().with_early_firings(AfterPane::element_count_at_least(1)),
                )
                .key_by(|_| 1)
                .to_list(|e| e.value)
                .values(),
        )
    }

    #[test]
    fn in_early_pane_holds_the_speculative_panes_contents() {
        let p = early_every_element();
        let output = p.apply(
            TestStream::new()
                .add_elements([tv(1, 100)])
                .add_elements([tv(2, 200), tv(3, 300)])
                .advance_watermark_to_infinity(),
        );
        assert_that(&output)
            .in_early_pane(first())
            .contains_in_any_order([vec![1], vec![2, 3]]);
        assert_that(&output).in_on_time_pane(first()).is_equal_to(vec![]);
        assert_that(&output)
            .in_combined_non_late_panes(first())
            .flatten()
            .contains_in_any_order([1, 2, 3]);
        p.run();
    }

    #[test]
    #[should_panic(
        expected = "in_early_pane([1970-01-01T00:00:00.000, 1970-01-01T00:00:01.000)).contains_in_any_order(..) failed\n  expected, in any order:\n    [1, 2, 3]\n  actual:\n    [1]\n    [2, 3]"
    )]
    fn in_early_pane_fails_listing_each_early_pane() {
        let p = early_every_element();
        let output = p.apply(
            TestStream::new()
                .add_elements([tv(1, 100)])
                .add_elements([tv(2, 200), tv(3, 300)])
                .advance_watermark_to_infinity(),
        );
        assert_that(&output)
            .in_early_pane(first())
            .contains_in_any_order([vec![1, 2, 3]]);
        p.run();
    }
}

#[test]
fn projections_work_on_the_traffic_pipeline_too() {
    let p = pipeline();
    let output = p.apply(stream());
    assert_that(&output)
        .in_window(first())
        .map(|agg| (agg.id.clone(), agg.page_views))
        .contains_in_any_order([("alice".to_owned(), 2), ("bob".to_owned(), 1), ("alice".to_owned(), 1)]);
    assert_that(&output)
        .in_only_pane(next())
        .map(|agg| agg.page_views)
        .is_equal_to(1);
    p.run();
}
