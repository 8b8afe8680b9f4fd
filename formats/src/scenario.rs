//! The scenario format: a timeline of steps written down, one JSON object a line.
//!
//! ```text
//! {"event": {...}}                             one record, a bundle of one
//! {"events": [{...}, {...}]}                   several records in one bundle
//! {"records": ["not json", "{\"id\": 1"]}     records that are not JSON values, as text
//! {"records_base64": ["/w=="]}                 records that are not even UTF-8, as base64
//! {"watermark": "2024-04-28T23:13:00.000"}     the watermark moves here ("+inf" for the end)
//! {"watermark": 1714345980000}                 the same in epoch milliseconds (also "1714345980000ms")
//! {"processing_time": 5}                       processing time moves forward 5 seconds (1.5: 1500 ms)
//! {"event": {...}, "partition": 0, "offset": 7, "kafka_ts": 1714345961000}
//!                                              a bundle recorded from Kafka: where its records were
//! {"events": [...], "partition": 0, "offset": [7, 9], "kafka_ts": [1714345961000, null]}
//! {"dropped_late": {"partition": 0, "offset": 8, "event_time": "...", "watermark": "...",
//!                   "reason": "...", "record": "..."}, "kafka_ts": 1714345962000}
//!                                              a record the recorded runtime dropped as late before its
//!                                              pipeline saw it (a late line, as `--late-out` writes one)
//! ```
//!
//! Each line is a [`pipeline::Step`]; [`parse_step`] reads one and [`step_line`] writes one, so that every
//! step reads back as itself: records as JSON values when they are one (`event`, `events`), as text or
//! base64 otherwise, so any bytes survive; a watermark as a datetime where that form shows it exactly
//! (years 0 to 9999), as integer milliseconds otherwise; processing time as exact decimal seconds (at most
//! three decimals, never rounded through `f64`).
//!
//! A recording of Kafka traffic (`traffic-agg --record`) adds to a bundle the `partition` its records came
//! from, their `offset`s and the message timestamps (`kafka_ts`, epoch milliseconds, `null` for none):
//! the records then stand at `partition`/`offset` (so their dead letters and late lines say where they
//! were, as the runtime's do), and the timestamps are kept ([`ScenarioStep`]) without meaning for the
//! replay. Where it matters (sliding windows), a bundle also carries each record's `lateness_horizon`,
//! its partition's watermark, which the replay applies ([`pipeline::io::Source::take_lateness_horizons`]). A `dropped_late` step is a record the runtime judged late before its pipeline saw it (the
//! Kafka consumer judges lateness per partition): a replay reports it as late as it is, without
//! processing it ([`pipeline::io::Source::take_dropped_late`]).
//!
//! The end of the file moves the watermark to +∞. A file is a scenario when its first non-blank line is
//! an attempt at a step ([`is_step_attempt`]: a JSON object with no field of a visit record and a key
//! that is a step keyword or a near miss of one); anything else is read as plain recorded traffic, one
//! record a line, so a recording whose first line is garbage stays a recording. This module
//! owns the parsing and writing of steps and the [`ScenarioSource`] that replays them; a malformed
//! *record* inside a step is still a record (dead-lettered later), but a malformed *step* stops the run
//! with its line number, because a script is code, not data.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pipeline::event::VISIT_FIELDS;
use pipeline::io::{LateRecord, LentStep, Position, Record, Source, SourceError, Step};
use pipeline::time::{Duration, Timestamp, Watermark};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::dlq::{read_late_record, LateRecordLine};
use crate::jsonl::JsonlSource;

/// The keys of a scenario step, one of which each step has.
pub const STEP_KEYWORDS: [&str; 7] = [
    "event",
    "events",
    "records",
    "records_base64",
    "watermark",
    "processing_time",
    "dropped_late",
];

/// How far (in edits: insert, delete, substitute, swap two neighbours) a key may be from a step keyword
/// and still be read as a misspelt one.
const TYPO_DISTANCE: usize = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepLine<'a> {
    // A present `null` is a record (a bad one, dead-lettered later), not an absent field.
    #[serde(borrow, default, deserialize_with = "present")]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    records: Option<Vec<String>>,
    #[serde(default)]
    records_base64: Option<Vec<String>>,
    #[serde(borrow, default)]
    watermark: Option<&'a RawValue>,
    #[serde(borrow, default)]
    processing_time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    dropped_late: Option<&'a RawValue>,
    // Where a recorded bundle's records came from in Kafka (only beside a bundle).
    #[serde(default)]
    partition: Option<i32>,
    #[serde(borrow, default)]
    offset: Option<&'a RawValue>,
    // A present `null` is one record's missing timestamp, not an absent field.
    #[serde(borrow, default, deserialize_with = "present")]
    kafka_ts: Option<&'a RawValue>,
    // Per record of a recorded bundle: windows expired at this watermark are dropped.
    #[serde(default)]
    lateness_horizon: Option<serde_json::Value>,
}

/// One line of a scenario: a step of the timeline, or a record a recorded runtime dropped as late
/// before its pipeline saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioStep {
    /// A step of the timeline.
    Step {
        /// The step.
        step: Step,
        /// For a bundle recorded from Kafka, each record's message timestamp in epoch milliseconds
        /// (`None` where the message had none), in record order: kept for the reader, without meaning
        /// for a replay. `None` for anything else.
        kafka_ts: Option<Vec<Option<i64>>>,
        /// For a bundle recorded from Kafka, each record's lateness horizon (its partition's
        /// watermark: windows of it expired there are dropped, see `pipeline::Decoded`), where it can
        /// matter; a replay applies it ([`pipeline::io::Source::take_lateness_horizons`]).
        lateness_horizons: Option<Vec<Watermark>>,
    },
    /// A record the recorded runtime reported late without handing it to its pipeline: a replay
    /// reports it the same way.
    DroppedLate {
        /// The late record, as `--late-out` writes it.
        late: LateRecord,
        /// Its Kafka message's timestamp in epoch milliseconds, when recorded: kept, without meaning
        /// for a replay.
        kafka_ts: Option<i64>,
    },
}

