//! The typed pipeline: decode → event time → key → window → aggregate → output, built once and run by
//! any runner.
//!
//! [`Pipeline`] is the definition, built step by step with [`Pipeline::builder`]; it is cheap to clone
//! and holds no state. [`Pipeline::start`] gives a [`PipelineInstance`], a record-level sans-IO machine:
//! bundles of raw records, watermark advances and processing-time ticks go in; window outputs, late
//! records and dead letters come out in an [`Emitted`] buffer that the runner drains into its sinks.
//! Every record read ends up counted, dropped as late or dead-lettered, and [`PipelineStats`] checks it.
//!
//! ```
//! use pipeline::{Pipeline, Emitted, io::{Position, Record}};
//! use pipeline::time::{Duration, Timestamp, Watermark};
//! use pipeline::window::FixedWindows;
//!
//! #[derive(serde::Deserialize)]
//! struct Click { user: String, ms: i64 }
//!
//! let clicks = Pipeline::builder(
//!         |bytes: &[u8]| serde_json::from_slice::<Click>(bytes),
//!         |c: &Click| Ok::<_, String>(Timestamp::from_millis(c.ms)),
//!     )
//!     .windows(FixedWindows::of(Duration::seconds(10)))
//!     .key_by(|c: &Click| c.user.clone())
//!     .count()
//!     .output(|user, window, _pane, n| format!("{user} {} {n}", window.start().millis()));
//!
//! let mut run = clicks.start();
//! let mut out = Emitted::default();
//! for (i, line) in [r#"{"user":"ann","ms":1000}"#, r#"{"user":"ann","ms":9000}"#, "oops"].iter().enumerate() {
//!     run.process_bundle(vec![Record::new(*line, Position::Line { line: i as u64 + 1 })], &mut out);
//! }
//! run.advance_watermark(Watermark::MAX, &mut out);
//! assert_eq!(out.outputs[0].value, "ann 0 2");
//! assert_eq!(out.dead_letters[0].position, Position::Line { line: 3 });
//! assert!(run.stats().check_conservation().is_ok());
//! ```

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crate::aggregator::{Fate, WindowedAggregator};
use crate::combine::{CombineFn, Count, Max, Mean, Min, Sum};
use crate::io::{DeadLetter, LateRecord, Position, Record};
use crate::pane::{Pane, PaneInfo};
use crate::strategy::{AccumulationMode, WindowingStrategy};
use crate::time::{Duration, Timestamp, Watermark};
use crate::window::{Window, WindowFn};

type DecodeFn<E> = Arc<dyn Fn(&[u8]) -> Result<E, String> + Send + Sync>;
type EventTimeFn<E> = Arc<dyn Fn(&E) -> Result<Timestamp, String> + Send + Sync>;
type FilterFn<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;
type KeyFn<E, K> = Arc<dyn Fn(&E) -> K + Send + Sync>;
type InputFn<E, I> = Arc<dyn Fn(&E) -> I + Send + Sync>;
type OutputFn<K, V, O> = Arc<dyn Fn(&K, &Window, &PaneInfo, V) -> O + Send + Sync>;

/// A pipeline definition: how to decode records, read their event time, key, window, aggregate and
/// shape the output. Build one with [`Pipeline::builder`]; run it with [`Pipeline::start`].
pub struct Pipeline<E, K, C: CombineFn, O> {
    decode: DecodeFn<E>,
    event_time: EventTimeFn<E>,
    filter: Option<FilterFn<E>>,
    strategy: WindowingStrategy,
    key: KeyFn<E, K>,
    input: InputFn<E, C::Input>,
    combine: C,
    output: OutputFn<K, C::Output, O>,
}

impl<E, K, C: CombineFn + Clone, O> Clone for Pipeline<E, K, C, O> {
    fn clone(&self) -> Self {
        Pipeline {
            decode: self.decode.clone(),
            event_time: self.event_time.clone(),
            filter: self.filter.clone(),
            strategy: self.strategy.clone(),
            key: self.key.clone(),
            input: self.input.clone(),
            combine: self.combine.clone(),
            output: self.output.clone(),
        }
    }
}

impl<E, K, C: CombineFn, O> fmt::Debug for Pipeline<E, K, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

/// The first building step: decoding and event time are known.
pub struct PipelineBuilder<E> {
    decode: DecodeFn<E>,
    event_time: EventTimeFn<E>,
    filter: Option<FilterFn<E>>,
}

/// The second step: windowing is known.
pub struct WindowedBuilder<E> {
    decode: DecodeFn<E>,
    event_time: EventTimeFn<E>,
    filter: Option<FilterFn<E>>,
    strategy: WindowingStrategy,
}

/// The third step: the key is known; choose an aggregation.
pub struct KeyedBuilder<E, K> {
    windowed: WindowedBuilder<E>,
    key: KeyFn<E, K>,
}

