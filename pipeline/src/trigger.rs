//! Triggers: when a window's panes fire, as a value in Beam's vocabulary.
//!
//! [`Trigger`] is the tree of Beam's (Java SDK) trigger DSL, built with the same names:
//!
//! ```
//! use pipeline::time::Duration;
//! use pipeline::trigger::{AfterPane, AfterProcessingTime, AfterWatermark, Repeatedly, Trigger};
//!
//! let speculative: Trigger = AfterWatermark::past_end_of_window()
//!     .with_early_firings(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::seconds(10)))
//!     .with_late_firings(AfterPane::element_count_at_least(1))
//!     .into();
//! assert_eq!(
//!     speculative.to_string(),
//!     "AfterWatermark.pastEndOfWindow()\
//!      .withEarlyFirings(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(10s))\
//!      .withLateFirings(AfterPane.elementCountAtLeast(1))"
//! );
//! assert_eq!(Repeatedly::forever(AfterPane::element_count_at_least(3)).to_string(),
//!            "Repeatedly.forever(AfterPane.elementCountAtLeast(3))");
//! ```
//!
//! This module owns the value, its builders and its text form ([`fmt::Display`], Beam's Java spelling
//! with this project's durations); what each trigger means — when it fires, when it finishes — is the
//! windowing core's ([`crate::aggregator`]), following Beam's trigger state machines.

use std::fmt;

use crate::time::{Duration, Timestamp};

/// When panes fire: Beam's trigger tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Trigger {
    /// Beam's `DefaultTrigger`, `Repeatedly.forever(AfterWatermark.pastEndOfWindow())`: one on-time pane
    /// when the watermark passes the end of the window, then one late pane per key and window for each
    /// input bundle that brings late elements within allowed lateness.
    #[default]
    Default,
    /// `AfterWatermark.pastEndOfWindow()`, optionally `.withEarlyFirings(..)` and `.withLateFirings(..)`.
    AfterWatermark {
        /// Fires speculative panes before the watermark passes the end of the window.
        early: Option<Box<Trigger>>,
        /// Fires late panes after the on-time pane.
        late: Option<Box<Trigger>>,
    },
    /// `AfterProcessingTime.pastFirstElementInPane()` with its timestamp transforms, in order.
    AfterProcessingTime {
        /// `.plusDelayOf(d)` and `.alignedTo(period, offset)`, applied in the order given.
        transforms: Vec<TimeTransform>,
    },
    /// `AfterPane.elementCountAtLeast(n)`.
    AfterPane {
        /// Fires once the pane holds at least this many elements.
        count: u64,
    },
    /// `Repeatedly.forever(t)`: fires every time `t` fires, restarting it.
    Repeatedly(Box<Trigger>),
    /// `AfterEach.inOrder(t1, t2, ...)`: each sub-trigger in turn, moving on when it finishes.
    AfterEach(Vec<Trigger>),
    /// `AfterFirst.of(t1, t2, ...)`: fires (and finishes) when any sub-trigger fires.
    AfterFirst(Vec<Trigger>),
    /// `AfterAll.of(t1, t2, ...)`: fires (and finishes) when every sub-trigger has fired.
    AfterAll(Vec<Trigger>),
    /// `t.orFinally(until)`: `t`, until `until` fires, which finishes the whole trigger.
    OrFinally {
        /// The trigger that fires.
        main: Box<Trigger>,
        /// The trigger that ends it.
        until: Box<Trigger>,
    },
    /// `Never.ever()`: never fires (but the final pane of `ClosingBehavior.FIRE_ALWAYS` may).
    Never,
}

/// How an `AfterProcessingTime` trigger moves the processing time of the first element of a pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeTransform {
    /// `.plusDelayOf(d)`: `d` later.
    Delay(Duration),
    /// `.alignedTo(period, offset)`: to the next instant at `offset` plus a multiple of `period`
    /// (`.alignedTo(period)` is an offset of the epoch).
    AlignTo {
        /// The period.
        period: Duration,
        /// The instant the periods are counted from.
        offset: Timestamp,
    },
}

/// `AfterWatermark.pastEndOfWindow()`, with its optional early and late firings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AfterWatermark {
    early: Option<Trigger>,
    late: Option<Trigger>,
}

impl AfterWatermark {
    /// Fires when the watermark passes the end of the window.
    pub fn past_end_of_window() -> AfterWatermark {
        AfterWatermark {
            early: None,
            late: None,
        }
    }

