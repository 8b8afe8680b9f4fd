//! The command lines of `traffic-agg` and `traffic-agg-sql`: the seed's traffic aggregation on Kafka,
//! built in or from the seed's SQL query. Both read website visits from a topic, count page views per
//! user id in event-time windows and write one message per window, committing input offsets only once
//! the windows they went into are acknowledged. The binaries only call [`main`].
//!
//! Before touching Kafka, [`main`] checks what clap cannot (zero durations, flags that contradict each
//! other, unknown librdkafka settings) and compiles the query: those mistakes exit 2 with clap's
//! message. Then it says which brokers it connects to and waits at most `--connect-timeout` for one to
//! answer ([`crate::connect`]); every failure from there on exits 1 with one line.

use std::process::ExitCode;

use crate::options::wall;
use crate::repartition::{self, RepartitionOptions};
use crate::{run as run_pipeline, RunSummary, RunnerOptions, Shutdown};
use anyhow::Context;
use clap::builder::NonEmptyStringValueParser;
use clap::error::ErrorKind;
use clap::Parser;
use kafka_core::defaults;
use pipeline::strategy::AccumulationMode;
use pipeline::time::Duration;
use pipeline::traffic::windowed_traffic_pipeline;
use pipeline::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};
use pipeline::windowing::flags::{closing_behavior, on_time_behavior, trigger, window_spec};
use pipeline::windowing::{WindowSpec, Windowing};
use rdkafka::error::KafkaError;

/// Which pipeline a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `traffic-agg`: the built-in aggregation; output topic and group `traffic-agg`.
    Builtin,
    /// `traffic-agg-sql`: a Beam SQL query (the seed's by default); output topic and group `traffic-agg-sql`.
    Sql,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Builtin => "traffic-agg",
            Flavor::Sql => "traffic-agg-sql",
        }
    }
}

