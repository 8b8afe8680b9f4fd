//! The JSON-line form of dead letters and late records, written and read back, bytes intact.
//!
//! A [`DeadLetter`] is one JSON object a line (`--dlq-out`), keys in this order:
//!
//! ```text
//! {"line": 12, "reason": "missing field `id`", "record": "{\"ip\": \"1.2.3.4\"}"}
//! {"partition": 0, "offset": 41, "reason": "invalid UTF-8 at byte 8", "record_base64": "eyJpcCI6ICL//iJ9"}
//! ```
//!
//! The position is `line` (a file), `partition` and `offset` (Kafka) or `index` (in memory). The record
//! is `record`, a JSON string of its text, when its bytes are valid UTF-8; otherwise `record_base64`,
//! the exact bytes in standard base64 (RFC 4648, with padding). A line has exactly one of the two, so
//! the original bytes can always be recovered. A [`LateRecord`] has the same fields plus `event_time`
//! and `watermark` (in the `event_datetime` form, UTC; the watermark may be `-inf` or `+inf`) after the
//! position. [`ReportLines`] writes them as a sink; [`read_dead_letter`] and [`read_late_record`] read a line
//! back; [`DeadLetterLine`] and [`LateRecordLine`] are the serializable forms.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pipeline::io::{pyjson, DeadLetter, LateRecord, Position, Sink, SinkError};
use pipeline::time::{Timestamp, Watermark};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

/// A line that is not a dead letter or late record in the form above.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordLineError {
    /// Not JSON, not an object, a required field missing or of the wrong type.
    #[error("not a {what} line: {source}")]
    Json {
        /// `dead letter` or `late record`.
        what: &'static str,
        /// serde_json's account, with the column.
        #[source]
        source: serde_json::Error,
    },
    /// The position fields are missing or mixed.
    #[error("no single position: expected `line`, or `partition` and `offset`, or `index`; found {found}")]
    Position {
        /// The position fields present.
        found: String,
    },
    /// Both or neither of `record` and `record_base64`.
    #[error("expected exactly one of `record` and `record_base64`, found {found}")]
    Record {
        /// How many of the two are present.
        found: &'static str,
    },
    /// `record_base64` does not decode.
    #[error("`record_base64` is not standard base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// `event_time` or `watermark` is not a datetime.
    #[error("`{field}`: {message}")]
    Time {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// The fields either kind of line may have; which ones are required is checked after parsing.
#[derive(Deserialize)]
struct RecordLine {
    line: Option<u64>,
    partition: Option<i32>,
    offset: Option<i64>,
    index: Option<u64>,
    reason: String,
    record: Option<String>,
    record_base64: Option<String>,
}

#[derive(Deserialize)]
struct LateFields {
    #[serde(flatten)]
    common: RecordLine,
    event_time: String,
    watermark: String,
}

impl RecordLine {
    fn position(&self) -> Result<Position, RecordLineError> {
        match (self.line, self.partition, self.offset, self.index) {
            (Some(line), None, None, None) => Ok(Position::Line { line }),
            (None, Some(partition), Some(offset), None) => Ok(Position::Offset { partition, offset }),
            (None, None, None, Some(index)) => Ok(Position::Index { index }),
            _ => {
                let present = [
                    ("line", self.line.is_some()),
                    ("partition", self.partition.is_some()),
                    ("offset", self.offset.is_some()),
                    ("index", self.index.is_some()),
                ];
                let found: Vec<String> = present
                    .iter()
                    .filter(|(_, p)| *p)
                    .map(|(k, _)| format!("`{k}`"))
                    .collect();
                Err(RecordLineError::Position {
                    found: if found.is_empty() {
                        "none".to_owned()
                    } else {
                        found.join(", ")
                    },
                })
            }
        }
    }

    fn payload(&self) -> Result<Vec<u8>, RecordLineError> {
        match (&self.record, &self.record_base64) {
            (Some(text), None) => Ok(text.clone().into_bytes()),
            (None, Some(encoded)) => Ok(STANDARD.decode(encoded)?),
            (Some(_), Some(_)) => Err(RecordLineError::Record { found: "both" }),
            (None, None) => Err(RecordLineError::Record { found: "neither" }),
        }
    }
}

fn parse_time(field: &'static str, text: &str) -> Result<Timestamp, RecordLineError> {
    match text {
        "-inf" => Ok(Timestamp::MIN),
        "+inf" => Ok(Timestamp::MAX),
        _ => Timestamp::parse_datetime(text).map_err(|e| RecordLineError::Time {
            field,
            message: e.to_string(),
        }),
    }
}

/// Writes the record as `record` when it is UTF-8, else as `record_base64`.
fn serialize_payload<M: SerializeMap>(map: &mut M, payload: &[u8]) -> Result<(), M::Error> {
    match std::str::from_utf8(payload) {
        Ok(text) => map.serialize_entry("record", text),
        Err(_) => map.serialize_entry("record_base64", &STANDARD.encode(payload)),
    }
}

fn serialize_position<M: SerializeMap>(map: &mut M, position: &Position) -> Result<(), M::Error> {
    match position {
        Position::Line { line } => map.serialize_entry("line", line),
        Position::Offset { partition, offset } => {
            map.serialize_entry("partition", partition)?;
            map.serialize_entry("offset", offset)
        }
        Position::Index { index } => map.serialize_entry("index", index),
    }
}

/// A dead letter in its line form: serializes as the module documentation shows.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterLine<'a>(pub &'a DeadLetter);

/// A late record in its line form: serializes as the module documentation shows.
#[derive(Debug, Clone, Copy)]
pub struct LateRecordLine<'a>(pub &'a LateRecord);

