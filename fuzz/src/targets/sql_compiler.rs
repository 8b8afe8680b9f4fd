//! Target `sql_compiler`: arbitrary bytes as a Beam SQL query, compiled by [`sql::compile`].
//!
//! Each input is used twice: as query text (lossy UTF-8), and as the random choices of [`query`], a
//! structure-aware generator that assembles a query from the pieces of the supported grammar (CTEs,
//! subqueries, `TUMBLE`/`HOP`, aggregates, `WHERE`, `CAST`, the window bounds), so that coverage-guided
//! fuzzing gets past the parser too. Compiling never panics and a refusal says something; a query that
//! compiles runs a few visits (boundary values included, one undecodable, one late) through its
//! pipeline without panicking, conserves them, and serializes every row and message key.

use arbitrary::{Result, Unstructured};
use pipeline::time::{Timestamp, Watermark};
use pipeline::Emitted;
use sql::SqlOptions;

use super::records;

/// SQL keywords, the visit's columns and literals worth splicing into a query.
pub const DICTIONARY: &[&str] = &[
    "SELECT ",
    " FROM PCOLLECTION",
    " WHERE ",
    " GROUP BY ",
    "WITH cte AS (",
    "TUMBLE(",
    "HOP(",
    "TUMBLE_START(",
    "TUMBLE_END(",
    "HOP_START(",
    "HOP_END(",
    "CAST(event_datetime AS TIMESTAMP)",
    "INTERVAL '20' SECOND",
    "INTERVAL '1' DAY",
    " AS VARCHAR)",
    "COUNT(*)",
    "SUM(",
    "AVG(",
    "MIN(",
    "MAX(",
    " AND ",
    " OR ",
    "NOT ",
    " IS NULL",
    " BETWEEN ",
    " IN (",
    " LIKE '%",
    "TIMESTAMP '2024-04-28 23:12:40'",
    "-9223372036854775808",
    "9223372036854775807",
    "file_size_bytes",
    "http_response",
    "event_datetime",
    "lat",
    "id",
    "ts",
];

/// The visit's columns and their SQL types (see the `sql` crate docs).
const COLUMNS: &[(&str, Kind)] = &[
    ("ip", Kind::Text),
    ("id", Kind::Text),
    ("lat", Kind::Double),
    ("lng", Kind::Double),
    ("user_agent", Kind::Text),
    ("age_bracket", Kind::Text),
    ("opted_into_marketing", Kind::Boolean),
    ("http_request", Kind::Text),
    ("http_response", Kind::Bigint),
    ("file_size_bytes", Kind::Bigint),
    ("event_datetime", Kind::Text),
    ("event_ts", Kind::Bigint),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Double,
    Bigint,
    Boolean,
    Timestamp,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    check_query(&String::from_utf8_lossy(data));
    if let Some(built) = built_query(data) {
        check_query(&built);
    }
}

/// The query the grammar builds from `data`'s bytes (the second way [`run`] reads an input).
pub fn built_query(data: &[u8]) -> Option<String> {
    query(&mut Unstructured::new(data)).ok()
}

/// Queries whose elements fall into more windows each are compiled but not run (see `check_query`).
const MAX_WINDOWS_PER_ELEMENT: u64 = 256;

/// Visits that reach the edges of every column: `i64` bounds, years 0000 and 9999, empty coordinates.
fn visits() -> Vec<String> {
    let visit = |id: &str, at: &str, lat: &str, response: i64, size: i64, agent: &str| {
        format!(
            r#"{{"ip":"1.2.3.4","id":{},"lat":{lat},"lng":9.5,"user_agent":{},"age_bracket":"26-40","opted_into_marketing":{},"http_request":"GET a.html HTTP/1.0","http_response":{response},"file_size_bytes":{size},"event_datetime":"{at}","event_ts":{size}}}"#,
            serde_json::to_string(id).expect("a string serializes"),
            serde_json::to_string(agent).expect("a string serializes"),
            response % 2 == 0,
        )
    };
    vec![
        visit("a", "2024-04-28T23:12:41.000", "45.5", 200, 100, "Mozilla/5.0"),
        visit("b", "2024-04-28T23:12:59.999", "\"\"", 404, 0, ""),
        visit("a", "2024-04-28T23:13:00.000", "-90", 500, i64::MAX, "%_\\"),
        visit("c", "0000-01-01T00:00:00", "1e308", i64::MIN, i64::MIN, "caf\u{e9}"),
        visit("", "9999-12-31T23:59:59.999", "-1e308", i64::MAX, -1, "x"),
        "{not json".to_owned(),
        visit("a", "2024-04-28T23:12:30.000", "0", 200, 7, "late"),
    ]
}

