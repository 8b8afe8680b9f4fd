//! The `datagen` binary: flags reach the library unchanged, the seed is printed first, and mistakes fail
//! with a clear message and exit code 2. Sending to Kafka is tested in `tests/kafka.rs`.

use std::process::{Command, Output};

use datagen::{Generator, GeneratorConfig};
use pipeline::time::Duration;

fn datagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_datagen"))
        .args(args)
        .output()
        .expect("the datagen binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn library(config: GeneratorConfig) -> Vec<u8> {
    let mut out = Vec::new();
    Generator::new(config).unwrap().write_jsonl(&mut out).unwrap();
    out
}

#[test]
fn stdout_is_the_library_output_and_the_seed_comes_first() {
    let output = datagen(&[
        "--num-users",
        "7",
        "--events",
        "500",
        "--seed",
        "9",
        "--jitter",
        "2s",
        "--late-fraction",
        "0.1",
        "--late-by",
        "1m",
        "--malformed-fraction",
        "0.05",
        "--empty-coords-fraction",
        "0.2",
        "--mean-gap",
        "150ms",
        "--start",
        "2024-05-01T00:00:00",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = library(GeneratorConfig {
        seed: 9,
        num_users: 7,
        events: 500,
        start: "2024-05-01T00:00:00.000".parse().unwrap(),
        mean_gap: Duration::millis(150),
        jitter: Duration::seconds(2),
        late_fraction: 0.1,
        late_by: Duration::minutes(1),
        malformed_fraction: 0.05,
        empty_coords_fraction: 0.2,
    });
    assert!(output.stdout == expected, "binary and library differ");
    let err = stderr(&output);
    assert_eq!(err.lines().next(), Some("datagen: seed 9"), "{err}");
    assert!(err.contains("datagen: wrote 500 lines to stdout"), "{err}");
}

#[test]
fn the_seed_spellings_are_accepted_and_delay_seconds_is_the_mean_gap() {
    let seed_style = datagen(&[
        "--num_users",
        "5",
        "--delay_seconds",
        "0.5",
        "--source",
        "batch",
        "--events",
        "50",
    ]);
    let ours = datagen(&["--num-users", "5", "--mean-gap", "500ms", "--events", "50"]);
    assert!(seed_style.status.success(), "{}", stderr(&seed_style));
    assert_eq!(seed_style.stdout, ours.stdout);
    assert!(stderr(&seed_style).contains("--delay-seconds 0.5 is the mean gap (500ms) in batch mode"));
    let dashed = datagen(&["--num-users", "5", "--delay-seconds", "0.5", "--events", "50"]);
    assert_eq!(dashed.stdout, ours.stdout);
}

#[test]
fn out_writes_the_same_bytes_as_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.jsonl");
    let to_file = datagen(&["--events", "300", "--out", path.to_str().unwrap()]);
    assert!(to_file.status.success(), "{}", stderr(&to_file));
    assert!(to_file.stdout.is_empty());
    let to_stdout = datagen(&["--events", "300"]);
    assert_eq!(std::fs::read(&path).unwrap(), to_stdout.stdout);
    assert!(stderr(&to_file).contains(&format!("to {}", path.display())));
}

#[test]
fn kafka_flags_used_without_kafka_or_with_a_file_are_usage_errors() {
    for args in [
        &["--replay", "visits.jsonl"][..],
        &["--pace", "recorded"],
        &["--to", "kafka", "--out", "visits.jsonl"],
        &["--source", "streaming", "--out", "visits.jsonl"],
        &["--to", "kafka", "--pace", "slow"],
    ] {
        let output = datagen(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn usage_mistakes_exit_2_and_io_failures_exit_1() {
    for args in [
        &["--late-fraction", "1.5"][..],
        &["--num-users", "0"],
        &["--jitter", "3"],
        &["--delay-seconds", "-1"],
        &["--mean-gap", "1s", "--delay-seconds", "1"],
        &["--start", "yesterday"],
        &["--seed", "-4"],
    ] {
        let output = datagen(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty());
    }
    let output = datagen(&["--out", "/nonexistent-dir/visits.jsonl"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("creating /nonexistent-dir/visits.jsonl"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