impl Serialize for DeadLetterLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let dead = self.0;
        let mut map = s.serialize_map(None)?;
        serialize_position(&mut map, &dead.position)?;
        map.serialize_entry("reason", &dead.reason)?;
        serialize_payload(&mut map, &dead.payload)?;
        map.end()
    }
}

impl Serialize for LateRecordLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let late = self.0;
        let mut map = s.serialize_map(None)?;
        serialize_position(&mut map, &late.position)?;
        map.serialize_entry("event_time", &late.event_time.to_string())?;
        map.serialize_entry("watermark", &late.watermark.to_string())?;
        map.serialize_entry("reason", &late.reason)?;
        serialize_payload(&mut map, &late.payload)?;
        map.end()
    }
}

/// Reads back one line written for a dead letter (see the [module documentation](self)), with the
/// record's original bytes.
pub fn read_dead_letter(line: &[u8]) -> Result<DeadLetter, RecordLineError> {
    let fields: RecordLine = serde_json::from_slice(line).map_err(|source| RecordLineError::Json {
        what: "dead letter",
        source,
    })?;
    Ok(DeadLetter {
        position: fields.position()?,
        payload: fields.payload()?,
        reason: fields.reason,
    })
}

/// Reads back one line written for a late record (see the [module documentation](self)), with the
/// record's original bytes.
pub fn read_late_record(line: &[u8]) -> Result<LateRecord, RecordLineError> {
    let fields: LateFields = serde_json::from_slice(line).map_err(|source| RecordLineError::Json {
        what: "late record",
        source,
    })?;
    Ok(LateRecord {
        position: fields.common.position()?,
        event_time: parse_time("event_time", &fields.event_time)?,
        watermark: Watermark::at(parse_time("watermark", &fields.watermark)?),
        payload: fields.common.payload()?,
        reason: fields.common.reason,
    })
}

/// Writes dead letters and late records one line each (`--dlq-out`, `--late-out`).
pub struct ReportLines<W> {
    name: String,
    writer: W,
}

impl<W: Write> ReportLines<W> {
    /// Lines to `writer`; `name` appears in error messages.
    pub fn new(name: impl Into<String>, writer: W) -> Self {
        ReportLines {
            name: name.into(),
            writer,
        }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.writer
    }

    fn line<T: Serialize>(&mut self, item: T) -> Result<(), SinkError> {
        let name = &self.name;
        let io_error = |source: io::Error| SinkError::Io {
            what: name.clone(),
            source,
        };
        pyjson::to_writer(&mut self.writer, &item).map_err(|e| match e.io_error_kind() {
            Some(kind) => io_error(io::Error::new(kind, e.to_string())),
            None => SinkError::Serialize(e.to_string()),
        })?;
        self.writer.write_all(b"\n").map_err(io_error)
    }
}

impl<W: Write> Sink<DeadLetter> for ReportLines<W> {
    fn write(&mut self, item: &DeadLetter) -> Result<(), SinkError> {
        self.line(DeadLetterLine(item))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|source| SinkError::Io {
            what: self.name.clone(),
            source,
        })
    }
}

