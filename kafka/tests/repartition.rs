//! Repartitioning: input that is not keyed by user id (spread at random over partitions) still gives
//! the right per-user counts when two instances split it, because `--repartition` re-keys it by id
//! through an internal topic first.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use test_broker::broker_or_skip;

#[test]
fn two_instances_with_repartition_count_unkeyed_input_correctly() {
    let Some(broker) = broker_or_skip("two_instances_with_repartition_count_unkeyed_input_correctly") else {
        return;
    };
    let job = Job::create(&broker, 3);
    let internal = format!("{}-repartition", job.group);
    // traffic-agg creates it when missing; created here too, for brokers without an admin API (the
    // librdkafka mock cluster).
    broker.create_topic(&internal, 3).unwrap();

    // No key, partitions in turn: the visits of every user are spread over all partitions.
    let producer: ThreadedProducer<_> = broker.producer_config().create().unwrap();
    let recording = std::fs::read_to_string(visits_file()).unwrap();
    for (i, line) in recording.lines().enumerate() {
        let record = BaseRecord::<(), str>::to(&job.input)
            .payload(line)
            .partition(i as i32 % 3);
        producer.send(record).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let spread = read_topic(&job.servers, &job.input, false);
    let partitions_of_first_user: std::collections::BTreeSet<i32> = spread
        .iter()
        .filter(|r| r.value.contains(r#""id":"1734328107054255797""#))
        .map(|r| r.partition)
        .collect();
    assert!(partitions_of_first_user.len() > 1, "the input is not keyed by id");

    let dir = tempfile::tempdir().unwrap();
    let args = job.args(&[
        "--repartition",
        // Each internal partition merges what both stages forward from all three input partitions; with
        // the whole input already waiting, that merge is out of event-time order by up to the
        // recording's span (17 minutes). See the README on repartitioning and watermarks.
        "--max-out-of-orderness",
        "1h",
        // Longer than any pause of the forwarding stages on a busy machine (a rebalance included): once
        // every internal partition is idle the watermark follows the wall clock, far past 2024.
        "--idle-timeout",
        "5s",
        "--session-timeout",
        "6s",
    ]);
    let mut first = AggProcess::start(&broker, &args, dir.path().join("first.log"));
    let mut second = AggProcess::start(&broker, &args, dir.path().join("second.log"));
    let (timeout, mut running) = (Duration::from_secs(120), [&mut first, &mut second]);
    job.wait_until_group_consumed(&internal, &job.input, timeout, &mut running);
    job.wait_until_group_consumed(&job.group, &internal, timeout, &mut running);
    first.terminate();
    second.terminate();

    job.assert_output_is_the_reference(false);
}
