//! The Kafka producers: the runner's, which sends what its [`kafka_core::ConsumerCore`] asks for and
//! reports each delivery back under the core's message id, and the plain one of [`crate::produce`] and
//! [`crate::repartition`], which counts acknowledgements and keeps the first failure.
//!
//! The bytes of each message (window results, dead letters, late records, with their headers) are
//! decided by the core ([`kafka_core::message`]); this module only puts them on the wire.
//! [`MessageProducer`] hands every delivery report to a channel as a [`Delivery`]; the runner feeds
//! them to the core, which commits offsets only once everything produced before them is acknowledged.
//! In exactly-once mode the producer is transactional and the runner carries out the core's
//! transaction steps with it.
//!
//! A record can be bigger than the producer may send (`message.max.bytes`, librdkafka's default
//! 1,000,000 bytes counting key, value and headers): the broker's own limit (1 MiB by default, or a
//! topic's `max.message.bytes`) is what let it into the input. Refusing it would stop the runner at
//! the same record after every restart, so such a dead letter or late record is cut to the longest
//! prefix that fits, with the headers `truncated: true` and `original.size: <bytes>`; the source
//! position in its headers still finds the whole record. Raising `message.max.bytes` (and the DLQ
//! topic's `max.message.bytes`) keeps bigger records whole. The repartition stage forwards records
//! the same way. A window result is never cut: one too big fails its delivery.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration as Wall;

use kafka_core::{Message, MessageKind, TxnError};
use pipeline::io::Position;
use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, Message as _, TopicPartitionList};

pub use kafka_core::message::KafkaOutput;

use crate::error::RuntimeError;

/// How long a flush or transaction call may take before the caller gives up (and a restart re-reads).
const FLUSH_TIMEOUT: Wall = Wall::from_secs(60);

/// librdkafka's `message.max.bytes` when it is not set.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// What librdkafka counts for a message besides its key, value and headers (the record's length,
/// attributes, timestamp and offset deltas and the lengths, as varints at their widest: 36 bytes),
/// rounded up.
const RECORD_OVERHEAD: usize = 64;

/// The producer's `message.max.bytes`: the most a message may take, key, value and headers.
#[derive(Debug, Clone, Copy)]
struct SizeLimit(usize);

impl SizeLimit {
    fn of(config: &ClientConfig) -> SizeLimit {
        SizeLimit(
            config
                .get("message.max.bytes")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES),
        )
    }

    /// The most value bytes a message with `key` and `headers` may carry.
    fn room_for(self, key: Option<&[u8]>, headers: &OwnedHeaders) -> usize {
        let key_size = key.map_or(0, <[u8]>::len);
        self.0
            .saturating_sub(RECORD_OVERHEAD + key_size + headers_size(headers))
    }

    /// `payload` whole with `headers` when it fits in one message; else its longest prefix that does,
    /// with the headers `truncated` and `original.size` added (see the module docs). The flag says
    /// whether it was cut.
    fn fit<'p>(
        self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &'p [u8],
        headers: OwnedHeaders,
        position: &dyn Display,
    ) -> (&'p [u8], OwnedHeaders, bool) {
        if payload.len() <= self.room_for(key, &headers) {
            return (payload, headers, false);
        }
        let original_size = payload.len().to_string();
        let headers = headers
            .insert(Header {
                key: "truncated",
                value: Some("true".as_bytes()),
            })
            .insert(Header {
                key: "original.size",
                value: Some(original_size.as_bytes()),
            });
        let room = self.room_for(key, &headers);
        crate::client_log::warn_repeated(
            "truncated",
            format_args!(
                "the record at {position} ({} bytes) is larger than a message may be (message.max.bytes {}): \
                 sent to {topic} cut to its first {room} bytes",
                payload.len(),
                self.0
            ),
        );
        (&payload[..room.min(payload.len())], headers, true)
    }
}

/// The bytes `headers` take in a record: each key and value with their varint lengths.
fn headers_size(headers: &OwnedHeaders) -> usize {
    use rdkafka::message::Headers;
    headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 2 * 5)
        .sum::<usize>()
        + 5
}

/// Whether a client error says that a newer producer with the same transactional id took over.
fn is_fenced(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
    )
}

/// Counts acknowledgements and keeps the first delivery failure.
#[derive(Debug, Default)]
pub struct DeliveryTracker {
    acked: AtomicU64,
    failure: Mutex<Option<(String, String)>>,
}

impl DeliveryTracker {
    /// Messages acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    fn take_failure(&self) -> Option<(String, String)> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl ClientContext for DeliveryTracker {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::client_log("producer", level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::client_log::client_error("producer", &error, reason);
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, message)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                if failure.is_none() {
                    *failure = Some((message.topic().to_owned(), error.to_string()));
                }
            }
        }
    }
}

