//! The bad-input corpus of `ci/bad-input/`, loaded for a test: the recording as a runner reads it, what
//! becomes of each of its lines, and one check of what a runner did with it.
//!
//! Three test crates include this file by path (`simulator/tests/bad_input.rs`,
//! `testkit/tests/bad_input.rs`, `kafka/tests/bad_input_corpus.rs`), so that the `simulate` binary, a
//! `TestStream` and `traffic-agg` on a broker replay the same records and are held to the same
//! expectations. It uses only what all three crates depend on: `pipeline` and `serde_json`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use formats::jsonl::JsonlSource;

/// One window result, as every runner writes it: `(id, window_start, window_end, page_views)`.
pub type Output = (String, String, String, u64);

/// What a line of the recording must become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Not a record (an empty or whitespace-only line): a runner never sees it.
    Skipped,
    /// A visit, counted once in the window `window_start`..`window_end` of user `id`.
    Counted {
        /// The visit's user id, unique in the corpus.
        id: String,
        /// The start of the visit's window, as a runner writes it.
        window_start: String,
        /// The end of the visit's window.
        window_end: String,
    },
    /// A dead letter whose reason contains `reason`.
    DeadLettered {
        /// A substring of the reason: what is wrong and where.
        reason: String,
    },
}

/// One line of the recording and its expectation.
#[derive(Debug, Clone)]
pub struct Line {
    /// The 1-based line number.
    pub number: u64,
    /// What the line is, in words.
    pub case: String,
    /// What it must become.
    pub fate: Fate,
}

/// One record, as the line reader hands it to a pipeline: the line without its line break.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its 1-based line number.
    pub line: u64,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// The corpus, ready to replay.
pub struct Corpus {
    /// The recording with its template line expanded: the bytes a runner reads.
    pub input: Vec<u8>,
    /// Every line's expectation, by line number.
    pub lines: BTreeMap<u64, Line>,
    /// The records, in order (what `simulate` reads; a runner's position maps back to an index here).
    pub records: Vec<Record>,
}

/// The directory of the corpus, from a crate of the workspace.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/bad-input")
}

impl Corpus {
    /// Reads `recording.jsonl` and `expected.jsonl`, expands the template line, and checks that the
    /// expectations name every line once and that the lines they call skipped are exactly the ones the
    /// line reader skips.
    pub fn load() -> Corpus {
        let dir = corpus_dir();
        let recording = std::fs::read(dir.join("recording.jsonl")).expect("read ci/bad-input/recording.jsonl");
        let expected = std::fs::read_to_string(dir.join("expected.jsonl")).expect("read ci/bad-input/expected.jsonl");
        let mut lines = BTreeMap::new();
        let mut expansions = Vec::new();
        for (i, text) in expected.lines().enumerate() {
            let entry: serde_json::Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("expected.jsonl line {}: not JSON: {e}", i + 1));
            let field = |key: &str| -> String {
                entry[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("expected.jsonl line {}: no string `{key}`", i + 1))
                    .to_owned()
            };
            let number = entry["line"].as_u64().expect("every expectation has a `line`");
            assert_eq!(number, i as u64 + 1, "expected.jsonl names lines 1, 2, ... in order");
            let fate = match field("fate").as_str() {
                "skipped" => Fate::Skipped,
                "counted" => Fate::Counted {
                    id: field("id"),
                    window_start: field("window_start"),
                    window_end: field("window_end"),
                },
                "dead-lettered" => Fate::DeadLettered {
                    reason: field("reason"),
                },
                other => panic!("expected.jsonl line {number}: unknown fate {other:?}"),
            };
            if let Some(expand) = entry.get("expand") {
                let byte = expand["byte"].as_str().expect("`expand.byte`").as_bytes();
                assert_eq!(byte.len(), 1, "`expand.byte` is one ASCII character");
                expansions.push((
                    number,
                    expand["marker"].as_str().expect("`expand.marker`").to_owned(),
                    vec![byte[0]; expand["count"].as_u64().expect("`expand.count`") as usize],
                ));
            }
            lines.insert(
                number,
                Line {
                    number,
                    case: field("case"),
                    fate,
                },
            );
        }