    /// Fires speculative panes with `early` before the watermark passes the end of the window.
    pub fn with_early_firings(mut self, early: impl Into<Trigger>) -> AfterWatermark {
        self.early = Some(early.into());
        self
    }

    /// Fires late panes with `late` after the on-time pane.
    pub fn with_late_firings(mut self, late: impl Into<Trigger>) -> AfterWatermark {
        self.late = Some(late.into());
        self
    }

    /// `self.orFinally(until)`.
    pub fn or_finally(self, until: impl Into<Trigger>) -> Trigger {
        Trigger::from(self).or_finally(until)
    }
}

impl From<AfterWatermark> for Trigger {
    fn from(t: AfterWatermark) -> Trigger {
        Trigger::AfterWatermark {
            early: t.early.map(Box::new),
            late: t.late.map(Box::new),
        }
    }
}

/// `AfterProcessingTime.pastFirstElementInPane()`, with its timestamp transforms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AfterProcessingTime {
    transforms: Vec<TimeTransform>,
}

impl AfterProcessingTime {
    /// Fires when processing time passes the processing time at which the pane's first element arrived.
    pub fn past_first_element_in_pane() -> AfterProcessingTime {
        AfterProcessingTime { transforms: Vec::new() }
    }

    /// `.plusDelayOf(delay)`.
    pub fn plus_delay_of(mut self, delay: Duration) -> AfterProcessingTime {
        self.transforms.push(TimeTransform::Delay(delay));
        self
    }

    /// `.alignedTo(period, offset)`.
    /// Panics when `period` is not positive (Beam divides by it).
    pub fn aligned_to(mut self, period: Duration, offset: Timestamp) -> AfterProcessingTime {
        assert!(
            period.as_millis() > 0,
            "AfterProcessingTime.alignedTo needs a positive period, got {period}"
        );
        self.transforms.push(TimeTransform::AlignTo { period, offset });
        self
    }

    /// `self.orFinally(until)`.
    pub fn or_finally(self, until: impl Into<Trigger>) -> Trigger {
        Trigger::from(self).or_finally(until)
    }
}

impl From<AfterProcessingTime> for Trigger {
    fn from(t: AfterProcessingTime) -> Trigger {
        Trigger::AfterProcessingTime {
            transforms: t.transforms,
        }
    }
}

/// `AfterPane`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterPane;

impl AfterPane {
    /// `AfterPane.elementCountAtLeast(count)`.
    pub fn element_count_at_least(count: u64) -> Trigger {
        Trigger::AfterPane { count }
    }
}

/// `Repeatedly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeatedly;

impl Repeatedly {
    /// `Repeatedly.forever(trigger)`.
    pub fn forever(trigger: impl Into<Trigger>) -> Trigger {
        Trigger::Repeatedly(Box::new(trigger.into()))
    }
}

/// `AfterEach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterEach;

impl AfterEach {
    /// `AfterEach.inOrder(triggers...)`.
    pub fn in_order<T: Into<Trigger>>(triggers: impl IntoIterator<Item = T>) -> Trigger {
        Trigger::AfterEach(triggers.into_iter().map(Into::into).collect())
    }
}

/// `AfterFirst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFirst;

impl AfterFirst {
    /// `AfterFirst.of(triggers...)`.
    pub fn of<T: Into<Trigger>>(triggers: impl IntoIterator<Item = T>) -> Trigger {
        Trigger::AfterFirst(triggers.into_iter().map(Into::into).collect())
    }
}

/// `AfterAll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterAll;

impl AfterAll {
    /// `AfterAll.of(triggers...)`.
    pub fn of<T: Into<Trigger>>(triggers: impl IntoIterator<Item = T>) -> Trigger {
        Trigger::AfterAll(triggers.into_iter().map(Into::into).collect())
    }
}

/// `Never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Never;

impl Never {
    /// `Never.ever()`.
    pub fn ever() -> Trigger {
        Trigger::Never
    }
}

/// `DefaultTrigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultTrigger;

impl DefaultTrigger {
    /// `DefaultTrigger.of()`.
    pub fn of() -> Trigger {
        Trigger::Default
    }
}

impl Trigger {
    /// `self.orFinally(until)`: `self` until `until` fires.
    pub fn or_finally(self, until: impl Into<Trigger>) -> Trigger {
        Trigger::OrFinally {
            main: Box::new(self),
            until: Box::new(until.into()),
        }
    }
}

