//! Reading a trigger from text: `"Repeatedly.forever(AfterPane.elementCountAtLeast(3))".parse::<Trigger>()`.
//!
//! The text is Beam's Java spelling with this project's durations (`10s`, `1500ms`, `1m`, `2h`) and
//! instants (`2024-04-28T23:12:40`, with or without milliseconds), exactly what [`Trigger`]'s `Display`
//! writes, so that `text.parse::<Trigger>()` and `trigger.to_string()` are inverses. Whitespace is
//! allowed between tokens. This module owns that grammar and the rules of Beam's types that it enforces
//! ([`Trigger::check`]): a trigger that must fire at most once (a Java `OnceTrigger`: the argument of
//! `.orFinally(..)`, of `.withEarlyFirings(..)` and `.withLateFirings(..)`, and every sub-trigger of
//! `AfterFirst.of` and `AfterAll.of`) cannot be one that fires repeatedly, and a composite needs at least
//! two sub-triggers. A [`TriggerParseError`] says what was expected and shows the expression with a caret
//! under the offending part, like the SQL compiler's errors. The parser never panics, whatever the input
//! (nesting is limited to [`MAX_NESTING`] levels so that hostile input cannot exhaust the stack).
//!
//! ```
//! use pipeline::trigger::{AfterPane, Repeatedly, Trigger};
//! let t: Trigger = " Repeatedly.forever( AfterPane.elementCountAtLeast(3) ) ".parse().unwrap();
//! assert_eq!(t, Repeatedly::forever(AfterPane::element_count_at_least(3)));
//!
//! let err = "Repeatedly.forever(AfterPane.elementCount(3))".parse::<Trigger>().unwrap_err();
//! assert_eq!(err.column(), 30);
//! assert_eq!(
//!     err.to_string(),
//!     "expected `elementCountAtLeast` after `AfterPane.`, found `elementCount`\n \
//!      --> column 30\n  \
//!      |\n  \
//!      | Repeatedly.forever(AfterPane.elementCount(3))\n  \
//!      |                              ^^^^^^^^^^^^"
//! );
//! ```

use std::fmt;
use std::str::FromStr;

use crate::time::{Duration, Timestamp};
use crate::trigger::{ClosingBehavior, OnTimeBehavior, TimeTransform, Trigger};

/// How deeply triggers may nest in a parsed expression. Real triggers nest a handful of levels; the
/// limit keeps the recursive parser (and the recursive drop of the tree) far from the stack's end.
pub const MAX_NESTING: usize = 64;

/// Text that is not a valid trigger: what was expected or what rule of Beam's types is broken, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerParseError {
    message: String,
    expression: String,
    column: usize,
    width: usize,
}

impl TriggerParseError {
    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 1-based column (in characters) of the offending part.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The expression on one line: tabs and line breaks shown as spaces, so the caret lines up.
    fn expression_line(&self) -> String {
        self.expression
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect::<String>()
            .trim_end()
            .to_owned()
    }
}

impl fmt::Display for TriggerParseError {
    /// ```text
    /// expected `(` after `forever`, found `)`
    ///  --> column 19
    ///   |
    ///   | Repeatedly.forever)
    ///   |                   ^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n --> column {}\n  |\n  | {}\n  | {}{}",
            self.message,
            self.column,
            self.expression_line(),
            " ".repeat(self.column - 1),
            "^".repeat(self.width)
        )
    }
}

impl std::error::Error for TriggerParseError {}

/// A trigger that Beam's types would refuse, found by [`Trigger::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTrigger(String);

impl Trigger {
    /// True for a trigger that fires at most once: Beam's `Trigger.OnceTrigger` (`AfterPane`,
    /// `AfterProcessingTime`, `AfterWatermark.pastEndOfWindow()` without early or late firings,
    /// `AfterFirst`, `AfterAll`, `Never`).
    pub fn is_once(&self) -> bool {
        match self {
            Trigger::AfterWatermark { early, late } => early.is_none() && late.is_none(),
            Trigger::AfterProcessingTime { .. }
            | Trigger::AfterPane { .. }
            | Trigger::AfterFirst(_)
            | Trigger::AfterAll(_)
            | Trigger::Never => true,
            _ => false,
        }
    }

