//! Cost per record against input size and open state, and the memory an open window takes, in one run.
//!
//! 1. **Input size**: datagen visits (seed 42, default users) of 125k, 250k, 500k and 1M events through
//!    `simulate` and the traffic pipeline, with `--watermark perfect` (every window stays open until the
//!    end) and with the default bounded watermark and `--allowed-lateness 24h`: ns per record.
//! 2. **Open state**, the windowing core fed straight from memory (count per key in 1 s fixed windows),
//!    with n = 1k, 10k, 100k or 1M (key, window) states open, spread over n keys (one window each) or over
//!    16 keys (n/16 windows each, the shape that grows with a recording under a perfect watermark); perfect
//!    watermark, and a watermark 5 s behind the records with 24 h allowed lateness (windows fire on time
//!    and stay open); ns of CPU time per record:
//!    - **2a**, the same 1,000,000 records (1,000 keys × 100 windows) whatever n, beside n other open
//!      states: what the open windows cost a record. This is the question of state independence: does a
//!      record cost more because n windows are open?
//!    - **2b**, 1,000,000 records spread over the n states themselves, end of input included (fired in
//!      parts, each part's panes taken before the next, as `simulate` does): at n = 1M every record
//!      creates a state, and every state fires once; at 1k a record mostly adds to a state that exists.
//!      Beyond the caches (100k and up) each new key and window is a cache miss, so this grows with n by
//!      the memory hierarchy, not by the index. A **bare hash map** is measured beside it: the same
//!      records counted in a `HashMap<(String, i64), u64>` sized in advance for every state, with no
//!      watermark, timers, panes or order, whose cost per record grows with n on the same machine too.
//! 3. **Memory**: in a fresh child process each, 1M open windows over 1M keys and over 16 keys: the
//!    growth of resident memory per open (key, window), less the key itself (a `String` of 12 bytes: 24
//!    bytes inline and a 16-byte heap block), and the peak RSS (`VmHWM`).
//!
//! The figures to compare are printed side by side with their largest/smallest ratio (target ≤ 1.5×),
//! bytes per window (target ≤ 100) and peak RSS (target < 200 MB).
//!
//! Each cell of table 2 is the best of several rounds, and each round goes over every cell in turn, so
//! that a slow minute on a shared machine slows one run of every cell rather than every run of one.
//!
//! Run: `cargo bench -p simulator --bench scaling` (`QUICK=1` for a smaller run: sizes up to 250k;
//! `-- --open-state` for table 2 alone; `-- --core KEYS PER_KEY perfect|late` for one cell of 2b and
//! `-- --beside KEYS PER_KEY perfect|late` for one of 2a, to run under a profiler).

use std::io::BufWriter;

use datagen::{Generator, GeneratorConfig};
use formats::jsonl::JsonlSource;
use formats::output::{Discard, OutputLines};
use pipeline::aggregator::WindowedAggregator;
use pipeline::combine::Count;
use pipeline::strategy::WindowingStrategy;
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use pipeline::watermark::WatermarkStrategy;
use simulator::{simulate, SimulationOptions, Sinks, DEFAULT_FIRING_PART};

// The same allocator as the `simulate` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: u64 = 1_000_000;
const LATENESS: Duration = Duration::seconds(24 * 3600);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // A child run for one memory figure: `scaling --memory <keys> <windows per key>`.
    if let Some(at) = args.iter().position(|a| a == "--memory") {
        let keys = args[at + 1].parse().expect("keys");
        let per_key = args[at + 2].parse().expect("windows per key");
        memory_child(keys, per_key);
        return;
    }
    // One cell of table 2b, for a profiler: `scaling --core <keys> <windows per key> <perfect|late>`.
    if let Some((keys, per_key, lateness)) = cell_arguments(&args, "--core") {
        let (ns, held) = best_of(1, RECORDS, || run_core(keys, per_key, RECORDS, lateness));
        println!("{keys} keys x {per_key}: {ns:.0} ns per record, {held} open at the end");
        return;
    }
    // One cell of table 2a, for a profiler: `scaling --beside <keys> <windows per key> <perfect|late>`.
    if let Some((keys, per_key, lateness)) = cell_arguments(&args, "--beside") {
        let ns = run_beside_open(keys, per_key, lateness) as f64 / RECORDS as f64;
        println!("{RECORDS} records beside {keys} keys x {per_key}: {ns:.0} ns per record");
        return;
    }
    let quick = std::env::var_os("QUICK").is_some();
    // Table 2 alone: `scaling --open-state`.
    if args.iter().any(|a| a == "--open-state") {
        open_state(quick);
        return;
    }
    input_size(quick);
    open_state(quick);
    memory();
}

