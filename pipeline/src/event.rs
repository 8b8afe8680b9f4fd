//! The website-visit record: the seed's `EventLog`, its JSON form and its event time.
//!
//! This module owns what a visit looks like on the wire and the few rules the seed applies while
//! parsing it (missing coordinates become `-1`). It does not know about windows or pipelines; the
//! traffic aggregation in [`crate::traffic`] uses it as its event type.

use serde::{Deserialize, Deserializer, Serialize};

use crate::time::{DateTimeError, Timestamp};

mod scan;

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

/// Why a line is not a [`VisitEvent`]. Each message says what is wrong and where (a byte offset or a
/// column, 1-based, of the record's single line), and shows the text at fault when there is some.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VisitError {
    /// The record is empty or only whitespace (a blank line, or the `\r` a CRLF line ending leaves).
    #[error("the record is empty{}", if .whitespace.is_empty() { String::new() } else { format!(" but for whitespace ({:?})", .whitespace) })]
    Empty {
        /// The whitespace it holds, if any (its first 16 characters).
        whitespace: String,
    },
    /// The record starts with the UTF-8 byte-order mark. JSON text must not carry one (RFC 8259 §8.1)
    /// and the seed's parser, Python's `json.loads`, refuses it too, so a line carrying it is refused,
    /// also on the first line of a file.
    #[error(
        "the record starts with a UTF-8 byte-order mark (bytes EF BB BF at byte 0), which JSON text must \
         not carry (RFC 8259 §8.1): save the file as UTF-8 without a BOM"
    )]
    ByteOrderMark,
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8 at byte {offset} (0x{byte:02X}){}; a record must be UTF-8 text", if *.cut { ": the record ends inside a character" } else { "" })]
    InvalidUtf8 {
        /// 0-based offset of the first byte that is not UTF-8.
        offset: usize,
        /// That byte.
        byte: u8,
        /// True when the record ends in the middle of a multi-byte character.
        cut: bool,
    },
    /// The text is not JSON at all.
    #[error("not JSON: the record starts with {start:?}; a visit is a JSON object {{\"ip\": ..., \"id\": ..., ...}}")]
    NotJson {
        /// The first characters of the record.
        start: String,
    },
    /// The text is JSON, but not an object.
    #[error("expected a JSON object, found {found}: `{text}`")]
    NotAnObject {
        /// What was found: `an array`, `a string`, `a number`, `a boolean` or `null`.
        found: &'static str,
        /// The first characters of the record.
        text: String,
    },
    /// The record ends before its JSON value does: a line cut off by a crash or a size limit.
    #[error("the record ends before the JSON {what} is complete (after {bytes} byte{})", if *.bytes == 1 { "" } else { "s" })]
    Truncated {
        /// `object`, or `value` when it did not even start as one.
        what: &'static str,
        /// The record's length.
        bytes: usize,
    },
    /// A JSON syntax error inside the record.
    #[error("invalid JSON at column {column}{}: {message}, near `{near}`", field_suffix(.field))]
    Syntax {
        /// serde_json's description (`expected value`, `invalid escape`, `number out of range`, …), or
        /// ours where serde_json's would mislead (a lone UTF-16 surrogate escape).
        message: String,
        /// 1-based column (= byte offset + 1) where it was found.
        column: usize,
        /// The field whose value holds the error, when there is one (within an unknown field nested
        /// more than 128 levels deep, only the top-level field).
        field: Option<String>,
        /// The text around the error, control characters escaped (`\t`, `\u{1b}`).
        near: String,
    },
    /// Fields the visit needs are absent: the first in the visit's field order, then the others.
    #[error("missing field `{field}`{}", also_missing(.also))]
    MissingField {
        /// The first missing field.
        field: String,
        /// The other missing fields, in the visit's field order.
        also: Vec<String>,
    },
    /// A field holds a value of the wrong type, or a value out of its range.
    #[error("field `{field}`: {message} (column {column})")]
    Field {
        /// The field (a path such as `ip` or, nested, `a.b`).
        field: String,
        /// What is wrong with its value.
        message: String,
        /// 1-based column of the value's last character; of its opening bracket for an array or an
        /// object; of the second key for a field that appears twice.
        column: usize,
    },
    /// `event_datetime` is present but not a datetime of the expected form.
    #[error("event_datetime: {0}")]
    DateTime(#[from] DateTimeError),
}

