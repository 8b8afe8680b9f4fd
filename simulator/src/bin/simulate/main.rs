//! `simulate`: replay recorded traffic or a scripted scenario through the traffic pipeline, or a Beam
//! SQL query compiled by the `sql` crate, in virtual time, and write the window results as JSON lines.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use formats::dlq::ReportLines;
use formats::files::{FileSet, OutputFile};
use formats::golden::{GoldenCheck, GoldenOutcome};
use formats::output::{Discard, OutputLines};
use formats::scenario::{InputFile, InputFormat};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::combine::CombineFn;
use pipeline::io::{LentStep, Source, SourceError, Step};
use pipeline::strategy::AccumulationMode;
use pipeline::time::Duration;
use pipeline::traffic::windowed_traffic_pipeline;
use pipeline::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};
use pipeline::watermark::WatermarkStrategy;
use pipeline::windowing::flags::{closing_behavior, on_time_behavior, trigger, window_spec};
use pipeline::windowing::{WindowSpec, Windowing};
use pipeline::{Pipeline, PipelineStats, ProcessingTimeRule};
use serde::Serialize;
use simulator::disorder::DisorderOptions;
use simulator::{simulate_sharded, SimulationOptions, SimulationReport, Sinks};

mod cluster;
mod explore_disorder;
mod views;

// Every record allocates its event's strings; mimalloc's thread-local free lists make that cheaper
// than glibc's malloc on the hot path (about 10% of a run's time in profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Replay website visits through the traffic aggregation (page views per user id in fixed event-time
/// windows), or through a Beam SQL query, deterministically, and write one JSON line per window pane.
#[derive(Debug, Parser)]
#[command(name = "simulate", version, about, after_help = AFTER_HELP)]
struct Args {
    /// Recorded traffic (one visit per line, file order = arrival order) or a scenario script; `-`
    /// reads standard input. Read once, as a stream: a pipe or a FIFO works too.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,