fn check_query(text: &str) {
    let pipeline = match sql::compile(text, SqlOptions::default()) {
        Ok(pipeline) => pipeline,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a refusal says why");
            return;
        }
    };
    // A HOP puts each element in size/slide windows (the compiler allows up to 1,000), and the core still
    // searches a key's windows one by one, so that costs O(n²) time; such queries are compiled but not run
    // until the per-record cost no longer depends on the number of open windows.
    if windows_per_element(&pipeline) > MAX_WINDOWS_PER_ELEMENT {
        return;
    }
    let mut visits = visits();
    let late = visits.split_off(visits.len() - 1);
    let mut instance = pipeline.start();
    let mut out = Emitted::default();
    instance.process_bundle(records(visits), &mut out);
    let watermark = Timestamp::parse_datetime("2024-04-28T23:14:00").expect("a valid datetime");
    instance.advance_watermark(Watermark::at(watermark), &mut out);
    instance.process_bundle(records(late), &mut out);
    instance.advance_watermark(Watermark::MAX, &mut out);
    let stats = instance.stats();
    if let Err(lost) = stats.check_conservation() {
        panic!("{lost} for the query\n{text}");
    }
    assert_eq!(stats.read, 7, "{stats:?}");
    assert_eq!(
        instance.open_windows(),
        0,
        "a window survived the watermark reaching +inf"
    );
    for output in &out.outputs {
        let _ = output.value.to_json();
        if let Some(key) = output.value.message_key() {
            let _ = key.to_json();
        }
    }
}

/// How many windows each element of `pipeline` falls into: `size / period` (rounded up) for sliding
/// windows, read from the window function's `Debug` form (`SlidingWindows { size: 1m, period: 20s, .. }`)
/// because assigning the windows of a huge `HOP` is exactly what must be avoided; 1 otherwise.
fn windows_per_element(pipeline: &sql::SqlPipeline) -> u64 {
    let described = format!("{:?}", pipeline.strategy().window_fn);
    let field = |name: &str| -> Option<i64> {
        let start = described.find(&format!("{name}: "))? + name.len() + 2;
        let text = described[start..].split([',', ' ', '}']).next()?;
        Some(text.parse::<pipeline::time::Duration>().ok()?.as_millis())
    };
    match (field("size"), field("period")) {
        (Some(size), Some(period)) if period > 0 => (size.max(0) as u64).div_ceil(period as u64),
        _ => 1,
    }
}

