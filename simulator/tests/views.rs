//! The views of a run through the `simulate` binary: `--transcript` prints the testkit's snapshots,
//! `--explain` answers for a dropped record and for a window with late data, `--timeline` draws marks
//! of each fate (rendered with resvg to check the pixels are there).

use std::path::{Path, PathBuf};
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

fn simulate(file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simulate"))
        .arg("--file")
        .arg(file)
        .args(args)
        .output()
        .expect("simulate runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

#[test]
fn transcript_prints_each_testkit_snapshot_byte_for_byte() {
    let scenarios = workspace().join("testkit/tests/scenarios");
    let mut checked = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&scenarios)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let snapshot = workspace().join(format!("testkit/tests/snapshots/scenarios__transcript@{name}.snap"));
        let Ok(snapshot) = std::fs::read_to_string(&snapshot) else {
            continue;
        };
        // The snapshot's body follows insta's metadata block, between two `---` lines.
        let body = snapshot.splitn(3, "---\n").nth(2).expect("an insta snapshot");
        let flags = std::fs::read_to_string(path.with_extension("flags")).unwrap_or_default();
        let flags: Vec<&str> = flags
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .collect();
        let mut args = vec!["--transcript", "-q"];
        args.extend(flags);
        let printed = stdout(&simulate(&path, &args));
        assert_eq!(
            printed, body,
            "simulate --transcript differs from the snapshot of {name}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} snapshots checked");
}

fn write(dir: &Path, lines: &[String]) -> PathBuf {
    let file = dir.join("input.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    file
}

#[test]
fn explain_says_why_a_record_was_dropped_and_which_fell_into_the_next_window() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        &[
            event("alice", "2024-04-28T23:12:41.000"),
            event("bob", "2024-04-28T23:12:45.000"),
            event("alice", "2024-04-28T23:12:59.999"),
            watermark("2024-04-28T23:13:00.000"),
            event("alice", "2024-04-28T23:12:50.000"),
            event("alice", "2024-04-28T23:13:00.000"),
        ],
    );
    let text = stdout(&simulate(&file, &["--explain", "alice@2024-04-28T23:12:40", "-q"]));
    assert!(
        text.starts_with("key alice, window [2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000)\n"),
        "{text}"
    );
    assert!(
        text.contains("pane 1 of 1: ON_TIME (index 0, final), fired at step 4"),
        "{text}"
    );
    assert!(text.contains("  2 record(s) new in this pane:\n    line 1 (arrival 0), event time 2024-04-28T23:12:41.000, watermark then -inf\n    line 3 (arrival 2), event time 2024-04-28T23:12:59.999"), "{text}");
    assert!(
        text.contains(
            "1 record(s) of this window dropped:\n    line 5 (arrival 3), event time 2024-04-28T23:12:50.000, \
             watermark then 2024-04-28T23:13:00.000: dropped: the watermark 2024-04-28T23:13:00.000 was past \
             max timestamp + allowed lateness = 2024-04-28T23:12:59.999"
        ),
        "{text}"
    );
    assert!(
        text.contains("next window [2024-04-28T23:13:00.000, 2024-04-28T23:13:20.000): 1 record(s)"),
        "{text}"
    );
    assert!(
        text.contains("    line 6 (arrival 4), event time 2024-04-28T23:13:00.000"),
        "{text}"
    );
    // RFC 3339 names the same window; the window results are not printed.
    let rfc = stdout(&simulate(
        &file,
        &["--explain", "alice@2024-04-29T09:12:40+10:00", "-q"],
    ));
    assert_eq!(rfc, text);
    assert!(
        !text.lines().any(|l| l.starts_with('{')),
        "window results went to stdout: {text}"
    );
}

#[test]
fn explain_shows_the_late_pane_of_a_window_that_received_late_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        &[
            event("alice", "2024-04-28T23:12:41.000"),
            watermark("2024-04-28T23:13:10.000"),
            event("alice", "2024-04-28T23:12:45.000"),
            watermark("2024-04-28T23:13:40.000"),
            event("alice", "2024-04-28T23:12:46.000"),
        ],
    );
    let text = stdout(&simulate(
        &file,
        &[
            "--explain",
            "alice@2024-04-28T23:12:40",
            "--allowed-lateness",
            "30s",
            "-q",
        ],
    ));
    assert!(
        text.contains("+ allowed lateness 30s = 2024-04-28T23:13:29.999"),
        "{text}"
    );
    assert!(text.contains("pane 1 of 2: ON_TIME (index 0)"), "{text}");
    assert!(text.contains("pane 2 of 2: LATE (index 1), fired at step 3"), "{text}");
    assert!(
        text.contains(
            "    line 3 (arrival 1), event time 2024-04-28T23:12:45.000, watermark then 2024-04-28T23:13:10.000: \
             late data (the watermark had passed the window's end), within the allowed lateness"
        ),
        "{text}"
    );
    assert!(
        text.contains("1 record(s) of this window dropped:\n    line 5 (arrival 2)"),
        "{text}"
    );
    assert!(
        text.contains("no record of this key fell into a later window"),
        "{text}"
    );
}

