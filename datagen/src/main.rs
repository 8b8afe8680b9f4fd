//! The `datagen` binary: command-line flags in, visit lines out; all generation lives in the library.
//!
//! It parses flags (accepting the seed's `--num_users`, `--delay_seconds` and `--source` spellings),
//! resolves the two things that may come from outside the config (`--seed random`, `--start now`),
//! prints the seed first, and writes JSON lines to `--out` or stdout, or sends them to a Kafka topic
//! through `kafka_runtime::produce` (`--to kafka`; `--source streaming` streams live, as the seed does).
//! Before sending it waits for a broker at most `--connect-timeout`. Exit codes: 0 done, 1 an I/O or
//! Kafka failure (no broker answering included), 2 a usage error (clap's message and usage).

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use datagen::config::parse_decimal_seconds;
use datagen::{Generator, GeneratorConfig, Summary};
use kafka_runtime::connect::{await_brokers, ClientKind};
use kafka_runtime::produce::{as_fast_as_possible, produce, recorded_pace, OutLine, ProduceOptions};
use kafka_runtime::{RuntimeError, Shutdown};
use pipeline::time::{Duration, Timestamp};

/// Generates website-visit events as JSON lines, reproducibly from a seed.
#[derive(Debug, Parser)]
#[command(name = "datagen", version, after_help = AFTER_HELP)]
struct Cli {
    /// How many distinct users visit.
    #[arg(long, alias = "num_users", default_value_t = 20)]
    num_users: u32,
    /// How many lines to write (malformed ones included). Default 1000, or no limit with
    /// `--source streaming`.
    #[arg(long)]
    events: Option<u64>,
    /// The random seed, or `random` to draw one from the operating system (it is printed either way).
    #[arg(long, default_value = "42")]
    seed: SeedArg,
    /// The first event's nominal time, `YYYY-MM-DDTHH:MM:SS[.mmm]` in UTC, or `now` for the wall clock.
    /// Default 2024-04-28T23:12:40.000, or now with `--source streaming`.
    #[arg(long)]
    start: Option<StartArg>,
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
    /// `batch` generates from `--start` as fast as possible; `streaming` sends to Kafka live, as the
    /// seed does: event time is the wall clock (`--start now`), one line per gap, no limit unless
    /// `--events`.
    #[arg(long, value_enum, default_value_t = Source::Batch)]
    source: Source,
    /// Where lines go: `file` (--out, or stdout) or `kafka` (--topic at --bootstrap-servers).
    #[arg(long, value_enum, default_value_t = Sink::File)]
    to: Sink,
    /// Kafka brokers for `--to kafka`.
    #[arg(long, env = "BOOTSTRAP_SERVERS", default_value = "localhost:29092", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    bootstrap_servers: String,
    /// With `--to kafka`: how long to wait at start for a broker to answer before giving up (exit
    /// status 1).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    connect_timeout: Duration,
    /// The topic for `--to kafka`; created with `--partitions` partitions when missing.
    #[arg(long, default_value = "website-visit", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    topic: String,
    /// Partitions of the topic when `--to kafka` creates it.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// With `--to kafka`: send the lines of this JSONL file (a recording) instead of generating.
    #[arg(long, value_name = "FILE", conflicts_with_all = GENERATOR_FLAGS)]
    replay: Option<PathBuf>,
    /// With `--to kafka`: `fast` sends at once; `recorded` keeps the gaps between event times (the
    /// nominal times for generated lines). Default: recorded for --source streaming, else fast.
    #[arg(long, value_enum)]
    pace: Option<Pace>,
}

/// The flags that shape generated lines: they mean nothing with `--replay`.
const GENERATOR_FLAGS: [&str; 11] = [
    "num_users",
    "events",
    "seed",
    "start",
    "mean_gap",
    "delay_seconds",
    "jitter",
    "late_fraction",
    "late_by",
    "malformed_fraction",
    "empty_coords_fraction",
];

const AFTER_HELP: &str = "\
Durations: 500ms, 20s, 1m, 2h. With --to kafka, a repeated Kafka error is logged once per 10 s with
the number of repeats (RUST_LOG, default warn).

