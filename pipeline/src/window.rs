//! Windows and window functions: which event-time intervals an element belongs to.
//!
//! A [`Window`] is the half-open interval `[start, end)`; its maximum timestamp is `end − 1 ms`, the
//! last instant an element can carry and still belong to it (Beam's `IntervalWindow.maxTimestamp()`).
//! A [`WindowFn`] assigns a timestamp to its windows. Fixed and sliding windows live here; the trait
//! leaves room for merging window functions (sessions) through [`WindowFn::is_merging`] and
//! [`WindowFn::merge_windows`]. [`GlobalWindows`] puts every element in the one global window;
//! [`Sessions`] gives each element a window of the gap's length and merges a key's overlapping windows.
//!
//! Assignment never overflows: an element timestamp outside Beam's range
//! `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)` gets no window (a pipeline dead-letters it before it gets
//! here), and the bounds of the windows near either end of that range are computed exactly and capped:
//! no window ends after the end of the global window (`END_OF_GLOBAL_WINDOW + 1 ms`, as Beam's
//! `FixedWindows` caps its last window), a start that would fall below the `i64` range is clamped, and
//! the last day of the range, after the global window's end, is one window `[END_OF_GLOBAL_WINDOW +
//! 1 ms, TIMESTAMP_MAX_VALUE)` (where Beam's formula would give a window that ends before its own
//! element). Sliding windows are capped the same way, so that every window ends within the range.

use std::fmt;

use crate::time::{Duration, Timestamp, END_OF_GLOBAL_WINDOW, TIMESTAMP_MAX_VALUE, TIMESTAMP_MIN_VALUE};

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

impl Window {
    /// Beam's `GlobalWindow`: every timestamp an element can carry, up to the end of the global window
    /// (its max timestamp is `END_OF_GLOBAL_WINDOW`, where Beam's is).
    pub fn global() -> Window {
        Window::new(TIMESTAMP_MIN_VALUE, END_OF_GLOBAL_WINDOW.plus(Duration::millis(1)))
    }

    /// True for the global window.
    pub fn is_global(&self) -> bool {
        *self == Window::global()
    }

    /// True when the two windows overlap or touch (Beam's `IntervalWindow.intersects`: windows that
    /// meet at an instant intersect, so sessions that touch merge).
    pub fn intersects(&self, other: &Window) -> bool {
        !(self.end < other.start || other.end < self.start)
    }

    /// The smallest window containing both (Beam's `IntervalWindow.span`).
    pub fn span(&self, other: &Window) -> Window {
        Window::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_global() {
            return f.write_str("GlobalWindow");
        }
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
    /// Pushes every window containing `t` onto `out` (which the caller has cleared). The built-in
    /// window functions push nothing for a `t` outside `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`.
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>);

    /// True for window functions whose windows merge as elements arrive (sessions).
    fn is_merging(&self) -> bool {
        false
    }

    /// For a merging window function: given one key's windows, the merges to make, each a set of windows
    /// that become one and the window they become (Beam's `WindowFn.mergeWindows`). A set of one window is
    /// never listed. Non-merging functions merge nothing.
    fn merge_windows(&self, windows: &[Window]) -> Vec<(Vec<Window>, Window)> {
        let _ = windows;
        Vec::new()
    }

    /// True when [`merge_windows`](Self::merge_windows) merges exactly the chains of intersecting windows
    /// ([`Window::intersects`]) into their span, as sessions do. The windowing core then hands it only a
    /// key's windows that intersect the new ones (found by a range query) instead of all of them; the
    /// merges are the same, since a key's merged windows never intersect one another.
    fn merges_intersecting(&self) -> bool {
        false
    }
}

/// Beam's `GlobalWindows`: every element in the one global window ([`Window::global`]).
///
/// ```
/// use pipeline::time::Timestamp;
/// use pipeline::window::{GlobalWindows, Window, WindowFn};
/// let mut out = Vec::new();
/// GlobalWindows.assign_windows(Timestamp::from_millis(45_000), &mut out);
/// assert_eq!(out, vec![Window::global()]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GlobalWindows;

impl WindowFn for GlobalWindows {
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>) {
        if t.is_element_time() {
            out.push(Window::global());
        }
    }
}

