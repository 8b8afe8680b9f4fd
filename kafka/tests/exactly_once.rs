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
    let servers = broker.bootstrap_servers().to_owned();
    let input = unique_name("website-visit");
    let output = unique_name("traffic-agg");
    let dlq = unique_name("dlq");
    let group = unique_name("traffic-agg");
    let transactional_id = unique_name("traffic-agg-eos");
    for topic in [&input, &output, &dlq] {
        broker.create_topic(topic, 3).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic-agg.log");
    let args = [
        "--input-topic",
        &input,
        "--output-topic",
        &output,
        "--group-id",
        &group,
        "--dlq-topic",
        &dlq,
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
    ];
    let feeder = feed_file_slowly(&servers, &input, 700.0);

    // Killed right after emitting windows: inside an open transaction, most likely.
    let mut agg = AggProcess::start(&broker, &args, log.clone());
    wait_for("1000 committed offsets", Duration::from_secs(120), || {
        agg.assert_running();
        committed_total(&servers, &group, &input) >= 1000
    });
    let outputs_before = topic_end_total(&servers, &output);
    wait_for("new windows on the output topic", Duration::from_secs(120), || {
        agg.assert_running();
        // (On a very slow machine the stream may be over already: then there is nothing new to emit.)
        topic_end_total(&servers, &output) >= outputs_before + 50 || group_caught_up(&servers, &group, &input)
    });
    agg.kill();

    // The restart fences the killed instance's transaction and runs to the end.
    let mut agg = AggProcess::start(&broker, &args, log.clone());
    assert_eq!(feeder.join().unwrap(), 5000);
    wait_for("the group to commit the whole input", Duration::from_secs(120), || {
        agg.assert_running();
        group_caught_up(&servers, &group, &input)
    });
    agg.terminate();

    let committed = read_topic(&servers, &output, true);
    let expected = reference_windows(&visits_file());
    let actual = dedupe(&committed);
    assert_eq!(actual, expected, "{}", describe_difference(&expected, &actual));
    assert_eq!(
        committed.len(),
        expected.len(),
        "every window exactly once for read_committed"
    );
    let dead = read_topic(&servers, &dlq, true);
    assert_eq!(dead.len(), 32, "every malformed line exactly once");
    let uncommitted = read_topic(&servers, &output, false);
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
