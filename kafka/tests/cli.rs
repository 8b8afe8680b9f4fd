//! The `traffic-agg` and `traffic-agg-sql` command lines: the seed's options under their exact names,
//! durations in the pipeline's form, and every exit status: 2 with clap's message for bad flags and
//! queries that do not compile, 1 with one line when no broker answers or the query cannot be read,
//! 0 after a clean stop.

mod common;

use std::net::TcpListener;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use test_broker::{broker_or_skip, unique_name};

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_traffic-agg"), env!("CARGO_BIN_EXE_traffic-agg-sql")];

fn traffic_agg(args: &[&str]) -> std::process::Output {
    run(env!("CARGO_BIN_EXE_traffic-agg"), args)
}

fn traffic_agg_sql(args: &[&str]) -> std::process::Output {
    run(env!("CARGO_BIN_EXE_traffic-agg-sql"), args)
}

fn run(binary: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary)
        .args(args)
        .env_remove("BOOTSTRAP_SERVERS")
        .output()
        .expect("run the binary")
}

/// Asserts a usage error: status 2 and clap's layout (message, pointer to --help).
fn assert_usage_error(output: &std::process::Output, args: &[&str], says: &str) {
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(
        err.trim_end().ends_with("For more information, try '--help'."),
        "{args:?}: {err}"
    );
    assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

/// An address where nothing listens: a port the system just handed out, closed again.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Runs `binary` to its end, however long a busy machine takes (failing after 120 s); its status and
/// standard error.
fn run_to_exit(binary: &str, args: &[&str]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut child = Command::new(binary)
        .args(args)
        .env_remove("BOOTSTRAP_SERVERS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn the binary");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{binary} {args:?} still runs after 120 s; stderr so far:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, std::fs::read_to_string(&log).unwrap())
}

#[test]
fn help_lists_every_flag_of_the_issue_with_the_seeds_defaults() {
    let output = traffic_agg(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, default) in [
        ("--bootstrap-servers", Some("host.docker.internal:29092")),
        ("--input-topic", Some("website-visit")),
        ("--output-topic", Some("traffic-agg")),
        ("--group-id", Some("traffic-agg")),
        ("--window", Some("20s")),
        ("--allowed-lateness", Some("0s")),
        ("--max-out-of-orderness", Some("5s")),
        ("--idle-timeout", Some("10s")),
        ("--connect-timeout", Some("30s")),
        ("--dlq-topic", None),
        ("--late-topic", None),
        ("--exactly-once", None),
        ("--repartition", None),
    ] {
        let line = help
            .lines()
            .position(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} missing from --help:\n{help}"));
        if let Some(default) = default {
            // clap wraps long entries; words are compared, not the columns they landed in.
            let entry: String = help
                .lines()
                .skip(line)
                .take(4)
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(entry.contains(&format!("[default: {default}]")), "{flag}: {entry}");
        }
    }
    assert!(help.contains("[env: BOOTSTRAP_SERVERS="), "{help}");
}

#[test]
fn bad_durations_and_unknown_flags_are_usage_errors() {
    for (args, says) in [
        (&["--window", "20"][..], "bad duration"),
        (&["--idle-timeout", "ten"], "bad duration"),
        (&["--max-out-of-orderness", "1.5s"], "bad duration"),
        (&["--connect-timeout", "soon"], "bad duration"),
        (&["--transactional-id", "x"], "--exactly-once"),
        (&["--consumer-property", "no-equals-sign"], "expected KEY=VALUE"),
        (&["--no-such-flag"], "unexpected argument"),
        (&["--input-topic", ""], "--input-topic"),
        (&["--windows", "sessions"], "sessions windows need a duration"),
        (&["--window", "20s", "--windows", "sessions:30s"], "cannot be used with"),
        (
            &["--windows", "global"],
            "the global window with the default trigger never fires",
        ),
        (
            &["--trigger", "Repeatedly.forever(Never.ever"],
            "expected `(` after `ever`",
        ),
        (
            &["--trigger", "Never.ever().orFinally(DefaultTrigger.of())"],
            ".orFinally(..) takes a trigger that fires at most once",
        ),
        (
            &["--closing-behavior", "ALWAYS"],
            "expected FIRE_ALWAYS or FIRE_IF_NON_EMPTY",
        ),
    ] {
        assert_usage_error(&traffic_agg(args), args, says);
    }
}