#[test]
fn explain_for_an_unknown_key_or_window_is_an_error_that_lists_the_windows() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &[event("alice", "2024-04-28T23:12:41.000")]);
    let output = simulate(&file, &["--explain", "carol@2024-04-28T23:12:40", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no record of key \"carol\" was read"));
    let output = simulate(&file, &["--explain", "alice@2024-04-28T23:13:00", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("its windows start at 2024-04-28T23:12:40"), "{stderr}");
    let output = simulate(&file, &["--explain", "alice", "-q"]);
    assert_eq!(output.status.code(), Some(2), "a malformed target is a usage error");
}

/// A scenario with every fate: 3 counted on time, 1 counted late (30 s allowed lateness), 2 dropped,
/// 1 dead-lettered; 3 on-time panes and 1 late pane.
fn every_fate(dir: &Path) -> PathBuf {
    write(
        dir,
        &[
            event("alice", "2024-04-28T23:12:41.000"),
            event("bob", "2024-04-28T23:12:45.000"),
            watermark("2024-04-28T23:13:10.000"),
            event("alice", "2024-04-28T23:12:50.000"),
            event("bob", "2024-04-28T23:13:05.000"),
            r#"{"event": {"id": "broken"}}"#.to_owned(),
            watermark("2024-04-28T23:13:45.000"),
            event("alice", "2024-04-28T23:12:55.000"),
            event("bob", "2024-04-28T23:12:44.000"),
        ],
    )
}

fn count(svg: &str, needle: &str) -> usize {
    svg.matches(needle).count()
}