impl From<Step> for ScenarioStep {
    fn from(step: Step) -> Self {
        ScenarioStep::Step {
            step,
            kafka_ts: None,
            lateness_horizons: None,
        }
    }
}

/// `Some` for any present value, `null` included (serde's `Option` would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as Deserialize>::deserialize(d).map(Some)
}

/// Parses one scenario line that is a step of the timeline; the records of a bundle are placed by
/// `position` (called once per record, in order), or at the `partition` and `offset`s the line gives.
/// A `dropped_late` line is refused: it is no step (see [`parse_scenario_step`]).
pub fn parse_step(line: &[u8], position: impl FnMut() -> Position) -> Result<Step, String> {
    match parse_scenario_step(line, position)? {
        ScenarioStep::Step { step, .. } => Ok(step),
        ScenarioStep::DroppedLate { .. } => Err(
            "a dropped_late line reports a record a recorded runtime dropped as late; it is no step of a \
             timeline (simulate replays it)"
                .to_owned(),
        ),
    }
}

/// Parses one scenario line, any kind (see the module docs); the records of a bundle are placed by
/// `position` (called once per record, in order) unless the line gives their `partition` and `offset`s.
pub fn parse_scenario_step(line: &[u8], mut position: impl FnMut() -> Position) -> Result<ScenarioStep, String> {
    let step: StepLine = serde_json::from_slice(line).map_err(|e| {
        const EXPECTED: &str = "expected one of {\"event\": {...}}, {\"events\": [...]}, {\"records\": [\"...\"]}, \
             {\"records_base64\": [\"...\"]}, {\"watermark\": \"2024-04-28T23:13:00.000\"}, {\"processing_time\": 5}, \
             {\"dropped_late\": {...}}";
        match misspelt_keyword(line) {
            Some((key, keyword)) => {
                format!("not a scenario step: unknown key `{key}`: did you mean `{keyword}`? {EXPECTED}")
            }
            None => format!("not a scenario step ({e}); {EXPECTED}"),
        }
    })?;
    let present = [
        step.event.is_some(),
        step.events.is_some(),
        step.records.is_some(),
        step.records_base64.is_some(),
        step.watermark.is_some(),
        step.processing_time.is_some(),
        step.dropped_late.is_some(),
    ]
    .iter()
    .filter(|p| **p)
    .count();
    if present != 1 {
        return Err(format!(
            "a scenario step has exactly one of {}; found {present}",
            STEP_KEYWORDS.join(", ")
        ));
    }
    let is_bundle =
        step.event.is_some() || step.events.is_some() || step.records.is_some() || step.records_base64.is_some();
    let origin = KafkaFields {
        partition: step.partition,
        offset: step.offset,
        kafka_ts: step.kafka_ts,
    };
    if let Some(late) = step.dropped_late {
        if origin.partition.is_some() || origin.offset.is_some() {
            return Err("a dropped_late record says its `partition` and `offset` inside".to_owned());
        }
        let kafka_ts = origin
            .kafka_ts
            .map(|ts| serde_json::from_str::<Option<i64>>(ts.get()).map_err(|e| format!("`kafka_ts`: {e}")))
            .transpose()?
            .flatten();
        return read_late_record(late.get().as_bytes())
            .map(|late| ScenarioStep::DroppedLate { late, kafka_ts })
            .map_err(|e| format!("dropped_late: {e}"));
    }
    if !is_bundle && step.lateness_horizon.is_some() {
        return Err("`lateness_horizon` belongs beside a bundle".to_owned());
    }
    if !is_bundle && origin.any() {
        return Err(
            "`partition`, `offset` and `kafka_ts` belong beside a bundle (event, events, records, records_base64)"
                .to_owned(),
        );
    }
    let payloads: Vec<Vec<u8>> = if let Some(event) = step.event {
        vec![event.get().as_bytes().to_vec()]
    } else if let Some(events) = step.events {
        events.into_iter().map(|e| e.get().as_bytes().to_vec()).collect()
    } else if let Some(records) = step.records {
        records.into_iter().map(String::into_bytes).collect()
    } else if let Some(encoded) = step.records_base64 {
        encoded
            .iter()
            .enumerate()
            .map(|(i, text)| {
                STANDARD
                    .decode(text)
                    .map_err(|e| format!("records_base64: record {} is not base64: {e}", i + 1))
            })
            .collect::<Result<_, _>>()?
    } else if let Some(value) = step.watermark {
        return parse_watermark(value.get()).map(|w| Step::Watermark(w).into());
    } else {
        let seconds = step.processing_time.expect("one field is present");
        return parse_processing_time(seconds.get()).map(|d| Step::ProcessingTime(d).into());
    };
    let (positions, kafka_ts) = origin.positions(payloads.len())?;
    let records: Vec<Record> = match positions {
        Some(positions) => payloads
            .into_iter()
            .zip(positions)
            .map(|(p, at)| Record::new(p, at))
            .collect(),
        None => payloads.into_iter().map(|p| Record::new(p, position())).collect(),
    };
    let lateness_horizons = match step.lateness_horizon {
        None => None,
        Some(value) => {
            let values = match value {
                serde_json::Value::Array(values) => values,
                one => vec![one],
            };
            if values.len() != records.len() {
                return Err(format!(
                    "`lateness_horizon` has {} values for a bundle of {} records",
                    values.len(),
                    records.len()
                ));
            }
            let horizons = values
                .iter()
                .map(|v| parse_watermark(&v.to_string()).map_err(|e| format!("`lateness_horizon`: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            Some(horizons)
        }
    };
    Ok(ScenarioStep::Step {
        step: Step::Bundle(records),
        kafka_ts,
        lateness_horizons,
    })
}

/// The Kafka fields of a bundle line, as written.
struct KafkaFields<'a> {
    partition: Option<i32>,
    offset: Option<&'a RawValue>,
    kafka_ts: Option<&'a RawValue>,
}

impl KafkaFields<'_> {
    fn any(&self) -> bool {
        self.partition.is_some() || self.offset.is_some() || self.kafka_ts.is_some()
    }

    /// The positions of a bundle of `n` records (`None`: no Kafka fields) and their timestamps.
    #[allow(clippy::type_complexity)]
    fn positions(&self, n: usize) -> Result<(Option<Vec<Position>>, Option<Vec<Option<i64>>>), String> {
        let (partition, offset) = match (self.partition, self.offset) {
            (None, None) if self.kafka_ts.is_none() => return Ok((None, None)),
            (Some(partition), Some(offset)) => (partition, offset),
            _ => {
                return Err(
                    "a recorded bundle has both `partition` and `offset` (and optionally `kafka_ts`)".to_owned(),
                )
            }
        };
        let offsets: Vec<i64> = per_record("offset", offset.get(), n)?;
        let positions = offsets
            .into_iter()
            .map(|offset| Position::Offset { partition, offset })
            .collect();
        let kafka_ts = self
            .kafka_ts
            .map(|ts| per_record::<Option<i64>>("kafka_ts", ts.get(), n))
            .transpose()?;
        Ok((Some(positions), kafka_ts))
    }
}

/// A per-record field: one value for a bundle of one record, an array of one value per record otherwise.
fn per_record<T: serde::de::DeserializeOwned>(field: &str, json: &str, n: usize) -> Result<Vec<T>, String> {
    if json.trim_start().starts_with('[') {
        let values: Vec<T> = serde_json::from_str(json).map_err(|e| format!("`{field}`: {e}"))?;
        if values.len() != n {
            return Err(format!(
                "`{field}` has {} values for a bundle of {n} records",
                values.len()
            ));
        }
        return Ok(values);
    }
    if n != 1 {
        return Err(format!(
            "`{field}` must be an array of {n} values, one per record of the bundle"
        ));
    }
    serde_json::from_str(json)
        .map(|v| vec![v])
        .map_err(|e| format!("`{field}`: {e}"))
}

/// The step as one scenario line (without the line break); [`parse_step`] reads it back as the same step
/// (records with their bytes, every watermark, every positive processing-time step). A bundle whose
/// records all stand at offsets of one Kafka partition keeps them (`partition`, `offset`).
pub fn step_line(step: &Step) -> String {
    scenario_line(&ScenarioStep::Step {
        step: step.clone(),
        kafka_ts: None,
        lateness_horizons: None,
    })
}

/// Any scenario line (without the line break); [`parse_scenario_step`] reads it back as the same.
/// `kafka_ts` is written only for a bundle whose records stand at offsets of one partition, and only
/// when it has one value per record; `lateness_horizon` only when it has one value per record.
pub fn scenario_line(line: &ScenarioStep) -> String {
    let (step, kafka_ts, lateness_horizons) = match line {
        ScenarioStep::DroppedLate { late, kafka_ts } => {
            let late = serde_json::to_string(&LateRecordLine(late)).expect("a late record serializes");
            return match kafka_ts {
                Some(ts) => format!("{{\"dropped_late\": {late}, \"kafka_ts\": {ts}}}"),
                None => format!("{{\"dropped_late\": {late}}}"),
            };
        }
        ScenarioStep::Step {
            step,
            kafka_ts,
            lateness_horizons,
        } => (step, kafka_ts, lateness_horizons),
    };
    match step {
        Step::Bundle(records) => {
            let mut text = bundle_line(records);
            text.pop();
            if let Some(origin) = kafka_origin(records, kafka_ts.as_deref()) {
                text.push_str(&origin);
            }
            if let Some(horizons) = lateness_horizons.as_deref().filter(|h| h.len() == records.len()) {
                let values: Vec<String> = horizons.iter().map(|w| watermark_value(*w)).collect();
                let json = match values.as_slice() {
                    [one] => one.clone(),
                    many => format!("[{}]", many.join(", ")),
                };
                text.push_str(&format!(", \"lateness_horizon\": {json}"));
            }
            text.push('}');
            text
        }
        Step::Watermark(w) => format!("{{\"watermark\": {}}}", watermark_value(*w)),
        Step::ProcessingTime(d) => format!("{{\"processing_time\": {}}}", seconds_value(*d)),
    }
}

/// `, "partition": P, "offset": ..., "kafka_ts": ...` for records that all stand at offsets of one
/// partition (one value for one record, arrays otherwise); `None` for any other bundle.
fn kafka_origin(records: &[Record], kafka_ts: Option<&[Option<i64>]>) -> Option<String> {
    let mut partition = None;
    let mut offsets = Vec::with_capacity(records.len());
    for record in records {
        let Position::Offset { partition: p, offset } = record.position else {
            return None;
        };
        if partition.is_some_and(|q| q != p) {
            return None;
        }
        partition = Some(p);
        offsets.push(offset);
    }
    let partition = partition?;
    let mut text = format!(
        ", \"partition\": {partition}, \"offset\": {}",
        per_record_json(&offsets)
    );
    if let Some(ts) = kafka_ts.filter(|ts| ts.len() == records.len()) {
        text.push_str(&format!(", \"kafka_ts\": {}", per_record_json(ts)));
    }
    Some(text)
}

/// One value as itself, several as an array (read back by [`per_record`]).
fn per_record_json<T: serde::Serialize>(values: &[T]) -> String {
    match values {
        [one] => serde_json::to_string(one),
        many => serde_json::to_string(many),
    }
    .expect("numbers serialize")
}

/// The record's text when it is one JSON value on one line, with nothing around it.
fn json_value_text(record: &Record) -> Option<&str> {
    let text = std::str::from_utf8(&record.payload).ok()?;
    let bare = text.trim_matches([' ', '\t']) == text && !text.contains(['\n', '\r']);
    (bare && serde_json::from_str::<IgnoredAny>(text).is_ok()).then_some(text)
}

/// A bundle as `event`/`events` when every record is a JSON value on one line (written as it is), as
/// `records` when every record is UTF-8 text, as `records_base64` otherwise.
fn bundle_line(records: &[Record]) -> String {
    if let Some(values) = records.iter().map(json_value_text).collect::<Option<Vec<&str>>>() {
        return match values.as_slice() {
            [one] => format!("{{\"event\": {one}}}"),
            many => format!("{{\"events\": [{}]}}", many.join(", ")),
        };
    }
    if let Some(texts) = records
        .iter()
        .map(|r| std::str::from_utf8(&r.payload).ok())
        .collect::<Option<Vec<&str>>>()
    {
        return format!(
            "{{\"records\": {}}}",
            serde_json::to_string(&texts).expect("strings serialize")
        );
    }
    let encoded: Vec<String> = records.iter().map(|r| STANDARD.encode(&r.payload)).collect();
    format!(
        "{{\"records_base64\": {}}}",
        serde_json::to_string(&encoded).expect("strings serialize")
    )
}

/// The JSON value of a watermark step: `"+inf"` / `"-inf"`, the `event_datetime` form where it shows
/// the instant exactly (years 0 to 9999), integer epoch milliseconds otherwise.
fn watermark_value(w: Watermark) -> String {
    match w {
        Watermark::MAX => "\"+inf\"".to_owned(),
        Watermark::MIN => "\"-inf\"".to_owned(),
        _ => {
            let t = w.timestamp();
            let text = t.format_millis();
            if Timestamp::parse_datetime(&text) == Ok(t) {
                format!("\"{text}\"")
            } else {
                t.millis().to_string()
            }
        }
    }
}

/// Seconds as an exact decimal: whole seconds as an integer, else up to three fraction digits. Never
/// through `f64`, which cannot hold every millisecond count.
fn seconds_value(d: Duration) -> String {
    let ms = d.as_millis();
    let (whole, fraction) = (ms / 1000, (ms % 1000).abs());
    if fraction == 0 {
        return whole.to_string();
    }
    let sign = if ms < 0 && whole == 0 { "-" } else { "" };
    let digits = format!("{fraction:03}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// Writes `steps` as a scenario file's text.
pub fn write_scenario<W: Write>(mut writer: W, steps: &[Step]) -> std::io::Result<()> {
    for step in steps {
        writeln!(writer, "{}", step_line(step))?;
    }
    Ok(())
}

/// Reads a watermark step's JSON value: `"+inf"` (or `"inf"`, `"infinity"`, `"+infinity"`), `"-inf"`,
/// a datetime string in the `event_datetime` form, integer epoch milliseconds (`1714345980000`), or
/// the same as a string with a unit (`"1714345980000ms"`).
fn parse_watermark(json: &str) -> Result<Watermark, String> {
    let expected = "expected a datetime like \"2024-04-28T23:13:00.000\", integer epoch milliseconds \
                    like 1714345980000 or \"1714345980000ms\", or \"+inf\"";
    if !json.starts_with('"') {
        let millis: i64 = json.parse().map_err(|_| {
            format!("watermark: {json} is not a whole number of milliseconds in the i64 range; {expected}")
        })?;
        return Ok(Watermark::at(Timestamp::from_millis(millis)));
    }
    let text: String = serde_json::from_str(json).map_err(|e| format!("watermark: {e}"))?;
    match text.as_str() {
        "+inf" | "inf" | "infinity" | "+infinity" => Ok(Watermark::MAX),
        "-inf" | "-infinity" => Ok(Watermark::MIN),
        _ => {
            if let Some(millis) = text.strip_suffix("ms").and_then(|n| n.parse::<i64>().ok()) {
                return Ok(Watermark::at(Timestamp::from_millis(millis)));
            }
            Timestamp::parse_datetime(&text)
                .map(Watermark::at)
                .map_err(|e| format!("watermark: {e}; {expected}"))
        }
    }
}

/// Reads a processing-time step's JSON value: a positive number of seconds with at most three fraction
/// digits (a whole number of milliseconds), read exactly, never through `f64`.
fn parse_processing_time(json: &str) -> Result<Duration, String> {
    let refuse = |why: &str| {
        format!("processing_time must be a positive number of seconds with at most 3 decimals, got {json}{why}")
    };
    let (whole, fraction) = json.split_once('.').unwrap_or((json, ""));
    let fraction = fraction.trim_end_matches('0');
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(refuse(""));
    }
    if fraction.len() > 3 {
        return Err(refuse(": finer than a millisecond"));
    }
    let millis = format!("{fraction:0<3}").parse::<i64>().expect("three digits");
    let ms = whole
        .parse::<i64>()
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .and_then(|ms| ms.checked_add(millis))
        .ok_or_else(|| refuse(": more milliseconds than an i64 holds"))?;
    if ms == 0 {
        return Err(refuse(""));
    }
    Ok(Duration::millis(ms))
}

/// True when `first_line` (the first non-blank line of a file) is a scenario step.
pub fn is_scenario_line(first_line: &[u8]) -> bool {
    parse_scenario_step(first_line, || Position::Index { index: 0 }).is_ok()
}

/// True when `line` is meant as a scenario step, well-formed or not: a JSON object with no field of a
/// visit record ([`VISIT_FIELDS`]) and at least one key that is a step keyword ([`STEP_KEYWORDS`]) or
/// within two edits of one. This tells a malformed step (a script error) from a bad recorded record (a
/// dead letter): a line that is not a JSON object, or that has a visit's field, is a record.
pub fn is_step_attempt(line: &[u8]) -> bool {
    let Some(keys) = object_keys(line) else {
        return false;
    };
    !keys.iter().any(|k| VISIT_FIELDS.contains(&k.as_str()))
        && keys
            .iter()
            .any(|k| STEP_KEYWORDS.contains(&k.as_str()) || closest_keyword(k).is_some())
}

/// The keys of a JSON object, or `None` when `line` is not one.
fn object_keys(line: &[u8]) -> Option<Vec<String>> {
    serde_json::from_slice::<BTreeMap<String, IgnoredAny>>(line)
        .ok()
        .map(|map| map.into_keys().collect())
}

/// The step keyword `key` is a near miss of, when it is not one itself.
fn closest_keyword(key: &str) -> Option<&'static str> {
    if STEP_KEYWORDS.contains(&key) {
        return None;
    }
    let lower = key.to_lowercase();
    STEP_KEYWORDS
        .iter()
        .map(|keyword| (strsim::osa_distance(&lower, keyword), *keyword))
        .filter(|(distance, _)| *distance <= TYPO_DISTANCE)
        .min()
        .map(|(_, keyword)| keyword)
}

/// The first key of a step line that is a near miss of a step keyword, and that keyword.
fn misspelt_keyword(line: &[u8]) -> Option<(String, &'static str)> {
    object_keys(line)?
        .into_iter()
        .find_map(|key| closest_keyword(&key).map(|keyword| (key, keyword)))
}

/// How to read an input: decide from its first line, or as one kind whatever it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// A scenario when the first non-blank line is a step attempt ([`is_step_attempt`]), else a recording.
    #[default]
    Auto,
    /// Recorded traffic, one record a line.
    Recording,
    /// A scenario script; a line that is not a step is a script error.
    Scenario,
}

