//! Micro benchmarks of the per-record steps, with divan's statistics (median, spread over samples):
//! decoding a visit line (ours, and bare serde_json and sonic-rs parses of the same line for scale),
//! parsing `event_datetime` (ours and chrono's), assigning windows, and writing an output line.
//!
//! Run: `cargo bench -p simulator --bench micro` (divan's flags after `--`, e.g. `-- decode`).

use formats::output::OutputLines;
use pipeline::event::{PageView, VisitEvent};
use pipeline::io::Sink;
use pipeline::pane::{PaneInfo, PaneTiming};
use pipeline::time::{Duration, Timestamp};
use pipeline::traffic::TrafficAgg;
use pipeline::window::{FixedWindows, SlidingWindows, Window, WindowFn};
use pipeline::WindowOutput;

fn main() {
    divan::main();
}

const LINE: &str = r#"{"ip":"41.16.4.53","id":"5790326797616355812","lat":19.4326,"lng":-99.1332,"user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10; rv:33.0) Gecko/20100101 Firefox/33.0","age_bracket":"56-70","opted_into_marketing":false,"http_request":"GET plantae.html HTTP/1.0","http_response":200,"file_size_bytes":166,"event_datetime":"2024-04-28T23:12:39.449","event_ts":1714345959449}"#;

/// The two fields the pipeline needs, borrowed from the line.
#[derive(serde::Deserialize)]
struct IdAndTime<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(borrow)]
    event_datetime: &'a str,
}

mod decode {
    use super::*;

    /// The traffic pipeline's decoder: the whole visit checked, the id and the event time kept.
    #[divan::bench]
    fn page_view() -> PageView {
        PageView::from_json(divan::black_box(LINE.as_bytes())).expect("a visit")
    }

    /// Every field, owned.
    #[divan::bench]
    fn visit_event() -> VisitEvent {
        VisitEvent::from_json(divan::black_box(LINE.as_bytes())).expect("a visit")
    }

    /// The line whose coordinates carry an escape: our fast path gives up, serde_json decides.
    #[divan::bench]
    fn page_view_slow_path(bencher: divan::Bencher) {
        let line = LINE.replace("plantae", "plant\\u0061e");
        bencher.bench(|| PageView::from_json(divan::black_box(line.as_bytes())).expect("a visit"));
    }

    /// Baseline: serde_json, two fields borrowed, the rest skipped unchecked.
    #[divan::bench]
    fn serde_json_id_and_time() -> usize {
        let v: IdAndTime = serde_json::from_slice(divan::black_box(LINE.as_bytes())).expect("JSON");
        v.id.len() + v.event_datetime.len()
    }

    /// Baseline: sonic-rs, two fields borrowed, the rest skipped.
    #[divan::bench]
    fn sonic_rs_id_and_time() -> usize {
        let v: IdAndTime = sonic_rs::from_slice(divan::black_box(LINE.as_bytes())).expect("JSON");
        v.id.len() + v.event_datetime.len()
    }
}

mod datetime {
    use super::*;

    /// The common form, by the fixed-layout parser.
    #[divan::bench]
    fn parse_millis_form() -> Timestamp {
        Timestamp::parse_datetime(divan::black_box("2024-04-28T23:12:39.449")).expect("a datetime")
    }

    /// A trailing zone letter: still the fixed-layout parser.
    #[divan::bench]
    fn parse_with_zone_letter() -> Timestamp {
        Timestamp::parse_datetime(divan::black_box("2024-04-28T23:12:39.449Z")).expect("a datetime")
    }

    /// Baseline: chrono's format-string parser on the common form.
    #[divan::bench]
    fn chrono_parse_from_str() -> i64 {
        chrono::NaiveDateTime::parse_from_str(divan::black_box("2024-04-28T23:12:39.449"), "%Y-%m-%dT%H:%M:%S%.f")
            .expect("a datetime")
            .and_utc()
            .timestamp_millis()
    }

    /// A window bound as the output writes it.
    #[divan::bench]
    fn format_seconds() -> String {
        divan::black_box(Timestamp::from_millis(1_714_345_959_449)).format_seconds()
    }
}

mod window {
    use super::*;

    fn assign(window_fn: &dyn WindowFn, bencher: divan::Bencher) {
        let mut out = Vec::with_capacity(4);
        let mut t = 1_714_345_959_449i64;
        bencher.bench_local(|| {
            out.clear();
            t += 137;
            window_fn.assign_windows(Timestamp::from_millis(divan::black_box(t)), &mut out);
            out.len()
        });
    }

    /// Fixed 20 s windows: one window per element.
    #[divan::bench]
    fn assign_fixed(bencher: divan::Bencher) {
        assign(&FixedWindows::of(Duration::seconds(20)), bencher);
    }

    /// Sliding 60 s windows every 20 s: three windows per element.
    #[divan::bench]
    fn assign_sliding(bencher: divan::Bencher) {
        assign(
            &SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)),
            bencher,
        );
    }
}

mod output {
    use super::*;

    /// One pane written as the seed's JSON line (into a reused buffer, as `simulate` does).
    #[divan::bench]
    fn write_traffic_line(bencher: divan::Bencher) {
        let window = Window::new(
            Timestamp::from_millis(1_714_345_960_000),
            Timestamp::from_millis(1_714_345_980_000),
        );
        let pane = WindowOutput {
            key: "5790326797616355812".to_owned(),
            window,
            pane: PaneInfo {
                timing: PaneTiming::OnTime,
                index: 0,
                non_speculative_index: Some(0),
                is_first: true,
                is_last: true,
            },
            value: TrafficAgg {
                id: "5790326797616355812".to_owned(),
                window_start: window.start().format_seconds(),
                window_end: window.end().format_seconds(),
                page_views: 7,
            },
        };
        let mut sink = OutputLines::new(std::io::sink(), "bench", false);
        bencher.bench_local(|| sink.write(divan::black_box(&pane)).expect("written"));
    }
}
