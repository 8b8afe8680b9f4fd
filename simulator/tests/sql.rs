//! `simulate --sql`: a Beam SQL query file in place of the built-in traffic aggregation. The seed's
//! query counts what the traffic pipeline counts; a query that does not compile, or `--sql` with
//! `--window`, is a usage error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SEED_QUERY: &str = "sql/queries/traffic_agg.sql";
const RECORDING: &str = "ci/visits.jsonl";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the simulator crate sits in the workspace")
        .to_owned()
}

/// Runs `simulate` from the workspace root, so that paths like `ci/visits.jsonl` resolve.
fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(workspace_root())
        .args(args)
        .output()
        .expect("simulate runs")
}

fn succeeded(output: &Output) -> &Output {
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn parsed_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(succeeded(output).stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One output line in a form both outputs share: (user id, window start, window end, count, pane,
/// pane index). The seed's SQL writes `window_start` as `CAST(... AS VARCHAR)` does,
/// `2024-04-28 23:12:40`; the traffic pipeline writes `2024-04-28T23:12:40`.
type Count = (String, String, String, u64, Option<String>, Option<u64>);

fn counts(lines: &[Value], id: &str, views: &str) -> Vec<Count> {
    let text = |v: &Value, field: &str| v[field].as_str().unwrap_or_else(|| panic!("{field} in {v}")).to_owned();
    lines
        .iter()
        .map(|v| {
            (
                text(v, id),
                text(v, "window_start").replacen(' ', "T", 1),
                text(v, "window_end").replacen(' ', "T", 1),
                v[views].as_u64().unwrap_or_else(|| panic!("{views} in {v}")),
                v["pane"].as_str().map(str::to_owned),
                v["pane_index"].as_u64(),
            )
        })
        .collect()
}

/// The summary's counting lines (everything after the description line, which names the query).
fn summary_counts(output: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = stderr
        .lines()
        .skip_while(|l| !l.starts_with("simulate: ci/visits.jsonl"));
    lines.next().expect("a summary");
    lines.map(str::to_owned).collect()
}

#[test]
fn the_seed_query_counts_what_the_plain_traffic_run_counts() {
    for flags in [
        &[][..],
        &["--allowed-lateness", "30s", "--accumulating", "--pane-info"],
        &["--reorder", "20", "--late-fraction", "0.05", "--seed", "7"],
    ] {
        let plain = simulate(&[&["--file", RECORDING][..], flags].concat());
        let sql = simulate(&[&["--file", RECORDING, "--sql", SEED_QUERY][..], flags].concat());
        let (plain_lines, sql_lines) = (parsed_lines(&plain), parsed_lines(&sql));
        assert!(plain_lines.len() > 500, "{flags:?}: the fixture fills many windows");
        assert_eq!(
            counts(&sql_lines, "event_id", "page_view"),
            counts(&plain_lines, "id", "page_views"),
            "{flags:?}"
        );
        assert_eq!(summary_counts(&sql), summary_counts(&plain), "{flags:?}");
    }
}

#[test]
fn the_summary_names_the_query_that_ran() {
    let output = simulate(&["--file", RECORDING, "--sql", SEED_QUERY]);
    let stderr = String::from_utf8_lossy(&succeeded(&output).stderr).into_owned();
    assert!(
        stderr
            .contains("simulate: ci/visits.jsonl (recording), query sql/queries/traffic_agg.sql, allowed lateness 0s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check: read 5000 = counted 4872 + late 96 + dead-lettered 32: ok"),
        "{stderr}"
    );
}

#[test]
fn rows_rejected_by_where_are_counted_as_filtered_and_never_late() {
    let dir = tempfile::tempdir().unwrap();
    let query = dir.path().join("ok_only.sql");
    std::fs::write(
        &query,
        "SELECT id, COUNT(*) AS n FROM PCOLLECTION WHERE http_response = 200\n\
         GROUP BY TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND), id\n",
    )
    .unwrap();
    let late = dir.path().join("late.jsonl");
    let output = simulate(&[
        "--file",
        RECORDING,
        "--sql",
        query.to_str().unwrap(),
        "--late-out",
        late.to_str().unwrap(),
    ]);
    let rows = parsed_lines(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let number = |label: &str| -> u64 {
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("{label}: {stderr}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (filtered, counted, dropped) = (number("filtered out"), number("counted"), number("dropped as late"));
    assert!(filtered > 0 && dropped > 0, "{stderr}");
    assert_eq!(rows.iter().map(|r| r["n"].as_u64().unwrap()).sum::<u64>(), counted);
    assert!(
        stderr.contains(&format!("+ filtered {filtered} +")) && stderr.ends_with(": ok\n"),
        "{stderr}"
    );

    let late_lines: Vec<Value> = std::fs::read_to_string(&late)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(late_lines.len() as u64, dropped);
    for late in &late_lines {
        let record: Value = serde_json::from_str(late["record"].as_str().unwrap()).unwrap();
        assert_eq!(
            record["http_response"], 200,
            "a filtered record among the late ones: {late}"
        );
    }
}

#[test]
fn a_query_that_does_not_compile_exits_2_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let query = dir.path().join("no_window.sql");
    std::fs::write(&query, "SELECT id, COUNT(*) AS n\nFROM PCOLLECTION\nGROUP BY id\n").unwrap();
    let output = simulate(&["--file", RECORDING, "--sql", query.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "simulate: error: the query {} does not compile: GROUP BY has no TUMBLE, HOP or SESSION: a streaming query \
         aggregates per window\n --> line 3, column 1\n  |\n3 | GROUP BY id\n  | ^^^^^^^^\n",
        query.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(!stderr.contains("records read"), "nothing was run: {stderr}");
}

#[test]
fn a_missing_query_file_is_a_read_error() {
    let output = simulate(&["--file", RECORDING, "--sql", "/no/such/query.sql"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/no/such/query.sql (--sql)") && stderr.contains("No such file"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn sql_with_window_is_refused() {
    let output = simulate(&["--file", RECORDING, "--sql", SEED_QUERY, "--window", "20s"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--window cannot be used with --sql: the query's TUMBLE, HOP or SESSION sets the windows"),
        "{stderr}"
    );
}
