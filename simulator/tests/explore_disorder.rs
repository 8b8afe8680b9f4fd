//! `simulate --explore-disorder N` on a scripted recording in which exactly one window depends on
//! arrival order: the report names it, and the replay command it prints reproduces the difference.

use std::path::Path;
use std::process::{Command, Output};

/// A visit of `id` at `second` seconds (with milliseconds) past 2024-04-28T23:12:00.
fn visit(id: &str, second: f64) -> String {
    let (minute, second) = (12 + (second / 60.0) as u32, second % 60.0);
    format!(
        r#"{{"ip":"1.2.3.4","id":"{id}","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:{minute:02}:{second:06.3}","event_ts":0}}"#
    )
}

/// Visits one second apart (a 5 s bounded watermark forgives any reordering of up to 2 positions among
/// them), but for one gap: user `z` visits at 23:12:58, then the stream jumps to 23:13:05.5, which moves
/// the watermark to 23:13:00.5, past the end of `z`'s window. Delivered after that visit, `z`'s is late.
fn recording() -> String {
    let mut lines = Vec::new();
    for k in 0..18 {
        lines.push(visit(["a", "b", "c"][k % 3], 40.0 + k as f64));
    }
    lines.push(visit("z", 58.0));
    lines.push(visit("a", 65.5));
    for k in 0..10 {
        lines.push(visit(["a", "b", "c"][k % 3], 66.5 + k as f64));
    }
    lines.join("\n") + "\n"
}

fn simulate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run simulate")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The output line of `id`'s window starting at `start` in a run's output, if any.
fn line_of<'a>(output: &'a str, id: &str, start: &str) -> Option<&'a str> {
    output
        .lines()
        .find(|l| l.contains(&format!("\"id\": \"{id}\"")) && l.contains(&format!("\"window_start\": \"{start}\"")))
}

#[test]
fn the_one_arrival_order_sensitive_window_is_found_and_its_replay_command_shows_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sensitive.jsonl"), recording()).unwrap();
    let args = [
        "--file",
        "sensitive.jsonl",
        "--explore-disorder",
        "40",
        "--reorder",
        "2",
    ];
    let report = stdout(&simulate(dir.path(), &args));
    assert_eq!(
        report,
        stdout(&simulate(dir.path(), &args)),
        "the report is deterministic"
    );

    let windows: Vec<&str> = report.lines().filter(|l| l.starts_with("window ")).collect();
    assert_eq!(
        windows.len(),
        1,
        "exactly one window depends on arrival order:\n{report}"
    );
    assert!(
        windows[0].starts_with("window [2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000): changes under"),
        "{report}"
    );
    assert!(report.contains("explored 40 seeds: 1 of "), "{report}");
    let undisturbed = report
        .lines()
        .find(|l| l.trim_start().starts_with("undisturbed:"))
        .unwrap();
    assert!(
        undisturbed.contains(r#""id": "z""#) && undisturbed.contains(r#""page_views": 1"#),
        "{report}"
    );
    // z's visit dropped as late: its window has no pane at all under that seed.
    let seed_line = report.lines().find(|l| l.trim_start().starts_with("seed ")).unwrap();
    assert!(seed_line.ends_with("(no pane)"), "{report}");
    // The watermark 23:13:00.500 passed the window's max timestamp 23:12:59.999 by 501 ms.
    assert!(
        report.contains("--allowed-lateness 501ms keeps every record of it"),
        "{report}"
    );

    // The printed command replays the seed: z's window is gone there, and present undisturbed.
    let replay = report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("replay: simulate "))
        .expect("a replay command");
    let replay_args: Vec<&str> = replay.split_whitespace().collect();
    assert!(replay_args.contains(&"--seed"), "{replay}");
    let replayed = stdout(&simulate(dir.path(), &replay_args));
    assert_eq!(line_of(&replayed, "z", "2024-04-28T23:12:40"), None, "{replayed}");
    let plain = stdout(&simulate(dir.path(), &["--file", "sensitive.jsonl", "--pane-info"]));
    assert_eq!(
        line_of(&plain, "z", "2024-04-28T23:12:40"),
        Some(undisturbed.trim_start().trim_start_matches("undisturbed:").trim_start())
    );
    // Every other window is the same in both runs.
    let others = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains(r#""id": "z""#))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(others(&replayed), others(&plain));
}

#[test]
fn a_window_that_cannot_change_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    // One second apart throughout: no reordering of 2 positions makes anything late.
    let lines: Vec<String> = (0..40).map(|k| visit(["a", "b"][k % 2], k as f64)).collect();
    std::fs::write(dir.path().join("calm.jsonl"), lines.join("\n") + "\n").unwrap();
    let report = stdout(&simulate(
        dir.path(),
        &["--file", "calm.jsonl", "--explore-disorder", "20", "--reorder", "2"],
    ));
    assert!(
        report.ends_with("explored 20 seeds: 0 of 4 windows depend on arrival order\n"),
        "{report}"
    );
}

#[test]
fn explore_disorder_refuses_what_it_cannot_do_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.jsonl"), recording()).unwrap();
    std::fs::write(dir.path().join("s.jsonl"), "{\"watermark\": \"+inf\"}\n").unwrap();
    for (args, expected) in [
        (
            &["--file", "r.jsonl", "--explore-disorder", "0"][..],
            "--explore-disorder",
        ),
        (
            &["--file", "r.jsonl", "--explore-disorder", "x"][..],
            "--explore-disorder",
        ),
        (
            &["--file", "s.jsonl", "--explore-disorder", "3"][..],
            "is a scenario script",
        ),
        (
            &["--file", "r.jsonl", "--explore-disorder", "3", "--out", "o.jsonl"][..],
            "writes no outputs",
        ),
        (
            &["--file", "r.jsonl", "--explore-disorder", "3", "--partitions", "2"][..],
            "cluster",
        ),
    ] {
        let output = simulate(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("o.jsonl").exists());
}

#[test]
fn explore_disorder_is_in_the_help() {
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("--explore-disorder <N>"), "{help}");
}
