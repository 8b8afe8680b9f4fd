//! The command lines of `traffic-agg` and `traffic-agg-sql`: the seed's traffic aggregation on Kafka,
//! built in or from the seed's SQL query. Both read website visits from a topic, count page views per
//! user id in event-time windows and write one message per window, committing input offsets only once
//! the windows they went into are acknowledged. The binaries only call [`main`].

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration as Wall;

use crate::repartition::{self, RepartitionOptions};
use crate::{run as run_pipeline, traffic_agg, RunSummary, RunnerOptions, Shutdown};
use anyhow::Context;
use clap::Parser;
use pipeline::strategy::AccumulationMode;
use pipeline::time::Duration;
use pipeline::traffic::TrafficConfig;

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
    #[arg(long, env = "BOOTSTRAP_SERVERS", default_value = "host.docker.internal:29092")]
    bootstrap_servers: String,
    /// The topic of website visits (JSON, one per message).
    #[arg(long, default_value = "website-visit")]
    input_topic: String,
    /// The topic window results go to.
    #[arg(long)]
    output_topic: Option<String>,
    /// Consumer group: processes with the same group split the input's partitions.
    #[arg(long)]
    group_id: Option<String>,
    /// Window size (traffic-agg-sql takes it from the query's TUMBLE or HOP instead).
    #[arg(long, value_name = "DURATION")]
    window: Option<Duration>,
    /// traffic-agg-sql: the Beam SQL query file to run [default: the seed's TUMBLE query].
    #[arg(long, value_name = "FILE")]
    sql: Option<std::path::PathBuf>,
    /// How long after the watermark passes a window's end it still accepts late elements.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    allowed_lateness: Duration,
    /// How far out of event-time order records within one partition may be.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    max_out_of_orderness: Duration,
    /// A partition silent this long stops holding the watermark back; when all are, the watermark
    /// follows the wall clock.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    idle_timeout: Duration,
    /// Send records that do not parse here (original bytes; reason and source position in headers).
    #[arg(long, value_name = "TOPIC")]
    dlq_topic: Option<String>,
    /// Send records dropped as late here (original bytes; reason and source position in headers).
    #[arg(long, value_name = "TOPIC")]
    late_topic: Option<String>,
    /// Write outputs and commit input offsets in one Kafka transaction (needs a broker with
    /// transactions); consumers of the output should read with isolation.level=read_committed.
    #[arg(long)]
    exactly_once: bool,
    /// The transactional id for --exactly-once: unique per instance, the same across its restarts.
    /// Default: <group-id>-<hostname>.
    #[arg(long, value_name = "ID", requires = "exactly_once")]
    transactional_id: Option<String>,
    /// Re-key the input by user id through the internal topic <group-id>-repartition first (for input
    /// not keyed by id). Exact only with --exactly-once; see the README.
    #[arg(long)]
    repartition: bool,
    /// How often safe offsets are committed.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    commit_interval: Duration,
    /// How often a progress line is logged (0 for never).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    progress_interval: Duration,
    /// The consumer's session timeout: how soon a crashed instance's partitions move to the others.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    session_timeout: Duration,
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
Ctrl-C or SIGTERM stops after flushing and committing. Logging: RUST_LOG (default info).

Exit status: 0 after a clean stop, 1 on a Kafka or delivery failure (restart to resume from the
committed offsets), 2 for bad flags.";

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn wall(d: Duration) -> Wall {
    Wall::from_millis(d.as_millis().max(0) as u64)
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
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if flavor == Flavor::Builtin && cli.sql.is_some() {
        eprintln!("traffic-agg: error: --sql belongs to traffic-agg-sql (or use simulate --sql)");
        return ExitCode::from(2);
    }
    if flavor == Flavor::Sql && cli.window.is_some() {
        eprintln!("traffic-agg-sql: error: --window cannot be used: the query's TUMBLE or HOP sets the windows");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli, flavor) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: error: {e:#}", flavor.name());
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, flavor: Flavor) -> anyhow::Result<()> {
    // Compile the query before touching Kafka: a bad query is the user's to fix, not a retry.
    let query = match (&cli.sql, flavor) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(text)
        }
        (None, Flavor::Sql) => Some(sql::TRAFFIC_AGG_QUERY.to_owned()),
        (None, Flavor::Builtin) => None,
    };
    let sql_pipeline = match &query {
        Some(text) => Some(
            sql::compile(text, sql::SqlOptions::default().allowed_lateness(cli.allowed_lateness))
                .map_err(|e| anyhow::anyhow!("the query does not compile:\n{e}"))?,
        ),
        None => None,
    };
    let shutdown = Shutdown::on_signals().context("watching for Ctrl-C and SIGTERM")?;
    let config = TrafficConfig {
        window: cli.window.unwrap_or(Duration::seconds(20)),
        allowed_lateness: cli.allowed_lateness,
        accumulation: AccumulationMode::Discarding,
    };
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
        None => traffic_agg(config, options, &shutdown),
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
        s.pipeline.read + s.replay_skipped + s.late_behind_floor,
        s.outputs_sent,
        s.pipeline.dead_lettered,
        s.pipeline.dropped_late + s.late_behind_floor,
        s.commits
    );
    Ok(())
}
