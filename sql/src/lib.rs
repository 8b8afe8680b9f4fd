//! Beam SQL's streaming aggregations over the visit stream, compiled into [`pipeline::Pipeline`]s.
//!
//! The seed's SQL pipeline (`traffic_agg_sql.py`) hands a query to Beam's `SqlTransform`, which
//! Calcite parses and Beam plans onto its windowing. This crate does the same for a subset of that
//! SQL: [`compile`] parses a query with `sqlparser`, checks it against the subset and builds a
//! [`SqlPipeline`], an ordinary pipeline that any runner drives. The seed's query runs unchanged:
//!
//! ```
//! use pipeline::io::{Position, Record};
//! use pipeline::{Emitted, time::Watermark};
//!
//! let query = sql::TRAFFIC_AGG_QUERY; // the seed's query, verbatim
//! let pipeline = sql::compile(query, sql::SqlOptions::default()).unwrap();
//! let visit = |t: &str| format!(r#"{{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"{t}","event_ts":0}}"#);
//! let mut run = pipeline.start();
//! let mut out = Emitted::default();
//! let records = ["2024-04-28T23:12:41.000", "2024-04-28T23:12:59.999"]
//!     .iter()
//!     .enumerate()
//!     .map(|(i, t)| Record::new(visit(t), Position::Index { index: i as u64 }))
//!     .collect();
//! run.process_bundle(records, &mut out);
//! run.advance_watermark(Watermark::MAX, &mut out);
//! let row = &out.outputs[0].value;
//! assert_eq!(
//!     row.to_json(),
//!     r#"{"event_id": "7", "window_start": "2024-04-28 23:12:40", "window_end": "2024-04-28 23:13:00", "page_view": 2}"#
//! );
//! assert_eq!(row.message_key().unwrap().to_json(), r#"{"event_id": "7", "window_start": "2024-04-28 23:12:40"}"#);
//! ```
//!
//! # The supported subset
//!
//! * One query: `[WITH name AS (SELECT ...), ...] SELECT ... FROM t [WHERE ...] GROUP BY ...`. `t` is
//!   the input table (`PCOLLECTION`, or the name in [`SqlOptions::table`]), a CTE or a `(subquery)`,
//!   optionally aliased. CTEs and subqueries project and filter (`SELECT *`, expressions, aliases,
//!   `WHERE`); only the outermost `SELECT` aggregates.
//! * The input relation has the visit record's columns with Beam's types for the seed's `EventLog`:
//!   `ip`, `id`, `user_agent`, `age_bracket`, `http_request`, `event_datetime` (`VARCHAR`); `lat`,
//!   `lng` (`DOUBLE`); `opted_into_marketing` (`BOOLEAN`); `http_response`, `file_size_bytes`,
//!   `event_ts` (`BIGINT`). Names are case-sensitive.
//! * `GROUP BY` exactly one `TUMBLE(ts, size)` or `HOP(ts, slide, size)` (Calcite's argument order:
//!   the slide first) plus any columns or expressions. `ts` must be a `TIMESTAMP` read from the event,
//!   which is `CAST(event_datetime AS TIMESTAMP)`, directly or through a CTE column. Sizes are
//!   `INTERVAL 'n' SECOND`, `MINUTE`, `HOUR` or `DAY` with a whole `n`; a `HOP`'s slide may not exceed
//!   its size, and the optional alignment argument is not supported. A query without a window is an
//!   error: a stream aggregates per window.
//! * In the `SELECT` list: grouped expressions, `COUNT(*)`, `COUNT(x)`, `SUM`, `MIN`, `MAX` and `AVG`
//!   (`SUM`/`AVG` over `BIGINT` or `DOUBLE`, `MIN`/`MAX` over any type), the window bounds
//!   `TUMBLE_START`/`TUMBLE_END`/`HOP_START`/`HOP_END` with the `GROUP BY` window's arguments, and
//!   scalar expressions over those. Rows serialize as JSON objects with the columns in `SELECT` order.
//! * Scalar expressions: columns, literals (`42`, `1.5`, `'text'`, `TRUE`, `NULL`,
//!   `TIMESTAMP '2024-04-28 23:12:40'`), `CAST`, `= <> < <= > >=`, `AND`, `OR`, `NOT`, unary `-`,
//!   `IS [NOT] NULL`, `IS [NOT] TRUE/FALSE`, `[NOT] BETWEEN`, `[NOT] IN (...)`, `[NOT] LIKE 'pattern'`.
//! * Casts: `CAST(event_datetime AS TIMESTAMP)`, `CAST('...' AS TIMESTAMP)`, `BIGINT`, `TIMESTAMP`
//!   or `VARCHAR` to `VARCHAR`, `BIGINT` to `DOUBLE`, and any type to itself.
//!
//! Anything else is a [`SqlError`] that points at the offending part of the query.
//!
//! # Deviations from Beam SQL
//!
//! * **Milliseconds.** `CAST(event_datetime AS TIMESTAMP)` reads the seed's raw form
//!   (`2024-04-28T23:12:50.484`) as well as the reformatted one (`2024-04-28 23:12:50`), as UTC, and
//!   keeps the milliseconds. The seed's SQL version strips them before the query; for windows of
//!   whole seconds that never changes an element's window, and keeping them gives each element exactly
//!   the event time of the non-SQL pipeline, so lateness and watermarks agree too. `TIMESTAMP` values
//!   still print to the second (`2024-04-28 23:12:50`), Beam's `CAST(... AS VARCHAR)` form, also when
//!   output without a `CAST` (Beam would hand Python a timestamp object); grouping by such a column
//!   groups by the millisecond.
//! * **`WHERE`.** No deviation: the conjunction of every `WHERE` (the outer query's, its CTEs' and
//!   subqueries') becomes the pipeline's filter step, ahead of windowing, where Beam's planner puts
//!   it in a Calc step before the aggregation. Rejected events are never late and never in a pane;
//!   [`pipeline::PipelineStats::filtered`] counts them (`read = counted + filtered + dropped_late +
//!   dead_lettered`). Their event times still move a bounded watermark, as in Beam, where the
//!   source's watermark does not depend on the query; an event whose time cannot be read is
//!   dead-lettered whatever `WHERE` says, since Beam assigns timestamps before the query runs.
//! * **Types.** Integer literals are `BIGINT` and decimal literals `DOUBLE` (Calcite: `INTEGER` and
//!   `DECIMAL`); `AVG(DOUBLE)` sums in floating point (Beam: `BigDecimal`), so the last digits can
//!   differ. `SUM(BIGINT)` wraps on overflow and `AVG(BIGINT)` truncates toward zero, as in Beam.
//! * **Names.** Unaliased output columns are named as Calcite does (`id`, or `EXPR$2` for the third
//!   item), but duplicate output names are an error instead of being renamed.
//! * **Nulls.** No input column is nullable; `NULL` only comes from literals and follows SQL's
//!   three-valued logic.

