//! The `datagen` binary: command-line flags in, visit lines out; all generation lives in the library.
//!
//! It parses flags (accepting the seed's `--num_users`, `--delay_seconds` and `--source` spellings),
//! resolves the two things that may come from outside the config (`--seed random`, `--start now`),
//! prints the seed first, and writes JSON lines to `--out` or stdout. Exit codes: 0 done, 1 an I/O
//! failure, 2 a usage error (including asking for Kafka streaming, which is not built yet).

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use datagen::config::parse_decimal_seconds;
use datagen::{Generator, GeneratorConfig, Summary};
use pipeline::time::{Duration, Timestamp};

/// Generates website-visit events as JSON lines, reproducibly from a seed.
#[derive(Debug, Parser)]
#[command(name = "datagen", version)]
struct Cli {
    /// How many distinct users visit.
    #[arg(long, alias = "num_users", default_value_t = 20)]
    num_users: u32,
    /// How many lines to write (malformed ones included).
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// The random seed, or `random` to draw one from the operating system (it is printed either way).
    #[arg(long, default_value = "42")]
    seed: SeedArg,
    /// The first event's nominal time, `YYYY-MM-DDTHH:MM:SS[.mmm]` in UTC, or `now` for the wall clock.
    #[arg(long, default_value = "2024-04-28T23:12:40.000")]
    start: StartArg,
    /// Mean gap between consecutive events' nominal times (gaps are uniform on [0, 2 × mean]); 200ms when
    /// neither this nor --delay-seconds is given.
    #[arg(long, conflicts_with = "delay_seconds")]
    mean_gap: Option<Duration>,
    /// The seed's delay between messages, in decimal seconds. In batch mode it is the mean gap between
    /// event times, which is what the delay produced in the seed's streamed output.
    #[arg(long, alias = "delay_seconds")]
    delay_seconds: Option<String>,
    /// Out-of-order bound: each event's time lies up to this much before its nominal time.
    #[arg(long, default_value = "0")]
    jitter: Duration,
    /// Fraction of events that are late.
    #[arg(long, default_value_t = 0.0)]
    late_fraction: f64,
    /// How much further back a late event's time lies.
    #[arg(long, default_value = "30s")]
    late_by: Duration,
    /// Fraction of lines that are malformed (truncated, not an object, missing field, wrong type, bad
    /// datetime).
    #[arg(long, default_value_t = 0.0)]
    malformed_fraction: f64,
    /// Fraction of events whose lat/lng are written as empty strings.
    #[arg(long, default_value_t = 0.0)]
    empty_coords_fraction: f64,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// `batch` writes a file or stdout; `streaming` (to Kafka) is not built yet.
    #[arg(long, value_enum, default_value_t = Source::Batch)]
    source: Source,
    /// Where lines go: `file` (--out, or stdout) or `kafka` (not built yet).
    #[arg(long, value_enum, default_value_t = Sink::File)]
    to: Sink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Source {
    Batch,
    Streaming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Sink {
    File,
    Kafka,
}

#[derive(Debug, Clone, Copy)]
enum SeedArg {
    Fixed(u64),
    Random,
}

impl FromStr for SeedArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "random" => Ok(SeedArg::Random),
            _ => s
                .parse()
                .map(SeedArg::Fixed)
                .map_err(|_| format!("expected an unsigned 64-bit integer or `random`, got {s:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum StartArg {
    At(Timestamp),
    Now,
}

impl FromStr for StartArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "now" => Ok(StartArg::Now),
            _ => Timestamp::parse_datetime(s)
                .map(StartArg::At)
                .map_err(|e| e.to_string()),
        }
    }
}

/// A mistake in the request, as opposed to a failure while carrying it out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("datagen: error: {e:#}");
            if e.is::<Usage>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.source == Source::Streaming || cli.to == Sink::Kafka {
        return Err(Usage(
            "Kafka streaming (--source streaming / --to kafka) is not built yet; \
             use --source batch, which writes JSON lines to --out FILE or stdout"
                .into(),
        )
        .into());
    }
    let seed = match cli.seed {
        SeedArg::Fixed(seed) => seed,
        SeedArg::Random => rand::random(),
    };
    let mut notes = Vec::new();
    let mean_gap = match (&cli.mean_gap, &cli.delay_seconds) {
        (Some(gap), _) => *gap,
        (None, Some(text)) => {
            let gap = parse_decimal_seconds(text).map_err(|e| Usage(format!("--delay-seconds: {e}")))?;
            notes.push(format!("--delay-seconds {text} is the mean gap ({gap}) in batch mode"));
            gap
        }
        (None, None) => Duration::millis(200),
    };
    let start = match cli.start {
        StartArg::At(t) => t,
        StartArg::Now => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("reading the wall clock for --start now")?;
            let start = Timestamp::from_millis(now.as_millis() as i64);
            notes.push(format!("start {start} (pass --start {start} to replay)"));
            start
        }
    };
    let config = GeneratorConfig {
        seed,
        num_users: cli.num_users,
        events: cli.events,
        start,
        mean_gap,
        jitter: cli.jitter,
        late_fraction: cli.late_fraction,
        late_by: cli.late_by,
        malformed_fraction: cli.malformed_fraction,
        empty_coords_fraction: cli.empty_coords_fraction,
    };
    let mut generator = Generator::new(config).map_err(|e| Usage(e.to_string()))?;
    // The seed goes out before any other output, so that every run can be replayed from its log.
    eprintln!("datagen: seed {seed}");
    for note in notes {
        eprintln!("datagen: {note}");
    }

    let (summary, target) = match &cli.out {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let summary = generator
                .write_jsonl(file)
                .with_context(|| format!("writing {}", path.display()))?;
            (summary, path.display().to_string())
        }
        None => match generator.write_jsonl(io::stdout().lock()) {
            Ok(summary) => (summary, "stdout".to_owned()),
            // A reader that stops early (`datagen | head`) is not a failure.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("writing stdout"),
        },
    };
    report(&summary, &target);
    Ok(())
}

fn report(summary: &Summary, target: &str) {
    let range = match summary.event_times {
        Some((lo, hi)) => format!(", event times {lo} to {hi}"),
        None => String::new(),
    };
    let _ = writeln!(
        io::stderr(),
        "datagen: wrote {} line{} to {target} ({} late, {} malformed, {} with empty coordinates{range})",
        summary.lines,
        if summary.lines == 1 { "" } else { "s" },
        summary.late,
        summary.malformed,
        summary.empty_coordinates,
    );
}
