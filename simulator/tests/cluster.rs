//! The Kafka runtime's guarantees, tested on the simulated cluster: the real consumer core under thousands
//! of seeded fault plans (crashes at any action, rebalances, delivery, commit and transaction errors, broker
//! outages, redelivered fetches), each run checking its invariants after every step (see
//! `simulator::cluster::invariants`). These replace the slow, wall-clock-bound crash, exactly-once,
//! scale-out and broker-fault tests that used to need a real broker.

use std::collections::{BTreeMap, BTreeSet};

use pipeline::strategy::WindowingStrategy;
use pipeline::time::Duration;
use pipeline::traffic::{traffic_pipeline, windowed_traffic_pipeline, TrafficConfig};
use pipeline::window::SlidingWindows;
use simulator::cluster::{exhaustive, explore, run_cluster, ClusterOptions, Fault, FaultPlan, Pace};

/// The bundled recording (5,000 visits, 32 malformed), or its first `n` records.
fn recording(n: usize) -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

fn assert_no_violation(what: &str, options: &ClusterOptions, input: &[Vec<u8>], seeds: u64) {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let exploration = explore(&pipeline, input, options, 0..seeds, 2, &|_, _| {});
    assert_eq!(exploration.runs, seeds);
    if let Some(f) = exploration.findings.first() {
        panic!(
            "{what}: {} of {seeds} seeds break an invariant; seed {}: {}\n  minimal plan: {}\n  replay: simulate \
             --file ci/visits.jsonl --partitions {} --instances {} --fault-seed {} --faults '{}'",
            exploration.findings.len(),
            f.seed,
            f.violation,
            f.minimal,
            options.partitions,
            options.instances,
            f.seed,
            f.minimal
        );
    }
}

#[test]
fn a_fault_free_run_equals_the_reference_with_every_bad_record_dead_lettered() {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let report = run_cluster(&pipeline, &recording(5_000), &ClusterOptions::default());
    assert_eq!(report.violation, None);
    assert_eq!(report.dead_letters.len(), 32, "the recording has 32 malformed lines");
    assert_eq!(report.stats.records_received, 5_000, "each record read once");
    assert_eq!(report.output.len(), 952);
}

#[test]
fn sliding_windows_equal_the_reference_whatever_order_the_partitions_are_read_in() {
    // A record belongs to two windows; the partition watermark may have passed one of them and not the
    // other. Which one it joins must depend on the partition's records only, never on how the reads of the
    // partitions interleaved, so the output equals a reference built from each partition alone.
    let strategy = WindowingStrategy::new(SlidingWindows::of(Duration::seconds(20), Duration::seconds(10)));
    let pipeline = windowed_traffic_pipeline(strategy);
    let input = recording(5_000);
    for (partitions, instances) in [(3, 2), (4, 3)] {
        let options = ClusterOptions {
            partitions,
            instances,
            ..ClusterOptions::default()
        };
        let report = run_cluster(&pipeline, &input, &options);
        assert!(report.rules.output_equals_reference, "{}", report.rules);
        assert_eq!(report.violation, None, "{partitions} partitions, {instances} instances");
        assert!(
            report.late.len() > 10,
            "the recording has whole-late records: {}",
            report.late.len()
        );
    }
    let exploration = explore(
        &pipeline,
        &input[..600],
        &ClusterOptions::default(),
        0..200,
        2,
        &|_, _| {},
    );
    if let Some(f) = exploration.findings.first() {
        panic!(
            "sliding windows: seed {} breaks {}; minimal plan {}",
            f.seed, f.violation, f.minimal
        );
    }
}

#[test]
fn thousands_of_fault_plans_at_least_once_break_no_invariant() {
    let options = ClusterOptions::default();
    assert_no_violation("at least once", &options, &recording(600), 2_000);
}

#[test]
fn fault_plans_on_the_whole_recording_break_no_invariant() {
    assert_no_violation(
        "at least once, 5,000 visits",
        &ClusterOptions::default(),
        &recording(5_000),
        100,
    );
}

