//! Conformance: the recorded traffic through `traffic-agg` on a real broker gives exactly the windows
//! `simulate --watermark perfect` computes for the same file, byte for byte, each once.

mod common;

use std::time::Duration;

use common::*;
use test_broker::{broker_or_skip, unique_name};

#[test]
fn traffic_agg_on_a_broker_emits_exactly_the_perfect_watermark_windows() {
    let Some(broker) = broker_or_skip("traffic_agg_on_a_broker_emits_exactly_the_perfect_watermark_windows") else {
        return;
    };
    let input = unique_name("website-visit");
    let output = unique_name("traffic-agg");
    let group = unique_name("traffic-agg");
    broker.create_topic(&input, 3).unwrap();
    broker.create_topic(&output, 3).unwrap();
    let sent = produce_file(broker.bootstrap_servers(), &input, &visits_file());
    assert_eq!(sent, 5000);

    let dir = tempfile::tempdir().unwrap();
    // The file's records are at most 33 s out of order (3 s jitter, 30 s late): with 60 s of allowed
    // out-of-orderness nothing is late, which is what a perfect watermark means.
    let mut agg = AggProcess::start(
        &broker,
        &[
            "--input-topic",
            &input,
            "--output-topic",
            &output,
            "--group-id",
            &group,
            "--max-out-of-orderness",
            "60s",
            "--idle-timeout",
            "2s",
            "--session-timeout",
            "6s",
        ],
        dir.path().join("traffic-agg.log"),
    );
    wait_for("the group to commit the whole input", Duration::from_secs(90), || {
        agg.assert_running();
        group_caught_up(broker.bootstrap_servers(), &group, &input)
    });
    agg.terminate();

    let reads = read_topic(broker.bootstrap_servers(), &output, false);
    let expected = reference_windows(&visits_file());
    let actual = dedupe(&reads);
    assert_eq!(actual, expected, "{}", describe_difference(&expected, &actual));
    assert_eq!(reads.len(), expected.len(), "a crash-free run emits every window once");
}
