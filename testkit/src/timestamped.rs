//! Beam-style tests over plain values: [`TimestampedValue`], an element that carries its own event time,
//! and [`timestamped_values`], the first step of a pipeline that reads such elements, so that a test of
//! Beam's shape (integers or strings with timestamps, keyed, windowed, triggered, grouped) is written
//! the way Beam writes it.
//!
//! A script carries records, not values: a `TimestampedValue` is encoded as the JSON record
//! `{"value": <the value>, "timestamp": <epoch milliseconds>}` and [`timestamped_values`] decodes it
//! back and reads its timestamp as the event time. One `add_elements` call can therefore hold elements at
//! different event times, as Beam's `TestStream.addElements(TimestampedValue.of(x, t), ...)` does, and
//! [`TestStream::add_values`](crate::TestStream::add_values) gives plain values the current watermark,
//! as Beam's `addElements(x, ...)` does. [`PaneOutput`] finishes such a pipeline with Beam's usual
//! outputs: the aggregate alone ([`values`](PaneOutput::values), Beam's `Values.create()` after a
//! `GroupByKey`) or with its key ([`kvs`](PaneOutput::kvs)). For elements that are `(key, value)`
//! pairs, [`KeyedValues`] finishes a windowed pipeline in one call, with Beam's names:
//! [`group_by_key`](KeyedValues::group_by_key), [`sum_per_key`](KeyedValues::sum_per_key) and
//! [`count_per_key`](KeyedValues::count_per_key).
//!
//! ```
//! use pipeline::time::{Duration, Timestamp};
//! use pipeline::window::FixedWindows;
//! use testkit::timestamped::{timestamped_values, PaneOutput, TimestampedValue};
//! use testkit::{assert_that, TestPipeline, TestStream};
//!
//! let at = Timestamp::from_millis;
//! let p = TestPipeline::new(
//!     timestamped_values::<i64>()
//!         .windows(FixedWindows::of(Duration::millis(1000)))
//!         .key_by(|_| 1) // Beam's WithKeys.of(1)
//!         .to_list(|e| e.value) // GroupByKey: the values of each pane
//!         .values(),
//! );
//! let output = p.apply(
//!     TestStream::new()
//!         .add_elements([TimestampedValue::of(1, at(100)), TimestampedValue::of(2, at(1500))])
//!         .advance_watermark_to_infinity(),
//! );
//! assert_that(&output).flatten().contains_in_any_order([1, 2]);
//! p.run();
//! ```

use std::fmt;

use std::hash::Hash;

use pipeline::combine::{CombineFn, Count, Sum, ToList};
use pipeline::dataflow::{AggregatedBuilder, PipelineBuilder, WindowedBuilder};
use pipeline::time::Timestamp;
use pipeline::Pipeline;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::stream::{Element, ToTimestamp};

/// A value and its event timestamp: Beam's `TimestampedValue`.
///
/// It is an [`Element`] of a script (encoded as `{"value": ..., "timestamp": <ms>}`), not a `Serialize`
/// value, so that a script checks its timestamp: one at or after `TIMESTAMP_MAX_VALUE` (or before
/// `TIMESTAMP_MIN_VALUE`) is refused with [`ScriptError::ElementTimestamp`](crate::ScriptError).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimestampedValue<T> {
    /// The value.
    pub value: T,
    /// Its event time.
    pub timestamp: Timestamp,
}