impl InputFormat {
    /// The names accepted by [`FromStr`], as on the command line.
    pub const NAMES: [&'static str; 3] = ["auto", "recording", "scenario"];
}

impl FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(InputFormat::Auto),
            "recording" => Ok(InputFormat::Recording),
            "scenario" => Ok(InputFormat::Scenario),
            _ => Err(format!(
                "unknown input format {s:?}: expected auto, recording or scenario"
            )),
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFormat::Auto => "auto",
            InputFormat::Recording => "recording",
            InputFormat::Scenario => "scenario",
        })
    }
}

/// Replays a scenario as source events, checking that scripted watermarks never move backwards.
pub struct ScenarioSource<R> {
    lines: JsonlSource<R>,
    name: String,
    last_watermark: Watermark,
    /// `dropped_late` lines read since the last [`Source::take_dropped_late`].
    dropped_late: Vec<LateRecord>,
    /// The lateness horizons of the bundle last returned, until taken.
    lateness_horizons: Option<Vec<Watermark>>,
}

impl<R: BufRead> ScenarioSource<R> {
    /// Reads scenario steps from `reader`; `name` appears in error messages.
    pub fn from_reader(name: impl Into<String>, reader: R) -> Self {
        ScenarioSource::from_lines(JsonlSource::from_reader(name, reader))
    }

