//! [`TestStream`]: a script of input bundles, watermark steps and processing-time steps, Beam's
//! `TestStream` for pipelines built with the `pipeline` crate.
//!
//! A script is a value: each builder call appends one step, and each `add_elements` call is one input
//! bundle (so late elements in it fire one late pane per key and window, as in Beam). Elements are typed:
//! anything `Serialize` is encoded as one JSON record, the bytes the pipeline decodes; raw records can be
//! any bytes at all. A script is a list of the pipeline crate's [`Step`]s, the same thing as a scenario
//! file of the `simulate` binary (`formats::scenario`), so it loads from and saves to that format, and a
//! failing script found by a property test can be pasted into a regression file as it prints. This module
//! owns the script and its rules; running it is in [`crate::run`].
//!
//! The rules, checked by [`TestStream::validate`] and by every run, each broken one a [`ScriptError`]
//! naming the step: the watermark never moves backwards, processing time only moves forward by a
//! positive amount, and nothing follows the watermark reaching +∞ (the input is complete). As in
//! Beam's `TestStream`, elements given a timestamp must lie in `[TIMESTAMP_MIN_VALUE,
//! TIMESTAMP_MAX_VALUE)` ([`pipeline::time`]), and a finite watermark step must stay before
//! `TIMESTAMP_MAX_VALUE` (the end of input is [`TestStream::advance_watermark_to_infinity`]).

use std::fmt;
use std::path::Path;

use formats::scenario::{parse_step, write_scenario};
use pipeline::event::VisitEvent;
use pipeline::time::{Duration, Timestamp, TimestampRangeError, Watermark, TIMESTAMP_MAX_VALUE, TIMESTAMP_MIN_VALUE};
use pipeline::{Position, Record, Step};
use serde::Serialize;

/// A script of steps to run against a pipeline in virtual time.
///
/// ```
/// use testkit::{visit, TestStream};
/// use pipeline::time::Duration;
///
/// let stream = TestStream::new()
///     .add_elements([visit("alice", "2024-04-28T23:12:41"), visit("bob", "2024-04-28T23:12:45")])
///     .advance_processing_time(Duration::seconds(5))
///     .advance_watermark_to("2024-04-28T23:13:00")
///     .add_elements_at("2024-04-28T23:12:50", [visit("alice", "2024-04-28T00:00:00")])
///     .advance_watermark_to_infinity();
/// assert_eq!(stream.steps().len(), 5);
/// assert!(stream.to_scenario().contains(r#"{"watermark": "2024-04-28T23:13:00.000"}"#));
/// assert_eq!(TestStream::from_scenario(&stream.to_scenario()).unwrap(), stream);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TestStream {
    steps: Vec<Step>,
    /// Records are placed by their index in the whole script (`Position::Index`), so that a dead letter or
    /// late record says which element it was.
    next_index: u64,
    /// The first step that could not even be written down (an element that does not encode, a
    /// timestamp that does not parse); reported by `validate` in step order with the other rules.
    unwritable: Option<ScriptError>,
}

