//! Compiled scalar expressions and how they evaluate.
//!
//! An [`Expr`] is a type-checked expression tree whose leaves are whatever the context reads from:
//! event columns ([`crate::schema::Field`]) for `WHERE`, grouping keys and aggregate arguments, or the
//! grouping key, window bounds and aggregate results for the output columns. The compiler in
//! [`crate::plan`] builds them and has already checked every type; evaluation here is total (it never
//! fails) and follows SQL's three-valued logic, where `NULL` means unknown.

use std::cmp::Ordering;

use pipeline::time::Timestamp;

use crate::value::SqlValue;

/// A conversion `CAST(x AS type)` performs, among those the compiler accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// `VARCHAR`, `BIGINT` or `TIMESTAMP` to `VARCHAR`; a `TIMESTAMP` becomes `2024-04-28 23:12:40`.
    ToVarchar,
    /// `VARCHAR` to `TIMESTAMP`: the `event_datetime` form, read as UTC, to the millisecond.
    ParseTimestamp,
    /// `BIGINT` to `DOUBLE`.
    BigintToDouble,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Comparison {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Comparison::Eq => ord == Ordering::Equal,
            Comparison::NotEq => ord != Ordering::Equal,
            Comparison::Lt => ord == Ordering::Less,
            Comparison::LtEq => ord != Ordering::Greater,
            Comparison::Gt => ord == Ordering::Greater,
            Comparison::GtEq => ord != Ordering::Less,
        }
    }
}

/// A type-checked scalar expression over leaves of type `L`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr<L> {
    Leaf(L),
    Literal(SqlValue),
    Cast(Box<Expr<L>>, Conversion),
    Negate(Box<Expr<L>>),
    Not(Box<Expr<L>>),
    And(Box<Expr<L>>, Box<Expr<L>>),
    Or(Box<Expr<L>>, Box<Expr<L>>),
    Compare(Comparison, Box<Expr<L>>, Box<Expr<L>>),
    /// `x IS NULL`, or `x IS NOT NULL` when negated.
    IsNull(Box<Expr<L>>, bool),
    /// `x IS TRUE` / `x IS FALSE`, or `IS NOT ...` when negated: never `NULL` itself.
    IsBoolean(Box<Expr<L>>, bool, bool),
    Between {
        expr: Box<Expr<L>>,
        low: Box<Expr<L>>,
        high: Box<Expr<L>>,
        negated: bool,
    },
    InList {
        expr: Box<Expr<L>>,
        list: Vec<Expr<L>>,
        negated: bool,
    },
    Like {
        expr: Box<Expr<L>>,
        pattern: LikePattern,
        negated: bool,
    },
}

