//! Golden outputs: compare a run's output with a committed file, line by line, as it is produced.
//!
//! [`GoldenCheck`] is an `io::Write` that reads the golden file alongside the output, so neither is held
//! in memory whole. It keeps a few lines of context and the first differing lines of both sides, and
//! renders them as a unified diff (with `similar`) when the run ends.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use similar::TextDiff;

const CONTEXT: usize = 3;
const SHOWN: usize = 20;

/// Compares what is written to it with a golden file.
pub struct GoldenCheck {
    path: PathBuf,
    golden: BufReader<File>,
    golden_done: bool,
    partial: Vec<u8>,
    lines: u64,
    before: Vec<String>,
    mismatch: Option<Mismatch>,
}

struct Mismatch {
    first_line: u64,
    before: Vec<String>,
    actual: Vec<String>,
    expected: Vec<String>,
    differing_lines: u64,
}

/// How a golden comparison ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoldenOutcome {
    /// Identical: this many lines.
    Same {
        /// Lines compared.
        lines: u64,
    },
    /// Different: a readable report with a diff of the first differences.
    Different(String),
}

impl GoldenCheck {
    /// Opens the golden file at `path`.
    pub fn open(path: &Path) -> io::Result<GoldenCheck> {
        let file = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open golden file {}: {e}", path.display())))?;
        Ok(GoldenCheck {
            path: path.to_owned(),
            golden: BufReader::new(file),
            golden_done: false,
            partial: Vec::new(),
            lines: 0,
            before: Vec::new(),
            mismatch: None,
        })
    }

    fn next_golden(&mut self) -> io::Result<Option<String>> {
        if self.golden_done {
            return Ok(None);
        }
        let mut line = String::new();
        if self.golden.read_line(&mut line)? == 0 {
            self.golden_done = true;
            return Ok(None);
        }
        while line.ends_with('\n') || line.ends_with('\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    fn compare(&mut self, actual: String) -> io::Result<()> {
        self.lines += 1;
        let expected = self.next_golden()?;
        match &mut self.mismatch {
            None if expected.as_deref() == Some(actual.as_str()) => {
                self.before.push(actual);
                if self.before.len() > CONTEXT {
                    self.before.remove(0);
                }
            }
            None => {
                self.mismatch = Some(Mismatch {
                    first_line: self.lines,
                    before: std::mem::take(&mut self.before),
                    actual: vec![actual],
                    expected: expected.into_iter().collect(),
                    differing_lines: 1,
                });
            }
            Some(m) => {
                if expected.as_deref() != Some(actual.as_str()) {
                    m.differing_lines += 1;
                }
                if m.actual.len() < SHOWN {
                    m.actual.push(actual);
                }
                if let Some(e) = expected {
                    if m.expected.len() < SHOWN {
                        m.expected.push(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the comparison: any golden lines left over are a difference too.
    pub fn finish(mut self) -> io::Result<GoldenOutcome> {
        if !self.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.compare(rest)?;
        }
        let mut extra_golden = 0u64;
        while let Some(e) = self.next_golden()? {
            extra_golden += 1;
            match &mut self.mismatch {
                None => {
                    self.mismatch = Some(Mismatch {
                        first_line: self.lines + 1,
                        before: std::mem::take(&mut self.before),
                        actual: Vec::new(),
                        expected: vec![e],
                        differing_lines: 1,
                    })
                }
                Some(m) => {
                    m.differing_lines += 1;
                    if m.expected.len() < SHOWN {
                        m.expected.push(e);
                    }
                }
            }
        }
        let Some(m) = self.mismatch else {
            return Ok(GoldenOutcome::Same { lines: self.lines });
        };
        let golden_lines = self.lines + extra_golden;
        let join = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let expected = join(&[m.before.clone(), m.expected].concat());
        let actual = join(&[m.before.clone(), m.actual].concat());
        let diff = TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .context_radius(CONTEXT)
            .header(&format!("golden {}", self.path.display()), "this run")
            .to_string();
        Ok(GoldenOutcome::Different(format!(
            "output differs from golden file {} starting at line {} ({} line(s) differ; this run wrote {} line(s), \
             the golden file has about {}); first differences:\n{diff}\
             If the change is intended, bless it: rerun with --bless.",
            self.path.display(),
            m.first_line,
            m.differing_lines,
            self.lines,
            golden_lines.max(self.lines),
        )))
    }
}

impl Write for GoldenCheck {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&rest[..i]);
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.compare(line)?;
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(golden: &str, actual: &str) -> GoldenOutcome {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("golden.jsonl");
        std::fs::write(&path, golden).unwrap();
        let mut g = GoldenCheck::open(&path).unwrap();
        // Write in awkward pieces: comparison must not depend on how writes are split.
        for chunk in actual.as_bytes().chunks(3) {
            g.write_all(chunk).unwrap();
        }
        g.finish().unwrap()
    }

    #[test]
    fn identical_output_passes() {
        assert_eq!(check("a\nb\n", "a\nb\n"), GoldenOutcome::Same { lines: 2 });
    }

    #[test]
    fn a_changed_line_is_shown_with_context() {
        let GoldenOutcome::Different(report) = check("a\nb\nc\nd\n", "a\nb\nX\nd\n") else {
            panic!()
        };
        assert!(report.contains("starting at line 3"), "{report}");
        assert!(report.contains("-c\n+X\n"), "{report}");
        assert!(report.contains(" b\n"), "context line missing: {report}");
    }

    #[test]
    fn missing_and_extra_lines_are_differences() {
        let GoldenOutcome::Different(report) = check("a\nb\n", "a\n") else {
            panic!()
        };
        assert!(report.contains("-b"), "{report}");
        let GoldenOutcome::Different(report) = check("a\n", "a\nb\n") else {
            panic!()
        };
        assert!(report.contains("+b"), "{report}");
    }
}
