//! The windowing a command line names: which windows, which trigger, and what late and closing panes do.
//!
//! Every runner (`simulate`, its cluster mode, `traffic-agg`, `traffic-agg-sql`) takes the same flags,
//! spelled the same way, and this module owns their text forms and turns them into a
//! [`WindowingStrategy`]:
//!
//! - `--windows fixed:20s | sliding:60s,20s | sessions:30s | global` ([`WindowSpec`]): Beam's
//!   `FixedWindows.of(20s)`, `SlidingWindows.of(60s).every(20s)`, `Sessions.withGapDuration(30s)` and
//!   `GlobalWindows`;
//! - `--trigger EXPR`: a [`Trigger`] in Beam's Java spelling (see [`crate::trigger_parse`]);
//! - `--closing-behavior FIRE_ALWAYS|FIRE_IF_NON_EMPTY` and `--on-time-behavior FIRE_ALWAYS|FIRE_IF_NON_EMPTY`
//!   (Beam's `Window.ClosingBehavior` and `Window.OnTimeBehavior`).
//!
//! ```
//! use pipeline::windowing::{WindowSpec, Windowing};
//! let windowing = Windowing {
//!     windows: "sessions:30s".parse().unwrap(),
//!     trigger: "AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterPane.elementCountAtLeast(2))".parse().unwrap(),
//!     ..Windowing::default()
//! };
//! assert_eq!(windowing.windows, WindowSpec::Sessions(pipeline::time::Duration::seconds(30)));
//! assert!(windowing.strategy().window_fn.is_merging());
//! assert_eq!("sliding:60s,20s".parse::<WindowSpec>().unwrap().to_string(), "sliding:1m,20s");
//! ```

use std::fmt;
use std::str::FromStr;

use crate::strategy::{AccumulationMode, WindowingStrategy};
use crate::time::Duration;
use crate::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};
use crate::window::{FixedWindows, GlobalWindows, Sessions, SlidingWindows};

/// A window function by name: what `--windows` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowSpec {
    /// `fixed:SIZE`: Beam's `FixedWindows.of(SIZE)`.
    Fixed(Duration),
    /// `sliding:SIZE,PERIOD`: Beam's `SlidingWindows.of(SIZE).every(PERIOD)`.
    Sliding {
        /// The window length.
        size: Duration,
        /// How often a window starts.
        period: Duration,
    },
    /// `sessions:GAP`: Beam's `Sessions.withGapDuration(GAP)`, per key.
    Sessions(Duration),
    /// `global`: Beam's `GlobalWindows`, one window for all time.
    Global,
}

impl Default for WindowSpec {
    /// The seed's 20-second fixed windows.
    fn default() -> WindowSpec {
        WindowSpec::Fixed(Duration::seconds(20))
    }
}

impl WindowSpec {
    /// Beam's defaults (no allowed lateness, the default trigger, discarding panes) with these windows.
    pub fn strategy(&self) -> WindowingStrategy {
        match *self {
            WindowSpec::Fixed(size) => WindowingStrategy::new(FixedWindows::of(size)),
            WindowSpec::Sliding { size, period } => WindowingStrategy::new(SlidingWindows::of(size, period)),
            WindowSpec::Sessions(gap) => WindowingStrategy::new(Sessions::with_gap_duration(gap)),
            WindowSpec::Global => WindowingStrategy::new(GlobalWindows),
        }
    }

    /// True for windows that merge (sessions): a key's window can grow after it was first opened.
    pub fn is_merging(&self) -> bool {
        matches!(self, WindowSpec::Sessions(_))
    }
}

/// A `--windows` value that is not one of the four forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad windows {text:?}: {reason}; expected fixed:SIZE, sliding:SIZE,PERIOD, sessions:GAP or global (durations like 500ms, 20s, 1m, 2h)")]
pub struct WindowSpecError {
    text: String,
    reason: String,
}

impl FromStr for WindowSpec {
    type Err = WindowSpecError;

