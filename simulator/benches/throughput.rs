//! Simulator throughput against a bare `serde_json` parse of the same file, in one run.
//!
//! Generates 1,000,000 visits with datagen (seed 42, 20 users), then times, over the same file:
//! 1. the baseline: read each line and `serde_json::from_slice` it into a `serde_json::Value`;
//! 2. the baseline into the typed `VisitEvent` (what the pipeline itself must do at least);
//! 3. `simulate`: the whole traffic pipeline (parse, event time, window, count, fire, format output).
//!
//! Run: `cargo bench -p simulator --bench throughput` (`EVENTS=N` to change the size).

use std::io::{BufRead, BufReader, BufWriter};
use std::time::Instant;

use datagen::{Generator, GeneratorConfig};
use formats::jsonl::JsonlSource;
use formats::output::{Discard, OutputLines};
use pipeline::time::Duration;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use pipeline::watermark::WatermarkStrategy;
use simulator::{simulate, SimulationOptions, Sinks};

// The same allocator as the `simulate` binary, so the figure is the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let events: u64 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("visits.jsonl");
    let config = GeneratorConfig {
        events,
        num_users: 20,
        seed: 42,
        jitter: Duration::seconds(3),
        ..GeneratorConfig::default()
    };
    let file = std::fs::File::create(&path).expect("create the input");
    Generator::new(config)
        .expect("a valid config")
        .write_jsonl(BufWriter::new(file))
        .expect("write the input");
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "input: {events} events, {:.1} MiB ({})",
        bytes as f64 / (1 << 20) as f64,
        path.display()
    );

    // Warm the page cache so the first measurement is not the only one reading from disk.
    count_lines(&path);

    let value_rate = best_of(3, events, || {
        let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(&path).unwrap());
        let mut line = Vec::new();
        let mut n = 0u64;
        while reader.read_until(b'\n', &mut line).unwrap() > 0 {
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            n += v.is_object() as u64;
            line.clear();
        }
        assert_eq!(n, events);
    });
    let typed_rate = best_of(3, events, || {
        let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(&path).unwrap());
        let mut line = Vec::new();
        let mut n = 0u64;
        while reader.read_until(b'\n', &mut line).unwrap() > 0 {
            let v: pipeline::event::VisitEvent = serde_json::from_slice(&line).unwrap();
            n += (v.http_response > 0) as u64;
            line.clear();
        }
        assert_eq!(n, events);
    });
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = SimulationOptions {
        watermark: WatermarkStrategy::Bounded(Duration::seconds(5)),
        ..SimulationOptions::default()
    };
    let mut panes = 0;
    let simulate_rate = best_of(3, events, || {
        let mut source = JsonlSource::open(&path).unwrap();
        let mut outputs = OutputLines::new(std::io::sink(), "bench", false);
        let sinks = Sinks {
            outputs: &mut outputs,
            late: &mut Discard,
            dead_letters: &mut Discard,
        };
        let report = simulate(&pipeline, &mut source, &options, sinks, &mut |_| {}).unwrap();
        assert_eq!(report.stats.read, events);
        panes = report.stats.panes;
    });
    println!("bare serde_json parse to Value:      {:>12.0} events/s", value_rate);
    println!("bare serde_json parse to VisitEvent: {:>12.0} events/s", typed_rate);
    println!(
        "simulate (traffic pipeline):         {:>12.0} events/s ({panes} panes)",
        simulate_rate
    );
    println!(
        "ratio simulate / parse to Value:      {:>11.0}%",
        100.0 * simulate_rate / value_rate
    );
    println!(
        "ratio simulate / parse to VisitEvent: {:>11.0}%",
        100.0 * simulate_rate / typed_rate
    );
}

fn count_lines(path: &std::path::Path) -> usize {
    BufReader::new(std::fs::File::open(path).unwrap()).lines().count()
}

/// The best rate of `runs` runs: on a shared machine the fastest run is the least disturbed one.
fn best_of(runs: usize, events: u64, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            events as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}
