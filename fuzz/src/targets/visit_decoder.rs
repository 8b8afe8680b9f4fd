//! Target `visit_decoder`: arbitrary bytes as one visit record, decoded by
//! [`VisitEvent::from_json`] and pushed through the traffic pipeline as a bundle of one.
//!
//! Properties: nothing is lost (`read = counted + late + dead-lettered` and the record is in exactly one
//! of them), a record that does not decode is dead-lettered with its exact bytes, and a record that
//! decodes is counted in one window containing its event time and survives a round trip through its
//! own JSON form unchanged.

use arbitrary::{Result, Unstructured};
use pipeline::event::VisitEvent;
use pipeline::time::Watermark;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use pipeline::Emitted;

use crate::generate;

/// Field names, JSON tokens and datetimes worth splicing into a record.
pub const DICTIONARY: &[&str] = &[
    "\"ip\":",
    "\"id\":",
    "\"lat\":",
    "\"lng\":",
    "\"user_agent\":",
    "\"age_bracket\":",
    "\"opted_into_marketing\":",
    "\"http_request\":",
    "\"http_response\":",
    "\"file_size_bytes\":",
    "\"event_datetime\":",
    "\"event_ts\":",
    "null",
    "true",
    "false",
    "\"\"",
    "\"2024-04-28T23:12:50.484\"",
    "\"0000-01-01T00:00:00\"",
    "\"9999-12-31T23:59:59.999\"",
    "\\u0000",
    "\\ud800",
    "9223372036854775807",
    "1e400",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let decoded = VisitEvent::from_json(data);
    let mut instance = traffic_pipeline(TrafficConfig::default()).start();
    let mut out = Emitted::default();
    instance.process_bundle(super::records([data]), &mut out);
    instance.advance_watermark(Watermark::MAX, &mut out);
    let stats = instance.stats();
    if let Err(lost) = stats.check_conservation() {
        panic!("{lost}");
    }
    assert_eq!(stats.read, 1, "one record in: {stats:?}");
    assert_eq!(
        instance.open_windows(),
        0,
        "a window survived the watermark reaching +inf"
    );
    match decoded {
        Ok(visit) => {
            assert_eq!(
                (stats.parsed, stats.counted),
                (1, 1),
                "a decoded record is counted: {stats:?}"
            );
            assert!(out.dead_letters.is_empty() && out.late.is_empty());
            let t = visit.event_time().expect("from_json checked the event time");
            assert_eq!(out.outputs.len(), 1, "one record fills one fixed window");
            let pane = &out.outputs[0];
            assert!(pane.window.contains(t), "{t} is not in its window {}", pane.window);
            assert_eq!((pane.value.id.as_str(), pane.value.page_views), (visit.id.as_str(), 1));
            let text = serde_json::to_vec(&visit).expect("a decoded visit serializes");
            let again = VisitEvent::from_json(&text).unwrap_or_else(|e| {
                panic!(
                    "the re-serialized visit does not decode: {e}: {}",
                    String::from_utf8_lossy(&text)
                )
            });
            assert_eq!(again, visit, "a round trip through JSON changed the visit");
        }
        Err(error) => {
            assert!(!error.to_string().is_empty(), "an error says what is wrong");
            assert_eq!(stats.dead_lettered, 1, "{stats:?}");
            assert!(out.outputs.is_empty());
            assert_eq!(out.dead_letters.len(), 1);
            assert_eq!(
                out.dead_letters[0].payload, data,
                "a dead letter keeps the exact input bytes"
            );
        }
    }
}

/// A visit record (mostly well-formed), sometimes cut short or followed by more bytes.
pub fn generate(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut record = generate::visit_json(u)?.into_bytes();
    match u.int_in_range(0..=9)? {
        0 => {
            let cut = u.int_in_range(0..=record.len())?;
            record.truncate(cut);
        }
        1 => {
            let tail: &[u8] = u.choose(&[&b" "[..], b"\n", b"}", b",{}", b"\xff", b" trailing"])?;
            record.extend_from_slice(tail);
        }
        2 => {
            let head: &[u8] = u.choose(&[&b" "[..], b"\xef\xbb\xbf", b"\n"])?;
            record = [head, &record].concat();
        }
        _ => {}
    }
    Ok(record)
}
