//! The `traffic-agg` command line: the seed's options under their exact names, durations in the
//! pipeline's form, usage mistakes exit 2 with one readable line.

use std::process::Command;

fn traffic_agg(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_traffic-agg"))
        .args(args)
        .env_remove("BOOTSTRAP_SERVERS")
        .output()
        .expect("run traffic-agg")
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
            let entry: String = help.lines().skip(line).take(4).collect::<Vec<_>>().join(" ");
            assert!(entry.contains(&format!("[default: {default}]")), "{flag}: {entry}");
        }
    }
    assert!(help.contains("[env: BOOTSTRAP_SERVERS="), "{help}");
}

#[test]
fn bad_durations_and_unknown_flags_are_usage_errors() {
    for args in [
        &["--window", "20"][..],
        &["--idle-timeout", "ten"],
        &["--max-out-of-orderness", "1.5s"],
        &["--transactional-id", "x"],
        &["--consumer-property", "no-equals-sign"],
        &["--no-such-flag"],
    ] {
        let output = traffic_agg(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}

#[test]
fn traffic_agg_sql_has_its_own_defaults_and_takes_the_window_from_the_query() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_traffic-agg-sql"))
            .args(args)
            .env_remove("BOOTSTRAP_SERVERS")
            .output()
            .expect("run traffic-agg-sql")
    };
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert!(help.contains("[default: traffic-agg-sql]"), "{help}");
    let refused = run(&["--window", "20s"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the query's TUMBLE or HOP sets the windows"));
    let dir = tempfile::tempdir().unwrap();
    let query = dir.path().join("bad.sql");
    std::fs::write(&query, "SELECT id, COUNT(*) FROM PCOLLECTION GROUP BY id").unwrap();
    let bad = run(&["--sql", query.to_str().unwrap(), "--bootstrap-servers", "127.0.0.1:1"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("does not compile") && err.contains("GROUP BY has no TUMBLE or HOP"),
        "{err}"
    );
}