/// Page views per user id in event-time windows, from a Kafka topic to a Kafka topic.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Page views per user id in event-time windows, from a Kafka topic to a Kafka topic (traffic-agg-sql: from a Beam SQL query).",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Kafka brokers, host:port[,host:port...].
    #[arg(long, env = "BOOTSTRAP_SERVERS", default_value = "host.docker.internal:29092", value_parser = NonEmptyStringValueParser::new())]
    bootstrap_servers: String,
    /// How long to wait at start for a broker to answer before giving up (exit status 1).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    connect_timeout: Duration,
    /// The topic of website visits (JSON, one per message).
    #[arg(long, default_value = "website-visit", value_parser = NonEmptyStringValueParser::new())]
    input_topic: String,
    /// The topic window results go to.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    output_topic: Option<String>,
    /// Consumer group: processes with the same group split the input's partitions.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    group_id: Option<String>,
    /// Fixed windows of this size, shorthand for --windows fixed:SIZE (traffic-agg-sql takes its windows
    /// from the query's TUMBLE, HOP or SESSION instead).
    #[arg(long, value_name = "DURATION", conflicts_with = "windows")]
    window: Option<Duration>,
    /// traffic-agg: the windows, fixed:SIZE, sliding:SIZE,PERIOD, sessions:GAP (per user id) or global
    /// (needs a --trigger that fires before the end of time) [default: fixed:20s].
    #[arg(long, value_name = "WINDOWS", value_parser = window_spec)]
    windows: Option<WindowSpec>,
    /// When panes fire, in Beam's Java spelling, e.g.
    /// 'AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(10s))'
    /// (processing time is the wall clock) [default: DefaultTrigger.of()].
    #[arg(long, value_name = "EXPR", value_parser = trigger)]
    trigger: Option<Trigger>,
    /// Whether a window's last pane fires when it holds nothing new: FIRE_IF_NON_EMPTY or FIRE_ALWAYS.
    #[arg(long, value_name = "BEHAVIOR", default_value = "FIRE_IF_NON_EMPTY", value_parser = closing_behavior)]
    closing_behavior: ClosingBehavior,
    /// Whether the on-time pane fires when it holds nothing new: FIRE_ALWAYS or FIRE_IF_NON_EMPTY.
    #[arg(long, value_name = "BEHAVIOR", default_value = "FIRE_ALWAYS", value_parser = on_time_behavior)]
    on_time_behavior: OnTimeBehavior,
    /// traffic-agg-sql: the Beam SQL query file to run [default: the seed's TUMBLE query].
    #[arg(long, value_name = "FILE")]
    sql: Option<std::path::PathBuf>,
    /// How long after the watermark passes a window's end it still accepts late elements.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    allowed_lateness: Duration,
    /// How far out of event-time order records within one partition may be.
    #[arg(long, default_value_t = defaults::MAX_OUT_OF_ORDERNESS, value_name = "DURATION")]
    max_out_of_orderness: Duration,
    /// A partition the broker says is caught up and that is silent this long stops holding the
    /// watermark back (a broker outage never makes it idle); when all are, the watermark follows the
    /// wall clock.
    #[arg(long, default_value_t = defaults::IDLE_TIMEOUT, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Send records that do not parse here (original bytes; reason and source position in headers).
    #[arg(long, value_name = "TOPIC", value_parser = NonEmptyStringValueParser::new())]
    dlq_topic: Option<String>,
    /// Send records dropped as late here (original bytes; reason and source position in headers).
    #[arg(long, value_name = "TOPIC", value_parser = NonEmptyStringValueParser::new())]
    late_topic: Option<String>,
    /// Write outputs and commit input offsets in one Kafka transaction (needs a broker with
    /// transactions); consumers of the output should read with isolation.level=read_committed.
    #[arg(long)]
    exactly_once: bool,
    /// The transactional id for --exactly-once: unique per instance, the same across its restarts.
    /// Default: <group-id>-<hostname>.
    #[arg(long, value_name = "ID", requires = "exactly_once", value_parser = NonEmptyStringValueParser::new())]
    transactional_id: Option<String>,
    /// Re-key the input by user id through the internal topic <group-id>-repartition first (for input
    /// not keyed by id). Exact only with --exactly-once; see the README.
    #[arg(long)]
    repartition: bool,
    /// How often safe offsets are committed.
    #[arg(long, default_value_t = defaults::COMMIT_INTERVAL, value_name = "DURATION")]
    commit_interval: Duration,
    /// How often a progress line is logged (0 for never).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    progress_interval: Duration,
    /// The consumer's session timeout: how soon a crashed instance's partitions move to the others.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    session_timeout: Duration,
    /// Record what the pipeline sees (bundles with partition, offset and Kafka timestamp, dead-lettered
    /// raw records, the watermark steps, records dropped late per partition) to this scenario file;
    /// `simulate --file FILE` with the same windowing flags replays the run's panes, late records and
    /// dead letters exactly. Written through a temporary file beside it, renamed into place on stop.
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    /// Extra librdkafka consumer setting, KEY=VALUE (repeatable).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE", value_parser = key_value)]
    consumer_properties: Vec<(String, String)>,
    /// Extra librdkafka producer setting, KEY=VALUE (repeatable).
    #[arg(long = "producer-property", value_name = "KEY=VALUE", value_parser = key_value)]
    producer_properties: Vec<(String, String)>,
}

const AFTER_HELP: &str = "\
Durations: 500ms, 20s, 1m, 2h. Output messages: key {\"event_id\": ..., \"window_start\": ...}, value
{\"id\": ..., \"window_start\": ..., \"window_end\": ..., \"page_views\": ...}, as the seed writes them.
Ctrl-C or SIGTERM stops after flushing and committing. Logging: RUST_LOG (default info); a repeated
Kafka error is logged once per 10 s with the number of repeats.

Exit status:
  0  stopped cleanly (Ctrl-C or SIGTERM)
  1  no broker answered within --connect-timeout; a Kafka or delivery failure (restart to resume
     from the committed offsets); the --sql file cannot be read
  2  bad flags (bad durations, a zero --window, conflicting flags, unknown client properties, a
     --trigger that does not parse or that Beam refuses, --windows global with the default trigger) or
     a --sql query that does not compile

--record FILE writes a scenario file (flushed at least every 100 ms, renamed into place when the
runner stops) and prints the simulate command that replays it. It covers one partition assignment:
a rebalance ends it.

Windows and triggers follow Apache Beam (see simulate --help). Offsets are committed only once no open
window holds any record before them: with sessions, a long session holds its partition's commits back;
with the global window, commits wait for its state to be released.";

/// A `KEY=VALUE` client setting (`--consumer-property`, `--producer-property`), or why it is not one.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Why a binary stops before or instead of running.
enum Stop {
    /// Bad flags: a clap-style message and exit status 2.
    Usage(ErrorKind, String),
    /// The --sql query does not compile: exit status 2.
    Query(String),
    /// Anything else: one line and exit status 1.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Failed(e)
    }
}

