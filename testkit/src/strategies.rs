//! proptest strategies: keys, visits, pipeline options, triggers, windows and scripted timelines whose
//! event times and watermark steps crowd the boundaries where windowing rules change.
//!
//! Every strategy is a small function returning `impl Strategy`. Times are drawn around a few fixed
//! windows from [`BASE`] and, most of the time, from the instants that matter for a window
//! `[start, end)` with allowed lateness `L`: `start`, `end − 1 ms` (the last instant of the window),
//! `end` (the first instant of the next one), `end − 1 ms + L` (the last watermark at which the window
//! still takes elements) and `end + L` (one past it). Watermark steps are drawn from the same instants,
//! so elements arrive behind the watermark, exactly at it, and just past the point where their window
//! expires. Scripts are [`TestStream`]s: a failing case shrinks to a short script and prints in the
//! scenario format, ready to paste into `tests/scenarios/`.
//!
//! For triggers, [`windowing`] draws a complete [`Windowing`] (what `simulate`'s windowing flags say):
//! fixed windows, sessions or the global window, any trigger of Beam's algebra two composites deep
//! ([`trigger`], [`once_trigger`]), allowed lateness, accumulation, closing and on-time behaviours; and
//! [`trigger_timeline`] a script of Beam-style `(key, id)` elements with processing-time steps, so that
//! a property can tell exactly which elements each pane holds.

use pipeline::event::VisitEvent;
use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Timestamp, END_OF_GLOBAL_WINDOW, TIMESTAMP_MAX_VALUE, TIMESTAMP_MIN_VALUE};
use pipeline::traffic::TrafficConfig;
use proptest::prelude::*;
use proptest::sample::select;

use pipeline::trigger::{
    AfterAll, AfterEach, AfterFirst, AfterPane, AfterProcessingTime, AfterWatermark, ClosingBehavior, Never,
    OnTimeBehavior, Repeatedly, Trigger,
};
use pipeline::windowing::{WindowSpec, Windowing};

use crate::stream::TestStream;
use crate::timestamped::TimestampedValue;
use crate::traffic::visit;

/// The first window's start: 2024-04-28T23:12:40.000 UTC, the seed's example window, aligned to every
/// window size [`traffic_config`] draws.
pub const BASE: Timestamp = Timestamp::from_millis(1_714_345_960_000);

/// How many consecutive windows the drawn times span.
pub const WINDOWS: i64 = 3;

/// User ids from a small pool, so that keys collide and windows hold several elements.
pub fn keys() -> impl Strategy<Value = String> {
    select(&["alice", "bob", "carol"][..]).prop_map(str::to_owned)
}

/// Pipeline options: 10 s or 20 s windows, allowed lateness of 0, 1 ms, 5 s or one window, discarding
/// or accumulating panes.
pub fn traffic_config() -> impl Strategy<Value = TrafficConfig> {
    (
        select(&[10_000i64, 20_000][..]),
        select(&[0i64, 1, 5_000, 20_000][..]),
        any::<bool>(),
    )
        .prop_map(|(window, lateness, accumulating)| TrafficConfig {
            window: Duration::millis(window),
            allowed_lateness: Duration::millis(lateness),
            accumulation: if accumulating {
                AccumulationMode::Accumulating
            } else {
                AccumulationMode::Discarding
            },
        })
}

/// An instant where `config`'s windowing rules change, in one of the first [`WINDOWS`] windows:
/// `start`, `end − 1 ms`, `end`, `end − 1 ms + lateness` or `end + lateness`.
pub fn boundary_time(config: TrafficConfig) -> impl Strategy<Value = Timestamp> {
    let size = config.window.as_millis();
    let lateness = config.allowed_lateness.as_millis();
    (0..WINDOWS, select(&[0i64, 1, 2, 3, 4][..])).prop_map(move |(k, which)| {
        let end = BASE.millis() + (k + 1) * size;
        Timestamp::from_millis(match which {
            0 => end - size,
            1 => end - 1,
            2 => end,
            3 => end - 1 + lateness,
            _ => end + lateness,
        })
    })
}

/// An event time: a boundary instant three times out of four, anywhere in the first [`WINDOWS`]
/// windows otherwise.
pub fn event_time(config: TrafficConfig) -> impl Strategy<Value = Timestamp> {
    let span = WINDOWS * config.window.as_millis();
    prop_oneof![
        3 => boundary_time(config),
        1 => (0..span).prop_map(|ms| Timestamp::from_millis(BASE.millis() + ms)),
    ]
}

