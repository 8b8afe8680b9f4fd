//! Each supported construct, on small hand-made inputs whose results are worked out by hand.

mod common;

use common::*;
use pipeline::combine::CombineFn;
use pipeline::event::VisitEvent;
use pipeline::io::Position;
use pipeline::pane::PaneTiming;
use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Watermark};
use pipeline::window::SlidingWindows;
use pipeline::{Emitted, Pipeline};
use proptest::prelude::*;
use sql::{SqlOptions, SqlValue};

/// Three users' visits in the first two 20-second windows from the base time.
fn sample() -> Vec<String> {
    let mut visits = Vec::new();
    for (id, ms, size, response) in [
        ("a", 1_000, 100, 200),
        ("a", 5_500, 300, 404),
        ("a", 19_999, 50, 200),
        ("b", 2_000, 1_000, 500),
        ("b", 25_000, 7, 200),
        ("c", 39_000, 10, 200),
    ] {
        let mut v = visit(id, &at(ms));
        v.file_size_bytes = size;
        v.http_response = response;
        v.lat = size as f64 / 4.0;
        visits.push(line(&v));
    }
    visits
}

const FROM_EVENTS: &str =
    "FROM PCOLLECTION GROUP BY TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND), id";

#[test]
fn tumble_counts_per_user_and_window() {
    let query = format!(
        "SELECT id, CAST(TUMBLE_START(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND) AS VARCHAR) AS w, \
         COUNT(*) AS n {FROM_EVENTS}"
    );
    assert_eq!(
        json(&rows(&query, &sample())),
        [
            r#"{"id": "a", "w": "2024-04-28 23:12:40", "n": 3}"#,
            r#"{"id": "b", "w": "2024-04-28 23:12:40", "n": 1}"#,
            r#"{"id": "b", "w": "2024-04-28 23:13:00", "n": 1}"#,
            r#"{"id": "c", "w": "2024-04-28 23:13:00", "n": 1}"#,
        ]
    );
}

#[test]
fn tumble_sizes_in_minutes_hours_and_days() {
    for (interval, start) in [
        ("INTERVAL '1' MINUTE", "2024-04-28 23:12:00"),
        ("INTERVAL '2' HOUR", "2024-04-28 22:00:00"),
        ("INTERVAL '1' DAY", "2024-04-28 00:00:00"),
        ("INTERVAL 30 SECONDS", "2024-04-28 23:12:30"),
    ] {
        let query = format!(
            "SELECT TUMBLE_START(ts, {interval}) AS s, COUNT(*) AS n \
             FROM (SELECT CAST(event_datetime AS TIMESTAMP) AS ts FROM PCOLLECTION) GROUP BY TUMBLE(ts, {interval})"
        );
        let rows = rows(&query, &sample()[..3]);
        assert_eq!(rows.len(), 1, "{interval}");
        // Without a CAST the bound is a TIMESTAMP, written in the same form as CAST(... AS VARCHAR).
        assert_eq!(serde_json::to_value(rows[0].get("s")).unwrap(), start, "{interval}");
    }
}

