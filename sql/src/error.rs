//! Compile errors: what in a query is wrong or unsupported, where it is, and what would work instead.
//!
//! Every [`SqlError`] carries a [`QueryLocation`]: line, column and the line of the query itself, so
//! that the message renders like a compiler's, with a caret under the offending part. Locations come
//! from the spans `sqlparser` attaches to the AST; where a node has none (keywords such as `DISTINCT`
//! or `ORDER BY`), [`QueryText`] finds the keyword in the query text.

use std::fmt;

use sqlparser::tokenizer::{Location, Span};

/// What the supported subset offers, quoted by the errors.
pub(crate) mod supported {
    pub(crate) const QUERY: &str = "one query: [WITH name AS (SELECT ...), ...] SELECT ... FROM <table, CTE or \
                                    (subquery)> [WHERE ...] GROUP BY <TUMBLE, HOP or SESSION>, <columns>";
    pub(crate) const SELECT: &str = "SELECT <expressions> FROM <one table> [WHERE <condition>] \
                                     [GROUP BY <window>, <columns>] (no DISTINCT, HAVING, ORDER BY, LIMIT, JOIN or UNION)";
    pub(crate) const EXPRESSION: &str = "columns, literals (numbers, 'text', TRUE, FALSE, NULL, TIMESTAMP '...'), \
                                         CAST, =, <>, <, <=, >, >=, AND, OR, NOT, unary -, IS [NOT] NULL, \
                                         IS [NOT] TRUE/FALSE, [NOT] BETWEEN, [NOT] IN (...), [NOT] LIKE";
    pub(crate) const FUNCTION: &str = "COUNT(*), COUNT(x), SUM(x), MIN(x), MAX(x), AVG(x) in the SELECT list; \
                                       TUMBLE(ts, size), HOP(ts, slide, size) or SESSION(ts, gap) in GROUP BY; \
                                       TUMBLE_START/TUMBLE_END/HOP_START/HOP_END/SESSION_START/SESSION_END \
                                       in the SELECT list";
    pub(crate) const CAST: &str =
        "CAST(event_datetime AS TIMESTAMP), CAST(<VARCHAR, BIGINT or TIMESTAMP> AS VARCHAR), \
                                   CAST(<BIGINT> AS DOUBLE), and casts to the value's own type";
    pub(crate) const TYPE: &str = "VARCHAR, BIGINT, DOUBLE, BOOLEAN, TIMESTAMP";
    pub(crate) const INTERVAL: &str = "INTERVAL 'n' SECOND, MINUTE, HOUR or DAY, with n a positive whole number";
    pub(crate) const GROUP_BY: &str =
        "GROUP BY exactly one TUMBLE(ts, size), HOP(ts, slide, size) or SESSION(ts, gap) \
                                       plus any columns or expressions of the input";
    pub(crate) const TABLE: &str = "FROM <the input table, a CTE name or a (subquery)> [[AS] alias]";
}

/// The query text, for turning spans into locations with the line they are on.
#[derive(Debug, Clone)]
pub(crate) struct QueryText<'q> {
    text: &'q str,
    lines: Vec<&'q str>,
}

