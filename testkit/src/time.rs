//! Terse constructors of instants and windows for tests, from the `event_datetime` text form.
//!
//! Tests state times the way the data does (`2024-04-28T23:12:40`, UTC, optional fraction); these
//! helpers turn such literals into the pipeline crate's [`Timestamp`] and [`Window`] and panic, at the
//! caller's line, on a typo. Scripts take the same text directly (see [`crate::ToTimestamp`]).

use pipeline::time::Timestamp;
use pipeline::window::Window;

use crate::stream::ToTimestamp;

/// The instant `text` names: `2024-04-28T23:12:40`, `2024-04-28T23:12:59.999`, `+inf` or `-inf`.
/// Panics on anything else.
///
/// ```
/// assert_eq!(testkit::timestamp("2024-04-28T23:12:40").millis(), 1_714_345_960_000);
/// ```
#[track_caller]
pub fn timestamp(text: &str) -> Timestamp {
    match text.to_timestamp() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// The window `[start, end)`. Panics on a bad datetime or when `end <= start`.
///
/// ```
/// let w = testkit::window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
/// assert_eq!(w.max_timestamp(), testkit::timestamp("2024-04-28T23:12:59.999"));
/// ```
#[track_caller]
pub fn window(start: &str, end: &str) -> Window {
    let (start, end) = (timestamp(start), timestamp(end));
    assert!(start < end, "a window needs start < end, got [{start}, {end})");
    Window::new(start, end)
}