fn field_suffix(field: &Option<String>) -> String {
    field.as_ref().map_or_else(String::new, |f| format!(" in field `{f}`"))
}

fn also_missing(also: &[String]) -> String {
    if also.is_empty() {
        return String::new();
    }
    let fields: Vec<String> = also.iter().map(|f| format!("`{f}`")).collect();
    format!("; also missing: {}", fields.join(", "))
}

/// The fields of a visit, in the seed's order (the order serde reports the first missing one).
pub const VISIT_FIELDS: [&str; 12] = [
    "ip",
    "id",
    "lat",
    "lng",
    "user_agent",
    "age_bracket",
    "opted_into_marketing",
    "http_request",
    "http_response",
    "file_size_bytes",
    "event_datetime",
    "event_ts",
];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The four characters JSON counts as whitespace (RFC 8259 §2); a no-break space is not one of them.
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\r', '\n'];

impl VisitEvent {
    /// Parses one JSON object and checks that its `event_datetime` is readable, so that a record that
    /// parses always has an event time. Whitespace around the object (a CRLF line ending's `\r`) is
    /// allowed; a byte-order mark is not ([`VisitError::ByteOrderMark`]).
    ///
    /// ```
    /// use pipeline::event::VisitEvent;
    /// let err = VisitEvent::from_json(br#"{"ip": "1.2.3.4", "id": "4"#).unwrap_err();
    /// assert_eq!(err.to_string(), "the record ends before the JSON object is complete (after 26 bytes)");
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<VisitEvent, VisitError> {
        VisitEvent::from_json_timed(bytes).map(|(visit, _)| visit)
    }

    /// [`from_json`](Self::from_json) with the event time it read: `event_datetime` is parsed once.
    ///
    /// ```
    /// use pipeline::event::VisitEvent;
    /// let line = br#"{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:12:50.484","event_ts":0}"#;
    /// let (visit, t) = VisitEvent::from_json_timed(line).unwrap();
    /// assert_eq!((visit.id.as_str(), t.millis()), ("7", 1_714_345_970_484));
    /// ```
    pub fn from_json_timed(bytes: &[u8]) -> Result<(VisitEvent, Timestamp), VisitError> {
        let text = visit_text(bytes)?;
        if let Some(fields) = scan::scan(text) {
            let t = Timestamp::parse_datetime(fields.event_datetime)?;
            return Ok((VisitEvent::from_fields(&fields), t));
        }
        let visit = VisitEvent::from_serde(text)?;
        let t = visit.event_time()?;
        Ok((visit, t))
    }

    fn from_fields(f: &scan::VisitFields<'_>) -> VisitEvent {
        // `scan` only passes numbers without exponents, which always read as a finite f64, exactly as
        // serde_json's float_roundtrip reads them.
        let number = |text: &str| text.parse::<f64>().expect("a number scan checked");
        RawVisitEvent {
            ip: f.ip.to_owned(),
            id: f.id.to_owned(),
            lat: f.lat.map(number),
            lng: f.lng.map(number),
            user_agent: f.user_agent.to_owned(),
            age_bracket: f.age_bracket.to_owned(),
            opted_into_marketing: f.opted_into_marketing,
            http_request: f.http_request.to_owned(),
            http_response: f.http_response,
            file_size_bytes: f.file_size_bytes,
            event_datetime: f.event_datetime.to_owned(),
            event_ts: f.event_ts,
        }
        .into()
    }

    /// The general parse, for the lines [`scan`](scan::scan) leaves alone: serde_json, and on failure
    /// the reason why.
    fn from_serde(text: &str) -> Result<VisitEvent, VisitError> {
        if !text.trim_start_matches(JSON_WHITESPACE).starts_with('{') {
            return Err(describe_non_object(text));
        }
        serde_json::from_str(text).map_err(|_| describe_json_error(text))
    }

    /// The event time: `event_datetime` read as UTC, to the millisecond.
    pub fn event_time(&self) -> Result<Timestamp, DateTimeError> {
        Timestamp::parse_datetime(&self.event_datetime)
    }
}

