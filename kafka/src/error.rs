//! The errors of the Kafka runtime: one variant per thing that can go wrong, each naming the topic,
//! partition or setting involved.

use rdkafka::error::KafkaError;

/// Something that stops a Kafka runner or producer. Bad records never do: they are dead letters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A client could not be created from its configuration.
    #[error("creating the {client} for {bootstrap_servers}: {source}")]
    Client {
        /// Which client (consumer, producer, admin client).
        client: &'static str,
        /// The brokers it was pointed at.
        bootstrap_servers: String,
        /// The client error.
        source: KafkaError,
    },
    /// A client call failed.
    #[error("{operation}: {source}")]
    Kafka {
        /// What was being done, naming the topic and partition when there is one.
        operation: String,
        /// The client error.
        source: KafkaError,
    },
    /// The broker did not acknowledge a message: nothing past it is committed, and a restart re-reads.
    #[error("delivery to {topic} failed: {message}")]
    Delivery {
        /// The topic the message was for.
        topic: String,
        /// What the client reported.
        message: String,
    },
    /// The producer was fenced by a newer instance with the same transactional id.
    #[error("the transactional producer {transactional_id} was fenced by a newer instance: {message}")]
    Fenced {
        /// The transactional id.
        transactional_id: String,
        /// What the client reported.
        message: String,
    },
    /// A transaction step failed (and was aborted): nothing of it was committed.
    #[error("{step} ({transactional_id}) failed: {message}")]
    Transaction {
        /// The transactional id.
        transactional_id: String,
        /// The step that failed.
        step: kafka_core::TxnStep,
        /// What the client reported.
        message: String,
    },
    /// The consumer core stopped for a reason this crate has no variant for.
    #[error(transparent)]
    Core(kafka_core::CoreError),
    /// No broker answered within the connect timeout ([`crate::connect::await_brokers`]).
    #[error(
        "no Kafka broker answered at {bootstrap_servers} within {timeout}{}",
        last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default()
    )]
    Unreachable {
        /// The brokers tried.
        bootstrap_servers: String,
        /// How long they were given.
        timeout: pipeline::time::Duration,
        /// The last cause librdkafka reported, if it reported one.
        last_error: Option<String>,
    },
    /// The options cannot work together.
    #[error("{0}")]
    Options(String),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// Why a consumer core stopped, as a runtime error; `transactional_id` names the producer.
    pub fn from_core(error: kafka_core::CoreError, transactional_id: Option<&str>) -> RuntimeError {
        use kafka_core::CoreError;
        let transactional_id = transactional_id.unwrap_or_default().to_owned();
        match error {
            CoreError::Delivery { topic, message } => RuntimeError::Delivery { topic, message },
            CoreError::Fenced { message } => RuntimeError::Fenced {
                transactional_id,
                message,
            },
            CoreError::Transaction { step, message } => RuntimeError::Transaction {
                transactional_id,
                step,
                message,
            },
            other => RuntimeError::Core(other),
        }
    }

    /// A [`RuntimeError::Kafka`] for `operation`.
    pub(crate) fn kafka(operation: impl Into<String>) -> impl FnOnce(KafkaError) -> RuntimeError {
        let operation = operation.into();
        move |source| RuntimeError::Kafka { operation, source }
    }
}

/// An error and its causes on one line, each cause once: a cause whose text its parent already
/// quotes (librdkafka's errors quote their code, and ours quote librdkafka's) is left out.
///
/// ```
/// use kafka_runtime::error::one_line;
/// let error = anyhow::anyhow!("Local: Broker transport failure")
///     .context("fetching metadata: Local: Broker transport failure")
///     .context("sending to topic website-visit");
/// assert_eq!(
///     one_line(&error),
///     "sending to topic website-visit: fetching metadata: Local: Broker transport failure"
/// );
/// ```
pub fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
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
