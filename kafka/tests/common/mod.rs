//! Shared helpers of the Kafka integration tests: producing the recorded traffic, running the
//! `traffic-agg` binary as a child, reading topics to their end, and the reference windows computed by
//! the simulator with a perfect watermark.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use formats::jsonl::JsonlSource;
use kafka_runtime::produce::{as_fast_as_possible, produce, ProduceOptions};
use kafka_runtime::Shutdown;
use pipeline::io::memory::MemorySink;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use pipeline::watermark::WatermarkStrategy;
use pipeline::WindowOutput;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use simulator::{simulate, SimulationOptions, Sinks};
use test_broker::{unique_name, TestBroker};

/// The recorded traffic: 5000 visits of 20 users, with jitter, late and malformed records.
pub fn visits_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/visits.jsonl")
}

/// Produces every line of `path` to `topic` as fast as possible, keyed by id.
pub fn produce_file(bootstrap_servers: &str, topic: &str, path: &Path) -> u64 {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open the recorded traffic"));
    let lines = as_fast_as_possible(file).map(|l| l.expect("read a line"));
    produce(
        &ProduceOptions::new(bootstrap_servers, topic),
        lines,
        &Shutdown::new(),
        |_, _| {},
    )
    .expect("produce the recorded traffic")
    .sent
}

/// Produces `lines` (raw values) to `topic`, keyed by id where they have one.
pub fn produce_lines(bootstrap_servers: &str, topic: &str, lines: &[Vec<u8>]) {
    let lines = lines.iter().map(|value| kafka_runtime::produce::OutLine {
        value: value.clone(),
        due: None,
    });
    produce(
        &ProduceOptions::new(bootstrap_servers, topic),
        lines,
        &Shutdown::new(),
        |_, _| {},
    )
    .expect("produce lines");
}

/// Creates `topic` with `partitions` partitions and the topic settings `configs` (such as
/// `max.message.bytes`), and waits until metadata shows a leader for every partition.
pub fn create_topic_with_configs(bootstrap_servers: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = quiet_client(bootstrap_servers).create().expect("admin client");
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .expect("create topics")
    {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name} with {configs:?}: {code}"));
    }
    wait_for(
        &format!("topic {topic} to have a leader"),
        Duration::from_secs(60),
        || {
            admin
                .inner()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .is_ok_and(|m| {
                    m.topics().iter().any(|t| {
                        t.name() == topic
                            && t.partitions().len() == partitions as usize
                            && t.partitions().iter().all(|p| p.error().is_none() && p.leader() >= 0)
                    })
                })
        },
    );
}

/// The windows `simulate --watermark perfect` computes for `path` (key JSON → value JSON).
pub fn reference_windows(path: &Path) -> BTreeMap<String, String> {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    perfect_windows(
        &pipeline,
        &mut JsonlSource::open(path).expect("open the recorded traffic"),
    )
}

/// The windows a perfect watermark gives for these records (their order does not matter: nothing is
/// late).
pub fn reference_windows_of(payloads: impl IntoIterator<Item = Vec<u8>>) -> BTreeMap<String, String> {
    let pipeline = traffic_pipeline(TrafficConfig::default());
    perfect_windows(
        &pipeline,
        &mut pipeline::io::memory::MemorySource::from_payloads(payloads),
    )
}