/// The record as text: no byte-order mark, valid UTF-8. One UTF-8 check of the whole line lets the
/// parsers after it skip their check of every string in it.
fn visit_text(bytes: &[u8]) -> Result<&str, VisitError> {
    if bytes.starts_with(UTF8_BOM) {
        return Err(VisitError::ByteOrderMark);
    }
    std::str::from_utf8(bytes).map_err(|e| VisitError::InvalidUtf8 {
        offset: e.valid_up_to(),
        byte: bytes[e.valid_up_to()],
        cut: e.error_len().is_none(),
    })
}

/// What the traffic aggregation reads of a visit: the user id and the event time.
///
/// [`PageView::from_json`] accepts and refuses exactly the lines [`VisitEvent::from_json`] does, with
/// the same reasons (the whole visit is checked), but keeps only these two fields: one string copied
/// instead of seven, and `event_datetime` parsed once.
///
/// ```
/// use pipeline::event::PageView;
/// let line = br#"{"ip":"1.2.3.4","id":"7","lat":"","lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:12:50.484","event_ts":0}"#;
/// let view = PageView::from_json(line).unwrap();
/// assert_eq!((view.id.as_str(), view.event_time.millis()), ("7", 1_714_345_970_484));
/// assert!(PageView::from_json(b"{}").unwrap_err().to_string().starts_with("missing field `ip`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageView {
    /// The user id.
    pub id: String,
    /// `event_datetime` read as UTC, to the millisecond.
    pub event_time: Timestamp,
}

impl PageView {
    /// Decodes a visit line, checked whole, keeping its id and event time.
    pub fn from_json(bytes: &[u8]) -> Result<PageView, VisitError> {
        let text = visit_text(bytes)?;
        if let Some(fields) = scan::scan(text) {
            return Ok(PageView {
                id: fields.id.to_owned(),
                event_time: Timestamp::parse_datetime(fields.event_datetime)?,
            });
        }
        let visit = VisitEvent::from_serde(text)?;
        let event_time = visit.event_time()?;
        Ok(PageView {
            id: visit.id,
            event_time,
        })
    }

    /// The event time, read when the line was decoded.
    pub fn event_time(&self) -> Result<Timestamp, std::convert::Infallible> {
        Ok(self.event_time)
    }
}

/// The first `n` characters of `text`, for a message.
fn start_of(text: &str, n: usize) -> String {
    let mut start: String = text.chars().take(n).collect();
    if text.chars().nth(n).is_some() {
        start.push('…');
    }
    start
}

/// serde's derived struct visitor also accepts a JSON array (fields by position); a visit is an object.
/// Says what a record not starting with `{` is instead.
fn describe_non_object(text: &str) -> VisitError {
    let trimmed = text.trim_matches(JSON_WHITESPACE);
    if trimmed.is_empty() {
        return VisitError::Empty {
            whitespace: start_of(text, 16),
        };
    }
    match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(value) => VisitError::NotAnObject {
            found: match value {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            },
            text: start_of(trimmed, 40),
        },
        Err(e) if e.classify() == serde_json::error::Category::Eof && trimmed.starts_with(['[', '"']) => {
            VisitError::Truncated {
                what: "value",
                bytes: text.len(),
            }
        }
        Err(_) => VisitError::NotJson {
            start: start_of(trimmed, 40),
        },
    }
}

/// Why `text`, a record starting with `{`, is not a visit. It runs only after the typed parse failed,
/// so it can afford two more passes with the path of the failing field tracked: first as any JSON, so
/// that a syntax error or a cut-off line is reported as such wherever it is, then as a visit.
fn describe_json_error(text: &str) -> VisitError {
    use serde_json::error::Category;
    if let Err((field, e)) = check_syntax(text) {
        if e.classify() == Category::Eof {
            return VisitError::Truncated {
                what: "object",
                bytes: text.len(),
            };
        }
        return VisitError::Syntax {
            message: describe_syntax_error(&serde_message(&e), text, e.column()),
            column: e.column(),
            field,
            near: near(text, e.column()),
        };
    }
    let mut visit = serde_json::Deserializer::from_str(text);
    let (field, e) = match serde_path_to_error::deserialize::<_, VisitEvent>(&mut visit) {
        Ok(_) => unreachable!("the typed parse of the same text failed"),
        Err(e) => (field_of(e.path()), e.into_inner()),
    };
    let message = serde_message(&e);
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|m| m.strip_suffix('`'))
            .map(str::to_owned)
    };
    if let Some(field) = quoted("missing field `") {
        let also = missing_fields(text).into_iter().filter(|f| *f != field).collect();
        return VisitError::MissingField { field, also };
    }
    let (field, message) = match (quoted("duplicate field `"), field) {
        (Some(duplicate), _) => (duplicate, "appears twice in the object".to_owned()),
        (None, Some(field)) => (field, describe_data_error(&message, text, e.column())),
        (None, None) => ("(none)".to_owned(), message),
    };
    VisitError::Field {
        column: value_column(text, e.column()),
        field,
        message,
    }
}

