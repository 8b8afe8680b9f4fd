//! Waiting for a broker at start: the binaries' `--connect-timeout`.
//!
//! librdkafka never gives up on a broker it cannot reach: it retries forever, and a process pointed
//! at a wrong address would wait (and log) forever too. Before they create anything else, the
//! binaries therefore ask the cluster for its metadata with a deadline ([`await_brokers`]); when no
//! broker answers in time they stop with one line naming the brokers, the deadline and the last cause
//! librdkafka reported (`no Kafka broker answered at 127.0.0.1:1 within 30s (last error: Connection
//! refused)`). The probe is a client of the same kind and configuration as the one that follows it,
//! so that security settings apply; what it logs on the way goes to the debug level only, since the
//! final error states the cause once.
//!
//! Once a broker has answered, a broker that goes away later is retried without limit, as librdkafka
//! does, with its errors logged once per interval ([`crate::client_log`]).

use std::sync::Mutex;
use std::time::{Duration as Wall, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientConfig;

use crate::error::RuntimeError;

/// Which kind of client the probe is: the kind the configuration was written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A consumer configuration (`group.id`, `isolation.level`, ...).
    Consumer,
    /// A producer configuration (`acks`, `linger.ms`, ...).
    Producer,
}

/// How long the probe waits between two metadata requests when one failed at once.
const RETRY_PAUSE: Wall = Wall::from_millis(100);

/// Waits until a broker of the cluster `config` points at answers a metadata request, at most
/// `timeout`; [`RuntimeError::Unreachable`] with librdkafka's last reported cause otherwise.
pub fn await_brokers(config: &ClientConfig, kind: ClientKind, timeout: Wall) -> Result<(), RuntimeError> {
    let bootstrap_servers = config.get("bootstrap.servers").unwrap_or_default().to_owned();
    let client_error = |source| RuntimeError::Client {
        client: "probe client",
        bootstrap_servers: bootstrap_servers.clone(),
        source,
    };
    let probe: Box<dyn Probe> = match kind {
        ClientKind::Consumer => {
            Box::new(BaseConsumer::from_config_and_context(config, ProbeContext::default()).map_err(client_error)?)
        }
        ClientKind::Producer => Box::new(
            BaseProducer::<ProbeContext>::from_config_and_context(config, ProbeContext::default())
                .map_err(client_error)?,
        ),
    };
    let deadline = Instant::now() + timeout;
    let mut last_failure = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match probe.metadata(remaining) {
            Ok(()) => return Ok(()),
            Err(e) => last_failure = e.rdkafka_error_code(),
        }
        // Runs the error callbacks (which say why) and paces the retries.
        probe.serve(RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now())));
    }
    let last_error = probe
        .context()
        .last_error()
        .or_else(|| last_failure.map(|code| code.to_string()));
    Err(RuntimeError::Unreachable {
        bootstrap_servers,
        timeout: pipeline::time::Duration::millis(timeout.as_millis().min(i64::MAX as u128) as i64),
        last_error,
    })
}

/// The two calls the probe needs from either kind of client.
trait Probe {
    fn metadata(&self, timeout: Wall) -> Result<(), KafkaError>;
    fn serve(&self, timeout: Wall);
    fn context(&self) -> &ProbeContext;
}

impl Probe for BaseConsumer<ProbeContext> {
    fn metadata(&self, timeout: Wall) -> Result<(), KafkaError> {
        self.fetch_metadata(None, timeout).map(drop)
    }

    fn serve(&self, timeout: Wall) {
        // Not subscribed: no records, only events.
        let _ = self.poll(timeout);
    }

    fn context(&self) -> &ProbeContext {
        Consumer::context(self)
    }
}

impl Probe for BaseProducer<ProbeContext> {
    fn metadata(&self, timeout: Wall) -> Result<(), KafkaError> {
        self.client().fetch_metadata(None, timeout).map(drop)
    }

    fn serve(&self, timeout: Wall) {
        self.poll(timeout);
    }

    fn context(&self) -> &ProbeContext {
        Producer::context(self)
    }
}

/// Keeps the most telling error librdkafka reported while probing.
#[derive(Debug, Default)]
struct ProbeContext {
    last_error: Mutex<Option<String>>,
}

impl ProbeContext {
    fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps `reason`'s cause, unless it is only a summary and a cause is known already.
    fn keep(&self, reason: &str, summary: bool) {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if !summary || last.is_none() {
            *last = Some(cause(reason).to_owned());
        }
    }
}

impl ClientContext for ProbeContext {
    fn log(&self, _: RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::client_log("probe client", RDKafkaLogLevel::Debug, facility, message);
        // A broker connection failed (a producer reports it only here, not as an error event).
        if facility == "FAIL" {
            self.keep(message, false);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!("probe client: {error}: {reason}");
        // "1/1 brokers are down" follows every failed connection; the failure itself says more.
        self.keep(
            reason,
            error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown),
        );
    }

    fn stats_raw(&self, _: &[u8]) {}
}

impl ConsumerContext for ProbeContext {}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// The cause in a librdkafka error reason, without the broker it concerns (the final message names
/// the brokers) and the connection state it happened in.
///
/// ```
/// use kafka_runtime::connect::cause;
/// assert_eq!(
///     cause("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)"),
///     "Connection refused"
/// );
/// ```
pub fn cause(reason: &str) -> &str {
    let mut text = reason.trim();
    // A log line starts with the thread it came from: "[thrd:127.0.0.1:1/bootstrap]: ".
    if text.starts_with("[thrd:") {
        if let Some((_, rest)) = text.split_once("]: ") {
            text = rest;
        }
    }
    if let Some(at) = text.find(" (after ") {
        text = &text[..at];
    }
    // "host:port/id: ..." or "host:port/bootstrap: ...": the broker the reason is about.
    if let Some((broker, rest)) = text.split_once(": ") {
        if broker.contains('/') && !broker.contains(' ') {
            text = rest;
        }
    }
    if text.starts_with("Connect to ") {
        if let Some((_, why)) = text.split_once(" failed: ") {
            text = why;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::cause;

    #[test]
    fn the_cause_of_a_refused_connection_is_connection_refused() {
        for reason in [
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)",
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT, 1 identical error(s) suppressed)",
            "localhost:9092/1: Connect to ipv6#[::1]:9092 failed: Connection refused (after 1ms in state CONNECT)",
            "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)",
        ] {
            assert_eq!(cause(reason), "Connection refused", "{reason}");
        }
    }

    #[test]
    fn other_causes_keep_their_words_without_the_broker_and_state() {
        assert_eq!(
            cause("nohost:29092/bootstrap: Failed to resolve 'nohost:29092': Name or service not known (after 2ms in state CONNECT)"),
            "Failed to resolve 'nohost:29092': Name or service not known"
        );
        assert_eq!(cause("1/1 brokers are down"), "1/1 brokers are down");
    }
}
