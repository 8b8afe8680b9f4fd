//! The aggregate functions of a query, folded together as one [`CombineFn`].
//!
//! A query's `COUNT`, `SUM`, `MIN`, `MAX` and `AVG` calls become one [`SqlAggregates`]: its input is
//! the list of argument values one event contributes (one per call), its output the list of results.
//! The semantics are Beam SQL's (`BeamBuiltinAggregations`): `NULL` arguments are skipped, an
//! aggregate over no value is `NULL` (`COUNT` is 0), `SUM` of `BIGINT` wraps like Java's `long`, and
//! `AVG` of `BIGINT` is a `BIGINT`, truncated toward zero.

use std::sync::Arc;

use pipeline::combine::CombineFn;

use crate::value::{SqlType, SqlValue};

/// One aggregate function call, with its argument type resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    /// `COUNT(*)`: every row.
    CountRows,
    /// `COUNT(x)`: rows where `x` is not `NULL`.
    CountValues,
    SumBigint,
    SumDouble,
    Min,
    Max,
    AvgBigint,
    AvgDouble,
}

impl Aggregate {
    /// The aggregate `name` (upper case) over an argument of type `arg`, or `None` when the function
    /// is not an aggregate; `Err` with a message when the argument type does not fit.
    pub(crate) fn resolve(name: &str, arg: Option<SqlType>) -> Option<Result<(Aggregate, SqlType), String>> {
        let numeric = |t: SqlType| -> Result<SqlType, String> {
            match t {
                SqlType::Bigint | SqlType::Double => Ok(t),
                other => Err(format!("{name} needs a BIGINT or DOUBLE argument, got {other}")),
            }
        };
        let resolved = match (name, arg) {
            ("COUNT", None) => Ok((Aggregate::CountRows, SqlType::Bigint)),
            ("COUNT", Some(_)) => Ok((Aggregate::CountValues, SqlType::Bigint)),
            ("SUM" | "AVG" | "MIN" | "MAX", None) => Err(format!("{name}(*) is not a function; name a column")),
            ("SUM", Some(t)) => numeric(t).map(|t| match t {
                SqlType::Bigint => (Aggregate::SumBigint, t),
                _ => (Aggregate::SumDouble, t),
            }),
            ("AVG", Some(t)) => numeric(t).map(|t| match t {
                SqlType::Bigint => (Aggregate::AvgBigint, t),
                _ => (Aggregate::AvgDouble, t),
            }),
            ("MIN" | "MAX", Some(SqlType::Null)) => Err(format!("{name}(NULL) has no type")),
            ("MIN", Some(t)) => Ok((Aggregate::Min, t)),
            ("MAX", Some(t)) => Ok((Aggregate::Max, t)),
            _ => return None,
        };
        Some(resolved)
    }

    fn create(self) -> State {
        match self {
            Aggregate::CountRows | Aggregate::CountValues => State::Count(0),
            Aggregate::SumBigint => State::SumBigint(None),
            Aggregate::SumDouble => State::SumDouble(None),
            Aggregate::Min | Aggregate::Max => State::Extremum(None),
            Aggregate::AvgBigint => State::AvgBigint { sum: 0, n: 0 },
            Aggregate::AvgDouble => State::AvgDouble { sum: 0.0, n: 0 },
        }
    }
}

/// The running state of one aggregate call.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Count(i64),
    SumBigint(Option<i64>),
    SumDouble(Option<f64>),
    Extremum(Option<SqlValue>),
    /// Exact: Beam sums into a `BigDecimal`.
    AvgBigint {
        sum: i128,
        n: i64,
    },
    AvgDouble {
        sum: f64,
        n: i64,
    },
}

/// The aggregate calls of one query, as a single [`CombineFn`]: the input is one value per call (the
/// call's argument for this event; ignored by `COUNT(*)`), the output one result per call.
#[derive(Debug, Clone)]
pub struct SqlAggregates {
    calls: Arc<[Aggregate]>,
}

