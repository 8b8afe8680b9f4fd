//! Event time, durations and the watermark, as plain values.
//!
//! Everything in the core measures time in whole milliseconds since the Unix epoch, UTC, the way Beam's
//! `Instant` does. This module owns those value types, the parsing of the `event_datetime` text form
//! (`2024-04-28T23:12:50.484`, no zone, read as UTC), the human duration form used on command lines
//! (`500ms`, `20s`, `1m`) and the output forms of window bounds. Nothing here reads a clock.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime};

/// The earliest timestamp an element can carry: Beam's `BoundedWindow.TIMESTAMP_MIN_VALUE`,
/// −9223372036854775 ms (the microsecond range of an `i64`, in milliseconds). Elements before it are
/// refused (dead-lettered by a pipeline, a [`TimestampRangeError`] for a test script).
pub const TIMESTAMP_MIN_VALUE: Timestamp = Timestamp(-9_223_372_036_854_775);

/// The first timestamp an element can no longer carry: Beam's `BoundedWindow.TIMESTAMP_MAX_VALUE`,
/// 9223372036854775 ms. Element timestamps lie in `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`.
pub const TIMESTAMP_MAX_VALUE: Timestamp = Timestamp(9_223_372_036_854_775);

/// The global window's max timestamp: Beam's `GlobalWindow.INSTANCE.maxTimestamp()`,
/// [`TIMESTAMP_MAX_VALUE`] − 1 day. Fixed and sliding windows end at `END_OF_GLOBAL_WINDOW + 1 ms` at
/// the latest (Beam caps the last fixed window there), and garbage collection happens by this instant
/// at the latest, so a window never waits for a watermark beyond the range of element timestamps.
pub const END_OF_GLOBAL_WINDOW: Timestamp = Timestamp(TIMESTAMP_MAX_VALUE.0 - 86_400_000);