/// A visit of a drawn user at a drawn event time.
pub fn visit_event(config: TrafficConfig) -> impl Strategy<Value = VisitEvent> {
    (keys(), event_time(config)).prop_map(|(id, t)| visit(&id, &t.format_millis()))
}

/// A JSON record the traffic pipeline must dead-letter: a missing field, a wrong type, a bad datetime
/// or not an object.
pub fn malformed_record() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                r#"{"id": "alice"}"#,
                r#""a string""#,
                "42",
                "[1, 2]",
                r#"{"ip": "1.2.3.4", "id": 7}"#
            ][..]
        )
        .prop_map(str::to_owned),
        keys().prop_map(|id| serde_json::to_string(&visit(&id, "yesterday at noon")).expect("a visit serializes")),
    ]
}

/// One input record: a visit nine times out of ten, a malformed record otherwise.
pub fn record(config: TrafficConfig) -> impl Strategy<Value = String> {
    prop_oneof![
        9 => visit_event(config).prop_map(|v| serde_json::to_string(&v).expect("a visit serializes")),
        1 => malformed_record(),
    ]
}

/// A watermark step's target: a boundary instant.
pub fn watermark_step(config: TrafficConfig) -> impl Strategy<Value = Timestamp> {
    boundary_time(config)
}

/// A script: 1 to 8 segments, each a bundle of 1 to 3 records followed, more often than not, by a
/// watermark step and sometimes by a processing-time step, then the watermark to +∞. Records arrive in
/// any event-time order; the drawn watermark targets are sorted so that the script is valid, which
/// puts elements behind, at and past the watermark and their windows' expiry.
pub fn timeline(config: TrafficConfig) -> impl Strategy<Value = TestStream> {
    let segment = (
        prop::collection::vec(record(config), 1..=3),
        prop::option::weighted(0.6, watermark_step(config)),
        prop::option::weighted(0.15, 1..=5i64),
    );
    prop::collection::vec(segment, 1..=8).prop_map(|segments| {
        let mut targets: Vec<Timestamp> = segments.iter().filter_map(|s| s.1).collect();
        targets.sort();
        let mut targets = targets.into_iter();
        let mut stream = TestStream::new();
        for (records, watermark, seconds) in segments {
            stream = stream.add_raw_elements(records);
            if watermark.is_some() {
                stream = stream.advance_watermark_to(targets.next().expect("one target per watermark step"));
            }
            if let Some(s) = seconds {
                stream = stream.advance_processing_time(Duration::seconds(s));
            }
        }
        stream.advance_watermark_to_infinity()
    })
}

/// Options and a [`timeline`] drawn for them.
pub fn config_and_timeline() -> impl Strategy<Value = (TrafficConfig, TestStream)> {
    traffic_config().prop_flat_map(|config| (Just(config), timeline(config)))
}

/// The same visits twice under a perfect watermark (only +∞, at the end): once one by one in event-time
/// order, once shuffled and cut into bundles of drawn sizes. Options are drawn too.
pub fn reordered_arrivals() -> impl Strategy<Value = (TrafficConfig, TestStream, TestStream)> {
    traffic_config().prop_flat_map(|config| {
        prop::collection::vec(visit_event(config), 1..=12).prop_flat_map(move |visits| {
            let n = visits.len();
            (
                Just(visits.clone()),
                Just(visits).prop_shuffle(),
                prop::collection::vec(1..=3usize, n),
            )
                .prop_map(move |(visits, shuffled, sizes)| {
                    let mut in_order = visits;
                    in_order.sort_by_key(|v| v.event_time().expect("drawn visits have event times"));
                    let sorted = in_order
                        .into_iter()
                        .fold(TestStream::new(), |s, v| s.add_elements([v]))
                        .advance_watermark_to_infinity();
                    let mut rest = shuffled.as_slice();
                    let mut reordered = TestStream::new();
                    for size in sizes {
                        if rest.is_empty() {
                            break;
                        }
                        let (bundle, tail) = rest.split_at(size.min(rest.len()));
                        reordered = reordered.add_elements(bundle.iter().cloned());
                        rest = tail;
                    }
                    (config, sorted, reordered.advance_watermark_to_infinity())
                })
        })
    })
}