/// serde_json refuses an array or object where a scalar belongs before reading into it, so its column
/// is the character before the value (the `:`); point at the opening bracket instead. Other values
/// are read through, and their column is their last character.
fn value_column(text: &str, column: usize) -> usize {
    let bytes = text.as_bytes();
    let is_space = |c: &u8| JSON_WHITESPACE.contains(&char::from(*c));
    let before_a_value = column
        .checked_sub(1)
        .and_then(|at| bytes.get(at))
        .is_some_and(|c| *c == b':' || is_space(c));
    let after = bytes.get(column..).unwrap_or_default();
    let skipped = after.iter().take_while(|c| is_space(c)).count();
    match after.get(skipped) {
        Some(b'[' | b'{') if before_a_value => column + skipped + 1,
        _ => column,
    }
}

/// Checks that `text` is one JSON value, with the path to a syntax error. `serde_json::Value` refuses
/// more than 128 levels of nesting, while the typed parse skips an unknown field however deep (serde_json
/// skips ignored values without recursing); so past that limit the text is checked again the way the
/// typed parse reads it, and deep nesting is never mistaken for the record's problem.
fn check_syntax(text: &str) -> Result<(), (Option<String>, serde_json::Error)> {
    fn one_value<T: serde::de::DeserializeOwned>(text: &str) -> Result<(), (Option<String>, serde_json::Error)> {
        let mut json = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, T>(&mut json)
            .map(drop)
            .map_err(|e| (field_of(e.path()), e.into_inner()))
            .and_then(|()| json.end().map_err(|e| (None, e)))
    }
    match one_value::<serde_json::Value>(text) {
        Err((_, e)) if serde_message(&e) == "recursion limit exceeded" => {
            one_value::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(text)
        }
        checked => checked,
    }
}

/// The fields of a visit that the object `text` lacks, in the visit's field order.
fn missing_fields(text: &str) -> Vec<String> {
    let present: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
        serde_json::from_str(text).unwrap_or_default();
    VISIT_FIELDS
        .iter()
        .filter(|f| !present.contains_key(**f))
        .map(|f| (*f).to_owned())
        .collect()
}

/// serde_json calls a high surrogate escape not followed by an escape "unexpected end of hex escape",
/// and a lone low one a "lone leading surrogate"; say which escape it is and what it lacks.
fn describe_syntax_error(message: &str, text: &str, column: usize) -> String {
    if !matches!(
        message,
        "unexpected end of hex escape" | "lone leading surrogate in hex escape"
    ) {
        return message.to_owned();
    }
    let before = &text.as_bytes()[..column.min(text.len())];
    // The surrogate is the last or the one before the last `\uXXXX` escape up to the error.
    let surrogate = (0..before.len().saturating_sub(1))
        .rev()
        .take(13)
        .filter(|&i| before[i] == b'\\' && before[i + 1] == b'u' && ends_odd_backslash_run(&before[..=i]))
        .filter_map(|i| {
            let hex = std::str::from_utf8(before.get(i + 2..i + 6)?).ok()?;
            u16::from_str_radix(hex, 16).ok().map(|unit| (hex, unit))
        })
        .find(|(_, unit)| (0xD800..=0xDFFF).contains(unit));
    match surrogate {
        Some((hex, unit)) if unit < 0xDC00 => format!(
            "lone surrogate `\\u{hex}`: an escape from \\ud800 to \\udbff must be followed by one from \\udc00 \
             to \\udfff (together they are one character beyond U+FFFF)"
        ),
        Some((hex, _)) => format!(
            "lone surrogate `\\u{hex}`: an escape from \\udc00 to \\udfff must follow one from \\ud800 to \\udbff \
             (together they are one character beyond U+FFFF)"
        ),
        None => message.to_owned(),
    }
}