/// Why a script cannot run. Steps are numbered from 1, in order: step `n` is line `n` of the script's
/// scenario form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// A watermark step goes back in event time.
    #[error("step {step}: the watermark moves backwards, from {from} to {to}; watermarks only move forward")]
    WatermarkBackwards {
        /// The offending step.
        step: usize,
        /// The watermark before the step.
        from: Watermark,
        /// Where the step tried to move it.
        to: Watermark,
    },
    /// A processing-time step does not move time forward.
    #[error("step {step}: processing time must advance by a positive amount, got {by}")]
    ProcessingTimeNotAdvancing {
        /// The offending step.
        step: usize,
        /// The amount given.
        by: Duration,
    },
    /// A step after the watermark reached +∞: the input is complete, nothing can arrive or happen.
    #[error("step {step}: {what} after the watermark reached +inf at step {end}; the input is already complete")]
    AfterEnd {
        /// The offending step.
        step: usize,
        /// The step that moved the watermark to +∞.
        end: usize,
        /// What the offending step does ("elements", "a watermark step", "a processing-time step").
        what: &'static str,
    },
    /// An element could not be encoded as a JSON record.
    #[error("step {step}: element {element} cannot be encoded as a JSON record: {message}")]
    Encode {
        /// The step the element belongs to.
        step: usize,
        /// The element's 0-based position in its bundle.
        element: usize,
        /// What went wrong.
        message: String,
    },
    /// Elements given a timestamp outside `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)` (Beam: "Elements
    /// must have timestamps before …").
    #[error("step {step}: elements at {}: {error}", error.timestamp)]
    ElementTimestamp {
        /// The offending step.
        step: usize,
        /// The timestamp and why it is refused.
        error: TimestampRangeError,
    },
    /// A finite watermark step at or after `TIMESTAMP_MAX_VALUE` (Beam: "The Watermark cannot progress
    /// beyond the maximum").
    #[error(
        "step {step}: the watermark cannot move to {to}, at or after TIMESTAMP_MAX_VALUE ({} ms since the epoch); \
         the end of input is advance_watermark_to_infinity() (\"+inf\")",
        TIMESTAMP_MAX_VALUE.millis()
    )]
    WatermarkPastEnd {
        /// The offending step.
        step: usize,
        /// Where the step tried to move the watermark.
        to: Watermark,
    },
    /// A timestamp given as text is not of the `2024-04-28T23:12:40[.000]` form.
    #[error("step {step}: {message}")]
    Timestamp {
        /// The offending step.
        step: usize,
        /// What is wrong with the text.
        message: String,
    },
    /// A line of a scenario text is not a scenario step.
    #[error("{source_name}, line {line}: {message}")]
    Scenario {
        /// The file or text the line came from.
        source_name: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A scenario's `.flags` sidecar holds something other than the supported `simulate` flags.
    #[error("{path}: {message}")]
    Flags {
        /// The sidecar file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A scenario file could not be read or written.
    #[error("cannot {action} {path}: {message}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
}

impl ScriptError {
    /// The step the error is about, when it is about one.
    pub fn step(&self) -> Option<usize> {
        match self {
            ScriptError::WatermarkBackwards { step, .. }
            | ScriptError::ProcessingTimeNotAdvancing { step, .. }
            | ScriptError::AfterEnd { step, .. }
            | ScriptError::Encode { step, .. }
            | ScriptError::ElementTimestamp { step, .. }
            | ScriptError::WatermarkPastEnd { step, .. }
            | ScriptError::Timestamp { step, .. } => Some(*step),
            ScriptError::Scenario { .. } | ScriptError::Flags { .. } | ScriptError::Io { .. } => None,
        }
    }
}

/// Something that names an instant: a [`Timestamp`], a [`Watermark`], or text in the `event_datetime`
/// form (`2024-04-28T23:12:40`, optional fraction, UTC), or `+inf` / `-inf`.
pub trait ToTimestamp {
    /// The instant, or why the value names none.
    fn to_timestamp(&self) -> Result<Timestamp, String>;
}

impl ToTimestamp for Timestamp {
    fn to_timestamp(&self) -> Result<Timestamp, String> {
        Ok(*self)
    }
}

impl ToTimestamp for Watermark {
    fn to_timestamp(&self) -> Result<Timestamp, String> {
        Ok(self.timestamp())
    }
}

impl ToTimestamp for str {
    fn to_timestamp(&self) -> Result<Timestamp, String> {
        match self {
            "+inf" => Ok(Timestamp::MAX),
            "-inf" => Ok(Timestamp::MIN),
            _ => Timestamp::parse_datetime(self).map_err(|e| e.to_string()),
        }
    }
}

impl ToTimestamp for String {
    fn to_timestamp(&self) -> Result<Timestamp, String> {
        self.as_str().to_timestamp()
    }
}

impl<T: ToTimestamp + ?Sized> ToTimestamp for &T {
    fn to_timestamp(&self) -> Result<Timestamp, String> {
        (**self).to_timestamp()
    }
}

/// Something a script can add as one input record: anything `Serialize` (encoded as its JSON), or a
/// [`TimestampedValue`](crate::timestamped::TimestampedValue), whose timestamp the script checks.
pub trait Element {
    /// The record's bytes, or why the element has none.
    fn encode(&self) -> Result<Vec<u8>, String>;

    /// The event time the element carries where the script can see it (a `TimestampedValue`'s), so
    /// that a timestamp outside Beam's range is refused when the script is checked, not at run time.
    fn timestamp(&self) -> Option<Timestamp> {
        None
    }
}

impl<T: Serialize> Element for T {
    fn encode(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }
}

/// An element whose event timestamp a test can set: Beam's `TimestampedValue`, for element types that
/// carry their own event time. [`TestStream::add_elements_at`] uses it.
pub trait WithTimestamp {
    /// The element with its event time set to `t`.
    fn with_timestamp(self, t: Timestamp) -> Self;
}

impl WithTimestamp for VisitEvent {
    /// Sets `event_datetime` (what the pipelines read) and `event_ts` (epoch milliseconds) to `t`.
    fn with_timestamp(mut self, t: Timestamp) -> Self {
        self.event_datetime = t.format_millis();
        self.event_ts = t.millis();
        self
    }
}

impl TestStream {
    /// An empty script. Running it only moves the watermark to +∞ at the end of input.
    pub fn new() -> TestStream {
        TestStream::default()
    }

    /// Appends one input bundle: each element encoded as one record (anything `Serialize` as its JSON;
    /// a [`TimestampedValue`](crate::timestamped::TimestampedValue) with its own event time, so that
    /// one bundle can hold elements at different times, as in Beam's
    /// `addElements(TimestampedValue.of(x, t), ...)`). An element timestamp outside
    /// `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)` makes the step a [`ScriptError::ElementTimestamp`].
    pub fn add_elements<T: Element>(self, elements: impl IntoIterator<Item = T>) -> TestStream {
        let step = self.steps.len() + 1;
        let mut encoded = Vec::new();
        for (element, e) in elements.into_iter().enumerate() {
            if let Some(Err(error)) = e.timestamp().map(Timestamp::check_element_time) {
                return self.unwritable_step(|step| ScriptError::ElementTimestamp { step, error });
            }
            match e.encode() {
                Ok(bytes) => encoded.push(bytes),
                Err(message) => return self.push_records(Err(ScriptError::Encode { step, element, message })),
            }
        }
        self.push_records(Ok(encoded))
    }

    /// Appends one input bundle of plain values, each a
    /// [`TimestampedValue`](crate::timestamped::TimestampedValue) at the current watermark: Beam's
    /// `addElements(x, ...)`, whose elements take the watermark as their timestamp
    /// (`TIMESTAMP_MIN_VALUE` before the first watermark step). For pipelines built on
    /// [`timestamped_values`](crate::timestamped::timestamped_values).
    pub fn add_values<T: Serialize>(self, values: impl IntoIterator<Item = T>) -> TestStream {
        let at = self.current_watermark().timestamp().max(TIMESTAMP_MIN_VALUE);
        self.add_elements(
            values
                .into_iter()
                .map(|value| crate::timestamped::TimestampedValue { value, timestamp: at }),
        )
    }

    /// Appends one input bundle whose elements all carry the event time `at` (Beam's
    /// `TimestampedValue.of(e, at)`): each element's own timestamp is replaced first. `at` must lie in
    /// `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`; outside it the step is a
    /// [`ScriptError::ElementTimestamp`].
    pub fn add_elements_at<T: Serialize + WithTimestamp>(
        self,
        at: impl ToTimestamp,
        elements: impl IntoIterator<Item = T>,
    ) -> TestStream {
        match at.to_timestamp().map(Timestamp::check_element_time) {
            Ok(Ok(t)) => self.add_elements(elements.into_iter().map(|e| e.with_timestamp(t))),
            Ok(Err(error)) => self.unwritable_step(|step| ScriptError::ElementTimestamp { step, error }),
            Err(message) => self.unwritable_step(|step| ScriptError::Timestamp { step, message }),
        }
    }

    /// Appends one input bundle of raw records, taken byte for byte as they are: for records the pipeline
    /// should refuse (not JSON, a missing field, a wrong type, not even UTF-8) and dead-letter. The scenario
    /// format keeps any bytes (as text or base64 when a record is no JSON value).
    pub fn add_raw_elements<B: Into<Vec<u8>>>(self, records: impl IntoIterator<Item = B>) -> TestStream {
        self.push_records(Ok(records.into_iter().map(Into::into).collect()))
    }

    /// Appends a watermark step: the watermark moves to `to` and every pane it allows fires. A finite `to`
    /// must lie before `TIMESTAMP_MAX_VALUE` ([`ScriptError::WatermarkPastEnd`]); `"+inf"` or
    /// [`advance_watermark_to_infinity`](Self::advance_watermark_to_infinity) ends the input.
    pub fn advance_watermark_to(self, to: impl ToTimestamp) -> TestStream {
        match to.to_timestamp() {
            Ok(t) => self.push(Step::Watermark(Watermark::at(t))),
            Err(message) => self.unwritable_step(|step| ScriptError::Timestamp { step, message }),
        }
    }

    /// Appends a processing-time step: processing time moves forward `by` (which must be positive).
    pub fn advance_processing_time(self, by: Duration) -> TestStream {
        self.push(Step::ProcessingTime(by))
    }

    /// Appends the last step: the watermark moves to +∞, so every window fires and expires. A run adds
    /// it by itself when the script does not end with it, as the end of a scenario file does.
    pub fn advance_watermark_to_infinity(self) -> TestStream {
        self.push(Step::Watermark(Watermark::MAX))
    }

    /// The watermark after the steps so far (the last watermark step's, −∞ before any): where
    /// [`add_values`](Self::add_values) puts its elements.
    pub fn current_watermark(&self) -> Watermark {
        self.steps
            .iter()
            .rev()
            .find_map(|step| match step {
                Step::Watermark(w) => Some(*w),
                _ => None,
            })
            .unwrap_or(Watermark::MIN)
    }

    /// The steps so far, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// True when the script ends with the watermark at +∞.
    pub fn is_complete(&self) -> bool {
        matches!(self.steps.last(), Some(Step::Watermark(w)) if *w == Watermark::MAX)
    }

    /// Checks the script's rules; the error names the first step that breaks one.
    pub fn validate(&self) -> Result<(), ScriptError> {
        let checked = check_steps(&self.steps);
        match (&self.unwritable, checked) {
            (Some(first), Err(other)) if other.step() < first.step() => Err(other),
            (Some(first), _) => Err(first.clone()),
            (None, checked) => checked,
        }
    }

    /// The script in the scenario format that `simulate --file` reads: one JSON object a line.
    pub fn to_scenario(&self) -> String {
        let mut text = Vec::new();
        write_scenario(&mut text, &self.steps).expect("writing to memory cannot fail");
        String::from_utf8(text).expect("scenario lines are UTF-8")
    }

    /// Reads a script from scenario text (blank lines are skipped) and checks its rules.
    pub fn from_scenario(text: &str) -> Result<TestStream, ScriptError> {
        TestStream::parse_scenario("scenario", text)
    }

    /// Reads a script from a scenario file and checks its rules.
    pub fn load(path: impl AsRef<Path>) -> Result<TestStream, ScriptError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError::Io {
            action: "read",
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        TestStream::parse_scenario(&path.display().to_string(), &text)
    }

    /// Writes the script as a scenario file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ScriptError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_scenario()).map_err(|e| ScriptError::Io {
            action: "write",
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    fn parse_scenario(source_name: &str, text: &str) -> Result<TestStream, ScriptError> {
        let mut stream = TestStream::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let next_index = &mut stream.next_index;
            let step = parse_step(line.as_bytes(), || {
                *next_index += 1;
                Position::Index { index: *next_index - 1 }
            })
            .map_err(|message| ScriptError::Scenario {
                source_name: source_name.to_owned(),
                line: i + 1,
                message,
            })?;
            stream.steps.push(step);
        }
        stream.validate()?;
        Ok(stream)
    }

    fn push_records(mut self, payloads: Result<Vec<Vec<u8>>, ScriptError>) -> TestStream {
        match payloads {
            Ok(payloads) => {
                let records = payloads
                    .into_iter()
                    .map(|payload| {
                        self.next_index += 1;
                        Record::new(
                            payload,
                            Position::Index {
                                index: self.next_index - 1,
                            },
                        )
                    })
                    .collect();
                self.push(Step::Bundle(records))
            }
            Err(e) => self.unwritable_step(|_| e),
        }
    }

    fn push(mut self, step: Step) -> TestStream {
        self.steps.push(step);
        self
    }

    /// Keeps the step's place (an empty bundle) so later step numbers stay right, and remembers why it
    /// could not be written.
    fn unwritable_step(mut self, error: impl FnOnce(usize) -> ScriptError) -> TestStream {
        let step = self.steps.len() + 1;
        self.steps.push(Step::Bundle(Vec::new()));
        self.unwritable.get_or_insert(error(step));
        self
    }
}

