//! Fuzz targets for every parser and reader of the workspace, and the seeded mutation loop that drives
//! them on stable Rust.
//!
//! Each target is a plain function `fn(&[u8])` that panics only on a real bug: a panic inside the code
//! under test, or a broken property (conservation of records, a round trip that does not return what
//! went in). The same functions are called by three drivers: the cargo-fuzz project in `fuzz/libfuzzer/`
//! (coverage-guided, when cargo-fuzz is installed), the [`engine`]'s mutation loop (the `fuzz-loop`
//! binary, stable Rust and nothing else), and the crate's tests, which replay the checked-in corpus and
//! regressions and run the loop briefly. This crate owns the targets, their structure-aware input
//! generators and dictionaries, and the loop; it changes nothing in the crates it exercises.

pub mod engine;
pub mod generate;
pub mod mutate;
pub mod targets;

use std::path::PathBuf;

use arbitrary::Unstructured;

/// One fuzz target: the function under test and what the mutation loop knows about its input.
#[derive(Clone, Copy)]
pub struct Target {
    /// The name used on the command line and for the corpus, regression and artifact folders.
    pub name: &'static str,
    /// Runs one input; panics only on a bug.
    pub run: fn(&[u8]),
    /// Builds a well-formed (or nearly so) input from random bytes, so the loop gets past the parser.
    pub generate: fn(&mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>>,
    /// Tokens worth splicing into inputs: field names, keywords, boundary values.
    pub dictionary: &'static [&'static str],
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Every target, in the order `ci/fuzz all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "visit_decoder",
        run: targets::visit_decoder::run,
        generate: targets::visit_decoder::generate,
        dictionary: targets::visit_decoder::DICTIONARY,
    },
    Target {
        name: "scenario_reader",
        run: targets::scenario_reader::run,
        generate: targets::scenario_reader::generate,
        dictionary: targets::scenario_reader::DICTIONARY,
    },
    Target {
        name: "durations_and_datetimes",
        run: targets::durations_and_datetimes::run,
        generate: targets::durations_and_datetimes::generate,
        dictionary: targets::durations_and_datetimes::DICTIONARY,
    },
    Target {
        name: "sql_compiler",
        run: targets::sql_compiler::run,
        generate: targets::sql_compiler::generate,
        dictionary: targets::sql_compiler::DICTIONARY,
    },
    Target {
        name: "golden_reader",
        run: targets::golden_reader::run,
        generate: targets::golden_reader::generate,
        dictionary: targets::golden_reader::DICTIONARY,
    },
    Target {
        name: "kafka_message",
        run: targets::kafka_message::run,
        generate: targets::kafka_message::generate,
        dictionary: targets::kafka_message::DICTIONARY,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The `fuzz/` folder of the source tree, where `corpus/`, `regressions/` and `artifacts/` live.
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The checked-in seed inputs of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

/// The checked-in inputs that once crashed `target`; replayed by the tests forever.
pub fn regressions_dir(target: &str) -> PathBuf {
    fuzz_dir().join("regressions").join(target)
}

/// Where a run saves inputs that panicked or hung (git-ignored).
pub fn artifacts_dir(target: &str) -> PathBuf {
    fuzz_dir().join("artifacts").join(target)
}

/// The files of `dir`, sorted by name; none when it does not exist. Dot files (a `.gitkeep`) and
/// `*.md` notes are skipped.
pub fn input_files(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && !name.starts_with('.') && !name.ends_with(".md") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `target`'s dictionary in libFuzzer's format (`-dict=`): one quoted token a line, with `\\`, `\"` and
/// bytes outside printable ASCII escaped as `\xNN`. The files in `fuzz/libfuzzer/dict/` are this.
pub fn libfuzzer_dictionary(target: &Target) -> String {
    let mut text = format!(
        "# Dictionary of the {} target (fuzz-loop dict {}).\n",
        target.name, target.name
    );
    for token in target.dictionary {
        text.push('"');
        for &b in token.as_bytes() {
            match b {
                b'\\' => text.push_str("\\\\"),
                b'"' => text.push_str("\\\""),
                b' '..=b'~' => text.push(char::from(b)),
                _ => text.push_str(&format!("\\x{b:02X}")),
            }
        }
        text.push_str("\"\n");
    }
    text
}
