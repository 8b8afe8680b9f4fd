//! The recorded traffic in `ci/visits.jsonl` is exactly what the command in `ci/README.md` produces.
//!
//! The command is read from the README's "Recorded traffic" section, so the file, the documented command
//! and the generator cannot drift apart; a change of output across machines or dependency updates shows
//! here first.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;

use pipeline::event::VisitEvent;

fn ci_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ci")
}

/// The arguments after `--` of the `cargo run -p datagen` line in the "Recorded traffic" section.
fn recorded_command() -> Vec<String> {
    let readme = std::fs::read_to_string(ci_dir().join("README.md")).expect("ci/README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Recorded traffic"))
        .expect("a \"Recorded traffic\" section in ci/README.md");
    let line = section
        .lines()
        .find(|l| l.starts_with("cargo run -p datagen"))
        .expect("a `cargo run -p datagen` line in the section");
    let (_, args) = line.split_once(" -- ").expect("arguments after --");
    args.split_whitespace().map(str::to_owned).collect()
}

fn recorded() -> Vec<u8> {
    std::fs::read(ci_dir().join("visits.jsonl")).expect("ci/visits.jsonl")
}

#[test]
fn the_readme_command_reproduces_the_recorded_file_byte_for_byte() {
    let mut args = recorded_command();
    let out = args.iter().position(|a| a == "--out").expect("--out in the command");
    assert_eq!(args[out + 1], "ci/visits.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.jsonl");
    args[out + 1] = path.to_str().unwrap().to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_datagen"))
        .args(&args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let fresh = std::fs::read(&path).unwrap();
    let recorded = recorded();
    if fresh != recorded {
        let first_difference = fresh
            .split(|&b| b == b'\n')
            .zip(recorded.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b);
        panic!(
            "ci/visits.jsonl differs from a fresh run (first differing line: {first_difference:?}); \
             if the change is deliberate, re-record it with the command in ci/README.md"
        );
    }
}

#[test]
fn the_recorded_file_has_twenty_users_several_per_window_and_late_and_broken_lines() {
    let recorded = recorded();
    let lines: Vec<&[u8]> = recorded.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5000);
    let visits: Vec<VisitEvent> = lines.iter().filter_map(|l| VisitEvent::from_json(l).ok()).collect();
    let malformed = lines.len() - visits.len();
    assert!((10..=50).contains(&malformed), "{malformed} malformed");
    let ids: HashSet<&str> = visits.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids.len(), 20);
    assert!(visits.iter().any(|v| v.lat == -1.0));

    // Fixed 20-second windows, as in the seed's pipelines: several events per user in each.
    let mut per_window_and_user: HashMap<(i64, &str), u32> = HashMap::new();
    for v in &visits {
        *per_window_and_user
            .entry((v.event_ts.div_euclid(20_000), &v.id))
            .or_default() += 1;
    }
    let mean = f64::from(per_window_and_user.values().sum::<u32>()) / per_window_and_user.len() as f64;
    assert!(mean >= 3.0, "{mean} events per user per window");

    // Out of order, but within the jitter bound except for the late ones.
    let mut latest = i64::MIN;
    let mut beyond_jitter = 0;
    for v in &visits {
        if latest.saturating_sub(v.event_ts) > 3_000 {
            beyond_jitter += 1;
        }
        latest = latest.max(v.event_ts);
    }
    assert!(
        (50..=150).contains(&beyond_jitter),
        "{beyond_jitter} late-looking events"
    );
}