/// The accumulator of [`SqlAggregates`]: one running state per aggregate call.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlAccumulator {
    states: Vec<State>,
}

impl SqlAggregates {
    pub(crate) fn new(calls: Vec<Aggregate>) -> SqlAggregates {
        SqlAggregates { calls: calls.into() }
    }

    /// How many aggregate calls the query makes.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True for a query without aggregate calls (grouping only).
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

impl CombineFn for SqlAggregates {
    type Input = Vec<SqlValue>;
    type Accumulator = SqlAccumulator;
    type Output = Vec<SqlValue>;

    fn create_accumulator(&self) -> SqlAccumulator {
        SqlAccumulator {
            states: self.calls.iter().map(|c| c.create()).collect(),
        }
    }

    fn add_input(&self, acc: &mut SqlAccumulator, input: Vec<SqlValue>) {
        debug_assert_eq!(input.len(), self.calls.len(), "one argument per aggregate call");
        for ((call, state), value) in self.calls.iter().zip(&mut acc.states).zip(input) {
            add(*call, state, value);
        }
    }

    fn merge_accumulators(&self, acc: &mut SqlAccumulator, other: SqlAccumulator) {
        for ((call, state), other) in self.calls.iter().zip(&mut acc.states).zip(other.states) {
            merge(*call, state, other);
        }
    }

    fn extract_output(&self, acc: &SqlAccumulator) -> Vec<SqlValue> {
        acc.states.iter().map(extract).collect()
    }
}

fn add(call: Aggregate, state: &mut State, value: SqlValue) {
    if call == Aggregate::CountRows {
        if let State::Count(n) = state {
            *n += 1;
        }
        return;
    }
    if value.is_null() {
        return;
    }
    match (state, value) {
        (State::Count(n), _) => *n += 1,
        (State::SumBigint(sum), SqlValue::Bigint(v)) => *sum = Some(sum.unwrap_or(0).wrapping_add(v)),
        (State::SumDouble(sum), v) => *sum = Some(sum.unwrap_or(0.0) + v.as_f64().unwrap_or(0.0)),
        (State::Extremum(current), v) => {
            let replace = match current {
                None => true,
                Some(c) => match call {
                    Aggregate::Min => v.sql_cmp(c) == Some(std::cmp::Ordering::Less),
                    _ => v.sql_cmp(c) == Some(std::cmp::Ordering::Greater),
                },
            };
            if replace {
                *current = Some(v);
            }
        }
        (State::AvgBigint { sum, n }, SqlValue::Bigint(v)) => {
            *sum += i128::from(v);
            *n += 1;
        }
        (State::AvgDouble { sum, n }, v) => {
            *sum += v.as_f64().unwrap_or(0.0);
            *n += 1;
        }
        (state, value) => debug_assert!(false, "{call:?} cannot take {value:?} into {state:?}"),
    }
}

fn merge(call: Aggregate, state: &mut State, other: State) {
    match (state, other) {
        (State::Count(a), State::Count(b)) => *a += b,
        (State::SumBigint(a), State::SumBigint(b)) => {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0).wrapping_add(b));
            }
        }
        (State::SumDouble(a), State::SumDouble(b)) => {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0.0) + b);
            }
        }
        (state @ State::Extremum(_), State::Extremum(Some(v))) => add(call, state, v),
        (State::Extremum(_), State::Extremum(None)) => {}
        (State::AvgBigint { sum, n }, State::AvgBigint { sum: s, n: m }) => {
            *sum += s;
            *n += m;
        }
        (State::AvgDouble { sum, n }, State::AvgDouble { sum: s, n: m }) => {
            *sum += s;
            *n += m;
        }
        (state, other) => debug_assert!(false, "cannot merge {other:?} into {state:?}"),
    }
}