fn check_steps(steps: &[Step]) -> Result<(), ScriptError> {
    let mut watermark = Watermark::MIN;
    let mut end = None;
    for (i, step) in steps.iter().enumerate() {
        let number = i + 1;
        if let Some(end) = end {
            let what = match step {
                Step::Bundle(_) => "elements",
                Step::Watermark(_) => "a watermark step",
                Step::ProcessingTime(_) => "a processing-time step",
            };
            return Err(ScriptError::AfterEnd {
                step: number,
                end,
                what,
            });
        }
        match step {
            Step::Bundle(_) => {}
            Step::Watermark(to) => {
                if *to != Watermark::MAX && to.timestamp() >= TIMESTAMP_MAX_VALUE {
                    return Err(ScriptError::WatermarkPastEnd { step: number, to: *to });
                }
                // Equal is allowed, as in Beam: "advance to where it is" changes nothing.
                if *to < watermark {
                    return Err(ScriptError::WatermarkBackwards {
                        step: number,
                        from: watermark,
                        to: *to,
                    });
                }
                watermark = *to;
                if watermark == Watermark::MAX {
                    end = Some(number);
                }
            }
            Step::ProcessingTime(by) => {
                if *by <= Duration::ZERO {
                    return Err(ScriptError::ProcessingTimeNotAdvancing { step: number, by: *by });
                }
            }
        }
    }
    Ok(())
}

