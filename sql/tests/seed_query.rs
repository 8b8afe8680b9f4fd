//! The seed's SQL query, run unchanged, counts exactly what the non-SQL traffic pipeline counts.

mod common;

use std::collections::BTreeMap;

use common::*;
use pipeline::pane::PaneTiming;
use pipeline::strategy::AccumulationMode;
use pipeline::time::Duration;
use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use pipeline::Emitted;
use proptest::prelude::*;
use sql::{GroupKey, SqlOptions, SqlRow, SqlValue, TRAFFIC_AGG_QUERY};

/// (id, window start in ms, pane timing, count) → how many such panes.
type Counts = BTreeMap<(String, i64, PaneTiming, u64), usize>;

fn sql_counts(out: &Emitted<GroupKey, SqlRow>) -> Counts {
    let mut counts = Counts::new();
    for o in &out.outputs {
        let row = &o.value;
        let id = row.get("event_id").and_then(SqlValue::as_str).unwrap().to_owned();
        let n = row.get("page_view").and_then(SqlValue::as_i64).unwrap() as u64;
        assert_eq!(
            row.get("window_start"),
            Some(&SqlValue::Varchar(o.window.start().format_sql()))
        );
        assert_eq!(
            row.get("window_end"),
            Some(&SqlValue::Varchar(o.window.end().format_sql()))
        );
        *counts
            .entry((id, o.window.start().millis(), o.pane.timing, n))
            .or_default() += 1;
    }
    counts
}

