//! `simulate`'s cluster mode: the recording through a simulated Kafka cluster running the real consumer
//! core, one run from a fault seed or plan, or an exploration of many seeds (see `simulator::cluster`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::error::ErrorKind;
use formats::dlq::ReportLines;
use formats::scenario::InputFile;
use indicatif::{ProgressBar, ProgressStyle};
use kafka_core::KafkaOutput;
use pipeline::combine::CombineFn;
use pipeline::io::{DeadLetter, LateRecord, Position, Sink, Source, Step};
use pipeline::time::{Timestamp, Watermark};
use pipeline::watermark::WatermarkStrategy;
use pipeline::windowing::Windowing;
use pipeline::Pipeline;
use simulator::cluster::{
    self, run_cluster, ClusterOptions, ClusterReport, Exploration, FaultPlan, Pace, ReportedRecord,
};

use crate::{commit, create, Args, UsageError};

/// The flags of the cluster mode.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Simulated Kafka cluster")]
pub struct ClusterArgs {
    /// Run the recording through a simulated Kafka cluster whose input topic has N partitions
    /// (records keyed by `id`, as datagen does) [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub partitions: Option<u32>,

    /// traffic-agg instances in the consumer group [default: 2]
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub instances: Option<u32>,

    /// Outputs and offsets in Kafka transactions; the output is what a read_committed reader sees
    #[arg(long)]
    pub exactly_once: bool,

    /// Seed of the simulated world (latencies, restarts) and of the fault plan it draws [default: 0,
    /// with no faults]
    #[arg(long, value_name = "S")]
    pub fault_seed: Option<u64>,

    /// Run exactly these faults, e.g. 'crash(1,37);outage(12s,8s)' (what a failing seed prints),
    /// instead of the plan --fault-seed draws; `none` for none
    #[arg(long, value_name = "PLAN")]
    pub faults: Option<FaultPlan>,

    /// Explore N fault seeds (from --fault-seed on): report every seed that breaks an invariant, with
    /// a minimal fault plan and the command that replays it
    #[arg(long, value_name = "N")]
    pub explore: Option<u64>,

    /// Crash each instance at every action boundary of the fault-free run in turn (small inputs)
    #[arg(long, conflicts_with = "explore")]
    pub exhaustive: bool,

    /// When the input reaches the topic: recorded (as its event times say, live) or burst (all at once)
    #[arg(long, value_name = "PACE", default_value = "recorded")]
    pub pace: Pace,

    /// The broker drops offset-commit metadata (as tansu does): restarts lose their checkpoints
    #[arg(long)]
    pub drop_commit_metadata: bool,

    /// Threads. A replay decodes on N threads and splits the keys among N windowing cores, with the
    /// output, its order and the summary of one thread [default: 1]; --explore runs seeds on N threads
    /// [default: 2]. Not with other cluster runs, --reorder or --late-fraction.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,

    /// Print what happened (assignments, commits, crashes, what became visible) on standard error
    #[arg(long)]
    pub trace: bool,
}

impl ClusterArgs {
    /// True when a flag of the cluster mode was given.
    pub fn requested(&self) -> bool {
        self.partitions.is_some()
            || self.instances.is_some()
            || self.exactly_once
            || self.fault_seed.is_some()
            || self.faults.is_some()
            || self.explore.is_some()
            || self.exhaustive
            || self.drop_commit_metadata
            || self.trace
    }

    /// The flags of `simulate` besides these that a replay must repeat.
    fn options(&self, args: &Args) -> ClusterOptions {
        let mut core = kafka_core::CoreConfig::default();
        if let Some(WatermarkStrategy::Bounded(bound)) = args.watermark {
            core.max_out_of_orderness = bound;
        }
        ClusterOptions {
            #[cfg(feature = "mutations")]
            mutation: mutation_from_env(),
            partitions: self.partitions.unwrap_or(3) as usize,
            instances: self.instances.unwrap_or(2) as usize,
            exactly_once: self.exactly_once,
            core,
            pace: self.pace,
            drop_commit_metadata: self.drop_commit_metadata,
            seed: self.fault_seed.unwrap_or(0),
            plan: self.faults.clone().unwrap_or_default(),
            trace: self.trace,
        }
    }
}

