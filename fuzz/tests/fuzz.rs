//! The fuzz targets as part of `cargo test`: every checked-in corpus and regression file is replayed,
//! then the mutation loop runs a fixed number of inputs per target from a fixed seed. The loop itself
//! is tested too: it saves and counts a panicking input, stops on a hang with the input saved, and
//! repeats itself for the same seed; the generators get past the parsers they feed.
//!
//! `FUZZ_TEST_INPUTS` sets the number of loop inputs per target (default 1000).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use arbitrary::Unstructured;
use fuzz_targets::engine::{self, Budget, LoopOptions};
use fuzz_targets::{Target, TARGETS};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn shown(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(&input[..input.len().min(1000)]).into_owned();
    format!("{text:?}{}", if input.len() > 1000 { " (cut)" } else { "" })
}

#[test]
fn every_corpus_and_regression_file_replays_without_a_panic() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for target in TARGETS {
        let corpus = fuzz_targets::input_files(&fuzz_targets::corpus_dir(target.name)).unwrap();
        assert!(
            corpus.len() >= 10,
            "{}: the corpus has only {} files",
            target.name,
            corpus.len()
        );
        let regressions = fuzz_targets::input_files(&fuzz_targets::regressions_dir(target.name)).unwrap();
        for file in corpus.iter().chain(&regressions) {
            let input = std::fs::read(file).unwrap();
            replayed += 1;
            if let Err(message) = engine::run_one(target, &input) {
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} files panic:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn inputs_per_target() -> u64 {
    std::env::var("FUZZ_TEST_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

fn short_run(name: &str) {
    let target = fuzz_targets::target(name).unwrap();
    let options = LoopOptions {
        seed: 20240428,
        budget: Budget {
            time: None,
            inputs: Some(inputs_per_target()),
        },
        // Generous: a debug build on a busy machine must never be taken for a hang.
        hang_timeout: Duration::from_secs(120),
        artifacts: fuzz_targets::artifacts_dir(name),
        seeds: vec![fuzz_targets::corpus_dir(name), fuzz_targets::regressions_dir(name)],
        max_len: 4096,
        verbose: false,
    };
    let report = engine::run_loop(target, &options).unwrap();
    let crashes: Vec<String> = report
        .crashes
        .iter()
        .map(|c| {
            format!(
                "{}\n  input saved to {}: {}",
                c.message,
                c.artifact.display(),
                shown(&std::fs::read(&c.artifact).unwrap_or_default())
            )
        })
        .collect();
    assert_eq!(report.panics, 0, "{report}\n{}", crashes.join("\n"));
    assert_eq!(report.inputs, inputs_per_target());
}

macro_rules! short_runs {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            short_run(stringify!($name));
        }
    )*};
}

mod a_short_seeded_loop_finds_nothing_in {
    use super::short_run;
    short_runs!(
        visit_decoder,
        scenario_reader,
        durations_and_datetimes,
        sql_compiler,
        golden_reader,
        kafka_message
    );
}

#[test]
fn every_target_has_a_libfuzzer_entry_point() {
    let dir = fuzz_targets::fuzz_dir().join("libfuzzer");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for target in TARGETS {
        let entry = std::fs::read_to_string(dir.join("fuzz_targets").join(format!("{}.rs", target.name))).unwrap();
        assert!(
            entry.contains(&format!("fuzz_targets::targets::{}::run(data)", target.name)),
            "{}",
            target.name
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name)),
            "{} is not a [[bin]]",
            target.name
        );
        let dict = dir.join("dict").join(format!("{}.dict", target.name));
        assert_eq!(
            std::fs::read_to_string(&dict).unwrap_or_default(),
            fuzz_targets::libfuzzer_dictionary(target),
            "{} is stale: regenerate it with `cargo run -p fuzz-targets --bin fuzz-loop -- dict {} > {}`",
            dict.display(),
            target.name,
            dict.display()
        );
    }
}

/// Panics on inputs containing `!`; counts every input it sees.
static SEEN_BY_PICKY: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static PICKY: Target = Target {
    name: "picky",
    run: |data| {
        SEEN_BY_PICKY.lock().unwrap().push(data.to_vec());
        assert!(!data.contains(&b'!'), "picky saw a '!'");
    },
    generate: |u| u.arbitrary::<Vec<u8>>(),
    dictionary: &["!"],
};

fn picky_options(seed: u64, artifacts: &Path, seeds: Vec<PathBuf>) -> LoopOptions {
    LoopOptions {
        seed,
        budget: Budget {
            time: None,
            inputs: Some(300),
        },
        hang_timeout: Duration::from_secs(120),
        artifacts: artifacts.to_owned(),
        seeds,
        max_len: 64,
        verbose: false,
    }
}