    /// How to read --file: auto (a scenario when its first line is meant as a step), recording or
    /// scenario.
    #[arg(long, value_name = "FORMAT", default_value = "auto",
          value_parser = PossibleValuesParser::new(InputFormat::NAMES).map(|s| s.parse::<InputFormat>().expect("a listed name")))]
    input_format: InputFormat,

    /// Write window results here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Run this Beam SQL query (e.g. sql/queries/traffic_agg.sql) instead of the built-in traffic
    /// aggregation; each output line is one of its rows. Its TUMBLE, HOP or SESSION sets the windows.
    #[arg(long, value_name = "QUERY_FILE")]
    sql: Option<PathBuf>,

    /// Fixed windows of this size: shorthand for --windows fixed:SIZE [default: 20s]. Not with --sql.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration, conflicts_with = "windows")]
    window: Option<Duration>,

    /// The windows of the built-in aggregation: fixed:SIZE, sliding:SIZE,PERIOD, sessions:GAP (per user
    /// id) or global [default: fixed:20s]. Not with --sql (the query's GROUP BY sets them).
    #[arg(long, value_name = "WINDOWS", value_parser = window_spec)]
    windows: Option<WindowSpec>,

    /// When panes fire, in Beam's Java spelling, e.g.
    /// 'AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(10s))'
    /// [default: DefaultTrigger.of()]
    #[arg(long, value_name = "EXPR", value_parser = trigger)]
    trigger: Option<Trigger>,

    /// Whether a window's last pane fires when it holds nothing new: FIRE_IF_NON_EMPTY (Beam's default)
    /// or FIRE_ALWAYS.
    #[arg(long, value_name = "BEHAVIOR", default_value = "FIRE_IF_NON_EMPTY", value_parser = closing_behavior)]
    closing_behavior: ClosingBehavior,

    /// Whether the on-time pane fires when it holds nothing new: FIRE_ALWAYS (Beam's default) or
    /// FIRE_IF_NON_EMPTY.
    #[arg(long, value_name = "BEHAVIOR", default_value = "FIRE_ALWAYS", value_parser = on_time_behavior)]
    on_time_behavior: OnTimeBehavior,

    /// How long after the watermark passes a window's end it still accepts late elements.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = non_negative_duration)]
    allowed_lateness: Duration,

    /// bounded:<duration> (max event time seen minus the bound), explicit (scenario steps only) or
    /// perfect (nothing is late). Default: bounded:5s, or explicit for a scenario.
    #[arg(long, value_name = "STRATEGY")]
    watermark: Option<WatermarkStrategy>,

    /// Every pane after the first holds every element of the window so far, not only the new ones.
    #[arg(long)]
    accumulating: bool,

    /// Add "pane" (EARLY/ON_TIME/LATE) and "pane_index" to each output line.
    #[arg(long)]
    pane_info: bool,

    /// Seed of the disorder options (--reorder, --late-fraction). The same seed gives the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Deliver records out of order: none moves more than N positions from its place in the file.
    #[arg(long, default_value_t = 0, value_name = "N")]
    reorder: usize,

    /// Hold back this fraction of records (0 to 1) and deliver them late.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION", value_parser = fraction)]
    late_fraction: f64,

    /// How late held-back records arrive: once the delivered event time is this far past theirs.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = non_negative_duration)]
    late_by: Duration,

    /// Write records dropped as late here, one JSON line each with the reason.
    #[arg(long, value_name = "FILE")]
    late_out: Option<PathBuf>,

    /// Write records that could not be parsed here, one JSON line each with the reason and line number.
    #[arg(long, value_name = "FILE")]
    dlq_out: Option<PathBuf>,

    /// Compare the output with this golden file; exit 1 with a diff when they differ.
    #[arg(long, value_name = "FILE")]
    golden: Option<PathBuf>,

    /// With --golden: write the output as the new golden file instead of comparing.
    #[arg(long, requires = "golden")]
    bless: bool,

    /// No summary or progress on standard error.
    #[arg(long, short)]
    quiet: bool,

    #[command(flatten)]
    cluster: cluster::ClusterArgs,

    #[command(flatten)]
    explore: explore_disorder::ExploreDisorderArgs,

    #[command(flatten)]
    views: views::ViewArgs,
}

const AFTER_HELP: &str = "\
Scenario files hold one step a line: {\"event\": {...}}, {\"events\": [...]} (one bundle),
{\"watermark\": \"2024-04-28T23:13:00.000\"} or {\"processing_time\": 5} (seconds); the end of the
file moves the watermark to +inf. A file is a scenario when its first line is a JSON object with no
field of a visit and a key that is a step keyword or a near miss of one (a misspelt first step is an
error, not a recording); --input-format overrides. Durations: 500ms, 20s, 1m, 2h.

Windows and triggers follow Apache Beam: --windows sessions:30s gives each user id sessions that
close after 30 s without a visit (window_start is the first visit, window_end the last plus the gap);
--windows global puts everything in one window, written window_start -inf and window_end +inf.
A --trigger can fire EARLY panes before the watermark passes the window's end (shown by --pane-info),
e.g. --trigger 'AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterPane.elementCountAtLeast(2))'.
Triggers that must fire at most once (.orFinally, .withEarlyFirings, .withLateFirings, AfterFirst,
AfterAll) refuse one that can fire repeatedly, as Beam's types do.

With --sql, the input table is PCOLLECTION with the visit's columns, as in Beam SQL;
--allowed-lateness, --accumulating, --trigger, --closing-behavior and --on-time-behavior apply to the
query's windows (TUMBLE, HOP or SESSION).

Exit status:
  0  success
  1  the output differs from --golden; the input (--file, --sql) cannot be read; a scenario step is
     malformed; an output cannot be written
  2  bad flags: a value out of range (--window 0s, --late-fraction 2, a negative duration), a
     --trigger that does not parse (shown with a caret under the column) or that Beam refuses, --reorder
     or --late-fraction on a scenario, --threads with --reorder, --late-fraction or a cluster run other
     than --explore, an output (--out, --golden with --bless, --late-out, --dlq-out)
     that is an input or another output's file, or a --sql query that does not compile (shown with
     its line and column)