    /// Reads scenario steps from `lines`, from the line it stands at (a peeked line included).
    pub fn from_lines(lines: JsonlSource<R>) -> Self {
        ScenarioSource {
            name: lines.name().to_owned(),
            lines,
            last_watermark: Watermark::MIN,
            dropped_late: Vec::new(),
            lateness_horizons: None,
        }
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.lines.bytes_read()
    }
}

impl<R: BufRead> Source for ScenarioSource<R> {
    fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        loop {
            let Some((line, bytes)) = self.lines.next_line()? else {
                return Ok(None);
            };
            let script_error = |message: String| SourceError::Script {
                what: self.name.clone(),
                line,
                message,
            };
            let step = match parse_scenario_step(bytes, || Position::Line { line }).map_err(script_error)? {
                ScenarioStep::Step {
                    step,
                    lateness_horizons,
                    ..
                } => {
                    self.lateness_horizons = lateness_horizons;
                    step
                }
                // Reported before the steps after it, as the recorded runtime reported it.
                ScenarioStep::DroppedLate { late, .. } => {
                    self.dropped_late.push(late);
                    continue;
                }
            };
            if let Step::Watermark(w) = step {
                if w < self.last_watermark {
                    return Err(SourceError::Script {
                        what: self.name.clone(),
                        line,
                        message: format!("the watermark moves backwards, from {} to {}", self.last_watermark, w),
                    });
                }
                self.last_watermark = w;
            }
            return Ok(Some(step));
        }
    }

    fn take_dropped_late(&mut self) -> Vec<LateRecord> {
        std::mem::take(&mut self.dropped_late)
    }

    fn take_lateness_horizons(&mut self) -> Option<Vec<Watermark>> {
        self.lateness_horizons.take()
    }
}