/// An instant in event time: milliseconds since 1970-01-01T00:00:00Z.
///
/// `Timestamp::MIN` and `Timestamp::MAX` (`i64::MIN` and `i64::MAX`) stand for −∞ and +∞, the ends a
/// watermark starts and finishes at; arithmetic saturates at both so that "end − 1 ms + allowed
/// lateness" can never wrap around. Elements carry timestamps in the narrower range
/// `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`, Beam's, checked by [`Timestamp::check_element_time`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// −∞: earlier than every element.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// +∞: later than every element. A watermark here has flushed every window.
    pub const MAX: Timestamp = Timestamp(i64::MAX);
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The instant `millis` milliseconds after the epoch (negative is before it).
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// True for −∞ and +∞.
    pub const fn is_infinite(self) -> bool {
        self.0 == i64::MIN || self.0 == i64::MAX
    }

    /// True when an element may carry this timestamp: `TIMESTAMP_MIN_VALUE <= self < TIMESTAMP_MAX_VALUE`.
    pub const fn is_element_time(self) -> bool {
        TIMESTAMP_MIN_VALUE.0 <= self.0 && self.0 < TIMESTAMP_MAX_VALUE.0
    }

    /// `Ok` when an element may carry this timestamp (Beam's bounds, [`TIMESTAMP_MIN_VALUE`] inclusive
    /// to [`TIMESTAMP_MAX_VALUE`] exclusive), otherwise why not.
    ///
    /// ```
    /// use pipeline::time::{Timestamp, TIMESTAMP_MAX_VALUE};
    /// assert!(Timestamp::from_millis(1_714_345_970_484).check_element_time().is_ok());
    /// let err = TIMESTAMP_MAX_VALUE.check_element_time().unwrap_err();
    /// assert!(err.to_string().contains("not before the end of time"), "{err}");
    /// ```
    pub fn check_element_time(self) -> Result<Timestamp, TimestampRangeError> {
        if self.is_element_time() {
            Ok(self)
        } else {
            Err(TimestampRangeError { timestamp: self })
        }
    }

    /// `self + d`, saturating at ±∞.
    pub const fn plus(self, d: Duration) -> Timestamp {
        if self.is_infinite() {
            return self;
        }
        Timestamp(self.0.saturating_add(d.0))
    }

    /// `self − d`, saturating at ±∞.
    pub const fn minus(self, d: Duration) -> Timestamp {
        if self.is_infinite() {
            return self;
        }
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// Parses an `event_datetime`: `YYYY-MM-DDTHH:MM:SS` with an optional fraction of 1 to 9 digits, read
    /// as UTC and truncated to the millisecond. A space may stand for the `T` and a trailing `Z` is
    /// accepted; any other zone or shape is an error.
    ///
    /// ```
    /// use pipeline::time::Timestamp;
    /// let t = Timestamp::parse_datetime("2024-04-28T23:12:50.484").unwrap();
    /// assert_eq!(t.millis(), 1_714_345_970_484);
    /// assert_eq!(t.to_string(), "2024-04-28T23:12:50.484");
    /// ```
    ///
    /// Years run from 0000 to 9999, the four-digit years of ISO 8601's proleptic Gregorian calendar (as
    /// Java's and chrono's parsers read them; Python's `datetime` starts at year 1). The error says what
    /// is wrong and where:
    ///
    /// ```
    /// use pipeline::time::Timestamp;
    /// let err = Timestamp::parse_datetime("2024-02-30T00:00:00").unwrap_err();
    /// assert_eq!(err.to_string(), "bad datetime \"2024-02-30T00:00:00\": February 2024 has 29 days, not 30");
    /// ```
    pub fn parse_datetime(text: &str) -> Result<Timestamp, DateTimeError> {
        parse_fixed_datetime(text.as_bytes()).ok_or_else(|| DateTimeError {
            text: text.chars().take(64).collect(),
            reason: diagnose_datetime(text),
        })
    }

    /// The instant as `YYYY-MM-DDTHH:MM:SS`, UTC, no zone suffix: the seed's
    /// `isoformat(timespec="seconds")` of a window bound.
    pub fn format_seconds(self) -> String {
        self.format_fixed(b'T', false)
    }

    /// The instant as `YYYY-MM-DD HH:MM:SS`: Beam SQL's `CAST(timestamp AS VARCHAR)`.
    pub fn format_sql(self) -> String {
        self.format_fixed(b' ', false)
    }

    /// The instant as `YYYY-MM-DDTHH:MM:SS.mmm`, the `event_datetime` form.
    pub fn format_millis(self) -> String {
        self.format_fixed(b'T', true)
    }

    /// Appends the `event_datetime` form (`YYYY-MM-DDTHH:MM:SS.mmm`) to `out` without allocating.
    pub fn write_millis(self, out: &mut Vec<u8>) {
        match self.fixed_bytes(b'T') {
            Some(buf) => out.extend_from_slice(&buf),
            None => out.extend_from_slice(self.format_millis().as_bytes()),
        }
    }

    /// Formats years 0 to 9999 by hand (this runs once per pane, where chrono's formatting machinery
    /// dominated the profile); other instants and the infinities go through chrono.
    fn format_fixed(self, separator: u8, millis: bool) -> String {
        if let Some(buf) = self.fixed_bytes(separator) {
            let len = if millis { 23 } else { 19 };
            return String::from_utf8(buf[..len].to_vec()).expect("ASCII digits");
        }
        let pattern = match (separator, millis) {
            (b' ', false) => "%Y-%m-%d %H:%M:%S",
            (_, false) => "%Y-%m-%dT%H:%M:%S",
            _ => "%Y-%m-%dT%H:%M:%S%.3f",
        };
        self.format_with(pattern)
    }

    fn fixed_bytes(self, separator: u8) -> Option<[u8; 23]> {
        // 0000-01-01 to 9999-12-31, the years that print as four digits.
        const FIRST: i64 = -62_167_219_200_000;
        const LAST: i64 = 253_402_300_799_999;
        if !(FIRST..=LAST).contains(&self.0) {
            return None;
        }
        let days = self.0.div_euclid(86_400_000);
        let of_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let mut buf = *b"0000-00-00T00:00:00.000";
        buf[10] = separator;
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, of_day / 3_600_000);
        put(14, 2, of_day / 60_000 % 60);
        put(17, 2, of_day / 1000 % 60);
        put(20, 3, of_day % 1000);
        Some(buf)
    }

    fn format_with(self, pattern: &str) -> String {
        match self {
            Timestamp::MIN => "-inf".to_owned(),
            Timestamp::MAX => "+inf".to_owned(),
            t => match DateTime::from_timestamp_millis(t.0) {
                Some(dt) => dt.naive_utc().format(pattern).to_string(),
                None => format!("{}ms", t.0),
            },
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_millis())
    }
}