#[test]
fn the_loop_counts_panics_saves_one_input_per_place_and_repeats_itself_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds");
    std::fs::create_dir(&seeds).unwrap();
    std::fs::write(seeds.join("a"), b"hello").unwrap();
    let artifacts = dir.path().join("artifacts");

    let run = |seed| {
        SEEN_BY_PICKY.lock().unwrap().clear();
        let report = engine::run_loop(&PICKY, &picky_options(seed, &artifacts, vec![seeds.clone()])).unwrap();
        (report, std::mem::take(&mut *SEEN_BY_PICKY.lock().unwrap()))
    };
    let (report, seen) = run(7);
    assert_eq!(report.inputs, 300);
    assert_eq!(seen.len(), 300);
    assert_eq!(seen[0], b"hello", "the seeds run first, as they are");
    let expected_panics = seen.iter().filter(|i| i.contains(&b'!')).count() as u64;
    assert!(expected_panics > 0, "the dictionary token was never inserted");
    assert_eq!(report.panics, expected_panics);
    assert_eq!(
        report.crashes.len(),
        1,
        "one panic location, one saved input: {:?}",
        report.crashes
    );
    let saved = std::fs::read(&report.crashes[0].artifact).unwrap();
    assert!(saved.contains(&b'!'));
    assert!(
        report.crashes[0].message.contains("picky saw a '!'"),
        "{}",
        report.crashes[0].message
    );
    assert!(
        report.crashes[0].message.contains("fuzz.rs"),
        "the location is kept: {}",
        report.crashes[0].message
    );

    let (_, again) = run(7);
    assert_eq!(again, seen, "the same seed tries the same inputs");
    let (_, other) = run(8);
    assert_ne!(other, seen, "another seed tries other inputs");
}

#[test]
fn a_hanging_input_is_saved_and_stops_the_run_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fuzz-loop"))
        .args([
            "run",
            "selftest-hang",
            "--time",
            "10m",
            "--seed",
            "3",
            "--hang-timeout",
            "200ms",
            "--artifacts",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(engine::HANG_EXIT_STATUS), "{stderr}");
    assert!(
        stderr.starts_with("fuzz-loop: seed 3 (repeat with --seed 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("an input ran longer than 0.2 s"), "{stderr}");
    assert!(
        stdout.contains("selftest-hang: ") && stdout.contains(", 1 hangs, "),
        "{stdout}"
    );
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].to_string_lossy().starts_with("hang-"), "{saved:?}");
}

#[test]
fn a_panicking_target_exits_1_and_prints_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fuzz-loop"))
        .args(["run", "selftest-panic", "--runs", "5", "--seed", "1", "--artifacts"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("selftest-panic: 5 inputs in ") && stdout.contains(", 5 panics, 0 hangs, "),
        "{stdout}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_fuzz-loop"))
        .args(["run", "nothing"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown target \"nothing\""));
}

/// The share of `count` generated inputs that `accepted` takes.
fn acceptance(target: &Target, count: usize, accepted: impl Fn(&[u8]) -> bool) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut bytes = vec![0u8; 2048];
    let mut hits = 0;
    for _ in 0..count {
        let len = rng.random_range(0..=bytes.len());
        rng.fill(&mut bytes[..len]);
        let input = (target.generate)(&mut Unstructured::new(&bytes[..len])).unwrap();
        if accepted(&input) {
            hits += 1;
        }
    }
    hits as f64 / count as f64
}

#[test]
fn the_generators_get_past_the_parsers() {
    let t = |name| fuzz_targets::target(name).unwrap();
    let visits = acceptance(t("visit_decoder"), 300, |i| {
        pipeline::event::VisitEvent::from_json(i).is_ok()
    });
    let queries = acceptance(t("sql_compiler"), 300, |i| {
        sql::compile(std::str::from_utf8(i).unwrap(), sql::SqlOptions::default()).is_ok()
    });
    let scenarios = acceptance(t("scenario_reader"), 300, |i| {
        testkit::TestStream::from_scenario(std::str::from_utf8(i).unwrap_or("")).is_ok()
    });
    let datetimes = acceptance(t("durations_and_datetimes"), 300, |i| {
        let text = std::str::from_utf8(i).unwrap_or("");
        pipeline::time::Timestamp::parse_datetime(text).is_ok()
            || text.trim().parse::<pipeline::time::Duration>().is_ok()
    });
    let checkpoints = acceptance(t("kafka_message"), 300, |i| {
        let line = i.split(|b| *b == b'\n').next().unwrap();
        kafka_core::ledger::Checkpoint::decode(&String::from_utf8_lossy(line)).is_some()
    });
    let shares = format!(
        "visits {visits:.2}, queries {queries:.2}, scenarios {scenarios:.2}, datetimes/durations {datetimes:.2}, checkpoints {checkpoints:.2}"
    );
    assert!(visits > 0.3, "{shares}");
    assert!(queries > 0.2, "{shares}");
    assert!(scenarios > 0.2, "{shares}");
    assert!(datetimes > 0.4, "{shares}");
    assert!(checkpoints > 0.3, "{shares}");
    // And not everything: near misses exercise the error paths.
    assert!(
        visits < 0.95 && queries < 0.95 && scenarios < 0.95 && datetimes < 0.95,
        "{shares}"
    );
}