    fn from_str(text: &str) -> Result<WindowSpec, WindowSpecError> {
        let err = |reason: String| WindowSpecError {
            text: text.to_owned(),
            reason,
        };
        let positive = |what: &str, value: &str| -> Result<Duration, WindowSpecError> {
            let d: Duration = value
                .trim()
                .parse()
                .map_err(|e: crate::time::DurationError| err(e.to_string()))?;
            if d <= Duration::ZERO {
                return Err(err(format!("the {what} must be longer than zero, got {d}")));
            }
            Ok(d)
        };
        let (kind, argument) = match text.trim().split_once(':') {
            Some((kind, argument)) => (kind.trim(), Some(argument)),
            None => (text.trim(), None),
        };
        match (kind, argument) {
            ("fixed", Some(size)) => Ok(WindowSpec::Fixed(positive("size", size)?)),
            ("sliding", Some(sizes)) => {
                let (size, period) = sizes
                    .split_once(',')
                    .ok_or_else(|| err("sliding windows need a size and a period, like sliding:60s,20s".to_owned()))?;
                Ok(WindowSpec::Sliding {
                    size: positive("size", size)?,
                    period: positive("period", period)?,
                })
            }
            ("sessions", Some(gap)) => Ok(WindowSpec::Sessions(positive("gap", gap)?)),
            ("global", None) => Ok(WindowSpec::Global),
            ("global", Some(_)) => Err(err("global windows take no argument".to_owned())),
            ("fixed" | "sliding" | "sessions", None) => {
                Err(err(format!("{kind} windows need a duration after `{kind}:`")))
            }
            _ => Err(err(format!("unknown kind of windows `{kind}`"))),
        }
    }
}

impl fmt::Display for WindowSpec {
    /// The `--windows` form: `fixed:20s`, `sliding:1m,20s`, `sessions:30s`, `global`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowSpec::Fixed(size) => write!(f, "fixed:{size}"),
            WindowSpec::Sliding { size, period } => write!(f, "sliding:{size},{period}"),
            WindowSpec::Sessions(gap) => write!(f, "sessions:{gap}"),
            WindowSpec::Global => f.write_str("global"),
        }
    }
}

/// Everything the windowing flags of a runner say: a complete [`WindowingStrategy`] in text-friendly form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Windowing {
    /// `--windows` (or `--window SIZE`, fixed windows).
    pub windows: WindowSpec,
    /// `--allowed-lateness`.
    pub allowed_lateness: Duration,
    /// `--accumulating`.
    pub accumulation: AccumulationMode,
    /// `--trigger`.
    pub trigger: Trigger,
    /// `--closing-behavior`.
    pub closing_behavior: ClosingBehavior,
    /// `--on-time-behavior`.
    pub on_time_behavior: OnTimeBehavior,
}

impl Windowing {
    /// The strategy these flags describe.
    pub fn strategy(&self) -> WindowingStrategy {
        self.windows
            .strategy()
            .with_allowed_lateness(self.allowed_lateness)
            .with_accumulation(self.accumulation)
            .with_trigger(self.trigger.clone())
            .with_closing_behavior(self.closing_behavior)
            .with_on_time_behavior(self.on_time_behavior)
    }

    /// Why these flags cannot run on an unbounded input (Kafka), or `None`: Beam refuses a `GroupByKey`
    /// in the global window with the default trigger on an unbounded `PCollection`, because its one pane
    /// would fire only at the end of time (and here no offset could ever be committed).
    pub fn unbounded_input_problem(&self) -> Option<String> {
        (self.windows == WindowSpec::Global && self.trigger == Trigger::Default).then(|| {
            "the global window with the default trigger never fires on an unbounded input (Beam refuses it \
             too): give a --trigger that fires before the end of time, e.g. \
             'Repeatedly.forever(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(10s))'"
                .to_owned()
        })
    }

