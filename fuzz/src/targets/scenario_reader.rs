//! Target `scenario_reader`: arbitrary bytes as a scenario file.
//!
//! Each line goes through [`parse_step`]; a step that parses must come back unchanged from its own line
//! form ([`scenario::step_line`]). The whole input is replayed as `simulate` replays a
//! scenario ([`ScenarioSource`] into the traffic pipeline with an explicit watermark), which must
//! either stop on a script error or read exactly the records of the steps before it and conserve them.
//! As text, the input goes through [`TestStream::from_scenario`]; a script that loads must survive
//! `to_scenario` and run to completion with nothing lost.

use arbitrary::{Result, Unstructured};
use formats::scenario::{self, parse_scenario_step, parse_step, ScenarioSource, ScenarioStep};
use pipeline::io::memory::MemorySink;
use pipeline::io::{DeadLetter, LateRecord};
use pipeline::time::Watermark;
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};
use pipeline::watermark::WatermarkStrategy;
use pipeline::{Position, ProcessingTimeRule, Step, WindowOutput};
use simulator::run::{simulate, SimulationError, SimulationOptions, Sinks};
use testkit::TestStream;

use crate::generate;

/// Step keys, watermark forms and numbers worth splicing into a scenario.
pub const DICTIONARY: &[&str] = &[
    "{\"event\": ",
    "{\"events\": [",
    "{\"watermark\": ",
    "{\"processing_time\": ",
    "{\"dropped_late\": ",
    "\"partition\": 0, \"offset\": ",
    "\"+inf\"",
    "\"inf\"",
    "\"-inf\"",
    "\"2024-04-28T23:13:00.000\"",
    "\"0000-01-01T00:00:00\"",
    "\"9999-12-31T23:59:59.999\"",
    "\"event_datetime\":",
    "0.0001",
    "0.0005",
    "1e300",
    "-1",
    "]}",
    "}\n",
    "\r\n",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        check_step_round_trip(line);
    }
    check_replay(data);
    if let Ok(text) = std::str::from_utf8(data) {
        check_test_stream(text);
    }
}

/// Parses one line, placing its records by index.
fn parse(line: &[u8]) -> std::result::Result<Step, String> {
    let mut index = 0;
    parse_step(line, || {
        index += 1;
        Position::Index { index: index - 1 }
    })
}

fn check_step_round_trip(line: &[u8]) {
    let Ok(step) = parse(line) else {
        return;
    };
    let written = scenario::step_line(&step);
    assert!(!written.contains('\n'), "a step's line form is one line: {written:?}");
    match parse(written.as_bytes()) {
        Ok(again) => assert_eq!(again, step, "the step changed through its line form {written:?}"),
        Err(e) => panic!("the line form {written:?} of a parsed step does not parse: {e}"),
    }
}

/// How many records a correct reader hands over before it stops, and whether it stops on an error:
/// blank lines are skipped, a trailing `\r` is not part of a line, and a step that does not parse or a
/// watermark that moves back ends the script.
fn expected_replay(data: &[u8]) -> (u64, bool) {
    let mut records = 0;
    let mut watermark = Watermark::MIN;
    for line in data.split_inclusive(|b| *b == b'\n') {
        let mut len = line.len();
        while len > 0 && matches!(line[len - 1], b'\n' | b'\r') {
            len -= 1;
        }
        let line = &line[..len];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let step = match parse_scenario_step(line, || Position::Index { index: 0 }) {
            Err(_) => return (records, true),
            // A record the recorded runtime dropped as late: read and reported late by the replay.
            Ok(ScenarioStep::DroppedLate { .. }) => {
                records += 1;
                continue;
            }
            Ok(ScenarioStep::Step { step, .. }) => step,
        };
        match step {
            Step::Bundle(records_of_step) => records += records_of_step.len() as u64,
            Step::Watermark(w) if w < watermark => return (records, true),
            Step::Watermark(w) => watermark = w,
            Step::ProcessingTime(_) => {}
        }
    }
    (records, false)
}