impl<L> Expr<L> {
    /// Evaluates the expression, reading leaves with `leaf`.
    pub(crate) fn eval<F: Fn(&L) -> SqlValue>(&self, leaf: &F) -> SqlValue {
        match self {
            Expr::Leaf(l) => leaf(l),
            Expr::Literal(v) => v.clone(),
            Expr::Cast(e, conversion) => convert(e.eval(leaf), *conversion),
            Expr::Negate(e) => match e.eval(leaf) {
                // Java's long negation wraps, and so does Beam's.
                SqlValue::Bigint(n) => SqlValue::Bigint(n.wrapping_neg()),
                SqlValue::Double(x) => SqlValue::Double(-x),
                _ => SqlValue::Null,
            },
            Expr::Not(e) => match e.eval(leaf) {
                SqlValue::Boolean(b) => SqlValue::Boolean(!b),
                _ => SqlValue::Null,
            },
            Expr::And(a, b) => match (truth(&a.eval(leaf)), truth(&b.eval(leaf))) {
                (Some(false), _) | (_, Some(false)) => SqlValue::Boolean(false),
                (Some(true), Some(true)) => SqlValue::Boolean(true),
                _ => SqlValue::Null,
            },
            Expr::Or(a, b) => match (truth(&a.eval(leaf)), truth(&b.eval(leaf))) {
                (Some(true), _) | (_, Some(true)) => SqlValue::Boolean(true),
                (Some(false), Some(false)) => SqlValue::Boolean(false),
                _ => SqlValue::Null,
            },
            Expr::Compare(op, a, b) => match a.eval(leaf).sql_cmp(&b.eval(leaf)) {
                Some(ord) => SqlValue::Boolean(op.holds(ord)),
                None => SqlValue::Null,
            },
            Expr::IsNull(e, negated) => SqlValue::Boolean(e.eval(leaf).is_null() != *negated),
            Expr::IsBoolean(e, value, negated) => SqlValue::Boolean((truth(&e.eval(leaf)) == Some(*value)) != *negated),
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval(leaf);
                let above = v.sql_cmp(&low.eval(leaf)).map(|o| o != Ordering::Less);
                let below = v.sql_cmp(&high.eval(leaf)).map(|o| o != Ordering::Greater);
                let within = match (above, below) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                negate_unknown(within, *negated)
            }
            Expr::InList { expr, list, negated } => {
                let v = expr.eval(leaf);
                let mut unknown = false;
                let mut found = false;
                for item in list {
                    match v.sql_cmp(&item.eval(leaf)) {
                        Some(Ordering::Equal) => {
                            found = true;
                            break;
                        }
                        Some(_) => {}
                        None => unknown = true,
                    }
                }
                let result = if found {
                    Some(true)
                } else if unknown {
                    None
                } else {
                    Some(false)
                };
                negate_unknown(result, *negated)
            }
            Expr::Like { expr, pattern, negated } => match expr.eval(leaf) {
                SqlValue::Varchar(s) => SqlValue::Boolean(pattern.matches(&s) != *negated),
                _ => SqlValue::Null,
            },
        }
    }

    /// The leaf, when the expression is just one.
    pub(crate) fn as_leaf(&self) -> Option<&L> {
        match self {
            Expr::Leaf(l) => Some(l),
            _ => None,
        }
    }

    /// True when no leaf occurs: the value is the same for every event.
    pub(crate) fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit_leaves(&mut |_| constant = false);
        constant
    }

    /// Calls `f` on every leaf.
    pub(crate) fn visit_leaves(&self, f: &mut dyn FnMut(&L)) {
        match self {
            Expr::Leaf(l) => f(l),
            Expr::Literal(_) => {}
            Expr::Cast(e, _) | Expr::Negate(e) | Expr::Not(e) | Expr::IsNull(e, _) | Expr::IsBoolean(e, _, _) => {
                e.visit_leaves(f)
            }
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) => {
                a.visit_leaves(f);
                b.visit_leaves(f);
            }
            Expr::Between { expr, low, high, .. } => {
                expr.visit_leaves(f);
                low.visit_leaves(f);
                high.visit_leaves(f);
            }
            Expr::InList { expr, list, .. } => {
                expr.visit_leaves(f);
                list.iter().for_each(|e| e.visit_leaves(f));
            }
            Expr::Like { expr, .. } => expr.visit_leaves(f),
        }
    }
}

/// `Some(b)` for a boolean, `None` for unknown.
fn truth(v: &SqlValue) -> Option<bool> {
    match v {
        SqlValue::Boolean(b) => Some(*b),
        _ => None,
    }
}

fn negate_unknown(v: Option<bool>, negated: bool) -> SqlValue {
    match v {
        Some(b) => SqlValue::Boolean(b != negated),
        None => SqlValue::Null,
    }
}

/// Applies a conversion the compiler has checked; `NULL` converts to `NULL`.
pub(crate) fn convert(v: SqlValue, conversion: Conversion) -> SqlValue {
    match (conversion, v) {
        (_, SqlValue::Null) => SqlValue::Null,
        (Conversion::ToVarchar, SqlValue::Varchar(s)) => SqlValue::Varchar(s),
        (Conversion::ToVarchar, SqlValue::Bigint(n)) => SqlValue::Varchar(n.to_string()),
        (Conversion::ToVarchar, SqlValue::Timestamp(t)) => SqlValue::Varchar(t.format_sql()),
        (Conversion::ParseTimestamp, SqlValue::Varchar(s)) => match Timestamp::parse_datetime(&s) {
            Ok(t) => SqlValue::Timestamp(t),
            // Unreachable for `event_datetime` (the record parser checked it) and for literals (the
            // compiler parsed them); NULL rather than a panic if that ever changes.
            Err(_) => SqlValue::Null,
        },
        (Conversion::BigintToDouble, SqlValue::Bigint(n)) => SqlValue::Double(n as f64),
        (_, other) => {
            debug_assert!(false, "unchecked conversion {conversion:?} of {other:?}");
            SqlValue::Null
        }
    }
}

