//! Conformance: the recorded traffic through `traffic-agg` on a real broker gives exactly the windows
//! `simulate --watermark perfect` computes for the same file, byte for byte, each once.

mod common;

use std::time::Duration;

use common::*;
use test_broker::broker_or_skip;

#[test]
fn traffic_agg_on_a_broker_emits_exactly_the_perfect_watermark_windows() {
    let Some(broker) = broker_or_skip("traffic_agg_on_a_broker_emits_exactly_the_perfect_watermark_windows") else {
        return;
    };
    let job = Job::create(&broker, 3);
    let sent = produce_file(&job.servers, &job.input, &visits_file());
    assert_eq!(sent, 5000);

    let dir = tempfile::tempdir().unwrap();
    // The file's records are at most 33 s out of order (3 s jitter, 30 s late): with 60 s of allowed
    // out-of-orderness nothing is late, which is what a perfect watermark means.
    let args = job.args(&[
        "--max-out-of-orderness",
        "60s",
        "--idle-timeout",
        "2s",
        "--session-timeout",
        "6s",
    ]);
    let mut agg = AggProcess::start(&broker, &args, dir.path().join("traffic-agg.log"));
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut agg]);
    agg.terminate();

    let reads = job.assert_output_is_the_reference(false);
    assert_eq!(
        reads.len(),
        dedupe(&reads).len(),
        "a crash-free run emits every window once"
    );
}