Exit status:
  0  done (or stopped by Ctrl-C or SIGTERM after flushing)
  1  an I/O failure; no Kafka broker answered within --connect-timeout; a Kafka or delivery failure
  2  bad flags (bad values, conflicting flags)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pace {
    Fast,
    Recorded,
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

/// A mistake in the request, as opposed to a failure while carrying it out: reported as clap reports
/// its own (message, usage, exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{1}")]
struct Usage(ErrorKind, String);

impl Usage {
    fn conflict(message: impl Into<String>) -> Usage {
        Usage(ErrorKind::ArgumentConflict, message.into())
    }

    fn invalid(message: impl Into<String>) -> Usage {
        Usage(ErrorKind::ValueValidation, message.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast::<Usage>() {
            Ok(Usage(kind, message)) => Cli::command().error(kind, message).exit(),
            Err(e) => {
                eprintln!("datagen: error: {}", kafka_runtime::error::one_line(&e));
                ExitCode::FAILURE
            }
        },
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let to_kafka = cli.to == Sink::Kafka || cli.source == Source::Streaming;
    if !to_kafka && (cli.replay.is_some() || cli.pace.is_some()) {
        return Err(Usage::conflict("--replay and --pace go with --to kafka (or --source streaming)").into());
    }
    if to_kafka && cli.out.is_some() {
        return Err(
            Usage::conflict("--out writes a file; it does not go with --to kafka or --source streaming").into(),
        );
    }
    if cli.connect_timeout.as_millis() <= 0 {
        return Err(Usage::invalid(format!(
            "invalid value '{}' for '--connect-timeout <DURATION>': must be longer than 0",
            cli.connect_timeout
        ))
        .into());
    }
    if to_kafka {
        kafka_runtime::client_log::init_stderr_logging("warn");
    }
    if let Some(path) = &cli.replay {
        return replay(&cli, path);
    }
    let seed = match cli.seed {
        SeedArg::Fixed(seed) => seed,
        SeedArg::Random => rand::random(),
    };
    let mut notes = Vec::new();
    let mean_gap = match (&cli.mean_gap, &cli.delay_seconds) {
        (Some(gap), _) => *gap,
        (None, Some(text)) => {
            let gap = parse_decimal_seconds(text).map_err(|e| {
                Usage::invalid(format!(
                    "invalid value '{text}' for '--delay-seconds <DELAY_SECONDS>': {e}"
                ))
            })?;
            if cli.source == Source::Streaming {
                notes.push(format!(
                    "--delay-seconds {text} is the mean gap ({gap}) between messages"
                ));
            } else {
                notes.push(format!("--delay-seconds {text} is the mean gap ({gap}) in batch mode"));
            }
            gap
        }
        (None, None) => Duration::millis(200),
    };
    // Live streaming means event time is the wall clock, unless a start was asked for.
    let start = match cli.start {
        Some(StartArg::At(t)) => t,
        None if cli.source == Source::Batch => GeneratorConfig::DEFAULT_START,
        Some(StartArg::Now) | None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("reading the wall clock for --start now")?;
            let start = Timestamp::from_millis(now.as_millis() as i64);
            notes.push(format!("start {start} (pass --start {start} to replay)"));
            start
        }
    };
    let events = match (cli.events, cli.source) {
        (Some(n), _) => n,
        (None, Source::Batch) => 1000,
        (None, Source::Streaming) => unlimited_events(start, mean_gap),
    };
    let config = GeneratorConfig {
        seed,
        num_users: cli.num_users,
        events,
        start,
        mean_gap,
        jitter: cli.jitter,
        late_fraction: cli.late_fraction,
        late_by: cli.late_by,
        malformed_fraction: cli.malformed_fraction,
        empty_coords_fraction: cli.empty_coords_fraction,
    };
    let mut generator = Generator::new(config).map_err(|e| Usage::invalid(e.to_string()))?;
    // The seed goes out before any other output, so that every run can be replayed from its log.
    eprintln!("datagen: seed {seed}");
    for note in notes {
        eprintln!("datagen: {note}");
    }

    if to_kafka {
        // Generated lines are due at their nominal time, counted from now.
        let pace = cli.pace.unwrap_or(match cli.source {
            Source::Streaming => Pace::Recorded,
            Source::Batch => Pace::Fast,
        });
        let origin = kafka_runtime::produce::now();
        let mut summary = Summary::default();
        let lines = generator.by_ref().map(|line| {
            summary.record(&line.meta);
            let due = (pace == Pace::Recorded)
                .then(|| origin.plus(Duration::millis(line.meta.nominal.millis() - start.millis())));
            OutLine {
                value: line.text.into_bytes(),
                due,
            }
        });
        send_to_kafka(&cli, lines, pace)?;
        report(
            "generated",
            &summary,
            &format!("for topic {} at {}", cli.topic, cli.bootstrap_servers),
        );
        return Ok(());
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
    report("wrote", &summary, &format!("to {target}"));
    Ok(())
}

/// The largest event count the generator accepts from `start` with `mean_gap` (it refuses event times
/// past year 9999): "no limit" for a live stream.
fn unlimited_events(start: Timestamp, mean_gap: Duration) -> u64 {
    let mut events = u64::MAX / 4;
    while events > 1 {
        let config = GeneratorConfig {
            events,
            start,
            mean_gap,
            ..GeneratorConfig::default()
        };
        if config.validate().is_ok() {
            return events;
        }
        events /= 2;
    }
    events
}

/// Sends `lines` to the topic, printing the seed's "N events created so far..." every 10 lines when
/// paced (every 10 000 when fast); stops cleanly on Ctrl-C or SIGTERM.
fn send_to_kafka(cli: &Cli, lines: impl Iterator<Item = OutLine>, pace: Pace) -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals().context("watching for Ctrl-C and SIGTERM")?;
    let mut options = ProduceOptions::new(&cli.bootstrap_servers, &cli.topic);
    options.partitions = cli.partitions;
    eprintln!("datagen: connecting to {}", cli.bootstrap_servers);
    let timeout = std::time::Duration::from_millis(cli.connect_timeout.as_millis() as u64);
    // Its message names the brokers and the cause: no context to add.
    await_brokers(&options.producer_config(), ClientKind::Producer, timeout).map_err(|e| match e {
        e @ RuntimeError::Unreachable { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(format!("connecting to {}", cli.bootstrap_servers)),
    })?;
    let every = if pace == Pace::Recorded { 10 } else { 10_000 };
    let mut stdout = io::stdout().lock();
    let sent = produce(&options, lines, &shutdown, |n, line| {
        if n % every == 0 {
            let _ = writeln!(stdout, "{n} events created so far...");
            let _ = stdout.write_all(&line.value);
            let _ = writeln!(stdout);
        }
    })
    .with_context(|| format!("sending to topic {} at {}", cli.topic, cli.bootstrap_servers))?;
    if sent.created_topic {
        eprintln!(
            "datagen: created topic {} with {} partitions",
            cli.topic, cli.partitions
        );
    }
    eprintln!(
        "datagen: sent {} message{} to {} ({} without an id, sent unkeyed){}",
        sent.sent,
        if sent.sent == 1 { "" } else { "s" },
        cli.topic,
        sent.unkeyed,
        if shutdown.is_requested() {
            ", stopped by a signal"
        } else {
            ""
        }
    );
    Ok(())
}

/// `--replay FILE`: the lines of a recording, sent as they are (keyed by id).
fn replay(cli: &Cli, path: &std::path::Path) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = BufReader::new(file);
    let pace = cli.pace.unwrap_or(Pace::Fast);
    let lines: Box<dyn Iterator<Item = io::Result<OutLine>>> = match pace {
        Pace::Fast => Box::new(as_fast_as_possible(reader)),
        Pace::Recorded => Box::new(recorded_pace(reader, kafka_runtime::produce::now(), 1.0)),
    };
    let mut failure = None;
    let lines = lines.map_while(|line| match line {
        Ok(line) => Some(line),
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    send_to_kafka(cli, lines, pace)?;
    match failure {
        Some(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        None => Ok(()),
    }
}

fn report(verb: &str, summary: &Summary, target: &str) {
    let range = match summary.event_times {
        Some((lo, hi)) => format!(", event times {lo} to {hi}"),
        None => String::new(),
    };
    let _ = writeln!(
        io::stderr(),
        "datagen: {verb} {} line{} {target} ({} late, {} malformed, {} with empty coordinates{range})",
        summary.lines,
        if summary.lines == 1 { "" } else { "s" },
        summary.late,
        summary.malformed,
        summary.empty_coordinates,
    );
}
