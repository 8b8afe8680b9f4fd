//! `--explore-disorder N`: which windows of a recording depend on arrival order. The flag, its checks,
//! and the report; the exploration itself is [`simulator::sensitivity`].

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::error::ErrorKind;
use formats::scenario::InputFile;
use pipeline::combine::CombineFn;
use pipeline::io::{Source, Step};
use pipeline::watermark::WatermarkStrategy;
use pipeline::windowing::Windowing;
use pipeline::Pipeline;
use serde::Serialize;
use simulator::disorder::DisorderOptions;
use simulator::sensitivity::{explore_disorder, Exploration, ExploreOptions};

use crate::{Args, UsageError};

/// The disorder explored when neither `--reorder` nor `--late-fraction` is given.
const DEFAULT_REORDER: usize = 10;
const DEFAULT_LATE_FRACTION: f64 = 0.05;

/// The flag of the arrival-order exploration.
#[derive(Debug, clap::Args)]
pub struct ExploreDisorderArgs {
    /// Replay a recording undisturbed and under N seeded disorders (seeds from --seed on, within
    /// --reorder, --late-fraction and --late-by; when neither --reorder nor --late-fraction is given,
    /// --reorder 10 --late-fraction 0.05), and report each window whose panes change: the smallest
    /// seed, its panes against the undisturbed ones, the allowed lateness that would keep its records,
    /// and the command that replays that seed. Writes no outputs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub explore_disorder: Option<u64>,
}

fn refuse(message: String) -> anyhow::Error {
    UsageError {
        kind: ErrorKind::ArgumentConflict,
        message,
    }
    .into()
}

/// Checks the flags that cannot go with the exploration (exit 2).
fn check_flags(args: &Args, input: &InputFile) -> Result<()> {
    if input.is_scenario() {
        return Err(refuse(format!(
            "--explore-disorder reorders a recording's records; {} is a scenario script (--input-format \
             recording reads it as one)",
            args.file.display()
        )));
    }
    if args.cluster.requested() {
        return Err(refuse(
            "--explore-disorder replays the recording alone, not through a simulated cluster: drop the \
             cluster flags"
                .to_owned(),
        ));
    }
    let writes = [&args.out, &args.late_out, &args.dlq_out, &args.golden];
    if writes.iter().any(|w| w.is_some()) {
        return Err(refuse(
            "--explore-disorder writes no outputs: drop --out, --late-out, --dlq-out, --golden (the replay \
             command it prints takes them)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The bounds each seed draws within.
fn bounds(args: &Args) -> DisorderOptions {
    let given = args.reorder > 0 || args.late_fraction > 0.0;
    DisorderOptions {
        seed: args.seed,
        reorder: if given { args.reorder } else { DEFAULT_REORDER },
        late_fraction: if given {
            args.late_fraction
        } else {
            DEFAULT_LATE_FRACTION
        },
        late_by: args.late_by,
    }
}

/// Runs the exploration of `input` and prints its report on standard output.
pub fn run(
    args: &Args,
    input: &mut InputFile,
    query: Option<sql::SqlPipeline>,
    n: u64,
    windowing: &Windowing,
) -> Result<ExitCode> {
    check_flags(args, input)?;
    let mut steps: Vec<Step> = Vec::new();
    while let Some(step) = input.next_step().context("cannot read the input (--file)")? {
        steps.push(step);
    }
    let options = ExploreOptions {
        seeds: args.seed..args.seed.saturating_add(n),
        disorder: bounds(args),
        watermark: args
            .watermark
            .unwrap_or(WatermarkStrategy::Bounded(pipeline::watermark::DEFAULT_BOUND)),
    };
    let description = format!(
        "{} (recording, {} records), {}, watermark {}",
        args.file.display(),
        steps.len(),
        crate::describe_windowing(args, windowing),
        options.watermark
    );
    match query {
        Some(pipeline) => report(&pipeline, &steps, &options, args, &description),
        None => report(
            &pipeline::traffic::windowed_traffic_pipeline(windowing.strategy()),
            &steps,
            &options,
            args,
            &description,
        ),
    }
}

fn report<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    steps: &[Step],
    options: &ExploreOptions,
    args: &Args,
    description: &str,
) -> Result<ExitCode>
where
    K: Clone + Ord + std::hash::Hash,
    C: CombineFn + Clone,
    O: Serialize,
{
    let exploration = explore_disorder(pipeline, steps, options)?;
    let mut out = std::io::stdout().lock();
    print(&mut out, &exploration, options, args, description).context("cannot write the report")?;
    Ok(ExitCode::SUCCESS)
}

fn print<K>(
    out: &mut impl Write,
    exploration: &Exploration<K>,
    options: &ExploreOptions,
    args: &Args,
    description: &str,
) -> std::io::Result<()> {
    let d = &options.disorder;
    writeln!(
        out,
        "simulate: {description}; seeds {}..{}: records moved up to {} positions, {}% held back until the stream \
         is {} past them",
        options.seeds.start,
        options.seeds.end,
        d.reorder,
        d.late_fraction * 100.0,
        d.late_by
    )?;
    for change in &exploration.changes {
        writeln!(
            out,
            "window [{}, {}): changes under {} of {} seeds; smallest seed {}",
            change.window.start(),
            change.window.end(),
            change.seeds_changing,
            exploration.runs,
            change.first_seed
        )?;
        let panes = |lines: &[String]| match lines {
            [] => vec!["(no pane)".to_owned()],
            lines => lines.to_vec(),
        };
        for (i, line) in panes(&change.undisturbed).iter().enumerate() {
            writeln!(out, "  {:<13}{line}", if i == 0 { "undisturbed:" } else { "" })?;
        }
        let label = format!("seed {}:", change.first_seed);
        for (i, line) in panes(&change.disturbed).iter().enumerate() {
            writeln!(out, "  {:<13}{line}", if i == 0 { label.as_str() } else { "" })?;
        }
        match change.lateness_fix {
            Some(lateness) => writeln!(
                out,
                "  --allowed-lateness {lateness} keeps every record of it in every explored order"
            )?,
            None => writeln!(
                out,
                "  no record of it was dropped late: arrival order changes how its panes split, which no \
                 allowed lateness changes"
            )?,
        }
        writeln!(out, "  replay: {}", replay_command(args, change.first_seed, d))?;
    }
    writeln!(
        out,
        "explored {} seeds: {} of {} windows depend on arrival order",
        exploration.runs,
        exploration.changes.len(),
        exploration.windows
    )
}

/// `simulate` with this run's input and windowing, the seed and the bounds, with pane info: it prints
/// the panes the report shows for that seed.
fn replay_command(args: &Args, seed: u64, disorder: &DisorderOptions) -> String {
    let mut words = crate::pipeline_words(args);
    words.extend([
        "--pane-info".to_owned(),
        "--seed".to_owned(),
        seed.to_string(),
        "--reorder".to_owned(),
        disorder.reorder.to_string(),
        "--late-fraction".to_owned(),
        disorder.late_fraction.to_string(),
        "--late-by".to_owned(),
        disorder.late_by.to_string(),
    ]);
    words.join(" ")
}
