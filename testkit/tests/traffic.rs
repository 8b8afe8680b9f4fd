//! The seed tutorial's pipeline test (`section4/traffic_agg_test.py`: page views per user in 20 s
//! windows), ported to the testkit, with in-order, out-of-order and late variants. Copy from here.

use pipeline::event::VisitEvent;
use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Timestamp};
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};
use testkit::{assert_that, page_views, visit, window, TestPipeline, TestStream};

/// The user of the seed test's three events.
const USER: &str = "462520009613048791";

/// One of the seed test's events, at `event_datetime`: the record exactly as the tutorial writes it
/// (same `event_ts` for all three, as there; the pipeline reads `event_datetime`).
fn seed_event(event_datetime: &str) -> VisitEvent {
    let record = format!(
        r#"{{"ip": "138.201.212.70", "id": "{USER}", "lat": 50.4779, "lng": 12.3713, "user_agent": "Mozilla/5.0 (iPod; U; CPU iPhone OS 3_1 like Mac OS X; ks-IN) AppleWebKit/532.30.7 (KHTML, like Gecko) Version/3.0.5 Mobile/8B115 Safari/6532.30.7", "age_bracket": "18-25", "opted_into_marketing": false, "http_request": "GET eucharya.html HTTP/1.0", "http_response": 200, "file_size_bytes": 207, "event_datetime": "{event_datetime}", "event_ts": 1709232682083}}"#
    );
    VisitEvent::from_json(record.as_bytes()).expect("the seed's record parses")
}

#[test]
fn the_seed_test_counts_page_views_per_user_and_window() {
    // test_stream = TestStream().advance_watermark_to(0).add_elements([...]).advance_watermark_to_infinity()
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
    let output = p.apply(
        TestStream::new()
            .advance_watermark_to(Timestamp::EPOCH)
            .add_elements([
                seed_event("2024-03-01T05:51:22.083"),
                seed_event("2024-03-01T05:51:32.083"),
                seed_event("2024-03-01T05:51:52.083"),
            ])
            .advance_watermark_to_infinity(),
    );
    // EXPECTED_OUTPUT = [("462520009613048791", 2), ("462520009613048791", 1)]
    let (first, second) = (
        window("2024-03-01T05:51:20", "2024-03-01T05:51:40"),
        window("2024-03-01T05:51:40", "2024-03-01T05:52:00"),
    );
    assert_that(&output).contains_in_any_order([page_views(USER, first, 2), page_views(USER, second, 1)]);
    assert_that(&output)
        .in_on_time_pane(first)
        .contains_in_any_order([page_views(USER, first, 2)]);
    p.run();
}

fn in_order() -> TestStream {
    TestStream::new()
        .add_elements([
            visit("alice", "2024-04-28T23:12:41"),
            visit("bob", "2024-04-28T23:12:45"),
        ])
        .add_elements([visit("alice", "2024-04-28T23:12:52")])
        .advance_watermark_to("2024-04-28T23:13:00")
        .add_elements([
            visit("alice", "2024-04-28T23:13:03"),
            visit("bob", "2024-04-28T23:13:15"),
        ])
        .advance_watermark_to("2024-04-28T23:13:20")
        .advance_watermark_to_infinity()
}

/// The same visits arriving out of event-time order, the watermark trailing the largest event time
/// seen by 5 s (the simulator's default bound), so nothing is late.
fn out_of_order() -> TestStream {
    TestStream::new()
        .add_elements([visit("alice", "2024-04-28T23:12:52")])
        .advance_watermark_to("2024-04-28T23:12:47")
        .add_elements([
            visit("bob", "2024-04-28T23:12:45"),
            visit("alice", "2024-04-28T23:13:03"),
        ])
        .advance_watermark_to("2024-04-28T23:12:58")
        .add_elements([
            visit("alice", "2024-04-28T23:12:41"),
            visit("bob", "2024-04-28T23:13:15"),
        ])
        .advance_watermark_to("2024-04-28T23:13:10")
        .advance_watermark_to_infinity()
}

