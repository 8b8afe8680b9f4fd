//! Exactly once: with `--exactly-once`, outputs and input offsets are committed in one transaction, so
//! a `read_committed` consumer of the output sees every window exactly once, even though the pipeline
//! is killed with SIGKILL right after emitting windows (inside an open transaction, most likely) while
//! the input streams in. Needs a broker with transactions and real `read_committed` isolation
//! (noida-db, Apache Kafka). (Crashes and failed transaction steps at every point of the protocol are
//! explored from seeds by the simulator, which drives the same consumer core.)

mod common;

use std::time::Duration;

use common::*;
use test_broker::{transactional_broker_or_skip, unique_name};

#[test]
fn read_committed_consumers_see_every_window_exactly_once_across_a_sigkill() {
    let Some(broker) =
        transactional_broker_or_skip("read_committed_consumers_see_every_window_exactly_once_across_a_sigkill")
    else {
        return;
    };
    let job = Job::create(&broker, 3);
    let servers = &job.servers;
    let transactional_id = unique_name("traffic-agg-eos");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic-agg.log");
    let args = job.args(&[
        "--exactly-once",
        "--transactional-id",
        &transactional_id,
        "--max-out-of-orderness",
        "60s",
        // Longer than any pause of the feeder on a busy machine (see crash.rs).
        "--idle-timeout",
        "5s",
        "--commit-interval",
        "300ms",
        "--session-timeout",
        "6s",
        "--consumer-property",
        "group.instance.id=eos-test",
    ]);
    let feeder = feed_file_slowly(servers, &job.input, 700.0);

    // Killed right after emitting windows: inside an open transaction, most likely.
    let mut agg = AggProcess::start(&broker, &args, log.clone());
    wait_for("1000 committed offsets", Duration::from_secs(120), || {
        agg.assert_running();
        committed_total(servers, &job.group, &job.input) >= 1000
    });
    let outputs_before = topic_end_total(servers, &job.output);
    wait_for("new windows on the output topic", Duration::from_secs(120), || {
        agg.assert_running();
        // (On a very slow machine the stream may be over already: then there is nothing new to emit.)
        topic_end_total(servers, &job.output) >= outputs_before + 50 || group_caught_up(servers, &job.group, &job.input)
    });
    agg.kill();

    // The restart fences the killed instance's transaction and runs to the end.
    let mut agg = AggProcess::start(&broker, &args, log.clone());
    assert_eq!(feeder.join().unwrap(), 5000);
    job.wait_until_consumed(Duration::from_secs(120), &mut [&mut agg]);
    agg.terminate();

    let committed = job.assert_output_is_the_reference(true);
    assert_eq!(
        committed.len(),
        dedupe(&committed).len(),
        "every window exactly once for read_committed"
    );
    let dead = read_topic(servers, &job.dlq, true);
    assert_eq!(dead.len(), 32, "every malformed line exactly once");
    let uncommitted = read_topic(servers, &job.output, false);
    eprintln!(
        "exactly-once test: {} committed output messages, {} in the log including aborted ones; log:\n{}",
        committed.len(),
        uncommitted.len(),
        log_summary(&std::fs::read_to_string(&log).unwrap_or_default())
    );
}

fn log_summary(log: &str) -> String {
    log.lines()
        .filter(|l| l.contains("assigned") || l.contains("WARN") || l.contains("ERROR"))
        .collect::<Vec<_>>()
        .join("\n")
}
