//! The bad-input corpus (`ci/bad-input/`) through the `simulate` binary: every bad line in `--dlq-out`
//! with its reason and its original bytes (read back with `formats::dlq::read_dead_letter`), every visit
//! counted in its window, and the summary's `read = counted + late + dead-lettered`.

#[path = "../../ci/bad-input/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::process::Command;

use corpus::{Corpus, Counts, DeadLetter, Replay};
use pipeline::io::Position;
use pipeline::traffic::TrafficAgg;

/// The number after `label` in the summary line `check: read N = counted N + late N + dead-lettered N: ok`
/// (`+ filtered N` appears only when N > 0).
fn summary_count(summary: &str, label: &str) -> Option<u64> {
    let check = summary
        .lines()
        .find(|l| l.trim_start().starts_with("check: read"))
        .unwrap_or_else(|| panic!("no check line in the summary:\n{summary}"));
    let rest = &check[check.find(label)? + label.len()..];
    let number = rest.trim_start().split(|c: char| !c.is_ascii_digit()).next()?;
    Some(
        number
            .parse()
            .unwrap_or_else(|_| panic!("no number after {label:?} in {check:?}")),
    )
}

#[test]
fn every_line_of_the_bad_input_corpus_is_counted_or_dead_lettered_with_its_reason_and_original_bytes() {
    let corpus = Corpus::load();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad-input.jsonl");
    std::fs::write(&input, &corpus.input).unwrap();
    let (out, dlq, late) = (
        dir.path().join("out.jsonl"),
        dir.path().join("dlq.jsonl"),
        dir.path().join("late.jsonl"),
    );
    let run = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--file")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--dlq-out")
        .arg(&dlq)
        .arg("--late-out")
        .arg(&late)
        .output()
        .expect("simulate runs");
    let summary = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "simulate failed:\n{summary}");
    assert!(
        summary.contains("(recording)"),
        "a first line with a byte-order mark still makes a recording:\n{summary}"
    );
    assert!(summary.contains(": ok"), "{summary}");

    let record_at_line: BTreeMap<u64, usize> = corpus.records.iter().enumerate().map(|(i, r)| (r.line, i)).collect();
    let dead_letters = std::fs::read(&dlq)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let dead = formats::dlq::read_dead_letter(line).expect("a --dlq-out line reads back");
            let Position::Line { line } = dead.position else {
                panic!("a dead letter from a file has a line: {:?}", dead.position);
            };
            DeadLetter {
                record: *record_at_line
                    .get(&line)
                    .unwrap_or_else(|| panic!("a dead letter for line {line}, which is no record")),
                reason: dead.reason,
                payload: dead.payload,
            }
        })
        .collect();
    let outputs = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let agg: TrafficAgg = serde_json::from_str(l).expect("an output line is a window result");
            (agg.id, agg.window_start, agg.window_end, agg.page_views)
        })
        .collect();
    let replay = Replay {
        fed: (0..corpus.records.len()).collect(),
        open: Vec::new(),
        dead_letters,
        outputs,
        counts: Counts {
            read: summary_count(&summary, "read").expect("read"),
            counted: summary_count(&summary, "counted").expect("counted"),
            late: summary_count(&summary, "late").expect("late"),
            dead_lettered: summary_count(&summary, "dead-lettered").expect("dead-lettered"),
            filtered: summary_count(&summary, "filtered").unwrap_or(0),
            open: 0,
        },
    };
    assert_eq!(
        std::fs::read_to_string(&late).unwrap().lines().count() as u64,
        replay.counts.late,
        "--late-out holds every late record"
    );
    corpus.check("simulate", &replay);
}