/// The messages (key JSON → value JSON) any pipeline emits for `source` under a perfect watermark.
pub fn perfect_windows<E, K, C, O>(
    pipeline: &pipeline::Pipeline<E, K, C, O>,
    source: &mut dyn pipeline::io::Source,
) -> BTreeMap<String, String>
where
    K: Clone + Ord + std::hash::Hash,
    C: pipeline::combine::CombineFn + Clone,
    O: kafka_runtime::sink::KafkaOutput + Clone,
{
    let mut outputs: MemorySink<WindowOutput<K, O>> = MemorySink::default();
    let mut late = MemorySink::default();
    let mut dead = MemorySink::default();
    let options = SimulationOptions {
        watermark: WatermarkStrategy::Perfect,
        ..SimulationOptions::default()
    };
    simulate(
        pipeline,
        source,
        &options,
        Sinks {
            outputs: &mut outputs,
            late: &mut late,
            dead_letters: &mut dead,
        },
        &mut |_| {},
    )
    .expect("simulate");
    let mut windows = BTreeMap::new();
    for output in outputs.items {
        let key = String::from_utf8(output.value.message_key()).unwrap();
        let value = String::from_utf8(output.value.message_value()).unwrap();
        assert!(
            windows.insert(key, value).is_none(),
            "one pane per window with a perfect watermark"
        );
    }
    windows
}

/// One message read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: String,
    pub headers: BTreeMap<String, String>,
}

/// One message read back with its exact bytes (headers as text: the runner writes them as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRead {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// Reads `topic` from the beginning to its current end (every partition's high watermark at the time
/// of the call), optionally `read_committed`.
pub fn read_topic(bootstrap_servers: &str, topic: &str, read_committed: bool) -> Vec<Read> {
    read_topic_raw(bootstrap_servers, topic, read_committed)
        .into_iter()
        .map(|r| Read {
            partition: r.partition,
            offset: r.offset,
            key: r.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
            value: String::from_utf8_lossy(&r.value).into_owned(),
            headers: r.headers,
        })
        .collect()
}

