//! What a compiled query groups by and what it emits: [`GroupKey`] and [`SqlRow`].
//!
//! A row is an ordered list of named values and serializes as a JSON object with its columns in
//! `SELECT` order (by hand, without serde_json's `preserve_order`), which is the order of the fields
//! of the Beam `Row` the seed turns into a dict with `_asdict()`. The Kafka message key of a row is
//! the seed's `create_message` key, `{"event_id": ..., "window_start": ...}`.

use std::sync::Arc;

use pipeline::io::pyjson;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::value::SqlValue;

/// The grouping key of a compiled query: the values of its `GROUP BY` columns, in `GROUP BY` order
/// (the window is not part of it; the pipeline windows separately). Events rejected by `WHERE` have
/// none: the pipeline's filter drops them before they are keyed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey(pub Vec<SqlValue>);

/// One output row: the `SELECT` list's column names and values, in `SELECT` order.
///
/// ```
/// let row = sql::SqlRow::new(
///     vec!["event_id".into(), "window_start".into(), "page_view".into()],
///     vec![
///         sql::SqlValue::Varchar("7".into()),
///         sql::SqlValue::Varchar("2024-04-28 23:12:40".into()),
///         sql::SqlValue::Bigint(2),
///     ],
/// );
/// assert_eq!(row.to_json(), r#"{"event_id": "7", "window_start": "2024-04-28 23:12:40", "page_view": 2}"#);
/// assert_eq!(row.message_key().unwrap().to_json(), r#"{"event_id": "7", "window_start": "2024-04-28 23:12:40"}"#);
/// assert_eq!(row.get("page_view"), Some(&sql::SqlValue::Bigint(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SqlRow {
    columns: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl SqlRow {
    /// A row of `values` named by `columns`. Panics when the lengths differ.
    pub fn new(columns: impl Into<Arc<[String]>>, values: Vec<SqlValue>) -> SqlRow {
        let columns = columns.into();
        assert_eq!(columns.len(), values.len(), "a row needs one value per column");
        SqlRow { columns, values }
    }

    /// The column names, in `SELECT` order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in `SELECT` order.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }

    /// The value of `column`.
    pub fn get(&self, column: &str) -> Option<&SqlValue> {
        self.columns.iter().position(|c| c == column).map(|i| &self.values[i])
    }

    /// (name, value) pairs in `SELECT` order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SqlValue)> {
        self.columns.iter().map(String::as_str).zip(&self.values)
    }

    /// The row as the seed writes it to Kafka: `json.dumps` of the row's dict.
    pub fn to_json(&self) -> String {
        pyjson::to_string(self)
    }

    /// The seed's Kafka message key, `{"event_id": ..., "window_start": ...}`, when the row has both
    /// columns (the seed's `create_message` fails on rows without them).
    pub fn message_key(&self) -> Option<SqlRow> {
        let event_id = self.get("event_id")?.clone();
        let window_start = self.get("window_start")?.clone();
        Some(SqlRow::new(
            vec!["event_id".to_owned(), "window_start".to_owned()],
            vec![event_id, window_start],
        ))
    }
}

impl Serialize for SqlRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_select_order_in_json() {
        let row = SqlRow::new(
            vec!["z".to_owned(), "a".to_owned()],
            vec![SqlValue::Double(1.5), SqlValue::Null],
        );
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"z":1.5,"a":null}"#);
        assert_eq!(row.message_key(), None);
    }
}
