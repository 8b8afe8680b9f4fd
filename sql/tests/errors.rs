//! Queries outside the subset: each is refused with a message that points at the offending part and
//! says what is supported. The messages are snapshots (`tests/snapshots/errors__*.snap`), reviewed
//! as a reader of the error would see them; the query is in each snapshot's description.

use proptest::prelude::*;
use sql::{SqlError, SqlOptions, TRAFFIC_AGG_QUERY};

fn error(query: &str) -> SqlError {
    match sql::compile(query, SqlOptions::default()) {
        Ok(_) => panic!("compiled, but should not have:\n{query}"),
        Err(e) => e,
    }
}

/// The seed's query with `from` replaced by `to` (which must occur once).
fn seed_with(from: &str, to: &str) -> String {
    assert_eq!(TRAFFIC_AGG_QUERY.matches(from).count(), 1, "{from}");
    TRAFFIC_AGG_QUERY.replace(from, to)
}

macro_rules! refused {
    ($name:ident, $query:expr) => {
        #[test]
        fn $name() {
            let query: String = $query.into();
            let err = error(&query);
            insta::with_settings!({ description => query.as_str(), omit_expression => true }, {
                insta::assert_snapshot!(err.to_string());
            });
        }
    };
}

refused!(
    a_query_without_a_window,
    "SELECT id, COUNT(*) AS n\nFROM PCOLLECTION\nGROUP BY id"
);
refused!(
    a_query_without_group_by,
    "SELECT id, CAST(event_datetime AS TIMESTAMP) AS ts FROM PCOLLECTION"
);
refused!(aggregates_without_group_by, "SELECT COUNT(*) FROM PCOLLECTION");
refused!(order_by, format!("{TRAFFIC_AGG_QUERY}    ORDER BY page_view DESC\n"));
refused!(limit, format!("{TRAFFIC_AGG_QUERY}    LIMIT 10\n"));
refused!(having, format!("{TRAFFIC_AGG_QUERY}    HAVING COUNT(*) > 3\n"));
refused!(
    a_join,
    seed_with("FROM cte\n", "FROM cte JOIN cte AS other ON cte.id = other.id\n")
);
refused!(
    union,
    "SELECT id FROM PCOLLECTION\nUNION ALL\nSELECT id FROM PCOLLECTION"
);
refused!(
    select_distinct,
    seed_with("    SELECT\n        id AS", "    SELECT DISTINCT\n        id AS")
);
refused!(
    count_distinct,
    seed_with("COUNT(*) AS page_view", "COUNT(DISTINCT ts) AS page_view")
);
refused!(
    a_session_end_that_does_not_match_the_group_by,
    seed_with(
        "TUMBLE(ts, INTERVAL '20' SECOND), id",
        "SESSION(ts, INTERVAL '20' SECOND), id"
    )
    .replace(
        "TUMBLE_START(ts, INTERVAL '20' SECOND)",
        "SESSION_START(ts, INTERVAL '30' SECOND)"
    )
);
refused!(
    two_windows,
    seed_with(
        "), id\n",
        "), HOP(ts, INTERVAL '10' SECOND, INTERVAL '20' SECOND), id\n"
    )
);
refused!(
    a_window_start_that_does_not_match_the_group_by,
    seed_with(
        "TUMBLE_START(ts, INTERVAL '20' SECOND)",
        "TUMBLE_START(ts, INTERVAL '10' SECOND)"
    )
);
refused!(
    hop_with_the_slide_longer_than_the_size,
    "SELECT COUNT(*) FROM PCOLLECTION\n\
     GROUP BY HOP(CAST(event_datetime AS TIMESTAMP), INTERVAL '1' MINUTE, INTERVAL '20' SECOND)"
);
refused!(
    a_hop_that_puts_every_event_in_too_many_windows,
    "SELECT COUNT(*) FROM PCOLLECTION\n\
     GROUP BY HOP(CAST(event_datetime AS TIMESTAMP), INTERVAL '1' SECOND, INTERVAL '36500' DAY)"
);
refused!(
    an_interval_in_months,
    seed_with(
        "TUMBLE(ts, INTERVAL '20' SECOND), id",
        "TUMBLE(ts, INTERVAL '1' MONTH), id"
    )
);
refused!(
    an_interval_of_zero,
    seed_with(
        "TUMBLE(ts, INTERVAL '20' SECOND), id",
        "TUMBLE(ts, INTERVAL '0' SECOND), id"
    )
);
refused!(
    a_window_over_a_text_column,
    "SELECT COUNT(*) FROM PCOLLECTION\nGROUP BY TUMBLE(event_datetime, INTERVAL '20' SECOND)"
);
refused!(
    an_ungrouped_column,
    seed_with("COUNT(*) AS page_view", "COUNT(*) AS page_view,\n        ts")
);
refused!(
    an_unknown_column_differing_in_case,
    seed_with("id AS event_id", "ID AS event_id")
);
refused!(an_unknown_table, seed_with("FROM PCOLLECTION", "FROM website_visit"));
refused!(sum_of_text, seed_with("COUNT(*) AS page_view", "SUM(id) AS page_view"));
refused!(
    arithmetic,
    seed_with("COUNT(*) AS page_view", "COUNT(*) + 1 AS page_view")
);
refused!(
    a_case_expression,
    seed_with("id AS event_id", "CASE WHEN id = '1' THEN 'one' END AS event_id")
);
refused!(
    an_unknown_function,
    seed_with("id AS event_id", "UPPER(id) AS event_id")
);
refused!(
    a_cast_to_date,
    seed_with("CAST(event_datetime AS TIMESTAMP)", "CAST(event_datetime AS DATE)")
);
refused!(
    a_cast_of_another_text_column_to_timestamp,
    seed_with("CAST(event_datetime AS TIMESTAMP)", "CAST(ip AS TIMESTAMP)")
);
refused!(
    varchar_with_a_length,
    seed_with(
        "CAST(TUMBLE_END(ts, INTERVAL '20' SECOND) AS VARCHAR)",
        "CAST(TUMBLE_END(ts, INTERVAL '20' SECOND) AS VARCHAR(10))"
    )
);
refused!(
    a_window_function_with_over,
    seed_with("COUNT(*) AS page_view", "COUNT(*) OVER (PARTITION BY id) AS page_view")
);
refused!(
    an_aggregate_in_where,
    seed_with("FROM cte\n", "FROM cte\n    WHERE COUNT(*) > 1\n")
);
refused!(
    group_by_inside_a_cte,
    seed_with(
        "FROM PCOLLECTION\n",
        "FROM PCOLLECTION\n        GROUP BY id, event_datetime\n"
    )
);
refused!(
    star_in_an_aggregating_select,
    "SELECT *, COUNT(*) FROM PCOLLECTION\nGROUP BY TUMBLE(CAST(event_datetime AS TIMESTAMP), INTERVAL '20' SECOND)"
);
refused!(duplicate_output_columns, seed_with("AS window_end", "AS window_start"));
refused!(with_recursive, seed_with("WITH cte", "WITH RECURSIVE cte"));
refused!(two_statements, format!("{TRAFFIC_AGG_QUERY};\nSELECT 1"));
refused!(an_insert, "INSERT INTO traffic_agg SELECT * FROM PCOLLECTION");
refused!(a_syntax_error, seed_with("COUNT(*) AS page_view", "COUNT(*) AS"));
refused!(an_empty_query, "  ");
refused!(
    where_that_is_not_a_condition,
    seed_with("FROM cte\n", "FROM cte\n    WHERE id\n")
);
refused!(
    comparing_text_with_a_number,
    seed_with("FROM cte\n", "FROM cte\n    WHERE id = 42\n")
);
refused!(
    tumble_with_an_alignment,
    seed_with(
        "TUMBLE(ts, INTERVAL '20' SECOND), id",
        "TUMBLE(ts, INTERVAL '20' SECOND, TIME '00:00:05'), id"
    )
);

