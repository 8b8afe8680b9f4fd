//! Target `durations_and_datetimes`: arbitrary text as a duration (`20s`), a watermark strategy
//! (`bounded:5s`) and an `event_datetime` (`2024-04-28T23:12:50.484`).
//!
//! Each parser is checked against its documented form, written out independently here: a duration is
//! `0` or a whole number with `ms`, `s`, `m` or `h` (surrounding whitespace allowed) that fits in
//! milliseconds, and prints back to itself; a strategy is `explicit`, `perfect`, `bounded` or
//! `bounded:<duration>`, and prints back to itself; a datetime is `YYYY-MM-DD` then `T` or a space, then
//! `HH:MM:SS`, an optional fraction of 1 to 9 digits and an optional `Z`, with every field in range.
//! The hand-written datetime parser must accept exactly that form, agree with chrono (truncated to the
//! millisecond) on it, and print back to the same instant.

use std::str::FromStr;

use arbitrary::{Result, Unstructured};
use chrono::NaiveDateTime;
use pipeline::time::{Duration, Timestamp};
use pipeline::watermark::WatermarkStrategy;

use crate::generate;

/// Units, separators and boundary values worth splicing in.
pub const DICTIONARY: &[&str] = &[
    "ms",
    "s",
    "m",
    "h",
    "bounded:",
    "explicit",
    "perfect",
    "bounded",
    "2024-04-28T23:12:50.484",
    "0000-01-01T00:00:00",
    "9999-12-31T23:59:59.999999999",
    "2024-02-29",
    "2023-02-29",
    "T",
    " ",
    "Z",
    ".",
    "9223372036854775807",
    "153722867280912930",
    "23:59:60",
];

/// 0000-01-01T00:00:00.000 and 9999-12-31T23:59:59.999, in epoch milliseconds.
const FIRST_FOUR_DIGIT_YEAR: i64 = -62_167_219_200_000;
const LAST_FOUR_DIGIT_YEAR: i64 = 253_402_300_799_999;

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_duration(&text);
    check_watermark_strategy(&text);
    check_datetime(&text);
    if let Some(bytes) = data.get(..8) {
        let ms = i64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        check_formatting(ms);
        check_formatting(FIRST_FOUR_DIGIT_YEAR + ms.rem_euclid(LAST_FOUR_DIGIT_YEAR - FIRST_FOUR_DIGIT_YEAR + 1));
    }
}

/// The documented duration form, in milliseconds; `None` when the text is not of it.
fn documented_duration(text: &str) -> Option<i64> {
    let t = text.trim();
    if t == "0" {
        return Some(0);
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = t.split_at(digits);
    let factor: i128 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    if number.is_empty() {
        return None;
    }
    // Leading zeros are allowed; the value must fit in i64 milliseconds (i128 has room for 38 digits).
    let significant = number.trim_start_matches('0');
    if significant.len() > 30 {
        return None;
    }
    let n: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    i64::try_from(n.checked_mul(factor)?).ok()
}

fn check_duration(text: &str) {
    let parsed = Duration::from_str(text);
    let documented = documented_duration(text);
    match (&parsed, documented) {
        (Ok(d), Some(ms)) => assert_eq!(d.as_millis(), ms, "{text:?} parsed as {d}"),
        (Ok(d), None) => panic!("{text:?} is not a documented duration but parsed as {d}"),
        (Err(e), Some(ms)) => panic!("{text:?} is the documented duration {ms} ms but was refused: {e}"),
        (Err(_), None) => {}
    }
    if let Ok(d) = parsed {
        let printed = d.to_string();
        assert_eq!(Duration::from_str(&printed).ok(), Some(d), "{d} prints as {printed:?}");
    }
}

fn check_watermark_strategy(text: &str) {
    let parsed = WatermarkStrategy::from_str(text);
    let documented = match text {
        "explicit" => Some(WatermarkStrategy::Explicit),
        "perfect" => Some(WatermarkStrategy::Perfect),
        "bounded" => Some(WatermarkStrategy::Bounded(Duration::seconds(5))),
        _ => text
            .strip_prefix("bounded:")
            .and_then(documented_duration)
            .map(|ms| WatermarkStrategy::Bounded(Duration::millis(ms))),
    };
    assert_eq!(parsed.as_ref().ok(), documented.as_ref(), "{text:?}: {parsed:?}");
    if let Ok(strategy) = parsed {
        let printed = strategy.to_string();
        assert_eq!(
            WatermarkStrategy::from_str(&printed),
            Ok(strategy),
            "{strategy:?} prints as {printed:?}"
        );
    }
}

/// The fields of a documented `event_datetime`, or `None` when `text` is not of the form. Field
/// ranges are checked by chrono, the reference, not here.
fn documented_datetime(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let shape = b.len() >= 19
        && (0..4).all(digit)
        && b[4] == b'-'
        && (5..7).all(digit)
        && b[7] == b'-'
        && (8..10).all(digit)
        && matches!(b[10], b'T' | b' ')
        && (11..13).all(digit)
        && b[13] == b':'
        && (14..16).all(digit)
        && b[16] == b':'
        && (17..19).all(digit);
    if !shape {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&n) {
            return None;
        }
        fraction = &rest[..n + 1];
        rest = &after_dot[n..];
    }
    if !(rest.is_empty() || rest == "Z") {
        return None;
    }
    // Normalised for chrono: `T`, no zone.
    Some(format!("{}T{}{fraction}", &text[..10], &text[11..19]))
}