    /// One line for a run's summary: `windows fixed:20s, trigger DefaultTrigger.of(), ...`, naming only
    /// what differs from Beam's defaults after the windows.
    pub fn describe(&self) -> String {
        let mut text = format!("windows {}", self.windows);
        if self.trigger != Trigger::Default {
            text.push_str(&format!(", trigger {}", self.trigger));
        }
        if self.closing_behavior != ClosingBehavior::default() {
            text.push_str(&format!(", closing behavior {}", self.closing_behavior));
        }
        if self.on_time_behavior != OnTimeBehavior::default() {
            text.push_str(&format!(", on-time behavior {}", self.on_time_behavior));
        }
        text.push_str(&format!(
            ", allowed lateness {}, {}",
            self.allowed_lateness,
            match self.accumulation {
                AccumulationMode::Discarding => "discarding",
                AccumulationMode::Accumulating => "accumulating",
            }
        ));
        text
    }
}

/// Command-line value parsers for the windowing flags that `simulate`, `traffic-agg` and
/// `traffic-agg-sql` share (`--windows`, `--trigger`, `--closing-behavior`, `--on-time-behavior`), in the
/// `fn(&str) -> Result<T, String>` shape clap's `value_parser` takes.
pub mod flags {
    use super::WindowSpec;
    use crate::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};

    /// `--windows`.
    pub fn window_spec(text: &str) -> Result<WindowSpec, String> {
        text.parse().map_err(|e: super::WindowSpecError| e.to_string())
    }

    /// `--trigger`: a parse error keeps its caret diagram, on the lines after clap's `error: invalid value`.
    pub fn trigger(text: &str) -> Result<Trigger, String> {
        text.parse()
            .map_err(|e: crate::trigger_parse::TriggerParseError| format!("\n{e}"))
    }

    /// `--closing-behavior`.
    pub fn closing_behavior(text: &str) -> Result<ClosingBehavior, String> {
        text.parse()
            .map_err(|e: crate::trigger_parse::BehaviorParseError| e.to_string())
    }

    /// `--on-time-behavior`.
    pub fn on_time_behavior(text: &str) -> Result<OnTimeBehavior, String> {
        text.parse()
            .map_err(|e: crate::trigger_parse::BehaviorParseError| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_windows_reads_back_from_its_display() {
        for (text, spec) in [
            ("fixed:20s", WindowSpec::Fixed(Duration::seconds(20))),
            (
                "sliding:1m,20s",
                WindowSpec::Sliding {
                    size: Duration::minutes(1),
                    period: Duration::seconds(20),
                },
            ),
            ("sessions:30s", WindowSpec::Sessions(Duration::seconds(30))),
            ("global", WindowSpec::Global),
        ] {
            assert_eq!(text.parse::<WindowSpec>().unwrap(), spec);
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            " sliding: 60s , 20s ".parse::<WindowSpec>().unwrap().to_string(),
            "sliding:1m,20s"
        );
    }

    #[test]
    fn a_bad_windows_value_says_what_is_wrong() {
        for (text, reason) in [
            ("fixed", "fixed windows need a duration after `fixed:`"),
            ("fixed:0s", "the size must be longer than zero, got 0s"),
            ("fixed:20", "bad duration \"20\""),
            ("sliding:60s", "need a size and a period"),
            ("sliding:60s,0s", "the period must be longer than zero"),
            ("sessions:", "bad duration \"\""),
            ("global:1s", "global windows take no argument"),
            ("tumbling:20s", "unknown kind of windows `tumbling`"),
        ] {
            let message = text.parse::<WindowSpec>().unwrap_err().to_string();
            assert!(message.contains(reason), "{text}: {message}");
            assert!(
                message.contains("expected fixed:SIZE, sliding:SIZE,PERIOD"),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn the_global_window_with_the_default_trigger_cannot_run_on_an_unbounded_input() {
        let global = Windowing {
            windows: WindowSpec::Global,
            ..Windowing::default()
        };
        assert!(global.unbounded_input_problem().is_some());
        let triggered = Windowing {
            trigger: "Repeatedly.forever(AfterPane.elementCountAtLeast(10))".parse().unwrap(),
            ..global
        };
        assert_eq!(triggered.unbounded_input_problem(), None);
        assert_eq!(Windowing::default().unbounded_input_problem(), None);
    }
}