#[test]
fn timeline_draws_a_mark_per_record_coloured_by_fate_and_each_pane() {
    let dir = tempfile::tempdir().unwrap();
    let file = every_fate(dir.path());
    let svg_path = dir.path().join("run.svg");
    let output = simulate(
        &file,
        &[
            "--timeline",
            svg_path.to_str().unwrap(),
            "--allowed-lateness",
            "30s",
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!output.stdout.is_empty(), "the window results still go to stdout");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_eq!(count(&svg, r#"class="rec ontime""#), 3, "{svg}");
    assert_eq!(count(&svg, r#"class="rec late""#), 1);
    assert_eq!(count(&svg, r#"class="rec dropped""#), 2);
    assert_eq!(count(&svg, r#"class="rec dead""#), 1);
    assert_eq!(count(&svg, r#"class="pane on-time""#), 3);
    assert_eq!(count(&svg, r#"class="pane late""#), 1);
    assert_eq!(count(&svg, r#"class="watermark""#), 1);
    assert!(
        count(&svg, r#"class="band""#) >= 2,
        "the two windows that fired are shaded"
    );
    assert!(
        svg.contains(">LATE 1</text>"),
        "the late pane is labelled with its value"
    );

    let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).expect("valid SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let has = |(r, g, b): (u8, u8, u8)| {
        pixmap
            .pixels()
            .iter()
            .any(|p| p.alpha() == 255 && (p.red(), p.green(), p.blue()) == (r, g, b))
    };
    assert!(has((0xd7, 0x19, 0x1c)), "no pixel of the dropped-late colour");
    assert!(has((0xf0, 0xa5, 0x00)), "no pixel of the counted-late colour");
    assert!(has((0x2b, 0x8c, 0xbe)), "no pixel of the on-time colour");
    assert!(has((0x7b, 0x32, 0x94)), "no pixel of the dead-letter colour");
    assert!(has((0xe6, 0x55, 0x0d)), "no pixel of the late-pane colour");
    assert!(has((0x1a, 0x98, 0x50)), "no pixel of the watermark");

    // The same run again draws the same bytes; .html wraps it with hover details.
    let again = dir.path().join("again.svg");
    simulate(
        &file,
        &["--timeline", again.to_str().unwrap(), "--allowed-lateness", "30s", "-q"],
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), svg);
    let html_path = dir.path().join("run.html");
    simulate(
        &file,
        &[
            "--timeline",
            html_path.to_str().unwrap(),
            "--allowed-lateness",
            "30s",
            "-q",
        ],
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(
            "<title>arrival 2 · line 4 · key alice · event time 2024-04-28T23:12:50.000 · counted late</title>"
        ),
        "{html}"
    );
    assert!(html.contains("<title>pane LATE #1"), "{html}");
    assert!(
        html.contains("key alice · window [2024-04-28T23:12:40.000, 2024-04-28T23:13:00.000) · value"),
        "{html}"
    );
}

#[test]
fn a_large_recording_draws_a_density_map_of_bounded_size() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_714_345_960_000_i64;
    let lines: Vec<String> = (0..30_000_i64)
        .map(|i| {
            // Mostly in order; every 50th record 40 s behind, so dropped as late.
            let t = start + i * 100 - if i % 50 == 0 { 40_000 } else { 0 };
            let t = pipeline::time::Timestamp::from_millis(t).to_string();
            visit(&format!("u{}", i % 7), &t)
        })
        .collect();
    let file = write(dir.path(), &lines);
    let svg_path = dir.path().join("big.svg");
    let output = simulate(&file, &["--timeline", svg_path.to_str().unwrap(), "-q"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.len() < 4_000_000, "{} bytes", svg.len());
    assert_eq!(count(&svg, "class=\"rec "), 0, "no mark per record past the limit");
    assert!(count(&svg, r#"class="cell dropped""#) > 0);
    assert!(count(&svg, r#"class="cell ontime""#) > 0);
    assert!(count(&svg, r#"class="pane-cell on-time""#) > 0);
    assert!(svg.contains("30000 records"));
    resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).expect("valid SVG");
}

#[test]
fn views_are_refused_in_cluster_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &[visit("alice", "2024-04-28T23:12:41.000")]);
    let output = simulate(&file, &["--transcript", "--partitions", "2"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Watching a run changes nothing: the same outputs, late records, dead letters and counts as without an
/// observer, under seeded disorder too; and the observer is shown every record once, with fates that add
/// up to the pipeline's counts.
#[test]
fn an_observed_run_gives_the_same_results_and_sees_every_record_once() {
    use formats::jsonl::JsonlSource;
    use pipeline::io::memory::MemorySink;
    use pipeline::time::Duration;
    use pipeline::traffic::{traffic_pipeline, TrafficConfig};
    use pipeline::transcript::ElementFate;
    use simulator::disorder::DisorderOptions;
    use simulator::observe::{ObservedStep, RunObserver};
    use simulator::{simulate, simulate_observed, SimulationOptions, Sinks};

    #[derive(Default)]
    struct Tally {
        arrivals: Vec<u64>,
        fates: std::collections::BTreeMap<String, u64>,
        panes: u64,
    }
    impl<K, O> RunObserver<K, O> for Tally {
        fn on_step(&mut self, step: &ObservedStep<'_, K, O>) {
            for e in step.elements {
                self.arrivals.push(e.index);
                *self.fates.entry(format!("{:?}", e.fate)).or_insert(0) += 1;
            }
            self.panes += step.outputs.len() as u64;
        }
    }

    let pipeline = traffic_pipeline(TrafficConfig::default());
    let text = std::fs::read(workspace().join("ci/visits.jsonl")).unwrap();
    let options = SimulationOptions {
        disorder: Some(DisorderOptions {
            seed: 5,
            reorder: 20,
            late_fraction: 0.05,
            late_by: Duration::seconds(30),
        }),
        ..SimulationOptions::default()
    };
    let run = |observer: Option<&mut Tally>| {
        let mut source = JsonlSource::from_reader("visits", &text[..]);
        let (mut outputs, mut late, mut dead) = (MemorySink::default(), MemorySink::default(), MemorySink::default());
        let sinks = Sinks {
            outputs: &mut outputs,
            late: &mut late,
            dead_letters: &mut dead,
        };
        let report = match observer {
            Some(o) => simulate_observed(&pipeline, &mut source, &options, sinks, &mut |_| {}, o),
            None => simulate(&pipeline, &mut source, &options, sinks, &mut |_| {}),
        }
        .unwrap();
        (outputs.items, late.items, dead.items, report)
    };
    let plain = run(None);
    let mut tally = Tally::default();
    let watched = run(Some(&mut tally));
    assert_eq!(watched.0, plain.0);
    assert_eq!(watched.1, plain.1);
    assert_eq!(watched.2, plain.2);
    assert_eq!(watched.3, plain.3);
    let stats = plain.3.stats;
    assert!(stats.dropped_late > 0, "the disorder makes late drops: {stats:?}");
    assert_eq!(tally.arrivals, (0..stats.read).collect::<Vec<u64>>());
    let fate = |f: ElementFate| tally.fates.get(&format!("{f:?}")).copied().unwrap_or(0);
    assert_eq!(fate(ElementFate::Counted), stats.counted);
    assert_eq!(fate(ElementFate::DroppedLate), stats.dropped_late);
    assert_eq!(fate(ElementFate::DeadLettered), stats.dead_lettered);
    assert_eq!(tally.panes, stats.panes);
}

#[test]
fn explain_finds_a_session_by_the_second_its_output_starts_at() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        &[
            event("alice", "2024-04-28T23:12:41.250"),
            event("alice", "2024-04-28T23:12:50.000"),
        ],
    );
    let args = ["--windows", "sessions:30s", "-q", "--explain"];
    let text = stdout(&simulate(&file, &[&args[..], &["alice@2024-04-28T23:12:41"]].concat()));
    assert!(
        text.starts_with("key alice, window [2024-04-28T23:12:41.250, 2024-04-28T23:13:20.000)\n"),
        "{text}"
    );
    assert!(text.contains("  2 record(s) new in this pane:"), "{text}");
    let output = simulate(&file, &[&args[..], &["alice@2024-04-28T23:12:40"]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("its windows start at 2024-04-28T23:12:41.250"),
        "{stderr}"
    );
}
