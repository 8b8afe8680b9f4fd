//! Proof that the simulator can fail: a consumer core with a deliberate bug (feature `mutations`, never in a
//! release build) is caught by the explorer within a stated number of seeds, and the failing seed replays
//! exactly from the command it prints. Run with `cargo test --workspace --features simulator/mutations --test
//! mutations` (the test command does).
#![cfg(feature = "mutations")]

use std::process::Command;

use kafka_core::Mutation;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use simulator::cluster::{explore, run_cluster, ClusterOptions};

fn recording() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

/// The first seed (of `seeds`) whose plan catches `mutation`, and the invariant it broke.
fn caught_within(mutation: Mutation, exactly_once: bool, seeds: u64) -> (u64, &'static str) {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = ClusterOptions {
        exactly_once,
        mutation: Some(mutation),
        ..ClusterOptions::default()
    };
    let exploration = explore(&pipeline, &recording(), &options, 0..seeds, 2, &|_, _| {});
    let finding = exploration
        .findings
        .first()
        .unwrap_or_else(|| panic!("{mutation:?} (exactly once: {exactly_once}) survived {seeds} seeds"));
    // The minimal plan still catches it, on its own.
    let replay = ClusterOptions {
        seed: finding.seed,
        plan: finding.minimal.clone(),
        ..options
    };
    let report = run_cluster(&pipeline, &recording(), &replay);
    assert_eq!(report.violation.as_ref(), Some(&finding.violation));
    (finding.seed, finding.violation.invariant)
}

#[test]
fn committing_one_offset_too_far_is_caught_within_five_seeds() {
    for exactly_once in [false, true] {
        let (seed, invariant) = caught_within(Mutation::CommitOneTooFar, exactly_once, 5);
        eprintln!("commit one too far (exactly once: {exactly_once}): seed {seed}, {invariant}");
    }
}

#[test]
fn skipping_the_checkpoint_is_caught_within_five_seeds() {
    for exactly_once in [false, true] {
        let (seed, invariant) = caught_within(Mutation::SkipCheckpoint, exactly_once, 5);
        eprintln!("skip the checkpoint (exactly once: {exactly_once}): seed {seed}, {invariant}");
    }
}

#[test]
fn committing_before_the_delivery_reports_is_caught_within_one_hundred_seeds() {
    // Only at least once: exactly once, outputs and offsets commit together whatever the acknowledgements.
    let (seed, invariant) = caught_within(Mutation::CommitBeforeAcknowledgement, false, 100);
    eprintln!("commit before acknowledgement: seed {seed}, {invariant}");
}

#[test]
fn a_failing_seed_prints_a_minimal_plan_and_a_command_that_replays_it_byte_for_byte() {
    let simulate = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_simulate"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("SIMULATE_MUTATION", "skip-checkpoint")
            .args(args)
            .output()
            .unwrap()
    };
    let explored = simulate(&["--file", "ci/visits.jsonl", "--explore", "3"]);
    let report = String::from_utf8(explored.stdout).unwrap();
    assert_eq!(explored.status.code(), Some(1), "{report}");
    assert!(
        report.trim_end().ends_with("explored 3 seeds: 2 violations"),
        "{report}"
    );
    let replay = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: simulate "))
        .expect("a replay command");
    // The printed command is one shell line; run it as the shell would (the plan is single-quoted).
    let words: Vec<String> = replay.split(' ').map(|w| w.trim_matches('\'').to_owned()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let first = simulate(&words);
    let second = simulate(&words);
    assert_eq!(first.status.code(), Some(1));
    assert_eq!(
        first.stdout, second.stdout,
        "the replay's output is the same every time"
    );
    assert_eq!(first.stderr, second.stderr);
    let summary = String::from_utf8(first.stderr).unwrap();
    let violation = report.lines().next().map(|l| l.to_owned());
    assert!(summary.contains("VIOLATION"), "{summary}");
    assert!(violation.is_some());
}