impl FromStr for Timestamp {
    type Err = DateTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_datetime(s)
    }
}

/// An element timestamp outside `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`. The message reads
/// "9223372036854775 ms since the epoch is not before the end of time: element timestamps must lie in …".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_out_of_range(*timestamp))]
pub struct TimestampRangeError {
    /// The refused timestamp.
    pub timestamp: Timestamp,
}

fn describe_out_of_range(t: Timestamp) -> String {
    let side = if t.0 < TIMESTAMP_MIN_VALUE.0 {
        "before the beginning of time"
    } else {
        "not before the end of time"
    };
    let shown = match t {
        Timestamp::MIN | Timestamp::MAX => t.format_millis(),
        _ => format!("{} ms since the epoch", t.0),
    };
    format!(
        "{shown} is {side}: element timestamps must lie in [TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE) = \
         [{} ms, {} ms), as in Beam",
        TIMESTAMP_MIN_VALUE.0, TIMESTAMP_MAX_VALUE.0
    )
}

/// A datetime that is not of the `event_datetime` form: the text (its first 64 characters) and what is
/// wrong with it, where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad datetime {text:?}: {reason}")]
pub struct DateTimeError {
    text: String,
    reason: String,
}

/// The `event_datetime` layout, one class per character.
const DATETIME_LAYOUT: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
const DATETIME_FORM: &str = "expected YYYY-MM-DDTHH:MM:SS[.fff], UTC, no zone";

/// Says why `text` is not an `event_datetime`, and where. Only called once parsing has failed, so it
/// can take its time.
fn diagnose_datetime(text: &str) -> String {
    let b = text.as_bytes();
    let year_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if matches!(b.first(), Some(b'+' | b'-')) {
        return format!("a signed year is not accepted: years run from 0000 to 9999; {DATETIME_FORM}");
    }
    if year_digits > 4 && b.get(year_digits) == Some(&b'-') {
        return format!(
            "the year {} has more than four digits: years run from 0000 to 9999",
            &text[..year_digits]
        );
    }
    for (i, &class) in DATETIME_LAYOUT.iter().enumerate() {
        let Some(&c) = b.get(i) else {
            return if b.is_empty() {
                format!("the text is empty; {DATETIME_FORM}")
            } else {
                format!(
                    "the text ends after {} characters; {DATETIME_FORM}",
                    text.chars().count()
                )
            };
        };
        let (fits, wanted) = match class {
            b'd' => (c.is_ascii_digit(), "a digit".to_owned()),
            b'T' => (c == b'T' || c == b' ', "'T' (or a space)".to_owned()),
            _ => (c == class, format!("'{}'", class as char)),
        };
        if !fits {
            let found = text.get(i..).and_then(|rest| rest.chars().next()).unwrap_or('\u{FFFD}');
            return format!("character {} is {found:?}, expected {wanted}; {DATETIME_FORM}", i + 1);
        }
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().expect("checked digits");
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    if !(1..=12).contains(&month) {
        return format!("month {month:02} does not exist (01 to 12)");
    }
    if day < 1 || day > days_in_month(year, month) {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        return format!(
            "{} {year:04} has {} days, not {day}",
            MONTHS[(month - 1) as usize],
            days_in_month(year, month)
        );
    }
    if hour > 23 {
        return format!("hour {hour:02} is out of range (00 to 23)");
    }
    if minute > 59 {
        return format!("minute {minute:02} is out of range (00 to 59)");
    }
    if second > 59 {
        return format!("second {second:02} is out of range (00 to 59; leap seconds are not accepted)");
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return "the '.' after the seconds has no digits after it".to_owned();
        }
        if digits > 9 {
            return format!("the fraction of a second has {digits} digits, more than 9");
        }
        rest = &fraction[digits..];
    }
    if rest.starts_with(['+', '-']) {
        return format!("the zone offset {rest:?} is not accepted: event_datetime has no zone and is read as UTC");
    }
    format!("unexpected {rest:?} after the seconds; {DATETIME_FORM}")
}

