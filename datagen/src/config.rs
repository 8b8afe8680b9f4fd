//! What a generator run is asked to produce, and the checks that make a request valid.
//!
//! This module owns [`GeneratorConfig`] (seed, users, event count, start instant, spacing, disorder and
//! fault rates), its defaults, its validation into [`ConfigError`], and the parsing of the seed's
//! decimal `--delay_seconds` form. It does not draw random numbers or render anything; the
//! [`crate::generator`] module turns a valid config into lines.

use pipeline::time::{Duration, Timestamp};

/// The most users a run may ask for; each user costs a few hundred bytes of pre-rendered JSON.
pub const MAX_USERS: u32 = 1_000_000;

/// `0000-01-01T00:00:00.000`: the earliest instant the `event_datetime` form (four-digit year) can show.
const EARLIEST_MS: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999`: the latest instant the `event_datetime` form can show.
const LATEST_MS: i64 = 253_402_300_799_999;

/// Everything that decides a run's output: two runs with equal configs write identical bytes.
///
/// Event `k` (0-based, in the order lines are written) has a *nominal* time: `start` for the first, then
/// each one a gap later, the gap drawn uniformly in whole milliseconds from `[0, 2 × mean_gap]`. Its
/// *event time* (the `event_datetime` and `event_ts` it carries) is the nominal time moved earlier by a
/// uniform offset in `[0, jitter]`, and, for the `late_fraction` of events chosen as late, by `late_by`
/// more. So arrival order differs from event-time order by at most `jitter` for on-time events, and late
/// events arrive about `late_by` after the traffic around them.
///
/// ```
/// use datagen::GeneratorConfig;
/// use pipeline::time::Duration;
///
/// let config = GeneratorConfig {
///     events: 100,
///     jitter: Duration::seconds(2),
///     ..GeneratorConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// assert_eq!(config.start.to_string(), "2024-04-28T23:12:40.000");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seeds every random draw; the same seed gives the same bytes on every machine.
    pub seed: u64,
    /// How many distinct users visit; each keeps its ip, id, city, user agent, age and marketing flag.
    pub num_users: u32,
    /// How many lines to write, malformed ones included.
    pub events: u64,
    /// The nominal time of the first event.
    pub start: Timestamp,
    /// The mean spacing between consecutive nominal times.
    pub mean_gap: Duration,
    /// The largest amount an on-time event's time may lie before its nominal time.
    pub jitter: Duration,
    /// The probability that an event is late.
    pub late_fraction: f64,
    /// How far a late event's time is moved back, on top of its jitter.
    pub late_by: Duration,
    /// The probability that a line is malformed (truncated, not an object, a field missing or of the
    /// wrong type, or a bad `event_datetime`).
    pub malformed_fraction: f64,
    /// The probability that an event carries empty-string coordinates, as the seed's data sometimes does.
    pub empty_coords_fraction: f64,
}

impl GeneratorConfig {
    /// The default first nominal time, `2024-04-28T23:12:40.000`, a few seconds before the seed's sample
    /// output, so that the default output is reproducible.
    pub const DEFAULT_START: Timestamp = Timestamp::from_millis(1_714_345_960_000);

    /// Checks the config; [`crate::Generator::new`] refuses one that fails.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.num_users == 0 || self.num_users > MAX_USERS {
            return Err(ConfigError::UserCount(self.num_users));
        }
        for (name, value) in [
            ("late fraction", self.late_fraction),
            ("malformed fraction", self.malformed_fraction),
            ("empty-coordinates fraction", self.empty_coords_fraction),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Fraction { name, value });
            }
        }
        for (name, value) in [
            ("mean gap", self.mean_gap),
            ("jitter", self.jitter),
            ("late-by", self.late_by),
        ] {
            if value < Duration::ZERO {
                return Err(ConfigError::NegativeDuration { name, value });
            }
        }
        // Every event time must have a four-digit year, so that it round-trips through `event_datetime`.
        let start = i128::from(self.start.millis());
        let earliest = start - i128::from(self.late_by.as_millis()) - i128::from(self.jitter.as_millis());
        let latest = start + i128::from(self.events.saturating_sub(1)) * 2 * i128::from(self.mean_gap.as_millis());
        if self.start.is_infinite() || earliest < i128::from(EARLIEST_MS) || latest > i128::from(LATEST_MS) {
            return Err(ConfigError::TimeRange { start: self.start });
        }
        Ok(())
    }
}

