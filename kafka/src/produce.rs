//! Writing visit lines to a topic: the Kafka side of `datagen`, and replays of recorded traffic.
//!
//! [`produce`] sends [`OutLine`]s (a JSON visit and, optionally, the wall-clock time it is due) to a
//! topic, keyed by the visit's `id`, so that every visit of a user lands on one partition: the
//! precondition of a correct per-user count when several `traffic-agg` processes split the topic.
//! Lines that are not JSON objects with a string `id` (malformed records) are sent without a key.
//! The topic is created with the requested partition count when it does not exist. Every message is
//! acknowledged (`acks=all`, idempotent) before [`produce`] returns.
//!
//! Pacing is the caller's: a line with a due time is held until the wall clock reaches it (the live
//! generator gives each line its nominal time, so event time follows the wall clock, and a recorded
//! file replayed "at recorded pace" gives each line its offset from the first event); a line without
//! one goes at once. [`recorded_pace`] turns a recorded file's lines into paced ones.

use std::io::BufRead;
use std::time::{Duration as Wall, Instant, SystemTime, UNIX_EPOCH};

use pipeline::time::{Duration, Timestamp};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::client_log::LimitedLog;
use crate::error::RuntimeError;
use crate::shutdown::Shutdown;
use crate::sink::OutputProducer;

/// One line to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutLine {
    /// The message value: one JSON visit (or whatever the line holds).
    pub value: Vec<u8>,
    /// Wall-clock time the line is due, or `None` to send it at once.
    pub due: Option<Timestamp>,
}

/// Where and how to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceOptions {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The topic (the seed's `website-visit`).
    pub topic: String,
    /// Partitions to create the topic with when it does not exist.
    pub partitions: i32,
    /// Replication factor to create the topic with.
    pub replication_factor: i32,
    /// Extra librdkafka producer settings; they override the defaults (`acks=all`, idempotence on,
    /// `linger.ms=5`).
    pub producer_properties: Vec<(String, String)>,
}

impl ProduceOptions {
    /// `topic` at `bootstrap_servers`, created with 3 partitions (the seed's parallelism) and
    /// replication factor 1 when missing.
    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        ProduceOptions {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            partitions: 3,
            replication_factor: 1,
            producer_properties: Vec::new(),
        }
    }
}

impl ProduceOptions {
    /// The producer's configuration: idempotent, `acks=all`, `linger.ms=5`, then the extra settings.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("linger.ms", "5")
            .set("acks", "all")
            .set("enable.idempotence", "true");
        for (key, value) in &self.producer_properties {
            config.set(key, value);
        }
        config.set("bootstrap.servers", &self.bootstrap_servers);
        config
    }
}

/// What [`produce`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProduceSummary {
    /// Messages sent and acknowledged.
    pub sent: u64,
    /// Of those, messages sent without a key (lines without a string `id`).
    pub unkeyed: u64,
    /// Whether the topic had to be created.
    pub created_topic: bool,
}

/// Sends every line of `lines` to the topic, keyed by `id`, waiting for each line's due time, until the
/// lines run out or `shutdown` is raised; then waits for every acknowledgement. `on_sent(n, line)` is
/// called after the n-th line (1-based) was handed to the producer.
pub fn produce(
    options: &ProduceOptions,
    lines: impl IntoIterator<Item = OutLine>,
    shutdown: &Shutdown,
    mut on_sent: impl FnMut(u64, &OutLine),
) -> Result<ProduceSummary, RuntimeError> {
    let created_topic = create_topic_if_missing(
        &options.bootstrap_servers,
        &options.topic,
        options.partitions,
        options.replication_factor,
    )?;
    let mut producer = OutputProducer::new(&options.producer_config())?;
    let mut summary = ProduceSummary {
        created_topic,
        ..ProduceSummary::default()
    };
    for line in lines {
        if let Some(due) = line.due {
            if !wait_until(due, shutdown) {
                break;
            }
        }
        if shutdown.is_requested() {
            break;
        }
        let key = visit_id(&line.value);
        producer.send(&options.topic, key.as_deref().map(str::as_bytes), &line.value, None)?;
        summary.sent += 1;
        summary.unkeyed += u64::from(key.is_none());
        on_sent(summary.sent, &line);
    }
    producer.flush()?;
    Ok(summary)
}

/// The `id` of a JSON visit, if the bytes are an object with a string `id`.
///
/// ```
/// use kafka_runtime::produce::visit_id;
/// assert_eq!(visit_id(br#"{"ip": "1.2.3.4", "id": "42"}"#).as_deref(), Some("42"));
/// assert_eq!(visit_id(b"{not json"), None);
/// ```
pub fn visit_id(value: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(value).ok().map(|v| v.id)
}

/// Sleeps until the wall clock reaches `due`, checking `shutdown` every 100 ms; false when it was
/// raised.
fn wait_until(due: Timestamp, shutdown: &Shutdown) -> bool {
    loop {
        if shutdown.is_requested() {
            return false;
        }
        let now = wall_clock_millis();
        if now >= due.millis() {
            return true;
        }
        let wait = (due.millis() - now).min(100) as u64;
        std::thread::sleep(Wall::from_millis(wait));
    }
}

