//! proptest strategies for the traffic pipeline: keys, visits, pipeline options and scripted timelines
//! whose event times and watermark steps crowd the boundaries where windowing rules change.
//!
//! Every strategy is a small function returning `impl Strategy`. Times are drawn around a few fixed
//! windows from [`BASE`] and, most of the time, from the instants that matter for a window
//! `[start, end)` with allowed lateness `L`: `start`, `end − 1 ms` (the last instant of the window),
//! `end` (the first instant of the next one), `end − 1 ms + L` (the last watermark at which the window
//! still takes elements) and `end + L` (one past it). Watermark steps are drawn from the same instants,
//! so elements arrive behind the watermark, exactly at it, and just past the point where their window
//! expires. Scripts are [`TestStream`]s: a failing case shrinks to a short script and prints in the
//! scenario format, ready to paste into `tests/scenarios/`.

use pipeline::event::VisitEvent;
use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Timestamp};
use pipeline::traffic::TrafficConfig;
use proptest::prelude::*;
use proptest::sample::select;

use crate::stream::TestStream;
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
