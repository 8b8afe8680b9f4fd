//! Bad input: records that do not parse land in the DLQ topic with their original bytes, a reason and
//! their source position; records dropped as late land in the late topic; every other record is
//! counted, so outputs plus late records account for every parsed record. A record too big to be sent
//! whole goes to its topic cut short, with headers saying so, and never stops the runner.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kafka_runtime::produce::{produce, OutLine, ProduceOptions};
use kafka_runtime::Shutdown;
use pipeline::event::VisitEvent;
use pipeline::traffic::TrafficAgg;
use test_broker::broker_or_skip;

#[test]
fn malformed_records_land_in_the_dlq_with_reasons_and_everything_else_is_counted() {
    let Some(broker) = broker_or_skip("malformed_records_land_in_the_dlq_with_reasons_and_everything_else_is_counted")
    else {
        return;
    };
    let job = Job::create(&broker, 3);
    // The recorded traffic (32 malformed lines among 5000) and a few worse ones: an empty message,
    // bytes that are not UTF-8, a JSON array, a visit with a bad date.
    produce_file(&job.servers, &job.input, &visits_file());
    let extra: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"[1, 2, 3]".to_vec(),
        br#"{"ip":"1.2.3.4","id":"1","lat":1,"lng":2,"user_agent":"u","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"yesterday","event_ts":0}"#.to_vec(),
    ];
    produce_lines(&job.servers, &job.input, &extra);

    let dir = tempfile::tempdir().unwrap();
    // With the default 5 s of out-of-orderness the file's 30-s-late records are late.
    let mut agg = AggProcess::start(
        &broker,
        &job.args(&["--idle-timeout", "2s", "--session-timeout", "6s"]),
        dir.path().join("traffic-agg.log"),
    );
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut agg]);
    agg.terminate();

    let inputs: BTreeMap<(i32, i64), String> = read_topic(&job.servers, &job.input, false)
        .into_iter()
        .map(|r| ((r.partition, r.offset), r.value))
        .collect();
    assert_eq!(inputs.len(), 5004);
    let malformed: BTreeMap<(i32, i64), &String> = inputs
        .iter()
        .filter(|(_, v)| VisitEvent::from_json(v.as_bytes()).is_err())
        .map(|(k, v)| (*k, v))
        .collect();
    assert_eq!(malformed.len(), 32 + extra.len());

    let dead = read_topic(&job.servers, &job.dlq, false);
    let mut dead_by_position = BTreeMap::new();
    for d in &dead {
        let reason = &d.headers["reason"];
        assert!(!reason.is_empty(), "a dead letter says why: {d:?}");
        assert_eq!(d.headers["source.topic"], job.input);
        let position = (
            d.headers["source.partition"].parse::<i32>().unwrap(),
            d.headers["source.offset"].parse::<i64>().unwrap(),
        );
        assert_eq!(
            Some(&d.value),
            inputs.get(&position),
            "the DLQ holds the original bytes"
        );
        dead_by_position.insert(position, reason.clone());
    }
    assert_eq!(
        dead.len(),
        malformed.len(),
        "each malformed record once in a crash-free run"
    );
    assert_eq!(
        dead_by_position.keys().collect::<Vec<_>>(),
        malformed.keys().collect::<Vec<_>>()
    );
    let bad_date = dead_by_position.values().find(|r| r.contains("yesterday"));
    assert!(bad_date.is_some(), "reasons name the problem: {dead_by_position:?}");

    let late = read_topic(&job.servers, &job.late, false);
    for l in &late {
        assert!(l.headers["reason"].starts_with("late"), "{l:?}");
        assert!(l.headers.contains_key("event_time") && l.headers.contains_key("watermark"));
    }
    assert!(
        !late.is_empty(),
        "the file's 30-s-late records are late with a 5 s bound"
    );

    // Conservation: every parsed record is in exactly one window's count or in the late topic.
    let counted: u64 = read_topic(&job.servers, &job.output, false)
        .iter()
        .map(|r| serde_json::from_str::<TrafficAgg>(&r.value).unwrap().page_views)
        .sum();
    let parsed = (inputs.len() - malformed.len()) as u64;
    assert_eq!(
        counted + late.len() as u64,
        parsed,
        "{counted} counted + {} late",
        late.len()
    );
}

/// A size between librdkafka's default `message.max.bytes` (1,000,000: what the runner's producer may
/// send) and the broker's default limit (1 MiB: what lets a record into the input).
const OVERSIZED: usize = 1_040_000;

#[test]
fn records_too_big_for_one_message_reach_the_dlq_and_late_topics_cut_short_and_the_runner_goes_on() {
    let Some(broker) = broker_or_skip(
        "records_too_big_for_one_message_reach_the_dlq_and_late_topics_cut_short_and_the_runner_goes_on",
    ) else {
        return;
    };
    // One partition: the oversized records come after the recorded traffic, so the late one is late.
    let job = Job::create(&broker, 1);
    produce_file(&job.servers, &job.input, &visits_file());
    let malformed = {
        let mut bytes = br#"{"id": "big", "user_agent": ""#.to_vec();
        bytes.resize(OVERSIZED, b'x');
        bytes
    };
    let late_visit = {
        let first_line = std::fs::read_to_string(visits_file())
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        let mut visit: serde_json::Value = serde_json::from_str(&first_line).unwrap();
        visit["user_agent"] = "y".repeat(OVERSIZED).into();
        visit["event_datetime"] = "2024-04-28T00:00:00.000".into();
        serde_json::to_vec(&visit).unwrap()
    };
    let mut options = ProduceOptions::new(&job.servers, &job.input);
    options.producer_properties = vec![("message.max.bytes".to_owned(), "1048000".to_owned())];
    let lines = [&late_visit, &malformed].map(|value| OutLine {
        value: value.clone(),
        due: None,
    });
    produce(&options, lines, &Shutdown::new(), |_, _| {}).expect("produce the oversized records");

    let dir = tempfile::tempdir().unwrap();
    let mut agg = AggProcess::start(
        &broker,
        &job.args(&["--idle-timeout", "2s", "--session-timeout", "6s"]),
        dir.path().join("traffic-agg.log"),
    );
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut agg]);
    agg.terminate();

    let cut_short = |topic: &str, original: &[u8]| {
        let found: Vec<Read> = read_topic(&job.servers, topic, false)
            .into_iter()
            .filter(|r| r.headers.contains_key("truncated"))
            .collect();
        assert_eq!(found.len(), 1, "one record cut short in {topic}");
        let record = &found[0];
        assert_eq!(record.headers["truncated"], "true");
        assert_eq!(record.headers["original.size"], original.len().to_string());
        assert_eq!(record.headers["source.topic"], job.input);
        assert!(
            record.value.len() < 1_000_000 && record.value.len() > 990_000,
            "as much as fits: {}",
            record.value.len()
        );
        assert!(
            original.starts_with(record.value.as_bytes()),
            "the value is the record's first bytes"
        );
        record.clone()
    };
    let dead = cut_short(&job.dlq, &malformed);
    assert_eq!(dead.headers["source.offset"], "5001");
    assert!(!dead.headers["reason"].is_empty());
    let late = cut_short(&job.late, &late_visit);
    assert_eq!(late.headers["source.offset"], "5000");
    assert!(late.headers["reason"].starts_with("late"), "{:?}", late.headers);
    assert!(
        !read_topic(&job.servers, &job.output, false).is_empty(),
        "the other records were counted"
    );
}
