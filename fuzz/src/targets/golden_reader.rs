//! Target `golden_reader`: [`GoldenCheck`] with arbitrary golden bytes and arbitrary output written in
//! arbitrary chunks, through its public API only (`open`, `write`, `finish`).
//!
//! The input is `golden`, then optionally [`SEPARATOR`] and `output`, then optionally [`SEPARATOR`]
//! and the chunk sizes (one byte each, `b % 8`, used in a cycle; 0 is an empty write followed by one byte). Without a
//! separator the golden bytes are also the output, which must then compare equal. The comparison must
//! never panic, must not depend on how the output is chunked, and must say `Same { lines }` exactly
//! when the two texts are equal line for line, as the code defines it:
//!
//! * a golden line ends at `\n` (the last one may lack it) and loses every trailing `\r` and `\n`;
//! * an output line ends at `\n` and keeps a `\r`; a last line without `\n` counts unless it is empty;
//! * on both sides, bytes that are not UTF-8 read as U+FFFD; nothing is an error;
//! * `lines` is the number of output lines.

use std::io::Write;

use arbitrary::{Result, Unstructured};
use formats::golden::{GoldenCheck, GoldenOutcome};

use crate::generate;

/// Separates the golden bytes, the output and the chunk sizes in an input.
pub const SEPARATOR: &[u8] = b"\x00--8<--\x00";

/// Line ends and golden-file content worth splicing in.
pub const DICTIONARY: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\x00--8<--\x00",
    "{\"id\": \"7\", \"window_start\": \"2024-04-28T23:12:40\", \"window_end\": \"2024-04-28T23:13:00\", \"page_views\": 2}\n",
    "\u{fffd}",
    "\u{e9}",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut parts = split(data, SEPARATOR);
    let golden = parts.next().unwrap_or_default();
    let output = parts.next().unwrap_or(golden);
    let chunks = parts.next().filter(|c| !c.is_empty()).unwrap_or(golden);
    let expected = expected_outcome(golden, output);
    let actual = compare(golden, output, chunks);
    match (&expected, &actual) {
        (_, Err(e)) => panic!("a golden file failed to compare: {e}"),
        (Some(lines), Ok(outcome)) => {
            assert_eq!(
                outcome,
                &GoldenOutcome::Same { lines: *lines },
                "equal texts must compare Same"
            )
        }
        (None, Ok(GoldenOutcome::Same { lines })) => panic!("different texts compared Same ({lines} lines)"),
        (None, Ok(GoldenOutcome::Different(report))) => assert!(!report.is_empty()),
    }
    // The same output in one piece: chunking must not change the verdict.
    let whole = compare(golden, output, &[]);
    assert_eq!(
        whole.ok(),
        actual.ok(),
        "the outcome depends on how the output is chunked"
    );
}

fn split<'a>(data: &'a [u8], separator: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(separator.len()).position(|w| w == separator) {
            Some(i) => {
                rest = Some(&current[i + separator.len()..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `Some(lines)` when the texts are equal line for line, `None` when they differ.
fn expected_outcome(golden: &[u8], output: &[u8]) -> Option<u64> {
    let golden_lines: Vec<String> = golden
        .split_inclusive(|b| *b == b'\n')
        .map(|l| {
            let end = l.iter().rposition(|b| !matches!(b, b'\n' | b'\r')).map_or(0, |i| i + 1);
            String::from_utf8_lossy(&l[..end]).into_owned()
        })
        .collect();
    let mut output_lines: Vec<String> = output
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    if output_lines.last().is_some_and(String::is_empty) {
        output_lines.pop();
    }
    let same = golden_lines == output_lines;
    same.then_some(output_lines.len() as u64)
}

/// Compares `output`, written in pieces whose sizes cycle through `chunks` (in one piece when empty).
fn compare(golden: &[u8], output: &[u8], chunks: &[u8]) -> std::io::Result<GoldenOutcome> {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary golden file");
    file.write_all(golden).expect("the temporary golden file is writable");
    file.flush().expect("the temporary golden file is writable");
    let mut check = GoldenCheck::open(file.path())?;
    let mut rest = output;
    let mut sizes = chunks.iter().map(|b| usize::from(b % 8)).cycle();
    while !rest.is_empty() {
        let mut size = if chunks.is_empty() {
            rest.len()
        } else {
            sizes.next().unwrap_or(1).min(rest.len())
        };
        if size == 0 {
            // An empty write, then at least one byte, so that a schedule of zeros still ends.
            check.write_all(&[])?;
            size = 1;
        }
        check.write_all(&rest[..size])?;
        rest = &rest[size..];
    }
    let outcome = check.finish()?;
    // Reports name the temporary file; only the verdict and the line count are compared.
    Ok(match outcome {
        GoldenOutcome::Different(report) => {
            GoldenOutcome::Different(report.replace(&file.path().display().to_string(), "golden"))
        }
        same => same,
    })
}

/// Golden lines and an output that is the same, or the same with a small change.
pub fn generate(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let count = u.int_in_range(0..=6)?;
    let mut golden = Vec::new();
    for _ in 0..count {
        let line = match u.int_in_range(0..=5)? {
            0..=2 => generate::visit_json(u)?.into_bytes(),
            3 => b"".to_vec(),
            4 => generate::raw_bytes(u, 20)?,
            _ => u.arbitrary::<String>()?.into_bytes(),
        };
        golden.extend_from_slice(&line);
        golden.extend_from_slice(u.choose(&[&b"\n"[..], b"\n", b"\r\n", b"\r\r\n", b"\n\n"])?);
    }
    if u.ratio(1, 5)? && golden.last() == Some(&b'\n') {
        golden.pop();
    }
    let mut output = golden.clone();
    match u.int_in_range(0..=5)? {
        0 if !output.is_empty() => {
            let at = u.int_in_range(0..=output.len() - 1)?;
            output[at] = u.arbitrary()?;
        }
        1 => output.extend_from_slice(u.choose(&[&b"\n"[..], b"x\n", b"\r", b"x"])?),
        2 if !output.is_empty() => {
            let cut = u.int_in_range(0..=output.len() - 1)?;
            output.truncate(cut);
        }
        3 => return Ok(golden), // no separator: the golden bytes are the output
        _ => {}
    }
    let mut input = golden;
    input.extend_from_slice(SEPARATOR);
    input.extend_from_slice(&output);
    if u.ratio(1, 2)? {
        input.extend_from_slice(SEPARATOR);
        input.extend_from_slice(&generate::raw_bytes(u, 8)?);
    }
    Ok(input)
}
