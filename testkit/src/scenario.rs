//! Scenario files of the traffic pipeline: a script in the scenario format and the options it runs
//! with, as the data-driven snapshot test reads them.
//!
//! A scenario is `name.jsonl`, the file `simulate --file` replays. Options that are not part of the
//! script (windows, trigger, allowed lateness, accumulation, closing and on-time behaviour) go in an
//! optional sidecar `name.flags` holding the very `simulate` flags the scenario needs, so that the same
//! case replays from the command line:
//!
//! ```text
//! # early_panes.flags: lines starting with '#' are comments
//! --windows fixed:20s --allowed-lateness 30s --accumulating
//! --trigger AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterPane.elementCountAtLeast(2))
//! --closing-behavior FIRE_ALWAYS
//! ```
//!
//! `simulate --file early_panes.jsonl --pane-info $(grep -v '^#' early_panes.flags)` then prints the
//! panes the snapshot holds. Supported flags, spelt and read as `simulate` reads them
//! ([`pipeline::windowing`]): `--window <duration>` or `--windows fixed:SIZE|sliding:SIZE,PERIOD|
//! sessions:GAP|global`, `--trigger <Beam's Java spelling>`, `--allowed-lateness <duration>`,
//! `--accumulating`, `--closing-behavior FIRE_ALWAYS|FIRE_IF_NON_EMPTY` and `--on-time-behavior
//! FIRE_ALWAYS|FIRE_IF_NON_EMPTY` (also as `--flag=value`). The sidecar is split at whitespace, as the
//! shell splits `$(grep ..)`, so a trigger is written without spaces (`AfterEach.inOrder(A,B)`).
//! Anything else is an error, so that a sidecar never silently means less than it says. No sidecar
//! means the seed's pipeline: 20 s fixed windows, the default trigger, no allowed lateness, discarding
//! panes.

use std::path::Path;

use pipeline::strategy::AccumulationMode;
use pipeline::traffic::{windowed_traffic_pipeline, TrafficPipeline};
use pipeline::windowing::{WindowSpec, Windowing};

use crate::stream::{ScriptError, TestStream};

/// A scenario file with its options.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficScenario {
    /// The file name without `.jsonl`.
    pub name: String,
    /// The script.
    pub stream: TestStream,
    /// The windowing the `.flags` sidecar names, or the seed's.
    pub windowing: Windowing,
    /// The sidecar's flags on one line without comments, empty without a sidecar.
    pub flags: String,
}

impl TrafficScenario {
    /// Loads `path` (a `.jsonl` scenario) and its `.flags` sidecar, if any.
    pub fn load(path: impl AsRef<Path>) -> Result<TrafficScenario, ScriptError> {
        let path = path.as_ref();
        let stream = TestStream::load(path)?;
        let sidecar = path.with_extension("flags");
        let flags = match std::fs::read_to_string(&sidecar) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ScriptError::Io {
                    action: "read",
                    path: sidecar.display().to_string(),
                    message: e.to_string(),
                })
            }
        };
        let windowing = parse_flags(&flags).map_err(|message| ScriptError::Flags {
            path: sidecar.display().to_string(),
            message,
        })?;
        Ok(TrafficScenario {
            name: path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
            stream,
            windowing,
            flags,
        })
    }

    /// The traffic pipeline (page views per user) under the scenario's windowing.
    pub fn pipeline(&self) -> TrafficPipeline {
        windowed_traffic_pipeline(self.windowing.strategy())
    }
}