impl Default for GeneratorConfig {
    /// Seed 42, 20 users, 1000 events, 200 ms apart on average from [`GeneratorConfig::DEFAULT_START`],
    /// in order, none late, malformed or without coordinates.
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            seed: 42,
            num_users: 20,
            events: 1000,
            start: GeneratorConfig::DEFAULT_START,
            mean_gap: Duration::millis(200),
            jitter: Duration::ZERO,
            late_fraction: 0.0,
            late_by: Duration::seconds(30),
            malformed_fraction: 0.0,
            empty_coords_fraction: 0.0,
        }
    }
}

/// Why a [`GeneratorConfig`] cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The user count is zero or above [`MAX_USERS`].
    #[error("number of users must be between 1 and {MAX_USERS}, got {0}")]
    UserCount(u32),
    /// A probability outside `[0, 1]`.
    #[error("{name} must be between 0 and 1, got {value}")]
    Fraction {
        /// Which fraction.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A negative duration (only reachable through the library API; the text form has no sign).
    #[error("{name} must not be negative, got {value}")]
    NegativeDuration {
        /// Which duration.
        name: &'static str,
        /// The value given.
        value: Duration,
    },
    /// Some event time would fall outside the years 0000 to 9999.
    #[error("start {start} with this many events, gap, jitter and lateness leaves the years 0000-9999")]
    TimeRange {
        /// The start instant given.
        start: Timestamp,
    },
}

/// Parses a non-negative decimal number of seconds, such as the seed's `--delay_seconds 0.5`, to the
/// millisecond, without going through floating point.
///
/// ```
/// use datagen::config::parse_decimal_seconds;
/// use pipeline::time::Duration;
/// assert_eq!(parse_decimal_seconds("0.5").unwrap(), Duration::millis(500));
/// assert_eq!(parse_decimal_seconds("2").unwrap(), Duration::seconds(2));
/// assert!(parse_decimal_seconds("0.0001").is_err());
/// ```
pub fn parse_decimal_seconds(text: &str) -> Result<Duration, SecondsError> {
    let err = || SecondsError(text.to_owned());
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !all_digits(whole)
        || !all_digits(frac)
        || frac.len() > 3
        || (text.contains('.') && frac.is_empty())
    {
        return Err(err());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| err())?
    };
    let frac_ms = frac
        .bytes()
        .zip([100, 10, 1])
        .map(|(b, scale)| i64::from(b - b'0') * scale)
        .sum::<i64>();
    whole
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(frac_ms))
        .map(Duration::millis)
        .ok_or_else(err)
}

/// A `--delay_seconds` value that is not a non-negative decimal with at most three decimals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad number of seconds {0:?}: expected a non-negative decimal with at most 3 decimals, like 0.5")]
pub struct SecondsError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_start_is_the_documented_instant() {
        assert_eq!(
            GeneratorConfig::DEFAULT_START,
            Timestamp::parse_datetime("2024-04-28T23:12:40.000").unwrap()
        );
    }

    #[test]
    fn decimal_seconds_parse_to_the_millisecond() {
        for (text, ms) in [
            ("0.5", 500),
            ("2", 2000),
            ("1.25", 1250),
            ("0.001", 1),
            (".5", 500),
            ("0", 0),
            (" 3.000 ", 3000),
        ] {
            assert_eq!(parse_decimal_seconds(text).unwrap(), Duration::millis(ms), "{text}");
        }
        for bad in ["", ".", "1.", "-1", "1e3", "0.0005", "abc", "1.2.3", "NaN"] {
            assert!(parse_decimal_seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_configs_say_what_is_wrong() {
        let base = GeneratorConfig::default();
        let cases = [
            (
                GeneratorConfig {
                    num_users: 0,
                    ..base.clone()
                },
                "number of users",
            ),
            (
                GeneratorConfig {
                    late_fraction: 1.5,
                    ..base.clone()
                },
                "late fraction must be between 0 and 1, got 1.5",
            ),
            (
                GeneratorConfig {
                    malformed_fraction: f64::NAN,
                    ..base.clone()
                },
                "malformed fraction",
            ),
            (
                GeneratorConfig {
                    jitter: Duration::millis(-1),
                    ..base.clone()
                },
                "jitter must not be negative",
            ),
            (
                GeneratorConfig {
                    start: Timestamp::from_millis(LATEST_MS),
                    ..base.clone()
                },
                "leaves the years 0000-9999",
            ),
            (
                GeneratorConfig {
                    start: Timestamp::from_millis(EARLIEST_MS),
                    ..base.clone()
                },
                "leaves the years 0000-9999",
            ),
        ];
        for (config, expected) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