mod aggregate;
mod error;
mod expr;
mod plan;
mod row;
mod schema;
mod value;

use std::sync::Arc;

use pipeline::combine::CombineFn;
use pipeline::event::VisitEvent;
use pipeline::strategy::{AccumulationMode, WindowingStrategy};
use pipeline::time::{Duration, Timestamp};
use pipeline::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};
use pipeline::window::{FixedWindows, SlidingWindows, Window};
use pipeline::Pipeline;

pub use aggregate::{SqlAccumulator, SqlAggregates};
pub use error::{QueryLocation, SqlError};
pub use row::{GroupKey, SqlRow};
pub use value::{SqlType, SqlValue};

use expr::{Conversion, Expr};
use plan::{OutputLeaf, Plan, WindowSpec};

/// The seed's query from `traffic_agg_sql.py`, verbatim (`sql/queries/traffic_agg.sql`): page views
/// per user id in tumbling windows of 20 seconds.
pub const TRAFFIC_AGG_QUERY: &str = include_str!("../queries/traffic_agg.sql");

/// A compiled query: visits in, one [`SqlRow`] per key, window and pane out. Events rejected by
/// `WHERE` never reach a window; [`pipeline::PipelineStats::filtered`] counts them.
pub type SqlPipeline = Pipeline<VisitEvent, GroupKey, SqlAggregates, SqlRow>;