/// Builds a query from the grammar's pieces; mostly inside the supported subset, sometimes just outside.
pub fn query(u: &mut Unstructured<'_>) -> Result<String> {
    let mut columns: Vec<(String, Kind)> = COLUMNS.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect();
    let mut sql = String::new();
    // Where the event time comes from: the raw column cast in place, or a `ts` column of a CTE/subquery.
    let source = match u.int_in_range(0..=3)? {
        0 | 1 => {
            let (select, projected) = inner_select(u)?;
            sql.push_str(&format!("WITH cte AS (\n  {select}\n)\n"));
            columns = projected;
            "cte".to_owned()
        }
        2 => {
            let (select, projected) = inner_select(u)?;
            columns = projected;
            format!("({select}) AS s")
        }
        _ if u.ratio(7, 8)? => (*u.choose(&["PCOLLECTION", "PCOLLECTION AS p", "PCOLLECTION p"])?).to_owned(),
        _ => (*u.choose(&["pcollection", "other", "PCOLLECTION, PCOLLECTION"])?).to_owned(),
    };
    let ts = if columns.iter().any(|(n, _)| n == "ts") && u.ratio(7, 8)? {
        "ts".to_owned()
    } else if u.ratio(5, 6)? {
        "CAST(event_datetime AS TIMESTAMP)".to_owned()
    } else {
        (*u.choose(&["event_datetime", "CAST(id AS TIMESTAMP)", "ts"])?).to_owned()
    };
    let (window, bound_args, bounds) = if u.ratio(2, 3)? {
        let size = interval(u)?;
        (
            format!("TUMBLE({ts}, {size})"),
            format!("{ts}, {size}"),
            ["TUMBLE_START", "TUMBLE_END"],
        )
    } else {
        let (slide, size) = hop_intervals(u)?;
        (
            format!("HOP({ts}, {slide}, {size})"),
            format!("{ts}, {slide}, {size}"),
            ["HOP_START", "HOP_END"],
        )
    };
    let key_count = u.int_in_range(0..=2)?;
    let mut keys = Vec::new();
    for _ in 0..key_count {
        let (name, _) = u.choose(&columns)?;
        if !keys.contains(name) {
            keys.push(name.clone());
        }
    }
    let item_count = u.int_in_range(1..=5)?;
    let mut items = Vec::new();
    for i in 0..item_count {
        let item = match u.int_in_range(0..=7)? {
            0 | 1 if !keys.is_empty() => u.choose(&keys)?.clone(),
            0..=2 => aggregate(u, &columns)?,
            3 => {
                let bound = u.choose(&bounds)?;
                if u.ratio(1, 2)? {
                    format!("CAST({bound}({bound_args}) AS VARCHAR)")
                } else {
                    format!("{bound}({bound_args})")
                }
            }
            4 => format!("{} > 1", aggregate(u, &columns)?),
            5 => literal(u)?,
            6 if !keys.is_empty() => {
                let key = u.choose(&keys)?.clone();
                let grouped: Vec<(String, Kind)> = columns.iter().filter(|(n, _)| *n == key).cloned().collect();
                expression(u, &grouped, 2)?
            }
            _ => "COUNT(*)".to_owned(),
        };
        let alias = match u.int_in_range(0..=7)? {
            0 => String::new(),
            1..=5 => format!(" AS c{i}"),
            _ => format!(
                " AS {}",
                u.choose(&["event_id", "window_start", "page_view", "n", "c0", "\"quoted\""])?
            ),
        };
        items.push(format!("{item}{alias}"));
    }
    sql.push_str(&format!("SELECT {}\nFROM {source}\n", items.join(", ")));
    if u.ratio(1, 3)? {
        sql.push_str(&format!("WHERE {}\n", condition(u, &columns, 3)?));
    }
    let mut group = vec![window];
    group.extend(keys);
    if u.ratio(1, 8)? && group.len() > 1 {
        group.swap(0, 1);
    }
    sql.push_str(&format!("GROUP BY {}", group.join(", ")));
    if u.ratio(1, 20)? {
        sql.push_str(u.choose(&[" HAVING COUNT(*) > 1", " ORDER BY 1", " LIMIT 5", ";", ";\nSELECT 1"])?);
    }
    Ok(sql)
}

