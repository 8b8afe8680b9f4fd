//! `traffic-agg-sql`: the seed's SQL query on a real broker gives exactly the rows the same query gives
//! under a perfect watermark in the simulator, keyed `{"event_id", "window_start"}`, each once, and the
//! same counts as the built-in aggregation.

mod common;

use std::time::Duration;

use common::*;
use formats::jsonl::JsonlSource;
use test_broker::broker_or_skip;

#[test]
fn traffic_agg_sql_on_a_broker_emits_the_queries_rows() {
    let Some(broker) = broker_or_skip("traffic_agg_sql_on_a_broker_emits_the_queries_rows") else {
        return;
    };
    let job = Job::create(&broker, 3);
    assert_eq!(produce_file(&job.servers, &job.input, &visits_file()), 5000);

    let dir = tempfile::tempdir().unwrap();
    let args = job.args(&[
        "--max-out-of-orderness",
        "60s",
        "--idle-timeout",
        "2s",
        "--session-timeout",
        "6s",
    ]);
    let log = dir.path().join("traffic-agg-sql.log");
    let mut agg = AggProcess::start_binary(env!("CARGO_BIN_EXE_traffic-agg-sql"), &broker, &args, log);
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut agg]);
    agg.terminate();

    let query = sql::compile(sql::TRAFFIC_AGG_QUERY, sql::SqlOptions::default()).unwrap();
    let expected = perfect_windows(&query, &mut JsonlSource::open(&visits_file()).unwrap());
    let reads = read_topic(&job.servers, &job.output, false);
    let actual = dedupe(&reads);
    assert_eq!(actual, expected, "{}", describe_difference(&expected, &actual));
    assert_eq!(reads.len(), expected.len(), "a crash-free run emits every row once");

    // The same page views as the built-in pipeline, window for window.
    let counts = |windows: &std::collections::BTreeMap<String, String>, field: &str| -> Vec<u64> {
        windows
            .values()
            .map(|v| {
                serde_json::from_str::<serde_json::Value>(v).unwrap()[field]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(
        counts(&actual, "page_view"),
        counts(&reference_windows(&visits_file()), "page_views")
    );
    let first: serde_json::Value = serde_json::from_str(actual.keys().next().unwrap()).unwrap();
    assert!(
        first["event_id"].is_string() && first["window_start"].as_str().unwrap().contains(' '),
        "{first}"
    );
}