/// A `LIKE` pattern: `%` matches any run of characters, `_` exactly one, everything else itself
/// (case-sensitive, as in Calcite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LikePattern(Vec<LikeToken>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LikeToken {
    AnyRun,
    AnyOne,
    Char(char),
}

impl LikePattern {
    pub(crate) fn new(pattern: &str) -> LikePattern {
        LikePattern(
            pattern
                .chars()
                .map(|c| match c {
                    '%' => LikeToken::AnyRun,
                    '_' => LikeToken::AnyOne,
                    c => LikeToken::Char(c),
                })
                .collect(),
        )
    }

    /// Greedy matching with backtracking to the last `%`: linear in practice, never exponential.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pattern = &self.0;
        let (mut t, mut p) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(LikeToken::AnyRun) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(LikeToken::AnyOne) => {
                    p += 1;
                    t += 1;
                }
                Some(LikeToken::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, from)) => {
                        p = star + 1;
                        t = from + 1;
                        backtrack = Some((star, from + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|tok| *tok == LikeToken::AnyRun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: SqlValue) -> Box<Expr<()>> {
        Box::new(Expr::Literal(v))
    }

    fn eval(e: Expr<()>) -> SqlValue {
        e.eval(&|_| SqlValue::Null)
    }

    #[test]
    fn like_patterns() {
        let cases = [
            ("GET %", "GET a.html HTTP/1.0", true),
            ("GET %", "POST a.html", false),
            ("%.html%", "GET a.html HTTP/1.0", true),
            ("_", "x", true),
            ("_", "", false),
            ("%", "", true),
            ("a%b%c", "aXbYbZc", true),
            ("a%b%c", "aXbYbZ", false),
            ("get %", "GET a", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                LikePattern::new(pattern).matches(text),
                expected,
                "{text} LIKE {pattern}"
            );
        }
    }

    #[test]
    fn three_valued_logic() {
        use SqlValue::{Boolean as B, Null};
        let and = |a, b| eval(Expr::And(lit(a), lit(b)));
        let or = |a, b| eval(Expr::Or(lit(a), lit(b)));
        assert_eq!(and(B(false), Null), B(false));
        assert_eq!(and(B(true), Null), Null);
        assert_eq!(or(B(true), Null), B(true));
        assert_eq!(or(B(false), Null), Null);
        assert_eq!(eval(Expr::Not(lit(Null))), Null);
        assert_eq!(eval(Expr::IsNull(lit(Null), false)), B(true));
        assert_eq!(eval(Expr::IsBoolean(lit(Null), true, true)), B(true));
        let in_list = Expr::InList {
            expr: lit(SqlValue::Bigint(3)),
            list: vec![Expr::Literal(SqlValue::Bigint(1)), Expr::Literal(Null)],
            negated: false,
        };
        assert_eq!(eval(in_list), Null);
    }

    #[test]
    fn conversions() {
        let t = Timestamp::parse_datetime("2024-04-28T23:12:50.484").unwrap();
        assert_eq!(
            convert(
                SqlValue::Varchar("2024-04-28T23:12:50.484".into()),
                Conversion::ParseTimestamp
            ),
            SqlValue::Timestamp(t)
        );
        assert_eq!(
            convert(SqlValue::Timestamp(t), Conversion::ToVarchar),
            SqlValue::Varchar("2024-04-28 23:12:50".into())
        );
        assert_eq!(
            convert(SqlValue::Bigint(-4), Conversion::ToVarchar),
            SqlValue::Varchar("-4".into())
        );
        assert_eq!(convert(SqlValue::Null, Conversion::BigintToDouble), SqlValue::Null);
    }
}