/// The producer of [`crate::produce`] and [`crate::repartition`]: sends, then waits for every
/// acknowledgement at once ([`flush`](Self::flush), or a transaction's commit).
pub struct OutputProducer {
    producer: ThreadedProducer<DeliveryTracker>,
    transactional_id: Option<String>,
    in_transaction: bool,
    sent: u64,
    truncated: u64,
    limit: SizeLimit,
}

/// Sends `record`, waiting out a full local queue (back-pressure: librdkafka's background thread
/// drains it as the broker acknowledges); any other refusal is returned.
fn send_waiting<'a, C>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'a, [u8], [u8], C::DeliveryOpaque>,
) -> Result<(), KafkaError>
where
    C: ProducerContext + 'static,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Wall::from_millis(1));
            }
            Err((error, _)) => return Err(error),
        }
    }
}

impl OutputProducer {
    /// A producer from `config`; with `transactional.id` set in it, transactions are initialised (which
    /// fences any earlier instance with the same id and aborts its open transaction).
    pub fn new(config: &ClientConfig) -> Result<OutputProducer, RuntimeError> {
        let producer: ThreadedProducer<DeliveryTracker> = config
            .create_with_context(DeliveryTracker::default())
            .map_err(|source| RuntimeError::Client {
                client: "producer",
                bootstrap_servers: config.get("bootstrap.servers").unwrap_or_default().to_owned(),
                source,
            })?;
        let transactional_id = config.get("transactional.id").map(str::to_owned);
        if let Some(id) = &transactional_id {
            producer
                .init_transactions(FLUSH_TIMEOUT)
                .map_err(RuntimeError::kafka(format!("initialising transactions as {id}")))?;
        }
        Ok(OutputProducer {
            producer,
            transactional_id,
            in_transaction: false,
            sent: 0,
            truncated: 0,
            limit: SizeLimit::of(config),
        })
    }

    /// Whether outputs go out in transactions.
    pub fn is_transactional(&self) -> bool {
        self.transactional_id.is_some()
    }

    /// Messages sent so far (acknowledged or not).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Records sent cut short because the whole record did not fit.
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Messages acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.producer.context().acked()
    }

    /// Sends one message (opening a transaction first in exactly-once mode). A full local queue is
    /// waited out; any other refusal is an error.
    pub fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<(), RuntimeError> {
        self.begin_transaction()?;
        let mut record = BaseRecord::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        send_waiting(&self.producer, record).map_err(|source| RuntimeError::Kafka {
            operation: format!("producing to {topic}"),
            source,
        })?;
        self.sent += 1;
        Ok(())
    }

    /// Sends an input record's bytes (found at `position`) with `key` and `headers`: whole when they
    /// fit in one message, else the longest prefix that does, with the headers `truncated` and
    /// `original.size` (see the module documentation).
    pub fn send_record(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: OwnedHeaders,
        position: Position,
    ) -> Result<(), RuntimeError> {
        let (payload, headers, cut) = self.limit.fit(topic, key, payload, headers, &position);
        self.send(topic, key, payload, Some(headers))?;
        self.truncated += u64::from(cut);
        Ok(())
    }

    /// Waits until every message sent so far is acknowledged; the first delivery failure is an error.
    /// In exactly-once mode, use [`commit_transaction`](Self::commit_transaction) instead.
    pub fn flush(&mut self) -> Result<(), RuntimeError> {
        self.producer
            .flush(FLUSH_TIMEOUT)
            .map_err(RuntimeError::kafka("waiting for delivery reports"))?;
        self.check_deliveries()
    }

    fn check_deliveries(&self) -> Result<(), RuntimeError> {
        match self.producer.context().take_failure() {
            Some((topic, message)) => Err(RuntimeError::Delivery { topic, message }),
            None => Ok(()),
        }
    }

    fn begin_transaction(&mut self) -> Result<(), RuntimeError> {
        if self.transactional_id.is_none() || self.in_transaction {
            return Ok(());
        }
        self.producer
            .begin_transaction()
            .map_err(|e| self.transaction_error("beginning a transaction", e))?;
        self.in_transaction = true;
        Ok(())
    }

    /// Commits the open transaction (opening one if needed) together with `offsets` for the consumer
    /// group `group`. On failure the transaction is aborted and an error returned: the outputs since
    /// the last commit are discarded and the offsets stay where they were.
    pub fn commit_transaction(
        &mut self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), RuntimeError> {
        self.begin_transaction()?;
        let added = if offsets.count() == 0 {
            Ok(())
        } else {
            self.producer
                .send_offsets_to_transaction(offsets, group, FLUSH_TIMEOUT)
                .map_err(|e| self.transaction_error("adding offsets to the transaction", e))
        };
        let result = added
            .and_then(|()| {
                self.producer
                    .commit_transaction(FLUSH_TIMEOUT)
                    .map_err(|e| self.transaction_error("committing the transaction", e))
            })
            .and_then(|()| self.check_deliveries());
        match result {
            Ok(()) => {
                self.in_transaction = false;
                Ok(())
            }
            Err(e) => {
                self.abort_transaction();
                Err(e)
            }
        }
    }

    /// Aborts the open transaction, if any (best effort: a fenced producer cannot).
    pub fn abort_transaction(&mut self) {
        if self.in_transaction {
            if let Err(e) = self.producer.abort_transaction(FLUSH_TIMEOUT) {
                tracing::warn!("aborting the transaction failed: {e}");
            }
            self.in_transaction = false;
        }
    }

    fn transaction_error(&self, operation: &str, source: KafkaError) -> RuntimeError {
        let transactional_id = self.transactional_id.clone().unwrap_or_default();
        if is_fenced(&source) {
            RuntimeError::Fenced {
                transactional_id,
                message: source.to_string(),
            }
        } else {
            RuntimeError::Kafka {
                operation: format!("{operation} ({transactional_id})"),
                source,
            }
        }
    }
}