fn extract(state: &State) -> SqlValue {
    match state {
        State::Count(n) => SqlValue::Bigint(*n),
        State::SumBigint(sum) => sum.map_or(SqlValue::Null, SqlValue::Bigint),
        State::SumDouble(sum) => sum.map_or(SqlValue::Null, SqlValue::Double),
        State::Extremum(v) => v.clone().unwrap_or(SqlValue::Null),
        State::AvgBigint { n: 0, .. } | State::AvgDouble { n: 0, .. } => SqlValue::Null,
        // i128 division truncates toward zero, as Java's BigDecimal.longValue() does; the mean of
        // i64 values is itself within i64.
        State::AvgBigint { sum, n } => SqlValue::Bigint((sum / i128::from(*n)) as i64),
        State::AvgDouble { sum, n } => SqlValue::Double(sum / *n as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(calls: Vec<Aggregate>, inputs: Vec<Vec<SqlValue>>) -> Vec<SqlValue> {
        let combine = SqlAggregates::new(calls);
        let mut acc = combine.create_accumulator();
        for input in inputs {
            combine.add_input(&mut acc, input);
        }
        combine.extract_output(&acc)
    }

    #[test]
    fn aggregates_skip_nulls_and_are_null_over_nothing() {
        use SqlValue::{Bigint as I, Null};
        let calls = vec![
            Aggregate::CountRows,
            Aggregate::CountValues,
            Aggregate::SumBigint,
            Aggregate::Min,
            Aggregate::Max,
            Aggregate::AvgBigint,
        ];
        let row = |v: SqlValue| vec![Null, v.clone(), v.clone(), v.clone(), v.clone(), v];
        assert_eq!(
            fold(calls.clone(), vec![row(I(4)), row(Null), row(I(-7)), row(I(2))]),
            vec![I(4), I(3), I(-1), I(-7), I(4), I(0)]
        );
        assert_eq!(fold(calls, vec![row(Null)]), vec![I(1), I(0), Null, Null, Null, Null]);
    }

    #[test]
    fn bigint_average_truncates_toward_zero_and_sum_wraps() {
        use SqlValue::Bigint as I;
        assert_eq!(
            fold(vec![Aggregate::AvgBigint], vec![vec![I(-3)], vec![I(-4)]]),
            vec![I(-3)]
        );
        assert_eq!(
            fold(vec![Aggregate::AvgBigint], vec![vec![I(i64::MAX)], vec![I(i64::MAX)]]),
            vec![I(i64::MAX)]
        );
        assert_eq!(
            fold(vec![Aggregate::SumBigint], vec![vec![I(i64::MAX)], vec![I(1)]]),
            vec![I(i64::MIN)]
        );
    }

    #[test]
    fn merging_equals_folding_everything() {
        let calls = vec![
            Aggregate::SumDouble,
            Aggregate::Max,
            Aggregate::AvgDouble,
            Aggregate::CountRows,
        ];
        let combine = SqlAggregates::new(calls.clone());
        let input = |x: f64| vec![SqlValue::Double(x); 4];
        let (mut left, mut right) = (combine.create_accumulator(), combine.create_accumulator());
        [1.5, -2.0]
            .into_iter()
            .for_each(|x| combine.add_input(&mut left, input(x)));
        [8.25].into_iter().for_each(|x| combine.add_input(&mut right, input(x)));
        combine.merge_accumulators(&mut left, right);
        assert_eq!(
            combine.extract_output(&left),
            fold(calls, vec![input(1.5), input(-2.0), input(8.25)])
        );
    }

    #[test]
    fn argument_types_are_checked() {
        assert!(matches!(
            Aggregate::resolve("SUM", Some(SqlType::Varchar)),
            Some(Err(m)) if m.contains("BIGINT or DOUBLE")
        ));
        assert!(Aggregate::resolve("UPPER", Some(SqlType::Varchar)).is_none());
        assert_eq!(
            Aggregate::resolve("MAX", Some(SqlType::Timestamp)),
            Some(Ok((Aggregate::Max, SqlType::Timestamp)))
        );
    }
}
