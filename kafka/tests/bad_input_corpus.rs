//! The bad-input corpus (`ci/bad-input/`) through `traffic-agg` on a broker: each record of the corpus
//! one message of a one-partition input topic, in order. Every bad record must reach the DLQ topic
//! byte for byte (the 10 MiB one too: the producers' `message.max.bytes` is raised), with its reason
//! and source position in headers; every visit must be counted in its window, except a visit dated
//! after now, whose window cannot close while the stream lasts; nothing is late.

mod common;

#[path = "../../ci/bad-input/corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use common::*;
use corpus::{Corpus, Counts, DeadLetter, Replay};
use kafka_runtime::produce::{as_fast_as_possible, produce, ProduceOptions};
use kafka_runtime::Shutdown;
use pipeline::event::VisitEvent;
use pipeline::traffic::TrafficAgg;
use test_broker::broker_or_skip;

/// A `message.max.bytes` above the corpus's biggest record (10 MiB and a few hundred bytes) with its
/// headers.
const MESSAGE_MAX_BYTES: &str = "16777216";

#[test]
fn the_bad_input_corpus_through_traffic_agg_reaches_the_dlq_byte_for_byte_with_its_reasons() {
    let Some(broker) =
        broker_or_skip("the_bad_input_corpus_through_traffic_agg_reaches_the_dlq_byte_for_byte_with_its_reasons")
    else {
        return;
    };
    let corpus = Corpus::load();
    // One partition: offset n is record n, and the records arrive in the corpus's order, as from a file.
    // The broker refuses a message bigger than a topic's `max.message.bytes` (1 MiB by default).
    let job = Job::create_with_configs(&broker, 1, &[("max.message.bytes", MESSAGE_MAX_BYTES)]);
    let started = Instant::now();
    let mut options = ProduceOptions::new(&job.servers, &job.input);
    options.producer_properties = vec![("message.max.bytes".to_owned(), MESSAGE_MAX_BYTES.to_owned())];
    // As `datagen --replay` sends a file: a message per line that is not blank, without its line break.
    let lines = as_fast_as_possible(&corpus.input[..]).map(|line| line.expect("read the corpus"));
    let sent = produce(&options, lines, &Shutdown::new(), |_, _| {}).expect("produce the corpus");
    assert_eq!(sent.sent, corpus.records.len() as u64);
    let produced = started.elapsed();

    // A visit dated after now keeps its window open: the watermark of a caught-up stream follows the
    // wall clock. The group's commits stay at or before the first such record, so that a restart reads
    // it again.
    let now = kafka_runtime::produce::now();
    let open: Vec<usize> = (0..corpus.records.len())
        .filter(|&i| {
            VisitEvent::from_json(&corpus.records[i].payload)
                .ok()
                .and_then(|v| v.event_time().ok())
                .is_some_and(|t| t > now)
        })
        .collect();
    let commit_stops_at = open.first().map_or(corpus.records.len(), |&i| i) as i64;

    let dir = tempfile::tempdir().unwrap();
    let producer_property = format!("message.max.bytes={MESSAGE_MAX_BYTES}");
    let mut agg = AggProcess::start(
        &broker,
        &job.args(&[
            "--idle-timeout",
            "2s",
            "--session-timeout",
            "6s",
            "--producer-property",
            &producer_property,
        ]),
        dir.path().join("traffic-agg.log"),
    );
    let expected_dead = corpus.dead_letter_count() as i64;
    let expected_windows = corpus
        .expected_outputs((0..corpus.records.len()).filter(|i| !open.contains(i)))
        .len() as i64;
    wait_for(
        "every dead letter and every window that can close",
        Duration::from_secs(120),
        || {
            agg.assert_running();
            topic_end_total(&job.servers, &job.dlq) >= expected_dead
                && topic_end_total(&job.servers, &job.output) >= expected_windows
        },
    );
    agg.terminate();
    let processed = started.elapsed();

    let inputs = read_topic_raw(&job.servers, &job.input, false);
    let payloads: Vec<&[u8]> = inputs.iter().map(|r| r.value.as_slice()).collect();
    let originals: Vec<&[u8]> = corpus.records.iter().map(|r| r.payload.as_slice()).collect();
    assert!(
        payloads == originals,
        "the input topic holds the corpus's records, in order"
    );
    assert!(inputs.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    let committed = committed_total(&job.servers, &job.group, &job.input);
    assert!(
        committed <= commit_stops_at,
        "committed {committed}: the commit stays at or before the first visit whose window is still open ({commit_stops_at})"
    );

    let dead_letters = read_topic_raw(&job.servers, &job.dlq, false)
        .into_iter()
        .map(|d| {
            assert_eq!(d.headers["source.topic"], job.input, "{:?}", d.headers);
            assert_eq!(d.headers["source.partition"], "0", "{:?}", d.headers);
            assert!(
                !d.headers.contains_key("truncated"),
                "whole, not cut short: {:?}",
                d.headers
            );
            let offset: usize = d.headers["source.offset"].parse().expect("source.offset is a number");
            DeadLetter {
                record: offset,
                reason: d.headers["reason"].clone(),
                payload: d.value,
            }
        })
        .collect();
    let outputs: Vec<corpus::Output> = read_topic(&job.servers, &job.output, false)
        .into_iter()
        .map(|r| {
            let agg: TrafficAgg = serde_json::from_str(&r.value).expect("an output message is a window result");
            (agg.id, agg.window_start, agg.window_end, agg.page_views)
        })
        .collect();
    let late_records = read_topic_raw(&job.servers, &job.late, false);
    let replay = Replay {
        fed: (0..corpus.records.len()).collect(),
        counts: Counts {
            read: inputs.len() as u64,
            counted: outputs.iter().map(|o| o.3).sum(),
            late: late_records.len() as u64,
            dead_lettered: topic_end_total(&job.servers, &job.dlq) as u64,
            filtered: 0,
            open: open.len() as u64,
        },
        open,
        dead_letters,
        outputs,
    };
    corpus.check("traffic-agg", &replay);
    eprintln!(
        "traffic-agg: {} records produced in {produced:?}, all processed {processed:?} after the start",
        corpus.records.len()
    );
}
