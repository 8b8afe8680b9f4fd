//! Golden outputs: compare a run's output with a committed file as it is produced.
//!
//! [`GoldenCheck`] is an `io::Write` that reads the golden file alongside the output, line by line, and
//! keeps only a few lines of context while the two agree, so a matching golden file is never held in
//! memory whole. At the first difference it keeps the rest of both sides and, when the run ends, diffs
//! them by content (with `similar`): the report gives true counts (lines only in the golden file, lines
//! only in this run, the exact length of each) and a unified diff with context, cut to a readable size
//! with a note of how much was left out.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp, DiffTag};

/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;
/// The most diff lines (hunk headers included) a report shows.
const SHOWN: usize = 40;
/// Past this, the diff settles for a correct but possibly longer edit script: only outputs that differ
/// almost everywhere, over hundreds of thousands of lines, take that long.
const DIFF_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Compares what is written to it with a golden file.
pub struct GoldenCheck {
    path: PathBuf,
    golden: BufReader<File>,
    partial: Vec<u8>,
    /// Lines written by the run so far.
    lines: u64,
    /// The last lines that matched, for the diff's leading context.
    context: VecDeque<String>,
    /// Everything from the first difference on.
    rest: Option<Rest>,
}

/// Both sides from the first differing line on.
struct Rest {
    /// The 1-based line where the two first differ.
    first_line: u64,
    golden: Vec<String>,
    run: Vec<String>,
}

/// How a golden comparison ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoldenOutcome {
    /// Identical: this many lines.
    Same {
        /// Lines compared.
        lines: u64,
    },
    /// Different: a readable report with counts and a diff.
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
            partial: Vec::new(),
            lines: 0,
            context: VecDeque::with_capacity(CONTEXT + 1),
            rest: None,
        })
    }

    fn next_golden(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let read = self.golden.read_until(b'\n', &mut line).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read golden file {}: {e}", self.path.display()),
            )
        })?;
        if read == 0 {
            return Ok(None);
        }
        while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            line.pop();
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }

    fn compare(&mut self, actual: String) -> io::Result<()> {
        self.lines += 1;
        if let Some(rest) = &mut self.rest {
            rest.run.push(actual);
            return Ok(());
        }
        match self.next_golden()? {
            Some(expected) if expected == actual => {
                if self.context.len() == CONTEXT {
                    self.context.pop_front();
                }
                self.context.push_back(actual);
            }
            expected => {
                self.rest = Some(Rest {
                    first_line: self.lines,
                    golden: expected.into_iter().collect(),
                    run: vec![actual],
                });
            }
        }
        Ok(())
    }

    /// Ends the comparison: golden lines left over are a difference too.
    pub fn finish(mut self) -> io::Result<GoldenOutcome> {
        if !self.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.compare(rest)?;
        }
        let mut rest = match self.rest.take() {
            Some(rest) => rest,
            None => match self.next_golden()? {
                None => return Ok(GoldenOutcome::Same { lines: self.lines }),
                Some(expected) => Rest {
                    first_line: self.lines + 1,
                    golden: vec![expected],
                    run: Vec::new(),
                },
            },
        };
        while let Some(expected) = self.next_golden()? {
            rest.golden.push(expected);
        }
        Ok(GoldenOutcome::Different(self.report(&rest)))
    }

    fn report(&self, rest: &Rest) -> String {
        let matched = rest.first_line - 1;
        let golden_lines = matched + rest.golden.len() as u64;
        // The diff runs over the leading context and the rest; `offset` turns its indices into lines.
        let offset = matched as usize - self.context.len();
        let old: Vec<&str> = self.context.iter().chain(&rest.golden).map(String::as_str).collect();
        let new: Vec<&str> = self.context.iter().chain(&rest.run).map(String::as_str).collect();
        let deadline = Instant::now() + DIFF_TIME_LIMIT;
        let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &old, &new, Some(deadline));
        let (mut only_golden, mut only_run) = (0usize, 0usize);
        for op in &ops {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            if tag != DiffTag::Equal {
                only_golden += old_range.len();
                only_run += new_range.len();
            }
        }
        let mut diff = String::new();
        let mut shown = 0usize;
        let mut left_out = 0usize;
        let mut push = |line: String| {
            if shown < SHOWN {
                diff.push_str(&line);
                diff.push('\n');
                shown += 1;
            } else {
                left_out += 1;
            }
        };
        for group in similar::group_diff_ops(ops, CONTEXT) {
            push(hunk_header(&group, offset));
            for op in &group {
                let (tag, old_range, new_range) = op.as_tag_tuple();
                match tag {
                    DiffTag::Equal => old_range.for_each(|i| push(format!(" {}", old[i]))),
                    DiffTag::Delete => old_range.for_each(|i| push(format!("-{}", old[i]))),
                    DiffTag::Insert => new_range.for_each(|i| push(format!("+{}", new[i]))),
                    DiffTag::Replace => {
                        old_range.for_each(|i| push(format!("-{}", old[i])));
                        new_range.for_each(|i| push(format!("+{}", new[i])));
                    }
                }
            }
        }
        if left_out > 0 {
            diff.push_str(&format!("... {left_out} more diff lines not shown\n"));
        }
        format!(
            "output differs from golden file {path} starting at line {first}: {only_golden} only in the golden \
             file, {only_run} only in this run (the golden file has {golden_lines}, this run wrote {run_lines})\n\
             --- golden {path}\n+++ this run\n{diff}\
             If the change is intended, bless it: rerun with --bless.",
            path = self.path.display(),
            first = rest.first_line,
            only_golden = count_lines(only_golden as u64),
            only_run = count_lines(only_run as u64),
            golden_lines = count_lines(golden_lines),
            run_lines = self.lines,
        )
    }
}

