//! A pipeline test to copy from: the seed tutorial's traffic test (page views per user in 20 s windows)
//! with a late visit, checked with pane-aware assertions, then printed as the transcript a snapshot
//! test would store.
//!
//! Run it with `cargo run -p testkit --example traffic_test`. In a test, the same lines go in a
//! `#[test] fn`, and `insta::assert_yaml_snapshot!(output.output().transcript())` replaces the print.

use pipeline::time::Duration;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use testkit::{assert_that, page_views, visit, window, TestPipeline, TestStream};

fn main() {
    // The pipeline under test: the seed's aggregation, with 30 s of allowed lateness.
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig {
        allowed_lateness: Duration::seconds(30),
        ..TrafficConfig::default()
    }));

    // The input, step by step in virtual time. Each add_elements call is one bundle.
    let output = p.apply(
        TestStream::new()
            .add_elements([
                visit("alice", "2024-04-28T23:12:41"),
                visit("bob", "2024-04-28T23:12:45"),
            ])
            .add_elements([visit("alice", "2024-04-28T23:12:59.999")]) // end − 1 ms: still in the window
            .advance_watermark_to("2024-04-28T23:13:00") // the on-time panes fire
            .add_elements([visit("alice", "2024-04-28T23:12:50")]) // late but allowed: a late pane
            .advance_watermark_to("2024-04-28T23:13:30") // past end − 1 ms + 30 s: state dropped
            .add_elements([visit("bob", "2024-04-28T23:12:55")]) // too late: dropped
            .advance_watermark_to_infinity(),
    );

    // What the panes must hold, declared before the run as with Beam's PAssert.
    let w = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
    assert_that(&output)
        .in_on_time_pane(w)
        .contains_in_any_order([page_views("alice", w, 2), page_views("bob", w, 1)]);
    assert_that(&output)
        .in_late_pane(w)
        .contains_in_any_order([page_views("alice", w, 1)]);
    assert_that(&output).in_final_pane(w).is_empty();

    // Runs the stream and checks every assertion; a failure panics with a per-pane report.
    p.run();

    let output = output.output();
    println!("all assertions hold; {} records dropped as late", output.late.len());
    let transcript = serde_json::to_string_pretty(&output.transcript()).expect("a transcript serializes");
    println!("{transcript}");
}