impl From<crate::RuntimeError> for Stop {
    fn from(e: crate::RuntimeError) -> Self {
        Stop::Failed(e.into())
    }
}

/// Parses the command line of `flavor`'s binary, runs it until Ctrl-C or SIGTERM, and says how it ended.
pub fn main(flavor: Flavor) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    // The two binaries differ only in their defaults, which clap shows in --help.
    let mut command = Cli::command()
        .name(flavor.name())
        .mut_arg("output_topic", |a| a.default_value(flavor.name()))
        .mut_arg("group_id", |a| a.default_value(flavor.name()));
    if flavor == Flavor::Builtin {
        command = command.mut_arg("window", |a| a.default_value("20s"));
    }
    let cli = match Cli::from_arg_matches(&command.get_matches_mut()) {
        Ok(cli) => cli,
        Err(e) => e.with_cmd(&command).exit(),
    };
    let stop = match check_flags(&cli, flavor) {
        Ok(()) => {
            crate::client_log::init_stderr_logging("info");
            match run(cli, flavor) {
                Ok(()) => return ExitCode::SUCCESS,
                Err(stop) => stop,
            }
        }
        Err((kind, message)) => Stop::Usage(kind, message),
    };
    match stop {
        Stop::Usage(kind, message) => command.error(kind, message).exit(),
        Stop::Query(message) => {
            eprintln!("{}: error: {message}", flavor.name());
            ExitCode::from(2)
        }
        Stop::Failed(e) => {
            eprintln!("{}: error: {}", flavor.name(), crate::error::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    /// The windowing flags together (traffic-agg-sql's windows come from its query).
    fn windowing(&self) -> Windowing {
        Windowing {
            windows: match (self.windows, self.window) {
                (Some(windows), _) => windows,
                (None, size) => WindowSpec::Fixed(size.unwrap_or(Duration::seconds(20))),
            },
            allowed_lateness: self.allowed_lateness,
            accumulation: AccumulationMode::Discarding,
            trigger: self.trigger.clone().unwrap_or_default(),
            closing_behavior: self.closing_behavior,
            on_time_behavior: self.on_time_behavior,
        }
    }
}

/// The checks clap cannot make alone: values out of range and flags that contradict each other.
fn check_flags(cli: &Cli, flavor: Flavor) -> Result<(), (ErrorKind, String)> {
    if flavor == Flavor::Builtin && cli.sql.is_some() {
        return Err((
            ErrorKind::ArgumentConflict,
            "--sql belongs to traffic-agg-sql (or use simulate --sql)".to_owned(),
        ));
    }
    if flavor == Flavor::Sql && (cli.window.is_some() || cli.windows.is_some()) {
        let flag = if cli.window.is_some() { "--window" } else { "--windows" };
        return Err((
            ErrorKind::ArgumentConflict,
            format!("{flag} cannot be used with traffic-agg-sql: the query's TUMBLE, HOP or SESSION sets the windows"),
        ));
    }
    if flavor == Flavor::Builtin {
        if let Some(problem) = cli.windowing().unbounded_input_problem() {
            return Err((ErrorKind::ArgumentConflict, problem));
        }
    }
    let positive = [
        ("--window <DURATION>", cli.window),
        ("--connect-timeout <DURATION>", Some(cli.connect_timeout)),
        ("--idle-timeout <DURATION>", Some(cli.idle_timeout)),
        ("--commit-interval <DURATION>", Some(cli.commit_interval)),
        ("--session-timeout <DURATION>", Some(cli.session_timeout)),
    ];
    for (flag, value) in positive {
        if let Some(value) = value.filter(|v| v.as_millis() <= 0) {
            return Err((
                ErrorKind::ValueValidation,
                format!("invalid value '{value}' for '{flag}': must be longer than 0"),
            ));
        }
    }
    let outputs = [
        ("--output-topic", cli.output_topic.as_deref().unwrap_or(flavor.name())),
        ("--dlq-topic", cli.dlq_topic.as_deref().unwrap_or_default()),
        ("--late-topic", cli.late_topic.as_deref().unwrap_or_default()),
    ];
    if let Some((flag, _)) = outputs.iter().find(|(_, topic)| *topic == cli.input_topic) {
        return Err((
            ErrorKind::ArgumentConflict,
            format!(
                "--input-topic {} is also {flag}: the runner would read its own output",
                cli.input_topic
            ),
        ));
    }
    for (flag, properties, reserved) in [
        (
            "--consumer-property",
            &cli.consumer_properties,
            RESERVED_CONSUMER_PROPERTIES,
        ),
        (
            "--producer-property",
            &cli.producer_properties,
            RESERVED_PRODUCER_PROPERTIES,
        ),
    ] {
        for (key, value) in properties {
            if let Some((_, why)) = reserved.iter().find(|(reserved, _)| reserved == key) {
                return Err((
                    ErrorKind::ArgumentConflict,
                    format!("invalid value '{key}={value}' for '{flag} <KEY=VALUE>': {key} {why}"),
                ));
            }
        }
    }
    Ok(())
}

/// Consumer settings the runner sets itself after the --consumer-property ones, and why.
const RESERVED_CONSUMER_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "is set by --bootstrap-servers"),
    ("group.id", "is set by --group-id"),
    ("session.timeout.ms", "is set by --session-timeout"),
    ("heartbeat.interval.ms", "follows --session-timeout"),
    (
        "enable.auto.commit",
        "is off: offsets are committed only for acknowledged results",
    ),
    (
        "enable.auto.offset.store",
        "is off: offsets are committed only for acknowledged results",
    ),
    ("isolation.level", "follows --exactly-once"),
    (
        "partition.assignment.strategy",
        "is range: the runner relies on eager rebalances",
    ),
];

