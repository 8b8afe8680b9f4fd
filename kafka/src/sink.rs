//! The Kafka sink: window results, dead letters and late records as Kafka messages, with delivery
//! reports awaited before anything is committed.
//!
//! Window results are written with the key and value their [`KafkaOutput`] implementation gives; for
//! the traffic aggregation those are the seed's exact bytes: key `{"event_id": ..., "window_start":
//! ...}` and value `{"id": ..., "window_start": ..., "window_end": ..., "page_views": ...}`, in
//! Python's `json.dumps` layout. The key is the same on every replay of a window, so a compacted output
//! topic keeps one value per window.
//!
//! A dead letter's value is the original record, untouched; its headers say why and where from:
//! `reason`, `source.topic`, `source.partition`, `source.offset`. A late record has the same, plus
//! `event_time` and `watermark`.
//!
//! A record can be bigger than the producer may send (`message.max.bytes`, librdkafka's default
//! 1,000,000 bytes counting key, value and headers): the broker's own limit (1 MiB by default, or a
//! topic's `max.message.bytes`) is what let it into the input. Refusing it would stop the runner at
//! the same record after every restart, so such a dead letter or late record is cut to the longest
//! prefix that fits, with the headers `truncated: true` and `original.size: <bytes>`; the source
//! position in its headers still finds the whole record. Raising `message.max.bytes` (and the DLQ
//! topic's `max.message.bytes`) keeps bigger records whole.
//!
//! [`OutputProducer::flush`] returns only when every message sent so far was acknowledged, or with the
//! first delivery failure: the runner commits offsets only after a successful flush. In exactly-once
//! mode the producer is transactional and [`OutputProducer::commit_transaction`] commits the outputs
//! together with the input offsets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration as Wall;

use pipeline::io::{pyjson, DeadLetter, LateRecord, Position};
use pipeline::traffic::TrafficAgg;
use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, Message, TopicPartitionList};

use crate::error::RuntimeError;

/// How a pipeline output becomes a Kafka message.
pub trait KafkaOutput {
    /// The message key.
    fn message_key(&self) -> Vec<u8>;
    /// The message value.
    fn message_value(&self) -> Vec<u8>;
}

impl KafkaOutput for TrafficAgg {
    /// `{"event_id": ..., "window_start": ...}`, as the seed's `create_message` writes it.
    fn message_key(&self) -> Vec<u8> {
        pyjson::to_string(&self.key()).into_bytes()
    }

    /// The seed's `json.dumps(element)`.
    fn message_value(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }
}

impl KafkaOutput for sql::SqlRow {
    /// `{"event_id": ..., "window_start": ...}` as the seed's SQL version writes it, when the query has
    /// both columns; otherwise the whole row, so equal rows still share a key.
    fn message_key(&self) -> Vec<u8> {
        self.message_key()
            .unwrap_or_else(|| self.clone())
            .to_json()
            .into_bytes()
    }

    /// The row as `json.dumps` of its dict, columns in `SELECT` order.
    fn message_value(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }
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

/// The producer of a runner: outputs, dead letters and late records.
pub struct OutputProducer {
    producer: ThreadedProducer<DeliveryTracker>,
    transactional_id: Option<String>,
    in_transaction: bool,
    sent: u64,
    truncated: u64,
    /// The producer's `message.max.bytes`: the most a message may take, key, value and headers.
    max_message_bytes: usize,
}

/// librdkafka's `message.max.bytes` when it is not set.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// What librdkafka counts for a message besides its key, value and headers (the record's length,
/// attributes, timestamp and offset deltas and the lengths, as varints at their widest: 36 bytes),
/// rounded up.
const RECORD_OVERHEAD: usize = 64;

/// The bytes `headers` take in a record: each key and value with their varint lengths.
fn headers_size(headers: &OwnedHeaders) -> usize {
    use rdkafka::message::Headers;
    headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 2 * 5)
        .sum::<usize>()
        + 5
}

/// How long a flush or transaction call may take before the runner gives up (and a restart re-reads).
const FLUSH_TIMEOUT: Wall = Wall::from_secs(60);