    /// Checks the rules Beam's Java types enforce: `.orFinally(t)`, `.withEarlyFirings(t)`,
    /// `.withLateFirings(t)`, `AfterFirst.of(t, ..)` and `AfterAll.of(t, ..)` take only triggers that
    /// fire at most once ([`Trigger::is_once`]); `AfterEach`, `AfterFirst` and `AfterAll` need at least
    /// two sub-triggers; an `AfterProcessingTime` delay is not negative and an alignment period is
    /// positive.
    pub fn check(&self) -> Result<(), InvalidTrigger> {
        check_tree(self, 0).map_err(|(message, _)| InvalidTrigger(message))
    }
}

/// The rule `trigger` breaks and the path to it (unused by callers that only want the message).
fn check_tree(trigger: &Trigger, depth: usize) -> Result<(), (String, usize)> {
    if depth > MAX_NESTING {
        return Err((format!("triggers nest more than {MAX_NESTING} levels deep"), depth));
    }
    let once = |role: &str, t: &Trigger| -> Result<(), (String, usize)> {
        match once_rule(role, t) {
            Some(message) => Err((message, depth)),
            None => check_tree(t, depth + 1),
        }
    };
    match trigger {
        Trigger::AfterWatermark { early, late } => {
            if let Some(early) = early {
                once(".withEarlyFirings(..)", early)?;
            }
            if let Some(late) = late {
                once(".withLateFirings(..)", late)?;
            }
            Ok(())
        }
        Trigger::AfterProcessingTime { transforms } => transforms
            .iter()
            .try_for_each(|t| transform_rule(t).map_or(Ok(()), |m| Err((m, depth)))),
        Trigger::Repeatedly(t) => check_tree(t, depth + 1),
        Trigger::AfterEach(ts) => {
            count_rule("AfterEach.inOrder", ts.len()).map_or(Ok(()), |m| Err((m, depth)))?;
            ts.iter().try_for_each(|t| check_tree(t, depth + 1))
        }
        Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
            let name = if matches!(trigger, Trigger::AfterFirst(_)) {
                "AfterFirst.of"
            } else {
                "AfterAll.of"
            };
            count_rule(name, ts.len()).map_or(Ok(()), |m| Err((m, depth)))?;
            ts.iter().try_for_each(|t| once(&format!("{name}(..)"), t))
        }
        Trigger::OrFinally { main, until } => {
            check_tree(main, depth + 1)?;
            once(".orFinally(..)", until)
        }
        _ => Ok(()),
    }
}

/// Why `t` cannot be the argument of `role`, which takes a `OnceTrigger`.
fn once_rule(role: &str, t: &Trigger) -> Option<String> {
    (!t.is_once()).then(|| {
        format!(
            "{role} takes a trigger that fires at most once (Beam's OnceTrigger: AfterPane, AfterProcessingTime, \
             AfterWatermark.pastEndOfWindow() without early or late firings, AfterFirst, AfterAll, Never), \
             but {} can fire more than once",
            describe(t)
        )
    })
}

/// `Repeatedly.forever(..)` and so on: the head of a trigger, to name it in a message.
fn describe(t: &Trigger) -> &'static str {
    match t {
        Trigger::Default => "DefaultTrigger.of()",
        Trigger::AfterWatermark { .. } => "AfterWatermark with early or late firings",
        Trigger::Repeatedly(_) => "Repeatedly.forever(..)",
        Trigger::AfterEach(_) => "AfterEach.inOrder(..)",
        Trigger::OrFinally { .. } => "a trigger with .orFinally(..)",
        _ => "this trigger",
    }
}