/// Producer settings the runner sets itself after the --producer-property ones, and why.
const RESERVED_PRODUCER_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "is set by --bootstrap-servers"),
    ("transactional.id", "is set by --transactional-id"),
];

/// Unknown or malformed librdkafka settings, found without connecting to anything.
fn check_client_properties(options: &RunnerOptions) -> Result<(), Stop> {
    let checks = [
        ("--consumer-property", options.consumer_config()),
        ("--producer-property", options.producer_config()),
    ];
    for (flag, config) in checks {
        if let Err(e) = config.create_native_config() {
            let message = match e {
                KafkaError::ClientConfig(_, description, key, value) => {
                    format!("invalid value '{key}={value}' for '{flag} <KEY=VALUE>': {description}")
                }
                e => format!("invalid value for '{flag} <KEY=VALUE>': {e}"),
            };
            return Err(Stop::Usage(ErrorKind::ValueValidation, message));
        }
    }
    Ok(())
}

/// Reads and compiles the query: an unreadable file is a failure (1), a query that does not compile a
/// usage error (2), as in `simulate`.
fn compile_query(cli: &Cli, flavor: Flavor) -> Result<Option<sql::SqlPipeline>, Stop> {
    let (text, name) = match (&cli.sql, flavor) {
        (Some(path), _) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the query {} (--sql)", path.display()))?,
            format!("the query {}", path.display()),
        ),
        (None, Flavor::Sql) => (sql::TRAFFIC_AGG_QUERY.to_owned(), "the built-in query".to_owned()),
        (None, Flavor::Builtin) => return Ok(None),
    };
    let windowing = cli.windowing();
    let options = sql::SqlOptions::default()
        .allowed_lateness(windowing.allowed_lateness)
        .trigger(windowing.trigger)
        .closing_behavior(windowing.closing_behavior)
        .on_time_behavior(windowing.on_time_behavior);
    sql::compile(&text, options)
        .map(Some)
        .map_err(|e| Stop::Query(format!("{name} does not compile: {e}")))
}

