//! `--threads N` writes what one thread writes: the same panes in the same order, the same late records,
//! dead letters and summary, on the fixtures and on generated inputs of every windowing kind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use formats::jsonl::JsonlSource;
use pipeline::io::memory::{MemorySink, MemorySource};
use pipeline::io::{DeadLetter, LateRecord, Source, Step};
use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::traffic::{windowed_traffic_pipeline, TrafficAgg};
use pipeline::trigger::{ClosingBehavior, OnTimeBehavior};
use pipeline::watermark::WatermarkStrategy;
use pipeline::windowing::{WindowSpec, Windowing};
use pipeline::{ProcessingTimeRule, WindowOutput};
use proptest::prelude::*;
use simulator::{simulate_sharded, SimulationOptions, SimulationReport, Sinks};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the simulator crate sits in the workspace")
        .to_owned()
}

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(workspace_root())
        .args(args)
        .output()
        .expect("simulate runs")
}

#[test]
fn every_golden_case_on_two_and_three_threads_writes_the_golden_output_and_the_same_summary() {
    let root = workspace_root();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("ci/golden"))
        .expect("ci/golden exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "args"))
        .collect();
    cases.sort();
    let mut checked = 0;
    for case in &cases {
        let args = std::fs::read_to_string(case).expect("readable args");
        if args.contains("--reorder") || args.contains("--late-fraction") {
            continue;
        }
        let args: Vec<&str> = args.split_whitespace().collect();
        let golden = case.with_extension("jsonl");
        let golden = golden.to_str().expect("a UTF-8 path");
        let one = simulate(&[&args[..], &["--golden", golden]].concat());
        assert!(
            one.status.success(),
            "{case:?}: {}",
            String::from_utf8_lossy(&one.stderr)
        );
        for threads in ["2", "3"] {
            let many = simulate(&[&args[..], &["--golden", golden, "--threads", threads]].concat());
            assert!(
                many.status.success(),
                "{case:?} on {threads} threads: {}",
                String::from_utf8_lossy(&many.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&many.stderr),
                String::from_utf8_lossy(&one.stderr),
                "{case:?}: the summary on {threads} threads"
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} golden cases checked");
}

#[test]
fn the_bad_input_corpus_gives_the_same_dead_letters_and_late_records_on_two_threads() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let run = |threads: &str| {
        let [out, late, dlq] = ["out", "late", "dlq"].map(|n| dir.path().join(format!("{n}-{threads}.jsonl")));
        let output = simulate(&[
            "--file",
            "ci/bad-input/recording.jsonl",
            "--allowed-lateness",
            "5s",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
            "--late-out",
            late.to_str().unwrap(),
            "--dlq-out",
            dlq.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let read = |p: &Path| std::fs::read(p).expect("an output file");
        (read(&out), read(&late), read(&dlq), output.stderr)
    };
    let one = run("1");
    assert!(!one.2.is_empty(), "the corpus has dead letters");
    assert_eq!(run("2"), one);
}

#[test]
fn threads_are_refused_where_one_thread_is_the_only_schedule() {
    for extra in [
        &["--reorder", "3"][..],
        &["--late-fraction", "0.1"],
        &["--partitions", "2"],
    ] {
        let output = simulate(&[&["--file", "ci/visits.jsonl", "--threads", "2"], extra].concat());
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--threads"), "{extra:?}: {stderr}");
    }
    let output = simulate(&["--file", "ci/visits.jsonl", "--threads", "0"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Everything a run writes.
type Written = (
    Vec<WindowOutput<String, TrafficAgg>>,
    Vec<LateRecord>,
    Vec<DeadLetter>,
    SimulationReport,
);

fn run_library(windowing: &Windowing, options: &SimulationOptions, source: &mut dyn Source, threads: usize) -> Written {
    let pipeline = windowed_traffic_pipeline(windowing.strategy());
    let (mut outputs, mut late, mut dead) = (MemorySink::default(), MemorySink::default(), MemorySink::default());
    let sinks = Sinks {
        outputs: &mut outputs,
        late: &mut late,
        dead_letters: &mut dead,
    };
    let report = simulate_sharded(&pipeline, source, options, sinks, threads, &mut |_| {}).expect("a run");
    (outputs.items, late.items, dead.items, report)
}

fn visit(id: u8, millis: i64) -> String {
    let at = Timestamp::from_millis(1_714_345_960_000 + millis).format_millis();
    format!(
        r#"{{"ip":"1.2.3.4","id":"u{id}","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"{at}","event_ts":0}}"#
    )
}

/// A line of input: a visit (user, milliseconds after the start), or a bad record.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (0u8..9, 0i64..120_000).prop_map(|(id, ms)| visit(id, ms)),
        1 => Just("{\"id\": 1".to_owned()),
        1 => (0u8..9).prop_map(|id| visit(id, 0).replace("\"ip\":\"1.2.3.4\",", "")),
    ]
}

fn windowing() -> impl Strategy<Value = Windowing> {
    let windows = prop_oneof![
        Just("fixed:10s"),
        Just("sliding:30s,10s"),
        Just("sessions:5s"),
        Just("global")
    ];
    let trigger = prop_oneof![
        Just("DefaultTrigger.of()"),
        Just("AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterPane.elementCountAtLeast(2))"),
        Just("AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(3s)).withLateFirings(AfterPane.elementCountAtLeast(1))"),
        Just("Repeatedly.forever(AfterPane.elementCountAtLeast(3))"),
        Just("AfterPane.elementCountAtLeast(2)"),
    ];
    (
        windows,
        trigger,
        prop_oneof![Just(0i64), Just(20)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(windows, trigger, lateness, accumulating, fire_always)| Windowing {
            windows: windows.parse::<WindowSpec>().expect("a window spec"),
            allowed_lateness: Duration::seconds(lateness),
            accumulation: if accumulating {
                AccumulationMode::Accumulating
            } else {
                AccumulationMode::Discarding
            },
            trigger: trigger.parse().expect("a trigger"),
            closing_behavior: if fire_always {
                ClosingBehavior::FireAlways
            } else {
                ClosingBehavior::FireIfNonEmpty
            },
            on_time_behavior: OnTimeBehavior::FireAlways,
        })
}

fn watermark() -> impl Strategy<Value = WatermarkStrategy> {
    prop_oneof![
        Just(WatermarkStrategy::Bounded(Duration::seconds(2))),
        Just(WatermarkStrategy::Bounded(Duration::ZERO)),
        Just(WatermarkStrategy::Perfect),
    ]
}

/// A scripted step: a bundle of lines, a watermark step or a processing-time step.
#[derive(Debug, Clone)]
enum Scripted {
    Bundle(Vec<String>),
    Watermark(i64),
    ProcessingTime(i64),
}

fn scripted() -> impl Strategy<Value = Scripted> {
    prop_oneof![
        6 => proptest::collection::vec(line(), 0..5).prop_map(Scripted::Bundle),
        1 => (0i64..120_000).prop_map(Scripted::Watermark),
        1 => (1i64..5_000).prop_map(Scripted::ProcessingTime),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_recording_on_several_threads_writes_what_one_thread_writes(
        lines in proptest::collection::vec(line(), 0..300),
        windowing in windowing(),
        watermark in watermark(),
        threads in 2usize..5,
        part in 1usize..4,
    ) {
        // Steps fired whole on one thread; in parts of `part` windows on one thread and on several.
        let whole = SimulationOptions {
            watermark,
            disorder: None,
            processing_time: ProcessingTimeRule::FollowsEventTime,
            firing_part: usize::MAX,
        };
        let in_parts = SimulationOptions { firing_part: part, ..whole };
        let text = lines.join("\n");
        let run = |threads, options: &SimulationOptions| {
            let mut source = JsonlSource::from_reader("test", text.as_bytes());
            run_library(&windowing, options, &mut source, threads)
        };
        let one = run(1, &whole);
        prop_assert_eq!(run(1, &in_parts), one.clone());
        prop_assert_eq!(run(threads, &in_parts), one);
    }

    #[test]
    fn a_script_on_several_threads_writes_what_one_thread_writes(
        steps in proptest::collection::vec(scripted(), 0..80),
        windowing in windowing(),
        watermark in prop_oneof![Just(WatermarkStrategy::Explicit), Just(WatermarkStrategy::Bounded(Duration::seconds(1)))],
        threads in 2usize..4,
        part in 1usize..4,
    ) {
        let whole = SimulationOptions {
            watermark,
            disorder: None,
            processing_time: ProcessingTimeRule::Scripted,
            firing_part: usize::MAX,
        };
        let in_parts = SimulationOptions { firing_part: part, ..whole };
        let source = || {
            let mut source = MemorySource::new();
            for step in &steps {
                match step {
                    Scripted::Bundle(lines) => source.push_bundle(lines.iter().map(String::as_str)),
                    Scripted::Watermark(ms) => source.push(Step::Watermark(Watermark::at(Timestamp::from_millis(1_714_345_960_000 + ms)))),
                    Scripted::ProcessingTime(ms) => source.push(Step::ProcessingTime(Duration::millis(*ms))),
                };
            }
            source
        };
        let one = run_library(&windowing, &whole, &mut source(), 1);
        prop_assert_eq!(run_library(&windowing, &in_parts, &mut source(), 1), one.clone());
        prop_assert_eq!(run_library(&windowing, &in_parts, &mut source(), threads), one);
    }
}

/// A reader that gives `ok` bytes of `data`, then fails: a file that becomes unreadable part way.
struct FailingAfter {
    data: std::io::Cursor<Vec<u8>>,
    ok: u64,
}

impl std::io::Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.ok.saturating_sub(self.data.position());
        if left == 0 {
            return Err(std::io::Error::other("the disk went away"));
        }
        let n = buf.len().min(left as usize);
        self.data.read(&mut buf[..n])
    }
}

#[test]
fn a_read_error_ends_every_thread_count_with_the_error_after_a_prefix_of_one_threads_output() {
    // 40,000 visits of 9 users over about 11 hours: more than two batches of the sharded run.
    let input: String = (0..40_000i64).map(|i| visit((i % 9) as u8, i * 1_000) + "\n").collect();
    let fail_at = input.len() as u64 * 9 / 10;
    let run = |threads: usize| {
        let reader = FailingAfter {
            data: std::io::Cursor::new(input.clone().into_bytes()),
            ok: fail_at,
        };
        let mut source = JsonlSource::from_reader("visits.jsonl", std::io::BufReader::with_capacity(4096, reader));
        let pipeline = pipeline::traffic::traffic_pipeline(pipeline::traffic::TrafficConfig::default());
        let (mut outputs, mut late, mut dead) = (MemorySink::default(), MemorySink::default(), MemorySink::default());
        let sinks = Sinks {
            outputs: &mut outputs,
            late: &mut late,
            dead_letters: &mut dead,
        };
        let result = simulate_sharded(
            &pipeline,
            &mut source,
            &SimulationOptions::default(),
            sinks,
            threads,
            &mut |_| {},
        );
        let error = result.expect_err("the read error ends the run").to_string();
        (error, outputs.items)
    };
    let (one_error, one) = run(1);
    assert!(one_error.contains("the disk went away"), "{one_error}");
    assert!(
        one.len() > 1_000,
        "one thread wrote its panes before the error: {}",
        one.len()
    );
    for threads in [2, 3] {
        let (error, many) = run(threads);
        assert_eq!(error, one_error, "{threads} threads");
        // Whole batches before the error are written; the batch being read when it came is not.
        assert!(!many.is_empty(), "{threads} threads wrote the batches before the error");
        assert_eq!(
            many[..],
            one[..many.len()],
            "{threads} threads wrote a prefix of what one thread wrote"
        );
    }
}
