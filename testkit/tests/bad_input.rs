//! The bad-input corpus (`ci/bad-input/`) through a `TestStream`: each record a bundle of its own, as a
//! line of a recording is. A script carries records as JSON values (it is the scenario format), so
//! `add_raw_elements` refuses, with `ScriptError::Encode`, every record that is not JSON text; the others
//! must come out as in every runner: dead letters with their reasons and original bytes, visits counted
//! in their windows, and counts that add up.

#[path = "../../ci/bad-input/corpus.rs"]
mod corpus;

use corpus::{Corpus, Counts, DeadLetter, Fate, Replay};
use pipeline::io::Position;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use testkit::{ScriptError, TestStream};

/// Whether a script can carry `payload`: UTF-8 text that is one JSON value (what the scenario format
/// holds), by serde_json's reading, the one `add_raw_elements` uses.
fn is_json_text(payload: &[u8]) -> bool {
    std::str::from_utf8(payload).is_ok_and(|text| serde_json::from_str::<serde_json::Value>(text).is_ok())
}

#[test]
fn the_bad_input_corpus_through_a_test_stream_dead_letters_each_bad_record_with_its_reason_and_bytes() {
    let corpus = Corpus::load();
    let mut stream = TestStream::new();
    let mut fed = Vec::new();
    let mut refused = Vec::new();
    for (i, record) in corpus.records.iter().enumerate() {
        if is_json_text(&record.payload) {
            stream = stream.add_raw_elements([String::from_utf8(record.payload.clone()).unwrap()]);
            fed.push(i);
            continue;
        }
        if let Ok(text) = std::str::from_utf8(&record.payload) {
            match TestStream::new().add_raw_elements([text]).validate() {
                Err(ScriptError::Encode { message, .. }) if message.starts_with("not JSON") => {}
                other => panic!("{}: add_raw_elements gives {other:?}", corpus.describe(i)),
            }
        }
        refused.push(i);
    }
    stream.validate().expect("a script of JSON records is valid");
    // Only an unknown field nested deeper than serde_json's 128 levels keeps a valid visit out of a
    // script; `simulate` and the Kafka runner take that one.
    for &i in &refused {
        if let Fate::Counted { id, .. } = corpus.fate(i) {
            assert_eq!(
                id,
                "good-deep-extra",
                "{} is refused by add_raw_elements",
                corpus.describe(i)
            );
        }
    }

    let output = stream.run(&traffic_pipeline(TrafficConfig::default())).unwrap();
    let dead_letters = output
        .dead_letters
        .iter()
        .map(|dead| {
            let Position::Index { index } = dead.position else {
                panic!("a dead letter of a run has an index: {:?}", dead.position);
            };
            DeadLetter {
                record: fed[index as usize],
                reason: dead.reason.clone(),
                payload: dead.payload.clone(),
            }
        })
        .collect();
    let outputs = output
        .panes
        .iter()
        .map(|p| {
            let agg = &p.value;
            (
                agg.id.clone(),
                agg.window_start.clone(),
                agg.window_end.clone(),
                agg.page_views,
            )
        })
        .collect();
    let stats = output.stats;
    let replay = Replay {
        fed,
        open: Vec::new(),
        dead_letters,
        outputs,
        counts: Counts {
            read: stats.read,
            counted: stats.counted,
            late: stats.dropped_late,
            dead_lettered: stats.dead_lettered,
            filtered: stats.filtered,
            open: output.open_windows as u64,
        },
    };
    assert_eq!(output.late.len() as u64, stats.dropped_late);
    corpus.check("TestStream", &replay);
    eprintln!(
        "TestStream: {} of {} records carried ({} refused as not JSON text)",
        replay.fed.len(),
        corpus.records.len(),
        refused.len()
    );
}