/// Parses the fixed `event_datetime` layout by hand: it runs once per record on the hot path, where
/// chrono's format-string parser costs more than the rest of the record. `chrono` stays the fallback for
/// the rarer shapes (a trailing `Z`) and the reference that the tests compare against.
fn parse_fixed_datetime(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 19 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (i, &c) in frac[..n].iter().take(3).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &frac[n..];
    }
    match rest {
        [] => {}
        [b'Z'] => {}
        _ => return fallback_chrono(b),
    }
    let days = days_from_civil(year, month, day);
    Some(Timestamp(
        ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis,
    ))
}

fn fallback_chrono(b: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(b).ok()?;
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|dt| Timestamp(dt.and_utc().timestamp_millis()))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A span of time in milliseconds: window sizes, periods, allowed lateness, out-of-orderness bounds.
///
/// Parses from and prints as `500ms`, `20s`, `1m`, `2h` (and `0`); bare numbers are refused so that
/// `--window 20` cannot silently mean 20 ms.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// `ms` milliseconds.
    pub const fn millis(ms: i64) -> Duration {
        Duration(ms)
    }

    /// `s` seconds.
    pub const fn seconds(s: i64) -> Duration {
        Duration(s * 1000)
    }

    /// `m` minutes.
    pub const fn minutes(m: i64) -> Duration {
        Duration(m * 60_000)
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms != 0 && ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms != 0 && ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// A duration that is not of the `500ms` / `20s` / `1m` / `2h` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad duration {0:?}: expected a whole number with a unit, like 500ms, 20s, 1m or 2h")]
pub struct DurationError(String);

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(s.to_owned());
        let t = s.trim();
        if t == "0" {
            return Ok(Duration::ZERO);
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let n: i64 = num.parse().map_err(|_| err())?;
        let factor = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(err()),
        };
        n.checked_mul(factor).map(Duration).ok_or_else(err)
    }
}

/// The event-time watermark: "no element with an earlier timestamp is expected any more".
///
/// It starts at −∞, only moves forward, and +∞ means the input is complete. It is a separate type from
/// [`Timestamp`] so that every place the watermark moves is easy to find.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Watermark(Timestamp);

impl Watermark {
    /// Nothing is known yet: every element is on time.
    pub const MIN: Watermark = Watermark(Timestamp::MIN);
    /// The input is complete: every window has fired and been dropped.
    pub const MAX: Watermark = Watermark(Timestamp::MAX);

    /// The watermark at `t`.
    pub const fn at(t: Timestamp) -> Watermark {
        Watermark(t)
    }

    /// The instant the watermark stands at.
    pub const fn timestamp(self) -> Timestamp {
        self.0
    }
}