/// The last step: the aggregation is known; give the output function.
pub struct AggregatedBuilder<E, K, C: CombineFn> {
    keyed: KeyedBuilder<E, K>,
    input: InputFn<E, C::Input>,
    combine: C,
}

impl Pipeline<(), (), Count, ()> {
    /// Starts a pipeline over events of type `E`: `decode` turns a record's bytes into an event and
    /// `event_time` reads its timestamp. An error from either dead-letters the record with the error's
    /// text as the reason.
    pub fn builder<E, D, DE, T, TE>(decode: D, event_time: T) -> PipelineBuilder<E>
    where
        D: Fn(&[u8]) -> Result<E, DE> + Send + Sync + 'static,
        DE: fmt::Display,
        T: Fn(&E) -> Result<Timestamp, TE> + Send + Sync + 'static,
        TE: fmt::Display,
    {
        PipelineBuilder {
            decode: Arc::new(move |b| decode(b).map_err(|e| e.to_string())),
            event_time: Arc::new(move |e| event_time(e).map_err(|e| format!("event time: {e}"))),
            filter: None,
        }
    }
}

impl<E> PipelineBuilder<E> {
    /// Keeps only the events for which `keep` is true, before windowing (Beam's `Filter`). Filtered
    /// events are counted in [`PipelineStats::filtered`]; they are never late and never in a pane.
    /// Calling it again adds a second condition.
    pub fn filter<F>(mut self, keep: F) -> Self
    where
        F: Fn(&E) -> bool + Send + Sync + 'static,
        E: 'static,
    {
        self.filter = Some(match self.filter.take() {
            None => Arc::new(keep),
            Some(first) => Arc::new(move |e| first(e) && keep(e)),
        });
        self
    }

    /// Windows elements with `window_fn`, with no allowed lateness, the default trigger and discarding
    /// panes until told otherwise.
    pub fn windows(self, window_fn: impl WindowFn + 'static) -> WindowedBuilder<E> {
        self.strategy(WindowingStrategy::new(window_fn))
    }

    /// Windows elements with a complete strategy.
    pub fn strategy(self, strategy: WindowingStrategy) -> WindowedBuilder<E> {
        WindowedBuilder {
            decode: self.decode,
            event_time: self.event_time,
            filter: self.filter,
            strategy,
        }
    }
}

impl<E> WindowedBuilder<E> {
    /// How long after the watermark passes a window's end it still accepts late elements.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.strategy = self.strategy.with_allowed_lateness(lateness);
        self
    }

    /// Discarding (the default) or accumulating panes.
    pub fn accumulation(mut self, mode: AccumulationMode) -> Self {
        self.strategy = self.strategy.with_accumulation(mode);
        self
    }

    /// When panes fire (Beam's `Window.triggering`); the default trigger until told otherwise.
    pub fn triggering(mut self, trigger: impl Into<crate::trigger::Trigger>) -> Self {
        self.strategy = self.strategy.with_trigger(trigger);
        self
    }

    /// Whether a window's last pane fires when it holds nothing new (Beam's `ClosingBehavior`).
    pub fn closing_behavior(mut self, behavior: crate::trigger::ClosingBehavior) -> Self {
        self.strategy = self.strategy.with_closing_behavior(behavior);
        self
    }

    /// Whether an empty on-time pane fires (Beam's `OnTimeBehavior`).
    pub fn on_time_behavior(mut self, behavior: crate::trigger::OnTimeBehavior) -> Self {
        self.strategy = self.strategy.with_on_time_behavior(behavior);
        self
    }

    /// Groups elements by `key`.
    pub fn key_by<K, F>(self, key: F) -> KeyedBuilder<E, K>
    where
        F: Fn(&E) -> K + Send + Sync + 'static,
    {
        KeyedBuilder {
            windowed: self,
            key: Arc::new(key),
        }
    }
}

impl<E, K> KeyedBuilder<E, K> {
    /// Aggregates with any [`CombineFn`], feeding it `input(event)`.
    pub fn combine<C, F>(self, input: F, combine: C) -> AggregatedBuilder<E, K, C>
    where
        C: CombineFn,
        F: Fn(&E) -> C::Input + Send + Sync + 'static,
    {
        AggregatedBuilder {
            keyed: self,
            input: Arc::new(input),
            combine,
        }
    }

    /// Counts elements per key and window.
    pub fn count(self) -> AggregatedBuilder<E, K, Count> {
        self.combine(|_| (), Count)
    }

    /// Sums `value(event)` per key and window.
    pub fn sum<T, F>(self, value: F) -> AggregatedBuilder<E, K, Sum<T>>
    where
        Sum<T>: CombineFn<Input = T>,
        F: Fn(&E) -> T + Send + Sync + 'static,
    {
        self.combine(value, Sum::default())
    }

    /// The smallest `value(event)` per key and window.
    pub fn min<T, F>(self, value: F) -> AggregatedBuilder<E, K, Min<T>>
    where
        Min<T>: CombineFn<Input = T>,
        F: Fn(&E) -> T + Send + Sync + 'static,
    {
        self.combine(value, Min::default())
    }

