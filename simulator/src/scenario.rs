//! The scenario format: a scripted timeline of bundles, watermark steps and processing-time steps.
//!
//! One JSON object a line:
//!
//! ```text
//! {"event": {...}}                             one record, a bundle of one
//! {"events": [{...}, {...}]}                   several records in one bundle
//! {"watermark": "2024-04-28T23:13:00.000"}     the watermark moves here ("+inf" for the end)
//! {"processing_time": 5}                       processing time moves forward 5 seconds
//! ```
//!
//! The end of the file moves the watermark to +∞. A file is a scenario when its first non-blank line is
//! one of these steps; anything else is read as plain recorded traffic, one record a line. This module
//! owns the parsing and writing of steps and the [`ScenarioSource`] that replays them; a malformed
//! *record* inside a step is still a record (dead-lettered later), but a malformed *step* stops the run
//! with its line number, because a script is code, not data.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use pipeline::io::jsonl::JsonlSource;
use pipeline::io::{Position, Record, Source, SourceError, SourceEvent};
use pipeline::time::{Duration, Timestamp, Watermark};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One line of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioStep {
    /// A bundle of raw records (JSON text, untouched).
    Events(Vec<String>),
    /// The watermark moves to this point.
    Watermark(Watermark),
    /// Processing time moves forward by this much.
    ProcessingTime(Duration),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepLine<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    watermark: Option<String>,
    #[serde(default)]
    processing_time: Option<f64>,
}

impl ScenarioStep {
    /// Parses one scenario line.
    pub fn parse(line: &[u8]) -> Result<ScenarioStep, String> {
        let step: StepLine = serde_json::from_slice(line).map_err(|e| {
            format!(
                "not a scenario step ({e}); expected one of {{\"event\": {{...}}}}, {{\"events\": [...]}}, \
                 {{\"watermark\": \"2024-04-28T23:13:00.000\"}}, {{\"processing_time\": 5}}"
            )
        })?;
        let present = [
            step.event.is_some(),
            step.events.is_some(),
            step.watermark.is_some(),
            step.processing_time.is_some(),
        ]
        .iter()
        .filter(|p| **p)
        .count();
        if present != 1 {
            return Err(format!(
                "a scenario step has exactly one of event, events, watermark, processing_time; found {present}"
            ));
        }
        if let Some(event) = step.event {
            return Ok(ScenarioStep::Events(vec![event.get().to_owned()]));
        }
        if let Some(events) = step.events {
            return Ok(ScenarioStep::Events(
                events.into_iter().map(|e| e.get().to_owned()).collect(),
            ));
        }
        if let Some(text) = step.watermark {
            return parse_watermark(&text).map(ScenarioStep::Watermark);
        }
        let seconds = step.processing_time.expect("one field is present");
        if !seconds.is_finite() || seconds <= 0.0 {
            return Err(format!(
                "processing_time must be a positive number of seconds, got {seconds}"
            ));
        }
        Ok(ScenarioStep::ProcessingTime(Duration::millis(
            (seconds * 1000.0).round() as i64,
        )))
    }

    /// The step as one scenario line (without the line break).
    pub fn to_line(&self) -> String {
        match self {
            ScenarioStep::Events(events) if events.len() == 1 => format!("{{\"event\": {}}}", events[0]),
            ScenarioStep::Events(events) => format!("{{\"events\": [{}]}}", events.join(", ")),
            ScenarioStep::Watermark(w) if *w == Watermark::MAX => "{\"watermark\": \"+inf\"}".to_owned(),
            ScenarioStep::Watermark(w) => format!("{{\"watermark\": \"{}\"}}", w.timestamp().format_millis()),
            ScenarioStep::ProcessingTime(d) => {
                let ms = d.as_millis();
                if ms % 1000 == 0 {
                    format!("{{\"processing_time\": {}}}", ms / 1000)
                } else {
                    format!("{{\"processing_time\": {}}}", ms as f64 / 1000.0)
                }
            }
        }
    }
}

/// Writes `steps` as a scenario file's text.
pub fn write_scenario<W: Write>(mut writer: W, steps: &[ScenarioStep]) -> std::io::Result<()> {
    for step in steps {
        writeln!(writer, "{}", step.to_line())?;
    }
    Ok(())
}

fn parse_watermark(text: &str) -> Result<Watermark, String> {
    match text {
        "+inf" | "inf" | "infinity" | "+infinity" => Ok(Watermark::MAX),
        _ => Timestamp::parse_datetime(text)
            .map(Watermark::at)
            .map_err(|e| format!("watermark: {e}")),
    }
}

/// True when `first_line` (the first non-blank line of a file) is a scenario step.
pub fn is_scenario_line(first_line: &[u8]) -> bool {
    ScenarioStep::parse(first_line).is_ok()
}

/// Replays a scenario as source events, checking that scripted watermarks never move backwards.
pub struct ScenarioSource<R> {
    lines: JsonlSource<R>,
    name: String,
    last_watermark: Watermark,
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
        }
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.lines.bytes_read()
    }
}