/// The mutation test's switch: `SIMULATE_MUTATION` names a deliberately broken consumer core, in builds
/// with the `mutations` feature only (never in a release binary).
#[cfg(feature = "mutations")]
fn mutation_from_env() -> Option<kafka_core::Mutation> {
    use kafka_core::Mutation;
    match std::env::var("SIMULATE_MUTATION").ok()?.as_str() {
        "commit-one-too-far" => Some(Mutation::CommitOneTooFar),
        "skip-checkpoint" => Some(Mutation::SkipCheckpoint),
        "commit-before-acknowledgement" => Some(Mutation::CommitBeforeAcknowledgement),
        other => panic!("unknown SIMULATE_MUTATION {other:?}"),
    }
}

/// Flags that make no sense in cluster mode: a usage error naming them.
pub fn check_flags(args: &Args, input: &InputFile, windowing: &Windowing) -> Result<()> {
    let refuse = |message: String| -> Result<()> {
        Err(UsageError {
            kind: ErrorKind::ArgumentConflict,
            message,
        }
        .into())
    };
    if input.is_scenario() {
        return refuse(format!(
            "the cluster mode replays recordings, and {} is a scenario script",
            args.file.display()
        ));
    }
    if matches!(
        args.watermark,
        Some(WatermarkStrategy::Explicit | WatermarkStrategy::Perfect)
    ) {
        return refuse(
            "in cluster mode the watermark is the Kafka runner's (per partition, bounded); only \
             --watermark bounded:D applies"
                .to_owned(),
        );
    }
    if args.reorder > 0 || args.late_fraction > 0.0 {
        return refuse(
            "--reorder and --late-fraction do not apply in cluster mode: arrival order is the cluster's".to_owned(),
        );
    }
    if let Some(problem) = windowing.unbounded_input_problem() {
        return refuse(format!(
            "in cluster mode the input is a Kafka topic, unbounded: {problem}"
        ));
    }
    if args.pane_info {
        return refuse("--pane-info does not apply in cluster mode: Kafka messages carry no pane".to_owned());
    }
    if args.cluster.threads.is_some() && args.cluster.explore.is_none() {
        return refuse(
            "--threads in cluster mode applies to --explore only: one simulated cluster runs its consumers in \
             one deterministic schedule"
                .to_owned(),
        );
    }
    if args.cluster.explore.is_some() || args.cluster.exhaustive {
        if args.cluster.faults.is_some() {
            return refuse("--faults replays one plan; --explore and --exhaustive draw their own".to_owned());
        }
        let writes = [&args.out, &args.late_out, &args.dlq_out, &args.golden];
        if writes.iter().any(|w| w.is_some()) {
            return refuse(
                "--explore and --exhaustive write no outputs: drop --out, --late-out, --dlq-out, --golden".to_owned(),
            );
        }
    }
    Ok(())
}

/// Every record of the recording, in file order (the cluster's input topic must hold them all).
pub fn read_records(input: &mut InputFile) -> Result<Vec<Vec<u8>>> {
    let mut records = Vec::new();
    while let Some(step) = input.next_step().context("cannot read the input (--file)")? {
        if let Step::Bundle(bundle) = step {
            records.extend(bundle.into_iter().map(|r| r.payload));
        }
    }
    Ok(records)
}