/// `@@ -l,s +l,s @@` for a group of diff operations, in lines of the whole files.
fn hunk_header(group: &[DiffOp], offset: usize) -> String {
    // The extent of the group's ranges, taken over every op: similar's ops can leave an empty range of
    // one side where the other side's lines are (a fuzzed golden file found `last.end < first.start`).
    let old_start = group.iter().map(|op| op.old_range().start).min().unwrap_or(0);
    let old_end = group.iter().map(|op| op.old_range().end).max().unwrap_or(old_start);
    let new_start = group.iter().map(|op| op.new_range().start).min().unwrap_or(0);
    let new_end = group.iter().map(|op| op.new_range().end).max().unwrap_or(new_start);
    let range = |start: usize, end: usize| match end.saturating_sub(start) {
        // GNU diff's convention: an empty range names the line before it; a length of 1 is left out.
        0 => format!("{},0", start + offset),
        1 => format!("{}", start + offset + 1),
        len => format!("{},{len}", start + offset + 1),
    };
    format!("@@ -{} +{} @@", range(old_start, old_end), range(new_start, new_end))
}

fn count_lines(n: u64) -> String {
    if n == 1 {
        "1 line".to_owned()
    } else {
        format!("{n} lines")
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

    /// A golden file of `n` distinct lines.
    fn long_golden(n: usize) -> Vec<String> {
        (1..=n)
            .map(|i| format!("{{\"id\": \"{i}\", \"page_views\": {}}}", i % 7))
            .collect()
    }

    fn text(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn report(golden: &[String], actual: &[String]) -> String {
        match check(&text(golden), &text(actual)) {
            GoldenOutcome::Different(report) => report,
            GoldenOutcome::Same { .. } => panic!("the outputs should differ"),
        }
    }

    #[test]
    fn one_removed_line_is_one_line_only_in_the_golden_file() {
        let golden = long_golden(1000);
        let mut actual = golden.clone();
        actual.remove(499);
        let report = report(&golden, &actual);
        assert!(report.contains("starting at line 500"), "{report}");
        assert!(
            report.contains("1 line only in the golden file, 0 lines only in this run"),
            "{report}"
        );
        assert!(
            report.contains("the golden file has 1000 lines, this run wrote 999"),
            "{report}"
        );
        assert!(report.contains("@@ -497,7 +497,6 @@\n"), "{report}");
        assert!(report.contains(&format!("\n-{}\n", golden[499])), "{report}");
    }

    #[test]
    fn one_inserted_line_is_one_line_only_in_this_run() {
        let golden = long_golden(1000);
        let mut actual = golden.clone();
        actual.insert(500, "{\"id\": \"new\"}".to_owned());
        let report = report(&golden, &actual);
        assert!(report.contains("starting at line 501"), "{report}");
        assert!(
            report.contains("0 lines only in the golden file, 1 line only in this run"),
            "{report}"
        );
        assert!(
            report.contains("the golden file has 1000 lines, this run wrote 1001"),
            "{report}"
        );
        assert!(report.contains("@@ -498,6 +498,7 @@\n"), "{report}");
        assert!(report.contains("\n+{\"id\": \"new\"}\n"), "{report}");
    }

    #[test]
    fn one_changed_line_is_one_line_on_each_side() {
        let golden = long_golden(1000);
        let mut actual = golden.clone();
        actual[999] = "{\"id\": \"changed\"}".to_owned();
        let report = report(&golden, &actual);
        assert!(report.contains("starting at line 1000"), "{report}");
        assert!(
            report.contains("1 line only in the golden file, 1 line only in this run"),
            "{report}"
        );
        assert!(
            report.contains("the golden file has 1000 lines, this run wrote 1000"),
            "{report}"
        );
    }

    #[test]
    fn a_long_diff_is_cut_to_a_readable_size_with_a_note() {
        let golden = long_golden(1000);
        let actual: Vec<String> = golden.iter().map(|l| l.replace("id", "ID")).collect();
        let report = report(&golden, &actual);
        assert!(
            report.contains("1000 lines only in the golden file, 1000 lines only in this run"),
            "{report}"
        );
        assert!(report.lines().count() < 100, "{report}");
        assert!(report.contains("more diff lines not shown"), "{report}");
    }

    #[test]
    fn matching_lines_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("golden.jsonl");
        let golden = long_golden(10_000);
        std::fs::write(&path, text(&golden)).unwrap();
        let mut g = GoldenCheck::open(&path).unwrap();
        g.write_all(text(&golden).as_bytes()).unwrap();
        assert!(g.context.len() <= CONTEXT && g.rest.is_none());
        assert_eq!(g.finish().unwrap(), GoldenOutcome::Same { lines: 10_000 });
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
