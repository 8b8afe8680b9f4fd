//! Simulator throughput against bare JSON parses of the same file, all measured in one run.
//!
//! Generates 1,000,000 visits with datagen (seed 42, 20 users), then measures over the same file:
//! 1. the baselines: read each line and parse only `id` and `event_datetime` into a borrowed struct, with
//!    `serde_json` and with `sonic-rs` (the fastest JSON crate that fits: SIMD, serde, borrowing);
//! 2. `simulate` on one thread: the whole traffic pipeline (check the whole visit, event time, window,
//!    count, fire, write the output lines);
//! 3. `simulate` on two threads (`--threads 2`).
//!
//! Single-thread figures are CPU time of the measuring thread (`/proc/thread-self/schedstat`), so that
//! other work on a shared machine does not count; the best of `RUNS` runs is kept. The threaded run is
//! wall-clock time against the one-thread run's wall-clock time, measured alternately in the same run.
//!
//! Run: `cargo bench -p simulator --bench throughput` (`EVENTS=N` to change the size, `RUNS=N` the runs).

use std::io::{BufRead, BufReader, BufWriter};
use std::path::Path;
use std::time::Instant;

use datagen::{Generator, GeneratorConfig};
use formats::jsonl::JsonlSource;
use formats::output::{Discard, OutputLines};
use pipeline::time::Duration;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use pipeline::watermark::WatermarkStrategy;
use simulator::{simulate_sharded, SimulationOptions, Sinks};

// The same allocator as the `simulate` binary, so the figure is the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The two fields the pipeline needs, borrowed from the line.
#[derive(serde::Deserialize)]
struct IdAndTime<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(borrow)]
    event_datetime: &'a str,
}

fn main() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let events = env("EVENTS", 1_000_000);
    let runs = env("RUNS", 3) as usize;
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
        "input: {events} events, {:.1} MiB; best of {runs} runs",
        bytes as f64 / (1 << 20) as f64
    );
    // Warm the page cache so that no measurement is the only one reading from disk.
    assert_eq!(for_each_line(&path, |_| {}), events);

    let serde_rate = best_cpu_rate(runs, events, || {
        let n = for_each_line(&path, |line| {
            let v: IdAndTime = serde_json::from_slice(line).expect("a visit");
            std::hint::black_box((v.id, v.event_datetime));
        });
        assert_eq!(n, events);
    });
    let sonic_rate = best_cpu_rate(runs, events, || {
        let n = for_each_line(&path, |line| {
            let v: IdAndTime = sonic_rs::from_slice(line).expect("a visit");
            std::hint::black_box((v.id, v.event_datetime));
        });
        assert_eq!(n, events);
    });
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let options = SimulationOptions {
        watermark: WatermarkStrategy::Bounded(Duration::seconds(5)),
        ..SimulationOptions::default()
    };
    let mut panes = 0;
    let mut simulate = |threads: usize| {
        let mut source = JsonlSource::open(&path).unwrap();
        let mut outputs = OutputLines::new(std::io::sink(), "bench", false);
        let sinks = Sinks {
            outputs: &mut outputs,
            late: &mut Discard,
            dead_letters: &mut Discard,
        };
        let report = simulate_sharded(&pipeline, &mut source, &options, sinks, threads, &mut |_| {}).unwrap();
        assert_eq!(report.stats.read, events);
        panes = report.stats.panes;
    };
    let simulate_rate = best_cpu_rate(runs, events, || simulate(1));
    let (mut one_wall, mut two_wall) = (f64::MAX, f64::MAX);
    for _ in 0..runs {
        one_wall = one_wall.min(wall_seconds(|| simulate(1)));
        two_wall = two_wall.min(wall_seconds(|| simulate(2)));
    }

    let best_baseline = serde_rate.max(sonic_rate);
    println!("bare serde_json borrowed parse of id, event_datetime: {serde_rate:>12.0} events/s (CPU)");
    println!("bare sonic-rs borrowed parse of id, event_datetime:   {sonic_rate:>12.0} events/s (CPU)");
    println!("simulate, 1 thread (traffic pipeline, {panes} panes):  {simulate_rate:>12.0} events/s (CPU)");
    println!(
        "ratio simulate / serde_json parse:                    {:>11.0}%",
        100.0 * simulate_rate / serde_rate
    );
    println!(
        "ratio simulate / sonic-rs parse:                      {:>11.0}%",
        100.0 * simulate_rate / sonic_rate
    );
    println!(
        "ratio simulate / the faster parse:                    {:>11.0}%",
        100.0 * simulate_rate / best_baseline
    );
    println!(
        "simulate wall clock, 1 thread / 2 threads:  {:>8.0} / {:>8.0} events/s: speed-up {:.2}x",
        events as f64 / one_wall,
        events as f64 / two_wall,
        one_wall / two_wall
    );
}

/// Calls `f` with each line (without its line break); the number of lines.
fn for_each_line(path: &Path, mut f: impl FnMut(&[u8])) -> u64 {
    let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap());
    let mut line = Vec::with_capacity(1024);
    let mut n = 0;
    while reader.read_until(b'\n', &mut line).unwrap() > 0 {
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        f(text);
        n += 1;
        line.clear();
    }
    n
}

/// CPU time the calling thread has run, from the scheduler's own count (nanoseconds).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    let nanos: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("run time in ns");
    nanos as f64 / 1e9
}

/// The best rate of `runs` runs in CPU time of this thread: on a shared machine the least disturbed run.
fn best_cpu_rate(runs: usize, events: u64, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = thread_cpu_seconds();
            f();
            events as f64 / (thread_cpu_seconds() - start)
        })
        .fold(0.0, f64::max)
}

fn wall_seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}
