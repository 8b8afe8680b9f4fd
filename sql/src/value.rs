//! SQL types and values: what a column holds while a query runs and in the rows it emits.
//!
//! This module owns the five types of the supported subset ([`SqlType`]) and the runtime value
//! ([`SqlValue`]) with its two orders: SQL comparison (`NULL` compares as unknown, `BIGINT` and
//! `DOUBLE` compare numerically) and the total order that makes values usable as grouping keys. It
//! also owns how a value is written to JSON. It knows nothing about queries or pipelines.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use pipeline::time::Timestamp;
use serde::{Serialize, Serializer};

/// The type of a column or expression: Beam SQL's types for the fields of the visit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// Text (`VARCHAR`): Python `str` fields.
    Varchar,
    /// A 64-bit integer (`BIGINT`, Beam's `INT64`): Python `int` fields.
    Bigint,
    /// A 64-bit float (`DOUBLE`): Python `float` fields.
    Double,
    /// `TRUE` or `FALSE` (`BOOLEAN`): Python `bool` fields.
    Boolean,
    /// An instant, to the millisecond, UTC (`TIMESTAMP`).
    Timestamp,
    /// The type of the bare `NULL` literal, which fits any other type.
    Null,
}

impl SqlType {
    /// True for `BIGINT` and `DOUBLE`.
    pub fn is_numeric(self) -> bool {
        matches!(self, SqlType::Bigint | SqlType::Double)
    }

    /// True when values of `self` and `other` can be compared with `=`, `<` and the like.
    pub(crate) fn comparable_with(self, other: SqlType) -> bool {
        self == other || self == SqlType::Null || other == SqlType::Null || (self.is_numeric() && other.is_numeric())
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SqlType::Varchar => "VARCHAR",
            SqlType::Bigint => "BIGINT",
            SqlType::Double => "DOUBLE",
            SqlType::Boolean => "BOOLEAN",
            SqlType::Timestamp => "TIMESTAMP",
            SqlType::Null => "NULL",
        })
    }
}

/// One value of a row: a grouping key, an aggregate or an output column.
///
/// Equality, ordering and hashing are total (a `DOUBLE` compares by [`f64::total_cmp`]), so values can
/// be grouping keys; SQL's own comparison, where `NULL` is unknown, is a separate operation.
/// Serialized to JSON, a `TIMESTAMP` is written as Beam SQL's `CAST(... AS VARCHAR)` form,
/// `2024-04-28 23:12:40`.
#[derive(Debug, Clone)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A `BOOLEAN`.
    Boolean(bool),
    /// A `BIGINT`.
    Bigint(i64),
    /// A `DOUBLE`.
    Double(f64),
    /// A `VARCHAR`.
    Varchar(String),
    /// A `TIMESTAMP`.
    Timestamp(Timestamp),
}

impl SqlValue {
    /// The value's type (`SqlType::Null` for `NULL`).
    pub fn sql_type(&self) -> SqlType {
        match self {
            SqlValue::Null => SqlType::Null,
            SqlValue::Boolean(_) => SqlType::Boolean,
            SqlValue::Bigint(_) => SqlType::Bigint,
            SqlValue::Double(_) => SqlType::Double,
            SqlValue::Varchar(_) => SqlType::Varchar,
            SqlValue::Timestamp(_) => SqlType::Timestamp,
        }
    }

    /// True for `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }

    /// The text of a `VARCHAR`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Varchar(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a `BIGINT`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Bigint(n) => Some(*n),
            _ => None,
        }
    }

    /// A `BIGINT` or `DOUBLE` as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Bigint(n) => Some(*n as f64),
            SqlValue::Double(x) => Some(*x),
            _ => None,
        }
    }

    /// SQL comparison: `None` when either side is `NULL` (or the types do not compare, which the
    /// compiler rules out). `BIGINT` against `DOUBLE` compares as floats, as Calcite widens them.
    pub(crate) fn sql_cmp(&self, other: &SqlValue) -> Option<Ordering> {
        use SqlValue::*;
        match (self, other) {
            (Bigint(a), Bigint(b)) => Some(a.cmp(b)),
            (Bigint(_) | Double(_), Bigint(_) | Double(_)) => self.as_f64()?.partial_cmp(&other.as_f64()?),
            (Varchar(a), Varchar(b)) => Some(a.cmp(b)),
            (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SqlValue::Null => 0,
            SqlValue::Boolean(_) => 1,
            SqlValue::Bigint(_) => 2,
            SqlValue::Double(_) => 3,
            SqlValue::Varchar(_) => 4,
            SqlValue::Timestamp(_) => 5,
        }
    }
}