/// One delivery report of a [`MessageProducer`]: the core's message id and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The [`Message::id`] the message was sent under.
    pub id: u64,
    /// `Ok` when the broker acknowledged it; the client's reason when it finally gave up.
    pub result: Result<(), String>,
}

/// The context of a [`MessageProducer`]: logs through the limiter and passes every delivery report,
/// under the message id carried as the delivery opaque, to a channel.
pub struct DeliveryReports {
    reports: mpsc::Sender<Delivery>,
}

impl ClientContext for DeliveryReports {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::client_log("producer", level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::client_log::client_error("producer", &error, reason);
    }
}

impl ProducerContext for DeliveryReports {
    /// The message id (ids count the messages of one process: they fit in a `usize` on the 64-bit
    /// targets librdkafka is built for here).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let result = match result {
            Ok(_) => Ok(()),
            Err((error, message)) => Err(format!("{}: {error}", message.topic())),
        };
        // The receiver is gone only when the runner is; nothing is left to tell.
        let _ = self.reports.send(Delivery { id: id as u64, result });
    }
}

/// The runner's producer: sends the core's [`Message`]s, reports each delivery as a [`Delivery`], and
/// carries out transaction steps (exactly once).
pub struct MessageProducer {
    producer: ThreadedProducer<DeliveryReports>,
    transactional_id: Option<String>,
    truncated: u64,
    limit: SizeLimit,
}

impl MessageProducer {
    /// A producer from `config`, and the channel its delivery reports arrive on. With
    /// `transactional.id` set in `config`, transactions are initialised (which fences any earlier
    /// instance with the same id and aborts its open transaction).
    pub fn new(config: &ClientConfig) -> Result<(MessageProducer, mpsc::Receiver<Delivery>), RuntimeError> {
        let (reports, deliveries) = mpsc::channel();
        let producer: ThreadedProducer<DeliveryReports> = config
            .create_with_context(DeliveryReports { reports })
            .map_err(|source| RuntimeError::Client {
                client: "producer",
                bootstrap_servers: config.get("bootstrap.servers").unwrap_or_default().to_owned(),
                source,
            })?;
        let transactional_id = config.get("transactional.id").map(str::to_owned);
        if let Some(id) = &transactional_id {
            producer
                .init_transactions(FLUSH_TIMEOUT)
                .map_err(RuntimeError::kafka(format!("initialising transactions as {id}")))?;
        }
        let producer = MessageProducer {
            producer,
            transactional_id,
            truncated: 0,
            limit: SizeLimit::of(config),
        };
        Ok((producer, deliveries))
    }

    /// The transactional id, in exactly-once mode.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// Dead letters and late records sent cut short because the whole record did not fit.
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Sends `message`; its delivery is reported under its id. A dead letter or late record too big for
    /// one message is cut short (see the module docs). A full local queue is waited out; any other
    /// refusal is returned (no report follows it).
    pub fn send(&mut self, message: &Message) -> Result<(), KafkaError> {
        let key = message.key.as_deref();
        let (value, headers, cut) = match message.kind {
            MessageKind::DeadLetter | MessageKind::Late => {
                let position = source_position(message);
                let (value, headers, cut) =
                    self.limit
                        .fit(&message.topic, key, &message.value, owned_headers(message), &position);
                (value, Some(headers), cut)
            }
            // A window result has no headers (one per five input records here): no header list is
            // allocated for it.
            MessageKind::Output if message.headers.is_empty() => (message.value.as_slice(), None, false),
            MessageKind::Output => (message.value.as_slice(), Some(owned_headers(message)), false),
        };
        let mut record = BaseRecord::with_opaque_to(message.topic.as_str(), message.id as usize).payload(value);
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        send_waiting(&self.producer, record)?;
        self.truncated += u64::from(cut);
        Ok(())
    }

