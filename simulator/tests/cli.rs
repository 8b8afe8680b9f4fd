//! End-to-end tests of the `simulate` binary: scenarios, bad input, determinism, flags and goldens.

use std::path::Path;
use std::process::{Command, Output};

fn visit(id: &str, datetime: &str) -> String {
    format!(
        r#"{{"ip":"10.0.0.1","id":"{id}","lat":-33.8688,"lng":151.2093,"user_agent":"Mozilla/5.0","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET fungi.html HTTP/1.0","http_response":200,"file_size_bytes":440,"event_datetime":"{datetime}","event_ts":0}}"#
    )
}

fn event(id: &str, datetime: &str) -> String {
    format!(r#"{{"event": {}}}"#, visit(id, datetime))
}

fn watermark(datetime: &str) -> String {
    format!(r#"{{"watermark": "{datetime}"}}"#)
}

fn simulate(dir: &Path, input: &str, args: &[&str]) -> Output {
    let file = dir.join("input.jsonl");
    std::fs::write(&file, input).unwrap();
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--file")
        .arg(&file)
        .args(args)
        .output()
        .expect("simulate runs")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn line(id: &str, start: &str, end: &str, views: u64, pane: &str, index: u64) -> String {
    format!(
        r#"{{"id": "{id}", "window_start": "2024-04-28T{start}", "window_end": "2024-04-28T{end}", "page_views": {views}, "pane": "{pane}", "pane_index": {index}}}"#
    )
}

#[test]
fn in_order_scenario_fires_each_window_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let script = [
        event("u1", "2024-04-28T23:12:41.000"),
        event("u2", "2024-04-28T23:12:45.000"),
        event("u1", "2024-04-28T23:12:59.999"),
        watermark("2024-04-28T23:13:00.000"),
        event("u1", "2024-04-28T23:13:00.000"),
    ]
    .join("\n");
    let out = stdout_lines(&simulate(dir.path(), &script, &["--pane-info"]));
    assert_eq!(
        out,
        vec![
            line("u1", "23:12:40", "23:13:00", 2, "ON_TIME", 0),
            line("u2", "23:12:40", "23:13:00", 1, "ON_TIME", 0),
            line("u1", "23:13:00", "23:13:20", 1, "ON_TIME", 0),
        ]
    );
}

#[test]
fn out_of_order_within_the_bound_is_counted_on_time() {
    let dir = tempfile::tempdir().unwrap();
    // Recorded traffic with a 5 s bound: 23:12:58 arrives after 23:13:02, while the watermark is at 23:12:57.
    let recording = [
        visit("u1", "2024-04-28T23:12:50.000"),
        visit("u1", "2024-04-28T23:13:02.000"),
        visit("u1", "2024-04-28T23:12:58.000"),
        visit("u1", "2024-04-28T23:13:10.000"),
    ]
    .join("\n");
    let out = stdout_lines(&simulate(
        dir.path(),
        &recording,
        &["--pane-info", "--watermark", "bounded:5s"],
    ));
    assert_eq!(
        out,
        vec![
            line("u1", "23:12:40", "23:13:00", 2, "ON_TIME", 0),
            line("u1", "23:13:00", "23:13:20", 2, "ON_TIME", 0)
        ]
    );
}

#[test]
fn late_elements_past_allowed_lateness_are_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let script = [
        event("u1", "2024-04-28T23:12:41.000"),
        watermark("2024-04-28T23:13:00.000"),
        event("u1", "2024-04-28T23:12:42.000"),
    ]
    .join("\n");
    let late_out = dir.path().join("late.jsonl");
    let output = simulate(
        dir.path(),
        &script,
        &["--pane-info", "--late-out", late_out.to_str().unwrap()],
    );
    assert_eq!(
        stdout_lines(&output),
        vec![line("u1", "23:12:40", "23:13:00", 1, "ON_TIME", 0)]
    );
    let late = std::fs::read_to_string(&late_out).unwrap();
    assert_eq!(late.lines().count(), 1, "{late}");
    assert!(late.contains(r#""line": 3"#) && late.contains("late: window"), "{late}");
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("dropped as late           1"), "{summary}");
    assert!(
        summary.contains("read 2 = counted 1 + late 1 + dead-lettered 0: ok"),
        "{summary}"
    );
}

#[test]
fn late_elements_within_allowed_lateness_fire_late_panes() {
    let dir = tempfile::tempdir().unwrap();
    let script = [
        event("u1", "2024-04-28T23:12:41.000"),
        watermark("2024-04-28T23:13:00.000"),
        event("u1", "2024-04-28T23:12:42.000"),
        r#"{"events": ["#.to_owned()
            + &visit("u1", "2024-04-28T23:12:43.000")
            + ", "
            + &visit("u1", "2024-04-28T23:12:44.000")
            + "]}",
        // 23:12:59.999 + 30 s = 23:13:29.999: still accepted at that watermark, dropped one past it.
        watermark("2024-04-28T23:13:29.999"),
        event("u1", "2024-04-28T23:12:45.000"),
        watermark("2024-04-28T23:13:30.000"),
        event("u1", "2024-04-28T23:12:46.000"),
    ]
    .join("\n");
    let discarding = stdout_lines(&simulate(
        dir.path(),
        &script,
        &["--pane-info", "--allowed-lateness", "30s"],
    ));
    assert_eq!(
        discarding,
        vec![
            line("u1", "23:12:40", "23:13:00", 1, "ON_TIME", 0),
            line("u1", "23:12:40", "23:13:00", 1, "LATE", 1),
            line("u1", "23:12:40", "23:13:00", 2, "LATE", 2),
            line("u1", "23:12:40", "23:13:00", 1, "LATE", 3),
        ]
    );
    let accumulating = stdout_lines(&simulate(
        dir.path(),
        &script,
        &["--pane-info", "--allowed-lateness", "30s", "--accumulating"],
    ));
    let views: Vec<u64> = accumulating
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["page_views"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(views, vec![1, 2, 4, 5]);
}

#[test]
fn bad_input_is_dead_lettered_with_reasons_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let good = visit("u1", "2024-04-28T23:12:41.000");
    let mut input = Vec::new();
    for l in [
        good.as_str(),
        "{not json",
        "[1, 2, 3]",
        r#"{"ip": "1.2.3.4"}"#,
        &good.replace(r#""http_response":200"#, r#""http_response":"OK""#),
        &good.replace("2024-04-28T23:12:41.000", "28/04/2024"),
        "",
        "   ",
        good.as_str(),
    ] {
        input.extend_from_slice(l.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"{\"ip\": \"\xff\xfe\"}\n");
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, &input).unwrap();
    let dlq = dir.path().join("dlq.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["--file", file.to_str().unwrap(), "--dlq-out", dlq.to_str().unwrap()])
        .output()
        .unwrap();
    let out = stdout_lines(&output);
    assert_eq!(out.len(), 1);
    assert!(out[0].contains(r#""page_views": 2"#), "{out:?}");
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dlq)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, String)> = dead
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["reason"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        (2, "key must be a string"),
        (3, "expected a JSON object, found an array"),
        (4, "missing field `id`"),
        (5, "invalid type: string \"OK\""),
        (6, "event_datetime: bad datetime \"28/04/2024\""),
        (10, "invalid UTF-8 at byte 8"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((line, reason), (want_line, want)) in got.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(want), "line {line}: {reason:?} should mention {want:?}");
    }
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(
        summary.contains("read 8 = counted 2 + late 0 + dead-lettered 6: ok"),
        "{summary}"
    );
}

#[test]
fn the_same_file_and_seed_give_byte_identical_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let run = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_simulate"))
            .current_dir(root)
            .args([
                "--file",
                "ci/visits.jsonl",
                "--pane-info",
                "--reorder",
                "30",
                "--late-fraction",
                "0.1",
            ])
            .args(["--allowed-lateness", "10s", "--seed", seed])
            .output()
            .unwrap()
    };
    let (a, b, c) = (run("11"), run("11"), run("12"));
    assert!(a.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "same seed, different output");
    assert_ne!(a.stdout, c.stdout, "a different seed should reorder differently");
    assert!(
        String::from_utf8_lossy(&a.stderr).starts_with("simulate: seed 11"),
        "the seed is printed first"
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["--file", "/no/such/visits.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("/no/such/visits.jsonl") && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one readable line, no backtrace: {err}");
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--file", "x", "--window", "20"][..],
        &["--file", "x", "--watermark", "sometimes"],
        &["--file", "x", "--bless"],
        &["--window", "20s"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn golden_mismatch_exits_1_with_a_diff_and_bless_rewrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = [
        visit("u1", "2024-04-28T23:12:41.000"),
        visit("u2", "2024-04-28T23:12:42.000"),
    ]
    .join("\n");
    let golden = dir.path().join("golden.jsonl");
    let g = golden.to_str().unwrap();
    let blessed = simulate(dir.path(), &input, &["--golden", g, "--bless"]);
    assert!(blessed.status.success(), "{}", String::from_utf8_lossy(&blessed.stderr));
    assert!(simulate(dir.path(), &input, &["--golden", g]).status.success());

    let text = std::fs::read_to_string(&golden)
        .unwrap()
        .replace(r#""id": "u2""#, r#""id": "u3""#);
    std::fs::write(&golden, text).unwrap();
    let output = simulate(dir.path(), &input, &["--golden", g]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("starting at line 2") && err.contains(r#"-{"id": "u3""#) && err.contains(r#"+{"id": "u2""#),
        "{err}"
    );
}

/// The bundled recording: 2 MB, far more than a pipe's buffer, so a reader that opens its input twice
/// or reads ahead and throws it away loses records.
fn recording_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("ci/visits.jsonl")
}

/// Runs simulate with `args`, feeding `stdin` through a pipe from another thread.
fn simulate_with_stdin(args: &[&std::ffi::OsStr], stdin: Vec<u8>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("simulate starts");
    let mut pipe = child.stdin.take().unwrap();
    // A reader that stops early closes the pipe: the write fails, and the output comparison says why.
    let writer = std::thread::spawn(move || pipe.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    let _ = writer.join().unwrap();
    output
}

/// Waits for `child` with a generous deadline: a reader that opens a FIFO a second time blocks forever.
fn wait_with_deadline(child: std::process::Child) -> Output {
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    match receive.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("simulate did not finish within 120 s (blocked on its input?)");
        }
    }
}

/// The part of the summary that does not name the input: the record counts.
fn counts(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .skip_while(|l| !l.contains("records read"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn input_from_a_pipe_gives_the_same_output_as_the_file() {
    let path = recording_path();
    let by_path = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--file")
        .arg(&path)
        .output()
        .unwrap();
    assert!(by_path.status.success());
    assert!(
        by_path.stdout.len() > 64 * 1024,
        "the test needs more than a pipe's buffer of output"
    );
    let bytes = std::fs::read(&path).unwrap();
    for name in ["-", "/dev/stdin"] {
        let piped = simulate_with_stdin(&["--file".as_ref(), name.as_ref()], bytes.clone());
        assert!(
            piped.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&piped.stderr)
        );
        assert_eq!(counts(&piped), counts(&by_path), "--file {name}");
        assert!(
            piped.stdout == by_path.stdout,
            "--file {name}: the output differs from the file's"
        );
    }
}

#[test]
fn input_from_a_fifo_gives_the_same_output_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("visits.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let path = recording_path();
    let by_path = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--file")
        .arg(&path)
        .output()
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--file")
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let writer = {
        let (fifo, path) = (fifo.clone(), path.clone());
        // Opening a FIFO for writing waits for its reader; a failed write shows in the comparison.
        std::thread::spawn(move || std::io::copy(&mut std::fs::File::open(path)?, &mut std::fs::File::create(fifo)?))
    };
    let through_fifo = wait_with_deadline(child);
    let _ = writer.join().unwrap();
    assert!(
        through_fifo.status.success(),
        "{}",
        String::from_utf8_lossy(&through_fifo.stderr)
    );
    assert_eq!(counts(&through_fifo), counts(&by_path));
    assert!(
        through_fifo.stdout == by_path.stdout,
        "the output through a FIFO differs from the file's"
    );
}

#[test]
fn a_typo_in_the_first_step_is_a_script_error_not_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let script = [
        r#"{"watermak": "2024-04-28T23:12:00.000"}"#.to_owned(),
        event("u1", "2024-04-28T23:12:41.000"),
        watermark("2024-04-28T23:13:00.000"),
    ]
    .join("\n");
    let output = simulate(dir.path(), &script, &[]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("line 1") && err.contains("did you mean `watermark`?"),
        "{err}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_recording_whose_first_line_is_garbage_is_still_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let good = visit("u1", "2024-04-28T23:12:41.000");
    for first in ["{not json".to_owned(), good.replace("2024-04-28T23:12:41.000", "noon")] {
        let recording = [first.clone(), good.clone(), good.clone()].join("\n");
        let output = simulate(dir.path(), &recording, &[]);
        assert_eq!(stdout_lines(&output).len(), 1, "{first}");
        let summary = String::from_utf8_lossy(&output.stderr);
        assert!(summary.contains("(recording)"), "{first}: {summary}");
        assert!(
            summary.contains("read 3 = counted 2 + late 0 + dead-lettered 1: ok"),
            "{first}: {summary}"
        );
    }
}

/// Runs simulate in `dir` with `args` as they are (no --file added).
fn simulate_args(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("simulate runs")
}

#[test]
fn each_exit_code_means_what_the_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let recording = [
        visit("u1", "2024-04-28T23:12:41.000"),
        visit("u2", "2024-04-28T23:12:42.000"),
    ]
    .join("\n");
    std::fs::write(dir.path().join("v.jsonl"), &recording).unwrap();
    let script = [
        event("u1", "2024-04-28T23:12:41.000"),
        watermark("2024-04-28T23:13:00.000"),
    ]
    .join("\n");
    std::fs::write(dir.path().join("s.jsonl"), &script).unwrap();
    std::fs::write(
        dir.path().join("bad-step.jsonl"),
        script.clone() + "\n{\"watermrk\": 1}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("other.jsonl"), "{}\n").unwrap();

    let ok = simulate_args(dir.path(), &["--file", "v.jsonl", "--quiet"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));

    for (args, what) in [
        (
            &["--file", "v.jsonl", "--golden", "other.jsonl"][..],
            "a golden difference",
        ),
        (&["--file", "missing.jsonl"], "an unreadable input"),
        (&["--file", "bad-step.jsonl"], "a malformed scenario step"),
    ] {
        let output = simulate_args(dir.path(), args);
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what} ({args:?}): {err}");
    }

    for (args, what) in [
        (&["--file", "v.jsonl", "--window", "0s"][..], "--window"),
        (&["--file", "v.jsonl", "--late-fraction", "2"], "--late-fraction"),
        (&["--file", "v.jsonl", "--late-fraction=-0.5"], "--late-fraction"),
        (&["--file", "v.jsonl", "--late-fraction", "NaN"], "--late-fraction"),
        (&["--file", "v.jsonl", "--late-by=-5s"], "--late-by"),
        (&["--file", "v.jsonl", "--allowed-lateness=-1s"], "--allowed-lateness"),
        (&["--file", "s.jsonl", "--reorder", "3"], "--reorder"),
        (&["--file", "s.jsonl", "--late-fraction", "0.5"], "--late-fraction"),
        (&["--file", "v.jsonl", "--out", "./v.jsonl"], "--out"),
        (&["--file", "v.jsonl", "--no-such-flag"], "--no-such-flag"),
    ] {
        let output = simulate_args(dir.path(), args);
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(what),
            "{args:?}: a clap-style message naming {what}: {err}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: nothing is written for a bad flag");
    }
}

/// The names and contents of the files in `dir`, sorted.
fn directory_listing(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    files.sort();
    files
}

#[cfg(unix)]
#[test]
fn an_output_that_is_an_input_or_another_output_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let recording = [
        visit("u1", "2024-04-28T23:12:41.000"),
        visit("u2", "2024-04-28T23:12:42.000"),
    ]
    .join("\n")
        + "\n";
    std::fs::write(d.join("v.jsonl"), &recording).unwrap();
    std::fs::hard_link(d.join("v.jsonl"), d.join("hard.jsonl")).unwrap();
    std::os::unix::fs::symlink("v.jsonl", d.join("soft.jsonl")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::copy(root.join("sql/queries/traffic_agg.sql"), d.join("q.sql")).unwrap();
    std::fs::write(d.join("existing.jsonl"), "existing\n").unwrap();
    std::fs::write(d.join("golden.jsonl"), "golden\n").unwrap();
    let before = directory_listing(d);

    for (args, flags) in [
        (&["--out", "v.jsonl"][..], ["--out", "--file"]),
        (&["--out", "./v.jsonl"], ["--out", "--file"]),
        (&["--out", "hard.jsonl"], ["--out", "--file"]),
        (&["--out", "soft.jsonl"], ["--out", "--file"]),
        (&["--dlq-out", "v.jsonl"], ["--dlq-out", "--file"]),
        (&["--late-out", "v.jsonl"], ["--late-out", "--file"]),
        (&["--golden", "v.jsonl", "--bless"], ["--golden", "--file"]),
        (&["--sql", "q.sql", "--out", "q.sql"], ["--out", "--sql"]),
        (
            &["--golden", "golden.jsonl", "--out", "golden.jsonl"],
            ["--out", "--golden"],
        ),
        (
            &["--out", "new.jsonl", "--dlq-out", "./new.jsonl"],
            ["--dlq-out", "--out"],
        ),
        (
            &["--out", "existing.jsonl", "--late-out", "./existing.jsonl"],
            ["--late-out", "--out"],
        ),
        (
            &["--golden", "new.jsonl", "--bless", "--out", "new.jsonl"],
            ["--out", "--golden"],
        ),
    ] {
        let output = simulate_args(d, &[&["--file", "v.jsonl"][..], args].concat());
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        for flag in flags {
            assert!(err.contains(flag), "{args:?}: the message names {flag}: {err}");
        }
        assert_eq!(
            directory_listing(d),
            before,
            "{args:?}: nothing may be created or changed"
        );
    }

    // Standard input redirected from the file is the file too.
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(d)
        .args(["--file", "-", "--out", "v.jsonl"])
        .stdin(std::fs::File::open(d.join("v.jsonl")).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(directory_listing(d), before);

    // Devices are not files that a run could overwrite by mistake: /dev/null may take several outputs.
    let output = simulate_args(
        d,
        &[
            "--file",
            "v.jsonl",
            "--out",
            "/dev/null",
            "--dlq-out",
            "/dev/null",
            "--late-out",
            "/dev/null",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_failed_run_leaves_every_previous_file_untouched_and_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Line 2 is a malformed step: the run stops with a script error after writing nothing.
    let script = [event("u1", "2024-04-28T23:12:41.000"), r#"{"watermrk": 1}"#.to_owned()].join("\n");
    std::fs::write(d.join("s.jsonl"), &script).unwrap();
    for name in ["g.jsonl", "out.jsonl", "late.jsonl", "dlq.jsonl"] {
        std::fs::write(d.join(name), format!("previous {name}\n")).unwrap();
    }
    let before = directory_listing(d);
    for args in [
        &["--golden", "g.jsonl", "--bless"][..],
        &[
            "--out",
            "out.jsonl",
            "--late-out",
            "late.jsonl",
            "--dlq-out",
            "dlq.jsonl",
        ],
    ] {
        let output = simulate_args(d, &[&["--file", "s.jsonl"][..], args].concat());
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("line 2"), "{err}");
        assert_eq!(
            directory_listing(d),
            before,
            "{args:?}: the files changed or a temporary was left"
        );
    }
    // The same outputs from a run that succeeds replace the previous files.
    std::fs::write(
        d.join("s.jsonl"),
        script.replace("watermrk\": 1", "watermark\": \"+inf\""),
    )
    .unwrap();
    let output = simulate_args(
        d,
        &[
            "--file",
            "s.jsonl",
            "--out",
            "out.jsonl",
            "--golden",
            "g.jsonl",
            "--bless",
        ],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = std::fs::read_to_string(d.join("out.jsonl")).unwrap();
    assert!(out.contains(r#""page_views": 1"#), "{out}");
    assert_eq!(std::fs::read_to_string(d.join("g.jsonl")).unwrap(), out);
    let names: Vec<String> = directory_listing(d).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["dlq.jsonl", "g.jsonl", "late.jsonl", "out.jsonl", "s.jsonl"]);
}

#[test]
fn a_dead_letter_keeps_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, b"{\"ip\": \"\xff\xfe\"}\n{\"ip\": \"caf\xc3\xa9\"}\n").unwrap();
    let dlq = dir.path().join("dlq.jsonl");
    let output = simulate_args(
        dir.path(),
        &["--file", file.to_str().unwrap(), "--dlq-out", dlq.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(&dlq).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    // Not UTF-8: the exact bytes in standard base64 (python3 -c 'base64.b64encode(...)'), no `record`.
    assert_eq!(lines[0]["record_base64"], "eyJpcCI6ICL//iJ9", "{text}");
    assert!(lines[0].get("record").is_none(), "{text}");
    // UTF-8 (even non-ASCII): the text itself.
    assert_eq!(lines[1]["record"], "{\"ip\": \"café\"}", "{text}");
    assert!(lines[1].get("record_base64").is_none(), "{text}");
}

/// Runs `simulate` from the workspace root (so `ci/visits.jsonl` resolves) with `args`.
fn simulate_in_workspace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .expect("simulate runs")
}

#[test]
fn cluster_mode_prints_the_windows_and_the_invariant_checks() {
    let output = simulate_in_workspace(&[
        "--file",
        "ci/visits.jsonl",
        "--partitions",
        "3",
        "--instances",
        "2",
        "--fault-seed",
        "5",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("cluster: 3 partitions, 2 instances, at least once"),
        "{stderr}"
    );
    assert!(stderr.contains("fault seed 5, faults "), "{stderr}");
    assert!(stderr.contains("the output equals the reference: ok"), "{stderr}");
    let lines = stdout_lines(&output);
    assert!(lines.len() >= 952, "at least once: every window, maybe some twice");
    assert!(lines[0].starts_with(r#"{"id": ""#), "{}", lines[0]);
}

#[test]
fn explore_mode_ends_with_the_count_of_seeds_and_violations() {
    let output = simulate_in_workspace(&["--file", "ci/visits.jsonl", "--explore", "20", "--exactly-once"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().last(), Some("explored 20 seeds: 0 violations"));
}

#[test]
fn exhaustive_mode_crashes_at_every_action_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.jsonl");
    let recording = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl")).unwrap();
    std::fs::write(&file, recording.lines().take(40).collect::<Vec<_>>().join("\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(["--file", file.to_str().unwrap(), "--partitions", "2", "--exhaustive"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("explored ") && last.ends_with(" runs: 0 violations"),
        "{last}"
    );
}

#[test]
fn cluster_flags_that_cannot_apply_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.jsonl");
    std::fs::write(&scenario, watermark("2024-04-28T23:13:00.000")).unwrap();
    for args in [
        vec!["--file", "ci/visits.jsonl", "--partitions", "0"],
        vec!["--file", "ci/visits.jsonl", "--explore", "5", "--faults", "none"],
        vec![
            "--file",
            "ci/visits.jsonl",
            "--partitions",
            "2",
            "--watermark",
            "perfect",
        ],
        vec!["--file", "ci/visits.jsonl", "--partitions", "2", "--pane-info"],
        vec!["--file", "ci/visits.jsonl", "--faults", "explode(1)"],
        vec!["--file", scenario.to_str().unwrap(), "--instances", "2"],
        vec!["--file", "ci/visits.jsonl", "--explore", "5", "--out", "x.jsonl"],
    ] {
        let output = simulate_in_workspace(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn window_and_windows_together_or_with_sql_are_usage_errors() {
    for args in [
        vec![
            "--file",
            "ci/visits.jsonl",
            "--window",
            "20s",
            "--windows",
            "sessions:30s",
        ],
        vec![
            "--file",
            "ci/visits.jsonl",
            "--sql",
            "sql/queries/traffic_agg.sql",
            "--windows",
            "fixed:20s",
        ],
        vec!["--file", "ci/visits.jsonl", "--windows", "sessions:0s"],
        vec!["--file", "ci/visits.jsonl", "--windows", "tumbling:20s"],
        vec!["--file", "ci/visits.jsonl", "--closing-behavior", "fire_always"],
        vec!["--file", "ci/visits.jsonl", "--on-time-behavior", "NEVER"],
    ] {
        let output = simulate_in_workspace(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr_of(&output));
        assert!(
            stderr_of(&output).starts_with("error: "),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_trigger_that_does_not_parse_exits_2_with_a_caret_under_the_column() {
    let output = simulate_in_workspace(&[
        "--file",
        "ci/visits.jsonl",
        "--trigger",
        "Repeatedly.forever(AfterPane.elementCount(3))",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "expected `elementCountAtLeast` after `AfterPane.`, found `elementCount`\n --> column 30\n  |\n  \
             | Repeatedly.forever(AfterPane.elementCount(3))\n  |                              ^^^^^^^^^^^^\n"
        ),
        "{stderr}"
    );
}

#[test]
fn a_trigger_that_beams_types_refuse_exits_2_with_the_rule() {
    let output = simulate_in_workspace(&[
        "--file",
        "ci/visits.jsonl",
        "--trigger",
        "AfterWatermark.pastEndOfWindow().withEarlyFirings(Repeatedly.forever(AfterPane.elementCountAtLeast(1)))",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(".withEarlyFirings(..) takes a trigger that fires at most once"),
        "{stderr}"
    );
    assert!(stderr.contains(" --> column 51\n"), "{stderr}");
}

#[test]
fn the_global_window_prints_infinite_bounds_and_counts_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let recording = [
        visit("u1", "2024-04-28T23:12:41.000"),
        visit("u2", "2024-04-28T23:14:45.000"),
        visit("u1", "2024-04-29T08:00:00.000"),
    ]
    .join("\n");
    let out = stdout_lines(&simulate(
        dir.path(),
        &recording,
        &["--windows", "global", "--pane-info"],
    ));
    assert_eq!(
        out,
        vec![
            r#"{"id": "u1", "window_start": "-inf", "window_end": "+inf", "page_views": 2, "pane": "ON_TIME", "pane_index": 0}"#,
            r#"{"id": "u2", "window_start": "-inf", "window_end": "+inf", "page_views": 1, "pane": "ON_TIME", "pane_index": 0}"#,
        ]
    );
}

#[test]
fn session_windows_merge_a_users_visits_until_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    // u1: 23:12:41 and 23:12:59 are 18 s apart (one session with a 30 s gap), 23:14:00 starts another.
    let recording = [
        visit("u1", "2024-04-28T23:12:41.000"),
        visit("u1", "2024-04-28T23:12:59.000"),
        visit("u2", "2024-04-28T23:13:05.000"),
        visit("u1", "2024-04-28T23:14:00.000"),
    ]
    .join("\n");
    let out = stdout_lines(&simulate(
        dir.path(),
        &recording,
        &["--windows", "sessions:30s", "--pane-info"],
    ));
    assert_eq!(
        out,
        vec![
            line("u1", "23:12:41", "23:13:29", 2, "ON_TIME", 0),
            line("u2", "23:13:05", "23:13:35", 1, "ON_TIME", 0),
            line("u1", "23:14:00", "23:14:30", 1, "ON_TIME", 0),
        ]
    );
}

#[test]
fn an_early_firing_trigger_shows_early_panes_then_the_on_time_pane() {
    let dir = tempfile::tempdir().unwrap();
    let script = [
        event("u1", "2024-04-28T23:12:41.000"),
        event("u1", "2024-04-28T23:12:42.000"),
        event("u1", "2024-04-28T23:12:43.000"),
        watermark("2024-04-28T23:13:00.000"),
    ]
    .join("\n");
    let out = stdout_lines(&simulate(
        dir.path(),
        &script,
        &[
            "--trigger",
            "AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterPane.elementCountAtLeast(2))",
            "--pane-info",
        ],
    ));
    assert_eq!(
        out,
        vec![
            line("u1", "23:12:40", "23:13:00", 2, "EARLY", 0),
            line("u1", "23:12:40", "23:13:00", 1, "ON_TIME", 1),
        ]
    );
}

#[test]
fn cluster_mode_takes_the_windowing_flags() {
    let output = simulate_in_workspace(&[
        "--file",
        "ci/visits.jsonl",
        "--windows",
        "sessions:30s",
        "--partitions",
        "3",
        "--fault-seed",
        "3",
    ]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("windows sessions:30s"), "{stderr}");
    assert!(
        stderr.contains("every window of the reference is emitted at least once: ok"),
        "{stderr}"
    );
    let refused = simulate_in_workspace(&["--file", "ci/visits.jsonl", "--windows", "global", "--partitions", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr_of(&refused).contains("the global window with the default trigger never fires on an unbounded input"),
        "{}",
        stderr_of(&refused)
    );
}
