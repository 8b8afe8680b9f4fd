//! Windows and window functions: which event-time intervals an element belongs to.
//!
//! A [`Window`] is the half-open interval `[start, end)`; its maximum timestamp is `end − 1 ms`, the
//! last instant an element can carry and still belong to it (Beam's `IntervalWindow.maxTimestamp()`).
//! A [`WindowFn`] assigns a timestamp to its windows. Fixed and sliding windows live here; the trait
//! leaves room for merging window functions (sessions) through [`WindowFn::is_merging`].

use std::fmt;

use crate::time::{Duration, Timestamp};

/// An event-time interval `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    start: Timestamp,
    end: Timestamp,
}

impl Window {
    /// The window `[start, end)`. Panics when `end <= start`: such a window holds nothing.
    pub fn new(start: Timestamp, end: Timestamp) -> Window {
        assert!(start < end, "a window needs start < end, got [{start}, {end})");
        Window { start, end }
    }

    /// The first instant in the window.
    pub const fn start(&self) -> Timestamp {
        self.start
    }

    /// The first instant after the window.
    pub const fn end(&self) -> Timestamp {
        self.end
    }

    /// `end − 1 ms`: the latest timestamp an element of this window can carry. The on-time pane fires
    /// once the watermark passes it, that is when the watermark reaches `end`.
    pub const fn max_timestamp(&self) -> Timestamp {
        self.end.minus(Duration::millis(1))
    }

    /// True when `t` lies in `[start, end)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Assigns an element's timestamp to the windows it belongs to.
///
/// Implementations must be pure: the same timestamp always gives the same windows, in the same order.
pub trait WindowFn: fmt::Debug + Send + Sync {
    /// Pushes every window containing `t` onto `out` (which the caller has cleared).
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>);

    /// True for window functions whose windows merge as elements arrive (sessions). The core keeps
    /// per-key windows in a form that allows merging; no merging function ships yet.
    fn is_merging(&self) -> bool {
        false
    }
}

/// Beam's `FixedWindows`: consecutive, non-overlapping windows of `size`, aligned to the epoch plus
/// `offset`.
///
/// ```
/// use pipeline::time::{Duration, Timestamp};
/// use pipeline::window::{FixedWindows, WindowFn};
/// let mut out = Vec::new();
/// FixedWindows::of(Duration::seconds(20)).assign_windows(Timestamp::from_millis(45_000), &mut out);
/// assert_eq!(out[0].start(), Timestamp::from_millis(40_000));
/// assert_eq!(out[0].end(), Timestamp::from_millis(60_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindows {
    size: Duration,
    offset: Duration,
}

impl FixedWindows {
    /// Windows of `size` aligned to the epoch. Panics when `size` is not positive.
    pub fn of(size: Duration) -> FixedWindows {
        FixedWindows::with_offset(size, Duration::ZERO)
    }

    /// Windows of `size` whose boundaries fall at `offset` past a multiple of `size`.
    pub fn with_offset(size: Duration, offset: Duration) -> FixedWindows {
        assert!(size.as_millis() > 0, "window size must be positive, got {size}");
        let offset = Duration::millis(offset.as_millis().rem_euclid(size.as_millis()));
        FixedWindows { size, offset }
    }

    /// The window length.
    pub fn size(&self) -> Duration {
        self.size
    }
}

impl WindowFn for FixedWindows {
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>) {
        let size = self.size.as_millis();
        // rem_euclid, not %, so that instants before the epoch land in the window below them.
        let start = t.millis() - (t.millis() - self.offset.as_millis()).rem_euclid(size);
        out.push(Window::new(
            Timestamp::from_millis(start),
            Timestamp::from_millis(start + size),
        ));
    }
}