/// Beam's `Sessions.withGapDuration(gap)`: each element gets the window `[t, t + gap)`, and a key's
/// windows that overlap or touch merge into one ([`WindowFn::merge_windows`], Beam's
/// `MergeOverlappingIntervalWindows`).
///
/// ```
/// use pipeline::time::{Duration, Timestamp};
/// use pipeline::window::{Sessions, Window, WindowFn};
/// let at = Timestamp::from_millis;
/// let sessions = Sessions::with_gap_duration(Duration::seconds(10));
/// let windows = [Window::new(at(0), at(10_000)), Window::new(at(10_000), at(20_000)), Window::new(at(25_000), at(35_000))];
/// // The first two touch: one session; the third stands alone.
/// assert_eq!(sessions.merge_windows(&windows), vec![(windows[..2].to_vec(), Window::new(at(0), at(20_000)))]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    gap: Duration,
}

impl Sessions {
    /// Sessions that end after `gap` without elements. Panics when `gap` is not positive.
    pub fn with_gap_duration(gap: Duration) -> Sessions {
        assert!(gap.as_millis() > 0, "a session gap must be positive, got {gap}");
        Sessions { gap }
    }

    /// The gap.
    pub fn gap(&self) -> Duration {
        self.gap
    }
}

impl WindowFn for Sessions {
    fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>) {
        if t.is_element_time() {
            // Capped like every window: none ends after the range of element timestamps.
            let end = t.plus(self.gap).min(TIMESTAMP_MAX_VALUE);
            out.push(Window::new(t, end.max(t.plus(Duration::millis(1)))));
        }
    }

    fn is_merging(&self) -> bool {
        true
    }

    fn merges_intersecting(&self) -> bool {
        true
    }

    fn merge_windows(&self, windows: &[Window]) -> Vec<(Vec<Window>, Window)> {
        let mut sorted = windows.to_vec();
        sorted.sort();
        let mut merges = Vec::new();
        let mut current: Option<(Vec<Window>, Window)> = None;
        for window in sorted {
            match &mut current {
                Some((parts, union)) if union.intersects(&window) => {
                    *union = union.span(&window);
                    parts.push(window);
                }
                _ => {
                    if let Some(done) = current.take().filter(|(parts, _)| parts.len() > 1) {
                        merges.push(done);
                    }
                    current = Some((vec![window], window));
                }
            }
        }
        merges.extend(current.filter(|(parts, _)| parts.len() > 1));
        merges
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
        if !t.is_element_time() {
            return;
        }
        if t > END_OF_GLOBAL_WINDOW {
            out.push(last_day_window());
            return;
        }
        let size = self.size.as_millis();
        let start = i128::from(t.millis()) - i128::from(distance_past_boundary(t, size, self.offset));
        out.push(capped_window(start, i128::from(size)));
    }
}

/// How far `t` lies past the latest window boundary (`offset` past a multiple of `every`) at or before
/// it. `rem_euclid`, not `%`, so that instants before the epoch land in the window below them; both
/// remainders stay within `(−every, every)`, so nothing overflows whatever `t` and `every` are.
fn distance_past_boundary(t: Timestamp, every: i64, offset: Duration) -> i64 {
    (t.millis().rem_euclid(every) - offset.as_millis()).rem_euclid(every)
}

/// `[start, start + size)` for an element timestamp before the end of the global window, computed
/// without overflow and capped: Beam's `FixedWindows` ends the window at the end of the global window
/// when `start + size` would pass it, and a start below the `i64` range (only possible for windows of
/// hundreds of thousands of years near `TIMESTAMP_MIN_VALUE`) is clamped to the earliest finite instant.
fn capped_window(start: i128, size: i128) -> Window {
    let end_of_global_window = i128::from(END_OF_GLOBAL_WINDOW.millis()) + 1;
    let end = (start + size).min(end_of_global_window);
    let start = start.max(i128::from(i64::MIN) + 1);
    let narrow = |ms: i128| Timestamp::from_millis(i64::try_from(ms).expect("clamped into the i64 range"));
    Window::new(narrow(start), narrow(end))
}