impl fmt::Debug for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Watermark({})", self.0)
    }
}

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_seed_datetime_as_utc() {
        let t = Timestamp::parse_datetime("2024-04-28T23:12:50.484").unwrap();
        // The seed's event_ts for this line, 1714309970484, is the same wall time read in UTC+10.
        assert_eq!(t.millis(), 1_714_309_970_484 + 10 * 3_600_000);
        assert_eq!(t.format_seconds(), "2024-04-28T23:12:50");
        assert_eq!(t.format_sql(), "2024-04-28 23:12:50");
    }

    #[test]
    fn fraction_is_optional_and_truncated_to_the_millisecond() {
        let whole = Timestamp::parse_datetime("2024-04-28T23:12:50").unwrap();
        assert_eq!(
            Timestamp::parse_datetime("2024-04-28T23:12:50.4").unwrap(),
            whole.plus(Duration::millis(400))
        );
        assert_eq!(
            Timestamp::parse_datetime("2024-04-28T23:12:50.123999").unwrap(),
            whole.plus(Duration::millis(123))
        );
        assert_eq!(Timestamp::parse_datetime("2024-04-28 23:12:50Z").unwrap(), whole);
    }

    #[test]
    fn rejects_bad_datetimes() {
        for bad in [
            "",
            "2024-04-28",
            "2024-13-01T00:00:00",
            "2024-02-30T00:00:00",
            "2023-02-29T00:00:00",
            "2024-04-28T24:00:00",
            "2024-04-28T23:60:00",
            "2024-04-28T23:12:50.",
            "2024-04-28T23:12:50+02:00",
            "28/04/2024 23:12:50",
            "2024-04-28T23:12:5x",
        ] {
            assert!(Timestamp::parse_datetime(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Timestamp::parse_datetime("2024-02-29T00:00:00").is_ok());
    }

    #[test]
    fn bad_datetimes_say_what_is_wrong_and_where() {
        for (bad, reason) in [
            ("", "the text is empty"),
            ("2024-04-28", "the text ends after 10 characters"),
            (
                "10000-01-01T00:00:00",
                "the year 10000 has more than four digits: years run from 0000 to 9999",
            ),
            ("+2024-01-01T00:00:00", "a signed year is not accepted"),
            ("2024-13-01T00:00:00", "month 13 does not exist (01 to 12)"),
            ("2024-02-30T00:00:00", "February 2024 has 29 days, not 30"),
            ("2023-02-29T00:00:00", "February 2023 has 28 days, not 29"),
            ("2024-04-31T00:00:00", "April 2024 has 30 days, not 31"),
            ("2024-04-28T24:00:00", "hour 24 is out of range (00 to 23)"),
            ("2024-04-28T23:60:00", "minute 60 is out of range"),
            (
                "2024-04-28T23:59:60",
                "second 60 is out of range (00 to 59; leap seconds are not accepted)",
            ),
            (
                "2024-04-28T23:12:50.",
                "the '.' after the seconds has no digits after it",
            ),
            (
                "2024-04-28T23:12:50.1234567891",
                "the fraction of a second has 10 digits, more than 9",
            ),
            (
                "2024-04-28T23:12:50+02:00",
                "the zone offset \"+02:00\" is not accepted",
            ),
            ("2024-04-28T23:12:50 UTC", "unexpected \" UTC\" after the seconds"),
            ("28/04/2024 23:12:50", "character 3 is '/', expected a digit"),
            ("2024-04-28T23:12:5x", "character 19 is 'x', expected a digit"),
            ("2024-04-28X23:12:50", "character 11 is 'X', expected 'T' (or a space)"),
            ("2024-04-28T23:12é50", "character 17 is 'é', expected ':'"),
            ("yesterday", "character 1 is 'y', expected a digit"),
        ] {
            let err = Timestamp::parse_datetime(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("bad datetime {bad:?}: ")), "{err}");
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }

    #[test]
    fn year_zero_and_year_9999_are_the_ends_of_the_form() {
        assert_eq!(
            Timestamp::parse_datetime("0000-01-01T00:00:00").unwrap().millis(),
            -62_167_219_200_000
        );
        assert_eq!(
            Timestamp::parse_datetime("9999-12-31T23:59:59.999").unwrap().millis(),
            253_402_300_799_999
        );
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!("500ms".parse::<Duration>().unwrap(), Duration::millis(500));
        assert_eq!("20s".parse::<Duration>().unwrap(), Duration::seconds(20));
        assert_eq!("1m".parse::<Duration>().unwrap(), Duration::minutes(1));
        assert_eq!("2h".parse::<Duration>().unwrap(), Duration::minutes(120));
        assert_eq!("0".parse::<Duration>().unwrap(), Duration::ZERO);
        for bad in ["20", "s", "1.5s", "-1s", "20 s", "1d"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?}");
        }
        assert_eq!(Duration::seconds(20).to_string(), "20s");
        assert_eq!(Duration::millis(1500).to_string(), "1500ms");
        assert_eq!(Duration::minutes(1).to_string(), "1m");
    }

    #[test]
    fn arithmetic_saturates_at_infinity() {
        assert_eq!(Timestamp::MAX.plus(Duration::seconds(1)), Timestamp::MAX);
        assert_eq!(Timestamp::MIN.minus(Duration::seconds(1)), Timestamp::MIN);
        assert_eq!(
            Timestamp::from_millis(i64::MAX - 1).plus(Duration::seconds(1)),
            Timestamp::MAX
        );
    }

    /// chrono's reading of what `parse_datetime` accepts: the `T` or a space between date and time, an
    /// optional `Z`, a fraction of up to nine digits truncated to the millisecond.
    fn chrono_reading(text: &str) -> Option<i64> {
        let mut text = text.strip_suffix('Z').unwrap_or(text).to_owned();
        if text.len() > 10 && text.as_bytes()[10] == b' ' {
            text.replace_range(10..11, "T");
        }
        NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|dt| dt.and_utc().timestamp_millis())
    }

    prop_compose! {
        /// Text in the shape of a datetime, valid or not: any four-digit year, months and days past their
        /// ends, hours and minutes out of range, fractions of 0 to 9 digits, either separator, a `Z`.
        fn datetime_like()(
            year in 0u32..10_000, month in 0u32..14, day in 0u32..33, hour in 0u32..26, minute in 0u32..62,
            second in 0u32..60, fraction in "(\\.[0-9]{0,9})?", separator in "[T ]", zone in "Z?",
        ) -> String {
            format!("{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{zone}")
        }
    }

    proptest! {
        /// Leap seconds (`:60`) and fractions of more than nine digits, which chrono reads, are left out:
        /// Beam's timestamps have no leap seconds, and digits past the nanosecond mean nothing, so the
        /// parser refuses both with a reason.
        #[test]
        fn the_fixed_layout_parser_accepts_and_reads_exactly_what_chrono_does(text in datetime_like()) {
            prop_assert_eq!(Timestamp::parse_datetime(&text).ok().map(Timestamp::millis), chrono_reading(&text), "{}", text);
        }

        #[test]
        fn fast_parser_and_formatter_agree_with_chrono(ms in -62_167_219_200_000i64..253_402_300_799_999i64) {
            let dt = DateTime::from_timestamp_millis(ms).unwrap().naive_utc();
            let text = dt.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
            prop_assert_eq!(Timestamp::parse_datetime(&text).unwrap().millis(), ms);
            let t = Timestamp::from_millis(ms);
            prop_assert_eq!(t.format_millis(), text.clone());
            prop_assert_eq!(t.format_seconds(), dt.format("%Y-%m-%dT%H:%M:%S").to_string());
            prop_assert_eq!(t.format_sql(), dt.format("%Y-%m-%d %H:%M:%S").to_string());
            let mut out = Vec::new();
            t.write_millis(&mut out);
            prop_assert_eq!(out, text.into_bytes());
        }
    }
}
