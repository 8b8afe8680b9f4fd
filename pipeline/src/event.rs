//! The website-visit record: the seed's `EventLog`, its JSON form and its event time.
//!
//! This module owns what a visit looks like on the wire and the few rules the seed applies while
//! parsing it (missing coordinates become `-1`). It does not know about windows or pipelines; the
//! traffic aggregation in [`crate::traffic`] uses it as its event type.

use serde::{Deserialize, Deserializer, Serialize};

use crate::time::{DateTimeError, Timestamp};

/// One website visit, field for field the seed's `EventLog`.
///
/// Parsing follows the seed's `parse_json` with two deliberate differences, both documented in the README:
///
/// * When `lat` or `lng` is an empty string or `null`, **both** become `-1.0`, as in the seed. The seed
///   also treats `0` as missing (Python's falsy test); we keep `0.0`, which is a real coordinate.
/// * Unknown extra fields are ignored; a missing field or a value of the wrong type is an error, which a
///   pipeline turns into a dead letter.
///
/// ```
/// use pipeline::event::VisitEvent;
/// let line = br#"{"ip":"151.21.93.137","id":"2142139324490406578","lat":"","lng":9.333,
///   "user_agent":"Mozilla/5.0","age_bracket":"26-40","opted_into_marketing":true,
///   "http_request":"GET amoebozoa.html HTTP/1.0","http_response":200,"file_size_bytes":453,
///   "event_datetime":"2024-04-28T23:12:50.484","event_ts":1714309970484}"#;
/// let visit = VisitEvent::from_json(line).unwrap();
/// assert_eq!((visit.lat, visit.lng), (-1.0, -1.0));
/// assert_eq!(visit.event_time().unwrap().format_seconds(), "2024-04-28T23:12:50");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawVisitEvent")]
pub struct VisitEvent {
    /// The visitor's IPv4 address.
    pub ip: String,
    /// The user id: a large integer written as a string.
    pub id: String,
    /// Latitude, or `-1.0` when the record had none.
    pub lat: f64,
    /// Longitude, or `-1.0` when the record had none.
    pub lng: f64,
    /// The browser's user-agent string.
    pub user_agent: String,
    /// An age range such as `26-40`.
    pub age_bracket: String,
    /// Whether the user agreed to marketing.
    pub opted_into_marketing: bool,
    /// The request line, e.g. `GET amoebozoa.html HTTP/1.0`.
    pub http_request: String,
    /// The HTTP status code.
    pub http_response: i64,
    /// The response size in bytes.
    pub file_size_bytes: i64,
    /// Event time as `YYYY-MM-DDTHH:MM:SS.mmm`, no zone; read as UTC by [`VisitEvent::event_time`].
    pub event_datetime: String,
    /// Event time in epoch milliseconds, as written by the generator. The pipelines take event time from
    /// `event_datetime`, as the seed does.
    pub event_ts: i64,
}

/// Why a line is not a [`VisitEvent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VisitError {
    /// The bytes are not a JSON object of the visit's shape (syntax, UTF-8, a missing field, a wrong type).
    #[error("{0}")]
    Json(String),
    /// `event_datetime` is present but not a datetime of the expected form.
    #[error("event_datetime: {0}")]
    DateTime(#[from] DateTimeError),
}

impl VisitEvent {
    /// Parses one JSON object and checks that its `event_datetime` is readable, so that a record that
    /// parses always has an event time.
    pub fn from_json(bytes: &[u8]) -> Result<VisitEvent, VisitError> {
        expect_object(bytes)?;
        // One UTF-8 check of the whole line lets serde_json skip its check of every string in it.
        let text = std::str::from_utf8(bytes)
            .map_err(|e| VisitError::Json(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let visit: VisitEvent = serde_json::from_str(text).map_err(|e| VisitError::Json(describe_json_error(&e)))?;
        visit.event_time()?;
        Ok(visit)
    }

    /// The event time: `event_datetime` read as UTC, to the millisecond.
    pub fn event_time(&self) -> Result<Timestamp, DateTimeError> {
        Timestamp::parse_datetime(&self.event_datetime)
    }
}

/// serde's derived struct visitor also accepts a JSON array (fields by position); a visit is an object.
fn expect_object(bytes: &[u8]) -> Result<(), VisitError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let found = match first {
        Some(b'{') => return Ok(()),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        None => "nothing",
        Some(_) => return Ok(()), // let the parser describe the syntax error
    };
    Err(VisitError::Json(format!("expected a JSON object, found {found}")))
}

/// serde_json's message says "at line 1 column N"; a record is one line, so the column is what matters.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &text[..i], e.column()),
        None => text,
    }
}