#[test]
fn hop_takes_the_slide_before_the_size() {
    // HOP(ts, slide 10 s, size 20 s): each visit lies in two windows.
    let query = "SELECT id, HOP_START(ts, INTERVAL '10' SECOND, INTERVAL '20' SECOND) AS s, \
                 HOP_END(ts, INTERVAL '10' SECOND, INTERVAL '20' SECOND) AS e, COUNT(*) AS n \
                 FROM (SELECT id, CAST(event_datetime AS TIMESTAMP) AS ts FROM PCOLLECTION) \
                 GROUP BY HOP(ts, INTERVAL '10' SECOND /* slide */, INTERVAL '20' SECOND /* size */), id";
    let lines: Vec<String> = sample().into_iter().filter(|l| l.contains(r#""id":"a""#)).collect();
    assert_eq!(
        json(&rows(query, &lines)),
        [
            r#"{"id": "a", "s": "2024-04-28 23:12:30", "e": "2024-04-28 23:12:50", "n": 2}"#,
            r#"{"id": "a", "s": "2024-04-28 23:12:40", "e": "2024-04-28 23:13:00", "n": 3}"#,
            r#"{"id": "a", "s": "2024-04-28 23:12:50", "e": "2024-04-28 23:13:10", "n": 1}"#,
        ]
    );
}

#[test]
fn every_aggregate_function() {
    let query = format!(
        "SELECT id, COUNT(*) AS rows_, COUNT(file_size_bytes) AS sizes, SUM(file_size_bytes) AS total, \
         SUM(lat) AS total_lat, MIN(file_size_bytes) AS smallest, MAX(http_response) AS worst, \
         AVG(file_size_bytes) AS mean, AVG(lat) AS mean_lat, MIN(event_datetime) AS first, \
         MAX(CAST(event_datetime AS TIMESTAMP)) AS last {FROM_EVENTS}"
    );
    let rows = rows(&query, &sample());
    // User a in the first window: sizes 100, 300, 50.
    assert_eq!(
        rows[0].to_json(),
        r#"{"id": "a", "rows_": 3, "sizes": 3, "total": 450, "total_lat": 112.5, "smallest": 50, "worst": 404, "mean": 150, "mean_lat": 37.5, "first": "2024-04-28T23:12:41.000", "last": "2024-04-28 23:12:59"}"#
    );
}

#[test]
fn bigint_average_is_a_truncated_bigint_as_in_beam() {
    let query =
        format!("SELECT AVG(file_size_bytes) AS mean, AVG(CAST(file_size_bytes AS DOUBLE)) AS exact {FROM_EVENTS}");
    let lines = &sample()[1..3]; // user a: 300 and 50
    assert_eq!(json(&rows(&query, lines)), [r#"{"mean": 175, "exact": 175.0}"#]);
    let lines = &sample()[..2]; // user a: 100 and 300... plus one more to get a fraction
    let mut lines = lines.to_vec();
    lines.push(line(&{
        let mut v = visit("a", &at(3_000));
        v.file_size_bytes = 1;
        v
    }));
    assert_eq!(
        json(&rows(&query, &lines)),
        [r#"{"mean": 133, "exact": 133.66666666666666}"#]
    );
}

#[test]
fn where_filters_before_aggregating() {
    let count = |condition: &str| -> Vec<String> {
        let query = format!(
            "SELECT id, COUNT(*) AS n FROM PCOLLECTION WHERE {condition} \
             GROUP BY TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '1' HOUR), id"
        );
        rows(&query, &sample())
            .iter()
            .map(|r| {
                format!(
                    "{}={}",
                    r.values()[0].as_str().unwrap(),
                    r.values()[1].as_i64().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(count("http_response = 200"), ["a=2", "b=1", "c=1"]);
    assert_eq!(count("http_response <> 200 OR file_size_bytes < 10"), ["a=1", "b=2"]);
    assert_eq!(count("NOT (id = 'a') AND file_size_bytes >= 10"), ["b=1", "c=1"]);
    assert_eq!(count("file_size_bytes BETWEEN 50 AND 300"), ["a=3"]);
    assert_eq!(count("file_size_bytes NOT BETWEEN 50 AND 300"), ["b=2", "c=1"]);
    assert_eq!(count("id IN ('b', 'c')"), ["b=2", "c=1"]);
    assert_eq!(count("http_response NOT IN (404, 500)"), ["a=2", "b=1", "c=1"]);
    assert_eq!(count("http_request LIKE 'GET %.html%'"), ["a=3", "b=2", "c=1"]);
    assert_eq!(count("http_request NOT LIKE 'GET%'"), Vec::<String>::new());
    assert_eq!(count("lat > 25.0"), ["a=1", "b=1"]);
    assert_eq!(count("lat > 25"), ["a=1", "b=1"]);
    assert_eq!(count("-file_size_bytes < -200"), ["a=1", "b=1"]);
    assert_eq!(count("opted_into_marketing"), ["a=3", "b=2", "c=1"]);
    assert_eq!(count("opted_into_marketing IS NOT TRUE"), Vec::<String>::new());
    assert_eq!(
        count("CAST(event_datetime AS TIMESTAMP) >= '2024-04-28 23:13:00'"),
        ["b=1", "c=1"]
    );
    assert_eq!(
        count("CAST(event_datetime AS TIMESTAMP) < TIMESTAMP '2024-04-28 23:12:42'"),
        ["a=1"]
    );
    // Every column is NOT NULL; NULL comparisons are unknown, and unknown rejects.
    assert_eq!(count("ip IS NULL"), Vec::<String>::new());
    assert_eq!(count("ip IS NOT NULL"), ["a=3", "b=2", "c=1"]);
    assert_eq!(count("id = NULL"), Vec::<String>::new());
    assert_eq!(count("id = NULL OR id = 'c'"), ["c=1"]);
}

#[test]
fn rejected_events_are_filtered_before_windowing() {
    let query = format!(
        "SELECT id, COUNT(*) AS n FROM PCOLLECTION WHERE id = 'nobody' {}",
        &FROM_EVENTS[17..]
    );
    let pipeline = sql::compile(&query, SqlOptions::default()).unwrap();
    let mut run = pipeline.start();
    let mut out = Emitted::default();
    run.process_bundle(records(&sample(), 0), &mut out);
    // Beam's Filter runs before the aggregation: no window was ever opened for them.
    assert_eq!(run.open_windows(), 0);
    run.advance_watermark(Watermark::MAX, &mut out);
    assert!(out.outputs.is_empty());
    let stats = run.stats();
    assert_eq!((stats.read, stats.parsed, stats.filtered, stats.counted), (6, 6, 6, 0));
}

/// A visit of `id` at base + `ms` with the given HTTP response, as a line.
fn visit_with_response(id: &str, ms: i64, response: i64) -> String {
    let mut v = visit(id, &at(ms));
    v.http_response = response;
    line(&v)
}

#[test]
fn where_rejected_events_are_counted_as_filtered_and_never_late() {
    let query = format!(
        "SELECT id, COUNT(*) AS n FROM PCOLLECTION WHERE http_response = 200 {}",
        &FROM_EVENTS[17..]
    );
    let pipeline = sql::compile(&query, SqlOptions::default()).unwrap();
    let mut run = pipeline.start();
    let mut out = Emitted::default();
    let first = [
        visit_with_response("a", 1_000, 200),
        visit_with_response("b", 2_000, 404),
    ];
    run.process_bundle(records(&first, 0), &mut out);
    run.advance_watermark(Watermark::at(base().plus(Duration::seconds(30))), &mut out);
    // All three lie in the expired first window: the one that passes WHERE is late, the two that
    // fail it are filtered before windowing, so lateness never sees them.
    let behind = [
        visit_with_response("a", 3_000, 200),
        visit_with_response("b", 4_000, 500),
        visit_with_response("c", 5_000, 404),
    ];
    run.process_bundle(records(&behind, 2), &mut out);
    run.advance_watermark(Watermark::MAX, &mut out);

    let stats = run.stats();
    stats.check_conservation().unwrap();
    assert_eq!(
        (
            stats.read,
            stats.counted,
            stats.filtered,
            stats.dropped_late,
            stats.dead_lettered
        ),
        (5, 1, 3, 1, 0)
    );
    let late: Vec<Position> = out.late.iter().map(|l| l.position).collect();
    assert_eq!(late, [Position::Index { index: 2 }]);
    let rows: Vec<String> = out.outputs.iter().map(|o| o.value.to_json()).collect();
    assert_eq!(rows, [r#"{"id": "a", "n": 1}"#]);
}

#[test]
fn rejected_events_still_move_a_bounded_watermark() {
    // As in Beam, the source's watermark does not depend on the query: a rejected event far ahead
    // moves it past the first window, so a passing event behind it is late.
    let query = format!(
        "SELECT id, COUNT(*) AS n FROM PCOLLECTION WHERE http_response = 200 {}",
        &FROM_EVENTS[17..]
    );
    let pipeline = sql::compile(&query, SqlOptions::default()).unwrap();
    let bundles = [
        vec![visit_with_response("a", 1_000, 200)],
        vec![visit_with_response("b", 60_000, 404)],
        vec![visit_with_response("a", 2_000, 200)],
    ];
    let out = run_bounded(&pipeline, &bundles, Duration::seconds(5));
    assert_eq!(out.late.len(), 1);
    assert_eq!(out.late[0].position, Position::Index { index: 2 });
    assert_eq!(out.outputs.len(), 1);
}

#[test]
fn ctes_chain_and_their_filters_combine() {
    let query = "WITH visits AS (SELECT * FROM PCOLLECTION WHERE http_response = 200), \
                 big AS (SELECT id AS user_id, file_size_bytes AS size, CAST(event_datetime AS TIMESTAMP) AS ts \
                         FROM visits WHERE file_size_bytes > 20) \
                 SELECT b.user_id, SUM(b.size) AS total FROM big AS b \
                 GROUP BY TUMBLE(b.ts, INTERVAL '1' MINUTE), b.user_id";
    assert_eq!(json(&rows(query, &sample())), [r#"{"user_id": "a", "total": 150}"#]);
}

#[test]
fn nested_with_and_subqueries_in_from() {
    let query = "SELECT u, COUNT(*) AS n FROM (\
                   WITH t AS (SELECT id AS u, CAST(event_datetime AS TIMESTAMP) AS ts FROM PCOLLECTION) \
                   SELECT * FROM t WHERE u <> 'a') AS s \
                 GROUP BY TUMBLE(s.ts, INTERVAL '1' HOUR), u";
    assert_eq!(
        json(&rows(query, &sample())),
        [r#"{"u": "b", "n": 2}"#, r#"{"u": "c", "n": 1}"#]
    );
}

#[test]
fn output_columns_keep_select_order_and_calcite_names() {
    let query = "SELECT COUNT(*), id, http_response >= 400 AS failed, 'const' AS tag, NULL AS nothing, \
                 CAST(TUMBLE_END(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND) AS VARCHAR) \
                 FROM PCOLLECTION \
                 GROUP BY TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND), id, http_response";
    let rows = rows(query, &sample()[..2]);
    assert_eq!(
        json(&rows),
        [
            r#"{"EXPR$0": 1, "id": "a", "failed": false, "tag": "const", "nothing": null, "EXPR$5": "2024-04-28 23:13:00"}"#,
            r#"{"EXPR$0": 1, "id": "a", "failed": true, "tag": "const", "nothing": null, "EXPR$5": "2024-04-28 23:13:00"}"#,
        ]
    );
}

#[test]
fn grouping_by_expressions_and_several_columns() {
    let query = "SELECT http_response >= 400 AS failed, age_bracket, COUNT(*) AS n, MAX(id) AS last_user \
                 FROM PCOLLECTION \
                 GROUP BY http_response >= 400, TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '1' HOUR), age_bracket";
    assert_eq!(
        json(&rows(query, &sample())),
        [
            r#"{"failed": false, "age_bracket": "26-40", "n": 4, "last_user": "c"}"#,
            r#"{"failed": true, "age_bracket": "26-40", "n": 2, "last_user": "b"}"#,
        ]
    );
}

#[test]
fn casts() {
    let query = "SELECT CAST(http_response AS VARCHAR) AS code, CAST(SUM(file_size_bytes) AS DOUBLE) AS total, \
                 CAST(CAST(http_response AS BIGINT) AS DOUBLE) AS code_f, \
                 TUMBLE_START(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND) AS uncast_start \
                 FROM PCOLLECTION \
                 GROUP BY TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND), http_response";
    assert_eq!(
        json(&rows(query, &sample()[..3])),
        [
            r#"{"code": "200", "total": 150.0, "code_f": 200.0, "uncast_start": "2024-04-28 23:12:40"}"#,
            r#"{"code": "404", "total": 300.0, "code_f": 404.0, "uncast_start": "2024-04-28 23:12:40"}"#,
        ]
    );
}

#[test]
fn the_input_table_can_have_another_name() {
    let query = format!("SELECT COUNT(*) AS n FROM visits {}", &FROM_EVENTS[17..]);
    let rows = rows_with(&query, SqlOptions::default().table("visits"), &sample());
    assert_eq!(rows.len(), 4);
    assert!(sql::compile(&query, SqlOptions::default()).is_err());
}

#[test]
fn late_panes_follow_lateness_and_accumulation() {
    let query = format!("SELECT id, COUNT(*) AS n {FROM_EVENTS}");
    for (mode, expected) in [
        (AccumulationMode::Discarding, [2, 1]),
        (AccumulationMode::Accumulating, [2, 3]),
    ] {
        let options = SqlOptions::default()
            .allowed_lateness(Duration::seconds(10))
            .accumulation(mode);
        let pipeline = sql::compile(&query, options).unwrap();
        let mut run = pipeline.start();
        let mut out = Emitted::default();
        let a = |ms| line(&visit("a", &at(ms)));
        run.process_bundle(records(&[a(1_000), a(2_000)], 0), &mut out);
        run.advance_watermark(Watermark::at(base().plus(Duration::seconds(25))), &mut out);
        run.process_bundle(records(&[a(3_000)], 2), &mut out); // late, within lateness
        run.advance_watermark(Watermark::at(base().plus(Duration::seconds(40))), &mut out);
        run.process_bundle(records(&[a(4_000)], 3), &mut out); // too late: dropped
        run.advance_watermark(Watermark::MAX, &mut out);
        let counts: Vec<i64> = out
            .outputs
            .iter()
            .map(|o| o.value.get("n").unwrap().as_i64().unwrap())
            .collect();
        assert_eq!(counts, expected, "{mode:?}");
        assert_eq!(out.outputs[1].pane.timing, PaneTiming::Late);
        assert_eq!(out.late.len(), 1);
    }
}

#[test]
fn identifiers_may_be_quoted() {
    let query = "SELECT \"id\" AS \"user\", COUNT(*) AS `n` FROM `PCOLLECTION` \
                 GROUP BY TUMBLE(CAST(\"event_datetime\" AS TIMESTAMP), INTERVAL '1' HOUR), \"id\"";
    assert_eq!(rows(query, &sample()).len(), 3);
}

/// What the HOP query below aggregates, by hand: count, sum, min and max of the sizes.
#[derive(Debug, Clone, Default)]
struct SizeStats {
    n: i64,
    sum: i64,
    min: Option<i64>,
    max: Option<i64>,
}

/// The combine of [`SizeStats`]. (`combine_fn` closures are not `Clone`, which `Pipeline::start`
/// needs.)
#[derive(Debug, Clone, Copy)]
struct SizeStatsFn;

impl CombineFn for SizeStatsFn {
    type Input = i64;
    type Accumulator = SizeStats;
    type Output = SizeStats;
    fn create_accumulator(&self) -> SizeStats {
        SizeStats::default()
    }
    fn add_input(&self, acc: &mut SizeStats, size: i64) {
        acc.n += 1;
        acc.sum += size;
        acc.min = Some(acc.min.map_or(size, |m| m.min(size)));
        acc.max = Some(acc.max.map_or(size, |m| m.max(size)));
    }
    fn merge_accumulators(&self, acc: &mut SizeStats, other: SizeStats) {
        acc.n += other.n;
        acc.sum += other.sum;
        acc.min = acc.min.into_iter().chain(other.min).min();
        acc.max = acc.max.into_iter().chain(other.max).max();
    }
    fn extract_output(&self, acc: &SizeStats) -> SizeStats {
        acc.clone()
    }
}

/// The builder pipeline the HOP query below means, written by hand: its `WHERE` is the filter step.
fn hop_builder() -> Pipeline<VisitEvent, String, SizeStatsFn, String> {
    Pipeline::builder(VisitEvent::from_json, VisitEvent::event_time)
        .filter(|v: &VisitEvent| v.http_response < 500)
        .filter(|v: &VisitEvent| v.opted_into_marketing)
        .windows(SlidingWindows::of(Duration::seconds(20), Duration::seconds(5)))
        .key_by(|v: &VisitEvent| v.id.clone())
        .combine(|v: &VisitEvent| v.file_size_bytes, SizeStatsFn)
        .output(|id, window, _pane, acc| {
            format!(
                "{id} {} {} {} {} {} {}",
                window.start().format_sql(),
                acc.n,
                acc.sum,
                acc.min.unwrap(),
                acc.max.unwrap(),
                acc.sum / acc.n
            )
        })
}

const HOP_QUERY: &str = "
    WITH v AS (
        SELECT id, file_size_bytes AS size, CAST(event_datetime AS TIMESTAMP) AS ts
        FROM PCOLLECTION
        WHERE http_response < 500 AND opted_into_marketing
    )
    SELECT id, CAST(HOP_START(ts, INTERVAL '5' SECOND, INTERVAL '20' SECOND) AS VARCHAR) AS s,
           COUNT(size) AS n, SUM(size) AS total, MIN(size) AS smallest, MAX(size) AS largest, AVG(size) AS mean
    FROM v
    GROUP BY HOP(ts, INTERVAL '5' SECOND, INTERVAL '20' SECOND), id";

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hop_query_with_where_agrees_with_the_equivalent_builder_pipeline(
        seed in any::<u64>(),
        n in 0usize..60,
        users in 1u64..5,
        gap in 1i64..2_000,
        jitter in 0i64..10_000,
    ) {
        let lines = generated(seed, n, users, gap, jitter);
        let mut sql_rows: Vec<String> = rows(HOP_QUERY, &lines)
            .iter()
            .map(|r| r.values().iter().map(|v| match v {
                SqlValue::Varchar(s) => s.clone(),
                other => other.to_string(),
            }).collect::<Vec<_>>().join(" "))
            .collect();
        let mut builder_rows: Vec<String> = run_all(&hop_builder(), &lines).outputs.into_iter().map(|o| o.value).collect();
        sql_rows.sort();
        builder_rows.sort();
        prop_assert_eq!(sql_rows, builder_rows);
    }

    #[test]
    fn where_rejected_events_are_never_late_on_generated_runs(
        seed in any::<u64>(),
        n in 0usize..120,
        users in 1u64..5,
        gap in 1i64..2_000,
        jitter in 0i64..20_000,
        bundle in 1usize..20,
        bound_ms in 0i64..5_000,
    ) {
        let query = format!("SELECT id, COUNT(*) AS n FROM PCOLLECTION WHERE http_response = 200 {}", &FROM_EVENTS[17..]);
        let pipeline = sql::compile(&query, SqlOptions::default()).unwrap();
        let lines = generated(seed, n, users, gap, jitter);
        let bundles: Vec<Vec<String>> = lines.chunks(bundle).map(<[String]>::to_vec).collect();
        let (out, stats) = run_bounded_with_stats(&pipeline, &bundles, Duration::millis(bound_ms));
        let rejected = lines
            .iter()
            .filter_map(|l| VisitEvent::from_json(l.as_bytes()).ok())
            .filter(|v| v.http_response != 200)
            .count() as u64;
        prop_assert_eq!(stats.filtered, rejected);
        for late in &out.late {
            let visit = VisitEvent::from_json(&late.payload).unwrap();
            prop_assert_eq!(visit.http_response, 200);
        }
        let counted: i64 = out.outputs.iter().map(|o| o.value.get("n").unwrap().as_i64().unwrap()).sum();
        prop_assert_eq!(counted as u64, stats.counted);
    }
}