/// Beam's `SlidingWindows`: windows of `size` starting every `period`, so an element belongs to
/// `size / period` windows (rounded up when `period` does not divide `size`).
///
/// ```
/// use pipeline::time::{Duration, Timestamp};
/// use pipeline::window::{SlidingWindows, WindowFn};
/// let mut out = Vec::new();
/// SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)).assign_windows(Timestamp::from_millis(45_000), &mut out);
/// assert_eq!(out.len(), 3);
/// assert!(out.iter().all(|w| w.contains(Timestamp::from_millis(45_000))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    size: Duration,
    period: Duration,
    offset: Duration,
}

impl SlidingWindows {
    /// Windows of `size` every `period`, aligned to the epoch. Panics unless both are positive.
    pub fn of(size: Duration, period: Duration) -> SlidingWindows {
        SlidingWindows::with_offset(size, period, Duration::ZERO)
    }

    /// Windows of `size` every `period`, starting at `offset` past a multiple of `period`.
    pub fn with_offset(size: Duration, period: Duration, offset: Duration) -> SlidingWindows {
        assert!(size.as_millis() > 0, "window size must be positive, got {size}");
        assert!(period.as_millis() > 0, "window period must be positive, got {period}");
        let offset = Duration::millis(offset.as_millis().rem_euclid(period.as_millis()));
        SlidingWindows { size, period, offset }
    }
}

impl WindowFn for SlidingWindows {
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>) {
        let (size, period) = (self.size.as_millis(), self.period.as_millis());
        let last_start = t.millis() - (t.millis() - self.offset.as_millis()).rem_euclid(period);
        // Beam's order: the latest window first.
        let mut start = last_start;
        while start > t.millis() - size {
            out.push(Window::new(
                Timestamp::from_millis(start),
                Timestamp::from_millis(start + size),
            ));
            start -= period;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign(f: &dyn WindowFn, t: i64) -> Vec<Window> {
        let mut out = Vec::new();
        f.assign_windows(Timestamp::from_millis(t), &mut out);
        out
    }

    fn w(start: i64, end: i64) -> Window {
        Window::new(Timestamp::from_millis(start), Timestamp::from_millis(end))
    }

    #[test]
    fn element_at_window_end_belongs_to_next_window() {
        let fixed = FixedWindows::of(Duration::seconds(20));
        assert_eq!(assign(&fixed, 19_999), vec![w(0, 20_000)]);
        assert_eq!(assign(&fixed, 20_000), vec![w(20_000, 40_000)]);
        assert_eq!(w(0, 20_000).max_timestamp(), Timestamp::from_millis(19_999));
    }

    #[test]
    fn instants_before_the_epoch_round_down() {
        let fixed = FixedWindows::of(Duration::seconds(20));
        assert_eq!(assign(&fixed, -1), vec![w(-20_000, 0)]);
        assert_eq!(assign(&fixed, -20_000), vec![w(-20_000, 0)]);
    }

    #[test]
    fn offset_shifts_boundaries() {
        let fixed = FixedWindows::with_offset(Duration::seconds(20), Duration::seconds(5));
        assert_eq!(assign(&fixed, 4_999), vec![w(-15_000, 5_000)]);
        assert_eq!(assign(&fixed, 5_000), vec![w(5_000, 25_000)]);
    }

    #[test]
    fn sliding_windows_put_one_element_in_size_over_period_windows() {
        let sliding = SlidingWindows::of(Duration::seconds(60), Duration::seconds(20));
        for t in [0, 1, 19_999, 20_000, 45_000, -1, -59_999] {
            let windows = assign(&sliding, t);
            assert_eq!(windows.len(), 3, "t={t}");
            assert!(windows.iter().all(|x| x.contains(Timestamp::from_millis(t))), "t={t}");
        }
        assert_eq!(
            assign(&sliding, 20_000),
            vec![w(20_000, 80_000), w(0, 60_000), w(-20_000, 40_000)]
        );
        // A period that does not divide the size: 50/20 → 2 or 3 windows.
        let uneven = SlidingWindows::of(Duration::seconds(50), Duration::seconds(20));
        assert_eq!(assign(&uneven, 5_000).len(), 3);
        assert_eq!(assign(&uneven, 15_000).len(), 2);
    }
}
