//! Consume-rate benchmark: the traffic aggregation on a broker against a bare rdkafka consumer, in one
//! run, on the same broker and topic.
//!
//! The topic holds the recorded traffic (`ci/visits.jsonl`) repeated, each copy 20 minutes later in
//! event time, to `BENCH_RECORDS` records (default 200 000; noida-db 0.2.3 starts answering fetches
//! with corrupt batches somewhere between 200 000 and 300 000 of these records) over 3 partitions.
//! Each round reads all of it twice from the beginning with fresh consumer groups: once with a bare
//! `BaseConsumer` poll loop (the same consumer settings as the runner, touching every payload), once
//! with the runner (decode, per-partition watermarks, windowing, output production, commits), the two
//! taking turns going first. The rate is records over the time from the first record to the last (the
//! runner is observed after each batch: from the end of its first batch, without that batch's
//! records); the ratio is pipeline / bare (target ≥ 0.8). Each side's CPU time per record, over the
//! same stretch as its rate (joining the group and shutting down left out), is printed for this process
//! (every thread, librdkafka's included) and for the broker when it is a child process: on a machine
//! whose cores the broker shares, a side is CPU-bound once it keeps both cores busy, and if both sides
//! were, the rate ratio would be the ratio of all CPU spent per record, which is printed too.
//! The broker comes from `test-broker` (see its docs; by default the noida-db that
//! `ci/kafka/install-brokers.sh` installs); with none configured the benchmark prints why and exits.
//! `BENCH_CONSUMER_PROPERTIES=key=value,...` adds librdkafka settings to both sides' consumers,
//! `BENCH_PRODUCER_PROPERTIES` to the runner's producer; `BENCH_ONLY=pipeline` (or `bare`) runs one
//! side alone, for a profiler.
//!
//! `cargo bench -p kafka-runtime --bench consume`

use std::time::{Duration, Instant};

use kafka_runtime::produce::{produce, OutLine, ProduceOptions};
use kafka_runtime::{run_observed, RunnerOptions, Shutdown};
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use test_broker::{broker_or_skip, unique_name};

/// mimalloc: fewer cycles per record allocation than the system allocator (the simulator measured 8%).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUNDS: usize = 5;

fn main() {
    let records: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    // One side alone, for a profiler: `BENCH_ONLY=pipeline` or `BENCH_ONLY=bare`.
    let only = std::env::var("BENCH_ONLY").ok().map(|side| {
        let run: SideFn = match side.as_str() {
            "bare" => bare_consumer_run,
            "pipeline" => pipeline_run,
            other => panic!("BENCH_ONLY is `bare` or `pipeline`, not `{other}`"),
        };
        (side, run)
    });
    let Some(broker) = broker_or_skip("consume benchmark") else {
        return;
    };
    let servers = broker.bootstrap_servers().to_owned();
    let topic = unique_name("bench-visits");
    broker.create_topic(&topic, 3).expect("create the topic");
    let recording = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl"))
        .expect("read ci/visits.jsonl");
    let lines = shifted_copies(&recording, records);
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let started = Instant::now();
    let sent = produce(
        &ProduceOptions::new(&servers, &topic),
        lines.into_iter().map(|value| OutLine { value, due: None }),
        &Shutdown::new(),
        |_, _| {},
    )
    .expect("produce the input")
    .sent;
    println!(
        "broker: {}\ninput: {sent} records, {:.1} MB, produced in {:.2?}",
        broker.description(),
        bytes as f64 / 1e6,
        started.elapsed()
    );

    let broker_pid = broker.pid();
    let mut best = (0.0f64, 0.0f64);
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for round in 1..=ROUNDS {
        // Each run leaves the broker work (noida-db saves its whole state after every change, on the
        // same two cores): the sides take turns going first, so that neither always runs in the other's
        // wake.
        let measure = |side: SideFn| side(&servers, &topic, records, broker_pid).side();
        if let Some((side, run)) = &only {
            let measured = measure(*run);
            println!("round {round}: {side} {measured}");
            continue;
        }
        let (bare, pipeline) = if round % 2 == 1 {
            let bare = measure(bare_consumer_run);
            (bare, measure(pipeline_run))
        } else {
            let pipeline = measure(pipeline_run);
            (measure(bare_consumer_run), pipeline)
        };
        println!(
            "round {round}: bare rdkafka consumer {bare}   traffic-agg pipeline {pipeline}   ratio {:.2}",
            pipeline.rate / bare.rate
        );
        best = (best.0.max(bare.rate), best.1.max(pipeline.rate));
        ratios.push(pipeline.rate / bare.rate);
        if let (Some(b), Some(p)) = (bare.broker_cpu_us, pipeline.broker_cpu_us) {
            cpu_ratios.push((bare.cpu_us + b) / (pipeline.cpu_us + p));
        }
    }
    if ratios.is_empty() {
        return;
    }
    println!(
        "best: bare {:.0} records/s, pipeline {:.0} records/s, ratio of bests {:.2}; median ratio {:.2} (target >= 0.8)",
        best.0,
        best.1,
        best.1 / best.0,
        median(&mut ratios)
    );
    if !cpu_ratios.is_empty() {
        // With the broker on the same cores, a side that keeps both cores busy is CPU-bound: were both,
        // the rate ratio would be the ratio of all CPU spent per record, the broker's included. A side
        // that leaves a core partly idle (waiting on fetches) runs slower than its CPU per record would
        // allow: when that is the bare side, as with tansu here, the rate ratio is above this one.
        println!(
            "median CPU per record of bare (consumer + broker) over pipeline (runner + broker): {:.2} (the rate \
             ratio if both sides kept the two cores busy)",
            median(&mut cpu_ratios)
        );
    }
}