fn wall_clock_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The lines of a recorded JSONL file, each due when its event time's distance from the first event
/// has passed since `start` (the largest event time so far counts, so lines out of event-time order
/// go straight after their predecessor); lines without a readable `event_datetime` go at once after
/// the one before. `speed` divides the gaps (2.0 replays twice as fast).
pub fn recorded_pace(
    reader: impl BufRead,
    start: Timestamp,
    speed: f64,
) -> impl Iterator<Item = Result<OutLine, std::io::Error>> {
    let mut first: Option<Timestamp> = None;
    let mut latest: Option<Timestamp> = None;
    reader.split(b'\n').filter_map(move |line| {
        let mut line = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        if let Some(t) = event_time(&line) {
            latest = Some(latest.map_or(t, |l| l.max(t)));
            first.get_or_insert(t);
        }
        let due = match (first, latest) {
            (Some(f), Some(l)) => {
                let gap = (l.millis() - f.millis()) as f64 / speed.max(1e-9);
                start.plus(Duration::millis(gap as i64))
            }
            _ => start,
        };
        Some(Ok(OutLine {
            value: line,
            due: Some(due),
        }))
    })
}

/// The lines of a file as they are, to send as fast as possible.
pub fn as_fast_as_possible(reader: impl BufRead) -> impl Iterator<Item = Result<OutLine, std::io::Error>> {
    reader.split(b'\n').filter_map(|line| match line {
        Ok(mut line) => {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            (!line.iter().all(u8::is_ascii_whitespace)).then_some(Ok(OutLine { value: line, due: None }))
        }
        Err(e) => Some(Err(e)),
    })
}

fn event_time(line: &[u8]) -> Option<Timestamp> {
    #[derive(serde::Deserialize)]
    struct When {
        event_datetime: String,
    }
    let when: When = serde_json::from_slice(line).ok()?;
    Timestamp::parse_datetime(&when.event_datetime).ok()
}

/// Now, as a [`Timestamp`] (wall clock).
pub fn now() -> Timestamp {
    Timestamp::from_millis(wall_clock_millis())
}

/// Creates `topic` with `partitions` partitions unless it exists; true when it was created. Waits
/// until metadata shows it with a leader for every partition.
pub fn create_topic_if_missing(
    bootstrap_servers: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
) -> Result<bool, RuntimeError> {
    let admin: AdminClient<LimitedLog> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .create_with_context(LimitedLog { client: "admin client" })
        .map_err(|source| RuntimeError::Client {
            client: "admin client",
            bootstrap_servers: bootstrap_servers.to_owned(),
            source,
        })?;
    if partition_count(&admin, topic)?.is_some() {
        return Ok(false);
    }
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication_factor));
    let options = AdminOptions::new().operation_timeout(Some(Wall::from_secs(30)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RuntimeError::Io {
            path: "a tokio runtime for the admin client".to_owned(),
            source,
        })?;
    let results = runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .map_err(RuntimeError::kafka(format!("creating topic {topic}")))?;
    let mut created = true;
    for result in results {
        match result {
            Ok(_) => {}
            // Someone else created it in between: fine.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => created = false,
            Err((name, code)) => {
                return Err(RuntimeError::Kafka {
                    operation: format!("creating topic {name} with {partitions} partitions"),
                    source: rdkafka::error::KafkaError::AdminOp(code),
                })
            }
        }
    }
    let deadline = Instant::now() + Wall::from_secs(30);
    loop {
        if partition_count(&admin, topic)?.is_some_and(|n| n >= partitions) {
            return Ok(created);
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::Options(format!(
                "topic {topic} was created but did not show up with {partitions} led partitions within 30 s"
            )));
        }
        std::thread::sleep(Wall::from_millis(25));
    }
}

/// The number of partitions of `topic` that have a leader, or `None` when the topic does not exist.
/// Lists all topics (asking for one by name could auto-create it on some brokers).
fn partition_count(admin: &AdminClient<LimitedLog>, topic: &str) -> Result<Option<i32>, RuntimeError> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, Wall::from_secs(30))
        .map_err(RuntimeError::kafka("fetching metadata"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().filter(|p| p.leader() >= 0).count() as i32))
}

/// The number of partitions of `topic` (erroring when it does not exist).
pub fn topic_partitions(bootstrap_servers: &str, topic: &str) -> Result<i32, RuntimeError> {
    let admin: AdminClient<LimitedLog> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .create_with_context(LimitedLog { client: "admin client" })
        .map_err(|source| RuntimeError::Client {
            client: "admin client",
            bootstrap_servers: bootstrap_servers.to_owned(),
            source,
        })?;
    partition_count(&admin, topic)?
        .ok_or_else(|| RuntimeError::Options(format!("topic {topic} does not exist at {bootstrap_servers}")))
}

/// Creates the runner's output, DLQ and late topics that do not exist yet, with as many partitions as
/// the input topic (replication factor 1), so that they do not depend on the broker's auto-creation
/// defaults. Best effort: returns what could not be done, for the caller to log.
pub fn ensure_output_topics(options: &crate::RunnerOptions) -> Vec<String> {
    let servers = &options.bootstrap_servers;
    let partitions = match topic_partitions(servers, &options.input_topic) {
        Ok(n) => n,
        Err(e) => return vec![format!("not creating output topics: {e}")],
    };
    let mut topics = vec![&options.output_topic];
    topics.extend(options.dlq_topic.iter());
    topics.extend(options.late_topic.iter());
    let mut problems = Vec::new();
    for topic in topics {
        match create_topic_if_missing(servers, topic, partitions, 1) {
            Ok(true) => tracing::info!(topic = %topic, partitions, "created topic"),
            Ok(false) => {}
            Err(e) => problems.push(format!("creating topic {topic}: {e}")),
        }
    }
    problems
}