fn traffic_counts(out: &Emitted<String, pipeline::traffic::TrafficAgg>) -> Counts {
    let mut counts = Counts::new();
    for o in &out.outputs {
        let key = (
            o.value.id.clone(),
            o.window.start().millis(),
            o.pane.timing,
            o.value.page_views,
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Both pipelines dead-letter and drop the same records.
fn same_side_outputs<K1, O1, K2, O2>(a: &Emitted<K1, O1>, b: &Emitted<K2, O2>) {
    let positions = |late: &[pipeline::io::LateRecord]| late.iter().map(|l| l.position).collect::<Vec<_>>();
    assert_eq!(positions(&a.late), positions(&b.late));
    let dead = |d: &[pipeline::io::DeadLetter]| d.iter().map(|d| (d.position, d.reason.clone())).collect::<Vec<_>>();
    assert_eq!(dead(&a.dead_letters), dead(&b.dead_letters));
}

#[test]
fn the_query_file_is_the_seeds_text() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/queries/traffic_agg.sql")).unwrap();
    assert_eq!(text, TRAFFIC_AGG_QUERY);
    // The seed's indentation and its trailing space after `id,` are part of the text.
    assert!(text.starts_with("    WITH cte AS (\n        SELECT\n            id, \n"));
    assert!(text.ends_with("    GROUP BY\n        TUMBLE(ts, INTERVAL '20' SECOND), id\n"));
}

#[test]
fn seed_query_counts_what_the_traffic_pipeline_counts_on_the_recorded_fixture() {
    let lines = fixture();
    assert_eq!(lines.len(), 5000);
    let sql_out = run_all(&sql::compile(TRAFFIC_AGG_QUERY, SqlOptions::default()).unwrap(), &lines);
    let traffic_out = run_all(&traffic_pipeline(TrafficConfig::default()), &lines);
    let (sql, traffic) = (sql_counts(&sql_out), traffic_counts(&traffic_out));
    assert!(traffic.len() > 500, "the fixture fills many windows: {}", traffic.len());
    assert_eq!(sql, traffic);
    same_side_outputs(&sql_out, &traffic_out);
    assert_eq!(sql_out.dead_letters.len(), 32, "the fixture's malformed lines");
}

#[test]
fn seed_query_agrees_with_the_traffic_pipeline_under_a_bounded_watermark_with_lateness() {
    // Bundles of 40 lines, watermark 2 s behind the largest event time: the fixture's 30-second-late
    // events are dropped, or fire late panes within the allowed lateness, identically in both.
    let bundles: Vec<Vec<String>> = fixture().chunks(40).map(<[String]>::to_vec).collect();
    for (lateness, accumulation) in [
        (Duration::ZERO, AccumulationMode::Discarding),
        (Duration::seconds(20), AccumulationMode::Discarding),
        (Duration::seconds(20), AccumulationMode::Accumulating),
    ] {
        let options = SqlOptions::default()
            .allowed_lateness(lateness)
            .accumulation(accumulation);
        let config = TrafficConfig {
            allowed_lateness: lateness,
            accumulation,
            ..TrafficConfig::default()
        };
        let sql_out = run_bounded(
            &sql::compile(TRAFFIC_AGG_QUERY, options).unwrap(),
            &bundles,
            Duration::seconds(2),
        );
        let traffic_out = run_bounded(&traffic_pipeline(config), &bundles, Duration::seconds(2));
        assert!(!traffic_out.late.is_empty(), "some of the fixture's events are late");
        assert_eq!(
            sql_counts(&sql_out),
            traffic_counts(&traffic_out),
            "{lateness} {accumulation:?}"
        );
        same_side_outputs(&sql_out, &traffic_out);
    }
}

#[test]
fn seed_query_rows_have_the_seeds_columns_in_order() {
    let lines = fixture();
    let rows = rows(TRAFFIC_AGG_QUERY, &lines[..200]);
    let json = json(&rows);
    insta::assert_snapshot!(json[..6].join("\n"));
    for row in &rows {
        assert_eq!(row.columns(), ["event_id", "window_start", "window_end", "page_view"]);
        let key = row.message_key().unwrap();
        assert_eq!(key.values(), &row.values()[..2]);
    }
}

#[test]
fn the_query_as_written_in_the_issue_gives_the_same_rows() {
    let reindented = "WITH cte AS (\n    SELECT id, CAST(event_datetime AS TIMESTAMP) AS ts\n    FROM PCOLLECTION\n)\n\
        SELECT\n    id AS event_id,\n    CAST(TUMBLE_START(ts, INTERVAL '20' SECOND) AS VARCHAR) AS window_start,\n    \
        CAST(TUMBLE_END(ts, INTERVAL '20' SECOND) AS VARCHAR) AS window_end,\n    COUNT(*) AS page_view\n\
        FROM cte\nGROUP BY\n    TUMBLE(ts, INTERVAL '20' SECOND), id";
    let lines = generated(7, 600, 6, 150, 2000);
    assert_eq!(rows(reindented, &lines), rows(TRAFFIC_AGG_QUERY, &lines));
}

#[test]
fn milliseconds_are_kept_so_the_last_millisecond_of_a_window_stays_in_it() {
    let lines: Vec<String> = [19_999, 20_000, 20_001]
        .iter()
        .map(|ms| line(&visit("7", &at(*ms))))
        .collect();
    assert_eq!(
        json(&rows(TRAFFIC_AGG_QUERY, &lines)),
        [
            r#"{"event_id": "7", "window_start": "2024-04-28 23:12:40", "window_end": "2024-04-28 23:13:00", "page_view": 1}"#,
            r#"{"event_id": "7", "window_start": "2024-04-28 23:13:00", "window_end": "2024-04-28 23:13:20", "page_view": 2}"#,
        ]
    );
    // The seed's SQL version feeds `YYYY-MM-DD HH:MM:SS` (milliseconds stripped); that reads too.
    let reformatted = line(&visit("7", "2024-04-28 23:12:59"));
    assert_eq!(rows(TRAFFIC_AGG_QUERY, &[reformatted]).len(), 1);
}

/// One step of a generated run: a bundle of (user, offset in ms) visits, then maybe a watermark
/// advance to `max event time − lag` (lag in ms).
type Step = (Vec<(u8, i64)>, Option<i64>);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let visit = (0u8..4, 0i64..90_000);
    let bundle = prop::collection::vec(visit, 0..6);
    prop::collection::vec((bundle, prop::option::of(0i64..15_000)), 1..12)
}

fn run_steps<E, K, C, O>(pipeline: &pipeline::Pipeline<E, K, C, O>, steps: &[Step]) -> Emitted<K, O>
where
    K: Clone + Ord + std::hash::Hash,
    C: pipeline::combine::CombineFn + Clone,
{
    let mut run = pipeline.start();
    let mut out = Emitted::default();
    let mut index = 0;
    let mut max_seen = None;
    for (bundle, lag) in steps {
        let lines: Vec<String> = bundle
            .iter()
            .map(|(u, ms)| line(&visit(&u.to_string(), &at(*ms))))
            .collect();
        let summary = run.process_bundle(records(&lines, index), &mut out);
        index += lines.len();
        max_seen = max_seen.max(summary.max_event_time);
        if let (Some(lag), Some(max)) = (lag, max_seen) {
            let to = pipeline::time::Watermark::at(max.minus(Duration::millis(*lag)));
            if to > run.watermark() {
                run.advance_watermark(to, &mut out);
            }
        }
    }
    run.advance_watermark(pipeline::time::Watermark::MAX, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn seed_query_and_traffic_pipeline_agree_on_generated_runs(
        steps in steps(),
        lateness_s in 0i64..30,
        accumulating in any::<bool>(),
    ) {
        let accumulation = if accumulating { AccumulationMode::Accumulating } else { AccumulationMode::Discarding };
        let lateness = Duration::seconds(lateness_s);
        let sql = sql::compile(
            TRAFFIC_AGG_QUERY,
            SqlOptions::default().allowed_lateness(lateness).accumulation(accumulation),
        ).unwrap();
        let traffic = traffic_pipeline(TrafficConfig { allowed_lateness: lateness, accumulation, ..TrafficConfig::default() });
        let (a, b) = (run_steps(&sql, &steps), run_steps(&traffic, &steps));
        prop_assert_eq!(sql_counts(&a), traffic_counts(&b));
        prop_assert_eq!(a.late.len(), b.late.len());
    }
}

/// The seed's query with `SESSION` in place of `TUMBLE`, as Beam SQL writes it.
const SESSION_QUERY: &str = "
    SELECT
        id AS event_id,
        CAST(SESSION_START(ts, INTERVAL '30' SECOND) AS VARCHAR) AS window_start,
        CAST(SESSION_END(ts, INTERVAL '30' SECOND) AS VARCHAR) AS window_end,
        COUNT(*) AS page_view
    FROM (SELECT id, CAST(event_datetime AS TIMESTAMP) AS ts FROM PCOLLECTION)
    GROUP BY SESSION(ts, INTERVAL '30' SECOND), id
";

/// (id, window start, window end, pane timing, count) of every pane, in firing order.
fn session_panes_of_sql(out: &Emitted<GroupKey, SqlRow>) -> Vec<(String, String, String, PaneTiming, u64)> {
    out.outputs
        .iter()
        .map(|o| {
            let text = |column: &str| o.value.get(column).and_then(SqlValue::as_str).unwrap().to_owned();
            let n = o.value.get("page_view").and_then(SqlValue::as_i64).unwrap() as u64;
            (
                text("event_id"),
                text("window_start"),
                text("window_end"),
                o.pane.timing,
                n,
            )
        })
        .collect()
}

fn session_panes_of_builder(
    out: &Emitted<String, pipeline::traffic::TrafficAgg>,
) -> Vec<(String, String, String, PaneTiming, u64)> {
    out.outputs
        .iter()
        .map(|o| {
            let (start, end) = (o.window.start().format_sql(), o.window.end().format_sql());
            (o.value.id.clone(), start, end, o.pane.timing, o.value.page_views)
        })
        .collect()
}

#[test]
fn a_session_query_compiles_to_sessions_of_its_gap() {
    let sql = sql::compile(SESSION_QUERY, SqlOptions::default()).unwrap();
    assert!(sql.strategy().window_fn.is_merging());
    let steps: Vec<Step> = vec![(vec![(1, 0), (1, 20_000), (2, 5_000), (1, 80_000)], None)];
    let panes = session_panes_of_sql(&run_steps(&sql, &steps));
    let at = |ms: i64| pipeline::time::Timestamp::parse_datetime(&at(ms)).unwrap().format_sql();
    // All fire at the end of input, in order of window end.
    assert_eq!(
        panes,
        vec![
            ("2".to_owned(), at(5_000), at(35_000), PaneTiming::OnTime, 1),
            ("1".to_owned(), at(0), at(50_000), PaneTiming::OnTime, 2),
            ("1".to_owned(), at(80_000), at(110_000), PaneTiming::OnTime, 1),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sql_sessions_and_the_builders_sessions_give_the_same_panes(
        steps in steps(),
        lateness_s in 0i64..30,
        accumulating in any::<bool>(),
    ) {
        let accumulation = if accumulating { AccumulationMode::Accumulating } else { AccumulationMode::Discarding };
        let lateness = Duration::seconds(lateness_s);
        let sql = sql::compile(
            SESSION_QUERY,
            SqlOptions::default().allowed_lateness(lateness).accumulation(accumulation),
        ).unwrap();
        let builder = pipeline::traffic::windowed_traffic_pipeline(
            pipeline::strategy::WindowingStrategy::new(pipeline::window::Sessions::with_gap_duration(Duration::seconds(30)))
                .with_allowed_lateness(lateness)
                .with_accumulation(accumulation),
        );
        let (a, b) = (run_steps(&sql, &steps), run_steps(&builder, &steps));
        prop_assert_eq!(session_panes_of_sql(&a), session_panes_of_builder(&b));
        same_side_outputs(&a, &b);
    }
}