#[test]
fn exactly_once_a_read_committed_reader_sees_every_window_once_under_any_plan() {
    let options = ClusterOptions {
        exactly_once: true,
        ..ClusterOptions::default()
    };
    assert_no_violation("exactly once", &options, &recording(600), 1_000);
}

#[test]
fn a_backlog_read_after_the_fact_breaks_no_invariant() {
    let options = ClusterOptions {
        pace: Pace::Burst,
        partitions: 4,
        instances: 3,
        ..ClusterOptions::default()
    };
    assert_no_violation("burst, 4 partitions, 3 instances", &options, &recording(1_000), 500);
}

#[test]
fn with_allowed_lateness_every_window_is_emitted_at_least_once() {
    let pipeline = traffic_pipeline(TrafficConfig {
        allowed_lateness: pipeline::time::Duration::seconds(30),
        ..TrafficConfig::default()
    });
    let input = recording(600);
    let exploration = explore(&pipeline, &input, &ClusterOptions::default(), 0..300, 2, &|_, _| {});
    assert!(exploration.findings.is_empty(), "{:?}", exploration.findings.first());
}

#[test]
fn on_a_broker_that_drops_commit_metadata_the_weaker_rule_holds_and_the_strong_one_does_not() {
    let options = ClusterOptions {
        drop_commit_metadata: true,
        ..ClusterOptions::default()
    };
    let input = recording(600);
    assert_no_violation("metadata dropped (weaker rule)", &options, &input, 500);
    // The checkpoint is what keeps a restarted window's value: without it, a restart re-emits windows that
    // straddle the committed offset with partial counts.
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let input = recording(5_000);
    let values_per_window = |drop_commit_metadata: bool| -> usize {
        let options = ClusterOptions {
            seed: 294,
            plan: "delivery-error(222)".parse().unwrap(),
            drop_commit_metadata,
            ..ClusterOptions::default()
        };
        let report = run_cluster(&pipeline, &input, &options);
        assert_eq!(report.violation, None);
        let mut by_window: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in &report.output {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            let key = format!("{} {}", v["id"], v["window_start"]);
            by_window.entry(key).or_default().insert(v["page_views"].to_string());
        }
        by_window.values().map(BTreeSet::len).max().unwrap()
    };
    assert_eq!(values_per_window(false), 1);
    assert!(
        values_per_window(true) > 1,
        "without checkpoints a window got a second, partial value"
    );
}

#[test]
fn crashing_at_every_action_boundary_loses_nothing_and_changes_no_value() {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = ClusterOptions {
        partitions: 2,
        instances: 2,
        ..ClusterOptions::default()
    };
    let exploration = exhaustive(&pipeline, &recording(120), &options);
    assert!(
        exploration.runs > 200,
        "crashes before and after every action: {} runs",
        exploration.runs
    );
    assert!(exploration.findings.is_empty(), "{:?}", exploration.findings.first());
}

#[test]
fn exactly_once_crashing_at_every_action_boundary_shows_every_window_once() {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = ClusterOptions {
        partitions: 2,
        instances: 2,
        exactly_once: true,
        ..ClusterOptions::default()
    };
    let exploration = exhaustive(&pipeline, &recording(80), &options);
    assert!(exploration.findings.is_empty(), "{:?}", exploration.findings.first());
}

#[test]
fn a_new_owner_waits_for_offsets_that_an_undecided_transaction_holds() {
    // Found by `--explore 10000 --exactly-once` (seed 5635): instance 0 sends its offsets to a transaction,
    // asks to commit it and crashes; the group hands its partitions to instance 1 before the commit lands.
    // Resuming from the offsets before that transaction would emit its windows a second time, so the new
    // owner waits for stable offsets, as Kafka's `require_stable` offset fetch (KIP-447) makes it.
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = ClusterOptions {
        partitions: 3,
        instances: 2,
        exactly_once: true,
        seed: 5635,
        plan: "txn-error(1967);crash(1,680,after);crash(0,2154,after);delivery-error(808)"
            .parse()
            .unwrap(),
        trace: true,
        ..ClusterOptions::default()
    };
    let report = run_cluster(&pipeline, &recording(5_000), &options);
    assert_eq!(report.violation, None);
    assert!(
        report.trace.iter().any(|line| line.contains("waits for the offsets")),
        "the plan no longer hands partitions over while a transaction holds their offsets"
    );
}