    /// The largest `value(event)` per key and window.
    pub fn max<T, F>(self, value: F) -> AggregatedBuilder<E, K, Max<T>>
    where
        Max<T>: CombineFn<Input = T>,
        F: Fn(&E) -> T + Send + Sync + 'static,
    {
        self.combine(value, Max::default())
    }

    /// Every `value(event)` of a key's pane, in arrival order (Beam's `GroupByKey` values).
    pub fn to_list<T, F>(self, value: F) -> AggregatedBuilder<E, K, crate::combine::ToList<T>>
    where
        T: Clone,
        F: Fn(&E) -> T + Send + Sync + 'static,
    {
        self.combine(value, crate::combine::ToList::default())
    }

    /// The mean of `value(event)` per key and window.
    pub fn mean<F>(self, value: F) -> AggregatedBuilder<E, K, Mean>
    where
        F: Fn(&E) -> f64 + Send + Sync + 'static,
    {
        self.combine(value, Mean)
    }
}

impl<E, K, C: CombineFn> AggregatedBuilder<E, K, C> {
    /// Finishes the pipeline: `output(key, window, pane, value)` shapes each pane's result.
    pub fn output<O, F>(self, output: F) -> Pipeline<E, K, C, O>
    where
        F: Fn(&K, &Window, &PaneInfo, C::Output) -> O + Send + Sync + 'static,
    {
        let windowed = self.keyed.windowed;
        Pipeline {
            decode: windowed.decode,
            event_time: windowed.event_time,
            filter: windowed.filter,
            strategy: windowed.strategy,
            key: self.keyed.key,
            input: self.input,
            combine: self.combine,
            output: Arc::new(output),
        }
    }
}

impl<E, K, C, O> Pipeline<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    /// The windowing strategy.
    pub fn strategy(&self) -> &WindowingStrategy {
        &self.strategy
    }

    /// A fresh running instance: no state, watermark at −∞.
    pub fn start(&self) -> PipelineInstance<E, K, C, O> {
        PipelineInstance {
            core: WindowedAggregator::new(self.strategy.clone(), self.combine.clone()),
            pipeline: self.clone(),
            panes: Vec::new(),
            stats: PipelineStats::default(),
        }
    }

    /// Decodes one record and reads its event time, as the pipeline would. Runners that must know an
    /// element's timestamp before processing it (to order or hold it back) use this.
    pub fn decode(&self, payload: &[u8]) -> Result<(E, Timestamp), String> {
        let event = (self.decode)(payload)?;
        let t = (self.event_time)(&event)?;
        Ok((event, t))
    }

    /// Decodes `record` once, for a runner that must look at its event time (to order it, hold it back or
    /// judge it) before [`PipelineInstance::process_decoded`] processes it. An event time outside Beam's
    /// element range is a decoding failure: such a record is dead-lettered.
    pub fn decode_record(&self, record: Record) -> Decoded<E> {
        let event = self.decode_element(&record.payload);
        Decoded {
            record,
            event,
            lateness_horizon: Watermark::MIN,
        }
    }

    /// Decodes `payload` into an event and its time, refusing a time outside Beam's element range: what
    /// [`decode_record`](Self::decode_record) does, on bytes the caller keeps.
    pub fn decode_element(&self, payload: &[u8]) -> Result<(E, Timestamp), String> {
        self.decode(payload)
            .and_then(|(event, t)| match t.check_element_time() {
                Ok(t) => Ok((event, t)),
                Err(e) => Err(format!("event time: {e}")),
            })
    }

    /// The key the pipeline groups `event` under. Test drivers use it to describe what each element
    /// became without re-implementing the key function.
    pub fn key_of(&self, event: &E) -> K {
        (self.key)(event)
    }

    /// False when the pipeline's filter rejects `event` (it is then counted as filtered, never windowed).
    pub fn keeps(&self, event: &E) -> bool {
        self.filter.as_ref().is_none_or(|keep| keep(event))
    }
}

/// One pane's result, shaped by the output function.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOutput<K, O> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// Timing and index of the pane.
    pub pane: PaneInfo,
    /// What the output function made of the pane.
    pub value: O,
}

/// What a pipeline instance produced; the runner drains it into sinks.
#[derive(Debug, Clone)]
pub struct Emitted<K, O> {
    /// Window results, in firing order.
    pub outputs: Vec<WindowOutput<K, O>>,
    /// Elements dropped as late.
    pub late: Vec<LateRecord>,
    /// Records that could not be decoded, or whose event time is missing or outside the range of
    /// element timestamps.
    pub dead_letters: Vec<DeadLetter>,
}

impl<K, O> Default for Emitted<K, O> {
    fn default() -> Self {
        Emitted {
            outputs: Vec::new(),
            late: Vec::new(),
            dead_letters: Vec::new(),
        }
    }
}

impl<K, O> Emitted<K, O> {
    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty() && self.late.is_empty() && self.dead_letters.is_empty()
    }
}