/// `SELECT ... FROM PCOLLECTION [WHERE ...]` projecting an event-time column `ts` (usually) and some
/// columns, and the columns it gives its reader.
fn inner_select(u: &mut Unstructured<'_>) -> Result<(String, Vec<(String, Kind)>)> {
    if u.ratio(1, 8)? {
        let mut columns: Vec<(String, Kind)> = COLUMNS.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect();
        let mut select = "SELECT *".to_owned();
        if u.ratio(1, 2)? {
            select.push_str(", CAST(event_datetime AS TIMESTAMP) AS ts");
            columns.push(("ts".to_owned(), Kind::Timestamp));
        }
        select.push_str(" FROM PCOLLECTION");
        return Ok((select, columns));
    }
    let mut items = Vec::new();
    let mut columns = Vec::new();
    if u.ratio(7, 8)? {
        let time = if u.ratio(5, 6)? {
            "CAST(event_datetime AS TIMESTAMP)"
        } else {
            *u.choose(&[
                "CAST('2024-04-28 23:12:40' AS TIMESTAMP)",
                "TIMESTAMP '2024-04-28 23:12:40'",
                "CAST(event_datetime AS VARCHAR)",
                "MAX(CAST(event_datetime AS TIMESTAMP))",
            ])?
        };
        items.push(format!("{time} AS ts"));
        columns.push((
            "ts".to_owned(),
            if time.contains("VARCHAR") {
                Kind::Text
            } else {
                Kind::Timestamp
            },
        ));
    }
    let count = u.int_in_range(1..=4)?;
    for i in 0..count {
        let (name, kind) = u.choose(COLUMNS)?;
        if u.ratio(1, 4)? {
            let all: Vec<(String, Kind)> = COLUMNS.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect();
            items.push(format!("{} AS e{i}", expression(u, &all, 2)?));
            columns.push((format!("e{i}"), Kind::Boolean));
        } else if u.ratio(1, 4)? {
            items.push(format!("{name} AS user_{name}"));
            columns.push((format!("user_{name}"), *kind));
        } else if !columns.iter().any(|(n, _)| n == name) {
            items.push((*name).to_owned());
            columns.push(((*name).to_owned(), *kind));
        }
    }
    let mut select = format!("SELECT {} FROM PCOLLECTION", items.join(", "));
    if u.ratio(1, 3)? {
        let all: Vec<(String, Kind)> = COLUMNS.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect();
        select.push_str(&format!(" WHERE {}", condition(u, &all, 2)?));
    }
    Ok((select, columns))
}

/// An `INTERVAL`, mostly a valid one.
fn interval(u: &mut Unstructured<'_>) -> Result<String> {
    let amount = if u.ratio(7, 8)? {
        (*u.choose(&["20", "1", "5", "10", "60", "30"])?).to_owned()
    } else {
        (*u.choose(&[
            "0",
            "-1",
            "36500",
            "36501",
            "9223372036854775807",
            "1.5",
            "x",
            "",
            "  7  ",
        ])?)
        .to_owned()
    };
    interval_of(u, &amount)
}

fn interval_of(u: &mut Unstructured<'_>, amount: &str) -> Result<String> {
    let unit = if u.ratio(15, 16)? {
        u.choose(&["SECOND", "MINUTE", "HOUR", "DAY"])?
    } else {
        u.choose(&["SECONDS", "MONTH", "YEAR", "", "SECOND(3)", "DAY TO SECOND"])?
    };
    Ok(if u.ratio(4, 5)? {
        format!("INTERVAL '{amount}' {unit}")
    } else {
        format!("INTERVAL {amount} {unit}")
    })
}

/// A `HOP`'s slide and size: mostly the size a whole number of slides of the same unit.
fn hop_intervals(u: &mut Unstructured<'_>) -> Result<(String, String)> {
    if u.ratio(1, 4)? {
        return Ok((interval(u)?, interval(u)?));
    }
    let unit = *u.choose(&["SECOND", "MINUTE", "HOUR"])?;
    let slide = u.int_in_range(1..=30u32)?;
    let size = slide * u.int_in_range(1..=6u32)?;
    Ok((
        format!("INTERVAL '{slide}' {unit}"),
        format!("INTERVAL '{size}' {unit}"),
    ))
}

fn aggregate(u: &mut Unstructured<'_>, columns: &[(String, Kind)]) -> Result<String> {
    let function = u.choose(&["COUNT", "SUM", "MIN", "MAX", "AVG", "COUNT"])?;
    if u.ratio(1, 4)? {
        return Ok("COUNT(*)".to_owned());
    }
    let argument = if u.ratio(2, 3)? {
        let numeric: Vec<&(String, Kind)> = columns
            .iter()
            .filter(|(_, k)| matches!(k, Kind::Bigint | Kind::Double))
            .collect();
        match numeric.is_empty() {
            true => u.choose(columns)?.0.clone(),
            false => u.choose(&numeric)?.0.clone(),
        }
    } else {
        expression(u, columns, 2)?
    };
    Ok(format!("{function}({argument})"))
}

