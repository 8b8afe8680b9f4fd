//! Generator throughput: 1,000,000 events to a temporary file, against two baselines on the same run.
//!
//! Baselines: copying the generated file's bytes to another file (the I/O ceiling), and
//! `serde_json::to_writer` of one parsed `VisitEvent` a million times into a buffered file (what plain
//! serde serialisation costs without drawing anything). Run with `cargo bench -p datagen`; set
//! `DATAGEN_BENCH_EVENTS` to change the count.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

use datagen::{Generator, GeneratorConfig};
use pipeline::event::VisitEvent;
use pipeline::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: u64 = std::env::var("DATAGEN_BENCH_EVENTS")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let config = GeneratorConfig {
        seed: 42,
        num_users: 20,
        events,
        jitter: Duration::seconds(3),
        late_fraction: 0.02,
        malformed_fraction: 0.005,
        empty_coords_fraction: 0.05,
        ..GeneratorConfig::default()
    };
    let dir = tempfile::tempdir()?;

    let path = dir.path().join("visits.jsonl");
    let started = Instant::now();
    let summary = Generator::new(config)?.write_jsonl(File::create(&path)?)?;
    let generate = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    assert_eq!(summary.lines, events);

    let started = Instant::now();
    std::fs::copy(&path, dir.path().join("copy.jsonl"))?;
    let copy = started.elapsed().as_secs_f64();

    let first = std::fs::read(&path)?;
    let first_line = first.split(|&b| b == b'\n').next().expect("one line");
    let visit = VisitEvent::from_json(first_line)?;
    let started = Instant::now();
    let mut out = BufWriter::new(File::create(dir.path().join("serde.jsonl"))?);
    for _ in 0..events {
        serde_json::to_writer(&mut out, &visit)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let serde = started.elapsed().as_secs_f64();

    let rate = |secs: f64| events as f64 / secs;
    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!("datagen throughput: {events} events, {mib:.1} MiB, seed 42, 20 users, 2 cores shared");
    println!(
        "  generator -> file          {:>12.0} events/s  {:>7.1} MiB/s  {:.3} s",
        rate(generate),
        mib / generate,
        generate
    );
    println!(
        "  baseline: copy the file    {:>12.0} events/s  {:>7.1} MiB/s  {:.3} s",
        rate(copy),
        mib / copy,
        copy
    );
    println!(
        "  baseline: serde_json write {:>12.0} events/s  {:>7.1} MiB/s  {:.3} s",
        rate(serde),
        mib / serde,
        serde
    );
    println!(
        "  generator / serde_json write: {:.2}x; generator / copy: {:.2}x",
        serde / generate,
        copy / generate
    );
    Ok(())
}
