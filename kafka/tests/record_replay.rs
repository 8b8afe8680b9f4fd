//! `traffic-agg --record` on a real broker: a run with late data (allowed lateness 0, records produced
//! out of order) is recorded, and the simulator's replay of the recording gives the run's window
//! results pane for pane, its late records and its dead letters.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use formats::scenario::{InputFile, InputFormat};
use kafka_core::message::{dead_letter_headers, late_headers};
use kafka_runtime::sink::KafkaOutput;
use pipeline::io::memory::MemorySink;
use pipeline::io::{DeadLetter, LateRecord};
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};
use pipeline::watermark::WatermarkStrategy;
use pipeline::{ProcessingTimeRule, WindowOutput};
use simulator::{simulate, SimulationOptions, Sinks};
use test_broker::broker_or_skip;

/// A visit of `id` at `second` seconds past 2024-04-28T23:12:00.
fn visit(id: &str, second: u32) -> Vec<u8> {
    let (minute, second) = (12 + second / 60, second % 60);
    format!(
        r#"{{"ip":"1.2.3.4","id":"{id}","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:{minute:02}:{second:02}.000","event_ts":0}}"#
    )
    .into_bytes()
}

/// 120 visits of 6 users over two minutes, in time order but for every seventh, which comes 35 s
/// behind the stream (late for its window once the partition has moved on), and a line that is no JSON.
fn traffic() -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for i in 0..120u32 {
        let id = format!("user-{}", i % 6);
        let second = if i % 7 == 6 && i >= 35 { i - 35 } else { i };
        lines.push(visit(&id, second));
        if i == 50 {
            lines.push(b"not json, dead-lettered".to_vec());
        }
    }
    lines
}

/// The replay of `path` as `simulate --file path --input-format scenario` runs it.
fn replay(path: &std::path::Path) -> (Vec<WindowOutput<String, TrafficAgg>>, Vec<LateRecord>, Vec<DeadLetter>) {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let mut input = InputFile::open(path, InputFormat::Scenario).expect("open the recording");
    let (mut outputs, mut late, mut dead) = (MemorySink::default(), MemorySink::default(), MemorySink::default());
    let options = SimulationOptions {
        watermark: WatermarkStrategy::Explicit,
        disorder: None,
        processing_time: ProcessingTimeRule::Scripted,
        ..SimulationOptions::default()
    };
    let sinks = Sinks {
        outputs: &mut outputs,
        late: &mut late,
        dead_letters: &mut dead,
    };
    let report = simulate(&pipeline, &mut input, &options, sinks, &mut |_| {}).expect("replay the recording");
    assert!(report.stats.check_conservation().is_ok(), "{:?}", report.stats);
    (outputs.items, late.items, dead.items)
}

/// A late record or dead letter as its topic holds it: value and headers.
fn as_message(value: &[u8], headers: Vec<(String, Vec<u8>)>) -> (String, BTreeMap<String, String>) {
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    (String::from_utf8_lossy(value).into_owned(), headers)
}

#[test]
fn a_recorded_kafka_run_with_late_data_replays_pane_for_pane_in_the_simulator() {
    let Some(broker) = broker_or_skip("a_recorded_kafka_run_with_late_data_replays_pane_for_pane_in_the_simulator")
    else {
        return;
    };
    let job = Job::create(&broker, 2);
    let lines = traffic();
    produce_lines(&job.servers, &job.input, &lines);

    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("run.scenario.jsonl");
    let recording_arg = recording.display().to_string();
    let args = job.args(&[
        "--allowed-lateness",
        "0s",
        "--idle-timeout",
        "2s",
        "--session-timeout",
        "6s",
        "--record",
        &recording_arg,
    ]);
    let mut agg = AggProcess::start(&broker, &args, dir.path().join("traffic-agg.log"));
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut agg]);
    let log = agg.log.clone();
    agg.terminate();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("replay them with:") && log.contains("simulate --file") && log.contains("--allowed-lateness 0s"),
        "the replay command is printed:\n{log}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the recording was renamed into place: {leftovers:?}"
    );
    let text = std::fs::read_to_string(&recording).unwrap();
    let without_timestamp = text
        .lines()
        .filter(|l| l.starts_with("{\"event") || l.starts_with("{\"records") || l.starts_with("{\"dropped_late"))
        .find(|l| !l.contains("\"kafka_ts\": 17") && !l.contains("\"kafka_ts\": [17"));
    assert_eq!(without_timestamp, None, "records keep their Kafka timestamps");
    assert!(
        text.contains("{\"dropped_late\": "),
        "the core judged records late in their partition"
    );

    let (outputs, late, dead) = replay(&recording);

    // Window results, pane for pane: each output partition holds its windows in the order the run
    // emitted them, which is the replay's order.
    let reads = read_topic(&job.servers, &job.output, false);
    let partition_of: BTreeMap<String, i32> = reads
        .iter()
        .map(|r| (r.key.clone().expect("keyed"), r.partition))
        .collect();
    let mut replayed: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
    for output in &outputs {
        let key = String::from_utf8(output.value.message_key()).unwrap();
        let value = String::from_utf8(output.value.message_value()).unwrap();
        let partition = *partition_of
            .get(&key)
            .unwrap_or_else(|| panic!("the replay emitted {key} = {value}, which the run did not"));
        replayed.entry(partition).or_default().push((key, value));
    }
    let mut emitted: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
    for read in &reads {
        emitted
            .entry(read.partition)
            .or_default()
            .push((read.key.clone().unwrap(), read.value.clone()));
    }
    assert_eq!(reads.len(), outputs.len(), "as many panes");
    assert_eq!(replayed, emitted, "the same panes in the same order");

    // Late records: the same records, with the same reason, event time and watermark.
    let mut late_read: Vec<_> = read_topic(&job.servers, &job.late, false)
        .into_iter()
        .map(|r| (r.value, r.headers))
        .collect();
    let mut late_replayed: Vec<_> = late
        .iter()
        .map(|l| as_message(&l.payload, late_headers(l, &job.input)))
        .collect();
    late_read.sort();
    late_replayed.sort();
    assert!(late_read.len() >= 5, "the run dropped late records: {late_read:?}");
    assert_eq!(late_replayed, late_read, "the same late records");

    let mut dead_read: Vec<_> = read_topic(&job.servers, &job.dlq, false)
        .into_iter()
        .map(|r| (r.value, r.headers))
        .collect();
    let mut dead_replayed: Vec<_> = dead
        .iter()
        .map(|d| as_message(&d.payload, dead_letter_headers(d, &job.input)))
        .collect();
    dead_read.sort();
    dead_replayed.sort();
    assert_eq!(dead_read.len(), 1);
    assert_eq!(dead_replayed, dead_read, "the same dead letter");

    // The recording accounts for every record produced: counted, late or dead-lettered.
    let counted: u64 = outputs.iter().map(|o| o.value.page_views).sum();
    assert_eq!(counted as usize + late.len() + dead.len(), lines.len());
}