/// Record counts of a run. `read = counted + filtered + dropped_late + dead_lettered` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    /// Records handed to the pipeline.
    pub read: u64,
    /// Records that decoded and had an event time in `[TIMESTAMP_MIN_VALUE, TIMESTAMP_MAX_VALUE)`.
    pub parsed: u64,
    /// Records that did not decode, had no event time or one outside the range of element timestamps.
    pub dead_lettered: u64,
    /// Parsed records the pipeline's filter rejected.
    pub filtered: u64,
    /// Parsed records dropped as late: all their windows had expired, or (counted again in
    /// [`dropped_closed`](Self::dropped_closed)) none was open and one was closed. Each is reported as a
    /// late record.
    pub dropped_late: u64,
    /// Of [`dropped_late`](Self::dropped_late), the records dropped because the trigger of a window they
    /// belong to had finished (Beam's `droppedDueToClosedWindow`). Left out of the serialised form when
    /// zero, as it always is under the default trigger.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_closed: u64,
    /// Parsed records added to at least one window.
    pub counted: u64,
    /// Of [`counted`](Self::counted), the records that were in no pane yet when their session merged into
    /// a window whose trigger had finished: that window never fires again, so they are in no pane (Beam
    /// loses them the same way, silently). Left out of the serialised form when zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub merged_into_closed: u64,
    /// Panes emitted.
    pub panes: u64,
}

