//! Test helpers: visit records, running a pipeline to completion, and a small seeded visit generator.

#![allow(dead_code)]

use std::hash::Hash;

use pipeline::combine::CombineFn;
use pipeline::event::VisitEvent;
use pipeline::io::{Position, Record};
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::{Emitted, Pipeline, PipelineStats};
use sql::{SqlOptions, SqlRow};

/// A visit of user `id` at `datetime` (`2024-04-28T23:12:41.000`), other fields fixed.
pub fn visit(id: &str, datetime: &str) -> VisitEvent {
    VisitEvent {
        ip: "1.2.3.4".into(),
        id: id.into(),
        lat: 45.5,
        lng: 9.25,
        user_agent: "Mozilla/5.0".into(),
        age_bracket: "26-40".into(),
        opted_into_marketing: true,
        http_request: "GET amoebozoa.html HTTP/1.0".into(),
        http_response: 200,
        file_size_bytes: 100,
        event_datetime: datetime.into(),
        event_ts: 0,
    }
}

/// `2024-04-28T23:12:40.000` plus `ms` milliseconds, in the `event_datetime` form.
pub fn at(ms: i64) -> String {
    base().plus(Duration::millis(ms)).format_millis()
}

/// The start of the seed's recorded traffic, on a 20-second boundary.
pub fn base() -> Timestamp {
    Timestamp::parse_datetime("2024-04-28T23:12:40.000").unwrap()
}

pub fn line(visit: &VisitEvent) -> String {
    serde_json::to_string(visit).unwrap()
}

pub fn records(lines: &[String], first_index: usize) -> Vec<Record> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Record::new(
                l.as_bytes(),
                Position::Index {
                    index: (first_index + i) as u64,
                },
            )
        })
        .collect()
}

/// Runs `pipeline` over `lines` in one bundle, then flushes with the watermark at +∞.
pub fn run_all<E, K, C, O>(pipeline: &Pipeline<E, K, C, O>, lines: &[String]) -> Emitted<K, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    let mut run = pipeline.start();
    let mut out = Emitted::default();
    run.process_bundle(records(lines, 0), &mut out);
    run.advance_watermark(Watermark::MAX, &mut out);
    run.stats().check_conservation().unwrap();
    out
}

/// Runs `pipeline` over `bundles`, moving the watermark to `max event time seen − bound` after each
/// bundle (as a bounded-out-of-orderness runner does), then flushes.
pub fn run_bounded<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    bundles: &[Vec<String>],
    bound: Duration,
) -> Emitted<K, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    run_bounded_with_stats(pipeline, bundles, bound).0
}

/// [`run_bounded`], with the run's record counts.
pub fn run_bounded_with_stats<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    bundles: &[Vec<String>],
    bound: Duration,
) -> (Emitted<K, O>, PipelineStats)
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    let mut run = pipeline.start();
    let mut out = Emitted::default();
    let mut max_seen: Option<Timestamp> = None;
    let mut index = 0;
    for bundle in bundles {
        let summary = run.process_bundle(records(bundle, index), &mut out);
        index += bundle.len();
        max_seen = max_seen.max(summary.max_event_time);
        if let Some(max) = max_seen {
            let to = Watermark::at(max.minus(bound));
            if to > run.watermark() {
                run.advance_watermark(to, &mut out);
            }
        }
    }
    run.advance_watermark(Watermark::MAX, &mut out);
    let stats = run.stats();
    stats.check_conservation().unwrap();
    (out, stats)
}

/// The rows `query` produces over `lines` (one bundle, then +∞), sorted by their JSON text.
pub fn rows(query: &str, lines: &[String]) -> Vec<SqlRow> {
    rows_with(query, SqlOptions::default(), lines)
}

pub fn rows_with(query: &str, options: SqlOptions, lines: &[String]) -> Vec<SqlRow> {
    let pipeline = sql::compile(query, options).unwrap_or_else(|e| panic!("{e}"));
    let mut rows: Vec<SqlRow> = run_all(&pipeline, lines).outputs.into_iter().map(|o| o.value).collect();
    rows.sort_by_key(|r| r.to_json());
    rows
}

/// The rows as JSON lines, for compact assertions.
pub fn json(rows: &[SqlRow]) -> Vec<String> {
    rows.iter().map(SqlRow::to_json).collect()
}

/// The recorded fixture `ci/visits.jsonl`, line by line.
pub fn fixture() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A small deterministic generator (SplitMix64) of visit lines: `n` visits of `users` users,
/// roughly `gap_ms` apart, shuffled by up to `jitter_ms`, with every 50th line malformed.
pub fn generated(seed: u64, n: usize, users: u64, gap_ms: i64, jitter_ms: i64) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|i| {
            if i % 50 == 49 {
                return r#"{"id": "truncated"#.to_owned();
            }
            let jitter = (next() % (jitter_ms as u64 + 1)) as i64;
            let mut v = visit(&format!("{}", 1000 + next() % users), &at(i as i64 * gap_ms - jitter));
            v.file_size_bytes = (next() % 1000) as i64;
            v.http_response = [200, 200, 200, 404, 500][(next() % 5) as usize];
            v.lat = (next() % 18_000) as f64 / 100.0 - 90.0;
            v.opted_into_marketing = next() % 2 == 0;
            line(&v)
        })
        .collect()
}