    /// `begin_transaction`.
    pub fn begin_transaction(&self) -> Result<(), TxnError> {
        self.producer.begin_transaction().map_err(txn_error)
    }

    /// `send_offsets_to_transaction` of `offsets` for the consumer group `group`.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.producer
            .send_offsets_to_transaction(offsets, group, FLUSH_TIMEOUT)
            .map_err(txn_error)
    }

    /// `commit_transaction`: waits for every message of the transaction, then commits it.
    pub fn commit_transaction(&self) -> Result<(), TxnError> {
        self.producer.commit_transaction(FLUSH_TIMEOUT).map_err(txn_error)
    }

    /// `abort_transaction`.
    pub fn abort_transaction(&self) -> Result<(), TxnError> {
        self.producer.abort_transaction(FLUSH_TIMEOUT).map_err(txn_error)
    }
}

/// `message`'s headers as librdkafka's list, with room for the two a cut adds.
fn owned_headers(message: &Message) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(message.headers.len() + 2);
    for (key, value) in &message.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_slice()),
        });
    }
    headers
}

fn txn_error(error: KafkaError) -> TxnError {
    TxnError {
        fenced: is_fenced(&error),
        message: error.to_string(),
    }
}

/// Where a dead letter or late record came from, as its headers say.
fn source_position(message: &Message) -> String {
    let number = |name: &str| -> Option<i64> {
        message
            .header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
    };
    let partition = number("source.partition").and_then(|p| i32::try_from(p).ok());
    match (partition, number("source.offset")) {
        (Some(partition), Some(offset)) => Position::Offset { partition, offset }.to_string(),
        _ => "an unknown position".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer that never connects: librdkafka checks a message's size when it is queued.
    fn offline_producer(properties: &[(&str, &str)]) -> MessageProducer {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        for (key, value) in properties {
            config.set(*key, *value);
        }
        MessageProducer::new(&config).unwrap().0
    }

    fn dead_letter(size: usize) -> Message {
        Message {
            id: 0,
            kind: MessageKind::DeadLetter,
            topic: "dlq".to_owned(),
            key: None,
            value: vec![b'x'; size],
            headers: vec![
                ("reason".to_owned(), b"expected value at line 1 column 1".to_vec()),
                ("source.topic".to_owned(), b"website-visit".to_vec()),
                ("source.partition".to_owned(), b"2".to_vec()),
                ("source.offset".to_owned(), b"17".to_vec()),
            ],
        }
    }

    fn owned_headers(message: &Message) -> OwnedHeaders {
        message.headers.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value.as_slice()),
            })
        })
    }

    #[test]
    fn a_dead_letter_too_big_for_one_message_is_sent_cut_short_instead_of_failing() {
        let mut producer = offline_producer(&[]);
        producer.send(&dead_letter(DEFAULT_MESSAGE_MAX_BYTES + 1)).unwrap();
        assert_eq!(producer.truncated(), 1);
    }

    #[test]
    fn a_window_result_is_never_cut() {
        let mut producer = offline_producer(&[]);
        let output = Message {
            kind: MessageKind::Output,
            ..dead_letter(DEFAULT_MESSAGE_MAX_BYTES + 1)
        };
        assert!(producer.send(&output).is_err());
        assert_eq!(producer.truncated(), 0);
    }

    #[test]
    fn the_largest_record_kept_whole_is_one_librdkafka_accepts() {
        let mut producer = offline_producer(&[]);
        let room = producer.limit.room_for(None, &owned_headers(&dead_letter(0)));
        assert!(room > DEFAULT_MESSAGE_MAX_BYTES - 1000, "{room}");
        // Sent as they are: librdkafka refuses a message once it is over its limit by a few bytes, so
        // the estimate of the overhead is safe and close.
        let whole = |size| Message {
            kind: MessageKind::Output,
            ..dead_letter(size)
        };
        producer.send(&whole(room)).unwrap();
        assert!(producer.send(&whole(room + 100)).is_err());
        producer.send(&dead_letter(room)).unwrap();
        assert_eq!(producer.truncated(), 0);
        producer.send(&dead_letter(room + 1)).unwrap();
        assert_eq!(producer.truncated(), 1);
    }

    #[test]
    fn a_raised_message_max_bytes_keeps_bigger_records_whole() {
        let mut producer = offline_producer(&[("message.max.bytes", "3000000")]);
        producer.send(&dead_letter(2_000_000)).unwrap();
        assert_eq!(producer.truncated(), 0);
    }

    #[test]
    fn a_cut_record_says_where_the_whole_one_is() {
        assert_eq!(source_position(&dead_letter(1)), "partition 2 offset 17");
    }
}