impl<'q> QueryText<'q> {
    pub(crate) fn new(text: &'q str) -> QueryText<'q> {
        QueryText {
            text,
            lines: text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect(),
        }
    }

    /// The location of `span`; an empty span gives [`QueryLocation::unknown`].
    pub(crate) fn locate(&self, span: Span) -> QueryLocation {
        if span.start.line == 0 {
            return QueryLocation::unknown();
        }
        let Some(line) = self.lines.get(span.start.line as usize - 1) else {
            return QueryLocation::unknown();
        };
        let line_chars = line.chars().count() as u64;
        let start = span.start.column.max(1);
        let end = if span.end.line == span.start.line && span.end.column > start {
            span.end.column
        } else {
            line_chars + 1
        };
        QueryLocation {
            line: span.start.line,
            column: start,
            width: (end.saturating_sub(start)).max(1) as usize,
            source: line.replace('\t', " "),
        }
    }

    /// The location of `keyword` (a word or words separated by single spaces, matched
    /// case-insensitively with any whitespace between words), searching forward from `from`.
    pub(crate) fn find_keyword(&self, keyword: &str, from: Location) -> Option<Span> {
        let words: Vec<&str> = keyword.split(' ').collect();
        let tokens = self.words_from(from);
        let first = tokens
            .windows(words.len())
            .find(|w| w.iter().zip(&words).all(|(t, k)| t.1.eq_ignore_ascii_case(k)))?;
        let (start, _) = first[0];
        let (last_start, last_word) = first[words.len() - 1];
        let end = Location::new(last_start.line, last_start.column + last_word.chars().count() as u64);
        Some(Span::new(start, end))
    }

    /// The last occurrence of `keyword` (one word) before `before`.
    pub(crate) fn find_keyword_before(&self, keyword: &str, before: Location) -> Option<Span> {
        let (start, word) = self
            .words_from(Location::new(1, 1))
            .into_iter()
            .rfind(|(loc, w)| *loc < before && w.eq_ignore_ascii_case(keyword))?;
        let end = Location::new(start.line, start.column + word.chars().count() as u64);
        Some(Span::new(start, end))
    }

    /// The words of the query (identifier-like runs outside quotes and comments) at or after `from`.
    fn words_from(&self, from: Location) -> Vec<(Location, &'q str)> {
        let mut words = Vec::new();
        let (mut line, mut column) = (1u64, 1u64);
        let mut chars = self.text.char_indices().peekable();
        let mut word_start: Option<(usize, Location)> = None;
        let mut quote: Option<char> = None;
        let mut line_comment = false;
        let mut block_comment = false;
        let mut previous = '\0';
        while let Some((i, c)) = chars.next() {
            let here = Location::new(line, column);
            let is_word = c.is_alphanumeric() || c == '_' || c == '$';
            let in_text = quote.is_some() || line_comment || block_comment;
            if !in_text && is_word {
                if word_start.is_none() {
                    word_start = Some((i, here));
                }
            } else if let Some((start, loc)) = word_start.take() {
                if loc >= from {
                    words.push((loc, &self.text[start..i]));
                }
            }
            let next = chars.peek().map(|p| p.1);
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                _ if block_comment => block_comment = !(previous == '*' && c == '/'),
                _ if line_comment => {}
                (None, '\'' | '"' | '`') => quote = Some(c),
                (None, '-') if next == Some('-') => line_comment = true,
                (None, '/') if next == Some('*') => block_comment = true,
                _ => {}
            }
            previous = if block_comment && previous == '/' && c == '*' {
                '\0'
            } else {
                c
            };
            if c == '\n' {
                line += 1;
                column = 1;
                line_comment = false;
            } else {
                column += 1;
            }
        }
        if let Some((start, loc)) = word_start {
            if loc >= from {
                words.push((loc, &self.text[start..]));
            }
        }
        words
    }
}

/// Where in the query an error is: a 1-based line and column (in characters), how many characters
/// it covers, and the text of that line. Displays as a caret diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLocation {
    /// The 1-based line; 0 when the location is unknown.
    pub line: u64,
    /// The 1-based column, counted in characters; 0 when the location is unknown.
    pub column: u64,
    width: usize,
    source: String,
}

impl QueryLocation {
    /// No location: the error concerns the query as a whole.
    pub fn unknown() -> QueryLocation {
        QueryLocation {
            line: 0,
            column: 0,
            width: 0,
            source: String::new(),
        }
    }

    /// True when the location is known.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for QueryLocation {
    /// ```text
    ///  --> line 14, column 9
    ///    |
    /// 14 |         TUMBLE(ts, INTERVAL '20' SECOND), id
    ///    |         ^^^^^^
    /// ```
    /// preceded by a newline, or nothing for an unknown location.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_known() {
            return Ok(());
        }
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        let pad = " ".repeat(self.column as usize - 1);
        write!(
            f,
            "\n{gutter}--> line {}, column {}\n{gutter} |\n{number} | {}\n{gutter} | {pad}{}",
            self.line,
            self.column,
            self.source.trim_end(),
            "^".repeat(self.width)
        )
    }
}