impl<R: BufRead> Source for ScenarioSource<R> {
    fn next_event(&mut self) -> Result<Option<SourceEvent>, SourceError> {
        let Some((line, bytes)) = self.lines.next_line()? else {
            return Ok(None);
        };
        let script_error = |message: String| SourceError::Script {
            what: self.name.clone(),
            line,
            message,
        };
        match ScenarioStep::parse(bytes).map_err(script_error)? {
            ScenarioStep::Events(events) => Ok(Some(SourceEvent::Bundle(
                events
                    .into_iter()
                    .map(|e| Record::new(e, Position::Line { line }))
                    .collect(),
            ))),
            ScenarioStep::Watermark(w) => {
                if w < self.last_watermark {
                    return Err(SourceError::Script {
                        what: self.name.clone(),
                        line,
                        message: format!("the watermark moves backwards, from {} to {}", self.last_watermark, w),
                    });
                }
                self.last_watermark = w;
                Ok(Some(SourceEvent::Watermark(w)))
            }
            ScenarioStep::ProcessingTime(d) => Ok(Some(SourceEvent::ProcessingTime(d))),
        }
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
}

enum InputLines {
    /// Recorded traffic: one record a line, file order = arrival order.
    Recording(JsonlSource<InputReader>),
    /// A scripted scenario.
    Scenario(ScenarioSource<InputReader>),
}

impl InputFile {
    /// Opens `path` (`-` for standard input) and decides what it is.
    pub fn open(path: &Path) -> Result<InputFile, SourceError> {
        if path.as_os_str() == STDIN_PATH {
            let reader = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
            return InputFile::from_reader("standard input", Box::new(reader), None);
        }
        let io_error = |source| SourceError::Io {
            what: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        // Only a regular file has a length known in advance; a pipe or a FIFO reports 0.
        let metadata = file.metadata().map_err(io_error)?;
        let len = metadata.is_file().then_some(metadata.len());
        let reader = BufReader::with_capacity(1 << 16, file);
        InputFile::from_reader(path.display().to_string(), Box::new(reader), len)
    }

    /// Reads from `reader` (`name` for messages, `len` its size in bytes when known) and decides what
    /// it is from its first non-blank line.
    pub fn from_reader(
        name: impl Into<String>,
        reader: InputReader,
        len: Option<u64>,
    ) -> Result<InputFile, SourceError> {
        let mut lines = JsonlSource::from_reader(name, reader);
        let scenario = match lines.peek_line()? {
            Some((_, first)) => is_scenario_line(first),
            None => false,
        };
        let lines = if scenario {
            InputLines::Scenario(ScenarioSource::from_lines(lines))
        } else {
            InputLines::Recording(lines)
        };
        Ok(InputFile { lines, len })
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
    fn next_event(&mut self) -> Result<Option<SourceEvent>, SourceError> {
        match &mut self.lines {
            InputLines::Recording(s) => s.next_event(),
            InputLines::Scenario(s) => s.next_event(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_through_their_line_form() {
        let steps = [
            ScenarioStep::Events(vec![r#"{"id":"1"}"#.to_owned()]),
            ScenarioStep::Events(vec![r#"{"id":"1"}"#.to_owned(), r#"{"id":"2"}"#.to_owned()]),
            ScenarioStep::Watermark(Watermark::at(
                Timestamp::parse_datetime("2024-04-28T23:13:00.000").unwrap(),
            )),
            ScenarioStep::Watermark(Watermark::MAX),
            ScenarioStep::ProcessingTime(Duration::seconds(5)),
            ScenarioStep::ProcessingTime(Duration::millis(1500)),
        ];
        for step in steps {
            assert_eq!(
                ScenarioStep::parse(step.to_line().as_bytes()).unwrap(),
                step,
                "{}",
                step.to_line()
            );
        }
    }

    #[test]
    fn bad_steps_are_explained() {
        for (line, expected) in [
            (r#"{"event": {}, "watermark": "2024-04-28T23:13:00"}"#, "exactly one"),
            (r#"{"wm": "2024-04-28T23:13:00"}"#, "unknown field `wm`"),
            (r#"{"watermark": "noon"}"#, "watermark: bad datetime"),
            (r#"{"processing_time": -1}"#, "positive"),
            ("{oops", "not a scenario step"),
        ] {
            let err = ScenarioStep::parse(line.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn a_backwards_watermark_stops_the_script_with_its_line() {
        let text = "{\"watermark\": \"2024-04-28T23:13:00\"}\n\n{\"watermark\": \"2024-04-28T23:12:00\"}\n";
        let mut source = ScenarioSource::from_reader("s.jsonl", text.as_bytes());
        assert!(source.next_event().unwrap().is_some());
        let err = source.next_event().unwrap_err().to_string();
        assert!(err.contains("s.jsonl, line 3") && err.contains("backwards"), "{err}");
    }

    #[test]
    fn a_visit_line_is_not_a_scenario_line() {
        assert!(!is_scenario_line(br#"{"ip":"1.2.3.4","id":"1"}"#));
        assert!(is_scenario_line(br#"{"event": {"ip":"1.2.3.4","id":"1"}}"#));
        assert!(is_scenario_line(br#"{"processing_time": 1}"#));
    }
}