/// How an input is read, as the whole stream: a boxed reader so that a file, a pipe and standard input
/// are one type.
pub type InputReader = Box<dyn BufRead>;

/// The `--file` path that means standard input.
pub const STDIN_PATH: &str = "-";

/// An input of either kind, told apart by its first non-blank line.
///
/// It is opened once and streamed: the first line is peeked at, then read again as the first record or
/// step, so a pipe, a FIFO or standard input loses nothing.
pub struct InputFile {
    lines: InputLines,
    len: Option<u64>,
    origin: Origin,
}

/// Where an input's bytes come from, to tell whether an output would overwrite it.
enum Origin {
    /// A file opened by path: a second handle on it.
    File(File),
    /// Standard input.
    Stdin,
    /// A reader given by the caller: no file to compare.
    Reader,
}

enum InputLines {
    /// Recorded traffic: one record a line, file order = arrival order.
    Recording(JsonlSource<InputReader>),
    /// A scripted scenario.
    Scenario(ScenarioSource<InputReader>),
}

impl InputFile {
    /// Opens `path` (`-` for standard input) and decides what it is, as `format` says.
    pub fn open(path: &Path, format: InputFormat) -> Result<InputFile, SourceError> {
        if path.as_os_str() == STDIN_PATH {
            let reader = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
            let input = InputFile::from_reader("standard input", Box::new(reader), None, format)?;
            return Ok(InputFile {
                origin: Origin::Stdin,
                ..input
            });
        }
        let io_error = |source| SourceError::Io {
            what: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        // Only a regular file has a length known in advance; a pipe or a FIFO reports 0.
        let metadata = file.metadata().map_err(io_error)?;
        let len = metadata.is_file().then_some(metadata.len());
        let origin = Origin::File(file.try_clone().map_err(io_error)?);
        let reader = BufReader::with_capacity(1 << 16, file);
        let input = InputFile::from_reader(path.display().to_string(), Box::new(reader), len, format)?;
        Ok(InputFile { origin, ..input })
    }

    /// Reads from `reader` (`name` for messages, `len` its size in bytes when known) and decides what
    /// it is from its first non-blank line, as `format` says.
    pub fn from_reader(
        name: impl Into<String>,
        reader: InputReader,
        len: Option<u64>,
        format: InputFormat,
    ) -> Result<InputFile, SourceError> {
        let mut lines = JsonlSource::from_reader(name, reader);
        let scenario = match format {
            InputFormat::Recording => false,
            InputFormat::Scenario => true,
            InputFormat::Auto => match lines.peek_line()? {
                Some((_, first)) => is_step_attempt(first),
                None => false,
            },
        };
        let lines = if scenario {
            InputLines::Scenario(ScenarioSource::from_lines(lines))
        } else {
            InputLines::Recording(lines)
        };
        Ok(InputFile {
            lines,
            len,
            origin: Origin::Reader,
        })
    }

    /// The identity of the file being read (standard input's when it is `-`), to compare an output
    /// path with; `None` for a reader given to [`from_reader`](Self::from_reader).
    pub fn handle(&self) -> std::io::Result<Option<same_file::Handle>> {
        match &self.origin {
            Origin::File(file) => same_file::Handle::from_file(file.try_clone()?).map(Some),
            Origin::Stdin => same_file::Handle::stdin().map(Some),
            Origin::Reader => Ok(None),
        }
    }

    /// True for a scenario.
    pub fn is_scenario(&self) -> bool {
        matches!(self.lines, InputLines::Scenario(_))
    }

    /// The input's size in bytes when known in advance (a regular file), `None` for a pipe.
    pub fn size_in_bytes(&self) -> Option<u64> {
        self.len
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        match &self.lines {
            InputLines::Recording(s) => s.bytes_read(),
            InputLines::Scenario(s) => s.bytes_read(),
        }
    }
}

impl Source for InputFile {
    fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        match &mut self.lines {
            InputLines::Recording(s) => s.next_step(),
            InputLines::Scenario(s) => s.next_step(),
        }
    }