/// chrono's reading of the documented form, truncated to the millisecond; `None` when a field is out
/// of range (chrono also takes a leap second, `:60`, which the documented form does not).
fn chrono_millis(normalised: &str) -> Option<i64> {
    if &normalised[17..19] == "60" {
        return None;
    }
    let dt = NaiveDateTime::parse_from_str(normalised, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(dt.and_utc().timestamp_millis())
}

fn check_datetime(text: &str) {
    let parsed = Timestamp::parse_datetime(text);
    let reference = documented_datetime(text).and_then(|normalised| chrono_millis(&normalised));
    match (&parsed, reference) {
        (Ok(t), Some(ms)) => assert_eq!(t.millis(), ms, "{text:?}: the fast parser and chrono disagree"),
        (Ok(t), None) => panic!("{text:?} is not of the documented form but parsed as {t}"),
        (Err(e), Some(ms)) => panic!("{text:?} is a documented datetime (chrono: {ms} ms) but was refused: {e}"),
        (Err(_), None) => {}
    }
    if let Ok(t) = parsed {
        let printed = t.format_millis();
        assert_eq!(
            Timestamp::parse_datetime(&printed).ok(),
            Some(t),
            "{t:?} prints as {printed:?}"
        );
    }
}

/// Formatting any instant never panics; inside years 0–9999 the printed form parses back.
fn check_formatting(ms: i64) {
    let t = Timestamp::from_millis(ms);
    let (millis, seconds, sql) = (t.format_millis(), t.format_seconds(), t.format_sql());
    let mut written = Vec::new();
    t.write_millis(&mut written);
    assert_eq!(
        written,
        millis.as_bytes(),
        "write_millis and format_millis differ for {ms} ms"
    );
    // The `event_datetime` form has four-digit years: outside years 0–9999 an instant prints (through
    // chrono) in a form the parser does not read, by design; scripts write those as milliseconds.
    if (FIRST_FOUR_DIGIT_YEAR..=LAST_FOUR_DIGIT_YEAR).contains(&ms) {
        assert_eq!(
            Timestamp::parse_datetime(&millis).ok(),
            Some(t),
            "{ms} ms prints as {millis:?}"
        );
        let whole = Timestamp::from_millis(ms - ms.rem_euclid(1000));
        assert_eq!(
            Timestamp::parse_datetime(&seconds).ok(),
            Some(whole),
            "{ms} ms prints as {seconds:?}"
        );
        assert_eq!(
            Timestamp::parse_datetime(&sql).ok(),
            Some(whole),
            "{ms} ms prints as {sql:?}"
        );
    }
}

/// A duration, a strategy or a datetime, mostly of the documented form.
pub fn generate(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let text = match u.int_in_range(0..=5)? {
        0 | 1 => generate::duration(u)?,
        2 => {
            let strategy = *u.choose(&["bounded:", "bounded", "explicit", "perfect", "Bounded:", "bounded: "])?;
            if strategy.ends_with(':') || strategy.ends_with(' ') {
                format!("{strategy}{}", generate::duration(u)?)
            } else {
                strategy.to_owned()
            }
        }
        _ => generate::datetime(u)?,
    };
    Ok(text.into_bytes())
}