        let mut physical: Vec<Vec<u8>> = recording.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        if physical.last().is_some_and(Vec::is_empty) {
            physical.pop();
        }
        assert_eq!(
            physical.len(),
            lines.len(),
            "expected.jsonl has one entry per line of recording.jsonl"
        );
        for (number, marker, with) in expansions {
            let line = &mut physical[number as usize - 1];
            let at = find(line, marker.as_bytes())
                .unwrap_or_else(|| panic!("line {number} holds the template marker {marker}"));
            line.splice(at..at + marker.len(), with);
        }
        let input = physical.join(&b'\n');
        let input = if recording.ends_with(b"\n") {
            [input, b"\n".to_vec()].concat()
        } else {
            input
        };

        let mut records = Vec::new();
        let mut reader = JsonlSource::from_reader("ci/bad-input/recording.jsonl", &input[..]);
        while let Some((line, payload)) = reader.next_line().expect("read the corpus") {
            records.push(Record {
                line,
                payload: payload.to_vec(),
            });
        }
        let read: Vec<u64> = records.iter().map(|r| r.line).collect();
        let not_skipped: Vec<u64> = lines
            .values()
            .filter(|l| l.fate != Fate::Skipped)
            .map(|l| l.number)
            .collect();
        assert_eq!(
            read, not_skipped,
            "the line reader skips exactly the lines expected.jsonl calls skipped"
        );
        Corpus { input, lines, records }
    }

    /// The expectation of record `index`.
    pub fn fate(&self, index: usize) -> &Fate {
        &self.lines[&self.records[index].line].fate
    }

    /// The line of record `index`, with its case, for a message.
    pub fn describe(&self, index: usize) -> String {
        let line = &self.lines[&self.records[index].line];
        format!("line {} ({})", line.number, line.case)
    }

    /// The window results the records at `indices` must give: one page view for each visit.
    pub fn expected_outputs(&self, indices: impl IntoIterator<Item = usize>) -> Vec<Output> {
        let mut outputs: Vec<Output> = indices
            .into_iter()
            .filter_map(|i| match self.fate(i) {
                Fate::Counted {
                    id,
                    window_start,
                    window_end,
                } => Some((id.clone(), window_start.clone(), window_end.clone(), 1)),
                _ => None,
            })
            .collect();
        outputs.sort();
        outputs
    }

    /// How many of the records are expected to be dead-lettered.
    pub fn dead_letter_count(&self) -> usize {
        (0..self.records.len())
            .filter(|&i| matches!(self.fate(i), Fate::DeadLettered { .. }))
            .count()
    }

    /// Checks what a runner did with the records at `replay.fed` and panics with every difference:
    /// each bad record dead-lettered once, with its expected reason and its original bytes; each visit
    /// counted once in its window (or, if the runner says so, still in an open window); nothing late or
    /// filtered; `read = counted + late + dead-lettered (+ open)`.
    pub fn check(&self, runner: &str, replay: &Replay) {
        let mut problems = Vec::new();
        let fed: std::collections::BTreeSet<usize> = replay.fed.iter().copied().collect();
        let mut dead_by_record: BTreeMap<usize, &DeadLetter> = BTreeMap::new();
        for dead in &replay.dead_letters {
            if !fed.contains(&dead.record) {
                problems.push(format!("a dead letter for record {} that was not fed", dead.record));
            } else if dead_by_record.insert(dead.record, dead).is_some() {
                problems.push(format!("{} is dead-lettered twice", self.describe(dead.record)));
            }
        }
        for &i in &replay.fed {
            match (self.fate(i), dead_by_record.get(&i)) {
                (Fate::DeadLettered { reason }, Some(dead)) => {
                    if !dead.reason.contains(reason.as_str()) {
                        problems.push(format!(
                            "{}:\n      reason   {}\n      expected {}",
                            self.describe(i),
                            dead.reason,
                            reason
                        ));
                    }
                    if dead.payload != self.records[i].payload {
                        problems.push(format!(
                            "{}: the dead letter holds {}, not the original {}",
                            self.describe(i),
                            show(&dead.payload),
                            show(&self.records[i].payload)
                        ));
                    }
                }
                (Fate::DeadLettered { .. }, None) => {
                    problems.push(format!("{} is not dead-lettered", self.describe(i)));
                }
                (_, Some(dead)) => problems.push(format!(
                    "{} is dead-lettered but should be counted: {}",
                    self.describe(i),
                    dead.reason
                )),
                (_, None) => {}
            }
        }
        let counted_records: Vec<usize> = replay
            .fed
            .iter()
            .copied()
            .filter(|i| matches!(self.fate(*i), Fate::Counted { .. }) && !replay.open.contains(i))
            .collect();
        let expected_outputs = self.expected_outputs(counted_records.iter().copied());
        let mut outputs = replay.outputs.clone();
        outputs.sort();
        if outputs != expected_outputs {
            let missing: Vec<&Output> = expected_outputs.iter().filter(|o| !outputs.contains(o)).collect();
            let extra: Vec<&Output> = outputs.iter().filter(|o| !expected_outputs.contains(o)).collect();
            problems.push(format!(
                "window results differ:\n      missing {missing:?}\n      extra   {extra:?}"
            ));
        }
        let expected_dead = replay
            .fed
            .iter()
            .filter(|i| matches!(self.fate(**i), Fate::DeadLettered { .. }))
            .count() as u64;
        let counts = replay.counts;
        let expected_counts = Counts {
            read: replay.fed.len() as u64,
            counted: counted_records.len() as u64,
            late: 0,
            dead_lettered: expected_dead,
            filtered: 0,
            open: replay.open.len() as u64,
        };
        if counts != expected_counts {
            problems.push(format!("counts {counts:?}, expected {expected_counts:?}"));
        }
        if counts.read != counts.counted + counts.late + counts.dead_lettered + counts.filtered + counts.open {
            problems.push(format!("the counts do not add up: {counts:?}"));
        }
        if !problems.is_empty() {
            let mut report = format!("{runner}: {} problems with the bad-input corpus\n", problems.len());
            for p in &problems {
                writeln!(report, "  - {p}").unwrap();
            }
            panic!("{report}");
        }
    }
}