#[test]
fn visits_in_order_fire_one_on_time_pane_per_user_and_window() {
    let (first, next) = (
        window("2024-04-28T23:12:40", "2024-04-28T23:13:00"),
        window("2024-04-28T23:13:00", "2024-04-28T23:13:20"),
    );
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
    let output = p.apply(in_order());
    assert_that(&output)
        .in_on_time_pane(first)
        .contains_in_any_order([page_views("alice", first, 2), page_views("bob", first, 1)]);
    assert_that(&output)
        .in_final_pane(next)
        .contains_in_any_order([page_views("alice", next, 1), page_views("bob", next, 1)]);
    assert_that(&output).satisfies(|panes| panes.iter().all(|p| p.pane.is_first && p.pane.is_last));
    p.run();
    // The first window fired when the watermark reached its end, at step 3.
    assert!(output.output().panes_in(first).all(|p| p.step == 3));
}

#[test]
fn visits_out_of_order_within_the_watermark_bound_give_the_in_order_result() {
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
    let (ordered, shuffled) = (p.apply(in_order()), p.apply(out_of_order()));
    let first = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
    for output in [&ordered, &shuffled] {
        assert_that(output).in_late_pane(first).is_empty();
        assert_that(output)
            .in_on_time_pane(first)
            .contains_in_any_order([page_views("alice", first, 2), page_views("bob", first, 1)]);
    }
    p.run();
    let values = |o: &testkit::PCollection<String, TrafficAgg>| {
        let mut v: Vec<_> = o.output().panes.iter().map(|p| p.value.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(values(&ordered), values(&shuffled));
    assert!(shuffled.output().late.is_empty());
}

/// A visit that arrives after the watermark passed the end of its window.
fn with_a_late_visit() -> TestStream {
    TestStream::new()
        .add_elements([
            visit("alice", "2024-04-28T23:12:41"),
            visit("bob", "2024-04-28T23:12:45"),
        ])
        .advance_watermark_to("2024-04-28T23:13:00")
        .add_elements_at("2024-04-28T23:12:50", [visit("alice", "2024-04-28T23:12:50")])
        .advance_watermark_to("2024-04-28T23:13:30")
        .add_elements([visit("alice", "2024-04-28T23:12:55")])
        .advance_watermark_to_infinity()
}

#[test]
fn a_late_visit_is_dropped_without_allowed_lateness() {
    let first = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
    let output = p.apply(with_a_late_visit());
    assert_that(&output)
        .in_final_pane(first)
        .contains_in_any_order([page_views("alice", first, 1), page_views("bob", first, 1)]);
    assert_that(&output).in_late_pane(first).is_empty();
    p.run();
    let output = output.output();
    assert_eq!(output.late.len(), 2);
    assert!(
        output.late[0].reason.contains("allowed lateness 0s"),
        "{}",
        output.late[0].reason
    );
}

#[test]
fn a_late_visit_within_allowed_lateness_fires_a_late_pane() {
    let first = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig {
        allowed_lateness: Duration::seconds(30),
        ..TrafficConfig::default()
    }));
    let output = p.apply(with_a_late_visit());
    assert_that(&output)
        .in_on_time_pane(first)
        .contains_in_any_order([page_views("alice", first, 1), page_views("bob", first, 1)]);
    assert_that(&output)
        .in_late_pane(first)
        .contains_in_any_order([page_views("alice", first, 1)]);
    // The watermark passed end − 1 ms + 30 s at 23:13:30, so the visit of step 5 is dropped.
    assert_that(&output).in_final_pane(first).is_empty();
    p.run();
    assert_eq!(output.output().late.len(), 1);
}

#[test]
fn accumulating_panes_repeat_the_window_total() {
    let first = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
    let p = TestPipeline::new(traffic_pipeline(TrafficConfig {
        allowed_lateness: Duration::seconds(30),
        accumulation: AccumulationMode::Accumulating,
        ..TrafficConfig::default()
    }));
    let output = p.apply(with_a_late_visit());
    assert_that(&output)
        .in_late_pane(first)
        .contains_in_any_order([page_views("alice", first, 2)]);
    p.run();
}
