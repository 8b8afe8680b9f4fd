//! `traffic-agg-sql`: the seed's SQL query on a real broker gives exactly the rows the same query gives
//! under a perfect watermark in the simulator, keyed `{"event_id", "window_start"}`, each once, and the
//! same counts as the built-in aggregation; so does a query of session windows (`SESSION(ts, gap)`).

mod common;

use std::time::Duration;

use common::*;
use formats::jsonl::JsonlSource;
use test_broker::broker_or_skip;

/// Runs `query` (the seed's query when `None`) through `traffic-agg-sql` on a broker over the recording and
/// checks the rows against the simulator's perfect-watermark rows, each once; returns them.
fn run_query_on_a_broker(test: &str, query: Option<&str>) -> Option<std::collections::BTreeMap<String, String>> {
    let broker = broker_or_skip(test)?;
    let job = Job::create(&broker, 3);
    assert_eq!(produce_file(&job.servers, &job.input, &visits_file()), 5000);

    let dir = tempfile::tempdir().unwrap();
    let query_file = dir.path().join("query.sql");
    std::fs::write(&query_file, query.unwrap_or(sql::TRAFFIC_AGG_QUERY)).unwrap();
    let mut extra = vec![
        "--max-out-of-orderness",
        "60s",
        "--idle-timeout",
        "2s",
        "--session-timeout",
        "6s",
    ];
    if query.is_some() {
        extra.extend(["--sql", query_file.to_str().unwrap()]);
    }
    let args = job.args(&extra);
    let log = dir.path().join("traffic-agg-sql.log");
    let mut agg = AggProcess::start_binary(env!("CARGO_BIN_EXE_traffic-agg-sql"), &broker, &args, log);
    job.wait_until_consumed(Duration::from_secs(90), &mut [&mut agg]);
    agg.terminate();

    let compiled = sql::compile(query.unwrap_or(sql::TRAFFIC_AGG_QUERY), sql::SqlOptions::default()).unwrap();
    let expected = perfect_windows(&compiled, &mut JsonlSource::open(&visits_file()).unwrap());
    let reads = read_topic(&job.servers, &job.output, false);
    let actual = dedupe(&reads);
    assert_eq!(actual, expected, "{}", describe_difference(&expected, &actual));
    assert_eq!(reads.len(), expected.len(), "a crash-free run emits every row once");
    Some(actual)
}

#[test]
fn a_session_query_on_a_broker_emits_the_simulators_sessions() {
    let query = "SELECT id AS event_id,
       CAST(SESSION_START(ts, INTERVAL '30' SECOND) AS VARCHAR) AS window_start,
       CAST(SESSION_END(ts, INTERVAL '30' SECOND) AS VARCHAR) AS window_end,
       COUNT(*) AS page_view
FROM (SELECT id, CAST(event_datetime AS TIMESTAMP) AS ts FROM PCOLLECTION)
GROUP BY SESSION(ts, INTERVAL '30' SECOND), id";
    let Some(sessions) =
        run_query_on_a_broker("a_session_query_on_a_broker_emits_the_simulators_sessions", Some(query))
    else {
        return;
    };
    // The recording's users pause for more than 30 s now and then: sessions, not one row per user.
    let users: std::collections::BTreeSet<&str> = sessions
        .keys()
        .map(|k| k.split("\"window_start\"").next().unwrap())
        .collect();
    assert!(
        sessions.len() > users.len(),
        "{} sessions of {} users",
        sessions.len(),
        users.len()
    );
}

#[test]
fn traffic_agg_sql_on_a_broker_emits_the_queries_rows() {
    let Some(actual) = run_query_on_a_broker("traffic_agg_sql_on_a_broker_emits_the_queries_rows", None) else {
        return;
    };

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
