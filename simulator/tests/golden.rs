//! The CI gate on golden window outputs: every `ci/golden/NAME.args` is a `simulate` command line whose
//! output must equal `ci/golden/NAME.jsonl` byte for byte. Bless intended changes with `ci/bless`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the simulator crate sits in the workspace")
        .to_owned()
}

#[test]
fn every_golden_output_matches() {
    let root = workspace_root();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("ci/golden"))
        .expect("ci/golden exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "args"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 4,
        "expected the golden cases in ci/golden, found {cases:?}"
    );
    let mut failures = Vec::new();
    for args_path in &cases {
        let args = std::fs::read_to_string(args_path).expect("readable args");
        let golden = args_path.with_extension("jsonl");
        let output = Command::new(env!("CARGO_BIN_EXE_simulate"))
            .current_dir(&root)
            .args(args.split_whitespace())
            .arg("--golden")
            .arg(&golden)
            .arg("--quiet")
            .output()
            .expect("simulate runs");
        if !output.status.success() {
            failures.push(format!(
                "{} ({}):\n{}",
                args_path.display(),
                args.trim(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden outputs differ (run ci/bless if intended):\n{}",
        failures.join("\n")
    );
}
