//! Byte-level mutations of fuzz inputs: the blind half of the mutation loop.
//!
//! A mutation stacks one to eight edits drawn from a seeded RNG: flip a bit, set a byte to a random or
//! a structurally interesting value, insert or delete a run, copy a run elsewhere, splice in a piece of
//! another corpus entry, insert a dictionary token, or replace a number with a boundary value. The
//! result never exceeds the length limit. Everything is a pure function of the RNG state and the inputs.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::generate::INTERESTING_NUMBERS;

/// Bytes that change the structure of JSON, SQL, scenario and checkpoint text.
const INTERESTING_BYTES: &[u8] = b"\x00\xff\x7f\x80\xc3\xe9\"{}[]:,\\.-+0123456789 \n\r\t'()*;=TZe";

/// Mutates `input` in place. `corpus` supplies pieces to splice in, `dictionary` tokens to insert.
pub fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], dictionary: &[&str], max_len: usize) {
    let edits = 1 << rng.random_range(0..4u32);
    for _ in 0..edits {
        edit(rng, input, corpus, dictionary);
    }
    input.truncate(max_len);
}

fn edit(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], dictionary: &[&str]) {
    let len = input.len();
    match rng.random_range(0..11u32) {
        0 if len > 0 => {
            let at = rng.random_range(0..len);
            input[at] ^= 1 << rng.random_range(0..8u32);
        }
        1 if len > 0 => {
            let at = rng.random_range(0..len);
            input[at] = if rng.random_bool(0.5) {
                INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())]
            } else {
                rng.random()
            };
        }
        2 => {
            let at = rng.random_range(0..=len);
            let n = rng.random_range(1..=8usize);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            input.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let (start, end) = range(rng, len);
            input.drain(start..end);
        }
        4 if len > 0 => {
            let (start, end) = range(rng, len);
            let piece = input[start..end].to_vec();
            let at = rng.random_range(0..=len);
            input.splice(at..at, piece);
        }
        5 if !corpus.is_empty() => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            if !other.is_empty() {
                let (start, end) = range(rng, other.len());
                let piece = other[start..end].to_vec();
                if rng.random_bool(0.5) && len > 0 {
                    let (a, b) = range(rng, len);
                    input.splice(a..b, piece);
                } else {
                    let at = rng.random_range(0..=len);
                    input.splice(at..at, piece);
                }
            }
        }
        6 | 7 if !dictionary.is_empty() => {
            let token = dictionary[rng.random_range(0..dictionary.len())].as_bytes();
            let at = rng.random_range(0..=len);
            if rng.random_bool(0.5) && at < len {
                let end = (at + token.len()).min(len);
                input.splice(at..end, token.iter().copied());
            } else {
                input.splice(at..at, token.iter().copied());
            }
        }
        8 => {
            let number = INTERESTING_NUMBERS[rng.random_range(0..INTERESTING_NUMBERS.len())].as_bytes();
            match digit_run(rng, input) {
                Some((start, end)) => drop(input.splice(start..end, number.iter().copied())),
                None => {
                    let at = rng.random_range(0..=len);
                    input.splice(at..at, number.iter().copied());
                }
            }
        }
        9 if len > 1 => {
            let at = rng.random_range(1..len);
            input.truncate(at);
        }
        _ if len > 1 => {
            let a = rng.random_range(0..len);
            let b = rng.random_range(0..len);
            input.swap(a, b);
        }
        _ => input.push(rng.random()),
    }
}

/// A non-empty range of at most 32 bytes within `len` (> 0).
fn range(rng: &mut ChaCha8Rng, len: usize) -> (usize, usize) {
    let start = rng.random_range(0..len);
    let end = (start + rng.random_range(1..=32usize)).min(len);
    (start, end)
}

/// A run of ASCII digits (with a leading `-`) starting at a random digit, if the input has any digit.
fn digit_run(rng: &mut ChaCha8Rng, input: &[u8]) -> Option<(usize, usize)> {
    let digits: Vec<usize> = (0..input.len()).filter(|i| input[*i].is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    let mut start = digits[rng.random_range(0..digits.len())];
    while start > 0 && (input[start - 1].is_ascii_digit() || input[start - 1] == b'-') {
        start -= 1;
    }
    let mut end = start;
    while end < input.len() && (input[end].is_ascii_digit() || input[end] == b'-') {
        end += 1;
    }
    Some((start, end))
}
