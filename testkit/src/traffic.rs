//! Fixtures for the seed's traffic aggregation: visits to feed it and the aggregates it should emit.
//!
//! [`visit`] makes a [`VisitEvent`] from the two fields the pipeline reads (the user id and the event
//! time) with fixed, realistic values for the rest, taken from the seed tutorial's test; [`page_views`]
//! makes the expected [`TrafficAgg`] of a user and window. They keep tests about windows and panes, not
//! about the visit record's twelve fields.

use pipeline::event::VisitEvent;
use pipeline::time::Timestamp;
use pipeline::traffic::TrafficAgg;
use pipeline::window::Window;

/// A visit of user `id` at `event_datetime` (`2024-04-28T23:12:41`, optional fraction, UTC). The text
/// is normalised to milliseconds when it parses and kept as it is otherwise, so that a test can feed a
/// bad datetime and watch it being dead-lettered.
///
/// ```
/// let v = testkit::visit("alice", "2024-04-28T23:12:41");
/// assert_eq!(v.event_datetime, "2024-04-28T23:12:41.000");
/// assert_eq!(v.event_time().unwrap(), testkit::timestamp("2024-04-28T23:12:41"));
/// ```
pub fn visit(id: &str, event_datetime: &str) -> VisitEvent {
    let (event_datetime, event_ts) = match Timestamp::parse_datetime(event_datetime) {
        Ok(t) => (t.format_millis(), t.millis()),
        Err(_) => (event_datetime.to_owned(), 0),
    };
    VisitEvent {
        ip: "138.201.212.70".to_owned(),
        id: id.to_owned(),
        lat: 50.4779,
        lng: 12.3713,
        user_agent: "Mozilla/5.0 (iPod; U; CPU iPhone OS 3_1 like Mac OS X; ks-IN)".to_owned(),
        age_bracket: "18-25".to_owned(),
        opted_into_marketing: false,
        http_request: "GET eucharya.html HTTP/1.0".to_owned(),
        http_response: 200,
        file_size_bytes: 207,
        event_datetime,
        event_ts,
    }
}

/// The aggregate the traffic pipeline emits for `n` visits of user `id` in `window`.
///
/// ```
/// let agg = testkit::page_views("alice", testkit::window("2024-04-28T23:12:40", "2024-04-28T23:13:00"), 2);
/// assert_eq!((agg.window_start.as_str(), agg.window_end.as_str()), ("2024-04-28T23:12:40", "2024-04-28T23:13:00"));
/// ```
pub fn page_views(id: &str, window: Window, n: u64) -> TrafficAgg {
    TrafficAgg {
        id: id.to_owned(),
        window_start: window.start().format_seconds(),
        window_end: window.end().format_seconds(),
        page_views: n,
    }
}