/// A location followed by a note line aligned with its gutter: `   = supported: ...`.
pub(crate) struct Noted<'a> {
    at: &'a QueryLocation,
    label: &'a str,
    text: &'a str,
}

impl QueryLocation {
    /// The location, then `= label: text` under it.
    pub(crate) fn note<'a>(&'a self, label: &'a str, text: &'a str) -> Noted<'a> {
        Noted { at: self, label, text }
    }
}

impl fmt::Display for Noted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.at.is_known() {
            self.at.line.to_string().len()
        } else {
            1
        };
        write!(f, "{}\n{} = {}: {}", self.at, " ".repeat(width), self.label, self.text)
    }
}

/// Why a query does not compile. Each message says what is wrong, shows where (see
/// [`QueryLocation`]) and, for constructs outside the subset, what is supported instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The text is not SQL that `sqlparser` can read.
    #[error("syntax error: {message}{at}")]
    Syntax {
        /// The parser's message, without its location.
        message: String,
        /// Where the parser stopped.
        at: QueryLocation,
    },
    /// The text is not exactly one `SELECT` query.
    #[error("expected one SELECT query, found {found}{}", .at.note("supported", supported::QUERY))]
    NotOneQuery {
        /// What was found instead.
        found: String,
        /// The statement that is not a query, or the second statement.
        at: QueryLocation,
    },
    /// SQL outside the supported subset.
    #[error("{construct} is not supported{}", .at.note("supported", supported))]
    Unsupported {
        /// The construct, e.g. `ORDER BY` or "function `UPPER`".
        construct: String,
        /// What is supported in its place.
        supported: &'static str,
        /// Where it is.
        at: QueryLocation,
    },
    /// `FROM` names a relation that is neither the input nor a CTE.
    #[error("unknown table `{name}`{hint}{}", .at.note("tables", known))]
    UnknownTable {
        /// The name used.
        name: String,
        /// A "did you mean" note, or empty.
        hint: String,
        /// The input table and the CTEs in scope.
        known: String,
        /// Where it is.
        at: QueryLocation,
    },
    /// A column that the relation does not have.
    #[error("unknown column `{name}`{hint}{}", .at.note("columns", known))]
    UnknownColumn {
        /// The name used.
        name: String,
        /// A "did you mean" note, or empty.
        hint: String,
        /// The columns of the relation in scope.
        known: String,
        /// Where it is.
        at: QueryLocation,
    },
    /// An operator, function or cast applied to values of the wrong type.
    #[error("type error: {message}{at}")]
    Type {
        /// What does not fit.
        message: String,
        /// Where it is.
        at: QueryLocation,
    },
    /// A literal that cannot be read: an out-of-range number, a malformed timestamp.
    #[error("invalid literal: {message}{at}")]
    InvalidLiteral {
        /// What is wrong with it.
        message: String,
        /// Where it is.
        at: QueryLocation,
    },
    /// A streaming query without a window to aggregate in.
    #[error("{message}: a streaming query aggregates per window{}", .at.note("supported", supported::GROUP_BY))]
    MissingWindow {
        /// What the query does instead.
        message: String,
        /// The `GROUP BY` or the `SELECT`.
        at: QueryLocation,
    },
    /// More than one window function in `GROUP BY`.
    #[error("GROUP BY has more than one window function{}", .at.note("supported", supported::GROUP_BY))]
    MultipleWindows {
        /// The second window function.
        at: QueryLocation,
    },
    /// `TUMBLE_START` and the like must repeat the `GROUP BY` window exactly.
    #[error("`{function}` does not match the GROUP BY window `{window}`{}", .at.note("note", "window bounds must repeat the arguments of the GROUP BY window"))]
    WindowMismatch {
        /// The window property function as written.
        function: String,
        /// The window of the `GROUP BY`, as written.
        window: String,
        /// Where the property function is.
        at: QueryLocation,
    },
    /// An interval that is not a positive whole number of seconds, minutes, hours or days.
    #[error("invalid interval: {message}{}", .at.note("supported", supported::INTERVAL))]
    InvalidInterval {
        /// What is wrong with it.
        message: String,
        /// Where it is.
        at: QueryLocation,
    },
    /// An output column that is neither grouped nor aggregated.
    #[error("`{expr}` is neither in GROUP BY nor inside an aggregate function{}", .at.note("note", "add it to GROUP BY, or aggregate it, e.g. MAX(...)"))]
    NotGrouped {
        /// The expression as written.
        expr: String,
        /// Where it is.
        at: QueryLocation,
    },
    /// Two output columns with the same name: a JSON object cannot hold both.
    #[error("duplicate output column `{name}`: give one of them another alias{at}")]
    DuplicateColumn {
        /// The name.
        name: String,
        /// The second column with that name.
        at: QueryLocation,
    },
}