/// The keys, windows per key and lateness after `flag` (`<keys> <windows per key> <perfect|late>`), if
/// the arguments hold `flag`.
fn cell_arguments(args: &[String], flag: &str) -> Option<(u64, u64, Option<Duration>)> {
    let at = args.iter().position(|a| a == flag)?;
    let keys = args[at + 1].parse().expect("keys");
    let per_key = args[at + 2].parse().expect("windows per key");
    let lateness = (args[at + 3] == "late").then_some(LATENESS);
    Some((keys, per_key, lateness))
}

/// Table 1: `simulate` over datagen files of growing size. Each cell is the best of [`SIZE_ROUNDS`] runs,
/// and each round goes over every cell in turn, as table 2's do: on a shared machine a slow minute then
/// slows one run of each cell, not every run of the largest file.
fn input_size(quick: bool) {
    let sizes: &[u64] = if quick {
        &[125_000, 250_000]
    } else {
        &[125_000, 250_000, 500_000, 1_000_000]
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let files: Vec<std::path::PathBuf> = sizes
        .iter()
        .map(|&events| {
            let path = dir.path().join(format!("visits-{events}.jsonl"));
            let config = GeneratorConfig {
                events,
                seed: 42,
                ..GeneratorConfig::default()
            };
            let file = std::fs::File::create(&path).expect("create the input");
            Generator::new(config)
                .expect("a valid config")
                .write_jsonl(BufWriter::new(file))
                .expect("write the input");
            path
        })
        .collect();
    let watermarks = || {
        [
            (WatermarkStrategy::Perfect, Duration::ZERO),
            (WatermarkStrategy::Bounded(pipeline::watermark::DEFAULT_BOUND), LATENESS),
        ]
    };
    // (ns per record, most windows open) per (size, watermark).
    let mut best = vec![(f64::MAX, 0); sizes.len() * 2];
    for _ in 0..SIZE_ROUNDS {
        for ((&events, path), cells) in sizes.iter().zip(&files).zip(best.chunks_mut(2)) {
            for ((watermark, allowed_lateness), cell) in watermarks().into_iter().zip(cells) {
                let run = best_of(1, events, || simulate_file(path, events, watermark, allowed_lateness));
                if run.0 < cell.0 {
                    *cell = run;
                }
            }
        }
    }
    println!(
        "1. simulate, traffic pipeline, datagen seed 42 (ns of CPU time per record, best of {SIZE_ROUNDS} rounds)"
    );
    println!(
        "{:>10} {:>16} {:>12} {:>22} {:>12}",
        "records", "perfect ns/rec", "max open", "bounded+24h ns/rec", "max open"
    );
    for (events, row) in sizes.iter().zip(best.chunks(2)) {
        let ((p, p_open), (l, l_open)) = (row[0], row[1]);
        println!("{events:>10} {p:>16.0} {p_open:>12} {l:>22.0} {l_open:>12}");
    }
    let column = |c: usize| -> Vec<f64> { best.iter().skip(c).step_by(2).map(|cell| cell.0).collect() };
    println!(
        "{:>10} {:>15.2}x {:>12} {:>21.2}x",
        "max/min",
        spread(&column(0)),
        "",
        spread(&column(1))
    );
    println!();
}

/// Rounds of table 1.
const SIZE_ROUNDS: usize = 3;

/// `simulate` with the traffic pipeline over the `events` visits in `path`, output discarded; returns the
/// most windows open at once.
fn simulate_file(
    path: &std::path::Path,
    events: u64,
    watermark: WatermarkStrategy,
    allowed_lateness: Duration,
) -> usize {
    let pipeline = traffic_pipeline(TrafficConfig {
        allowed_lateness,
        ..TrafficConfig::default()
    });
    let options = SimulationOptions {
        watermark,
        ..SimulationOptions::default()
    };
    let mut source = JsonlSource::open(path).unwrap();
    let mut outputs = OutputLines::new(std::io::sink(), "bench", false);
    let sinks = Sinks {
        outputs: &mut outputs,
        late: &mut Discard,
        dead_letters: &mut Discard,
    };
    let report = simulate(&pipeline, &mut source, &options, sinks, &mut |_| {}).unwrap();
    assert_eq!(report.stats.read, events);
    report.max_open_windows
}

/// Table 2: the windowing core with 1k … 1M open windows, in two ways.
fn open_state(quick: bool) {
    let states: &[u64] = if quick {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    // One untimed run first: the first run in a process pays for faulting in the allocator's fresh
    // pages, which later runs reuse, and would make the first row look slow.
    run_beside_open(1_000, 1, Some(LATENESS));
    println!(
        "2a. windowing core, the same {RECORDS} records ({HOT_KEYS} keys, {HOT_WINDOWS} windows of 1 s each) beside n other \
         open (key, window) states (ns of CPU time per record, best of 5 rounds)"
    );
    open_state_table(states, &WATERMARKS, 5, |keys, per_key, lateness| {
        run_beside_open(keys, per_key, lateness) as f64 / RECORDS as f64
    });
    println!(
        "2b. windowing core, {RECORDS} records spread over the n open (key, window) states, one new state per \
         record at n = {RECORDS} (ns of CPU time per record, flush included, best of 2 rounds)"
    );
    open_state_table(states, &WATERMARKS, 2, |keys, per_key, lateness| {
        let (ns, held) = best_of(1, RECORDS, || run_core(keys, per_key, RECORDS, lateness));
        assert_eq!(held as u64, keys * per_key, "every (key, window) was open at the end");
        ns
    });
    bare_hash_map(states);
}

/// Table 2b's records counted in a bare hash map of (key, window start), sized in advance for every
/// state and emptied at the end, with no watermark, timers, panes or order: how much a new key and state
/// costs more than an existing one at each n on this machine, whatever does the indexing.
fn bare_hash_map(states: &[u64]) {
    println!(
        "2b beside a bare hash map: the same records counted in a HashMap of (key, window start) -> count \
         (foldhash, sized in advance), emptied at the end (ns of CPU time per record, best of 2 rounds)"
    );
    open_state_table(states, &[("", None)], 2, |keys, per_key, _| {
        let (ns, held) = best_of(1, RECORDS, || count_in_hash_map(keys, per_key));
        assert_eq!(held as u64, keys * per_key, "every (key, window) was counted");
        ns
    });
}

/// [`run_core`]'s records (a fresh `String` key each, as the core is given) counted per (key, 1 s window)
/// in a hash map, which is then emptied. Returns how many (key, window) pairs it held.
fn count_in_hash_map(keys: u64, per_key: u64) -> usize {
    let mut counts: std::collections::HashMap<(String, i64), u64, foldhash::fast::RandomState> =
        std::collections::HashMap::with_capacity_and_hasher((keys * per_key) as usize, Default::default());
    let span = per_key * 1_000;
    for i in 0..RECORDS {
        let t = (i * span / RECORDS) as i64;
        *counts
            .entry((format!("user-{:07}", i % keys), t - t % 1_000))
            .or_default() += 1;
    }
    let held = counts.len();
    let mut total = 0;
    for (_, count) in counts.drain() {
        total += count;
    }
    assert_eq!(total, RECORDS);
    held
}

/// The watermark columns of tables 2a and 2b: perfect, and 5 s behind with 24 h lateness.
const WATERMARKS: [(&str, Option<Duration>); 2] = [("perfect", None), ("24h late", Some(LATENESS))];

/// One row per number `n` of open states, one column per shape (n keys with one window each, or 16 keys
/// with n/16 windows each) and per entry of `watermarks` (a label and the allowed lateness), and the
/// largest over the smallest of each column. Each cell is the best of `rounds` runs, and the rounds go
/// over every cell in turn: on a shared machine a slow minute then slows one run of each cell, not all
/// runs of one.
fn open_state_table(
    states: &[u64],
    watermarks: &[(&str, Option<Duration>)],
    rounds: usize,
    mut ns_per_record: impl FnMut(u64, u64, Option<Duration>) -> f64,
) {
    let shapes = |open: u64| [("keys", open, 1), ("16 keys", 16, open / 16)];
    let cells: Vec<(u64, u64, Option<Duration>)> = states
        .iter()
        .flat_map(|&open| {
            shapes(open)
                .into_iter()
                .flat_map(|(_, keys, per_key)| watermarks.iter().map(move |&(_, lateness)| (keys, per_key, lateness)))
        })
        .collect();
    let mut best = vec![f64::MAX; cells.len()];
    for _ in 0..rounds {
        for (cell, &(keys, per_key, lateness)) in best.iter_mut().zip(&cells) {
            *cell = cell.min(ns_per_record(keys, per_key, lateness));
        }
    }
    let columns = 2 * watermarks.len();
    print!("{:>10}", "n open");
    for (shape, _, _) in shapes(0) {
        for (watermark, _) in watermarks {
            let label = if watermark.is_empty() {
                shape.to_owned()
            } else {
                format!("{shape}: {watermark}")
            };
            print!(" {label:>18}");
        }
    }
    println!();
    for (open, row) in states.iter().zip(best.chunks(columns)) {
        print!("{open:>10}");
        for ns in row {
            print!(" {ns:>18.0}");
        }
        println!();
    }
    print!("{:>10}", "max/min");
    for c in 0..columns {
        let column: Vec<f64> = best.iter().skip(c).step_by(columns).copied().collect();
        print!(" {:>17.2}x", spread(&column));
    }
    println!();
    println!();
}

/// The keys and 1 s windows of table 2a's records: each (key, window) gets `RECORDS / (HOT_KEYS ×
/// HOT_WINDOWS)` = 10 records.
const HOT_KEYS: u64 = 1_000;
const HOT_WINDOWS: u64 = 100;

/// Opens `keys × per_key` states of other keys, in windows far after the records' (so that nothing
/// fires them), then feeds the core the same `RECORDS` records as every other call: record `i` is key
/// `i % HOT_KEYS` at an event time spread evenly over `HOT_WINDOWS` one-second windows, one bundle each,
/// with the watermark 5 s behind when there is allowed lateness (the records' windows fire on time and
/// stay open). Returns ns of CPU time for the records alone.
fn run_beside_open(keys: u64, per_key: u64, lateness: Option<Duration>) -> u64 {
    let mut strategy = WindowingStrategy::fixed(Duration::seconds(1));
    if let Some(lateness) = lateness {
        strategy = strategy.with_allowed_lateness(lateness);
    }
    let mut core = WindowedAggregator::new(strategy, Count);
    let mut panes = Vec::new();
    let far = 1_000_000_000_000i64;
    for i in 0..keys * per_key {
        let t = Timestamp::from_millis(far + (i / keys * 1_000) as i64);
        core.process(format!("open-{:07}", i % keys), t, ());
        core.finish_bundle(&mut panes);
    }
    let keys: Vec<String> = (0..HOT_KEYS).map(|k| format!("user-{k:07}")).collect();
    let span = HOT_WINDOWS * 1_000;
    let start = thread_cpu_ns();
    for i in 0..RECORDS {
        let t = Timestamp::from_millis((i * span / RECORDS) as i64);
        core.process(keys[(i % HOT_KEYS) as usize].clone(), t, ());
        core.finish_bundle(&mut panes);
        if lateness.is_some() {
            core.advance_watermark(Watermark::at(t.minus(Duration::seconds(5))), &mut panes);
        }
        panes.clear();
    }
    let elapsed = thread_cpu_ns() - start;
    assert!(
        core.open_windows() as u64 >= HOT_KEYS * HOT_WINDOWS,
        "the records' windows are open"
    );
    elapsed
}

/// Feeds `records` records into a core: record `i` is key `i % keys` at an event time spread evenly over
/// `per_key` one-second windows, one bundle each; then the end of input. Returns the most states held.
fn run_core(keys: u64, per_key: u64, records: u64, lateness: Option<Duration>) -> usize {
    let mut strategy = WindowingStrategy::fixed(Duration::seconds(1));
    if let Some(lateness) = lateness {
        strategy = strategy.with_allowed_lateness(lateness);
    }
    let mut core = WindowedAggregator::new(strategy, Count);
    let mut panes = Vec::new();
    let span = per_key * 1_000;
    for i in 0..records {
        let t = Timestamp::from_millis((i * span / records) as i64);
        core.process(format!("user-{:07}", i % keys), t, ());
        core.finish_bundle(&mut panes);
        if lateness.is_some() {
            core.advance_watermark(Watermark::at(t.minus(Duration::seconds(5))), &mut panes);
        }
        panes.clear();
    }
    let held = core.open_windows();
    // The end of input as `simulate` fires it: in parts, each part's panes taken before the next.
    let mut more = core.advance_watermark_in_parts(Watermark::MAX, DEFAULT_FIRING_PART, &mut panes);
    while more {
        panes.clear();
        more = core.continue_firing(DEFAULT_FIRING_PART, &mut panes);
    }
    assert_eq!(core.open_windows(), 0);
    held
}

/// Part 3: each memory figure from a fresh child process, so that peak RSS is that run's alone.
fn memory() {
    println!("3. memory with 1M open (key, window) states (fresh process each; key = 12-byte String)");
    println!(
        "{:>22} {:>20} {:>26} {:>20} {:>14}",
        "shape", "RSS bytes/window", "RSS beyond key", "table bytes/window", "peak RSS MB"
    );
    let exe = std::env::current_exe().expect("the bench's own path");
    for (keys, per_key) in [(1_000_000u64, 1u64), (16, 62_500)] {
        let output = std::process::Command::new(&exe)
            .args(["--memory", &keys.to_string(), &per_key.to_string()])
            .output()
            .expect("run the memory child");
        assert!(output.status.success(), "memory child failed: {output:?}");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

fn memory_child(keys: u64, per_key: u64) {
    let strategy = WindowingStrategy::fixed(Duration::seconds(1)).with_allowed_lateness(LATENESS);
    let mut core = WindowedAggregator::new(strategy, Count);
    let mut panes = Vec::new();
    let windows = keys * per_key;
    let span = per_key * 1_000;
    let before = status_kb("VmRSS:");
    for i in 0..windows {
        let t = Timestamp::from_millis((i * span / windows) as i64);
        // A key of exactly its length, as a decoded id is (`format!` leaves room to grow).
        let mut key = format!("user-{:07}", i % keys);
        key.shrink_to_fit();
        core.process(key, t, ());
        core.finish_bundle(&mut panes);
    }
    assert_eq!(core.open_windows() as u64, windows);
    let after = status_kb("VmRSS:");
    let peak = status_kb("VmHWM:");
    let per_window = (after - before) as f64 * 1024.0 / windows as f64;
    // A key: the String (24 bytes) in the key table, and its heap block (12 bytes, in a 16-byte bin).
    let key_bytes = keys as f64 * 40.0 / windows as f64;
    println!(
        "{:>22} {:>20.1} {:>26.1} {:>20.1} {:>14.1}",
        format!("{keys} keys x {per_key}"),
        per_window,
        per_window - key_bytes,
        core.state_table_bytes() as f64 / windows as f64,
        peak as f64 / 1024.0
    );
    std::hint::black_box(&core);
}

/// A field of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Largest over smallest.
fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    max / min
}

/// The best of `runs` runs in ns of this thread's CPU time per record (on a shared machine the fastest
/// run is the least disturbed one, and CPU time leaves out the time other processes had the core), and
/// what the last run returned.
fn best_of<T>(runs: usize, records: u64, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = thread_cpu_ns();
        last = Some(f());
        best = best.min((thread_cpu_ns() - start) as f64 / records as f64);
    }
    (best, last.expect("at least one run"))
}

/// This thread's CPU time so far, in ns: the first field of `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("read /proc/thread-self/schedstat")
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("CPU time in /proc/thread-self/schedstat")
}