impl<T> TimestampedValue<T> {
    /// `value` at `timestamp` (a [`Timestamp`], or text such as `2024-04-28T23:12:40` or `-inf`).
    /// Panics, at the caller's line, on text that names no instant.
    #[track_caller]
    pub fn of(value: T, timestamp: impl ToTimestamp) -> TimestampedValue<T> {
        match timestamp.to_timestamp() {
            Ok(timestamp) => TimestampedValue { value, timestamp },
            Err(e) => panic!("{e}"),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for TimestampedValue<T> {
    /// `TimestampedValue(1, 1970-01-01T00:00:00.100)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimestampedValue({:?}, {})", self.value, self.timestamp)
    }
}

/// The record form of a [`TimestampedValue`].
#[derive(Serialize, Deserialize)]
struct Wire<T> {
    value: T,
    timestamp: i64,
}

impl<T: Serialize> Element for TimestampedValue<T> {
    fn encode(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&Wire {
            value: &self.value,
            timestamp: self.timestamp.millis(),
        })
        .map_err(|e| e.to_string())
    }

    fn timestamp(&self) -> Option<Timestamp> {
        Some(self.timestamp)
    }
}

impl<T: DeserializeOwned> TimestampedValue<T> {
    /// Reads the record form back: `{"value": ..., "timestamp": <epoch milliseconds>}`.
    ///
    /// ```
    /// use testkit::timestamped::TimestampedValue;
    /// let e = TimestampedValue::<String>::from_json(br#"{"value": "a", "timestamp": 12}"#).unwrap();
    /// assert_eq!((e.value.as_str(), e.timestamp.millis()), ("a", 12));
    /// assert!(TimestampedValue::<i64>::from_json(b"7").unwrap_err().contains("expected"));
    /// ```
    pub fn from_json(record: &[u8]) -> Result<TimestampedValue<T>, String> {
        let wire: Wire<T> = serde_json::from_slice(record)
            .map_err(|e| format!("not a timestamped value {{\"value\": ..., \"timestamp\": <epoch ms>}}: {e}"))?;
        Ok(TimestampedValue {
            value: wire.value,
            timestamp: Timestamp::from_millis(wire.timestamp),
        })
    }
}

/// The first step of a pipeline over [`TimestampedValue`]s of `T`: each record decodes to one, and its
/// timestamp is the event time. Continue as with any [`Pipeline::builder`]: `.windows(..)`,
/// `.triggering(..)`, `.allowed_lateness(..)`, `.key_by(..)`, `.to_list(..)` or `.sum(..)`, then
/// [`PaneOutput::values`] or `.output(..)`. A record that is not a timestamped `T` is dead-lettered.
pub fn timestamped_values<T>() -> PipelineBuilder<TimestampedValue<T>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    Pipeline::builder(
        |record: &[u8]| TimestampedValue::<T>::from_json(record),
        |e: &TimestampedValue<T>| Ok::<_, String>(e.timestamp),
    )
}

/// Beam's usual outputs for the last step of a pipeline, so that a test does not spell out
/// `.output(|_, _, _, v| v)`.
pub trait PaneOutput<E, K, C: CombineFn> {
    /// Each pane's aggregate alone (after a `GroupByKey`, Beam's `Values.create()`).
    fn values(self) -> Pipeline<E, K, C, C::Output>;
    /// Each pane's aggregate with its key, as Beam's `KV.of(key, value)`.
    fn kvs(self) -> Pipeline<E, K, C, (K, C::Output)>
    where
        K: Clone;
}

impl<E, K, C: CombineFn> PaneOutput<E, K, C> for AggregatedBuilder<E, K, C> {
    fn values(self) -> Pipeline<E, K, C, C::Output> {
        self.output(|_, _, _, value| value)
    }

    fn kvs(self) -> Pipeline<E, K, C, (K, C::Output)>
    where
        K: Clone,
    {
        self.output(|key, _, _, value| (key.clone(), value))
    }
}

/// A pipeline over `(key, value)` elements keyed by their key: what [`KeyedValues`] builds.
pub type PerKey<K, V, C, O> = Pipeline<TimestampedValue<(K, V)>, K, C, O>;

/// One-call endings for a windowed pipeline over `(key, value)` elements, Beam's per-key transforms:
/// each pane comes out as `(key, aggregate)`, Beam's `KV`.
///
/// ```
/// use pipeline::time::{Duration, Timestamp};
/// use pipeline::window::FixedWindows;
/// use testkit::timestamped::{timestamped_values, KeyedValues, TimestampedValue};
/// use testkit::{assert_that, TestPipeline, TestStream};
///
/// let at = Timestamp::from_millis;
/// let p = TestPipeline::new(
///     timestamped_values::<(String, i64)>()
///         .windows(FixedWindows::of(Duration::seconds(10)))
///         .sum_per_key(), // Beam's Sum.longsPerKey()
/// );
/// let kv = |k: &str, v: i64| (k.to_owned(), v);
/// let output = p.apply(TestStream::new().add_elements([
///     TimestampedValue::of(kv("a", 1), at(0)),
///     TimestampedValue::of(kv("b", 5), at(1_000)),
///     TimestampedValue::of(kv("a", 2), at(9_999)),
/// ]));
/// assert_that(&output).contains_in_any_order([kv("a", 3), kv("b", 5)]);
/// p.run();
/// ```
pub trait KeyedValues<K, V: Clone> {
    /// Beam's `GroupByKey`: each pane's values of a key, in arrival order, as `(key, values)`.
    fn group_by_key(self) -> PerKey<K, V, ToList<V>, (K, Vec<V>)>;

