//! The bad-input corpus (`ci/bad-input/`) through a `TestStream`: each record a bundle of its own, as a
//! line of a recording is, added byte for byte with `add_raw_elements` (a script keeps any bytes: the
//! scenario format writes a record that is no JSON value as text or base64). Every record must come out as
//! in every runner: dead letters with their reasons and original bytes, visits counted in their windows,
//! and counts that add up; and the script must survive its scenario form.

#[path = "../../ci/bad-input/corpus.rs"]
mod corpus;

use corpus::{Corpus, Counts, DeadLetter, Replay};
use pipeline::io::Position;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use testkit::TestStream;

#[test]
fn the_bad_input_corpus_through_a_test_stream_dead_letters_each_bad_record_with_its_reason_and_bytes() {
    let corpus = Corpus::load();
    let mut stream = TestStream::new();
    let mut fed = Vec::new();
    for (i, record) in corpus.records.iter().enumerate() {
        stream = stream.add_raw_elements([record.payload.clone()]);
        fed.push(i);
    }
    stream.validate().expect("a script of raw records is valid");
    let text = stream.to_scenario();
    assert_eq!(
        TestStream::from_scenario(&text).unwrap(),
        stream,
        "the script reads back from its scenario form, every byte of every record"
    );

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
}
