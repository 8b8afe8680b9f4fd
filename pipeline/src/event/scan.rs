//! The fast path of visit decoding: one pass over a line in the common shape, borrowing every field.
//!
//! A visit line almost always is a flat object of the twelve visit fields, with plain strings (no
//! escapes), plain numbers and booleans. [`scan`] reads exactly that shape, checking the JSON grammar of
//! everything it reads, and borrows the strings from the line. Anything else — an escape, an unknown or
//! repeated field, a missing field, an exponent, a negative integer, a value of another type, bytes after
//! the object — makes it give up (`None`) without judging the line, and the caller falls back to the
//! serde_json parse, which accepts or refuses it and says why. So on every line `scan` accepts, the
//! result equals serde_json's (a test checks it on generated and mutated lines); on the others the
//! reasons stay serde_json's.

/// A visit's fields as they stand in the line: strings borrowed, numbers read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VisitFields<'a> {
    pub ip: &'a str,
    pub id: &'a str,
    /// The number as written, `None` for `""` or `null`.
    pub lat: Option<&'a str>,
    pub lng: Option<&'a str>,
    pub user_agent: &'a str,
    pub age_bracket: &'a str,
    pub opted_into_marketing: bool,
    pub http_request: &'a str,
    pub http_response: i64,
    pub file_size_bytes: i64,
    pub event_datetime: &'a str,
    pub event_ts: i64,
}

const IP: u16 = 1 << 0;
const ID: u16 = 1 << 1;
const LAT: u16 = 1 << 2;
const LNG: u16 = 1 << 3;
const USER_AGENT: u16 = 1 << 4;
const AGE_BRACKET: u16 = 1 << 5;
const OPTED: u16 = 1 << 6;
const HTTP_REQUEST: u16 = 1 << 7;
const HTTP_RESPONSE: u16 = 1 << 8;
const FILE_SIZE: u16 = 1 << 9;
const EVENT_DATETIME: u16 = 1 << 10;
const EVENT_TS: u16 = 1 << 11;
const ALL: u16 = (1 << 12) - 1;

/// Reads `text` when it is a visit in the common shape; `None` leaves the judgement to serde_json.
pub(crate) fn scan<'a>(text: &'a str) -> Option<VisitFields<'a>> {
    let b = text.as_bytes();
    // A line without escapes or control characters anywhere (the usual one) has strings that end at the
    // next quote, which a vectorised search finds; this check runs without branches, so it vectorises too.
    let plain = is_plain(b);
    let string = |at| {
        if plain {
            plain_string(text, at)
        } else {
            string(text, at)
        }
    };
    let mut at = skip_space(b, 0);
    if b.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    let mut seen = 0u16;
    let mut v = VisitFields {
        ip: "",
        id: "",
        lat: None,
        lng: None,
        user_agent: "",
        age_bracket: "",
        opted_into_marketing: false,
        http_request: "",
        http_response: 0,
        file_size_bytes: 0,
        event_datetime: "",
        event_ts: 0,
    };
    // The field expected next: lines usually list the fields in the visit's order, so the key is first
    // compared with that field's name as a whole (quotes included) before it is read as a string.
    let mut expected = 0;
    loop {
        at = skip_space(b, at);
        let (field, after) = match QUOTED_KEYS.get(expected) {
            Some(quoted) if starts_with_at(b, at, quoted) => (1 << expected, at + quoted.len()),
            _ => {
                let (key, after) = string(at)?;
                (field_of(key)?, after)
            }
        };
        expected = field.trailing_zeros() as usize + 1;
        at = skip_space(b, after);
        if b.get(at) != Some(&b':') {
            return None;
        }
        at = skip_space(b, at + 1);
        if seen & field != 0 {
            return None;
        }
        seen |= field;
        let put_string = |at, to: &mut &'a str| {
            let (s, after) = string(at)?;
            *to = s;
            Some(after)
        };
        at = match field {
            IP => put_string(at, &mut v.ip)?,
            ID => put_string(at, &mut v.id)?,
            USER_AGENT => put_string(at, &mut v.user_agent)?,
            AGE_BRACKET => put_string(at, &mut v.age_bracket)?,
            HTTP_REQUEST => put_string(at, &mut v.http_request)?,
            EVENT_DATETIME => put_string(at, &mut v.event_datetime)?,
            LAT => put_coordinate(text, at, &mut v.lat)?,
            LNG => put_coordinate(text, at, &mut v.lng)?,
            HTTP_RESPONSE => put_integer(b, at, &mut v.http_response)?,
            FILE_SIZE => put_integer(b, at, &mut v.file_size_bytes)?,
            EVENT_TS => put_integer(b, at, &mut v.event_ts)?,
            _ => {
                if b[at..].starts_with(b"true") {
                    v.opted_into_marketing = true;
                    at + 4
                } else if b[at..].starts_with(b"false") {
                    v.opted_into_marketing = false;
                    at + 5
                } else {
                    return None;
                }
            }
        };
        at = skip_space(b, at);
        match b.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => {
                at += 1;
                break;
            }
            _ => return None,
        }
    }
    (seen == ALL && skip_space(b, at) == b.len()).then_some(v)
}