impl std::ops::Add for PipelineStats {
    type Output = PipelineStats;
    /// The counts of two runs together (a restarted or rebalanced runner sums its instances).
    fn add(self, o: PipelineStats) -> PipelineStats {
        PipelineStats {
            read: self.read + o.read,
            parsed: self.parsed + o.parsed,
            dead_lettered: self.dead_lettered + o.dead_lettered,
            filtered: self.filtered + o.filtered,
            dropped_late: self.dropped_late + o.dropped_late,
            dropped_closed: self.dropped_closed + o.dropped_closed,
            counted: self.counted + o.counted,
            merged_into_closed: self.merged_into_closed + o.merged_into_closed,
            panes: self.panes + o.panes,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PipelineStats {
    /// Checks `read = counted + filtered + dropped_late + dead_lettered` and
    /// `parsed = counted + filtered + dropped_late`.
    pub fn check_conservation(&self) -> Result<(), String> {
        if self.read == self.counted + self.filtered + self.dropped_late + self.dead_lettered
            && self.parsed == self.counted + self.filtered + self.dropped_late
            && self.dropped_closed <= self.dropped_late
            && self.merged_into_closed <= self.counted
        {
            Ok(())
        } else {
            Err(format!(
                "records lost: read {} != counted {} + filtered {} + late {} + dead-lettered {} (parsed {})",
                self.read, self.counted, self.filtered, self.dropped_late, self.dead_lettered, self.parsed
            ))
        }
    }
}

/// A record decoded once: its bytes and position, and the event with its time, or why it is no element.
#[derive(Debug, Clone)]
pub struct Decoded<E> {
    /// The record, untouched.
    pub record: Record,
    /// The event and its event time, or the reason the record is a dead letter.
    pub event: Result<(E, Timestamp), String>,
    /// Windows of the event that are expired at this watermark are dropped, even when the pipeline's
    /// watermark is behind it (see [`WindowedAggregator::process_within`]). `Watermark::MIN` after
    /// decoding; the Kafka core sets the record's partition watermark. Merging window functions ignore it.
    pub lateness_horizon: Watermark,
}

impl<E> Decoded<E> {
    /// The event time, when the record decoded.
    pub fn event_time(&self) -> Option<Timestamp> {
        self.event.as_ref().ok().map(|(_, t)| *t)
    }
}

/// What a bundle did, for the runner's watermark generator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BundleSummary {
    /// The largest event time among the bundle's parsed records.
    pub max_event_time: Option<Timestamp>,
}

/// A running pipeline: state, watermark and counts. Sans-IO: the runner feeds it and drains [`Emitted`].
pub struct PipelineInstance<E, K, C: CombineFn, O> {
    pipeline: Pipeline<E, K, C, O>,
    core: WindowedAggregator<K, C>,
    panes: Vec<Pane<K, C::Output>>,
    stats: PipelineStats,
}

/// Where a record of a bundle handed to the core whole goes: a dead letter, or an element for the core.
enum Route {
    DeadLetter(Record, String),
    Element(Record, Timestamp),
}

impl<E, K, C, O> PipelineInstance<E, K, C, O>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
{
    /// Processes one input bundle: decodes each record (dead-lettering failures), windows and aggregates
    /// the events (dropping expired ones as late), then fires the late panes the bundle caused.
    pub fn process_bundle(&mut self, records: Vec<Record>, out: &mut Emitted<K, O>) -> BundleSummary {
        let decoded: Vec<Decoded<E>> = records.into_iter().map(|r| self.pipeline.decode_record(r)).collect();
        self.process_decoded(decoded, out)
    }

    /// A bundle of one record whose bytes the runner lends (a line in its read buffer): decoded in place,
    /// and copied only when it becomes a dead letter or a late record. The same as
    /// [`process_bundle`](Self::process_bundle) with that one record.
    pub fn process_record(&mut self, payload: &[u8], position: Position, out: &mut Emitted<K, O>) -> BundleSummary {
        let event = self.pipeline.decode_element(payload);
        self.process_lent(payload, position, event, out)
    }

    /// [`process_record`](Self::process_record) for a lent record the runner has already decoded with
    /// [`Pipeline::decode_element`] (a runner that decodes on other threads).
    pub fn process_lent(
        &mut self,
        payload: &[u8],
        position: Position,
        event: Result<(E, Timestamp), String>,
        out: &mut Emitted<K, O>,
    ) -> BundleSummary {
        // A step fired in parts ends first: its panes go out before the bundle's.
        self.core.complete_firing(&mut self.panes);
        if self.core.merges_windows() {
            let record = Record::new(payload, position);
            let lateness_horizon = Watermark::MIN;
            return self.process_decoded(
                vec![Decoded {
                    record,
                    event,
                    lateness_horizon,
                }],
                out,
            );
        }
        let mut summary = BundleSummary::default();
        self.stats.read += 1;
        match event {
            Err(reason) => self.dead_letter(Record::new(payload, position), reason, out),
            Ok((event, t)) => {
                if let Some((key, input)) = self.element(&event, t, &mut summary) {
                    match self.core.process(key, t, input) {
                        Fate::Accepted => {
                            self.stats.parsed += 1;
                            self.stats.counted += 1;
                        }
                        fate => self.route(Record::new(payload, position), t, fate, out),
                    }
                }
            }
        }
        self.core.finish_bundle(&mut self.panes);
        self.drain_panes(out);
        summary
    }

    /// [`process_bundle`](Self::process_bundle) for records the runner has already decoded with
    /// [`Pipeline::decode_record`]: each record is decoded exactly once. Beam adds all of a bundle's
    /// elements before it asks any window whether to fire; under a merging window function (sessions)
    /// it also merges the bundle's windows first, so the core then takes the bundle whole. Dead letters
    /// and late records come out in record order.
    pub fn process_decoded(&mut self, bundle: Vec<Decoded<E>>, out: &mut Emitted<K, O>) -> BundleSummary {
        // A step fired in parts ends first: its panes go out before the bundle's.
        self.core.complete_firing(&mut self.panes);
        if self.core.merges_windows() {
            return self.process_whole(bundle, out);
        }
        let mut summary = BundleSummary::default();
        for Decoded {
            record,
            event,
            lateness_horizon,
        } in bundle
        {
            self.stats.read += 1;
            let event = match event {
                Ok(event) => event,
                Err(reason) => {
                    self.dead_letter(record, reason, out);
                    continue;
                }
            };
            let t = event.1;
            let Some((key, input)) = self.element(&event.0, t, &mut summary) else {
                continue;
            };
            let fate = self.core.process_within(key, t, input, lateness_horizon);
            self.route(record, t, fate, out);
        }
        self.core.finish_bundle(&mut self.panes);
        self.drain_panes(out);
        summary
    }

    /// A bundle handed to the core whole (a merging window function).
    fn process_whole(&mut self, bundle: Vec<Decoded<E>>, out: &mut Emitted<K, O>) -> BundleSummary {
        let mut summary = BundleSummary::default();
        let mut routes = Vec::with_capacity(bundle.len());
        let mut elements = Vec::with_capacity(bundle.len());
        for Decoded { record, event, .. } in bundle {
            self.stats.read += 1;
            match event {
                Err(reason) => routes.push(Route::DeadLetter(record, reason)),
                Ok((event, t)) => {
                    if let Some((key, input)) = self.element(&event, t, &mut summary) {
                        routes.push(Route::Element(record, t));
                        elements.push((key, t, input));
                    }
                }
            }
        }
        let mut fates = Vec::with_capacity(elements.len());
        self.core.process_bundle(elements, &mut fates, &mut self.panes);
        let mut fate_of = fates.into_iter();
        for route in routes {
            match route {
                Route::DeadLetter(record, reason) => self.dead_letter(record, reason, out),
                Route::Element(record, t) => {
                    let fate = fate_of.next().expect("a fate for every element");
                    self.route(record, t, fate, out);
                }
            }
        }
        self.drain_panes(out);
        summary
    }

    /// Turns a decoded event into the core's element, unless the filter rejects it (then it is counted
    /// as filtered and `None`).
    #[inline(always)]
    fn element(&mut self, event: &E, t: Timestamp, summary: &mut BundleSummary) -> Option<(K, C::Input)> {
        // Filtered events still carry event time: they move a bounded watermark like any other.
        summary.max_event_time = summary.max_event_time.max(Some(t));
        if self.pipeline.filter.as_ref().is_some_and(|keep| !keep(event)) {
            self.stats.parsed += 1;
            self.stats.filtered += 1;
            return None;
        }
        Some(((self.pipeline.key)(event), (self.pipeline.input)(event)))
    }

    /// Sends `record` where its element's fate says: counted, dead-lettered (no window) or reported late
    /// (expired or closed windows).
    #[inline(always)]
    fn route(&mut self, record: Record, t: Timestamp, fate: Fate, out: &mut Emitted<K, O>) {
        if fate != Fate::NoWindow {
            self.stats.parsed += 1;
        }
        let reason = match fate {
            Fate::Accepted => {
                self.stats.counted += 1;
                return;
            }
            Fate::NoWindow => {
                // Only a user's window function can get here (the range is checked when decoding); the
                // record is dead-lettered so that the counts still add up.
                let reason = format!("event time {t}: the window function assigned it to no window");
                self.dead_letter(record, reason, out);
                return;
            }
            Fate::DroppedLate => self.late_reason(t, self.core.watermark()),
            Fate::DroppedClosed(window) => {
                self.stats.dropped_closed += 1;
                format!(
                    "closed window: the trigger {} of window {window} has finished, so the window takes no \
                     more elements until it is garbage-collected (Beam's droppedDueToClosedWindow)",
                    self.core.strategy().trigger
                )
            }
        };
        self.stats.dropped_late += 1;
        out.late.push(LateRecord {
            position: record.position,
            event_time: t,
            watermark: self.core.watermark(),
            reason,
            payload: record.payload,
        });
    }

    /// Moves the watermark forward and emits the panes that fire.
    pub fn advance_watermark(&mut self, to: Watermark, out: &mut Emitted<K, O>) {
        self.core.advance_watermark(to, &mut self.panes);
        self.drain_panes(out);
    }

    /// [`advance_watermark`](Self::advance_watermark), emitting the panes of at most `at_most` windows:
    /// returns `true` when more remain, which [`continue_firing`](Self::continue_firing) emits. The
    /// same outputs in the same order; a runner that writes each part out before asking for the next
    /// holds one part at a time (see [`WindowedAggregator::advance_watermark_in_parts`]).
    ///
    /// [`WindowedAggregator::advance_watermark_in_parts`]: crate::aggregator::WindowedAggregator::advance_watermark_in_parts
    pub fn advance_watermark_in_parts(&mut self, to: Watermark, at_most: usize, out: &mut Emitted<K, O>) -> bool {
        let more = self.core.advance_watermark_in_parts(to, at_most, &mut self.panes);
        self.drain_panes(out);
        more
    }

    /// True while a watermark step fired in parts has windows left to fire.
    pub fn is_firing(&self) -> bool {
        self.core.is_firing()
    }

    /// Emits the panes of at most `at_most` more windows of a watermark step fired in parts; `true` when
    /// more remain, `false` (and nothing emitted) when no such step is under way.
    pub fn continue_firing(&mut self, at_most: usize, out: &mut Emitted<K, O>) -> bool {
        let more = self.core.continue_firing(at_most, &mut self.panes);
        self.drain_panes(out);
        more
    }

    /// Moves processing time forward and emits the panes that fire.
    pub fn advance_processing_time(&mut self, to: Timestamp, out: &mut Emitted<K, O>) {
        self.core.advance_processing_time(to, &mut self.panes);
        self.drain_panes(out);
    }

    /// The current watermark.
    pub fn watermark(&self) -> Watermark {
        self.core.watermark()
    }

    /// The current processing time.
    pub fn processing_time(&self) -> Timestamp {
        self.core.processing_time()
    }

    /// The earliest pending event-time timer: the watermark must pass it for a window to be woken.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.core.next_timer()
    }

    /// The earliest pending processing-time timer: processing time must pass it for a window to be
    /// woken. A runner that drives processing time from a clock schedules its next advance from this.
    pub fn next_processing_time_timer(&self) -> Option<Timestamp> {
        self.core.next_processing_time_timer()
    }

    /// Open (key, window) states.
    pub fn open_windows(&self) -> usize {
        self.core.open_windows()
    }

    /// The earliest start among the open (key, window) states (`None`: none is open). Every element with
    /// an earlier timestamp has left the state: fired for good, dropped as late, or never windowed.
    pub fn earliest_open_window_start(&self) -> Option<Timestamp> {
        self.core.earliest_open_window_start()
    }

    /// Record counts so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            merged_into_closed: self.core.stats().merged_into_closed,
            ..self.stats
        }
    }

    /// The definition this instance runs.
    pub fn pipeline(&self) -> &Pipeline<E, K, C, O> {
        &self.pipeline
    }

    fn dead_letter(&mut self, record: Record, reason: String, out: &mut Emitted<K, O>) {
        self.stats.dead_lettered += 1;
        out.dead_letters.push(DeadLetter {
            position: record.position,
            reason,
            payload: record.payload,
        });
    }

    fn drain_panes(&mut self, out: &mut Emitted<K, O>) {
        out.outputs.reserve(self.panes.len());
        for pane in self.panes.drain(..) {
            self.stats.panes += 1;
            let value = (self.pipeline.output)(&pane.key, &pane.window, &pane.info, pane.value);
            out.outputs.push(WindowOutput {
                key: pane.key,
                window: pane.window,
                pane: pane.info,
                value,
            });
        }
    }

    fn late_reason(&self, t: Timestamp, watermark: Watermark) -> String {
        let strategy = self.core.strategy();
        let mut windows = Vec::new();
        strategy.window_fn.assign_windows(t, &mut windows);
        let last = windows.iter().max_by_key(|w| w.end()).copied();
        match last {
            Some(w) => format!(
                "late: window {w} expired at end - 1ms + allowed lateness {} = {}, before the watermark {watermark}",
                strategy.allowed_lateness,
                strategy.gc_time(&w)
            ),
            None => format!("late: no window for event time {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combine::combine_fn;
    use crate::io::Position;
    use crate::window::FixedWindows;

    fn numbers() -> PipelineBuilder<i64> {
        Pipeline::builder(
            |b: &[u8]| {
                std::str::from_utf8(b)
                    .map_err(|e| e.to_string())?
                    .parse::<i64>()
                    .map_err(|e| e.to_string())
            },
            |n: &i64| Ok::<_, String>(Timestamp::from_millis(*n)),
        )
    }

    fn run<K, C, O>(pipeline: &Pipeline<i64, K, C, O>, inputs: &[&str]) -> (Emitted<K, O>, PipelineStats)
    where
        K: Clone + Ord + Hash,
        C: CombineFn + Clone,
    {
        let mut run = pipeline.start();
        let mut out = Emitted::default();
        for (i, text) in inputs.iter().enumerate() {
            run.process_bundle(vec![Record::new(*text, Position::Index { index: i as u64 })], &mut out);
        }
        run.advance_watermark(Watermark::MAX, &mut out);
        (out, run.stats())
    }

    #[test]
    fn filtered_events_are_counted_apart_and_never_reach_a_pane() {
        let evens = numbers()
            .filter(|n| n % 2 == 0)
            .filter(|n| *n != 4)
            .windows(FixedWindows::of(Duration::millis(10)))
            .key_by(|_| ())
            .count()
            .output(|_, _, _, n| n);
        let (out, stats) = run(&evens, &["1", "2", "3", "4", "6", "x"]);
        assert_eq!(out.outputs.iter().map(|o| o.value).collect::<Vec<_>>(), vec![2]);
        assert_eq!(
            (stats.read, stats.filtered, stats.counted, stats.dead_lettered),
            (6, 3, 2, 1)
        );
        assert!(stats.check_conservation().is_ok());
    }

    #[test]
    fn a_record_for_a_closed_window_is_reported_late_with_the_reason_and_counts_add_up() {
        use crate::trigger::AfterPane;
        let first_two = numbers()
            .windows(FixedWindows::of(Duration::millis(100)))
            .triggering(AfterPane::element_count_at_least(2))
            .key_by(|_| ())
            .count()
            .output(|_, _, pane, n| (pane.is_last, n));
        // 1 and 2 fire the only pane of [0, 100) and finish its trigger; 3 comes to a closed window.
        let (out, stats) = run(&first_two, &["1", "2", "3", "150"]);
        let values: Vec<(bool, u64)> = out.outputs.iter().map(|o| o.value).collect();
        assert_eq!(values, vec![(true, 2), (true, 1)]);
        assert_eq!(out.late.len(), 1);
        assert_eq!(out.late[0].position, Position::Index { index: 2 });
        assert!(
            out.late[0].reason.contains("closed window")
                && out.late[0].reason.contains("AfterPane.elementCountAtLeast(2)"),
            "{}",
            out.late[0].reason
        );
        assert_eq!((stats.dropped_closed, stats.dropped_late, stats.counted), (1, 1, 3));
        assert!(stats.check_conservation().is_ok(), "{stats:?}");
    }

    #[test]
    fn a_session_bundle_goes_to_the_core_whole_and_its_records_are_routed_in_order() {
        use crate::window::Sessions;
        let sessions = numbers()
            .windows(Sessions::with_gap_duration(Duration::millis(10)))
            .key_by(|_| ())
            .count()
            .output(|_, w, _, n| (*w, n));
        let mut run = sessions.start();
        let mut out = Emitted::default();
        let records = |texts: &[&str], first: u64| -> Vec<Record> {
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Record::new(
                        *t,
                        Position::Index {
                            index: first + i as u64,
                        },
                    )
                })
                .collect()
        };
        // [1, 11) and [5, 15) merge before either element is added: one session of two.
        run.process_bundle(records(&["1", "x", "5", "y"], 0), &mut out);
        run.advance_watermark(Watermark::MAX, &mut out);
        run.process_bundle(records(&["2", "z"], 4), &mut out);
        let at = Timestamp::from_millis;
        assert_eq!(
            out.outputs.iter().map(|o| o.value).collect::<Vec<_>>(),
            vec![(Window::new(at(1), at(15)), 2)]
        );
        let dead: Vec<Position> = out.dead_letters.iter().map(|d| d.position).collect();
        let index = |index| Position::Index { index };
        assert_eq!(dead, vec![index(1), index(3), index(5)]);
        assert_eq!(out.late.iter().map(|l| l.position).collect::<Vec<_>>(), vec![index(4)]);
        let stats = run.stats();
        assert_eq!(
            (stats.read, stats.counted, stats.dropped_late, stats.dead_lettered),
            (6, 2, 1, 3)
        );
        assert!(stats.check_conservation().is_ok(), "{stats:?}");
    }

    #[test]
    fn conservation_check_catches_a_lost_record() {
        let stats = PipelineStats {
            read: 3,
            parsed: 2,
            counted: 1,
            dead_lettered: 1,
            ..PipelineStats::default()
        };
        assert!(stats.check_conservation().unwrap_err().contains("records lost"));
    }

    #[test]
    fn a_pipeline_with_a_closure_combine_can_run() {
        let distinct = numbers()
            .windows(FixedWindows::of(Duration::millis(100)))
            .key_by(|_| ())
            .combine(
                |n: &i64| *n % 3,
                combine_fn(
                    std::collections::BTreeSet::new,
                    |acc: &mut std::collections::BTreeSet<i64>, x| {
                        acc.insert(x);
                    },
                    |acc, other| acc.extend(other),
                    |acc| acc.len(),
                ),
            )
            .output(|_, _, _, n| n);
        let (out, _) = run(&distinct, &["1", "4", "5", "7"]);
        assert_eq!(out.outputs[0].value, 2);
    }

    #[test]
    fn records_outside_the_element_range_are_dead_lettered_and_counts_add_up() {
        use crate::time::{END_OF_GLOBAL_WINDOW, TIMESTAMP_MAX_VALUE, TIMESTAMP_MIN_VALUE};
        use crate::window::SlidingWindows;
        let (min, max) = (TIMESTAMP_MIN_VALUE.millis(), TIMESTAMP_MAX_VALUE.millis());
        let inside = [min, END_OF_GLOBAL_WINDOW.millis(), max - 1];
        let outside = [i64::MIN, min - 1, max, i64::MAX - 1, i64::MAX];
        let texts: Vec<String> = outside.iter().chain(&inside).map(i64::to_string).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let fixed = numbers()
            .windows(FixedWindows::of(Duration::seconds(20)))
            .key_by(|_| ())
            .count()
            .output(|_, w, _, n| (*w, n));
        let sliding = numbers()
            .windows(SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)))
            .allowed_lateness(Duration::millis(i64::MAX))
            .key_by(|_| ())
            .count()
            .output(|_, w, _, n| (*w, n));
        for (out, stats) in [run(&fixed, &texts), run(&sliding, &texts)] {
            assert!(stats.check_conservation().is_ok(), "{stats:?}");
            assert_eq!((stats.dead_lettered, stats.counted), (5, 3), "{stats:?}");
            let reasons: Vec<&str> = out.dead_letters.iter().map(|d| d.reason.as_str()).collect();
            assert!(
                reasons[..2].iter().all(|r| r.contains("before the beginning of time")),
                "{reasons:?}"
            );
            assert!(
                reasons[2..].iter().all(|r| r.contains("not before the end of time")),
                "{reasons:?}"
            );
            for t in inside {
                let t = Timestamp::from_millis(t);
                assert!(out.outputs.iter().any(|o| o.value.0.contains(t)), "{t:?} in no pane");
            }
        }
        let mut instance = fixed.start();
        let summary = instance.process_bundle(
            vec![Record::new(i64::MAX.to_string(), Position::Index { index: 0 })],
            &mut Emitted::default(),
        );
        assert_eq!(
            summary.max_event_time, None,
            "a refused record must not move a bounded watermark"
        );
    }

    #[test]
    fn an_element_that_a_window_function_puts_in_no_window_is_dead_lettered() {
        #[derive(Debug)]
        struct OnlyEven;
        impl crate::window::WindowFn for OnlyEven {
            fn assign_windows(&self, t: Timestamp, out: &mut Vec<Window>) {
                if t.millis() % 2 == 0 {
                    out.push(Window::new(t, t.plus(Duration::millis(1))));
                }
            }
        }
        let evens = numbers()
            .windows(OnlyEven)
            .key_by(|_| ())
            .count()
            .output(|_, _, _, n| n);
        let (out, stats) = run(&evens, &["2", "3"]);
        assert!(stats.check_conservation().is_ok(), "{stats:?}");
        assert_eq!((stats.counted, stats.dead_lettered, stats.parsed), (1, 1, 1));
        assert!(
            out.dead_letters[0].reason.contains("assigned it to no window"),
            "{:?}",
            out.dead_letters
        );
    }
}
