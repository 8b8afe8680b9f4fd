//! Scale-out: two `traffic-agg` processes in one consumer group split a 3-partition topic and together
//! emit the same windows as one process (the input is keyed by user id, so each id lives on one
//! partition).

mod common;

use std::time::Duration;

use common::*;
use test_broker::broker_or_skip;

/// The partitions named in the last `partitions assigned: ...` line of a log, if any (without the
/// count of repetitions the log limiter may append).
fn last_assignment(log: &str) -> Option<String> {
    log.lines()
        .rfind(|l| l.contains("partitions assigned"))
        .and_then(|l| l.split("partitions assigned: ").nth(1))
        .map(|p| match p.rfind(" (") {
            Some(i) if p.ends_with("since it was last logged)") => p[..i].trim().to_owned(),
            _ => p.trim().to_owned(),
        })
}

#[test]
fn two_instances_in_one_group_emit_the_same_windows_as_one() {
    let Some(broker) = broker_or_skip("two_instances_in_one_group_emit_the_same_windows_as_one") else {
        return;
    };
    let job = Job::create(&broker, 3);
    let dir = tempfile::tempdir().unwrap();
    let args = job.args(&[
        "--max-out-of-orderness",
        "60s",
        // Longer than any pause of the producer below on a busy machine: the recording is from 2024,
        // and once every partition is idle the watermark follows the wall clock.
        "--idle-timeout",
        "5s",
        "--session-timeout",
        "6s",
    ]);
    let mut first = AggProcess::start(&broker, &args, dir.path().join("first.log"));
    wait_for("the first instance's assignment", Duration::from_secs(60), || {
        first.assert_running();
        last_assignment(&first.log_text()).is_some()
    });
    let mut second = AggProcess::start(&broker, &args, dir.path().join("second.log"));
    // Range assignment of 3 partitions to 2 members: both end up with some.
    wait_for("both instances to own partitions", Duration::from_secs(60), || {
        first.assert_running();
        second.assert_running();
        let owns = |log: String| last_assignment(&log).is_some_and(|p| !p.is_empty());
        owns(second.log_text()) && owns(first.log_text()) && {
            let a = last_assignment(&first.log_text()).unwrap();
            let b = last_assignment(&second.log_text()).unwrap();
            a.split(", ").count() + b.split(", ").count() == 3
        }
    });

    produce_file(&job.servers, &job.input, &visits_file());
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut first, &mut second]);
    let split = (
        last_assignment(&first.log_text()).unwrap(),
        last_assignment(&second.log_text()).unwrap(),
    );
    first.terminate();
    second.terminate();

    let reads = job.assert_output_is_the_reference(false);
    assert_eq!(reads.len(), dedupe(&reads).len(), "each window once: {split:?}");
}