Files are written whole or not at all: each output goes to a temporary file beside it, renamed into
place when the run completes; a failed run leaves the previous files untouched.";

/// The window of the built-in aggregation when --window is not given.
const DEFAULT_WINDOW: Duration = Duration::seconds(20);

/// A `--sql` query that does not compile: a usage error (exit 2), shown with the compiler's caret
/// diagram rather than on one line.
#[derive(Debug)]
pub(crate) struct QueryError {
    path: PathBuf,
    error: sql::SqlError,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the query {} does not compile: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for QueryError {}

/// A flag that turns out to be wrong only once the input is open (`--reorder` on a scenario, an output
/// that is an input): a usage error (exit 2), reported by clap like any other.
#[derive(Debug)]
pub(crate) struct UsageError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// A duration longer than zero (`--window`).
fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration: Duration = text.parse().map_err(|e: pipeline::time::DurationError| e.to_string())?;
    if duration.as_millis() <= 0 {
        return Err(format!("must be longer than zero, got {duration}"));
    }
    Ok(duration)
}

/// A duration of zero or more (`--allowed-lateness`, `--late-by`).
fn non_negative_duration(text: &str) -> Result<Duration, String> {
    let duration: Duration = text.parse().map_err(|e: pipeline::time::DurationError| e.to_string())?;
    if duration.as_millis() < 0 {
        return Err(format!("must not be negative, got {duration}"));
    }
    Ok(duration)
}