fn literal(u: &mut Unstructured<'_>) -> Result<String> {
    let kind = *u.choose(&[Kind::Bigint, Kind::Double, Kind::Text, Kind::Boolean, Kind::Timestamp])?;
    literal_of(u, kind)
}

/// A literal of `kind`, sometimes a boundary value or `NULL`.
fn literal_of(u: &mut Unstructured<'_>, kind: Kind) -> Result<String> {
    if u.ratio(1, 12)? {
        return Ok((*u.choose(&["NULL", "9223372036854775808", "CAST(NULL AS BIGINT)", "''"])?).to_owned());
    }
    let text = match kind {
        Kind::Bigint => *u.choose(&[
            "42",
            "0",
            "200",
            "404",
            "-1",
            "-9223372036854775808",
            "9223372036854775807",
        ])?,
        Kind::Double => *u.choose(&["1.5", "0.0", "-90.0", "1e308", "25"])?,
        Kind::Text => *u.choose(&["'a'", "'text'", "''", "'GET a.html HTTP/1.0'", "'2024-04-28 23:13:00'"])?,
        Kind::Boolean => *u.choose(&["TRUE", "FALSE"])?,
        Kind::Timestamp => *u.choose(&[
            "TIMESTAMP '2024-04-28 23:12:40'",
            "TIMESTAMP '0000-01-01 00:00:00'",
            "TIMESTAMP '9999-12-31 23:59:59'",
            "CAST('2024-04-28T23:12:50.484' AS TIMESTAMP)",
        ])?,
    };
    Ok(text.to_owned())
}

/// A column of `columns` and its kind, or a literal when there is none.
fn operand(u: &mut Unstructured<'_>, columns: &[(String, Kind)]) -> Result<(String, Kind)> {
    if columns.is_empty() || u.ratio(1, 6)? {
        let kind = *u.choose(&[Kind::Bigint, Kind::Double, Kind::Text, Kind::Boolean, Kind::Timestamp])?;
        return Ok((literal_of(u, kind)?, kind));
    }
    Ok(u.choose(columns)?.clone())
}

/// A scalar expression over `columns`, at most `depth` levels deep.
fn expression(u: &mut Unstructured<'_>, columns: &[(String, Kind)], depth: u32) -> Result<String> {
    if depth == 0 || u.ratio(2, 5)? {
        return Ok(operand(u, columns)?.0);
    }
    Ok(match u.int_in_range(0..=4)? {
        0 => {
            let (e, kind) = operand(u, columns)?;
            let to = match (kind, u.ratio(1, 5)?) {
                (_, true) => *u.choose(&[
                    "BIGINT",
                    "DOUBLE",
                    "TIMESTAMP",
                    "BOOLEAN",
                    "INTEGER",
                    "VARCHAR(10)",
                    "DATE",
                ])?,
                (Kind::Bigint, false) => *u.choose(&["DOUBLE", "VARCHAR", "BIGINT"])?,
                (Kind::Text, false) if e == "event_datetime" => "TIMESTAMP",
                _ => "VARCHAR",
            };
            format!("CAST({e} AS {to})")
        }
        1 => {
            let numeric: Vec<(String, Kind)> = columns
                .iter()
                .filter(|(_, k)| matches!(k, Kind::Bigint | Kind::Double))
                .cloned()
                .collect();
            format!("-{}", expression(u, &numeric, depth - 1)?)
        }
        2 => format!("({})", expression(u, columns, depth - 1)?),
        _ => condition(u, columns, depth - 1)?,
    })
}

/// `operand op literal`, the literal mostly of the operand's kind.
fn comparison(u: &mut Unstructured<'_>, columns: &[(String, Kind)]) -> Result<String> {
    let (left, kind) = operand(u, columns)?;
    let op = u.choose(&["=", "<>", "<", "<=", ">", ">=", "!="])?;
    let right = if u.ratio(5, 6)? {
        literal_of(u, kind)?
    } else {
        literal(u)?
    };
    Ok(format!("{left} {op} {right}"))
}

