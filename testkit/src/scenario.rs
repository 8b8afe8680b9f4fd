//! Scenario files of the traffic pipeline: a script in the scenario format and the options it runs
//! with, as the data-driven snapshot test reads them.
//!
//! A scenario is `name.jsonl`, the file `simulate --file` replays. Options that are not part of the
//! script (window size, allowed lateness, accumulation) go in an optional sidecar `name.flags` holding
//! the very `simulate` flags the scenario needs, so that the same case replays from the command line:
//!
//! ```text
//! # late_within_allowed_lateness.flags: lines starting with '#' are comments
//! --allowed-lateness 30s --accumulating
//! ```
//!
//! `simulate --file late_within_allowed_lateness.jsonl --pane-info $(grep -v '^#' late_within_allowed_lateness.flags)`
//! then prints the panes the snapshot holds. Supported flags: `--window <duration>`,
//! `--allowed-lateness <duration>` and `--accumulating` (also as `--flag=value`); anything else is an
//! error, so that a sidecar never silently means less than it says. No sidecar means the seed's
//! pipeline: 20 s windows, no allowed lateness, discarding panes.

use std::path::Path;

use pipeline::strategy::AccumulationMode;
use pipeline::traffic::TrafficConfig;

use crate::stream::{ScriptError, TestStream};

/// A scenario file with its options.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficScenario {
    /// The file name without `.jsonl`.
    pub name: String,
    /// The script.
    pub stream: TestStream,
    /// The pipeline options from the `.flags` sidecar, or the defaults.
    pub config: TrafficConfig,
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
        let config = parse_flags(&flags).map_err(|message| ScriptError::Flags {
            path: sidecar.display().to_string(),
            message,
        })?;
        Ok(TrafficScenario {
            name: path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
            stream,
            config,
            flags,
        })
    }
}

/// Reads the supported `simulate` flags into a [`TrafficConfig`], starting from the defaults.
///
/// ```
/// use pipeline::{strategy::AccumulationMode, time::Duration};
/// let config = testkit::scenario::parse_flags("--allowed-lateness=30s --accumulating").unwrap();
/// assert_eq!(config.allowed_lateness, Duration::seconds(30));
/// assert_eq!(config.accumulation, AccumulationMode::Accumulating);
/// assert!(testkit::scenario::parse_flags("--reorder 3").is_err());
/// ```
pub fn parse_flags(flags: &str) -> Result<TrafficConfig, String> {
    let mut config = TrafficConfig::default();
    let mut words = flags.split_whitespace();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (word, None),
        };
        let mut value = || {
            inline
                .or_else(|| words.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--window" => config.window = parse_duration(flag, value()?)?,
            "--allowed-lateness" => config.allowed_lateness = parse_duration(flag, value()?)?,
            "--accumulating" if inline.is_none() => config.accumulation = AccumulationMode::Accumulating,
            _ => {
                return Err(format!(
                    "unsupported flag {word:?}: a scenario sidecar takes --window <duration>, \
                     --allowed-lateness <duration> and --accumulating"
                ))
            }
        }
    }
    Ok(config)
}

fn parse_duration(flag: &str, text: &str) -> Result<pipeline::time::Duration, String> {
    text.parse().map_err(|e| format!("{flag}: {e}"))
}