/// A number (`-?(0|[1-9][0-9]*)(.[0-9]+)?`, no exponent, so it always fits an `f64`), `""` or `null`.
/// Each field's name in quotes, in the visit's order (bit `i` of a field set is field `i`).
/// Whether `b[at..]` starts with `word`. A word of 4 bytes or more (the quoted field names are 4 to 22)
/// is compared as a few overlapping 4- or 8-byte words: a slice comparison of a length not known at
/// compile time calls `memcmp`, and at these lengths the call costs more than the comparison (the
/// twelve calls of a line were 7% of `simulate`'s time).
#[inline(always)]
fn starts_with_at(b: &[u8], at: usize, word: &[u8]) -> bool {
    let n = word.len();
    let Some(s) = b.get(at..at + n) else {
        return false;
    };
    if n >= 8 {
        let load = |x: &[u8], i: usize| u64::from_le_bytes(x[i..i + 8].try_into().expect("8 bytes"));
        let mut i = 0;
        while i + 8 < n {
            if load(s, i) != load(word, i) {
                return false;
            }
            i += 8;
        }
        load(s, n - 8) == load(word, n - 8)
    } else if n >= 4 {
        let load = |x: &[u8], i: usize| u32::from_le_bytes(x[i..i + 4].try_into().expect("4 bytes"));
        load(s, 0) == load(word, 0) && load(s, n - 4) == load(word, n - 4)
    } else {
        s == word
    }
}

const QUOTED_KEYS: [&[u8]; 12] = [
    b"\"ip\"",
    b"\"id\"",
    b"\"lat\"",
    b"\"lng\"",
    b"\"user_agent\"",
    b"\"age_bracket\"",
    b"\"opted_into_marketing\"",
    b"\"http_request\"",
    b"\"http_response\"",
    b"\"file_size_bytes\"",
    b"\"event_datetime\"",
    b"\"event_ts\"",
];

/// The field named `key`, `None` for a name that is not a visit's.
fn field_of(key: &str) -> Option<u16> {
    Some(match key.as_bytes() {
        b"ip" => IP,
        b"id" => ID,
        b"lat" => LAT,
        b"lng" => LNG,
        b"user_agent" => USER_AGENT,
        b"age_bracket" => AGE_BRACKET,
        b"opted_into_marketing" => OPTED,
        b"http_request" => HTTP_REQUEST,
        b"http_response" => HTTP_RESPONSE,
        b"file_size_bytes" => FILE_SIZE,
        b"event_datetime" => EVENT_DATETIME,
        b"event_ts" => EVENT_TS,
        _ => return None,
    })
}

fn put_coordinate<'a>(text: &'a str, at: usize, to: &mut Option<&'a str>) -> Option<usize> {
    let b = text.as_bytes();
    if b[at..].starts_with(b"null") {
        *to = None;
        return Some(at + 4);
    }
    if b[at..].starts_with(b"\"\"") {
        *to = None;
        return Some(at + 2);
    }
    let mut end = at + usize::from(b.get(at) == Some(&b'-'));
    end = integer_digits(b, end)?;
    if b.get(end) == Some(&b'.') {
        let digits = b[end + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        end += 1 + digits;
    }
    // An exponent or a number so long that it could overflow: serde_json judges those.
    if matches!(b.get(end), Some(b'e' | b'E')) || end - at > 300 {
        return None;
    }
    *to = Some(&text[at..end]);
    Some(end)
}

/// A non-negative integer of at most 18 digits (so it fits an `i64`); negatives, fractions and
/// exponents go to serde_json (which refuses `-0` and fractions for an integer field).
fn put_integer(b: &[u8], at: usize, to: &mut i64) -> Option<usize> {
    let mut n = 0i64;
    let mut end = at;
    while let Some(&c @ b'0'..=b'9') = b.get(end) {
        // 18 digits always fit; a leading zero must stand alone.
        if end - at == 18 || (end > at && b[at] == b'0') {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
        end += 1;
    }
    if end == at || matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    *to = n;
    Some(end)
}

/// The end of JSON's integer part at `at`: `0`, or a non-zero digit and more digits.
fn integer_digits(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at) {
        Some(b'0') => Some(at + 1),
        Some(b'1'..=b'9') => Some(at + 1 + b[at + 1..].iter().take_while(|c| c.is_ascii_digit()).count()),
        _ => None,
    }
}

fn skip_space(b: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = b.get(at) {
        at += 1;
    }
    at
}

/// A string without escapes or control characters starting at `at` (its opening quote): its text and
/// the offset after its closing quote.
fn string(text: &str, at: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let end = special_byte(b, start)?;
    (b[end] == b'"').then(|| (&text[start..end], end + 1))
}