impl fmt::Display for TimeTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeTransform::Delay(d) => write!(f, ".plusDelayOf({d})"),
            TimeTransform::AlignTo { period, offset } if *offset == Timestamp::EPOCH => {
                write!(f, ".alignedTo({period})")
            }
            TimeTransform::AlignTo { period, offset } => write!(f, ".alignedTo({period}, {offset})"),
        }
    }
}

impl fmt::Display for Trigger {
    /// Beam's Java spelling, with this project's durations (`10s`) and instants (`2024-04-28T23:12:40.000`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, triggers: &[Trigger]| -> fmt::Result {
            for (i, t) in triggers.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{t}")?;
            }
            Ok(())
        };
        match self {
            Trigger::Default => f.write_str("DefaultTrigger.of()"),
            Trigger::AfterWatermark { early, late } => {
                f.write_str("AfterWatermark.pastEndOfWindow()")?;
                if let Some(early) = early {
                    write!(f, ".withEarlyFirings({early})")?;
                }
                if let Some(late) = late {
                    write!(f, ".withLateFirings({late})")?;
                }
                Ok(())
            }
            Trigger::AfterProcessingTime { transforms } => {
                f.write_str("AfterProcessingTime.pastFirstElementInPane()")?;
                transforms.iter().try_for_each(|t| write!(f, "{t}"))
            }
            Trigger::AfterPane { count } => write!(f, "AfterPane.elementCountAtLeast({count})"),
            Trigger::Repeatedly(t) => write!(f, "Repeatedly.forever({t})"),
            Trigger::AfterEach(ts) => {
                f.write_str("AfterEach.inOrder(")?;
                list(f, ts)?;
                f.write_str(")")
            }
            Trigger::AfterFirst(ts) => {
                f.write_str("AfterFirst.of(")?;
                list(f, ts)?;
                f.write_str(")")
            }
            Trigger::AfterAll(ts) => {
                f.write_str("AfterAll.of(")?;
                list(f, ts)?;
                f.write_str(")")
            }
            Trigger::OrFinally { main, until } => write!(f, "{main}.orFinally({until})"),
            Trigger::Never => f.write_str("Never.ever()"),
        }
    }
}

/// What a window emits when its state is dropped and its trigger has not fired since the last pane:
/// Beam's `Window.ClosingBehavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClosingBehavior {
    /// `FIRE_ALWAYS`: a final pane, even an empty one.
    FireAlways,
    /// `FIRE_IF_NON_EMPTY` (Beam's default): a final pane only if it holds new elements.
    #[default]
    FireIfNonEmpty,
}

/// Whether the on-time pane fires when it holds nothing new: Beam's `Window.OnTimeBehavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnTimeBehavior {
    /// `FIRE_ALWAYS` (Beam's default): the on-time pane fires even when empty.
    #[default]
    FireAlways,
    /// `FIRE_IF_NON_EMPTY`: only when it holds elements since the last pane.
    FireIfNonEmpty,
}

impl fmt::Display for ClosingBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosingBehavior::FireAlways => "FIRE_ALWAYS",
            ClosingBehavior::FireIfNonEmpty => "FIRE_IF_NON_EMPTY",
        })
    }
}

impl fmt::Display for OnTimeBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnTimeBehavior::FireAlways => "FIRE_ALWAYS",
            OnTimeBehavior::FireIfNonEmpty => "FIRE_IF_NON_EMPTY",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_prints_in_beams_java_spelling() {
        let aligned = AfterProcessingTime::past_first_element_in_pane()
            .plus_delay_of(Duration::millis(1500))
            .aligned_to(Duration::minutes(1), Timestamp::EPOCH);
        assert_eq!(
            Trigger::from(aligned.clone()).to_string(),
            "AfterProcessingTime.pastFirstElementInPane().plusDelayOf(1500ms).alignedTo(1m)"
        );
        let combined = AfterEach::in_order([
            AfterFirst::of([AfterPane::element_count_at_least(2), Never::ever()]),
            AfterAll::of([Trigger::from(aligned), DefaultTrigger::of()]),
        ])
        .or_finally(AfterWatermark::past_end_of_window());
        assert_eq!(
            combined.to_string(),
            "AfterEach.inOrder(AfterFirst.of(AfterPane.elementCountAtLeast(2), Never.ever()), \
             AfterAll.of(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(1500ms).alignedTo(1m), \
             DefaultTrigger.of())).orFinally(AfterWatermark.pastEndOfWindow())"
        );
        assert_eq!(ClosingBehavior::default().to_string(), "FIRE_IF_NON_EMPTY");
        assert_eq!(OnTimeBehavior::default().to_string(), "FIRE_ALWAYS");
    }
}