/// Runs the cluster mode on `records`.
pub fn run<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    records: &[Vec<u8>],
    args: &Args,
    description: &str,
) -> Result<ExitCode>
where
    K: Clone + Ord + std::hash::Hash,
    C: CombineFn + Clone,
    O: KafkaOutput,
    Pipeline<E, K, C, O>: Sync,
{
    let cluster = &args.cluster;
    let mut options = cluster.options(args);
    let mode = format!(
        "cluster: {} partitions, {} instances, {}, pace {}{}",
        options.partitions,
        options.instances,
        if options.exactly_once {
            "exactly once"
        } else {
            "at least once"
        },
        match options.pace {
            Pace::Recorded => "recorded",
            Pace::Burst => "burst",
        },
        if options.drop_commit_metadata {
            ", commit metadata dropped"
        } else {
            ""
        }
    );
    if let Some(n) = cluster.explore {
        let first = cluster.fault_seed.unwrap_or(0);
        let seeds = first..first.saturating_add(n);
        let bar = progress(n, args.quiet);
        let exploration = cluster::explore(
            pipeline,
            records,
            &options,
            seeds,
            cluster.threads.unwrap_or(2) as usize,
            &|_, _| {
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            },
        );
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        return Ok(print_exploration(&exploration, args, description, &mode, "seeds"));
    }
    if cluster.exhaustive {
        let exploration = cluster::exhaustive(pipeline, records, &options);
        return Ok(print_exploration(&exploration, args, description, &mode, "runs"));
    }
    if let (Some(seed), None) = (cluster.fault_seed, &cluster.faults) {
        // The plan this seed draws, exactly as --explore would run it.
        let baseline = cluster::explore::baseline(pipeline, records, &options);
        options.plan = FaultPlan::draw(seed, &baseline.baseline, options.exactly_once);
    }
    let report = run_cluster(pipeline, records, &options);
    if cluster.trace {
        for line in &report.trace {
            eprintln!("trace {line}");
        }
    }
    let written = write_outputs(&report, args)?;
    if !args.quiet || report.violation.is_some() {
        print_summary(&report, args, description, &mode, options.seed);
    }
    Ok(if report.violation.is_some() {
        ExitCode::from(1)
    } else {
        written
    })
}

fn progress(n: u64, quiet: bool) -> Option<ProgressBar> {
    (!quiet && std::io::stderr().is_terminal()).then(|| {
        ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{spinner} seed {pos}/{len} {wide_bar} {eta}").expect("a valid template"),
        )
    })
}

fn write_outputs(report: &ClusterReport, args: &Args) -> Result<ExitCode> {
    let mut fanout = crate::output_fanout(args)?;
    for value in &report.output {
        fanout.write_all(value)?;
        fanout.write_all(b"\n")?;
    }
    let mut late = match &args.late_out {
        Some(path) => Some(ReportLines::new(
            path.display().to_string(),
            create(path, "--late-out")?,
        )),
        None => None,
    };
    let mut dead = match &args.dlq_out {
        Some(path) => Some(ReportLines::new(path.display().to_string(), create(path, "--dlq-out")?)),
        None => None,
    };
    if let Some(sink) = &mut late {
        for record in &report.late {
            sink.write(&late_record(record))?;
        }
    }
    if let Some(sink) = &mut dead {
        for record in &report.dead_letters {
            sink.write(&dead_letter(record))?;
        }
    }
    if let Some(sink) = late {
        commit(sink.into_inner(), "--late-out")?;
    }
    if let Some(sink) = dead {
        commit(sink.into_inner(), "--dlq-out")?;
    }
    crate::finish_fanout(fanout, args, report.output.len() as u64)
}

fn position(record: &ReportedRecord) -> Position {
    let (partition, offset) = record.source().unwrap_or((-1, -1));
    Position::Offset { partition, offset }
}

/// A message of the dead-letter topic as a line of `--dlq-out`: the same record a real broker's DLQ holds.
fn dead_letter(record: &ReportedRecord) -> DeadLetter {
    DeadLetter {
        position: position(record),
        reason: record.header("reason").unwrap_or_default(),
        payload: record.value.clone(),
    }
}