impl<W: Write> Sink<LateRecord> for ReportLines<W> {
    fn write(&mut self, item: &LateRecord) -> Result<(), SinkError> {
        self.line(LateRecordLine(item))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        <Self as Sink<DeadLetter>>::flush(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn position() -> impl Strategy<Value = Position> {
        prop_oneof![
            any::<u64>().prop_map(|line| Position::Line { line }),
            (any::<i32>(), any::<i64>()).prop_map(|(partition, offset)| Position::Offset { partition, offset }),
            any::<u64>().prop_map(|index| Position::Index { index }),
        ]
    }

    /// Bytes that are often valid UTF-8 (text, with non-ASCII) and often not (anything at all).
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<String>().prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    /// Instants from year 0 to 9999, the ones written in the `event_datetime` form.
    fn timestamp() -> impl Strategy<Value = Timestamp> {
        (-62_167_219_200_000i64..=253_402_300_799_999).prop_map(Timestamp::from_millis)
    }

    fn watermark() -> impl Strategy<Value = Watermark> {
        prop_oneof![
            Just(Watermark::MIN),
            Just(Watermark::MAX),
            timestamp().prop_map(Watermark::at)
        ]
    }

    /// The line exactly as the sinks write it.
    fn line<T>(item: &T) -> Vec<u8>
    where
        ReportLines<Vec<u8>>: Sink<T>,
    {
        let mut sink = ReportLines::new("memory", Vec::new());
        sink.write(item).unwrap();
        let mut out = sink.into_inner();
        assert_eq!(out.pop(), Some(b'\n'));
        out
    }

    proptest! {
        #[test]
        fn a_dead_letter_line_reads_back_to_the_same_bytes(
            position in position(), reason in any::<String>(), payload in payload()
        ) {
            let dead = DeadLetter { position, reason, payload };
            let written = line(&dead);
            prop_assert!(!written.contains(&b'\n'));
            prop_assert_eq!(read_dead_letter(&written).unwrap(), dead);
        }

        #[test]
        fn a_late_record_line_reads_back_to_the_same_bytes(
            position in position(),
            event_time in timestamp(),
            watermark in watermark(),
            reason in any::<String>(),
            payload in payload(),
        ) {
            let late = LateRecord { position, event_time, watermark, reason, payload };
            prop_assert_eq!(read_late_record(&line(&late)).unwrap(), late);
        }
    }

    #[test]
    fn utf8_records_are_text_and_others_base64() {
        let dead = |payload: &[u8]| DeadLetter {
            position: Position::Line { line: 3 },
            reason: "bad".to_owned(),
            payload: payload.to_vec(),
        };
        assert_eq!(
            String::from_utf8(line(&dead(b"caf\xc3\xa9"))).unwrap(),
            r#"{"line": 3, "reason": "bad", "record": "caf\u00e9"}"#
        );
        assert_eq!(
            String::from_utf8(line(&dead(b"{\"ip\": \"\xff\xfe\"}"))).unwrap(),
            r#"{"line": 3, "reason": "bad", "record_base64": "eyJpcCI6ICL//iJ9"}"#
        );
    }

    #[test]
    fn a_bad_line_says_what_is_wrong() {
        for (line, expected) in [
            (&b"{oops"[..], "not a dead letter line: key must be a string"),
            (br#"{"line": 1, "record": "x"}"#, "missing field `reason`"),
            (
                br#"{"line": "one", "reason": "r", "record": "x"}"#,
                "invalid type: string \"one\"",
            ),
            (br#"{"reason": "r", "record": "x"}"#, "no single position"),
            (
                br#"{"line": 1, "index": 2, "reason": "r", "record": "x"}"#,
                "found `line`, `index`",
            ),
            (
                br#"{"partition": 1, "reason": "r", "record": "x"}"#,
                "found `partition`",
            ),
            (
                br#"{"line": 1, "reason": "r"}"#,
                "exactly one of `record` and `record_base64`, found neither",
            ),
            (
                br#"{"line": 1, "reason": "r", "record": "x", "record_base64": "eA=="}"#,
                "found both",
            ),
            (
                br#"{"line": 1, "reason": "r", "record_base64": "***"}"#,
                "not standard base64",
            ),
        ] {
            let err = read_dead_letter(line).unwrap_err().to_string();
            assert!(err.contains(expected), "{}: {err}", String::from_utf8_lossy(line));
        }
        let err = read_late_record(
            br#"{"line": 1, "event_time": "noon", "watermark": "+inf", "reason": "r", "record": "x"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`event_time`: bad datetime \"noon\""), "{err}");
        let err = read_late_record(br#"{"line": 1, "reason": "r", "record": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a late record line: missing field `event_time`"),
            "{err}"
        );
    }
}