/// [`read_topic`] with keys and values as bytes, untouched.
pub fn read_topic_raw(bootstrap_servers: &str, topic: &str, read_committed: bool) -> Vec<RawRead> {
    let consumer: BaseConsumer = quiet_client(bootstrap_servers)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .expect("reader");
    // librdkafka reports a dropped connection ("all brokers down") as an error and reconnects by itself;
    // only a fatal error, or no progress by the deadline, fails the read.
    let deadline = Instant::now() + Duration::from_secs(60);
    let metadata = retried("read the topic's metadata", deadline, || {
        consumer.fetch_metadata(Some(topic), Duration::from_secs(10))
    });
    let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        let (_, high) = retried("read a partition's end", deadline, || {
            consumer.fetch_watermarks(topic, p, Duration::from_secs(10))
        });
        ends.insert(p, high);
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let mut last_error = None;
    loop {
        let positions = consumer.position().expect("position");
        let done = partitions.iter().all(|&p| {
            let end = ends[&p];
            end == 0
                || matches!(positions.find_partition(topic, p).map(|e| e.offset()), Some(Offset::Offset(o)) if o >= end)
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reading {topic} to {ends:?} timed out at {positions:?} (last client error: {last_error:?})"
        );
        if let Some(polled) = consumer.poll(Duration::from_millis(100)) {
            let message = match polled {
                Ok(message) => message,
                Err(e) if !test_broker::poll_on_after(&e) => panic!("read a message: {e}"),
                Err(e) => {
                    // Said once per kind: a broker away for the whole deadline repeats it ten times a second.
                    let error = e.to_string();
                    if last_error.as_ref() != Some(&error) {
                        eprintln!("reading {topic}: {error}; reading on");
                    }
                    last_error = Some(error);
                    continue;
                }
            };
            let mut headers = BTreeMap::new();
            if let Some(h) = message.headers() {
                for header in h.iter() {
                    headers.insert(
                        header.key.to_owned(),
                        String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            out.push(RawRead {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
    }
    out
}

/// `call`'s value, calling it again after an error that is not fatal until `deadline`.
fn retried<T>(what: &str, deadline: Instant, mut call: impl FnMut() -> KafkaResult<T>) -> T {
    let mut last_error = None;
    loop {
        match call() {
            Ok(value) => return value,
            Err(e) if test_broker::poll_on_after(&e) && Instant::now() < deadline => {
                let error = e.to_string();
                if last_error.as_ref() != Some(&error) {
                    eprintln!("{what}: {error}; trying again");
                }
                last_error = Some(error);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

fn quiet_client(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("broker.address.family", "v4")
        .set_log_level(RDKafkaLogLevel::Error);
    config
}

/// Whether `group` has committed, for every partition of `topic`, the partition's end offset.
pub fn group_caught_up(bootstrap_servers: &str, group: &str, topic: &str) -> bool {
    let consumer: BaseConsumer = quiet_client(bootstrap_servers)
        .set("group.id", group)
        .create()
        .expect("probe");
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return false;
    };
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in metadata.topics()[0].partitions() {
        let Ok((_, high)) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10)) else {
            return false;
        };
        ends.insert(p.id(), high);
        tpl.add_partition(topic, p.id());
    }
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10)) else {
        return false;
    };
    committed.elements().iter().all(|e| {
        let end = ends[&e.partition()];
        end == 0 || matches!(e.offset(), Offset::Offset(o) if o >= end)
    })
}

/// Polls `condition` every 100 ms until it holds, failing after `timeout` with `what`.
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One test's job on the broker: unique names for its topics and consumer group, the topics created.
pub struct Job {
    pub servers: String,
    pub input: String,
    pub output: String,
    pub dlq: String,
    pub late: String,
    pub group: String,
}

impl Job {
    /// Creates the input, output, DLQ and late topics, `partitions` partitions each.
    pub fn create(broker: &TestBroker, partitions: i32) -> Job {
        Job::create_with_configs(broker, partitions, &[])
    }

    /// As [`Job::create`], with topic-level `configs` (through the admin API when there are some).
    pub fn create_with_configs(broker: &TestBroker, partitions: i32, configs: &[(&str, &str)]) -> Job {
        let job = Job {
            servers: broker.bootstrap_servers().to_owned(),
            input: unique_name("website-visit"),
            output: unique_name("traffic-agg"),
            dlq: unique_name("dlq"),
            late: unique_name("late"),
            group: unique_name("traffic-agg"),
        };
        for topic in [&job.input, &job.output, &job.dlq, &job.late] {
            if configs.is_empty() {
                broker.create_topic(topic, partitions).unwrap();
            } else {
                create_topic_with_configs(&job.servers, topic, partitions, configs);
            }
        }
        job
    }

    /// The topic and group flags of `traffic-agg` for this job, then `extra`.
    pub fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--input-topic",
            &self.input,
            "--output-topic",
            &self.output,
            "--group-id",
            &self.group,
            "--dlq-topic",
            &self.dlq,
            "--late-topic",
            &self.late,
        ];
        args.extend_from_slice(extra);
        args
    }

    /// Waits until the group has committed the whole input topic, failing as soon as one of `running`
    /// exits.
    pub fn wait_until_consumed(&self, timeout: Duration, running: &mut [&mut AggProcess]) {
        self.wait_until_group_consumed(&self.group, &self.input, timeout, running);
    }

    /// Waits until `group` has committed the whole of `topic`, failing as soon as one of `running` exits.
    pub fn wait_until_group_consumed(
        &self,
        group: &str,
        topic: &str,
        timeout: Duration,
        running: &mut [&mut AggProcess],
    ) {
        wait_for(
            &format!("group {group} to commit the whole of {topic}"),
            timeout,
            || {
                running.iter_mut().for_each(|agg| agg.assert_running());
                group_caught_up(&self.servers, group, topic)
            },
        );
    }

    /// The output topic read to its end, checked against the reference windows of the recording
    /// (deduplicated by key); returns what was read.
    pub fn assert_output_is_the_reference(&self, read_committed: bool) -> Vec<Read> {
        let reads = read_topic(&self.servers, &self.output, read_committed);
        let expected = reference_windows(&visits_file());
        let actual = dedupe(&reads);
        assert_eq!(actual, expected, "{}", describe_difference(&expected, &actual));
        reads
    }
}

/// The `traffic-agg` binary with the test broker and topics, logging to a file in `log_dir`.
pub struct AggProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl AggProcess {
    /// Starts `traffic-agg` with `args` after the broker address.
    pub fn start(broker: &TestBroker, args: &[&str], log: PathBuf) -> AggProcess {
        AggProcess::start_binary(env!("CARGO_BIN_EXE_traffic-agg"), broker, args, log)
    }

    /// Starts `binary` (`traffic-agg` or `traffic-agg-sql`) with `args` after the broker address.
    pub fn start_binary(binary: &str, broker: &TestBroker, args: &[&str], log: PathBuf) -> AggProcess {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(binary)
            .arg("--bootstrap-servers")
            .arg(broker.bootstrap_servers())
            .args(args)
            .env("RUST_LOG", "info,kafka_runtime=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("spawn traffic-agg");
        AggProcess { child, log }
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit (status 0).
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "traffic-agg exited with {status}; log:\n{}",
                    self.log_text()
                );
                return;
            }
            assert!(Instant::now() < deadline, "traffic-agg did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fails with the log when the process already exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!("traffic-agg exited early with {status}; log:\n{}", self.log_text());
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AggProcess {
    fn drop(&mut self) {
        if std::env::var_os("TRAFFIC_AGG_TEST_LOGS").is_some() {
            eprintln!("--- {} ---\n{}", self.log.display(), self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Dedupes `reads` by key, asserting that no key has two different values.
pub fn dedupe(reads: &[Read]) -> BTreeMap<String, String> {
    let mut windows = BTreeMap::new();
    for read in reads {
        let key = read.key.clone().expect("outputs are keyed");
        if let Some(previous) = windows.insert(key.clone(), read.value.clone()) {
            assert_eq!(previous, read.value, "two different values for {key}");
        }
    }
    windows
}

/// Diff-style description of how two window maps differ (first few keys).
pub fn describe_difference(expected: &BTreeMap<String, String>, actual: &BTreeMap<String, String>) -> String {
    let mut lines = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => lines.push(format!("missing {k} = {v}")),
            Some(a) if a != v => lines.push(format!("differs {k}: expected {v}, got {a}")),
            _ => {}
        }
    }
    for (k, v) in actual {
        if !expected.contains_key(k) {
            lines.push(format!("extra {k} = {v}"));
        }
    }
    let n = lines.len();
    lines.truncate(10);
    format!("{n} differences, first: \n{}", lines.join("\n"))
}

/// The sum over partitions of `group`'s committed offsets on `topic` (0 for uncommitted partitions).
pub fn committed_total(bootstrap_servers: &str, group: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = quiet_client(bootstrap_servers)
        .set("group.id", group)
        .create()
        .expect("probe");
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return 0;
    };
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition(topic, p.id());
    }
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10)) else {
        return 0;
    };
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// The sum over partitions of `topic`'s high watermarks: how many messages it holds.
pub fn topic_end_total(bootstrap_servers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = quiet_client(bootstrap_servers).create().expect("probe");
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return 0;
    };
    metadata.topics()[0]
        .partitions()
        .iter()
        .filter_map(|p| consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10)).ok())
        .map(|(_, high)| high)
        .sum()
}

/// Produces the recorded traffic to `topic` on a thread, `per_second` lines a second, keyed by id.
pub fn feed_file_slowly(bootstrap_servers: &str, topic: &str, per_second: f64) -> std::thread::JoinHandle<u64> {
    let options = ProduceOptions::new(bootstrap_servers, topic);
    std::thread::spawn(move || {
        let file = std::io::BufReader::new(std::fs::File::open(visits_file()).expect("open the recorded traffic"));
        let start = kafka_runtime::produce::now();
        let gap_ms = 1000.0 / per_second;
        let lines = as_fast_as_possible(file).enumerate().map(|(i, line)| {
            let mut line = line.expect("read a line");
            line.due = Some(start.plus(pipeline::time::Duration::millis((i as f64 * gap_ms) as i64)));
            line
        });
        produce(&options, lines, &Shutdown::new(), |_, _| {})
            .expect("produce the recorded traffic")
            .sent
    })
}