/// The wire shape before the seed's coordinate rule is applied.
#[derive(Deserialize)]
struct RawVisitEvent {
    ip: String,
    id: String,
    #[serde(deserialize_with = "coordinate")]
    lat: Option<f64>,
    #[serde(deserialize_with = "coordinate")]
    lng: Option<f64>,
    user_agent: String,
    age_bracket: String,
    opted_into_marketing: bool,
    http_request: String,
    http_response: i64,
    file_size_bytes: i64,
    event_datetime: String,
    event_ts: i64,
}

impl From<RawVisitEvent> for VisitEvent {
    fn from(raw: RawVisitEvent) -> VisitEvent {
        // The seed replaces both coordinates when either one is missing.
        let (lat, lng) = match (raw.lat, raw.lng) {
            (Some(lat), Some(lng)) => (lat, lng),
            _ => (-1.0, -1.0),
        };
        VisitEvent {
            ip: raw.ip,
            id: raw.id,
            lat,
            lng,
            user_agent: raw.user_agent,
            age_bracket: raw.age_bracket,
            opted_into_marketing: raw.opted_into_marketing,
            http_request: raw.http_request,
            http_response: raw.http_response,
            file_size_bytes: raw.file_size_bytes,
            event_datetime: raw.event_datetime,
            event_ts: raw.event_ts,
        }
    }
}

/// A coordinate is a number, or `""` / `null` for "missing". Any other string is a type error rather
/// than a silent `-1`, so that a corrupted value is dead-lettered and seen.
fn coordinate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct CoordinateVisitor;
    impl<'de> serde::de::Visitor<'de> for CoordinateVisitor {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number, an empty string or null")
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.is_empty() {
                Ok(None)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(CoordinateVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(lat: &str, lng: &str) -> String {
        format!(
            r#"{{"ip":"1.2.3.4","id":"42","lat":{lat},"lng":{lng},"user_agent":"ua","age_bracket":"18-25","opted_into_marketing":false,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":10,"event_datetime":"2024-04-28T23:12:50.484","event_ts":1714345970484}}"#
        )
    }

    #[test]
    fn missing_coordinate_sets_both_to_minus_one() {
        for (lat, lng) in [(r#""""#, "9.5"), ("45.5", r#""""#), ("null", "9.5"), ("45.5", "null")] {
            let v = VisitEvent::from_json(line(lat, lng).as_bytes()).unwrap();
            assert_eq!((v.lat, v.lng), (-1.0, -1.0), "lat={lat} lng={lng}");
        }
    }

    #[test]
    fn zero_is_a_real_coordinate() {
        let v = VisitEvent::from_json(line("0", "0.0").as_bytes()).unwrap();
        assert_eq!((v.lat, v.lng), (0.0, 0.0));
    }

    #[test]
    fn unknown_fields_are_ignored_and_a_round_trip_is_stable() {
        let mut text = line("45.5", "9");
        text.insert_str(1, r#""extra":[1,2,{"x":null}],"#);
        let v = VisitEvent::from_json(text.as_bytes()).unwrap();
        let again = VisitEvent::from_json(serde_json::to_string(&v).unwrap().as_bytes()).unwrap();
        assert_eq!(v, again);
        assert_eq!(v.lng, 9.0);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let cases = [
            ("{not json", "key must be a string"),
            ("[1,2]", "expected a JSON object, found an array"),
            ("5", "expected a JSON object, found a number"),
            (r#"{"ip":"1"}"#, "missing field `id`"),
            (&line(r#""north""#, "1"), "expected a number, an empty string or null"),
            (
                &line("1", "1").replace(r#""http_response":200"#, r#""http_response":"200""#),
                "invalid type: string",
            ),
            (
                &line("1", "1").replace("2024-04-28T23:12:50.484", "yesterday"),
                "event_datetime: bad datetime",
            ),
        ];
        for (input, expected) in cases {
            let err = VisitEvent::from_json(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
        let err = VisitEvent::from_json(b"{\"ip\":\"\xff\xfe\"}").unwrap_err().to_string();
        assert!(err.contains("unicode") || err.contains("UTF-8"), "{err}");
    }
}