/// An instant drawn over `[low, high]`, crowding the ends of the element range, the end of the global
/// window, the first and last instants the datetime form can show (years 0 and 9999) and the epoch.
fn instant_within(low: i64, high: i64) -> impl Strategy<Value = Timestamp> {
    const YEAR_0: i64 = -62_167_219_200_000;
    const AFTER_YEAR_9999: i64 = 253_402_300_800_000;
    let edges = [
        TIMESTAMP_MIN_VALUE.millis(),
        TIMESTAMP_MAX_VALUE.millis() - 1,
        END_OF_GLOBAL_WINDOW.millis(),
        YEAR_0,
        AFTER_YEAR_9999,
        0,
        i64::MIN,
    ];
    prop_oneof![
        low..=high,
        (select(edges.to_vec()), -2i64..=2).prop_map(|(edge, d)| edge.saturating_add(d)),
    ]
    .prop_map(move |ms| Timestamp::from_millis(ms.clamp(low, high)))
}

/// Any timestamp an element may carry: the whole range `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`.
pub fn any_element_time() -> impl Strategy<Value = Timestamp> {
    instant_within(TIMESTAMP_MIN_VALUE.millis(), TIMESTAMP_MAX_VALUE.millis() - 1)
}

/// One step of [`any_script`] before watermark targets are put in order.
#[derive(Debug, Clone)]
enum DrawnStep {
    /// Visits of drawn users (any text, escapes included) at one element time.
    VisitsAt(Timestamp, Vec<String>),
    /// Records as they are: malformed ones, visits whose datetime text is odd.
    Raw(Vec<String>),
    Watermark(Timestamp),
    ProcessingTime(i64),
}

/// Any valid script over the whole range of time: bundles of visits at any element time (some at
/// instants whose `event_datetime` cannot show them), malformed records, users with any text as id,
/// watermark steps from −∞ to just before `TIMESTAMP_MAX_VALUE` (put in order), processing-time steps
/// of any positive number of milliseconds, and the end of input more often than not. For checking that
/// a script survives its scenario form.
pub fn any_script() -> impl Strategy<Value = TestStream> {
    let ids = prop_oneof![keys(), any::<String>()];
    let step = prop_oneof![
        (any_element_time(), prop::collection::vec(ids, 1..=3)).prop_map(|(t, ids)| DrawnStep::VisitsAt(t, ids)),
        prop::collection::vec(
            prop_oneof![
                malformed_record(),
                any_element_time().prop_map(
                    |t| serde_json::to_string(&visit("alice", &t.format_millis())).expect("a visit serializes")
                ),
            ],
            1..=3
        )
        .prop_map(DrawnStep::Raw),
        instant_within(i64::MIN, TIMESTAMP_MAX_VALUE.millis() - 1).prop_map(DrawnStep::Watermark),
        (1..=i64::MAX).prop_map(DrawnStep::ProcessingTime),
    ];
    (prop::collection::vec(step, 0..=10), prop::bool::weighted(0.7)).prop_map(|(steps, complete)| {
        let mut targets: Vec<Timestamp> = steps
            .iter()
            .filter_map(|s| match s {
                DrawnStep::Watermark(t) => Some(*t),
                _ => None,
            })
            .collect();
        targets.sort();
        let mut targets = targets.into_iter();
        let mut stream = TestStream::new();
        for step in steps {
            stream = match step {
                DrawnStep::VisitsAt(t, ids) => {
                    stream.add_elements_at(t, ids.iter().map(|id| visit(id, "2024-04-28T23:12:41")))
                }
                DrawnStep::Raw(records) => stream.add_raw_elements(records),
                DrawnStep::Watermark(_) => {
                    stream.advance_watermark_to(targets.next().expect("one target per watermark step"))
                }
                DrawnStep::ProcessingTime(ms) => stream.advance_processing_time(Duration::millis(ms)),
            };
        }
        if complete {
            stream = stream.advance_watermark_to_infinity();
        }
        stream
    })
}

// ---------------------------------------------------------------------------------------------------
// Triggers, sessions and the global window, on Beam-style elements.

/// The most elements a [`trigger_timeline`] holds: 8 bundles of 3.
const MAX_ELEMENTS: usize = 24;