    /// Beam's `Sum.integersPerKey()`/`longsPerKey()`/`doublesPerKey()`: `(key, sum)` per pane.
    fn sum_per_key(self) -> PerKey<K, V, Sum<V>, (K, V)>
    where
        Sum<V>: CombineFn<Input = V, Output = V>;

    /// Beam's `Count.perKey()`: `(key, count)` per pane.
    fn count_per_key(self) -> PerKey<K, V, Count, (K, u64)>;
}

impl<K, V> KeyedValues<K, V> for WindowedBuilder<TimestampedValue<(K, V)>>
where
    K: Clone + Ord + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn group_by_key(self) -> PerKey<K, V, ToList<V>, (K, Vec<V>)> {
        self.key_by(|e: &TimestampedValue<(K, V)>| e.value.0.clone())
            .to_list(|e| e.value.1.clone())
            .kvs()
    }

    fn sum_per_key(self) -> PerKey<K, V, Sum<V>, (K, V)>
    where
        Sum<V>: CombineFn<Input = V, Output = V>,
    {
        self.key_by(|e: &TimestampedValue<(K, V)>| e.value.0.clone())
            .sum(|e| e.value.1.clone())
            .kvs()
    }

    fn count_per_key(self) -> PerKey<K, V, Count, (K, u64)> {
        self.key_by(|e: &TimestampedValue<(K, V)>| e.value.0.clone())
            .count()
            .kvs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{assert_that, TestPipeline, TestStream};
    use pipeline::time::Duration;
    use pipeline::window::{FixedWindows, Window};

    fn kv(key: &str, value: i64, ms: i64) -> TimestampedValue<(String, i64)> {
        TimestampedValue::of((key.to_owned(), value), Timestamp::from_millis(ms))
    }

    fn stream() -> TestStream {
        TestStream::new()
            .add_elements([kv("a", 1, 0), kv("b", 5, 1_000), kv("a", 2, 9_999)])
            .add_elements([kv("a", 7, 10_000)])
    }

    #[test]
    fn group_by_key_gives_each_keys_values_per_pane_in_arrival_order() {
        let p = TestPipeline::new(
            timestamped_values::<(String, i64)>()
                .windows(FixedWindows::of(Duration::seconds(10)))
                .group_by_key(),
        );
        let output = p.apply(stream());
        let first = Window::new(Timestamp::EPOCH, Timestamp::from_millis(10_000));
        assert_that(&output)
            .in_window(first)
            .contains_in_any_order([("a".to_owned(), vec![1, 2]), ("b".to_owned(), vec![5])]);
        p.run();
    }

    #[test]
    fn count_per_key_counts_each_keys_elements_per_pane() {
        let p = TestPipeline::new(
            timestamped_values::<(String, i64)>()
                .windows(FixedWindows::of(Duration::seconds(10)))
                .count_per_key(),
        );
        let output = p.apply(stream());
        assert_that(&output).contains_in_any_order([("a".to_owned(), 2), ("b".to_owned(), 1), ("a".to_owned(), 1)]);
        p.run();
    }

    #[test]
    fn a_record_that_is_no_timestamped_value_is_dead_lettered_with_the_reason() {
        let output = TestStream::new()
            .add_raw_elements([r#"{"value": ["a", 1]}"#, "7"])
            .run(
                &timestamped_values::<(String, i64)>()
                    .windows(FixedWindows::of(Duration::seconds(10)))
                    .count_per_key(),
            )
            .unwrap();
        let reasons: Vec<&str> = output.dead_letters.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2);
        assert!(reasons[0].contains("missing field `timestamp`"), "{reasons:?}");
        assert!(reasons[1].starts_with("not a timestamped value"), "{reasons:?}");
        assert!(output.stats.check_conservation().is_ok());
    }
}