/// A boolean expression over `columns`, at most `depth` levels deep.
fn condition(u: &mut Unstructured<'_>, columns: &[(String, Kind)], depth: u32) -> Result<String> {
    if depth == 0 {
        return comparison(u, columns);
    }
    Ok(match u.int_in_range(0..=9)? {
        0 | 1 => comparison(u, columns)?,
        2 => format!(
            "{} AND {}",
            condition(u, columns, depth - 1)?,
            condition(u, columns, depth - 1)?
        ),
        3 => format!(
            "({} OR {})",
            condition(u, columns, depth - 1)?,
            condition(u, columns, depth - 1)?
        ),
        4 => format!("NOT {}", condition(u, columns, depth - 1)?),
        5 => {
            let test = u.choose(&[
                "IS NULL",
                "IS NOT NULL",
                "IS TRUE",
                "IS NOT TRUE",
                "IS FALSE",
                "IS NOT FALSE",
            ])?;
            let (e, kind) = operand(u, columns)?;
            let e = if test.contains("TRUE") || test.contains("FALSE") && kind != Kind::Boolean && u.ratio(3, 4)? {
                comparison(u, columns)?
            } else {
                e
            };
            format!("{e} {test}")
        }
        6 => {
            let not = if u.ratio(1, 3)? { "NOT " } else { "" };
            let (e, kind) = operand(u, columns)?;
            format!("{e} {not}BETWEEN {} AND {}", literal_of(u, kind)?, literal_of(u, kind)?)
        }
        7 => {
            let not = if u.ratio(1, 3)? { "NOT " } else { "" };
            let (e, kind) = operand(u, columns)?;
            let n = u.int_in_range(1..=3)?;
            let list = (0..n).map(|_| literal_of(u, kind)).collect::<Result<Vec<_>>>()?;
            format!("{e} {not}IN ({})", list.join(", "))
        }
        8 => {
            let not = if u.ratio(1, 3)? { "NOT " } else { "" };
            let text: Vec<(String, Kind)> = columns.iter().filter(|(_, k)| *k == Kind::Text).cloned().collect();
            let pattern = u.choose(&["'GET %'", "'%.html%'", "'a_c'", "'%'", "''", "'\\%'", "'%%%_%'"])?;
            format!("{} {not}LIKE {pattern}", operand(u, &text)?.0)
        }
        _ => {
            let booleans: Vec<(String, Kind)> = columns.iter().filter(|(_, k)| *k == Kind::Boolean).cloned().collect();
            match booleans.is_empty() {
                true => comparison(u, columns)?,
                false => u.choose(&booleans)?.0.clone(),
            }
        }
    })
}

/// A query from the grammar, as text.
pub fn generate(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(query(u)?.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows_of(query: &str) -> u64 {
        windows_per_element(&sql::compile(query, SqlOptions::default()).unwrap())
    }

    #[test]
    fn windows_per_element_reads_the_hop_without_assigning_its_windows() {
        let time = "CAST(event_datetime AS TIMESTAMP)";
        assert_eq!(
            windows_of(&format!(
                "SELECT COUNT(*) FROM PCOLLECTION GROUP BY TUMBLE({time}, INTERVAL '20' SECOND)"
            )),
            1
        );
        let hop = |slide: &str, size: &str| {
            windows_of(&format!(
                "SELECT COUNT(*) FROM PCOLLECTION GROUP BY HOP({time}, INTERVAL {slide}, INTERVAL {size})"
            ))
        };
        assert_eq!(hop("'10' SECOND", "'20' SECOND"), 2);
        assert_eq!(hop("'7' SECOND", "'20' SECOND"), 3);
        assert_eq!(hop("'1' SECOND", "'1000' SECOND"), 1_000);
        // The compiler itself refuses a hop this wide, so the fuzz target never
        // needs to skip it.
        let too_wide =
            format!("SELECT COUNT(*) FROM PCOLLECTION GROUP BY HOP({time}, INTERVAL '1' SECOND, INTERVAL '36500' DAY)");
        assert!(sql::compile(&too_wide, SqlOptions::default()).is_err());
    }
}