impl OutputProducer {
    /// A producer from `config`; with `transactional_id` set in it, transactions are initialised (which
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
        let max_message_bytes = config
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        Ok(OutputProducer {
            producer,
            transactional_id,
            in_transaction: false,
            sent: 0,
            truncated: 0,
            max_message_bytes,
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

    /// Dead letters and late records sent cut short because the whole record did not fit.
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
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // Back-pressure: the background thread drains the queue as the broker acknowledges.
                    record = back;
                    std::thread::sleep(Wall::from_millis(1));
                }
                Err((source, _)) => {
                    return Err(RuntimeError::Kafka {
                        operation: format!("producing to {topic}"),
                        source,
                    })
                }
            }
        }
    }

    /// Sends a window result.
    pub fn send_output<O: KafkaOutput>(&mut self, topic: &str, output: &O) -> Result<(), RuntimeError> {
        self.send(topic, Some(&output.message_key()), &output.message_value(), None)
    }

    /// Sends a dead letter: the original bytes, with the reason and source position in headers.
    pub fn send_dead_letter(&mut self, topic: &str, source_topic: &str, dead: &DeadLetter) -> Result<(), RuntimeError> {
        let headers = source_headers(&dead.reason, source_topic, dead.position);
        self.send_record(topic, None, &dead.payload, headers, dead.position)
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
        if payload.len() <= self.room_for(key, &headers) {
            return self.send(topic, key, payload, Some(headers));
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
                self.max_message_bytes
            ),
        );
        self.send(topic, key, &payload[..room], Some(headers))?;
        self.truncated += 1;
        Ok(())
    }

    /// The most value bytes a message with `key` and `headers` may carry.
    fn room_for(&self, key: Option<&[u8]>, headers: &OwnedHeaders) -> usize {
        let key_size = key.map_or(0, <[u8]>::len);
        self.max_message_bytes
            .saturating_sub(RECORD_OVERHEAD + key_size + headers_size(headers))
    }

    /// Sends a late record: the original bytes, with the reason, event time, watermark and source
    /// position in headers.
    pub fn send_late(&mut self, topic: &str, source_topic: &str, late: &LateRecord) -> Result<(), RuntimeError> {
        let headers = source_headers(&late.reason, source_topic, late.position)
            .insert(Header {
                key: "event_time",
                value: Some(late.event_time.to_string().as_bytes()),
            })
            .insert(Header {
                key: "watermark",
                value: Some(late.watermark.to_string().as_bytes()),
            });
        self.send_record(topic, None, &late.payload, headers, late.position)
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
        let fenced = matches!(
            source.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
        );
        if fenced {
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

fn source_headers(reason: &str, source_topic: &str, position: Position) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "reason",
            value: Some(reason.as_bytes()),
        })
        .insert(Header {
            key: "source.topic",
            value: Some(source_topic.as_bytes()),
        });
    if let Position::Offset { partition, offset } = position {
        headers = headers
            .insert(Header {
                key: "source.partition",
                value: Some(partition.to_string().as_bytes()),
            })
            .insert(Header {
                key: "source.offset",
                value: Some(offset.to_string().as_bytes()),
            });
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer that never connects: librdkafka checks a message's size when it is queued.
    fn offline_producer(properties: &[(&str, &str)]) -> OutputProducer {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        for (key, value) in properties {
            config.set(*key, *value);
        }
        OutputProducer::new(&config).unwrap()
    }

    fn dead_letter(size: usize) -> DeadLetter {
        DeadLetter {
            position: Position::Offset {
                partition: 2,
                offset: 17,
            },
            reason: "expected value at line 1 column 1".to_owned(),
            payload: vec![b'x'; size],
        }
    }

    #[test]
    fn a_dead_letter_too_big_for_one_message_is_sent_cut_short_instead_of_failing() {
        let mut producer = offline_producer(&[]);
        let too_big = dead_letter(DEFAULT_MESSAGE_MAX_BYTES + 1);
        producer.send_dead_letter("dlq", "website-visit", &too_big).unwrap();
        assert_eq!((producer.sent(), producer.truncated()), (1, 1));
    }

    #[test]
    fn the_largest_record_kept_whole_is_one_librdkafka_accepts() {
        let mut producer = offline_producer(&[]);
        let headers = source_headers(
            "expected value at line 1 column 1",
            "website-visit",
            dead_letter(0).position,
        );
        let room = producer.room_for(None, &headers);
        assert!(room > DEFAULT_MESSAGE_MAX_BYTES - 1000, "{room}");
        // Sent as they are: librdkafka refuses a message once it is over its limit by a few bytes, so
        // the estimate of the overhead is safe and close.
        producer
            .send("dlq", None, &vec![b'x'; room], Some(headers.clone()))
            .unwrap();
        assert!(producer
            .send("dlq", None, &vec![b'x'; room + 100], Some(headers))
            .is_err());
        producer
            .send_dead_letter("dlq", "website-visit", &dead_letter(room))
            .unwrap();
        assert_eq!(producer.truncated(), 0);
        producer
            .send_dead_letter("dlq", "website-visit", &dead_letter(room + 1))
            .unwrap();
        assert_eq!(producer.truncated(), 1);
    }

    #[test]
    fn a_raised_message_max_bytes_keeps_bigger_records_whole() {
        let mut producer = offline_producer(&[("message.max.bytes", "3000000")]);
        producer
            .send_dead_letter("dlq", "website-visit", &dead_letter(2_000_000))
            .unwrap();
        assert_eq!((producer.sent(), producer.truncated()), (1, 0));
    }

    #[test]
    fn traffic_messages_carry_the_seeds_exact_key_and_value_bytes() {
        let agg = TrafficAgg {
            id: "2142139324490406578".to_owned(),
            window_start: "2024-04-28T23:12:40".to_owned(),
            window_end: "2024-04-28T23:13:00".to_owned(),
            page_views: 3,
        };
        assert_eq!(
            String::from_utf8(agg.message_key()).unwrap(),
            r#"{"event_id": "2142139324490406578", "window_start": "2024-04-28T23:12:40"}"#
        );
        assert_eq!(
            String::from_utf8(agg.message_value()).unwrap(),
            r#"{"id": "2142139324490406578", "window_start": "2024-04-28T23:12:40", "window_end": "2024-04-28T23:13:00", "page_views": 3}"#
        );
    }
}