#[test]
fn errors_know_their_line_and_column() {
    let err = error(&seed_with("id AS event_id", "ID AS event_id"));
    assert!(matches!(err, SqlError::UnknownColumn { ref name, .. } if name == "ID"));
    assert_eq!((err.location().line, err.location().column), (8, 9));
    let err = error(&format!("{TRAFFIC_AGG_QUERY}    ORDER BY page_view DESC\n"));
    assert_eq!((err.location().line, err.location().column), (15, 5));
    assert!(!error("").location().is_known());
}

/// Tokens to build random queries from: mostly the seed query's, plus some the subset refuses.
const TOKENS: &[&str] = &[
    "WITH",
    "cte",
    "AS",
    "(",
    ")",
    "SELECT",
    "id",
    ",",
    "CAST",
    "event_datetime",
    "TIMESTAMP",
    "ts",
    "FROM",
    "PCOLLECTION",
    "TUMBLE_START",
    "TUMBLE_END",
    "TUMBLE",
    "HOP",
    "HOP_START",
    "INTERVAL",
    "'20'",
    "'5'",
    "SECOND",
    "VARCHAR",
    "COUNT",
    "(*)",
    "GROUP",
    "BY",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "=",
    "<",
    "-",
    "+",
    "NULL",
    "1",
    "2.5",
    "'x'",
    "IS",
    "IN",
    "LIKE",
    "BETWEEN",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "ORDER",
    "LIMIT",
    "*",
    ";",
    "DISTINCT",
    "file_size_bytes",
    "lat",
    "HAVING",
    "UNION",
    "JOIN",
    "ON",
    "OVER",
    "--",
    "\n",
    "'",
    "\"",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_token_soups_never_panic(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        let query = tokens.join(" ");
        if let Err(e) = sql::compile(&query, SqlOptions::default()) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn edited_seed_queries_never_panic(cut in 0usize..400, len in 0usize..12, insert in prop::sample::select(TOKENS)) {
        let chars: Vec<char> = TRAFFIC_AGG_QUERY.chars().collect();
        let start = cut.min(chars.len());
        let end = (start + len).min(chars.len());
        let query: String = chars[..start].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(&chars[end..]).collect();
        match sql::compile(&query, SqlOptions::default()) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