fn count_rule(name: &str, count: usize) -> Option<String> {
    (count < 2).then(|| format!("{name}(..) needs at least two sub-triggers, got {count}"))
}

fn transform_rule(t: &TimeTransform) -> Option<String> {
    match t {
        TimeTransform::Delay(d) if *d < Duration::ZERO => Some(format!("a delay cannot be negative, got {d}")),
        TimeTransform::AlignTo { period, .. } if *period <= Duration::ZERO => {
            Some(format!("an alignment period must be positive, got {period}"))
        }
        TimeTransform::AlignTo { offset, .. } if offset.is_infinite() => {
            Some(format!("an alignment offset must be an instant, got {offset}"))
        }
        _ => None,
    }
}

impl FromStr for Trigger {
    type Err = TriggerParseError;

    /// Reads Beam's Java spelling, as [`Trigger`]'s `Display` writes it; see the [module](self) docs.
    fn from_str(text: &str) -> Result<Trigger, TriggerParseError> {
        let mut parser = Parser { text, at: 0 };
        let trigger = parser.trigger(0)?;
        parser.skip_space();
        if parser.at < text.len() {
            let (start, end) = parser.peek_token();
            return Err(parser.error_at(
                start,
                end,
                format!(
                    "expected the end of the trigger or `.orFinally(..)`, found `{}`",
                    &text[start..end]
                ),
            ));
        }
        Ok(trigger)
    }
}

/// A behaviour name that is neither `FIRE_ALWAYS` nor `FIRE_IF_NON_EMPTY`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected FIRE_ALWAYS or FIRE_IF_NON_EMPTY, found {0:?}")]
pub struct BehaviorParseError(String);

impl FromStr for ClosingBehavior {
    type Err = BehaviorParseError;

    /// `FIRE_ALWAYS` or `FIRE_IF_NON_EMPTY`, Beam's names, as `Display` writes them.
    fn from_str(text: &str) -> Result<ClosingBehavior, BehaviorParseError> {
        match text.trim() {
            "FIRE_ALWAYS" => Ok(ClosingBehavior::FireAlways),
            "FIRE_IF_NON_EMPTY" => Ok(ClosingBehavior::FireIfNonEmpty),
            _ => Err(BehaviorParseError(text.to_owned())),
        }
    }
}

impl FromStr for OnTimeBehavior {
    type Err = BehaviorParseError;

    /// `FIRE_ALWAYS` or `FIRE_IF_NON_EMPTY`, Beam's names, as `Display` writes them.
    fn from_str(text: &str) -> Result<OnTimeBehavior, BehaviorParseError> {
        match text.trim() {
            "FIRE_ALWAYS" => Ok(OnTimeBehavior::FireAlways),
            "FIRE_IF_NON_EMPTY" => Ok(OnTimeBehavior::FireIfNonEmpty),
            _ => Err(BehaviorParseError(text.to_owned())),
        }
    }
}

/// A recursive-descent parser over the text; `at` is a byte offset at a character boundary.
struct Parser<'t> {
    text: &'t str,
    at: usize,
}

/// What the parser can find at a call position, for the "expected" lists.
const HEADS: &str = "AfterWatermark, AfterProcessingTime, AfterPane, Repeatedly, AfterEach, AfterFirst, \
                     AfterAll, Never or DefaultTrigger";

