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
    /// A [`RuntimeError::Kafka`] for `operation`.
    pub(crate) fn kafka(operation: impl Into<String>) -> impl FnOnce(KafkaError) -> RuntimeError {
        let operation = operation.into();
        move |source| RuntimeError::Kafka { operation, source }
    }
}