/// A fraction from 0 to 1 (`--late-fraction`).
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("must be a number from 0 to 1, got {text}"));
    }
    Ok(value)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.sql.is_some() && (args.window.is_some() || args.windows.is_some()) {
        let flag = if args.window.is_some() { "--window" } else { "--windows" };
        Args::command()
            .error(
                ErrorKind::ArgumentConflict,
                format!("{flag} cannot be used with --sql: the query's TUMBLE, HOP or SESSION sets the windows"),
            )
            .exit();
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<UsageError>() => {
            let usage = e.downcast::<UsageError>().expect("checked above");
            Args::command().error(usage.kind, usage.message).exit()
        }
        Err(e) if e.is::<QueryError>() => {
            eprintln!("simulate: error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("simulate: error: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// A reader closed our standard output (`simulate ... | head`): not an error worth a message.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, without repeating a cause its parent already quoted.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

impl Args {
    /// The windowing flags together: `--window`/`--windows`, `--trigger`, `--allowed-lateness`,
    /// `--accumulating`, `--closing-behavior`, `--on-time-behavior`.
    fn windowing(&self) -> Windowing {
        Windowing {
            windows: match (self.windows, self.window) {
                (Some(windows), _) => windows,
                (None, size) => WindowSpec::Fixed(size.unwrap_or(DEFAULT_WINDOW)),
            },
            allowed_lateness: self.allowed_lateness,
            accumulation: if self.accumulating {
                AccumulationMode::Accumulating
            } else {
                AccumulationMode::Discarding
            },
            trigger: self.trigger.clone().unwrap_or_default(),
            closing_behavior: self.closing_behavior,
            on_time_behavior: self.on_time_behavior,
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    let windowing = args.windowing();
    // The query before the input: a query that does not compile is reported without reading anything.
    let query = match &args.sql {
        Some(path) => Some((path, compile_query(path, &windowing)?)),
        None => None,
    };
    let mut input = InputFile::open(&args.file, args.input_format).with_context(|| "cannot open the input (--file)")?;
    check_files(args, &input)?;
    if args.cluster.requested() && args.views.requested() {
        return Err(UsageError {
            kind: ErrorKind::ArgumentConflict,
            message: "--timeline, --transcript and --explain watch a single pipeline, not cluster mode".to_owned(),
        }
        .into());
    }
    if let Some(n) = args.explore.explore_disorder {
        if args.views.requested() {
            return Err(UsageError {
                kind: ErrorKind::ArgumentConflict,
                message: "--timeline, --transcript and --explain watch one run, not --explore-disorder".to_owned(),
            }
            .into());
        }
        return explore_disorder::run(args, &mut input, query.map(|(_, q)| q), n, &windowing);
    }
    if args.cluster.requested() {
        return run_cluster_mode(args, &mut input, query.map(|(_, q)| q), &windowing);
    }
    let watermark = args.watermark.unwrap_or(if input.is_scenario() {
        WatermarkStrategy::Explicit
    } else {
        WatermarkStrategy::Bounded(pipeline::watermark::DEFAULT_BOUND)
    });
    let disorder = DisorderOptions {
        seed: args.seed,
        reorder: args.reorder,
        late_fraction: args.late_fraction,
        late_by: args.late_by,
    };
    if args.views.requested() && args.cluster.threads.is_some_and(|n| n > 1) {
        return Err(UsageError {
            kind: ErrorKind::ArgumentConflict,
            message: "--threads cannot be used with --timeline, --transcript or --explain: they watch one thread's \
                      steps"
                .to_owned(),
        }
        .into());
    }
    if !disorder.is_identity() {
        if args.cluster.threads.is_some_and(|n| n > 1) {
            return Err(UsageError {
                kind: ErrorKind::ArgumentConflict,
                message: "--threads cannot be used with --reorder or --late-fraction: seeded disorder runs on \
                          one thread"
                    .to_owned(),
            }
            .into());
        }
        if input.is_scenario() {
            return Err(UsageError {
                kind: ErrorKind::ArgumentConflict,
                message: format!(
                    "--reorder and --late-fraction apply to recordings, not to scenario scripts ({} is a \
                     scenario; --input-format recording reads it as one)",
                    args.file.display()
                ),
            }
            .into());
        }
        if !args.quiet {
            eprintln!(
                "simulate: seed {} (replay this run with --seed {})",
                args.seed, args.seed
            );
        }
    }
    let options = SimulationOptions {
        watermark,
        disorder: Some(disorder),
        // A recording is replayed as if its records arrived when they happened; a script moves time itself.
        processing_time: if input.is_scenario() {
            ProcessingTimeRule::Scripted
        } else {
            ProcessingTimeRule::FollowsEventTime
        },
        ..SimulationOptions::default()
    };
    let description = format!(
        "{} ({}), {}, watermark {}",
        args.file.display(),
        if input.is_scenario() { "scenario" } else { "recording" },
        describe_windowing(args, &windowing),
        watermark,
    );
    match query {
        Some((_, pipeline)) => run_pipeline(&pipeline, input, &options, args, &description),
        None => run_pipeline(
            &windowed_traffic_pipeline(windowing.strategy()),
            input,
            &options,
            args,
            &description,
        ),
    }
}

/// The windowing part of a run's summary line; with --sql the query names the windows.
fn describe_windowing(args: &Args, windowing: &Windowing) -> String {
    let text = windowing.describe();
    match &args.sql {
        Some(path) => format!(
            "query {}{}",
            path.display(),
            text.strip_prefix(&format!("windows {}", windowing.windows))
                .unwrap_or(&text)
        ),
        None => text,
    }
}

/// Cluster mode: the recording through a simulated Kafka cluster (see `cluster`).
fn run_cluster_mode(
    args: &Args,
    input: &mut InputFile,
    query: Option<sql::SqlPipeline>,
    windowing: &Windowing,
) -> Result<ExitCode> {
    cluster::check_flags(args, input, windowing)?;
    let records = cluster::read_records(input)?;
    let description = format!(
        "{} (recording, {} records), {}, watermark {}",
        args.file.display(),
        records.len(),
        describe_windowing(args, windowing),
        args.watermark
            .unwrap_or(WatermarkStrategy::Bounded(pipeline::watermark::DEFAULT_BOUND)),
    );
    match query {
        Some(pipeline) => cluster::run(&pipeline, &records, args, &description),
        None => cluster::run(
            &windowed_traffic_pipeline(windowing.strategy()),
            &records,
            args,
            &description,
        ),
    }
}

/// Reads and compiles the `--sql` query; a compile error becomes a [`QueryError`] (exit 2).
fn compile_query(path: &Path, windowing: &Windowing) -> Result<sql::SqlPipeline> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the query {} (--sql)", path.display()))?;
    let options = sql::SqlOptions::default()
        .allowed_lateness(windowing.allowed_lateness)
        .accumulation(windowing.accumulation)
        .trigger(windowing.trigger.clone())
        .closing_behavior(windowing.closing_behavior)
        .on_time_behavior(windowing.on_time_behavior);
    sql::compile(&text, options).map_err(|error| {
        QueryError {
            path: path.to_owned(),
            error,
        }
        .into()
    })
}

/// Runs any pipeline whose output serializes; the CLI's flags decide where everything goes.
fn run_pipeline<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    input: InputFile,
    options: &SimulationOptions,
    args: &Args,
    description: &str,
) -> Result<ExitCode>
where
    E: Send,
    K: Clone + Ord + std::hash::Hash + Send + simulator::observe::ObservedKey,
    C: CombineFn + Clone,
    O: Serialize + Send,
    Pipeline<E, K, C, O>: Sync,
    pipeline::PipelineInstance<E, K, C, O>: Send,
{
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut source = ProgressSource::new(input, show_progress);

    let fanout = output_fanout(args)?;
    let mut outputs = OutputLines::new(fanout, "output", args.pane_info);
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
    let (mut no_late, mut no_dead) = (Discard, Discard);

    let sinks = Sinks {
        outputs: &mut outputs,
        late: match &mut late {
            Some(sink) => sink,
            None => &mut no_late,
        },
        dead_letters: match &mut dead {
            Some(sink) => sink,
            None => &mut no_dead,
        },
    };
    let threads = args.cluster.threads.unwrap_or(1) as usize;
    let report = if args.views.requested() {
        views::simulate_with_views(pipeline, &mut source, options, sinks, &args.views, description)?
    } else {
        simulate_sharded(pipeline, &mut source, options, sinks, threads, &mut |_| {})?
    };
    source.finish();
    let lines = outputs.lines();
    if !args.quiet {
        print_summary(description, &report);
    }
    if let Some(sink) = late {
        commit(sink.into_inner(), "--late-out")?;
    }
    if let Some(sink) = dead {
        commit(sink.into_inner(), "--dlq-out")?;
    }
    finish_fanout(outputs.into_inner(), args, lines)
}

/// Where the output lines of a run go: `--out` or standard output, and `--golden` to compare or bless.
///
/// Every file is written to a temporary beside it and renamed into place only once the run has succeeded:
/// a failed run (a script error, an unreadable input) leaves the previous files as they were.
fn output_fanout(args: &Args) -> Result<Fanout> {
    let mut fanout = Fanout {
        out: match (&args.out, &args.golden) {
            (Some(path), _) => Destination::File(create(path, "--out")?),
            (None, Some(_)) => Destination::Nowhere,
            // --transcript and --explain print on standard output instead.
            (None, None) if args.views.uses_stdout() => Destination::Nowhere,
            (None, None) => Destination::Stdout(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
        },
        golden: None,
        bless: None,
    };
    match (&args.golden, args.bless) {
        (Some(path), false) => fanout.golden = Some(GoldenCheck::open(path)?),
        (Some(path), true) => fanout.bless = Some(create(path, "--golden")?),
        (None, _) => {}
    }
    Ok(fanout)
}

/// The run is complete: its files go in place (even when the output then differs from `--golden`), and
/// the golden comparison decides the exit status.
fn finish_fanout(fanout: Fanout, args: &Args, lines: u64) -> Result<ExitCode> {
    let Fanout { out, golden, bless } = fanout;
    match out {
        Destination::Stdout(mut stdout) => stdout.flush()?,
        Destination::File(file) => commit(file, "--out")?,
        Destination::Nowhere => {}
    }
    if let Some(file) = bless {
        commit(file, "--golden")?;
        let path = args.golden.as_ref().expect("--bless requires --golden");
        if !args.quiet {
            eprintln!("simulate: blessed {} ({lines} lines)", path.display());
        }
    }
    if let Some(check) = golden {
        match check.finish()? {
            GoldenOutcome::Same { lines } => {
                if !args.quiet {
                    eprintln!("simulate: output matches the golden file ({lines} lines)");
                }
            }
            GoldenOutcome::Different(report) => {
                eprintln!("simulate: {report}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where window results go.
pub(crate) enum Destination {
    Stdout(BufWriter<std::io::StdoutLock<'static>>),
    File(OutputFile),
    /// With --golden and no --out: the lines only go to the comparison.
    Nowhere,
}

impl Write for Destination {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Destination::Stdout(w) => w.write(buf),
            Destination::File(w) => w.write(buf),
            Destination::Nowhere => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Destination::Stdout(w) => w.flush(),
            Destination::File(w) => w.flush(),
            Destination::Nowhere => Ok(()),
        }
    }
}

/// Where output lines go: the output itself, and the golden file being compared or blessed.
pub(crate) struct Fanout {
    out: Destination,
    golden: Option<GoldenCheck>,
    bless: Option<OutputFile>,
}

impl Write for Fanout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write_all(buf)?;
        if let Some(g) = &mut self.golden {
            g.write_all(buf)?;
        }
        if let Some(b) = &mut self.bless {
            b.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        if let Some(b) = &mut self.bless {
            b.flush()?;
        }
        Ok(())
    }
}

pub(crate) fn create(path: &Path, flag: &str) -> Result<OutputFile> {
    OutputFile::create(path).with_context(|| format!("cannot create {} ({flag})", path.display()))
}

pub(crate) fn commit(file: OutputFile, flag: &str) -> Result<()> {
    let path = file.path().to_owned();
    file.commit()
        .with_context(|| format!("cannot write {} ({flag})", path.display()))
}

/// Refuses, before anything is opened for writing, an output that is an input (`--file`, `--sql`,
/// `--golden` when comparing) or the same file as another output: a usage error (exit 2).
fn check_files(args: &Args, input: &InputFile) -> Result<()> {
    let mut files = FileSet::default();
    if let Some(handle) = input.handle().context("cannot open the input (--file)")? {
        files.add_input_handle("--file", &args.file, handle);
    }
    if let Some(path) = &args.sql {
        files.add_input_path("--sql", path);
    }
    if let (Some(path), false) = (&args.golden, args.bless) {
        files.add_input_path("--golden", path);
    }
    let outputs = [
        ("--out", args.out.as_ref()),
        ("--golden", args.golden.as_ref().filter(|_| args.bless)),
        ("--late-out", args.late_out.as_ref()),
        ("--dlq-out", args.dlq_out.as_ref()),
        ("--timeline", args.views.timeline.as_ref()),
    ];
    for (flag, path) in outputs {
        if let Some(path) = path {
            files.add_output(flag, path).map_err(|conflict| UsageError {
                kind: ErrorKind::ArgumentConflict,
                message: conflict.to_string(),
            })?;
        }
    }
    Ok(())
}

fn print_summary(description: &str, report: &SimulationReport) {
    let PipelineStats {
        read,
        parsed,
        dead_lettered,
        filtered,
        dropped_late,
        dropped_closed,
        counted,
        merged_into_closed,
        panes,
    } = report.stats;
    let ok = report.stats.check_conservation().is_ok();
    eprintln!("simulate: {description}");
    eprintln!("  records read     {read:>10}");
    eprintln!("  parsed           {parsed:>10}");
    eprintln!("  dead-lettered    {dead_lettered:>10}");
    if filtered > 0 {
        eprintln!("  filtered out     {filtered:>10}");
    }
    eprintln!("  dropped as late  {dropped_late:>10}");
    if dropped_closed > 0 {
        eprintln!("    of which for a closed window {dropped_closed}");
    }
    eprintln!("  counted          {counted:>10}");
    if merged_into_closed > 0 {
        // Beam's semantics, made visible: these records are in no pane.
        eprintln!("    of which merged into a closed window, in no pane {merged_into_closed}");
    }
    eprintln!("  panes emitted    {panes:>10}");
    eprintln!("  max open windows {:>10}", report.max_open_windows);
    let filtered_term = if filtered > 0 {
        format!(" + filtered {filtered}")
    } else {
        String::new()
    };
    eprintln!(
        "  check: read {read} = counted {counted}{filtered_term} + late {dropped_late} + dead-lettered {dead_lettered}: {}",
        if ok { "ok" } else { "MISMATCH" }
    );
}

/// The input file with a progress bar over its bytes, shown only on a terminal.
struct ProgressSource {
    input: InputFile,
    bar: Option<ProgressBar>,
    events: u64,
}

impl ProgressSource {
    fn new(input: InputFile, show: bool) -> Self {
        let bar = show.then(|| match input.size_in_bytes() {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {eta}")
                    .expect("a valid template"),
            ),
            // A pipe or standard input: no total to measure against, so bytes and rate only.
            None => ProgressBar::no_length().with_style(
                ProgressStyle::with_template("{spinner} {bytes} read ({bytes_per_sec})").expect("a valid template"),
            ),
        });
        ProgressSource { input, bar, events: 0 }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Source for ProgressSource {
    fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        self.events += 1;
        if let Some(bar) = &self.bar {
            if self.events % 8192 == 0 {
                bar.set_position(self.input.bytes_read());
            }
        }
        self.input.next_step()
    }

    fn take_dropped_late(&mut self) -> Vec<pipeline::io::LateRecord> {
        self.input.take_dropped_late()
    }

    fn take_lateness_horizons(&mut self) -> Option<Vec<pipeline::time::Watermark>> {
        self.input.take_lateness_horizons()
    }

    fn next_lent(&mut self) -> Result<Option<LentStep<'_>>, SourceError> {
        self.events += 1;
        if let Some(bar) = &self.bar {
            if self.events % 8192 == 0 {
                bar.set_position(self.input.bytes_read());
            }
        }
        self.input.next_lent()
    }
}

/// `simulate --file …` with this run's input, query and windowing flags, each word quoted for a POSIX
/// shell: the start of every replay command the tool prints.
fn pipeline_words(args: &Args) -> Vec<String> {
    let mut words = vec![
        "simulate".to_owned(),
        "--file".to_owned(),
        shell_quote(&args.file.display().to_string()),
    ];
    if let Some(sql) = &args.sql {
        words.extend(["--sql".to_owned(), shell_quote(&sql.display().to_string())]);
    }
    if let Some(window) = args.window {
        words.extend(["--window".to_owned(), window.to_string()]);
    }
    if let Some(windows) = args.windows {
        words.extend(["--windows".to_owned(), windows.to_string()]);
    }
    if let Some(trigger) = &args.trigger {
        words.extend(["--trigger".to_owned(), shell_quote(&trigger.to_string())]);
    }
    if args.closing_behavior != Default::default() {
        words.extend(["--closing-behavior".to_owned(), args.closing_behavior.to_string()]);
    }
    if args.on_time_behavior != Default::default() {
        words.extend(["--on-time-behavior".to_owned(), args.on_time_behavior.to_string()]);
    }
    if args.allowed_lateness.as_millis() != 0 {
        words.extend(["--allowed-lateness".to_owned(), args.allowed_lateness.to_string()]);
    }
    if args.accumulating {
        words.push("--accumulating".to_owned());
    }
    if let Some(watermark) = args.watermark {
        words.extend(["--watermark".to_owned(), watermark.to_string()]);
    }
    words
}

/// `text` as one POSIX shell word: as is when it holds only characters no shell treats specially.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:,+".contains(&b))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