#[test]
fn a_broker_outage_longer_than_the_idle_timeout_makes_nothing_late() {
    // The broker stops answering for 60 s (six idle timeouts) in the middle of the stream. A partition that
    // cannot be fetched is not idle: the watermark waits, and what arrives after the outage is on time.
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let input = recording(5_000);
    let quiet = run_cluster(&pipeline, &input, &ClusterOptions::default());
    let outage = ClusterOptions {
        plan: "outage(300s,60s)".parse().unwrap(),
        ..ClusterOptions::default()
    };
    let stormy = run_cluster(&pipeline, &input, &outage);
    assert_eq!(stormy.violation, None);
    assert_eq!(stormy.late.len(), quiet.late.len(), "the outage made records late");
    let sorted = |mut v: Vec<Vec<u8>>| {
        v.sort();
        v
    };
    assert_eq!(sorted(stormy.output), sorted(quiet.output));
}

#[test]
fn scale_out_emits_the_same_windows_whatever_the_number_of_instances() {
    // Lateness is judged per partition, so with the same partitions the windows do not depend on how many
    // instances share them, or on rebalances as instances come and go.
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let input = recording(5_000);
    let run = |instances: usize, plan: &str| {
        let options = ClusterOptions {
            partitions: 6,
            instances,
            plan: plan.parse().unwrap(),
            ..ClusterOptions::default()
        };
        let report = run_cluster(&pipeline, &input, &options);
        assert_eq!(report.violation, None, "{instances} instances, {plan}");
        report.output.into_iter().collect::<BTreeSet<_>>()
    };
    let one = run(1, "none");
    assert_eq!(run(3, "none"), one);
    assert_eq!(run(3, "rebalance(0,200s);crash(2,300);rebalance(1,500s)"), one);
}

#[test]
fn the_same_seed_and_plan_replay_byte_for_byte() {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = ClusterOptions {
        seed: 7,
        plan: "crash(1,40);outage(100s,20s);delivery-error(30);redeliver(50)"
            .parse()
            .unwrap(),
        trace: true,
        ..ClusterOptions::default()
    };
    let input = recording(1_000);
    let first = run_cluster(&pipeline, &input, &options);
    let second = run_cluster(&pipeline, &input, &options);
    assert_eq!(first.output, second.output);
    assert_eq!(first.trace, second.trace);
    assert_eq!(first.stats, second.stats);
    assert!(
        first.stats.crashes >= 2,
        "the crash and the fatal delivery error: {:?}",
        first.stats
    );
}

#[test]
fn dead_letters_in_cluster_mode_carry_the_same_reasons_and_bytes_as_simulate() {
    use pipeline::io::Record;
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let input = recording(5_000);
    let report = run_cluster(&pipeline, &input, &ClusterOptions::default());
    let mut single = pipeline.start();
    let mut emitted = pipeline::Emitted::default();
    for (i, payload) in input.iter().enumerate() {
        let position = pipeline::io::Position::Index { index: i as u64 };
        single.process_bundle(vec![Record::new(payload.clone(), position)], &mut emitted);
    }
    let expected: BTreeSet<(Vec<u8>, String)> = emitted
        .dead_letters
        .into_iter()
        .map(|d| (d.payload, d.reason))
        .collect();
    let actual: BTreeSet<(Vec<u8>, String)> = report
        .dead_letters
        .iter()
        .map(|d| (d.value.clone(), d.header("reason").unwrap()))
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn a_fault_plan_names_each_fault_it_injects() {
    let plan: FaultPlan = "crash(0,3,after);commit-error(2)".parse().unwrap();
    assert_eq!(
        plan.faults,
        vec![
            Fault::Crash {
                instance: 0,
                action: 3,
                after: true
            },
            Fault::CommitError { commit: 2 }
        ]
    );
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = ClusterOptions {
        plan,
        ..ClusterOptions::default()
    };
    let report = run_cluster(&pipeline, &recording(300), &options);
    assert_eq!(report.violation, None);
    assert_eq!(report.stats.crashes, 1);
}