fn check_replay(data: &[u8]) {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let mut source = ScenarioSource::from_reader("fuzz input", data);
    let mut outputs = MemorySink::<WindowOutput<String, TrafficAgg>>::default();
    let mut late = MemorySink::<LateRecord>::default();
    let mut dead_letters = MemorySink::<DeadLetter>::default();
    let options = SimulationOptions {
        watermark: WatermarkStrategy::Explicit,
        disorder: None,
        processing_time: ProcessingTimeRule::Scripted,
        ..SimulationOptions::default()
    };
    let sinks = Sinks {
        outputs: &mut outputs,
        late: &mut late,
        dead_letters: &mut dead_letters,
    };
    let result = simulate(&pipeline, &mut source, &options, sinks, &mut |_| {});
    let (expected_records, expected_error) = expected_replay(data);
    match result {
        Ok(report) => {
            assert!(!expected_error, "the replay ran to the end past a bad step");
            let stats = report.stats;
            assert_eq!(stats.read, expected_records, "records read: {stats:?}");
            if let Err(lost) = stats.check_conservation() {
                panic!("{lost}");
            }
            assert_eq!(stats.dead_lettered, dead_letters.items.len() as u64);
            assert_eq!(stats.dropped_late, late.items.len() as u64);
            assert_eq!(stats.panes, outputs.items.len() as u64);
            let counted: u64 = outputs.items.iter().map(|o| o.value.page_views).sum();
            assert_eq!(counted, stats.counted, "discarding panes add up to the records counted");
        }
        Err(SimulationError::Source(error)) => {
            assert!(expected_error, "the replay stopped on a good script: {error}");
        }
        Err(other) => panic!("a memory sink cannot fail: {other}"),
    }
}

fn check_test_stream(text: &str) {
    let Ok(stream) = TestStream::from_scenario(text) else {
        return;
    };
    let written = stream.to_scenario();
    match TestStream::from_scenario(&written) {
        Ok(again) => assert_eq!(again, stream, "the script changed through to_scenario:\n{written}"),
        Err(e) => panic!("the scenario form of a loaded script does not load: {e}\n{written}"),
    }
    let output = stream
        .run(&traffic_pipeline(TrafficConfig::default()))
        .unwrap_or_else(|e| panic!("a script that loaded does not run: {e}"));
    if let Err(lost) = output.stats.check_conservation() {
        panic!("{lost}");
    }
    assert_eq!(output.open_windows, 0, "a window survived the end of the script");
}

/// One scenario line: a step, mostly well-formed.
pub fn step_line(u: &mut Unstructured<'_>, watermark: &mut String) -> Result<String> {
    Ok(match u.int_in_range(0..=11)? {
        0..=3 => format!("{{\"event\": {}}}", generate::visit_json(u)?),
        4 | 5 => {
            let n = u.int_in_range(0..=4)?;
            let events = (0..n).map(|_| generate::visit_json(u)).collect::<Result<Vec<_>>>()?;
            format!("{{\"events\": [{}]}}", events.join(", "))
        }
        6 | 7 => {
            // Mostly forward: a watermark generated afresh may well lie behind the previous one.
            let next = generate::datetime(u)?;
            if u.ratio(3, 4)? && next < *watermark {
                format!("{{\"watermark\": \"{watermark}\"}}")
            } else {
                *watermark = next.clone();
                format!(
                    "{{\"watermark\": {}}}",
                    serde_json::to_string(&next).expect("a string serializes")
                )
            }
        }
        8 => format!(
            "{{\"watermark\": \"{}\"}}",
            u.choose(&["+inf", "inf", "infinity", "+infinity", "-inf", ""])?
        ),
        9 => {
            let seconds = *u.choose(&[
                "5", "1", "0.5", "1.5", "0.0001", "0.0005", "1e300", "0", "-1", "\"5\"", "null",
            ])?;
            format!("{{\"processing_time\": {seconds}}}")
        }
        10 => (*u.choose(&[
            "{\"event\": {}, \"watermark\": \"2024-04-28T23:13:00\"}",
            "{\"wm\": \"2024-04-28T23:13:00\"}",
            "{}",
            "[]",
            "{\"events\": {}}",
            "{\"event\": }",
            "   ",
            "",
        ])?)
        .to_owned(),
        _ => String::from_utf8_lossy(&generate::raw_bytes(u, 40)?).into_owned(),
    })
}

/// A scenario of a few lines.
pub fn generate(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let lines = u.int_in_range(1..=8)?;
    let mut watermark = String::from("0000-01-01T00:00:00");
    let mut text = String::new();
    for _ in 0..lines {
        text.push_str(&step_line(u, &mut watermark)?);
        text.push_str(if u.ratio(1, 10)? { "\r\n" } else { "\n" });
    }
    Ok(text.into_bytes())
}