impl SqlError {
    /// Where in the query the error is.
    pub fn location(&self) -> &QueryLocation {
        match self {
            SqlError::Syntax { at, .. }
            | SqlError::NotOneQuery { at, .. }
            | SqlError::Unsupported { at, .. }
            | SqlError::UnknownTable { at, .. }
            | SqlError::UnknownColumn { at, .. }
            | SqlError::Type { at, .. }
            | SqlError::InvalidLiteral { at, .. }
            | SqlError::MissingWindow { at, .. }
            | SqlError::MultipleWindows { at }
            | SqlError::WindowMismatch { at, .. }
            | SqlError::InvalidInterval { at, .. }
            | SqlError::NotGrouped { at, .. }
            | SqlError::DuplicateColumn { at, .. } => at,
        }
    }

    /// A parser error, with the location that `sqlparser` appends to its message moved into the
    /// caret diagram.
    pub(crate) fn syntax(text: &QueryText<'_>, error: sqlparser::parser::ParserError) -> SqlError {
        let message = match error {
            sqlparser::parser::ParserError::TokenizerError(m) | sqlparser::parser::ParserError::ParserError(m) => m,
            sqlparser::parser::ParserError::RecursionLimitExceeded => "the query nests too deeply".to_owned(),
        };
        match split_location(&message) {
            Some((message, location)) => SqlError::Syntax {
                message: message.to_owned(),
                at: text.locate(Span::new(location, location)),
            },
            None => SqlError::Syntax {
                message,
                at: QueryLocation::unknown(),
            },
        }
    }
}

/// Splits `"... at Line: 3, Column: 7"` into the message and the location.
fn split_location(message: &str) -> Option<(&str, Location)> {
    let i = message.rfind(" at Line: ")?;
    let (line, column) = message[i + " at Line: ".len()..].split_once(", Column: ")?;
    Some((&message[..i], Location::new(line.parse().ok()?, column.parse().ok()?)))
}

/// A "did you mean" note: a known name equal to `name` but for letter case.
pub(crate) fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    known
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| format!(" (names are case-sensitive: did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_render_as_a_caret_diagram() {
        let text = QueryText::new("SELECT a\nFROM t\n    ORDER BY a");
        let span = text.find_keyword("ORDER BY", Location::new(1, 1)).unwrap();
        assert_eq!(span, Span::new(Location::new(3, 5), Location::new(3, 13)));
        assert_eq!(
            text.locate(span).to_string(),
            "\n --> line 3, column 5\n  |\n3 |     ORDER BY a\n  |     ^^^^^^^^"
        );
    }

    #[test]
    fn keywords_inside_quotes_and_comments_are_skipped() {
        let text = QueryText::new("SELECT 'order by' -- order by\nFROM /* order by */ t ORDER  BY x");
        let span = text.find_keyword("order by", Location::new(1, 1)).unwrap();
        assert_eq!(span.start, Location::new(2, 23));
        let before = text.find_keyword_before("from", Location::new(2, 23)).unwrap();
        assert_eq!(before.start, Location::new(2, 1));
    }

    #[test]
    fn parser_locations_are_split_off() {
        assert_eq!(
            split_location("Expected: an expression, found: FROM at Line: 2, Column: 5"),
            Some(("Expected: an expression, found: FROM", Location::new(2, 5)))
        );
        assert_eq!(split_location("no location"), None);
    }
}
