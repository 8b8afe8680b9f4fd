//! The `datagen` binary: flags reach the library unchanged, the seed is printed first, mistakes fail
//! with clap's message and exit code 2, and an unreachable broker ends it with one line and exit code
//! 1. Sending to Kafka is tested in `tests/kafka.rs`.

use std::net::TcpListener;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration as Wall, Instant};

use datagen::{Generator, GeneratorConfig};
use pipeline::time::Duration;

fn datagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_datagen"))
        .args(args)
        .output()
        .expect("the datagen binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a usage error: status 2, nothing written, clap's layout (message, pointer to --help).
fn assert_usage_error(output: &Output, args: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
    assert!(output.stdout.is_empty(), "{args:?}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(
        err.trim_end().ends_with("For more information, try '--help'."),
        "{args:?}: {err}"
    );
}

fn library(config: GeneratorConfig) -> Vec<u8> {
    let mut out = Vec::new();
    Generator::new(config).unwrap().write_jsonl(&mut out).unwrap();
    out
}

#[test]
fn stdout_is_the_library_output_and_the_seed_comes_first() {
    let output = datagen(&[
        "--num-users",
        "7",
        "--events",
        "500",
        "--seed",
        "9",
        "--jitter",
        "2s",
        "--late-fraction",
        "0.1",
        "--late-by",
        "1m",
        "--malformed-fraction",
        "0.05",
        "--empty-coords-fraction",
        "0.2",
        "--mean-gap",
        "150ms",
        "--start",
        "2024-05-01T00:00:00",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = library(GeneratorConfig {
        seed: 9,
        num_users: 7,
        events: 500,
        start: "2024-05-01T00:00:00.000".parse().unwrap(),
        mean_gap: Duration::millis(150),
        jitter: Duration::seconds(2),
        late_fraction: 0.1,
        late_by: Duration::minutes(1),
        malformed_fraction: 0.05,
        empty_coords_fraction: 0.2,
    });
    assert!(output.stdout == expected, "binary and library differ");
    let err = stderr(&output);
    assert_eq!(err.lines().next(), Some("datagen: seed 9"), "{err}");
    assert!(err.contains("datagen: wrote 500 lines to stdout"), "{err}");
}

#[test]
fn the_seed_spellings_are_accepted_and_delay_seconds_is_the_mean_gap() {
    let seed_style = datagen(&[
        "--num_users",
        "5",
        "--delay_seconds",
        "0.5",
        "--source",
        "batch",
        "--events",
        "50",
    ]);
    let ours = datagen(&["--num-users", "5", "--mean-gap", "500ms", "--events", "50"]);
    assert!(seed_style.status.success(), "{}", stderr(&seed_style));
    assert_eq!(seed_style.stdout, ours.stdout);
    assert!(stderr(&seed_style).contains("--delay-seconds 0.5 is the mean gap (500ms) in batch mode"));
    let dashed = datagen(&["--num-users", "5", "--delay-seconds", "0.5", "--events", "50"]);
    assert_eq!(dashed.stdout, ours.stdout);
}

#[test]
fn out_writes_the_same_bytes_as_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.jsonl");
    let to_file = datagen(&["--events", "300", "--out", path.to_str().unwrap()]);
    assert!(to_file.status.success(), "{}", stderr(&to_file));
    assert!(to_file.stdout.is_empty());
    let to_stdout = datagen(&["--events", "300"]);
    assert_eq!(std::fs::read(&path).unwrap(), to_stdout.stdout);
    assert!(stderr(&to_file).contains(&format!("to {}", path.display())));
}

#[test]
fn kafka_flags_used_without_kafka_or_with_a_file_are_usage_errors() {
    for args in [
        &["--replay", "visits.jsonl"][..],
        &["--pace", "recorded"],
        &["--to", "kafka", "--out", "visits.jsonl"],
        &["--source", "streaming", "--out", "visits.jsonl"],
        &["--to", "kafka", "--pace", "slow"],
        &["--to", "kafka", "--replay", "visits.jsonl", "--events", "10"],
        &["--to", "kafka", "--replay", "visits.jsonl", "--seed", "3"],
        &["--to", "kafka", "--partitions", "0"],
        &["--to", "kafka", "--connect-timeout", "0s"],
        &["--to", "kafka", "--connect-timeout", "soon"],
        &["--to", "kafka", "--topic", ""],
    ] {
        assert_usage_error(&datagen(args), args);
    }
}

#[test]
fn usage_mistakes_exit_2_and_io_failures_exit_1() {
    for args in [
        &["--late-fraction", "1.5"][..],
        &["--num-users", "0"],
        &["--jitter", "3"],
        &["--delay-seconds", "-1"],
        &["--mean-gap", "1s", "--delay-seconds", "1"],
        &["--start", "yesterday"],
        &["--seed", "-4"],
    ] {
        assert_usage_error(&datagen(args), args);
    }
    let output = datagen(&["--out", "/nonexistent-dir/visits.jsonl"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("creating /nonexistent-dir/visits.jsonl"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn help_documents_every_exit_status() {
    let output = datagen(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    let statuses = &help[help.find("Exit status:").expect("an exit status section")..];
    for line in [
        "  0  done",
        "  1  an I/O failure; no Kafka broker answered",
        "  2  bad flags",
    ] {
        assert!(statuses.contains(line), "{line:?} missing from:\n{statuses}");
    }
}

/// An address where nothing listens: a port the system just handed out, closed again.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Runs datagen to its end, however long a busy machine takes (failing after 120 s); its status and
/// standard error.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_datagen"))
        .args(args)
        .env_remove("BOOTSTRAP_SERVERS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn datagen");
    let deadline = Instant::now() + Wall::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "datagen {args:?} still runs after 120 s; stderr so far:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Wall::from_millis(50));
    };
    (status, std::fs::read_to_string(&log).unwrap())
}

#[test]
fn an_unreachable_broker_ends_datagen_with_one_line_that_names_it_and_its_cause() {
    let recording = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/visits.jsonl");
    for mode in [
        &["--to", "kafka"][..],
        &["--source", "streaming"],
        &["--to", "kafka", "--replay", recording],
    ] {
        let servers = format!("127.0.0.1:{}", closed_port());
        let mut args = vec!["--bootstrap-servers", &servers, "--connect-timeout", "1s"];
        args.extend(mode);
        let (status, err) = run_to_exit(&args);
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&format!("datagen: connecting to {servers}\n")), "{err}");
        assert!(
            err.contains(&format!(
                "datagen: error: no Kafka broker answered at {servers} within 1s (last error: Connection refused)\n"
            )),
            "{err}"
        );
        assert_eq!(err.matches("Connection refused").count(), 1, "the cause once: {err}");
        assert!(err.lines().count() <= 5, "few lines: {err}");
    }
}