/// How a compiled query windows beyond what SQL says: lateness, accumulation and the table name.
///
/// ```
/// use pipeline::io::{Position, Record};
/// use pipeline::{strategy::AccumulationMode, time::{Duration, Timestamp, Watermark}, Emitted};
///
/// let options = sql::SqlOptions::default()
///     .allowed_lateness(Duration::seconds(5))
///     .accumulation(AccumulationMode::Accumulating)
///     .table("visits");
/// let query = sql::TRAFFIC_AGG_QUERY.replace("PCOLLECTION", "visits");
/// let mut run = sql::compile(&query, options).unwrap().start();
/// let visit = |t: &str| format!(r#"{{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"{t}","event_ts":0}}"#);
/// let mut out = Emitted::default();
/// run.process_bundle(vec![Record::new(visit("2024-04-28T23:12:41"), Position::Index { index: 0 })], &mut out);
/// let watermark = Timestamp::parse_datetime("2024-04-28T23:13:04").unwrap();
/// run.advance_watermark(Watermark::at(watermark), &mut out); // the on-time pane: 1 view
/// // 4 s after the window's end, within the 5 s lateness: a late pane, accumulating both views.
/// run.process_bundle(vec![Record::new(visit("2024-04-28T23:12:50"), Position::Index { index: 1 })], &mut out);
/// let views: Vec<String> = out.outputs.iter().map(|o| o.value.get("page_view").unwrap().to_string()).collect();
/// assert_eq!(views, ["1", "2"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlOptions {
    /// How long after the end of a window late events still update it (Beam's default: none).
    pub allowed_lateness: Duration,
    /// Whether a late pane repeats the earlier events of its window (Beam's default: discarding).
    pub accumulation: AccumulationMode,
    /// The name of the input relation in `FROM` (Beam's default for a single input: `PCOLLECTION`).
    pub table: String,
    /// When the query's panes fire (Beam's default trigger unless told otherwise).
    pub trigger: Trigger,
    /// Whether a window's last pane fires when it holds nothing new.
    pub closing_behavior: ClosingBehavior,
    /// Whether an empty on-time pane fires.
    pub on_time_behavior: OnTimeBehavior,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            allowed_lateness: Duration::ZERO,
            accumulation: AccumulationMode::Discarding,
            table: "PCOLLECTION".to_owned(),
            trigger: Trigger::Default,
            closing_behavior: ClosingBehavior::default(),
            on_time_behavior: OnTimeBehavior::default(),
        }
    }
}

impl SqlOptions {
    /// Sets the allowed lateness.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = lateness;
        self
    }

    /// Sets the accumulation mode.
    pub fn accumulation(mut self, mode: AccumulationMode) -> Self {
        self.accumulation = mode;
        self
    }

    /// Sets the trigger.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// Sets the closing behaviour.
    pub fn closing_behavior(mut self, behavior: ClosingBehavior) -> Self {
        self.closing_behavior = behavior;
        self
    }

    /// Sets the on-time behaviour.
    pub fn on_time_behavior(mut self, behavior: OnTimeBehavior) -> Self {
        self.on_time_behavior = behavior;
        self
    }

    /// Sets the name of the input relation.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }
}