/// Reads the supported `simulate` flags into a [`Windowing`], starting from the seed's.
///
/// ```
/// use pipeline::{strategy::AccumulationMode, time::Duration, trigger::ClosingBehavior, windowing::WindowSpec};
/// let windowing = testkit::scenario::parse_flags(
///     "--windows=sessions:10s --allowed-lateness 30s --accumulating --closing-behavior FIRE_ALWAYS \
///      --trigger Repeatedly.forever(AfterPane.elementCountAtLeast(2))",
/// )
/// .unwrap();
/// assert_eq!(windowing.windows, WindowSpec::Sessions(Duration::seconds(10)));
/// assert_eq!(windowing.allowed_lateness, Duration::seconds(30));
/// assert_eq!(windowing.accumulation, AccumulationMode::Accumulating);
/// assert_eq!(windowing.closing_behavior, ClosingBehavior::FireAlways);
/// assert_eq!(windowing.trigger.to_string(), "Repeatedly.forever(AfterPane.elementCountAtLeast(2))");
/// assert!(testkit::scenario::parse_flags("--reorder 3").is_err());
/// ```
pub fn parse_flags(flags: &str) -> Result<Windowing, String> {
    let mut windowing = Windowing::default();
    let mut windows_flag: Option<&str> = None;
    let mut words = flags.split_whitespace();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (word, None),
        };
        let mut value = || {
            inline
                .or_else(|| words.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--window" | "--windows" => {
                if let Some(earlier) = windows_flag {
                    return Err(format!("{flag} and {earlier} both set the windows; give one"));
                }
                windows_flag = Some(flag);
                windowing.windows = if flag == "--window" {
                    let size = parse_duration(flag, value()?)?;
                    if size <= pipeline::time::Duration::ZERO {
                        return Err(format!("--window must be longer than zero, got {size}"));
                    }
                    WindowSpec::Fixed(size)
                } else {
                    value()?.parse().map_err(|e| format!("--windows: {e}"))?
                };
            }
            "--allowed-lateness" => {
                let lateness = parse_duration(flag, value()?)?;
                if lateness < pipeline::time::Duration::ZERO {
                    return Err(format!("--allowed-lateness cannot be negative, got {lateness}"));
                }
                windowing.allowed_lateness = lateness;
            }
            "--accumulating" if inline.is_none() => windowing.accumulation = AccumulationMode::Accumulating,
            "--trigger" => {
                let text = value()?;
                windowing.trigger = text.parse().map_err(|e| {
                    format!(
                        "--trigger {text}: {e}\n(a sidecar is split at whitespace, as the shell splits it: \
                         write the trigger without spaces)"
                    )
                })?;
            }
            "--closing-behavior" => {
                windowing.closing_behavior = value()?.parse().map_err(|e| format!("--closing-behavior: {e}"))?
            }
            "--on-time-behavior" => {
                windowing.on_time_behavior = value()?.parse().map_err(|e| format!("--on-time-behavior: {e}"))?
            }
            _ => {
                return Err(format!(
                    "unsupported flag {word:?}: a scenario sidecar takes --window <duration> or --windows <windows>, \
                     --trigger <trigger>, --allowed-lateness <duration>, --accumulating, \
                     --closing-behavior <behavior> and --on-time-behavior <behavior>"
                ))
            }
        }
    }
    Ok(windowing)
}

fn parse_duration(flag: &str, text: &str) -> Result<pipeline::time::Duration, String> {
    text.parse().map_err(|e| format!("{flag}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::time::Duration;
    use pipeline::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};

    #[test]
    fn no_flags_mean_the_seeds_pipeline() {
        let windowing = parse_flags("").unwrap();
        assert_eq!(windowing, Windowing::default());
        assert_eq!(windowing.windows, WindowSpec::Fixed(Duration::seconds(20)));
        assert_eq!(windowing.trigger, Trigger::Default);
    }

    #[test]
    fn every_windowing_flag_of_simulate_is_read_as_simulate_reads_it() {
        let windowing = parse_flags(
            "--window 10s --allowed-lateness=1m --accumulating \
             --trigger=AfterEach.inOrder(AfterPane.elementCountAtLeast(2),AfterProcessingTime.pastFirstElementInPane().plusDelayOf(5s)) \
             --closing-behavior=FIRE_ALWAYS --on-time-behavior FIRE_IF_NON_EMPTY",
        )
        .unwrap();
        assert_eq!(windowing.windows, WindowSpec::Fixed(Duration::seconds(10)));
        assert_eq!(windowing.allowed_lateness, Duration::minutes(1));
        assert_eq!(windowing.accumulation, AccumulationMode::Accumulating);
        assert_eq!(
            windowing.trigger.to_string(),
            "AfterEach.inOrder(AfterPane.elementCountAtLeast(2), \
             AfterProcessingTime.pastFirstElementInPane().plusDelayOf(5s))"
        );
        assert_eq!(windowing.closing_behavior, ClosingBehavior::FireAlways);
        assert_eq!(windowing.on_time_behavior, OnTimeBehavior::FireIfNonEmpty);
        for (flags, spec) in [
            ("--windows global", WindowSpec::Global),
            ("--windows sessions:30s", WindowSpec::Sessions(Duration::seconds(30))),
            (
                "--windows=sliding:1m,20s",
                WindowSpec::Sliding {
                    size: Duration::minutes(1),
                    period: Duration::seconds(20),
                },
            ),
        ] {
            assert_eq!(parse_flags(flags).unwrap().windows, spec, "{flags}");
        }
    }

    #[test]
    fn a_bad_sidecar_says_which_flag_and_why() {
        for (flags, expected) in [
            ("--windows tumbling:20s", "--windows: bad windows \"tumbling:20s\""),
            ("--window 0s", "--window must be longer than zero"),
            (
                "--window 10s --windows global",
                "--windows and --window both set the windows",
            ),
            (
                "--trigger Repeatedly.forever(AfterPane.elementCount(3))",
                "expected `elementCountAtLeast`",
            ),
            (
                "--trigger AfterEach.inOrder(AfterPane.elementCountAtLeast(1), Never.ever())",
                "write the trigger without spaces",
            ),
            (
                "--closing-behavior ALWAYS",
                "--closing-behavior: expected FIRE_ALWAYS or FIRE_IF_NON_EMPTY",
            ),
            ("--on-time-behavior", "--on-time-behavior needs a value"),
            ("--allowed-lateness -1s", "--allowed-lateness"),
            ("--accumulating=yes", "unsupported flag \"--accumulating=yes\""),
            ("--reorder 3", "unsupported flag \"--reorder\""),
        ] {
            let message = parse_flags(flags).unwrap_err();
            assert!(message.contains(expected), "{flags}: {message}");
        }
    }
}
