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