    fn take_dropped_late(&mut self) -> Vec<LateRecord> {
        match &mut self.lines {
            InputLines::Recording(_) => Vec::new(),
            InputLines::Scenario(s) => s.take_dropped_late(),
        }
    }

    fn take_lateness_horizons(&mut self) -> Option<Vec<Watermark>> {
        match &mut self.lines {
            InputLines::Recording(_) => None,
            InputLines::Scenario(s) => s.take_lateness_horizons(),
        }
    }

    fn next_lent(&mut self) -> Result<Option<LentStep<'_>>, SourceError> {
        match &mut self.lines {
            InputLines::Recording(s) => s.next_lent(),
            InputLines::Scenario(s) => s.next_lent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a line whose records (if any) are placed at index 0, 1, ...
    fn parse(line: &[u8]) -> Result<Step, String> {
        let mut index = 0;
        parse_step(line, || {
            index += 1;
            Position::Index { index: index - 1 }
        })
    }

    /// A bundle of these payloads at index 0, 1, ...
    fn bundle(payloads: &[&[u8]]) -> Step {
        Step::Bundle(
            payloads
                .iter()
                .enumerate()
                .map(|(i, p)| Record::new(p.to_vec(), Position::Index { index: i as u64 }))
                .collect(),
        )
    }

    #[test]
    fn steps_round_trip_through_their_line_form() {
        let steps = [
            bundle(&[br#"{"id":"1"}"#]),
            bundle(&[br#"{"id":"1"}"#, br#"{"id":"2"}"#]),
            Step::Watermark(Watermark::at(
                Timestamp::parse_datetime("2024-04-28T23:13:00.000").unwrap(),
            )),
            Step::Watermark(Watermark::MAX),
            Step::ProcessingTime(Duration::seconds(5)),
            Step::ProcessingTime(Duration::millis(1500)),
            Step::Watermark(Watermark::MIN),
            Step::Watermark(Watermark::at(Timestamp::from_millis(i64::MAX - 1))),
            Step::Watermark(Watermark::at(Timestamp::from_millis(i64::MIN + 1))),
            Step::Watermark(Watermark::at(Timestamp::from_millis(-62_167_219_200_001))),
            Step::Watermark(Watermark::at(Timestamp::from_millis(253_402_300_800_000))),
            Step::ProcessingTime(Duration::millis(i64::MAX)),
            Step::ProcessingTime(Duration::millis(9_007_199_254_740_993)),
            Step::ProcessingTime(Duration::millis(1)),
            // A bad record is still a record: a script that adds a raw `null` reads back as itself.
            bundle(&[b"null"]),
            bundle(&[b"null", b"null"]),
            // Records that are no JSON value, or not even text, keep their bytes.
            bundle(&[b"not json", br#"{"id": "4"#, b""]),
            bundle(&[b" {\"id\": 1}", b"{\n}"]),
            bundle(&[b"\xff\xfe", br#"{"id":"1"}"#]),
            bundle(&[]),
        ];
        for step in steps {
            let line = step_line(&step);
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(parse(line.as_bytes()).unwrap(), step, "{line}");
        }
    }

    #[test]
    fn records_are_written_in_the_plainest_form_that_keeps_their_bytes() {
        assert_eq!(step_line(&bundle(&[br#"{"id":"1"}"#])), r#"{"event": {"id":"1"}}"#);
        assert_eq!(step_line(&bundle(&[b"nope", b"{}"])), r#"{"records": ["nope","{}"]}"#);
        assert_eq!(step_line(&bundle(&[b"\xff"])), r#"{"records_base64": ["/w=="]}"#);
        let err = parse(br#"{"records_base64": ["not base64!"]}"#).unwrap_err();
        assert!(err.contains("record 1 is not base64"), "{err}");
    }

    #[test]
    fn bad_steps_are_explained() {
        for (line, expected) in [
            (r#"{"event": {}, "watermark": "2024-04-28T23:13:00"}"#, "exactly one"),
            (r#"{"wm": "2024-04-28T23:13:00"}"#, "unknown field `wm`"),
            (r#"{"watermark": "noon"}"#, "watermark: bad datetime"),
            (r#"{"processing_time": -1}"#, "positive"),
            (r#"{"processing_time": 0}"#, "positive"),
            (r#"{"processing_time": 0.0001}"#, "finer than a millisecond"),
            (r#"{"processing_time": 1e3}"#, "at most 3 decimals, got 1e3"),
            (r#"{"processing_time": "5"}"#, "positive number of seconds"),
            (
                r#"{"processing_time": 9223372036854776}"#,
                "more milliseconds than an i64 holds",
            ),
            (r#"{"watermark": 1.5}"#, "1.5 is not a whole number of milliseconds"),
            (r#"{"watermark": 9223372036854775808}"#, "in the i64 range"),
            (r#"{"watermark": "12sms"}"#, "watermark: bad datetime"),
            (r#"{"watermark": true}"#, "not a whole number of milliseconds"),
            ("{oops", "not a scenario step"),
        ] {
            let err = parse(line.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn every_watermark_form_reads_as_its_instant() {
        let at = |ms: i64| Ok(Step::Watermark(Watermark::at(Timestamp::from_millis(ms))));
        assert_eq!(parse(br#"{"watermark": 1714345980000}"#), at(1_714_345_980_000));
        assert_eq!(parse(br#"{"watermark": "1714345980000ms"}"#), at(1_714_345_980_000));
        assert_eq!(parse(br#"{"watermark": "2024-04-28T23:13:00"}"#), at(1_714_345_980_000));
        assert_eq!(parse(br#"{"watermark": -1}"#), at(-1));
        assert_eq!(parse(br#"{"watermark": "-inf"}"#), Ok(Step::Watermark(Watermark::MIN)));
        // The datetime form where it can show the instant, milliseconds where it cannot.
        let line = |ms: i64| step_line(&Step::Watermark(Watermark::at(Timestamp::from_millis(ms))));
        assert_eq!(line(1_714_345_980_000), r#"{"watermark": "2024-04-28T23:13:00.000"}"#);
        assert_eq!(line(i64::MAX - 1), r#"{"watermark": 9223372036854775806}"#);
        assert_eq!(
            step_line(&Step::ProcessingTime(Duration::millis(9_007_199_254_740_993))),
            r#"{"processing_time": 9007199254740.993}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn every_watermark_and_processing_time_step_reads_back_as_itself(ms in proptest::num::i64::ANY, by in 1..=i64::MAX) {
            for step in [
                Step::Watermark(Watermark::at(Timestamp::from_millis(ms))),
                Step::ProcessingTime(Duration::millis(by)),
            ] {
                let line = step_line(&step);
                proptest::prop_assert_eq!(parse(line.as_bytes()), Ok(step), "{}", line);
            }
        }

        #[test]
        fn any_bundle_reads_back_with_its_bytes(payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..24), 0..4)) {
            let step = bundle(&payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let line = step_line(&step);
            proptest::prop_assert_eq!(parse(line.as_bytes()), Ok(step), "{}", line);
        }
    }

    /// A bundle of these payloads at these offsets of `partition`.
    fn recorded(partition: i32, records: &[(&[u8], i64)]) -> Step {
        Step::Bundle(
            records
                .iter()
                .map(|(p, offset)| {
                    Record::new(
                        p.to_vec(),
                        Position::Offset {
                            partition,
                            offset: *offset,
                        },
                    )
                })
                .collect(),
        )
    }

    fn parse_any(line: &[u8]) -> Result<ScenarioStep, String> {
        parse_scenario_step(line, || Position::Index { index: 0 })
    }

    #[test]
    fn recorded_kafka_bundles_and_dropped_late_records_round_trip_through_their_line_form() {
        let late = LateRecord {
            position: Position::Offset {
                partition: 1,
                offset: 9,
            },
            event_time: Timestamp::parse_datetime("2024-04-28T23:12:42.000").unwrap(),
            watermark: Watermark::at(Timestamp::parse_datetime("2024-04-28T23:13:00.000").unwrap()),
            reason: "late: every window expired".to_owned(),
            payload: br#"{"id": "7"}"#.to_vec(),
        };
        let lines = [
            ScenarioStep::Step {
                step: recorded(0, &[(br#"{"id":"1"}"#, 7)]),
                kafka_ts: Some(vec![Some(1_714_345_961_000)]),
                lateness_horizons: None,
            },
            ScenarioStep::Step {
                step: recorded(2, &[(br#"{"id":"1"}"#, 7), (b"not json", 9), (b"\xff", 10)]),
                kafka_ts: Some(vec![Some(1), None, Some(-5)]),
                lateness_horizons: None,
            },
            ScenarioStep::Step {
                step: recorded(3, &[(br#"{"id":"1"}"#, 0), (br#"{"id":"2"}"#, 1)]),
                kafka_ts: None,
                lateness_horizons: Some(vec![
                    Watermark::MIN,
                    Watermark::at(Timestamp::parse_datetime("2024-04-28T23:12:55.000").unwrap()),
                ]),
            },
            ScenarioStep::Step {
                step: recorded(3, &[(br#"{"id":"1"}"#, 0)]),
                kafka_ts: Some(vec![None]),
                lateness_horizons: Some(vec![Watermark::at(Timestamp::from_millis(-3))]),
            },
            ScenarioStep::DroppedLate {
                late: late.clone(),
                kafka_ts: Some(1_714_345_962_000),
            },
            ScenarioStep::DroppedLate {
                late: LateRecord {
                    watermark: Watermark::MIN,
                    payload: b"\xfe".to_vec(),
                    ..late.clone()
                },
                kafka_ts: None,
            },
        ];
        for line in lines {
            let text = scenario_line(&line);
            assert!(!text.contains('\n'), "{text}");
            assert_eq!(parse_any(text.as_bytes()).unwrap(), line, "{text}");
        }
        assert_eq!(
            scenario_line(&ScenarioStep::Step {
                step: recorded(0, &[(br#"{"id":"1"}"#, 7)]),
                kafka_ts: Some(vec![Some(1_714_345_961_000)]),
                lateness_horizons: None,
            }),
            r#"{"event": {"id":"1"}, "partition": 0, "offset": 7, "kafka_ts": 1714345961000}"#
        );
        // A recorded bundle is still a step: its records stand at their partition and offset.
        let step = parse(br#"{"events": [{"id":"1"}, {"id":"2"}], "partition": 4, "offset": [10, 12]}"#).unwrap();
        assert_eq!(step, recorded(4, &[(br#"{"id":"1"}"#, 10), (br#"{"id":"2"}"#, 12)]));
        assert_eq!(parse(step_line(&step).as_bytes()).unwrap(), step);
        assert!(
            parse(&scenario_line(&ScenarioStep::DroppedLate { late, kafka_ts: None }).into_bytes())
                .unwrap_err()
                .contains("no step of a timeline")
        );
    }

    #[test]
    fn bad_kafka_fields_are_explained() {
        for (line, expected) in [
            (r#"{"event": {}, "partition": 0}"#, "both `partition` and `offset`"),
            (r#"{"event": {}, "offset": 3}"#, "both `partition` and `offset`"),
            (r#"{"event": {}, "kafka_ts": 3}"#, "both `partition` and `offset`"),
            (
                r#"{"events": [{}, {}], "partition": 0, "offset": 3}"#,
                "array of 2 values",
            ),
            (
                r#"{"events": [{}, {}], "partition": 0, "offset": [3]}"#,
                "1 values for a bundle of 2",
            ),
            (r#"{"event": {}, "partition": 0, "offset": "3"}"#, "`offset`"),
            (
                r#"{"event": {}, "partition": 0, "offset": 3, "kafka_ts": [1, 2]}"#,
                "2 values for a bundle of 1",
            ),
            (
                r#"{"watermark": "+inf", "partition": 0, "offset": 3}"#,
                "belong beside a bundle",
            ),
            (
                r#"{"dropped_late": {"line": 1}}"#,
                "dropped_late: not a late record line",
            ),
            (r#"{"dropped_lat": {}}"#, "did you mean `dropped_late`?"),
        ] {
            let err = parse_any(line.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn a_scenario_source_hands_over_dropped_late_records_before_the_step_after_them() {
        let text = "{\"dropped_late\": {\"partition\": 0, \"offset\": 3, \"event_time\": \"2024-04-28T23:12:42.000\", \
                    \"watermark\": \"2024-04-28T23:13:00.000\", \"reason\": \"late\", \"record\": \"{}\"}}\n\
                    {\"event\": {}, \"partition\": 0, \"offset\": 4}\n";
        let mut source = ScenarioSource::from_reader("s.jsonl", text.as_bytes());
        let step = source.next_step().unwrap().unwrap();
        assert_eq!(step, recorded(0, &[(b"{}", 4)]));
        let late = source.take_dropped_late();
        assert_eq!(late.len(), 1);
        assert_eq!(
            late[0].position,
            Position::Offset {
                partition: 0,
                offset: 3
            }
        );
        assert!(source.take_dropped_late().is_empty());
        assert!(source.next_step().unwrap().is_none());
    }

    #[test]
    fn a_backwards_watermark_stops_the_script_with_its_line() {
        let text = "{\"watermark\": \"2024-04-28T23:13:00\"}\n\n{\"watermark\": \"2024-04-28T23:12:00\"}\n";
        let mut source = ScenarioSource::from_reader("s.jsonl", text.as_bytes());
        assert!(source.next_step().unwrap().is_some());
        let err = source.next_step().unwrap_err().to_string();
        assert!(err.contains("s.jsonl, line 3") && err.contains("backwards"), "{err}");
    }

    #[test]
    fn a_misspelt_first_step_is_a_step_attempt_and_a_visit_or_garbage_is_not() {
        for step in [
            r#"{"watermak": "2024-04-28T23:13:00.000"}"#,
            r#"{"Watermark": "2024-04-28T23:13:00.000"}"#,
            r#"{"evnt": {"id": "1"}}"#,
            r#"{"processingtime": 5}"#,
            r#"{"watermark": "noon"}"#,
            r#"{"event": {}, "watermark": "2024-04-28T23:13:00"}"#,
        ] {
            assert!(is_step_attempt(step.as_bytes()), "{step}");
        }
        for record in [
            r#"{"ip": "1.2.3.4", "id": "1", "event_datetime": "28/04/2024"}"#,
            r#"{"id": "1", "event": "click"}"#,
            r#"{"wm": "2024-04-28T23:13:00"}"#,
            "{not json",
            "[1, 2, 3]",
            "{}",
        ] {
            assert!(!is_step_attempt(record.as_bytes()), "{record}");
        }
    }

    #[test]
    fn a_misspelt_keyword_gets_a_suggestion() {
        let err = parse(br#"{"watermak": "2024-04-28T23:13:00.000"}"#).unwrap_err();
        assert!(err.contains("did you mean `watermark`?"), "{err}");
        let err = parse(br#"{"event": {}, "procesing_time": 1}"#).unwrap_err();
        assert!(err.contains("did you mean `processing_time`?"), "{err}");
    }

    #[test]
    fn a_scenario_whose_first_step_is_malformed_stops_at_line_1() {
        let text = "\n{\"watermak\": \"2024-04-28T23:13:00.000\"}\n{\"watermark\": \"+inf\"}\n";
        let mut input = InputFile::from_reader("s.jsonl", Box::new(text.as_bytes()), None, InputFormat::Auto).unwrap();
        assert!(input.is_scenario());
        let err = input.next_step().unwrap_err().to_string();
        assert!(
            err.contains("s.jsonl, line 2") && err.contains("did you mean `watermark`?"),
            "{err}"
        );
    }

    #[test]
    fn the_input_format_can_be_forced() {
        let step = "{\"watermark\": \"+inf\"}\n";
        let forced = InputFile::from_reader("s", Box::new(step.as_bytes()), None, InputFormat::Recording).unwrap();
        assert!(!forced.is_scenario());
        let visit = "{\"ip\": \"1.2.3.4\"}\n";
        let mut forced = InputFile::from_reader("s", Box::new(visit.as_bytes()), None, InputFormat::Scenario).unwrap();
        assert!(forced.is_scenario());
        assert!(forced.next_step().unwrap_err().to_string().contains("s, line 1"));
    }

    #[test]
    fn a_visit_line_is_not_a_scenario_line() {
        assert!(!is_scenario_line(br#"{"ip":"1.2.3.4","id":"1"}"#));
        assert!(is_scenario_line(br#"{"event": {"ip":"1.2.3.4","id":"1"}}"#));
        assert!(is_scenario_line(br#"{"processing_time": 1}"#));
    }
}
