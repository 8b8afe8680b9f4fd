//! The messages a core asks its shell to send: window results, dead letters and late records, with the
//! exact bytes and headers they carry on the wire.
//!
//! Window results take the key and value their [`KafkaOutput`] implementation gives; for the traffic
//! aggregation those are the seed's bytes: key `{"event_id": ..., "window_start": ...}` and value
//! `{"id": ..., "window_start": ..., "window_end": ..., "page_views": ...}`, in Python's `json.dumps`
//! layout. The key is the same on every replay of a window, so a compacted output topic keeps one value
//! per window. A dead letter's value is the original record, untouched; its headers say why and where
//! from: `reason`, `source.topic`, `source.partition`, `source.offset`. A late record has the same, plus
//! `event_time` and `watermark`.

use pipeline::io::{pyjson, DeadLetter, LateRecord, Position};
use pipeline::traffic::TrafficAgg;

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

/// What a message is, for counting and for telling the three output topics apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// A window result.
    Output,
    /// A record that did not decode.
    DeadLetter,
    /// A record dropped as late.
    Late,
}

/// One message to produce. `id` identifies it in the delivery report the shell hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Assigned by the core, increasing; the shell reports delivery under it.
    pub id: u64,
    /// What the message is.
    pub kind: MessageKind,
    /// The topic.
    pub topic: String,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Vec<u8>,
    /// Headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
    }
}

/// The headers of a dead letter: why, and where the record came from.
pub fn dead_letter_headers(dead: &DeadLetter, source_topic: &str) -> Vec<(String, Vec<u8>)> {
    source_headers(&dead.reason, source_topic, dead.position)
}

/// The headers of a late record: why, where from, its event time and the watermark that made it late.
pub fn late_headers(late: &LateRecord, source_topic: &str) -> Vec<(String, Vec<u8>)> {
    let mut headers = source_headers(&late.reason, source_topic, late.position);
    headers.push(("event_time".to_owned(), late.event_time.to_string().into_bytes()));
    headers.push(("watermark".to_owned(), late.watermark.to_string().into_bytes()));
    headers
}

fn source_headers(reason: &str, source_topic: &str, position: Position) -> Vec<(String, Vec<u8>)> {
    let mut headers = vec![
        ("reason".to_owned(), reason.as_bytes().to_vec()),
        ("source.topic".to_owned(), source_topic.as_bytes().to_vec()),
    ];
    if let Position::Offset { partition, offset } = position {
        headers.push(("source.partition".to_owned(), partition.to_string().into_bytes()));
        headers.push(("source.offset".to_owned(), offset.to_string().into_bytes()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_dead_letter_says_where_it_came_from() {
        let dead = DeadLetter {
            position: Position::Offset {
                partition: 2,
                offset: 41,
            },
            reason: "bad".to_owned(),
            payload: b"\xff".to_vec(),
        };
        let headers = dead_letter_headers(&dead, "website-visit");
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("reason").unwrap(), b"bad");
        assert_eq!(get("source.partition").unwrap(), b"2");
        assert_eq!(get("source.offset").unwrap(), b"41");
    }
}