impl<'t> Parser<'t> {
    fn error_at(&self, start: usize, end: usize, message: String) -> TriggerParseError {
        let column = self.text[..start].chars().count() + 1;
        let width = self.text[start..end.max(start)].chars().count().max(1);
        TriggerParseError {
            message,
            expression: self.text.to_owned(),
            column,
            width,
        }
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    /// The next token's byte range (after whitespace), without consuming it: an identifier, a literal
    /// (anything up to whitespace or punctuation), or one punctuation character. Empty at the end.
    fn peek_token(&mut self) -> (usize, usize) {
        self.skip_space();
        let rest = &self.text[self.at..];
        let Some(first) = rest.chars().next() else {
            return (self.at, self.at);
        };
        let len = if "().,".contains(first) {
            1
        } else if first.is_ascii_alphabetic() || first == '_' {
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else {
            rest.find(|c: char| c.is_whitespace() || "(),".contains(c))
                .unwrap_or(rest.len())
        };
        (self.at, self.at + len)
    }

    fn found(&mut self) -> (usize, usize, String) {
        let (start, end) = self.peek_token();
        let shown = if start == end {
            "the end of the text".to_owned()
        } else {
            format!("`{}`", &self.text[start..end])
        };
        (start, end, shown)
    }

    /// Consumes `symbol` (one punctuation character) or says it was expected `context`.
    fn expect(&mut self, symbol: char, context: &str) -> Result<(), TriggerParseError> {
        let (start, end, shown) = self.found();
        if self.text[start..end].starts_with(symbol) && end - start == 1 {
            self.at = end;
            return Ok(());
        }
        Err(self.error_at(start, end, format!("expected `{symbol}` {context}, found {shown}")))
    }

    /// Consumes an identifier and returns it with its start, or says one was expected.
    fn identifier(&mut self, expected: &str, context: &str) -> Result<(&'t str, usize), TriggerParseError> {
        let (start, end, shown) = self.found();
        let word = &self.text[start..end];
        if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            self.at = end;
            return Ok((word, start));
        }
        Err(self.error_at(start, end, format!("expected {expected} {context}, found {shown}")))
    }

    /// `.name()` after a class name: the factory method, which must be `method`, with no arguments.
    fn factory(&mut self, class: &str, method: &str) -> Result<(), TriggerParseError> {
        self.expect('.', &format!("after `{class}`"))?;
        self.method_name(class, method)?;
        self.expect('(', &format!("after `{method}`"))?;
        self.expect(')', &format!("(`{class}.{method}()` takes no arguments)"))
    }

    /// The method name after `Class.`, which must be `method`.
    fn method_name(&mut self, class: &str, method: &str) -> Result<(), TriggerParseError> {
        let (start, end, shown) = self.found();
        if &self.text[start..end] == method {
            self.at = end;
            return Ok(());
        }
        Err(self.error_at(
            start,
            end,
            format!("expected `{method}` after `{class}.`, found {shown}"),
        ))
    }

    /// A whole trigger: a head, then any `.method(..)` calls that apply to what came before.
    fn trigger(&mut self, depth: usize) -> Result<Trigger, TriggerParseError> {
        let (start, end) = self.peek_token();
        if depth >= MAX_NESTING {
            return Err(self.error_at(start, end, format!("triggers nest more than {MAX_NESTING} levels deep")));
        }
        let mut trigger = self.head(depth)?;
        loop {
            let save = self.at;
            let (dot, dot_end) = self.peek_token();
            if &self.text[dot..dot_end] != "." {
                self.at = save;
                return Ok(trigger);
            }
            self.at = dot_end;
            let (name, name_start) = self.identifier("a method name", "after `.`")?;
            let name_end = name_start + name.len();
            trigger = match (name, trigger) {
                ("orFinally", main) => {
                    let until = self.argument_trigger(".orFinally", depth, true)?;
                    main.or_finally(until)
                }
                (which @ ("withEarlyFirings" | "withLateFirings"), Trigger::AfterWatermark { early, late }) => {
                    let slot = if which == "withEarlyFirings" { &early } else { &late };
                    if slot.is_some() {
                        return Err(self.error_at(name_start, name_end, format!("`.{which}(..)` is given twice")));
                    }
                    let firing = Box::new(self.argument_trigger(&format!(".{which}"), depth, true)?);
                    match which {
                        "withEarlyFirings" => Trigger::AfterWatermark {
                            early: Some(firing),
                            late,
                        },
                        _ => Trigger::AfterWatermark {
                            early,
                            late: Some(firing),
                        },
                    }
                }
                (which @ ("plusDelayOf" | "alignedTo"), Trigger::AfterProcessingTime { mut transforms }) => {
                    transforms.push(self.time_transform(which)?);
                    Trigger::AfterProcessingTime { transforms }
                }
                (other, current) => {
                    let applies = match current {
                        Trigger::AfterWatermark { .. } => "`.withEarlyFirings(..)`, `.withLateFirings(..)` or ",
                        Trigger::AfterProcessingTime { .. } => "`.plusDelayOf(..)`, `.alignedTo(..)` or ",
                        _ => "",
                    };
                    let message = match other {
                        "withEarlyFirings" | "withLateFirings" => format!(
                            "`.{other}(..)` applies only to `AfterWatermark.pastEndOfWindow()`, not to {current}"
                        ),
                        "plusDelayOf" | "alignedTo" => format!(
                            "`.{other}(..)` applies only to `AfterProcessingTime.pastFirstElementInPane()`, \
                             not to {current}"
                        ),
                        _ => format!("expected {applies}`.orFinally(..)`, found `.{other}`"),
                    };
                    return Err(self.error_at(name_start, name_end, message));
                }
            };
        }
    }

    /// `(trigger)` as the argument of `method`; `once` requires a trigger that fires at most once.
    fn argument_trigger(&mut self, method: &str, depth: usize, once: bool) -> Result<Trigger, TriggerParseError> {
        self.expect('(', &format!("after `{method}`"))?;
        let (start, _) = self.peek_token();
        let trigger = self.trigger(depth + 1)?;
        if once {
            if let Some(message) = once_rule(&format!("{method}(..)"), &trigger) {
                return Err(self.error_at(start, self.at, message));
            }
        }
        self.expect(')', &format!("to close `{method}(`"))?;
        Ok(trigger)
    }

    /// `(t1, t2, ...)`: at least two sub-triggers.
    fn trigger_list(&mut self, name: &str, depth: usize, once: bool) -> Result<Vec<Trigger>, TriggerParseError> {
        let open = self.peek_token().0;
        self.expect('(', &format!("after `{name}`"))?;
        let mut triggers = Vec::new();
        loop {
            let (start, _) = self.peek_token();
            let trigger = self.trigger(depth + 1)?;
            if once {
                if let Some(message) = once_rule(&format!("{name}(..)"), &trigger) {
                    return Err(self.error_at(start, self.at, message));
                }
            }
            triggers.push(trigger);
            let (start, end, shown) = self.found();
            match &self.text[start..end] {
                "," => self.at = end,
                ")" => {
                    self.at = end;
                    break;
                }
                _ => {
                    return Err(self.error_at(
                        start,
                        end,
                        format!("expected `,` or `)` in `{name}(..)`, found {shown}"),
                    ))
                }
            }
        }
        if let Some(message) = count_rule(name, triggers.len()) {
            return Err(self.error_at(open, self.at, message));
        }
        Ok(triggers)
    }

    /// A trigger's head: `Class.factory(..)`.
    fn head(&mut self, depth: usize) -> Result<Trigger, TriggerParseError> {
        let (class, start) = self.identifier(&format!("a trigger ({HEADS})"), "here")?;
        Ok(match class {
            "DefaultTrigger" => {
                self.factory(class, "of")?;
                Trigger::Default
            }
            "Never" => {
                self.factory(class, "ever")?;
                Trigger::Never
            }
            "AfterWatermark" => {
                self.factory(class, "pastEndOfWindow")?;
                Trigger::AfterWatermark {
                    early: None,
                    late: None,
                }
            }
            "AfterProcessingTime" => {
                self.factory(class, "pastFirstElementInPane")?;
                Trigger::AfterProcessingTime { transforms: Vec::new() }
            }
            "AfterPane" => {
                self.expect('.', "after `AfterPane`")?;
                self.method_name(class, "elementCountAtLeast")?;
                self.expect('(', "after `elementCountAtLeast`")?;
                let (start, end, shown) = self.found();
                let count = self.text[start..end].parse::<u64>().map_err(|_| {
                    self.error_at(
                        start,
                        end,
                        format!("expected a whole number of elements, found {shown}"),
                    )
                })?;
                self.at = end;
                self.expect(')', "after the element count")?;
                Trigger::AfterPane { count }
            }
            "Repeatedly" => {
                self.expect('.', "after `Repeatedly`")?;
                self.method_name(class, "forever")?;
                Trigger::Repeatedly(Box::new(self.argument_trigger("forever", depth, false)?))
            }
            "AfterEach" => {
                self.expect('.', "after `AfterEach`")?;
                self.method_name(class, "inOrder")?;
                Trigger::AfterEach(self.trigger_list("AfterEach.inOrder", depth, false)?)
            }
            "AfterFirst" | "AfterAll" => {
                self.expect('.', &format!("after `{class}`"))?;
                self.method_name(class, "of")?;
                let triggers = self.trigger_list(&format!("{class}.of"), depth, true)?;
                if class == "AfterFirst" {
                    Trigger::AfterFirst(triggers)
                } else {
                    Trigger::AfterAll(triggers)
                }
            }
            other => {
                return Err(self.error_at(
                    start,
                    start + other.len(),
                    format!("expected a trigger ({HEADS}), found `{other}`"),
                ))
            }
        })
    }

    /// The arguments of `.plusDelayOf(d)` or `.alignedTo(period[, offset])`.
    fn time_transform(&mut self, method: &str) -> Result<TimeTransform, TriggerParseError> {
        self.expect('(', &format!("after `{method}`"))?;
        let (duration, start) = self.duration(if method == "plusDelayOf" { "a delay" } else { "a period" })?;
        let transform = if method == "plusDelayOf" {
            TimeTransform::Delay(duration)
        } else {
            if duration <= Duration::ZERO {
                return Err(self.error_at(
                    start,
                    self.at,
                    format!("an alignment period must be positive, got {duration}"),
                ));
            }
            let (start, end) = self.peek_token();
            let offset = if &self.text[start..end] == "," {
                self.at = end;
                self.instant()?
            } else {
                Timestamp::EPOCH
            };
            TimeTransform::AlignTo {
                period: duration,
                offset,
            }
        };
        self.expect(')', &format!("to close `.{method}(`"))?;
        Ok(transform)
    }

    /// A duration and where it starts.
    fn duration(&mut self, what: &str) -> Result<(Duration, usize), TriggerParseError> {
        let (start, end, shown) = self.found();
        let duration = self.text[start..end].parse::<Duration>().map_err(|_| {
            self.error_at(
                start,
                end,
                format!("expected {what}: a duration like 500ms, 10s, 1m or 2h, found {shown}"),
            )
        })?;
        self.at = end;
        Ok((duration, start))
    }

    /// An instant: `2024-04-28T23:12:40[.000]`, a signed year beyond 0–9999 as `Display` writes it
    /// (`+10000-01-01T00:00:00.000`), or epoch milliseconds `1714345960000ms`.
    fn instant(&mut self) -> Result<Timestamp, TriggerParseError> {
        let (start, end, shown) = self.found();
        let text = &self.text[start..end];
        let parsed = Timestamp::parse_datetime(text)
            .ok()
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| Timestamp::from_millis(t.and_utc().timestamp_millis()))
            })
            .or_else(|| text.strip_suffix("ms")?.parse::<i64>().ok().map(Timestamp::from_millis))
            .filter(|t| !t.is_infinite());
        let offset = parsed.ok_or_else(|| {
            self.error_at(
                start,
                end,
                format!("expected an instant like 2024-04-28T23:12:40 (UTC) or 1714345960000ms, found {shown}"),
            )
        })?;
        self.at = end;
        Ok(offset)
    }
}

#[cfg(test)]
mod tests;