fn run(cli: Cli, flavor: Flavor) -> Result<(), Stop> {
    // Compile the query before touching Kafka: a bad query is the user's to fix, not a retry.
    let sql_pipeline = compile_query(&cli, flavor)?;
    let strategy = cli.windowing().strategy();
    let replay = cli.record.as_ref().map(|path| replay_command(&cli, flavor, path));
    let mut options = RunnerOptions::new(cli.bootstrap_servers);
    options.input_topic = cli.input_topic;
    options.output_topic = cli.output_topic.unwrap_or_else(|| flavor.name().to_owned());
    options.group_id = cli.group_id.unwrap_or_else(|| flavor.name().to_owned());
    options.max_out_of_orderness = cli.max_out_of_orderness;
    options.idle_timeout = wall(cli.idle_timeout);
    options.dlq_topic = cli.dlq_topic;
    options.late_topic = cli.late_topic;
    options.exactly_once = cli.exactly_once;
    options.transactional_id = cli.transactional_id;
    options.commit_interval = wall(cli.commit_interval);
    options.progress_interval = wall(cli.progress_interval);
    options.session_timeout = wall(cli.session_timeout);
    options.consumer_properties = cli.consumer_properties;
    options.producer_properties = cli.producer_properties;
    options.record = cli.record.clone();
    check_client_properties(&options)?;

    eprintln!("{}: connecting to {}", flavor.name(), options.bootstrap_servers);
    crate::connect::await_brokers(
        &options.consumer_config(),
        crate::connect::ClientKind::Consumer,
        wall(cli.connect_timeout),
    )?;
    let shutdown = Shutdown::on_signals().context("watching for Ctrl-C and SIGTERM")?;
    for problem in crate::produce::ensure_output_topics(&options) {
        tracing::warn!("{problem} (the broker may create it on first use)");
    }
    let stage = if cli.repartition {
        let repartition = RepartitionOptions::for_runner(&options);
        repartition::ensure_topic(&repartition).context("creating the repartition topic")?;
        options.input_topic = repartition.output_topic.clone();
        Some(repartition::spawn(repartition, shutdown.clone()).context("starting the repartition stage")?)
    } else {
        None
    };
    let result: Result<RunSummary, _> = match sql_pipeline {
        Some(pipeline) => run_pipeline(pipeline, options, &shutdown),
        None => run_pipeline(windowed_traffic_pipeline(strategy), options, &shutdown),
    };
    // The aggregation stopped (asked to, or failed): stop the repartition stage too.
    shutdown.request();
    if let Some(stage) = stage {
        stage.join().context("the repartition stage")?;
    }
    let summary = result.context("the aggregation stopped")?;
    let s = summary.stats;
    eprintln!(
        "{}: stopped cleanly: {} read, {} windows out, {} dead letters, {} late, {} commits",
        flavor.name(),
        s.records_read(),
        s.outputs_sent,
        s.pipeline.dead_lettered,
        s.late(),
        s.commits
    );
    if let (Some(replay), Some(lines)) = (replay, summary.recorded_lines) {
        eprintln!(
            "{}: recorded {lines} steps; replay them with:\n  {replay}",
            flavor.name()
        );
    }
    Ok(())
}

/// The `simulate` command that replays a recording at `path` with this run's windowing.
fn replay_command(cli: &Cli, flavor: Flavor, path: &std::path::Path) -> String {
    let windowing = cli.windowing();
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let mut command = format!(
        "simulate --file {} --input-format scenario",
        quote(&path.display().to_string())
    );
    match (&cli.sql, flavor) {
        (Some(query), _) => command.push_str(&format!(" --sql {}", quote(&query.display().to_string()))),
        // The built-in query of traffic-agg-sql is this file of the repository.
        (None, Flavor::Sql) => command.push_str(" --sql sql/queries/traffic_agg.sql"),
        (None, Flavor::Builtin) => command.push_str(&format!(" --windows {}", windowing.windows)),
    }
    command.push_str(&format!(" --allowed-lateness {}", windowing.allowed_lateness));
    if windowing.trigger != Trigger::default() {
        command.push_str(&format!(" --trigger {}", quote(&windowing.trigger.to_string())));
    }
    if windowing.closing_behavior != ClosingBehavior::default() {
        command.push_str(&format!(" --closing-behavior {}", windowing.closing_behavior));
    }
    if windowing.on_time_behavior != OnTimeBehavior::default() {
        command.push_str(&format!(" --on-time-behavior {}", windowing.on_time_behavior));
    }
    command
}
