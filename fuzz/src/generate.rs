//! Structure-aware input pieces shared by the targets: visit records, datetimes, durations, JSON strings
//! and numbers, built from random bytes with `arbitrary`'s [`Unstructured`].
//!
//! Each generator mostly writes a well-formed value with a realistic or boundary content (year 0000
//! and 9999, leap days, the last millisecond of a window, `i64::MAX`) and sometimes a near miss (month
//! 13, a fraction of ten digits, a wrong JSON type), so that a random input gets past the first parser
//! and reaches the code behind it. When the bytes run out every choice falls back to its first option,
//! which is always a valid one.

use arbitrary::{Result, Unstructured};

/// The visit record's field names, in the seed's order.
pub const VISIT_FIELDS: [&str; 12] = [
    "ip",
    "id",
    "lat",
    "lng",
    "user_agent",
    "age_bracket",
    "opted_into_marketing",
    "http_request",
    "http_response",
    "file_size_bytes",
    "event_datetime",
    "event_ts",
];

/// Integers at the edges of `i64` and of the ranges the code cares about, as JSON text.
pub const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "200",
    "404",
    "20000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "1e308",
    "1e400",
    "-0",
    "0.5",
    "1.5e3",
    "2147483647",
    "-2147483649",
];

/// An `event_datetime` text: mostly `YYYY-MM-DDTHH:MM:SS[.fff]` with valid or boundary fields, sometimes
/// one field out of range, another separator, a zone or stray characters.
pub fn datetime(u: &mut Unstructured<'_>) -> Result<String> {
    let year: u32 = match u.int_in_range(0..=9)? {
        0..=3 => 2024,
        4 => 0,
        5 => 9999,
        6 => *u.choose(&[1969, 1970, 1600, 2000, 2100, 1900])?,
        _ => u.int_in_range(0..=9999)?,
    };
    let month: u32 = if u.ratio(1, 60)? {
        *u.choose(&[0, 13, 99])?
    } else {
        u.int_in_range(1..=12)?
    };
    let day: u32 = if u.ratio(1, 20)? {
        *u.choose(&[0, 28, 29, 30, 31, 32])?
    } else {
        u.int_in_range(1..=28)?
    };
    let (hour, minute, second): (u32, u32, u32) = if u.ratio(1, 12)? {
        *u.choose(&[
            (23, 59, 59),
            (0, 0, 0),
            (24, 0, 0),
            (23, 60, 0),
            (23, 59, 60),
            (12, 0, 20),
            (23, 12, 59),
        ])?
    } else {
        (
            u.int_in_range(0..=23)?,
            u.int_in_range(0..=59)?,
            u.int_in_range(0..=59)?,
        )
    };
    let separator = if u.ratio(1, 16)? {
        *u.choose(&[" ", "t", "_", ""])?
    } else {
        "T"
    };
    let fraction = match u.int_in_range(0..=15)? {
        0..=5 => String::new(),
        6..=12 => format!(".{:03}", u.int_in_range(0..=999u32)?),
        13 | 14 => {
            let digits = u.int_in_range(1..=10usize)?;
            let mut f = String::from(".");
            for _ in 0..digits {
                f.push(char::from(b'0' + u.int_in_range(0..=9u8)?));
            }
            f
        }
        _ => (*u.choose(&[".", ".999", ".9999999999", ",5", ".5x"])?).to_owned(),
    };
    let suffix = if u.ratio(1, 16)? {
        *u.choose(&["Z", "+02:00", "z", " ", "ZZ", "-00:00", "\u{e9}"])?
    } else {
        ""
    };
    Ok(format!(
        "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{suffix}"
    ))
}

/// A duration on the command-line form (`500ms`, `20s`, `1m`, `2h`), or a near miss.
pub fn duration(u: &mut Unstructured<'_>) -> Result<String> {
    let number = match u.int_in_range(0..=5)? {
        0..=2 => u.int_in_range(0..=3600u64)?.to_string(),
        3 => (*u.choose(&[
            "0",
            "9223372036854775807",
            "9223372036854775",
            "153722867280912",
            "00",
            "",
        ])?)
        .to_owned(),
        4 => u.arbitrary::<u64>()?.to_string(),
        _ => (*u.choose(&["-1", "+1", "1.5", " 1", "1_000", "\u{0663}"])?).to_owned(),
    };
    let unit = if u.ratio(1, 8)? {
        *u.choose(&["", "d", "S", " s", "sec", "mss", "\u{b5}s"])?
    } else {
        *u.choose(&["s", "ms", "m", "h"])?
    };
    let padding = if u.ratio(1, 10)? {
        *u.choose(&[" ", "\t", "\n", "\u{a0}"])?
    } else {
        ""
    };
    Ok(format!("{padding}{number}{unit}{padding}"))
}