impl fmt::Debug for TestStream {
    /// The scenario form, so that a shrunk proptest input prints ready to paste into a scenario file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "TestStream, as a scenario:")?;
        f.write_str(&self.to_scenario())?;
        if let Err(e) = self.validate() {
            write!(f, "(invalid: {e})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit;

    #[test]
    fn each_add_elements_call_is_one_bundle() {
        let stream = TestStream::new()
            .add_elements([visit("a", "2024-04-28T23:12:41"), visit("b", "2024-04-28T23:12:42")])
            .add_elements([visit("a", "2024-04-28T23:12:43")]);
        let sizes: Vec<usize> = stream
            .steps()
            .iter()
            .map(|s| match s {
                Step::Bundle(records) => records.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [2, 1]);
    }

    #[test]
    fn add_elements_at_sets_the_event_time() {
        let stream = TestStream::new().add_elements_at("2024-04-28T23:12:59.999", [visit("a", "2000-01-01T00:00:00")]);
        let Step::Bundle(records) = &stream.steps()[0] else {
            panic!("a bundle");
        };
        let parsed = VisitEvent::from_json(&records[0].payload).unwrap();
        assert_eq!(parsed.event_datetime, "2024-04-28T23:12:59.999");
        assert_eq!(parsed.event_time().unwrap().millis(), parsed.event_ts);
    }

    #[test]
    fn a_backwards_watermark_is_rejected_with_its_step() {
        let err = TestStream::new()
            .advance_watermark_to("2024-04-28T23:13:00")
            .add_elements([visit("a", "2024-04-28T23:12:41")])
            .advance_watermark_to("2024-04-28T23:12:00")
            .validate()
            .unwrap_err();
        assert!(matches!(err, ScriptError::WatermarkBackwards { step: 3, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "step 3: the watermark moves backwards, from 2024-04-28T23:13:00.000 to 2024-04-28T23:12:00.000; \
             watermarks only move forward"
        );
    }

    #[test]
    fn processing_time_must_advance() {
        let err = TestStream::new()
            .advance_processing_time(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "step 1: processing time must advance by a positive amount, got 0s"
        );
    }

    #[test]
    fn elements_after_the_end_are_rejected() {
        let err = TestStream::new()
            .advance_watermark_to_infinity()
            .add_elements([visit("a", "2024-04-28T23:12:41")])
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "step 2: elements after the watermark reached +inf at step 1; the input is already complete"
        );
    }

    #[test]
    fn bad_timestamps_and_unencodable_elements_are_rejected_in_step_order() {
        let err = TestStream::new()
            .add_raw_elements([r#"{"id": "x"}"#])
            .advance_watermark_to("noon")
            .validate()
            .unwrap_err();
        assert!(err.to_string().starts_with("step 2: bad datetime \"noon\""), "{err}");
        // A map with non-string keys has no JSON form.
        let unencodable = std::collections::BTreeMap::from([((1, 2), "x")]);
        let err = TestStream::new()
            .advance_watermark_to("2024-04-28T23:13:00")
            .advance_watermark_to("2024-04-28T23:12:00")
            .add_elements([unencodable])
            .validate()
            .unwrap_err();
        assert_eq!(err.step(), Some(2), "the earlier problem wins: {err}");
    }

    #[test]
    fn raw_records_keep_their_bytes_through_the_scenario_form() {
        let records: [&[u8]; 4] = [b"{\n  \"id\": \"x\"\n}", b"not json", b"\xff\xfe", b" [1, 2] "];
        let stream = TestStream::new().add_raw_elements(records);
        assert_eq!(
            stream.to_scenario(),
            "{\"records_base64\": [\"ewogICJpZCI6ICJ4Igp9\", \"bm90IGpzb24=\", \"//4=\", \"IFsxLCAyXSA=\"]}\n"
                .replace(", ", ",")
        );
        assert_eq!(TestStream::from_scenario(&stream.to_scenario()).unwrap(), stream);
    }

    #[test]
    fn scenario_text_round_trips_and_bad_lines_say_where() {
        let stream = TestStream::new()
            .add_elements([visit("a", "2024-04-28T23:12:41")])
            .advance_processing_time(Duration::millis(1500))
            .advance_watermark_to("2024-04-28T23:13:00")
            .advance_watermark_to_infinity();
        assert_eq!(TestStream::from_scenario(&stream.to_scenario()).unwrap(), stream);
        let err = TestStream::from_scenario("{\"watermark\": \"+inf\"}\n\n{\"wm\": 1}\n").unwrap_err();
        assert!(err.to_string().starts_with("scenario, line 3: "), "{err}");
        let err = TestStream::from_scenario("{\"watermark\": \"+inf\"}\n{\"processing_time\": 1}\n").unwrap_err();
        assert!(matches!(err, ScriptError::AfterEnd { step: 2, end: 1, .. }), "{err}");
    }

    #[test]
    fn raw_records_with_whitespace_around_them_read_back_as_written() {
        let stream = TestStream::new().add_raw_elements([" {\"id\": \"x\"}\t", "\t[1, 2] "]);
        assert_eq!(TestStream::from_scenario(&stream.to_scenario()).unwrap(), stream);
    }

    #[test]
    fn scenario_files_save_and_load() {
        let dir = std::env::temp_dir().join(format!("testkit-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.jsonl");
        let stream = TestStream::new()
            .add_elements([visit("a", "2024-04-28T23:12:41")])
            .advance_watermark_to_infinity();
        stream.save(&path).unwrap();
        assert_eq!(TestStream::load(&path).unwrap(), stream);
        let err = TestStream::load(dir.join("missing.jsonl")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_prints_the_scenario() {
        let stream = TestStream::new().advance_watermark_to_infinity();
        assert_eq!(
            format!("{stream:?}"),
            "TestStream, as a scenario:\n{\"watermark\": \"+inf\"}\n"
        );
    }

    #[test]
    fn elements_at_or_after_the_end_of_time_are_refused_with_their_step() {
        use pipeline::time::TIMESTAMP_MIN_VALUE;
        for at in [
            TIMESTAMP_MAX_VALUE,
            Timestamp::MAX,
            TIMESTAMP_MIN_VALUE.minus(Duration::millis(1)),
            Timestamp::MIN,
        ] {
            let err = TestStream::new()
                .advance_watermark_to("2024-04-28T23:13:00")
                .add_elements_at(at, [visit("a", "2024-04-28T23:12:41")])
                .validate()
                .unwrap_err();
            assert!(
                matches!(err, ScriptError::ElementTimestamp { step: 2, .. }),
                "{at:?}: {err}"
            );
            assert!(err.to_string().starts_with("step 2: elements at "), "{err}");
            assert!(err.to_string().contains("element timestamps must lie in"), "{err}");
        }
        let last = TIMESTAMP_MAX_VALUE.minus(Duration::millis(1));
        assert!(TestStream::new()
            .add_elements_at(last, [visit("a", "2024-04-28T23:12:41")])
            .validate()
            .is_ok());
        assert!(TestStream::new()
            .add_elements_at(TIMESTAMP_MIN_VALUE, [visit("a", "2024-04-28T23:12:41")])
            .validate()
            .is_ok());
    }

    #[test]
    fn a_finite_watermark_at_or_after_the_end_of_time_is_refused() {
        for to in [TIMESTAMP_MAX_VALUE, Timestamp::from_millis(i64::MAX - 1)] {
            let err = TestStream::new().advance_watermark_to(to).validate().unwrap_err();
            assert!(matches!(err, ScriptError::WatermarkPastEnd { step: 1, .. }), "{err}");
            assert!(err.to_string().contains("advance_watermark_to_infinity()"), "{err}");
        }
        let err =
            TestStream::from_scenario("{\"watermark\": \"2024-04-28T23:13:00\"}\n{\"watermark\": 9223372036854775}\n");
        assert!(
            matches!(err, Err(ScriptError::WatermarkPastEnd { step: 2, .. })),
            "{err:?}"
        );
        let just_before = TIMESTAMP_MAX_VALUE.minus(Duration::millis(1));
        assert!(TestStream::new()
            .advance_watermark_to(just_before)
            .advance_watermark_to_infinity()
            .validate()
            .is_ok());
        assert!(TestStream::new().advance_watermark_to("+inf").validate().is_ok());
    }

    #[test]
    fn a_pipeline_reading_epoch_milliseconds_runs_elements_at_the_ends_of_time() {
        use pipeline::time::TIMESTAMP_MIN_VALUE;
        use pipeline::window::FixedWindows;
        use pipeline::Pipeline;
        // event_datetime cannot show these years, so this pipeline reads event_ts and nothing else.
        let by_event_ts = Pipeline::builder(
            |b: &[u8]| serde_json::from_slice::<VisitEvent>(b),
            |v: &VisitEvent| Ok::<_, String>(Timestamp::from_millis(v.event_ts)),
        )
        .windows(FixedWindows::of(Duration::seconds(20)))
        .key_by(|v: &VisitEvent| v.id.clone())
        .count()
        .output(|_, _, _, n| n);
        let last = TIMESTAMP_MAX_VALUE.minus(Duration::millis(1));
        let output = TestStream::new()
            .add_elements_at(TIMESTAMP_MIN_VALUE, [visit("a", "2024-04-28T23:12:41")])
            .add_elements_at(last, [visit("a", "2024-04-28T23:12:41")])
            .add_raw_elements([serde_json::to_string(
                &visit("a", "2024-04-28T23:12:41").with_timestamp(Timestamp::MAX),
            )
            .unwrap()])
            .run(&by_event_ts)
            .unwrap();
        assert_eq!(output.panes.len(), 2);
        assert_eq!(output.dead_letters.len(), 1);
        assert!(
            output.dead_letters[0].reason.contains("not before the end of time"),
            "{:?}",
            output.dead_letters
        );
        assert!(output.stats.check_conservation().is_ok());
    }

    #[test]
    fn one_bundle_carries_timestamped_values_at_different_times() {
        use crate::timestamped::TimestampedValue;
        let stream = TestStream::new().add_elements([
            TimestampedValue::of(1, Timestamp::from_millis(1000)),
            TimestampedValue::of(2, "1970-01-01T00:00:02"),
        ]);
        assert_eq!(
            stream.to_scenario(),
            "{\"events\": [{\"value\":1,\"timestamp\":1000}, {\"value\":2,\"timestamp\":2000}]}\n"
        );
        let Step::Bundle(records) = &stream.steps()[0] else {
            panic!("a bundle");
        };
        let times: Vec<i64> = records
            .iter()
            .map(|r| {
                TimestampedValue::<i64>::from_json(&r.payload)
                    .unwrap()
                    .timestamp
                    .millis()
            })
            .collect();
        assert_eq!(times, [1000, 2000]);
    }

    #[test]
    fn a_timestamped_value_at_or_after_the_end_of_time_is_refused_with_its_step() {
        use crate::timestamped::TimestampedValue;
        let last = TIMESTAMP_MAX_VALUE.minus(Duration::millis(1));
        let err = TestStream::new()
            .add_elements([TimestampedValue::of(-1, last)])
            .add_elements([
                TimestampedValue::of(0, Timestamp::EPOCH),
                TimestampedValue::of(1, TIMESTAMP_MAX_VALUE),
            ])
            .validate()
            .unwrap_err();
        assert!(matches!(err, ScriptError::ElementTimestamp { step: 2, .. }), "{err}");
        assert!(err.to_string().contains("not before the end of time"), "{err}");
        let before = TIMESTAMP_MIN_VALUE.minus(Duration::millis(1));
        let err = TestStream::new()
            .add_elements([TimestampedValue::of("a", before)])
            .validate()
            .unwrap_err();
        assert!(matches!(err, ScriptError::ElementTimestamp { step: 1, .. }), "{err}");
    }

    #[test]
    fn plain_values_take_the_current_watermark_as_their_timestamp() {
        use crate::timestamped::TimestampedValue;
        let stream = TestStream::new()
            .add_values(["before"])
            .advance_watermark_to(Timestamp::from_millis(10))
            .advance_processing_time(Duration::seconds(1))
            .add_values(["a", "b"]);
        let times: Vec<Timestamp> = stream
            .steps()
            .iter()
            .filter_map(|s| match s {
                Step::Bundle(records) => Some(records),
                _ => None,
            })
            .flatten()
            .map(|r| TimestampedValue::<String>::from_json(&r.payload).unwrap().timestamp)
            .collect();
        // Beam's TestStream gives an element without a timestamp the current watermark, which starts at
        // TIMESTAMP_MIN_VALUE.
        assert_eq!(
            times,
            [
                TIMESTAMP_MIN_VALUE,
                Timestamp::from_millis(10),
                Timestamp::from_millis(10)
            ]
        );
        assert_eq!(stream.current_watermark(), Watermark::at(Timestamp::from_millis(10)));
    }

    proptest::proptest! {
        #[test]
        fn every_valid_script_reads_back_from_its_scenario_form(stream in crate::strategies::any_script()) {
            proptest::prop_assert_eq!(stream.validate(), Ok(()));
            let text = stream.to_scenario();
            proptest::prop_assert_eq!(TestStream::from_scenario(&text), Ok(stream), "{}", text);
        }
    }
}
