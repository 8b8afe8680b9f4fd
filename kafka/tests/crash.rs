//! No loss on crash: `traffic-agg` is killed with SIGKILL mid-stream, once offsets are committed and
//! windows are open past them, and restarted; the output, deduplicated by key, equals the crash-free
//! output, and no key ever carries two different values. (Crashes at every point of the protocol are
//! explored from seeds by the simulator, which drives the same consumer core; this test checks the
//! rdkafka shell around it on a real broker.)

mod common;

use std::time::Duration;

use common::*;
use test_broker::broker_or_skip;

#[test]
fn a_sigkill_mid_stream_loses_nothing_and_never_changes_a_value() {
    let Some(broker) = broker_or_skip("a_sigkill_mid_stream_loses_nothing_and_never_changes_a_value") else {
        return;
    };
    let job = Job::create(&broker, 3);
    let servers = &job.servers;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic-agg.log");
    let args = job.args(&[
        "--max-out-of-orderness",
        "60s",
        // Longer than any pause of the feeder on a busy machine: the recording is from 2024, and once
        // every partition is idle the watermark follows the wall clock (then the rest would be late).
        "--idle-timeout",
        "5s",
        "--commit-interval",
        "300ms",
        "--session-timeout",
        "6s",
        // A restarted instance takes the crashed one's place at once instead of waiting for its
        // session to expire.
        "--consumer-property",
        "group.instance.id=crash-test",
    ]);
    let feeder = feed_file_slowly(servers, &job.input, 700.0);

    // Killed once a first batch of offsets is committed, with windows still open past them and
    // windows emitted after them.
    let mut agg = AggProcess::start(&broker, &args, log.clone());
    wait_for("1000 committed offsets", Duration::from_secs(120), || {
        agg.assert_running();
        committed_total(servers, &job.group, &job.input) >= 1000
    });
    agg.kill();

    // The restart runs to the end: the input is complete, the partitions go idle and the last windows
    // close.
    let mut agg = AggProcess::start(&broker, &args, log.clone());
    assert_eq!(feeder.join().unwrap(), 5000);
    job.wait_until_consumed(Duration::from_secs(120), &mut [&mut agg]);
    agg.terminate();

    let reads = job.assert_output_is_the_reference(false);
    let windows = dedupe(&reads).len();
    // Re-read records whose windows a previous instance had emitted are skipped, not reported late.
    let late = read_topic(servers, &job.late, false);
    assert!(
        late.is_empty(),
        "nothing is late with 60 s of out-of-orderness, got {late:?}"
    );
    // Dead letters are at least once: each malformed record at least once, nothing else.
    let dead = read_topic(servers, &job.dlq, false);
    let positions: std::collections::BTreeSet<(String, String)> = dead
        .iter()
        .map(|d| {
            (
                d.headers["source.partition"].clone(),
                d.headers["source.offset"].clone(),
            )
        })
        .collect();
    assert_eq!(positions.len(), 32, "the file has 32 malformed lines");
    eprintln!(
        "crash test: {} output messages for {} windows ({} re-emitted after restarts)",
        reads.len(),
        windows,
        reads.len() - windows
    );
}
