//! `fuzz-loop`: runs the seeded mutation loop on one target or all, or replays saved inputs.
//!
//! The seed is printed first and accepted back with `--seed`. One summary line per target goes to
//! standard output at the end: inputs tried, time, panics, hangs and corpus size. Exit status: 0 when
//! nothing panicked, 1 when something did, 2 for bad flags, 70 when an input hung (the run stops there).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use fuzz_targets::engine::{self, Budget, LoopOptions};
use fuzz_targets::{Target, TARGETS};

#[derive(Parser)]
#[command(
    name = "fuzz-loop",
    about = "Seeded structure-aware mutation fuzzing of the workspace's parsers and readers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fuzz a target (or `all`, one after the other) for a time or a number of inputs.
    Run {
        /// A target name (see `list`) or `all`.
        target: String,
        /// How long to run each target: 500ms, 30s, 10m, 2h.
        #[arg(long, default_value = "1m", value_parser = parse_duration)]
        time: std::time::Duration,
        /// Stop each target after this many inputs (whichever comes first with --time).
        #[arg(long)]
        runs: Option<u64>,
        /// The seed of every random choice; printed first. Default: from the clock.
        #[arg(long)]
        seed: Option<u64>,
        /// An input running longer than this is a hang: it is saved and the process exits with status 70.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        hang_timeout: std::time::Duration,
        /// The longest input tried, in bytes.
        #[arg(long, default_value_t = 4096)]
        max_len: usize,
        /// Where to save inputs that panicked or hung (default: fuzz/artifacts/<target>).
        #[arg(long)]
        artifacts: Option<PathBuf>,
    },
    /// Runs saved inputs through a target, letting a panic print as usual (set RUST_BACKTRACE=1).
    Replay {
        /// The target name.
        target: String,
        /// Input files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Lists the targets.
    List,
    /// Prints a target's dictionary in libFuzzer's format (the files in fuzz/libfuzzer/dict/).
    Dict {
        /// The target name.
        target: String,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let d: pipeline::time::Duration = text.parse().map_err(|e| format!("{e}"))?;
    Ok(std::time::Duration::from_millis(d.as_millis().max(0) as u64))
}

/// Targets that exist only to test the loop itself: one that always panics, one that never returns.
const SELF_TESTS: &[Target] = &[
    Target {
        name: "selftest-panic",
        run: |_| panic!("selftest-panic always panics"),
        generate: |_| Ok(Vec::new()),
        dictionary: &[],
    },
    Target {
        name: "selftest-hang",
        run: |_| loop {
            std::thread::park();
        },
        generate: |_| Ok(Vec::new()),
        dictionary: &[],
    },
];

fn find(name: &str) -> anyhow::Result<&'static Target> {
    match TARGETS.iter().chain(SELF_TESTS).find(|t| t.name == name) {
        Some(target) => Ok(target),
        None => {
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            bail!("unknown target {name:?}: expected all or one of {}", names.join(", "))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(clean) => ExitCode::from(if clean { 0 } else { 1 }),
        Err(e) => {
            eprintln!("fuzz-loop: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::List => {
            for target in TARGETS {
                println!("{}", target.name);
            }
            Ok(true)
        }
        Command::Dict { target } => {
            print!("{}", fuzz_targets::libfuzzer_dictionary(find(&target)?));
            Ok(true)
        }
        Command::Replay { target, files } => {
            let target = find(&target)?;
            for file in files {
                let input = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                eprintln!("fuzz-loop: replaying {} ({} bytes)", file.display(), input.len());
                if target.name == "sql_compiler" {
                    let built = fuzz_targets::targets::sql_compiler::built_query(&input).unwrap_or_default();
                    eprintln!("fuzz-loop: the input as text, then as this grammar-built query:\n{built}");
                }
                (target.run)(&input);
            }
            eprintln!("fuzz-loop: no panic");
            Ok(true)
        }
        Command::Run {
            target,
            time,
            runs,
            seed,
            hang_timeout,
            max_len,
            artifacts,
        } => {
            let targets: Vec<&'static Target> = match target.as_str() {
                "all" => TARGETS.iter().collect(),
                name => vec![find(name)?],
            };
            let seed = seed.unwrap_or_else(clock_seed);
            eprintln!("fuzz-loop: seed {seed} (repeat with --seed {seed})");
            let mut clean = true;
            let mut summaries = Vec::new();
            for target in targets {
                let options = LoopOptions {
                    seed,
                    budget: Budget {
                        time: Some(time),
                        inputs: runs,
                    },
                    hang_timeout,
                    artifacts: artifacts
                        .clone()
                        .unwrap_or_else(|| fuzz_targets::artifacts_dir(target.name)),
                    seeds: vec![
                        fuzz_targets::corpus_dir(target.name),
                        fuzz_targets::regressions_dir(target.name),
                    ],
                    max_len,
                    verbose: true,
                };
                let report = engine::run_loop(target, &options)
                    .with_context(|| format!("reading the corpus of {}", target.name))?;
                eprintln!("fuzz-loop: {report}");
                for crash in &report.crashes {
                    eprintln!("  {}\n    input: {}", crash.message, crash.artifact.display());
                }
                clean &= report.panics == 0;
                summaries.push(report.to_string());
            }
            for line in summaries {
                println!("{line}");
            }
            Ok(clean)
        }
    }
}

fn clock_seed() -> u64 {
    // The only wall-clock read: picking a seed when none is given. It is printed first.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64 % 1_000_000_000)
}