/// One side's run, measured over its steady part (see [`Window`]): its rate, and CPU time per record of
/// this process (all its threads, librdkafka's included) and of the broker (a child process; `None` for a
/// broker this benchmark did not start).
struct Side {
    rate: f64,
    cpu_us: f64,
    broker_cpu_us: Option<f64>,
}

/// Runs one side over the topic (bootstrap servers, topic, records, the broker's pid).
type SideFn = fn(&str, &str, usize, Option<u32>) -> Window;

/// A side's run from its first record (the bare consumer) or first batch (the runner) to its last, and
/// the records read in between: the rate and the CPU times per record are both taken over this stretch,
/// so that neither joining the group nor shutting down (and the client threads' idle wake-ups meanwhile)
/// is charged to the records.
struct Window {
    start: Mark,
    end: Mark,
    records: usize,
}

/// The wall clock and the CPU times at one point of a run.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    cpu: f64,
    broker_cpu: Option<f64>,
}

impl Mark {
    fn now(broker_pid: Option<u32>) -> Mark {
        Mark {
            at: Instant::now(),
            cpu: own_cpu_seconds(),
            broker_cpu: broker_pid.and_then(cpu_seconds_of),
        }
    }
}

impl Window {
    fn side(&self) -> Side {
        let records = self.records.max(1) as f64;
        let per_record = |seconds: f64| seconds * 1e6 / records;
        Side {
            rate: records / (self.end.at - self.start.at).as_secs_f64(),
            cpu_us: per_record(self.end.cpu - self.start.cpu),
            broker_cpu_us: self
                .start
                .broker_cpu
                .zip(self.end.broker_cpu)
                .map(|(start, end)| per_record(end - start)),
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>8.0} records/s ({:.2} us CPU/record", self.rate, self.cpu_us)?;
        match self.broker_cpu_us {
            Some(broker) => write!(f, " + broker {broker:.2})"),
            None => write!(f, ")"),
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `records` lines: the recording over and over, each copy's event times moved 20 minutes (more than
/// the recording spans) past the previous copy's, so that the watermark keeps up and records are
/// counted rather than dropped as late. Only the `event_datetime` value changes: the fields keep their
/// order and layout (a line re-serialised through a map would come out with its keys sorted, a shape
/// the recording never has and the visit decoder reads more slowly). Malformed lines stay as they are.
fn shifted_copies(recording: &str, records: usize) -> Vec<Vec<u8>> {
    let lines: Vec<&str> = recording.lines().collect();
    (0..records)
        .map(|i| {
            let line = lines[i % lines.len()];
            let copy = (i / lines.len()) as i64;
            let Ok(mut visit) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) else {
                return line.as_bytes().to_vec();
            };
            let Some(original) = visit.get("event_datetime").and_then(|v| v.as_str()).map(str::to_owned) else {
                return line.as_bytes().to_vec();
            };
            let Some(shifted) = pipeline::time::Timestamp::parse_datetime(&original)
                .ok()
                .map(|t| t.plus(pipeline::time::Duration::minutes(20 * copy)).format_millis())
            else {
                return line.as_bytes().to_vec();
            };
            match replace_value(line, "event_datetime", &original, &shifted) {
                Some(shifted_line) => shifted_line.into_bytes(),
                // A value written with escapes: re-serialise (keys sorted, but the times are right).
                None => {
                    visit.insert("event_datetime".to_owned(), serde_json::Value::String(shifted));
                    serde_json::to_vec(&visit).expect("serialize")
                }
            }
        })
        .collect()
}

/// `line` with the string value of `key`, written as `value` without escapes, replaced by `with`.
fn replace_value(line: &str, key: &str, value: &str, with: &str) -> Option<String> {
    let quoted_key = format!("\"{key}\"");
    let after_key = line.find(&quoted_key)? + quoted_key.len();
    let rest = &line[after_key..];
    let colon = rest.find(':')?;
    let open = after_key + colon + 1 + line[after_key + colon + 1..].find('"')?;
    let close = open + 1 + value.len();
    (line.get(open + 1..close) == Some(value) && line.as_bytes().get(close) == Some(&b'"'))
        .then(|| format!("{}{with}{}", &line[..=open], &line[close..]))
}

/// CPU time so far of this process, every thread's (librdkafka's included), to the nanosecond.
fn own_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// User plus system CPU time so far of process `pid` (Linux; `None` elsewhere), in clock ticks of 10 ms:
/// tansu spends about 13 of them in a round of 200,000 records, so one side's broker figure is coarse
/// (compare the rounds, not one).
fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // CLK_TCK is 100 on Linux.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn options(servers: &str, topic: &str) -> RunnerOptions {
    let mut options = RunnerOptions::new(servers);
    options.input_topic = topic.to_owned();
    options.output_topic = unique_name("bench-out");
    options.group_id = unique_name("bench-group");
    options.max_out_of_orderness = "60s".parse().unwrap();
    options.progress_interval = Duration::ZERO;
    // Both sides get the same extra settings, e.g. `fetch.queue.backoff.ms=1000` for librdkafka's default.
    options
        .consumer_properties
        .extend(properties_from_env("BENCH_CONSUMER_PROPERTIES"));
    options
        .producer_properties
        .extend(properties_from_env("BENCH_PRODUCER_PROPERTIES"));
    options
}

/// The librdkafka settings in environment variable `name` (`key=value,...`; none when it is unset).
fn properties_from_env(name: &str) -> Vec<(String, String)> {
    let properties = std::env::var(name).unwrap_or_default();
    properties
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|property| {
            kafka_runtime::cli::key_value(property).unwrap_or_else(|e| panic!("{name} (key=value,...): {e}"))
        })
        .collect()
}

/// A bare poll loop with the runner's consumer settings, from its first record to its last.
fn bare_consumer_run(servers: &str, topic: &str, records: usize, broker_pid: Option<u32>) -> Window {
    let consumer: BaseConsumer = options(servers, topic).consumer_config().create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut start = None;
    let mut seen = 0usize;
    let mut checksum = 0usize;
    while seen < records {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("a message");
            checksum = checksum.wrapping_add(message.payload().map_or(0, |p| p.len() + usize::from(p[0])));
            seen += 1;
            start.get_or_insert_with(|| Mark::now(broker_pid));
        }
    }
    let end = Mark::now(broker_pid);
    std::hint::black_box(checksum);
    Window {
        start: start.expect("read something"),
        end,
        // The first record came before the start.
        records: records - 1,
    }
}

/// The traffic aggregation runner over the same topic, from the end of its first batch to the end of
/// the batch that holds its last record.
fn pipeline_run(servers: &str, topic: &str, records: usize, broker_pid: Option<u32>) -> Window {
    let shutdown = Shutdown::new();
    // The observer sees the counts after each batch: the window starts after the first, whose records
    // are then left out of the count.
    let mut start: Option<(Mark, usize)> = None;
    let mut end = None;
    let options = options(servers, topic);
    let stop = shutdown.clone();
    run_observed(
        traffic_pipeline(TrafficConfig::default()),
        options,
        &shutdown,
        &mut |stats, _| {
            let read = stats.records_read() as usize;
            if read > 0 && start.is_none() {
                start = Some((Mark::now(broker_pid), read));
            }
            if read >= records && end.is_none() {
                end = Some((Mark::now(broker_pid), read));
                stop.request();
            }
        },
    )
    .expect("the runner");
    let (start, read_before) = start.expect("read something");
    let (end, read_at_end) = end.expect("read everything");
    Window {
        start,
        end,
        records: read_at_end - read_before,
    }
}