/// A dead letter as a runner reported it, mapped back to the corpus.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The index of the record in [`Corpus::records`].
    pub record: usize,
    /// The reason the runner gave.
    pub reason: String,
    /// The bytes the runner kept.
    pub payload: Vec<u8>,
}

/// A runner's record counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read.
    pub read: u64,
    /// Records added to a window that fired.
    pub counted: u64,
    /// Records dropped as late.
    pub late: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Records the pipeline's filter rejected.
    pub filtered: u64,
    /// Valid records still in a window that has not fired (only a stream that never ends has them).
    pub open: u64,
}

/// What one runner did with the corpus.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The records it was given, as indices into [`Corpus::records`].
    pub fed: Vec<usize>,
    /// Records it reports as still in an open window (a subset of `fed`).
    pub open: Vec<usize>,
    /// Its dead letters.
    pub dead_letters: Vec<DeadLetter>,
    /// Its window results.
    pub outputs: Vec<Output>,
    /// Its counts.
    pub counts: Counts,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes for a message: their length and the first of them, escaped.
pub fn show(bytes: &[u8]) -> String {
    let head: String = bytes
        .iter()
        .take(60)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    format!(
        "{} bytes \"{head}{}\"",
        bytes.len(),
        if bytes.len() > 60 { "…" } else { "" }
    )
}