/// A JSON string literal (with its quotes): ordinary text, escapes, non-ASCII, a lone surrogate.
pub fn json_string(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=39)? {
        0..=33 => {
            let word = *u.choose(&[
                "2142139324490406578",
                "alice",
                "151.21.93.137",
                "Mozilla/5.0",
                "26-40",
                "GET amoebozoa.html HTTP/1.0",
                "7",
            ])?;
            serde_json::to_string(word).expect("a string serializes")
        }
        34 => "\"\"".to_owned(),
        35 => serde_json::to_string(&u.arbitrary::<String>()?).expect("a string serializes"),
        36 => "\"caf\u{e9} \u{1f600}\"".to_owned(),
        37 => (*u.choose(&[r#""\u00e9\n\t\"""#, r#""a\u0000b""#, r#""\ud83d\ude00""#, r#""\/""#])?).to_owned(),
        38 => (*u.choose(&[r#""\ud800""#, r#""\uDFFF\ud83d\ude00""#, r#""\ud83d\ude00""#])?).to_owned(),
        _ => (*u.choose(&[r#""\x""#, "\"unterminated", "\"tab\there\""])?).to_owned(),
    })
}

/// A JSON number, mostly in range for `i64`.
pub fn json_number(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(if u.ratio(15, 16)? {
        u.int_in_range(0..=100_000i64)?.to_string()
    } else {
        (*u.choose(INTERESTING_NUMBERS)?).to_owned()
    })
}

/// One visit record as JSON text. Usually every field is present with the right type; sometimes a field
/// is missing, repeated, of the wrong type, or an unknown one is added, and the order may change.
pub fn visit_json(u: &mut Unstructured<'_>) -> Result<String> {
    let datetime = datetime(u)?;
    visit_json_at(u, &datetime)
}

/// A visit record whose `event_datetime` is `datetime` (which is written as a JSON string as is).
pub fn visit_json_at(u: &mut Unstructured<'_>, datetime: &str) -> Result<String> {
    let mut fields: Vec<(String, String)> = Vec::with_capacity(14);
    for name in VISIT_FIELDS {
        if u.ratio(1, 150)? {
            continue; // missing field
        }
        let wrong_type = u.ratio(1, 100)?;
        let value = match (name, wrong_type) {
            (_, true) => (*u.choose(&["null", "true", "[]", "{}", "\"1\"", "1", "-1.5"])?).to_owned(),
            ("id", _) => {
                if u.ratio(3, 4)? {
                    format!("\"{}\"", u.int_in_range(0..=5u32)?)
                } else {
                    json_string(u)?
                }
            }
            ("lat" | "lng", _) => match u.int_in_range(0..=5)? {
                0..=2 => format!("{}", f64::from(u.int_in_range(-9000..=9000i32)?) / 100.0),
                3 => "\"\"".to_owned(),
                4 => "null".to_owned(),
                _ => json_number(u)?,
            },
            ("opted_into_marketing", _) => (if u.arbitrary::<bool>()? { "true" } else { "false" }).to_owned(),
            ("http_response" | "file_size_bytes" | "event_ts", _) => json_number(u)?,
            ("event_datetime", _) => serde_json::to_string(datetime).expect("a string serializes"),
            _ => json_string(u)?,
        };
        fields.push((name.to_owned(), value));
    }
    if u.ratio(1, 10)? {
        let extra = (*u.choose(&["extra", "id", "lat", "", "\u{e9}", "event_datetime"])?).to_owned();
        let value = (*u.choose(&["[1,2,{\"x\":null}]", "\"x\"", "null", "{\"a\":[]}"])?).to_owned();
        let at = u.int_in_range(0..=fields.len())?;
        fields.insert(at, (extra, value));
    }
    if u.ratio(1, 8)? && fields.len() > 1 {
        let a = u.int_in_range(0..=fields.len() - 1)?;
        let b = u.int_in_range(0..=fields.len() - 1)?;
        fields.swap(a, b);
    }
    let spaced = u.ratio(1, 4)?;
    let (colon, comma) = if spaced { (": ", ", ") } else { (":", ",") };
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}{colon}{v}", serde_json::to_string(k).expect("a string serializes")))
        .collect();
    Ok(format!("{{{}}}", body.join(comma)))
}

/// Random bytes of a random length up to `max`, for raw inputs mixed into structured ones.
pub fn raw_bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=max)?;
    Ok(u.bytes(len.min(u.len()))?.to_vec())
}