/// The window of every element after the end of the global window, the last day before
/// `TIMESTAMP_MAX_VALUE`.
fn last_day_window() -> Window {
    Window::new(END_OF_GLOBAL_WINDOW.plus(Duration::millis(1)), TIMESTAMP_MAX_VALUE)
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
        if !t.is_element_time() {
            return;
        }
        if t > END_OF_GLOBAL_WINDOW {
            out.push(last_day_window());
            return;
        }
        let (size, period) = (i128::from(self.size.as_millis()), self.period.as_millis());
        let last_start = i128::from(t.millis()) - i128::from(distance_past_boundary(t, period, self.offset));
        // Beam's order: the latest window first. In i128, so that neither `t − size` nor the earliest
        // starts can overflow near either end of time.
        let mut start = last_start;
        let mut previous = None;
        while start > i128::from(t.millis()) - size {
            let window = capped_window(start, size);
            // Windows longer than the whole range can be capped at both ends into the same window.
            if previous != Some(window) {
                out.push(window);
                previous = Some(window);
            }
            start -= i128::from(period);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TIMESTAMP_MIN_VALUE;
    use proptest::prelude::*;

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

    #[test]
    fn timestamps_outside_the_element_range_get_no_window() {
        let fixed = FixedWindows::of(Duration::seconds(20));
        let sliding = SlidingWindows::of(Duration::seconds(60), Duration::seconds(20));
        for t in [
            i64::MIN,
            i64::MIN + 1,
            TIMESTAMP_MIN_VALUE.millis() - 1,
            TIMESTAMP_MAX_VALUE.millis(),
            i64::MAX - 1,
            i64::MAX,
        ] {
            assert_eq!(assign(&fixed, t), [], "t={t}");
            assert_eq!(assign(&sliding, t), [], "t={t}");
        }
    }

    #[test]
    fn the_last_fixed_window_ends_at_the_end_of_the_global_window() {
        let end_of_global_window = END_OF_GLOBAL_WINDOW.millis() + 1;
        let size = 20_000;
        let fixed = FixedWindows::of(Duration::millis(size));
        let last_start = END_OF_GLOBAL_WINDOW.millis() - END_OF_GLOBAL_WINDOW.millis().rem_euclid(size);
        // Beam: `start.isAfter(endOfGlobalWindow.minus(size)) ? endOfGlobalWindow : start.plus(size)`.
        assert_eq!(
            assign(&fixed, END_OF_GLOBAL_WINDOW.millis()),
            vec![w(last_start, end_of_global_window)]
        );
        assert_eq!(assign(&fixed, last_start - 1), vec![w(last_start - size, last_start)]);
        // The last day of the range, past the global window, is one window up to TIMESTAMP_MAX_VALUE.
        let last_day = w(end_of_global_window, TIMESTAMP_MAX_VALUE.millis());
        assert_eq!(assign(&fixed, end_of_global_window), vec![last_day]);
        assert_eq!(assign(&fixed, TIMESTAMP_MAX_VALUE.millis() - 1), vec![last_day]);
    }

    #[test]
    fn the_first_fixed_window_starts_where_beam_starts_it() {
        let fixed = FixedWindows::of(Duration::seconds(20));
        let t = TIMESTAMP_MIN_VALUE.millis();
        let start = t - t.rem_euclid(20_000);
        assert_eq!(assign(&fixed, t), vec![w(start, start + 20_000)]);
        // A window longer than the whole range starts at the earliest finite instant rather than wrap.
        let huge = FixedWindows::with_offset(Duration::millis(i64::MAX), Duration::millis(i64::MAX - 1));
        let windows = assign(&huge, t);
        assert_eq!(windows.len(), 1);
        assert!(windows[0].contains(Timestamp::from_millis(t)));
        assert_eq!(windows[0].start(), Timestamp::from_millis(i64::MIN + 1));
    }

    #[test]
    fn sliding_windows_at_the_ends_of_time_are_capped() {
        let sliding = SlidingWindows::of(Duration::seconds(60), Duration::seconds(20));
        let t = END_OF_GLOBAL_WINDOW.millis();
        let windows = assign(&sliding, t);
        assert_eq!(windows.len(), 3);
        assert!(windows.iter().all(|x| x.contains(Timestamp::from_millis(t))));
        assert!(windows
            .iter()
            .all(|x| x.end().millis() <= END_OF_GLOBAL_WINDOW.millis() + 1));
        assert_eq!(assign(&sliding, TIMESTAMP_MIN_VALUE.millis()).len(), 3);
    }

    /// Element timestamps over the whole `i64` range, crowding the ends of the element range and of `i64`.
    fn any_timestamp() -> impl Strategy<Value = i64> {
        let near = |at: i64| (-3i64..=3).prop_map(move |d| at.saturating_add(d));
        prop_oneof![
            any::<i64>(),
            near(i64::MIN),
            near(i64::MAX),
            near(TIMESTAMP_MIN_VALUE.millis()),
            near(TIMESTAMP_MAX_VALUE.millis()),
            near(END_OF_GLOBAL_WINDOW.millis()),
            near(END_OF_GLOBAL_WINDOW.millis() - 20_000),
            near(0),
        ]
    }

    /// Window sizes and periods from a millisecond to the whole `i64` range.
    fn any_length() -> impl Strategy<Value = i64> {
        prop_oneof![1..=100_000i64, 1..=i64::MAX, (i64::MAX - 3)..=i64::MAX]
    }

    /// Checks the windows of `t`: none when it is outside the element range, otherwise at least one and
    /// at most `expected_max`, each containing `t`, no two alike, none ending past the range.
    fn check_windows(windows: &[Window], t: i64, expected_max: i64) -> Result<(), TestCaseError> {
        let t = Timestamp::from_millis(t);
        if !t.is_element_time() {
            prop_assert!(windows.is_empty(), "{t:?} is outside the range but got {windows:?}");
            return Ok(());
        }
        prop_assert!(
            !windows.is_empty() && windows.len() as i64 <= expected_max,
            "{windows:?}"
        );
        for (i, window) in windows.iter().enumerate() {
            prop_assert!(window.contains(t), "{window:?} does not contain {t:?}");
            prop_assert!(window.end() <= TIMESTAMP_MAX_VALUE, "{window:?} ends past the range");
            prop_assert!(!windows[..i].contains(window), "{window:?} twice");
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn fixed_windows_contain_their_element_or_refuse_it(t in any_timestamp(), size in any_length(), offset in any::<i64>()) {
            let fixed = FixedWindows::with_offset(Duration::millis(size), Duration::millis(offset));
            let windows = assign(&fixed, t);
            check_windows(&windows, t, 1)?;
            // Away from the ends of time, the window is Beam's: a whole size, starting on a boundary.
            if let [window] = windows[..] {
                let (start, end) = (window.start().millis(), window.end().millis());
                if start > i64::MIN + 1 && end <= END_OF_GLOBAL_WINDOW.millis() {
                    prop_assert_eq!(i128::from(end) - i128::from(start), i128::from(size));
                    prop_assert_eq!((i128::from(start) - i128::from(offset)).rem_euclid(i128::from(size)), 0);
                }
            }
        }

        #[test]
        fn sliding_windows_contain_their_element_or_refuse_it(
            t in any_timestamp(),
            period in any_length(),
            per_period in 1..=8i64,
            offset in any::<i64>(),
        ) {
            let size = period.saturating_mul(per_period);
            let sliding = SlidingWindows::with_offset(Duration::millis(size), Duration::millis(period), Duration::millis(offset));
            let windows = assign(&sliding, t);
            check_windows(&windows, t, per_period)?;
            prop_assert!(windows.windows(2).all(|pair| pair[0].start() > pair[1].start()), "latest first: {windows:?}");
        }
    }

    #[test]
    fn sessions_that_overlap_or_touch_merge_and_others_do_not() {
        let sessions = Sessions::with_gap_duration(Duration::seconds(10));
        assert_eq!(assign(&sessions, 5_000), vec![w(5_000, 15_000)]);
        // Touching at 10 s: Beam's IntervalWindow.intersects counts that as intersecting.
        let touching = [w(0, 10_000), w(10_000, 20_000)];
        assert_eq!(
            sessions.merge_windows(&touching),
            vec![(touching.to_vec(), w(0, 20_000))]
        );
        // One millisecond apart: two sessions.
        assert!(sessions.merge_windows(&[w(0, 10_000), w(10_001, 20_001)]).is_empty());
        // A chain, given out of order, merges into one; a separate pair merges on its own.
        let chain = [
            w(8_000, 18_000),
            w(0, 10_000),
            w(30_000, 40_000),
            w(15_000, 25_000),
            w(35_000, 45_000),
        ];
        assert_eq!(
            sessions.merge_windows(&chain),
            vec![
                (vec![w(0, 10_000), w(8_000, 18_000), w(15_000, 25_000)], w(0, 25_000)),
                (vec![w(30_000, 40_000), w(35_000, 45_000)], w(30_000, 45_000)),
            ]
        );
    }

    #[test]
    fn the_global_window_holds_every_element_time_and_ends_where_beams_does() {
        let global = Window::global();
        assert_eq!(global.max_timestamp(), END_OF_GLOBAL_WINDOW);
        assert_eq!(assign(&GlobalWindows, i64::MIN + 1), vec![]);
        assert_eq!(assign(&GlobalWindows, 0), vec![global]);
        assert_eq!(format!("{global}"), "GlobalWindow");
    }
}
