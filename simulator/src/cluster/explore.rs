//! The seed explorer: many fault plans, each drawn from a seed, run on the simulated cluster; every seed
//! that breaks an invariant is shrunk to a minimal plan and reported with the command that replays it.
//!
//! A run is a pure function of (input, options, seed, plan), so a finding replays byte for byte from its
//! seed and plan alone. Shrinking leaves faults out one at a time while the run still breaks an invariant,
//! until no single fault can go (a 1-minimal plan). The exhaustive mode crashes one instance at every
//! action boundary of a fault-free run in turn, before and after the action: for small inputs it covers
//! every place a crash can strike.

use std::hash::Hash;

use kafka_core::KafkaOutput;
use pipeline::combine::CombineFn;
use pipeline::Pipeline;

use super::faults::{Fault, FaultPlan};
use super::invariants::Violation;
use super::world::{run_cluster, ClusterOptions, ClusterReport};

/// A seed whose plan broke an invariant.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The seed (of the plan and of the world).
    pub seed: u64,
    /// The plan the seed drew.
    pub drawn: FaultPlan,
    /// The smallest plan found that still breaks an invariant.
    pub minimal: FaultPlan,
    /// What the minimal plan breaks.
    pub violation: Violation,
}

/// What an exploration found.
#[derive(Debug, Clone, Default)]
pub struct Exploration {
    /// Seeds (or plans, in the exhaustive mode) run.
    pub runs: u64,
    /// Every seed that broke an invariant, in seed order.
    pub findings: Vec<Finding>,
}

/// Runs one plan; `None` when every invariant held.
fn violation_of<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: &[Vec<u8>],
    options: &ClusterOptions,
    seed: u64,
    plan: &FaultPlan,
) -> Option<Violation>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    let options = ClusterOptions {
        seed,
        plan: plan.clone(),
        ..options.clone()
    };
    run_cluster(pipeline, input, &options).violation
}

/// Shrinks `plan` (which breaks an invariant with `seed`) to a 1-minimal plan that still does.
pub fn shrink<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: &[Vec<u8>],
    options: &ClusterOptions,
    seed: u64,
    plan: FaultPlan,
    violation: Violation,
) -> (FaultPlan, Violation)
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    let (mut plan, mut violation) = (plan, violation);
    'smaller: loop {
        for candidate in plan.smaller() {
            if let Some(v) = violation_of(pipeline, input, options, seed, &candidate) {
                plan = candidate;
                violation = v;
                continue 'smaller;
            }
        }
        return (plan, violation);
    }
}

/// The fault-free run that plans are drawn against.
pub fn baseline<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: &[Vec<u8>],
    options: &ClusterOptions,
) -> ClusterReport
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    let options = ClusterOptions {
        plan: FaultPlan::default(),
        ..options.clone()
    };
    run_cluster(pipeline, input, &options)
}

/// Runs the plans of `seeds` on `threads` threads and shrinks every failing one. `on_seed(seed,
/// violation)` is called for each seed as it finishes (in no particular order across threads).
pub fn explore<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: &[Vec<u8>],
    options: &ClusterOptions,
    seeds: std::ops::Range<u64>,
    threads: usize,
    on_seed: &(dyn Fn(u64, Option<&Violation>) + Sync),
) -> Exploration
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
    Pipeline<E, K, C, O>: Sync,
{
    let base = baseline(pipeline, input, options);
    if let Some(violation) = base.violation {
        // Broken without any fault: no seed can do better.
        return Exploration {
            runs: 1,
            findings: vec![Finding {
                seed: options.seed,
                drawn: FaultPlan::default(),
                minimal: FaultPlan::default(),
                violation,
            }],
        };
    }
    let threads = threads.max(1);
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let found = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= seeds.end {
                    break;
                }
                let plan = FaultPlan::draw(seed, &base.baseline, options.exactly_once);
                let violation = violation_of(pipeline, input, options, seed, &plan);
                on_seed(seed, violation.as_ref());
                if let Some(violation) = violation {
                    let (minimal, violation) = shrink(pipeline, input, options, seed, plan.clone(), violation);
                    found.lock().unwrap_or_else(|e| e.into_inner()).push(Finding {
                        seed,
                        drawn: plan,
                        minimal,
                        violation,
                    });
                }
            });
        }
    });
    let mut findings = found.into_inner().unwrap_or_else(|e| e.into_inner());
    findings.sort_by_key(|f| f.seed);
    Exploration {
        runs: seeds.end.saturating_sub(seeds.start),
        findings,
    }
}

/// Crashes each instance at every action boundary of the fault-free run in turn (before and after the
/// action), one crash per run.
pub fn exhaustive<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: &[Vec<u8>],
    options: &ClusterOptions,
) -> Exploration
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
{
    let base = baseline(pipeline, input, options);
    let mut exploration = Exploration {
        runs: 1,
        findings: Vec::new(),
    };
    if let Some(violation) = base.violation {
        exploration.findings.push(Finding {
            seed: options.seed,
            drawn: FaultPlan::default(),
            minimal: FaultPlan::default(),
            violation,
        });
        return exploration;
    }
    for (instance, &actions) in base.baseline.actions.iter().enumerate() {
        for action in 0..actions {
            for after in [false, true] {
                let plan = FaultPlan {
                    faults: vec![Fault::Crash {
                        instance,
                        action,
                        after,
                    }],
                };
                exploration.runs += 1;
                if let Some(violation) = violation_of(pipeline, input, options, options.seed, &plan) {
                    exploration.findings.push(Finding {
                        seed: options.seed,
                        drawn: plan.clone(),
                        minimal: plan,
                        violation,
                    });
                }
            }
        }
    }
    exploration
}
