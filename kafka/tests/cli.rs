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