impl PartialEq for SqlValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SqlValue {}

impl PartialOrd for SqlValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SqlValue {
    fn cmp(&self, other: &Self) -> Ordering {
        use SqlValue::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Boolean(a), Boolean(b)) => a.cmp(b),
            (Bigint(a), Bigint(b)) => a.cmp(b),
            (Double(a), Double(b)) => a.total_cmp(b),
            (Varchar(a), Varchar(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl Hash for SqlValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            SqlValue::Null => {}
            SqlValue::Boolean(b) => b.hash(state),
            SqlValue::Bigint(n) => n.hash(state),
            // Consistent with `total_cmp`: equal exactly when the bits are equal.
            SqlValue::Double(x) => x.to_bits().hash(state),
            SqlValue::Varchar(s) => s.hash(state),
            SqlValue::Timestamp(t) => t.hash(state),
        }
    }
}

impl fmt::Display for SqlValue {
    /// The value as SQL text would show it: `NULL`, `TRUE`, `42`, `1.5`, `'text'`,
    /// `TIMESTAMP '2024-04-28 23:12:40'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlValue::Null => f.write_str("NULL"),
            SqlValue::Boolean(true) => f.write_str("TRUE"),
            SqlValue::Boolean(false) => f.write_str("FALSE"),
            SqlValue::Bigint(n) => write!(f, "{n}"),
            SqlValue::Double(x) => write!(f, "{x:?}"),
            SqlValue::Varchar(s) => write!(f, "'{}'", s.replace('\'', "''")),
            SqlValue::Timestamp(t) => write!(f, "TIMESTAMP '{}'", t.format_sql()),
        }
    }
}

impl Serialize for SqlValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SqlValue::Null => serializer.serialize_unit(),
            SqlValue::Boolean(b) => serializer.serialize_bool(*b),
            SqlValue::Bigint(n) => serializer.serialize_i64(*n),
            SqlValue::Double(x) => serializer.serialize_f64(*x),
            SqlValue::Varchar(s) => serializer.serialize_str(s),
            SqlValue::Timestamp(t) => serializer.serialize_str(&t.format_sql()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_comparison_widens_numbers_and_treats_null_as_unknown() {
        assert_eq!(
            SqlValue::Bigint(2).sql_cmp(&SqlValue::Double(2.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            SqlValue::Double(2.0).sql_cmp(&SqlValue::Bigint(2)),
            Some(Ordering::Equal)
        );
        assert_eq!(SqlValue::Null.sql_cmp(&SqlValue::Null), None);
        assert_eq!(SqlValue::Bigint(1).sql_cmp(&SqlValue::Null), None);
    }

    #[test]
    fn grouping_order_is_total() {
        let mut values = [
            SqlValue::Double(f64::NAN),
            SqlValue::Varchar("b".into()),
            SqlValue::Null,
            SqlValue::Double(-0.0),
            SqlValue::Double(0.0),
            SqlValue::Bigint(3),
        ];
        values.sort();
        assert!(values[0].is_null());
        assert_ne!(SqlValue::Double(-0.0), SqlValue::Double(0.0));
        assert_eq!(SqlValue::Double(f64::NAN), SqlValue::Double(f64::NAN));
    }

    #[test]
    fn timestamps_serialize_in_beam_sql_varchar_form() {
        let t = Timestamp::parse_datetime("2024-04-28T23:12:40.999").unwrap();
        assert_eq!(
            serde_json::to_string(&SqlValue::Timestamp(t)).unwrap(),
            r#""2024-04-28 23:12:40""#
        );
        assert_eq!(SqlValue::Varchar("it's".into()).to_string(), "'it''s'");
    }
}