/// True when `b` holds no backslash and no control character, eight bytes at a time and without a branch
/// per word: a byte's high bit is marked where it is a backslash or below 0x20, and a borrow can only
/// carry a mark above a byte that is itself marked, so no mark means no such byte.
fn is_plain(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut marks = 0u64;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        marks |= (word.wrapping_sub(ONES * 0x20) & !word) | (backslash.wrapping_sub(ONES) & !backslash);
    }
    marks & (ONES << 7) == 0 && chunks.remainder().iter().all(|&c| c >= 0x20 && c != b'\\')
}

/// [`string`] in a line known to hold no escape and no control character.
fn plain_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    // Most strings are short: a word at a time over their first 32 bytes beats the call of a vectorised
    // search, which takes the long ones (user agents).
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut end = start;
    while end + 8 <= b.len() && end < start + 32 {
        let word = u64::from_le_bytes(b[end..end + 8].try_into().expect("eight bytes")) ^ (ONES * u64::from(b'"'));
        let marks = word.wrapping_sub(ONES) & !word & (ONES << 7);
        if marks != 0 {
            end += (marks.trailing_zeros() / 8) as usize;
            return Some((&text[start..end], end + 1));
        }
        end += 8;
    }
    end += memchr::memchr(b'"', &b[end..])?;
    Some((&text[start..end], end + 1))
}

/// The offset of the first `"`, `\` or control character at or after `from`, eight bytes at a time.
fn special_byte(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while at + 8 <= b.len() {
        let word = u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit ends up set where the byte is zero (or, for the control test, below
        // 0x20); borrows can only mark bytes above the first real match, so the lowest mark is exact.
        let marks = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let marks = marks & HIGHS;
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_found_where_the_slice_comparison_finds_it_and_any_differing_byte_refutes_it() {
        for n in 0..=24 {
            let word: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            for at in 0..3 {
                let mut line = vec![b' '; at];
                line.extend_from_slice(&word);
                line.extend_from_slice(b"tail");
                assert!(starts_with_at(&line, at, &word), "{n} bytes at {at}");
                for wrong in 0..n {
                    let mut other = line.clone();
                    other[at + wrong] ^= 0x20;
                    assert!(
                        !starts_with_at(&other, at, &word),
                        "{n} bytes at {at}, byte {wrong} differs"
                    );
                }
                // Cut short: the word runs past the end of the line.
                if n > 0 {
                    assert!(
                        !starts_with_at(&line[..at + n - 1], at, &word),
                        "{n} bytes at {at}, cut"
                    );
                }
            }
        }
    }

    #[test]
    fn the_special_byte_is_found_at_every_position_and_beside_high_bytes() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    for filler in [b'a', 0xff, 0x20, 0x21] {
                        let mut bytes = vec![filler; len];
                        bytes[at] = special;
                        assert_eq!(special_byte(&bytes, 0), Some(at), "{bytes:?}");
                    }
                }
            }
            assert_eq!(special_byte(&vec![b'x'; len], 0), None);
        }
    }

    #[test]
    fn a_plain_line_has_no_backslash_and_no_control_character_anywhere() {
        for len in 0..40 {
            assert!(is_plain(&vec![b'a'; len]));
            assert!(is_plain(&vec![0xff; len]));
            for at in 0..len {
                for special in [b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes = vec![0x20; len];
                    bytes[at] = special;
                    assert!(!is_plain(&bytes), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn the_common_shape_is_read_and_anything_else_left_to_serde() {
        let line = r#"{"ip":"1.2.3.4","id":"42","lat":45.5,"lng":-9,"user_agent":"ua é","age_bracket":"18-25","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":10,"event_datetime":"2024-04-28T23:12:50.484","event_ts":1714345970484}"#;
        let v = scan(line).expect("the common shape");
        assert_eq!(
            (v.id, v.lat, v.lng, v.user_agent),
            ("42", Some("45.5"), Some("-9"), "ua é")
        );
        assert_eq!((v.opted_into_marketing, v.event_ts), (true, 1_714_345_970_484));
        for (from, to) in [
            (r#""id":"42""#, r#""id":"4\u0032""#),
            (r#""id":"42""#, r#""id":42"#),
            (r#""id":"42""#, r#""id":"42","id":"43""#),
            (r#""id":"42""#, r#""id":"42","extra":1"#),
            (r#""id":"42","#, ""),
            ("45.5", "4.5e1"),
            ("45.5", "045.5"),
            ("45.5", "45."),
            (":200", ":-200"),
            (":200", ":200.0"),
            (":10,", ":1234567890123456789,"),
            ("true", "tru"),
            ("true", "truex"),
        ] {
            assert!(line.contains(from), "{from}");
            assert_eq!(scan(&line.replacen(from, to, 1)), None, "{to}");
        }
        assert_eq!(scan(&format!("{line} x")), None);
        assert!(scan(&format!(" \t{line}\r\n")).is_some());
        let spaced = line.replace("\":", "\" : ").replace(",\"", " ,\n \"");
        assert_eq!(scan(&spaced), Some(v));
    }
}