fn instant(text: Option<String>) -> Timestamp {
    match text.as_deref() {
        Some("+inf") => Timestamp::MAX,
        Some(text) => Timestamp::parse_datetime(text).unwrap_or(Timestamp::MIN),
        None => Timestamp::MIN,
    }
}

fn late_record(record: &ReportedRecord) -> LateRecord {
    LateRecord {
        position: position(record),
        event_time: instant(record.header("event_time")),
        watermark: Watermark::at(instant(record.header("watermark"))),
        reason: record.header("reason").unwrap_or_default(),
        payload: record.value.clone(),
    }
}

/// The command that replays `plan` with `seed`, byte for byte.
fn replay_command(args: &Args, seed: u64, plan: &FaultPlan) -> String {
    let mut words = crate::pipeline_words(args);
    let cluster = &args.cluster;
    words.extend([
        "--partitions".to_owned(),
        cluster.partitions.unwrap_or(3).to_string(),
        "--instances".to_owned(),
        cluster.instances.unwrap_or(2).to_string(),
    ]);
    if cluster.exactly_once {
        words.push("--exactly-once".to_owned());
    }
    if cluster.pace == Pace::Burst {
        words.extend(["--pace".to_owned(), "burst".to_owned()]);
    }
    if cluster.drop_commit_metadata {
        words.push("--drop-commit-metadata".to_owned());
    }
    words.extend([
        "--fault-seed".to_owned(),
        seed.to_string(),
        "--faults".to_owned(),
        format!("'{plan}'"),
    ]);
    words.join(" ")
}

fn print_summary(report: &ClusterReport, args: &Args, description: &str, mode: &str, seed: u64) {
    let s = &report.stats;
    eprintln!("simulate: {description}");
    eprintln!("  {mode}, fault seed {seed}, faults {}", report.plan);
    eprintln!("  input records    {:>10}", s.input_records);
    eprintln!("  output records   {:>10}", report.output.len());
    eprintln!("  dead letters     {:>10}", report.dead_letters.len());
    eprintln!("  late records     {:>10}", report.late.len());
    eprintln!(
        "  crashes          {:>10}  ({} on a fatal error)",
        s.crashes, s.fatal_errors
    );
    eprintln!("  rebalances       {:>10}", s.rebalances);
    eprintln!("  commits          {:>10}", s.commits);
    if args.cluster.exactly_once {
        eprintln!(
            "  transactions     {:>10}  ({} aborted)",
            s.transactions, s.aborted_transactions
        );
    }
    eprintln!("  records fetched  {:>10}", s.records_received);
    eprintln!(
        "  steps            {:>10}  ({:.1} s of virtual time)",
        s.steps,
        s.duration_ms as f64 / 1000.0
    );
    match &report.violation {
        None => eprintln!(
            "  checks after every step: committed offsets never go back, {}counts add up, watermarks never go \
             back; at the end: dead letters are exactly the undecodable records, {}: ok",
            match (args.cluster.exactly_once, report.rules.one_value_per_key) {
                (true, _) => "each window, dead letter and late record visible once, ",
                (false, true) => "one value per (key, window), ",
                (false, false) => "",
            },
            report.rules
        ),
        Some(v) => {
            eprintln!("  VIOLATION: {v}");
            eprintln!("  replay: {} --trace", replay_command(args, seed, &report.plan));
        }
    }
}

fn print_exploration(exploration: &Exploration, args: &Args, description: &str, mode: &str, unit: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "simulate: {description}; {mode}");
    for finding in &exploration.findings {
        let _ = writeln!(out, "seed {}: {}", finding.seed, finding.violation);
        let _ = writeln!(out, "  drawn plan:   {}", finding.drawn);
        let _ = writeln!(out, "  minimal plan: {}", finding.minimal);
        let _ = writeln!(
            out,
            "  replay: {}",
            replay_command(args, finding.seed, &finding.minimal)
        );
    }
    let _ = writeln!(
        out,
        "explored {} {unit}: {} violations",
        exploration.runs,
        exploration.findings.len()
    );
    if exploration.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