/// Compiles `query` into a pipeline over visit records (JSON lines or Kafka values, decoded as
/// [`VisitEvent::from_json`] does), or says what in the query is wrong or unsupported.
///
/// ```
/// let err = sql::compile("SELECT id, COUNT(*) FROM PCOLLECTION GROUP BY id", Default::default()).unwrap_err();
/// assert!(err.to_string().starts_with("GROUP BY has no TUMBLE or HOP: a streaming query aggregates per window"));
/// assert_eq!((err.location().line, err.location().column), (1, 38));
/// ```
pub fn compile(query: &str, options: SqlOptions) -> Result<SqlPipeline, SqlError> {
    let plan = Arc::new(plan::plan(query, &options.table)?);
    let strategy = match plan.window {
        WindowSpec::Tumble { size } => WindowingStrategy::new(FixedWindows::of(size)),
        WindowSpec::Hop { slide, size } => WindowingStrategy::new(SlidingWindows::of(size, slide)),
    };
    let columns: Arc<[String]> = plan.columns.clone().into();
    let aggregates = SqlAggregates::new(plan.aggregates.iter().map(|(call, _)| *call).collect());
    let time = plan.clone();
    let mut events = Pipeline::builder(VisitEvent::from_json, move |visit: &VisitEvent| time.event_time(visit));
    if plan.filter.is_some() {
        let keep = plan.clone();
        events = events.filter(move |visit: &VisitEvent| keep.passes(visit));
    }
    let (key, input, output) = (plan.clone(), plan.clone(), plan);
    Ok(events
        .strategy(strategy)
        .allowed_lateness(options.allowed_lateness)
        .accumulation(options.accumulation)
        .triggering(options.trigger)
        .closing_behavior(options.closing_behavior)
        .on_time_behavior(options.on_time_behavior)
        .key_by(move |visit: &VisitEvent| key.key(visit))
        .combine(move |visit: &VisitEvent| input.arguments(visit), aggregates)
        .output(move |key, window, _pane, results| output.row(&columns, key, window, results)))
}

impl Plan {
    fn event_time(&self, visit: &VisitEvent) -> Result<Timestamp, String> {
        // The usual time column, `CAST(event_datetime AS TIMESTAMP)`, without copying the text.
        if let Expr::Cast(inner, Conversion::ParseTimestamp) = &self.time {
            if let Some(text) = inner.as_leaf().and_then(|f| f.read_str(visit)) {
                return Timestamp::parse_datetime(text).map_err(|e| e.to_string());
            }
        }
        match self.time.eval(&|f| f.read(visit)) {
            SqlValue::Timestamp(t) => Ok(t),
            other => Err(format!("the window's time column is {other}, not a timestamp")),
        }
    }

    /// Whether `visit` passes `WHERE`: only `TRUE` does; `FALSE` and unknown (`NULL`) reject, as in SQL.
    fn passes(&self, visit: &VisitEvent) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.eval(&|f| f.read(visit)) == SqlValue::Boolean(true))
    }

    fn key(&self, visit: &VisitEvent) -> GroupKey {
        GroupKey(self.keys.iter().map(|k| k.eval(&|f| f.read(visit))).collect())
    }

    fn arguments(&self, visit: &VisitEvent) -> <SqlAggregates as CombineFn>::Input {
        self.aggregates
            .iter()
            .map(|(_, argument)| match argument {
                Some(e) => e.eval(&|f| f.read(visit)),
                None => SqlValue::Null,
            })
            .collect()
    }

    fn row(
        &self,
        columns: &Arc<[String]>,
        GroupKey(key): &GroupKey,
        window: &Window,
        results: Vec<SqlValue>,
    ) -> SqlRow {
        let values = self
            .outputs
            .iter()
            .map(|e| {
                e.eval(&|leaf| match leaf {
                    OutputLeaf::Key(i) => key[*i].clone(),
                    OutputLeaf::WindowStart => SqlValue::Timestamp(window.start()),
                    OutputLeaf::WindowEnd => SqlValue::Timestamp(window.end()),
                    OutputLeaf::Aggregate(i) => results[*i].clone(),
                })
            })
            .collect();
        SqlRow::new(columns.clone(), values)
    }
}