#[test]
fn zero_durations_conflicting_flags_and_unknown_client_properties_are_usage_errors() {
    for (args, says) in [
        (
            &["--window", "0s"][..],
            "invalid value '0s' for '--window <DURATION>': must be longer than 0",
        ),
        (
            &["--connect-timeout", "0ms"],
            "'--connect-timeout <DURATION>': must be longer than 0",
        ),
        (
            &["--idle-timeout", "0"],
            "'--idle-timeout <DURATION>': must be longer than 0",
        ),
        (
            &["--commit-interval", "0s"],
            "'--commit-interval <DURATION>': must be longer than 0",
        ),
        (
            &["--session-timeout", "0s"],
            "'--session-timeout <DURATION>': must be longer than 0",
        ),
        (
            &["--input-topic", "visits", "--output-topic", "visits"],
            "--input-topic visits is also --output-topic",
        ),
        (
            &["--input-topic", "visits", "--dlq-topic", "visits"],
            "--input-topic visits is also --dlq-topic",
        ),
        (
            &["--input-topic", "traffic-agg"],
            "--input-topic traffic-agg is also --output-topic",
        ),
        (
            &["--consumer-property", "group.id=other"],
            "group.id is set by --group-id",
        ),
        (
            &["--consumer-property", "enable.auto.commit=true"],
            "enable.auto.commit is off",
        ),
        (
            &["--producer-property", "transactional.id=t"],
            "transactional.id is set by --transactional-id",
        ),
        (
            &["--consumer-property", "no.such.property=1"],
            "No such configuration property",
        ),
        (
            &["--producer-property", "acks=sometimes"],
            "'acks=sometimes' for '--producer-property <KEY=VALUE>'",
        ),
        (&["--sql", "query.sql"], "--sql belongs to traffic-agg-sql"),
    ] {
        assert_usage_error(&traffic_agg(args), args, says);
    }
}

#[test]
fn help_documents_every_exit_status() {
    for binary in BINARIES {
        let output = run(binary, &["--help"]);
        assert_eq!(output.status.code(), Some(0));
        let help = String::from_utf8(output.stdout).unwrap();
        let statuses = &help[help.find("Exit status:").expect("an exit status section")..];
        for line in ["  0  stopped cleanly", "  1  no broker answered", "  2  bad flags"] {
            assert!(statuses.contains(line), "{binary}: {line:?} missing from:\n{statuses}");
        }
    }
}

#[test]
fn an_unreachable_broker_ends_each_binary_with_one_line_that_names_it_and_its_cause() {
    for binary in BINARIES {
        let port = closed_port();
        let servers = format!("127.0.0.1:{port}");
        let args = ["--bootstrap-servers", &servers, "--connect-timeout", "1s"];
        let (status, err) = run_to_exit(binary, &args);
        assert_eq!(status.code(), Some(1), "{binary}: {err}");
        assert!(err.contains(&format!("connecting to {servers}")), "{err}");
        assert!(
            err.contains(&format!(
                "error: no Kafka broker answered at {servers} within 1s (last error: Connection refused)"
            )),
            "{err}"
        );
        assert_eq!(err.matches("Connection refused").count(), 1, "the cause once: {err}");
        assert!(err.lines().count() <= 4, "few lines: {err}");
    }
}

#[test]
fn a_clean_stop_exits_0() {
    let Some(broker) = broker_or_skip("a_clean_stop_exits_0") else {
        return;
    };
    let input = unique_name("website-visit");
    broker.create_topic(&input, 1).unwrap();
    let output = unique_name("traffic-agg");
    let group = unique_name("traffic-agg");
    let dir = tempfile::tempdir().unwrap();
    let mut agg = common::AggProcess::start(
        &broker,
        &["--input-topic", &input, "--output-topic", &output, "--group-id", &group],
        dir.path().join("traffic-agg.log"),
    );
    common::wait_for("the first assignment", Duration::from_secs(60), || {
        agg.assert_running();
        agg.log_text().contains("partitions assigned")
    });
    // Asserts status 0.
    agg.terminate();
}

#[test]
fn traffic_agg_sql_has_its_own_defaults_and_takes_the_window_from_the_query() {
    let run = traffic_agg_sql;
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert!(help.contains("[default: traffic-agg-sql]"), "{help}");
    for args in [["--window", "20s"], ["--windows", "sessions:30s"]] {
        assert_usage_error(
            &run(&args),
            &args,
            "the query's TUMBLE, HOP or SESSION sets the windows",
        );
    }
}

#[test]
fn a_query_that_does_not_compile_exits_2_and_an_unreadable_one_exits_1_as_in_simulate() {
    let dir = tempfile::tempdir().unwrap();
    let query = dir.path().join("bad.sql");
    std::fs::write(&query, "SELECT id, COUNT(*) FROM PCOLLECTION GROUP BY id").unwrap();
    let bad = traffic_agg_sql(&["--sql", query.to_str().unwrap(), "--bootstrap-servers", "127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "traffic-agg-sql: error: the query {} does not compile",
            query.display()
        )) && err.contains("GROUP BY has no TUMBLE, HOP or SESSION"),
        "{err}"
    );
    let missing = dir.path().join("missing.sql");
    let unreadable = traffic_agg_sql(&["--sql", missing.to_str().unwrap(), "--bootstrap-servers", "127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&unreadable.stderr);
    assert_eq!(unreadable.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot read the query {} (--sql)", missing.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