/// Whether `bytes` ends in an odd number of backslashes: its last one starts an escape.
fn ends_odd_backslash_run(bytes: &[u8]) -> bool {
    bytes.iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// The field a path points at, `None` for the record itself.
fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    let path = path.to_string();
    // "?" is serde_path_to_error's name for a key it could not read.
    (!matches!(path.as_str(), "" | "." | "?")).then_some(path)
}

/// serde_json's message without its " at line 1 column N": a record is one line, and the column is
/// reported on its own.
fn serde_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    message
        .rfind(" at line ")
        .map_or(message.as_str(), |i| &message[..i])
        .to_owned()
}

/// serde_json reads an integer too large for 64 bits as a float and then calls it one ("invalid type:
/// floating point `1e20`, expected i64"), calls one just past `i64::MAX` an "invalid value", and shows
/// a float as it prints it, not as written (`1.7e12` becomes `1700000000000`); say what the record
/// really holds, as it holds it.
fn describe_data_error(message: &str, text: &str, column: usize) -> String {
    let float = message.starts_with("invalid type: floating point `");
    let unsigned = message.starts_with("invalid value: integer `");
    if !(float || unsigned) || !message.ends_with("`, expected i64") {
        return message.to_owned();
    }
    let end = column.min(text.len());
    let before = &text.as_bytes()[..end];
    let start = before
        .iter()
        .rposition(|c| !(c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')))
        .map_or(0, |i| i + 1);
    let token = &text[start..end];
    let digits = token.strip_prefix('-').unwrap_or(token);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        format!("{token} does not fit in a 64-bit integer")
    } else if float && !token.is_empty() {
        format!("invalid type: floating point `{token}`, expected i64")
    } else {
        message.to_owned()
    }
}

/// About 20 characters of `text` on each side of 1-based `column`, for a message.
fn near(text: &str, column: usize) -> String {
    let at = column.saturating_sub(1).min(text.len());
    let mut from = at.saturating_sub(20);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (at + 20).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let mut shown = String::with_capacity(to - from);
    for c in text[from..to].chars() {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    shown
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

    /// A valid visit with `from` replaced by `to`.
    fn visit_with(from: &str, to: &str) -> String {
        let good = line("45.5", "9.5");
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    }

    #[test]
    fn every_bad_record_gets_a_precise_reason() {
        let good = line("45.5", "9.5");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                b"nope".to_vec(),
                r#"not JSON: the record starts with "nope"; a visit is a JSON object"#,
            ),
            (
                b"<html><body>".to_vec(),
                r#"not JSON: the record starts with "<html><body>""#,
            ),
            (b"nul".to_vec(), r#"not JSON: the record starts with "nul""#),
            (
                br#"{"ip": "1.2.3.4", "id": "4"#.to_vec(),
                "the record ends before the JSON object is complete (after 26 bytes)",
            ),
            (
                b"{".to_vec(),
                "the record ends before the JSON object is complete (after 1 byte)",
            ),
            (
                b"[1, 2".to_vec(),
                "the record ends before the JSON value is complete (after 5 bytes)",
            ),
            (
                [b"\xEF\xBB\xBF", good.as_bytes()].concat(),
                "the record starts with a UTF-8 byte-order mark (bytes EF BB BF at byte 0)",
            ),
            (b"".to_vec(), "the record is empty"),
            (b"\r".to_vec(), r#"the record is empty but for whitespace ("\r")"#),
            (b" \t ".to_vec(), r#"the record is empty but for whitespace (" \t ")"#),
            (b"{}".to_vec(), "missing field `ip`"),
            (b"[1,2]".to_vec(), "expected a JSON object, found an array: `[1,2]`"),
            (b" 42 ".to_vec(), "expected a JSON object, found a number: `42`"),
            (b"-1e999".to_vec(), r#"not JSON: the record starts with "-1e999""#),
            (
                br#""a string""#.to_vec(),
                r#"expected a JSON object, found a string: `"a string"`"#,
            ),
            (b"null".to_vec(), "expected a JSON object, found null: `null`"),
            (b"true".to_vec(), "expected a JSON object, found a boolean: `true`"),
            (
                br#"{"ip": {"a": [}}"#.to_vec(),
                "invalid JSON at column 15 in field `ip.a[0]`: expected value, near `{\"ip\": {\"a\": [}}`",
            ),
            (
                br#"{"ip":"a\qb"}"#.to_vec(),
                "invalid JSON at column 10 in field `ip`: invalid escape",
            ),
            (
                br#"{"a":1} {"b":2}"#.to_vec(),
                "invalid JSON at column 9: trailing characters",
            ),
            (
                br#"{not json"#.to_vec(),
                "invalid JSON at column 2: key must be a string",
            ),
            (
                b"{\"ip\":\"\xff\xfe\"}".to_vec(),
                "invalid UTF-8 at byte 7 (0xFF); a record must be UTF-8 text",
            ),
            (visit_with(r#""ip":"1.2.3.4","#, "").into_bytes(), "missing field `ip`"),
            (
                visit_with(r#""id":"42""#, r#""id":42"#).into_bytes(),
                "field `id`: invalid type: integer `42`, expected a string (column 23)",
            ),
            (
                visit_with(r#""http_response":200"#, r#""http_response":"200""#).into_bytes(),
                r#"field `http_response`: invalid type: string "200", expected i64"#,
            ),
            (
                visit_with("\"lat\":45.5", r#""lat":"north""#).into_bytes(),
                r#"field `lat`: invalid value: string "north", expected a number, an empty string or null"#,
            ),
            (
                visit_with(r#""file_size_bytes":10"#, r#""file_size_bytes":99999999999999999999"#).into_bytes(),
                "field `file_size_bytes`: 99999999999999999999 does not fit in a 64-bit integer",
            ),
            (
                visit_with(r#""file_size_bytes":10"#, r#""file_size_bytes":1e999"#).into_bytes(),
                "in field `file_size_bytes`: number out of range, near `ile_size_bytes\":1e999,",
            ),
            (
                visit_with(r#""id":"42""#, r#""id":"42","id":"43""#).into_bytes(),
                "field `id`: appears twice in the object",
            ),
            (
                visit_with(
                    r#""event_datetime":"2024-04-28T23:12:50.484""#,
                    r#""event_datetime":null"#,
                )
                .into_bytes(),
                "field `event_datetime`: invalid type: null, expected a string",
            ),
            (
                visit_with("2024-04-28T23:12:50.484", "10000-01-01T00:00:00").into_bytes(),
                r#"event_datetime: bad datetime "10000-01-01T00:00:00": the year 10000 has more than four digits"#,
            ),
            (
                visit_with("2024-04-28T23:12:50.484", "2024-02-30T00:00:00").into_bytes(),
                r#"event_datetime: bad datetime "2024-02-30T00:00:00": February 2024 has 29 days, not 30"#,
            ),
            (
                visit_with("2024-04-28T23:12:50.484", "yesterday").into_bytes(),
                r#"event_datetime: bad datetime "yesterday": character 1 is 'y', expected a digit"#,
            ),
        ];
        let cut = good.len() - 3;
        let cut_in_a_character = format!("invalid UTF-8 at byte {cut} (0xC3): the record ends inside a character");
        let cases = cases.into_iter().chain([(
            [&good.as_bytes()[..cut], "é".as_bytes()[..1].as_ref()].concat(),
            cut_in_a_character.as_str(),
        )]);
        for (input, expected) in cases {
            let err = VisitEvent::from_json(&input).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{:?}\n  got:  {err}\n  want: {expected}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn a_reason_names_the_value_as_written_where_it_starts_and_every_missing_field() {
        let cases = [
            (
                visit_with(r#""http_response":200"#, r#""http_response":200.5"#),
                "field `http_response`: invalid type: floating point `200.5`, expected i64 (column 174)",
            ),
            (
                visit_with(r#""event_ts":1714345970484"#, r#""event_ts":1.714345970484e12"#),
                "field `event_ts`: invalid type: floating point `1.714345970484e12`, expected i64 (column 265)",
            ),
            (
                visit_with(r#""event_ts":1714345970484"#, r#""event_ts":9223372036854775808"#),
                "field `event_ts`: 9223372036854775808 does not fit in a 64-bit integer (column 267)",
            ),
            (
                visit_with(r#""file_size_bytes":10"#, r#""file_size_bytes":-9223372036854775809"#),
                "field `file_size_bytes`: -9223372036854775809 does not fit in a 64-bit integer",
            ),
            (
                visit_with(r#""lat":45.5,"lng":9.5,"#, ""),
                "missing field `lat`; also missing: `lng`",
            ),
            (
                "{}".to_owned(),
                "missing field `ip`; also missing: `id`, `lat`, `lng`, `user_agent`, `age_bracket`, \
                 `opted_into_marketing`, `http_request`, `http_response`, `file_size_bytes`, `event_datetime`, \
                 `event_ts`",
            ),
            (
                visit_with(r#""ua""#, r#""ua\ud800""#),
                r#"invalid JSON at column 70 in field `user_agent`: lone surrogate `\ud800`: an escape from \ud800 to \udbff must be followed by one from \udc00 to \udfff"#,
            ),
            (
                visit_with(r#""ua""#, r#""ua\ud800\u0041""#),
                r#"in field `user_agent`: lone surrogate `\ud800`: an escape from \ud800 to \udbff must be followed by one"#,
            ),
            (
                visit_with(r#""ua""#, r#""ua\udc00""#),
                r#"in field `user_agent`: lone surrogate `\udc00`: an escape from \udc00 to \udfff must follow one from \ud800 to \udbff"#,
            ),
            (
                visit_with(r#""ua""#, r#""ua\\ud800\q""#),
                "in field `user_agent`: invalid escape",
            ),
            (
                visit_with(r#""ua""#, "\"u\ta\x1b\""),
                r#"in field `user_agent`: control character (\u0000-\u001F) found while parsing a string, near `:9.5,"user_agent":"u\ta\u{1b}","age_bracket":"`"#,
            ),
            (
                visit_with(r#""ua""#, "\"u\x1b[2J\""),
                r#""user_agent":"u\u{1b}[2J","age_bracket""#,
            ),
            (
                "{".to_owned(),
                "the record ends before the JSON object is complete (after 1 byte)",
            ),
            (
                visit_with(r#""ua""#, "[1]"),
                "field `user_agent`: invalid type: sequence, expected a string (column 61)",
            ),
            (
                visit_with(r#""ua""#, r#" {"a": 1}"#),
                "field `user_agent`: invalid type: map, expected a string (column 62)",
            ),
            (
                visit_with("\"lat\":45.5", r#""lat":[[1]]"#),
                "field `lat`: invalid type: sequence, expected a number, an empty string or null (column 33)",
            ),
        ];
        for (input, expected) in cases {
            let err = VisitEvent::from_json(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?}\n  got:  {err}\n  want: {expected}");
        }
    }

    #[test]
    fn deep_nesting_in_an_unknown_field_is_ignored_and_does_not_hide_the_real_problem() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let with_extra = |line: String| line.replacen('{', &format!("{{\"extra\":{deep},"), 1);
        assert!(VisitEvent::from_json(with_extra(line("45.5", "9.5")).as_bytes()).is_ok());
        for (input, expected) in [
            (
                with_extra(visit_with(r#""id":"42""#, r#""id":42"#)),
                "field `id`: invalid type: integer `42`, expected a string",
            ),
            (
                visit_with(r#""ua""#, &deep),
                "field `user_agent`: invalid type: sequence, expected a string",
            ),
            (
                with_extra(visit_with(r#""ua""#, r#""a\qb""#)),
                "invalid JSON at column 200073 in field `user_agent`: invalid escape",
            ),
            (
                with_extra("{".to_owned()),
                "the record ends before the JSON object is complete",
            ),
        ] {
            let err = VisitEvent::from_json(input.as_bytes()).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{}\n  got:  {err}\n  want: {expected}",
                &input[..40]
            );
        }
    }

    mod fast_path {
        use super::*;
        use proptest::prelude::*;

        /// A JSON value as text, of the kinds a visit's fields hold and a few they must not.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-zA-Z0-9 ./:()-]{0,12}".prop_map(|s| format!("\"{s}\"")),
                r#"(\\\\|\\"|\\u00e9|\\ud83d\\ude00|\\ud800|\\q|é|\x01|\t|x){0,3}"#.prop_map(|s| format!("\"{s}\"")),
                "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
                "(0[0-9]|-|1\\.|\\.5|--1|1e)",
                Just("true".to_owned()),
                Just("false".to_owned()),
                Just("null".to_owned()),
                Just("\"\"".to_owned()),
                Just("[1,{\"a\":null}]".to_owned()),
                Just("{}".to_owned()),
                "(2024-04-28T23:12:50.484|2024-02-30T00:00:00|0000-01-01T00:00:00Z|2024-04-28 23:12:50)"
                    .prop_map(|s| format!("\"{s}\"")),
            ]
        }

        /// A good visit's value for each field, sometimes replaced, dropped, repeated or joined by an
        /// unknown field, in any order, with any JSON whitespace.
        fn visit_line() -> impl Strategy<Value = String> {
            let good = [
                "\"1.2.3.4\"",
                "\"42\"",
                "45.5",
                "-9",
                "\"Mozilla/5.0 (X11)\"",
                "\"18-25\"",
                "true",
                "\"GET a.html HTTP/1.0\"",
                "200",
                "10",
                "\"2024-04-28T23:12:50.484\"",
                "1714345970484",
            ];
            let fields = proptest::collection::vec(
                (0usize..12, prop_oneof![8 => Just(None), 2 => value().prop_map(Some)]),
                0..16,
            );
            let space = "[ \t\r\n]{0,2}";
            (
                fields,
                any::<bool>(),
                space,
                space,
                prop::sample::select(vec!["", "\"extra\":[1],", "\"i\\u0070\":\"x\","]),
            )
                .prop_map(move |(mut picks, complete, sp1, sp2, extra)| {
                    if complete {
                        picks.extend((0..12).map(|i| (i, None)));
                        picks.sort_by_key(|(i, v)| (*i, v.is_none()));
                        picks.dedup_by_key(|(i, _)| *i);
                    }
                    let body: Vec<String> = picks
                        .iter()
                        .map(|(i, v)| {
                            format!(
                                "{sp1}\"{}\"{sp2}:{sp1}{}",
                                VISIT_FIELDS[*i],
                                v.as_deref().unwrap_or(good[*i])
                            )
                        })
                        .collect();
                    format!("{sp2}{{{extra}{}}}{sp1}", body.join(&format!("{sp2},")))
                })
        }

        proptest! {
            #[test]
            fn the_fast_path_agrees_with_serde_json_wherever_it_answers(line in visit_line()) {
                let by_serde = VisitEvent::from_serde(&line);
                if let Some(fields) = scan::scan(&line) {
                    let by_serde = by_serde.expect("serde_json accepts what the fast path reads");
                    prop_assert_eq!(VisitEvent::from_fields(&fields), by_serde);
                }
                // The public decoders, fast path or not, answer as serde_json does.
                let both = VisitEvent::from_json(line.as_bytes());
                let serde_then_time = VisitEvent::from_serde(&line)
                    .and_then(|v| v.event_time().map(|_| v).map_err(VisitError::from));
                prop_assert_eq!(&both, &serde_then_time);
                let view = PageView::from_json(line.as_bytes());
                prop_assert_eq!(
                    view.map(|v| v.id),
                    serde_then_time.map(|v| v.id)
                );
            }
        }

        #[test]
        fn generated_lines_mostly_take_the_fast_path() {
            let line = r#"{"ip":"41.16.4.53","id":"5790326797616355812","lat":19.4326,"lng":-99.1332,"user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10; rv:33.0) Gecko/20100101 Firefox/33.0","age_bracket":"56-70","opted_into_marketing":false,"http_request":"GET plantae.html HTTP/1.0","http_response":200,"file_size_bytes":166,"event_datetime":"2024-04-28T23:12:39.449","event_ts":1714345959449}"#;
            assert!(scan::scan(line).is_some());
            assert!(scan::scan(&line.replace("19.4326", "\"\"")).is_some());
        }
    }

    #[test]
    fn whitespace_around_the_object_and_the_edges_of_the_datetime_form_are_accepted() {
        let good = line("45.5", "9.5");
        for input in [
            format!("{good}\r"),
            format!("  {good}\t"),
            good.replace("2024-04-28T23:12:50.484", "0000-01-01T00:00:00"),
        ] {
            assert!(VisitEvent::from_json(input.as_bytes()).is_ok(), "{input:?}");
        }
    }
}
