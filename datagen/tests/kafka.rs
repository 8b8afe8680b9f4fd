//! `datagen --to kafka` and `--source streaming` against a real broker (`test-broker`): lines reach
//! the topic unchanged, keyed by user id, and a live stream carries wall-clock event times.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use datagen::{Generator, GeneratorConfig};
use pipeline::event::VisitEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use test_broker::{broker_or_skip, unique_name, TestBroker};

fn datagen(broker: &TestBroker, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_datagen"))
        .args(["--bootstrap-servers", broker.bootstrap_servers()])
        .args(args)
        .output()
        .expect("the datagen binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every message of `topic`: (partition, key, value), read to the end.
fn read_all(broker: &TestBroker, topic: &str, expected: usize) -> Vec<(i32, Option<String>, String)> {
    let consumer: BaseConsumer = broker.consumer_config(&unique_name("reader")).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    let mut last_error = None;
    while out.len() < expected {
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {expected} (last consumer error: {last_error:?})",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = match m {
                Ok(m) => m,
                Err(e) if test_broker::poll_on_after(&e) => {
                    last_error = Some(e.to_string());
                    continue;
                }
                Err(e) => panic!("read {topic}: {e}"),
            };
            out.push((
                m.partition(),
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            ));
        }
    }
    out
}

#[test]
fn to_kafka_sends_the_generated_lines_keyed_by_user_id_to_a_created_topic() {
    let Some(broker) = broker_or_skip("to_kafka_sends_the_generated_lines_keyed_by_user_id_to_a_created_topic") else {
        return;
    };
    let topic = unique_name("website-visit");
    let args = [
        "--to",
        "kafka",
        "--topic",
        &topic,
        "--events",
        "300",
        "--malformed-fraction",
        "0.05",
    ];
    let output = datagen(&broker, &args);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("created topic {topic} with 3 partitions")),
        "{err}"
    );

    let messages = read_all(&broker, &topic, 300);
    let config = GeneratorConfig {
        events: 300,
        malformed_fraction: 0.05,
        ..GeneratorConfig::default()
    };
    let expected: BTreeSet<String> = Generator::new(config).unwrap().map(|l| l.text).collect();
    let got: BTreeSet<String> = messages.iter().map(|(_, _, v)| v.clone()).collect();
    assert_eq!(got, expected, "the library's lines, unchanged");
    let mut partition_of = BTreeMap::new();
    for (partition, key, value) in &messages {
        if let Ok(visit) = VisitEvent::from_json(value.as_bytes()) {
            assert_eq!(key.as_deref(), Some(visit.id.as_str()), "keyed by id");
            let first = partition_of.entry(visit.id.clone()).or_insert(*partition);
            assert_eq!(first, partition, "every visit of a user on one partition");
        }
    }
    assert!(
        partition_of.values().collect::<BTreeSet<_>>().len() > 1,
        "users spread over partitions"
    );
}

#[test]
fn streaming_sends_live_events_with_wall_clock_times_and_counts_progress() {
    let Some(broker) = broker_or_skip("streaming_sends_live_events_with_wall_clock_times_and_counts_progress") else {
        return;
    };
    let topic = unique_name("website-visit");
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // The seed's spelling, faster: 25 events about 40 ms apart.
    let args = [
        "--source",
        "streaming",
        "--topic",
        &topic,
        "--num_users",
        "5",
        "--delay_seconds",
        "0.04",
        "--events",
        "25",
    ];
    let output = datagen(&broker, &args);
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("10 events created so far...\n{"), "{stdout}");
    assert!(stdout.contains("20 events created so far..."), "{stdout}");

    let messages = read_all(&broker, &topic, 25);
    for (_, _, value) in &messages {
        let visit = VisitEvent::from_json(value.as_bytes()).unwrap();
        let t = visit.event_time().unwrap().millis();
        assert!(
            before <= t && t <= after,
            "event time {t} is the wall clock ({before}..{after})"
        );
    }
}

#[test]
fn replay_sends_a_recording_as_it_is() {
    let Some(broker) = broker_or_skip("replay_sends_a_recording_as_it_is") else {
        return;
    };
    let topic = unique_name("website-visit");
    let recording = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl");
    datagen(&broker, &["--to", "kafka", "--topic", &topic, "--replay", recording]);
    let messages = read_all(&broker, &topic, 5000);
    let mut expected: Vec<String> = std::fs::read_to_string(recording)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut got: Vec<String> = messages.into_iter().map(|(_, _, v)| v).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}