/// The windows the trigger properties draw: fixed windows of 10 s or 20 s, sessions with a gap of 5 s
/// or 10 s, or the global window.
pub fn window_spec() -> impl Strategy<Value = WindowSpec> {
    prop_oneof![
        2 => select(&[10_000i64, 20_000][..]).prop_map(|ms| WindowSpec::Fixed(Duration::millis(ms))),
        2 => session_gap().prop_map(WindowSpec::Sessions),
        1 => Just(WindowSpec::Global),
    ]
}

/// A session gap: 5 s or 10 s.
pub fn session_gap() -> impl Strategy<Value = Duration> {
    select(&[5_000i64, 10_000][..]).prop_map(Duration::millis)
}

/// A trigger that fires at most once (Beam's `OnceTrigger`, what `.withEarlyFirings`,
/// `.withLateFirings`, `.orFinally`, `AfterFirst` and `AfterAll` take), at most `depth` composites deep:
/// `AfterPane.elementCountAtLeast(1..=3)`, `AfterProcessingTime` with a delay of 1 to 5 s or aligned to
/// 5 s, `AfterWatermark.pastEndOfWindow()`, `Never.ever()`, and `AfterFirst`/`AfterAll` of two of them.
pub fn once_trigger(depth: u32) -> BoxedStrategy<Trigger> {
    let leaf = prop_oneof![
        3 => (1..=3u64).prop_map(AfterPane::element_count_at_least),
        3 => prop_oneof![
            (1..=5i64).prop_map(|s| AfterProcessingTime::past_first_element_in_pane()
                .plus_delay_of(Duration::seconds(s))),
            Just(AfterProcessingTime::past_first_element_in_pane()
                .aligned_to(Duration::seconds(5), Timestamp::EPOCH)),
        ]
        .prop_map(Trigger::from),
        2 => Just(Trigger::from(AfterWatermark::past_end_of_window())),
        1 => Just(Never::ever()),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let two = || prop::collection::vec(once_trigger(depth - 1), 2);
    prop_oneof![
        4 => leaf,
        1 => two().prop_map(AfterFirst::of),
        1 => two().prop_map(AfterAll::of),
    ]
    .boxed()
}

/// Any trigger of Beam's algebra, at most `depth` composites deep, valid by Beam's types
/// ([`Trigger::check`]): the default trigger, a [`once_trigger`], `Repeatedly.forever`,
/// `AfterEach.inOrder` of two or three, `.orFinally(once)`, and `AfterWatermark.pastEndOfWindow()` with
/// early firings, late firings or both.
pub fn trigger(depth: u32) -> BoxedStrategy<Trigger> {
    if depth == 0 {
        return prop_oneof![1 => Just(Trigger::Default), 3 => once_trigger(0)].boxed();
    }
    let inner = || trigger(depth - 1);
    let once = || once_trigger(depth - 1);
    prop_oneof![
        2 => Just(Trigger::Default),
        2 => once_trigger(depth),
        3 => inner().prop_map(Repeatedly::forever),
        1 => prop::collection::vec(inner(), 2..=3).prop_map(AfterEach::in_order),
        1 => (inner(), once()).prop_map(|(main, until)| main.or_finally(until)),
        3 => (prop::option::of(once()), prop::option::of(once()), any::<bool>()).prop_map(|(early, late, both)| {
            let mut t = AfterWatermark::past_end_of_window();
            match (early, late) {
                (None, None) => t = t.with_early_firings(AfterPane::element_count_at_least(1)),
                (early, late) => {
                    if let Some(early) = early {
                        t = t.with_early_firings(early);
                    }
                    if let Some(late) = late {
                        t = t.with_late_firings(late);
                    } else if both {
                        t = t.with_late_firings(AfterPane::element_count_at_least(1));
                    }
                }
            }
            Trigger::from(t)
        }),
    ]
    .boxed()
}

/// A complete windowing for the trigger properties: drawn windows and trigger (two composites deep),
/// allowed lateness of 0, 1 ms, 5 s or 20 s, either accumulation mode, either closing behaviour and
/// either on-time behaviour.
pub fn windowing() -> impl Strategy<Value = Windowing> {
    (
        window_spec(),
        trigger(2),
        select(&[0i64, 1, 5_000, 20_000][..]),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(windows, trigger, lateness, accumulating, fire_always, on_time_always)| Windowing {
                windows,
                trigger,
                allowed_lateness: Duration::millis(lateness),
                accumulation: if accumulating {
                    AccumulationMode::Accumulating
                } else {
                    AccumulationMode::Discarding
                },
                closing_behavior: if fire_always {
                    ClosingBehavior::FireAlways
                } else {
                    ClosingBehavior::FireIfNonEmpty
                },
                on_time_behavior: if on_time_always {
                    OnTimeBehavior::FireAlways
                } else {
                    OnTimeBehavior::FireIfNonEmpty
                },
            },
        )
}

/// The length the drawn instants of `windowing` crowd around: the fixed windows' size, the session
/// gap, 10 s for the global window.
fn unit(windowing: &Windowing) -> i64 {
    match windowing.windows {
        WindowSpec::Fixed(size) | WindowSpec::Sliding { size, .. } => size.as_millis(),
        WindowSpec::Sessions(gap) => gap.as_millis(),
        WindowSpec::Global => 10_000,
    }
}

/// An instant where `windowing`'s rules change, or near one: with `u` the window size (or session gap)
/// and `L` the allowed lateness, `BASE + k·u` plus `0`, `u − 1 ms`, `u`, `u − 1 ms + L` or `u + L`, for
/// `k` in `0..WINDOWS`; elements a gap apart make sessions that touch, and so merge.
pub fn windowing_boundary_time(windowing: &Windowing) -> impl Strategy<Value = Timestamp> {
    let u = unit(windowing);
    let lateness = windowing.allowed_lateness.as_millis();
    (0..WINDOWS, select(&[0i64, 1, 2, 3, 4][..])).prop_map(move |(k, which)| {
        let base = BASE.millis() + k * u;
        Timestamp::from_millis(match which {
            0 => base,
            1 => base + u - 1,
            2 => base + u,
            3 => base + u - 1 + lateness,
            _ => base + u + lateness,
        })
    })
}

/// One Beam-style element of a trigger timeline: key and id, at a drawn event time (a boundary instant
/// three times out of four, anywhere in the first [`WINDOWS`] units otherwise). Ids are filled in by
/// [`trigger_timeline`], in arrival order.
fn keyed_element(windowing: &Windowing) -> impl Strategy<Value = (String, Timestamp)> {
    let span = WINDOWS * unit(windowing);
    let time = prop_oneof![
        3 => windowing_boundary_time(windowing),
        1 => (0..span).prop_map(|ms| Timestamp::from_millis(BASE.millis() + ms)),
    ];
    (keys(), time)
}

/// A script of Beam-style elements for `windowing`: 1 to 8 segments, each a bundle of 1 to 3
/// [`TimestampedValue`]s `(key, id)` (ids 0, 1, 2, … in arrival order) followed, more often than not, by
/// a watermark step and, often, by a processing-time step of 1 to 6 s (so that processing-time triggers
/// fire), then the watermark to +∞. Read it with a pipeline built on
/// [`timestamped_values::<(String, u64)>()`](crate::timestamped::timestamped_values).
pub fn trigger_timeline(windowing: &Windowing) -> impl Strategy<Value = TestStream> {
    let segment = (
        prop::collection::vec(keyed_element(windowing), 1..=3),
        prop::option::weighted(0.6, windowing_boundary_time(windowing)),
        prop::option::weighted(0.4, 1..=6i64),
    );
    prop::collection::vec(segment, 1..=8).prop_map(|segments| {
        let mut targets: Vec<Timestamp> = segments.iter().filter_map(|s| s.1).collect();
        targets.sort();
        let mut targets = targets.into_iter();
        let mut stream = TestStream::new();
        let mut id = 0u64;
        for (elements, watermark, seconds) in segments {
            stream = stream.add_elements(elements.into_iter().map(|(key, t)| {
                id += 1;
                TimestampedValue::of((key, id - 1), t)
            }));
            if watermark.is_some() {
                stream = stream.advance_watermark_to(targets.next().expect("one target per watermark step"));
            }
            if let Some(s) = seconds {
                stream = stream.advance_processing_time(Duration::seconds(s));
            }
        }
        debug_assert!(id as usize <= MAX_ELEMENTS);
        stream.advance_watermark_to_infinity()
    })
}

/// A [`windowing`] and a [`trigger_timeline`] drawn for it.
pub fn windowing_and_timeline() -> impl Strategy<Value = (Windowing, TestStream)> {
    windowing().prop_flat_map(|windowing| {
        let timeline = trigger_timeline(&windowing);
        (Just(windowing), timeline)
    })
}
