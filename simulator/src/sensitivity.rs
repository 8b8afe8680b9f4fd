//! Arrival-order sensitivity: which windows' results depend on the order their records arrive in.
//!
//! [`explore_disorder`] replays one recording undisturbed, then under each seed of a range with the
//! seeded [`Disorder`](crate::disorder::Disorder) (reorder and late holds within the given bounds), and
//! compares every (key, window)'s panes — their values, timings and indices, in order — with the
//! undisturbed run's. A window whose panes differ under some seed is reported with the smallest such
//! seed, the panes that seed gives, how many seeds change it, and how much allowed lateness would have
//! kept every record of it: the largest `watermark − (end − 1 ms)` over the records dropped late from it
//! (in the undisturbed run or any run that changes it). A window that changes without losing a record
//! (its panes split differently) is reported as such: no lateness fixes that. This module owns the
//! exploration and its report's data; the `simulate` binary prints it (`--explore-disorder N`).

use std::collections::BTreeMap;
use std::hash::Hash;
use std::ops::Range;

use formats::output::OutputLines;
use pipeline::combine::CombineFn;
use pipeline::io::memory::MemorySink;
use pipeline::io::{DeadLetter, LateRecord, Sink, SinkError, Source, SourceError, Step};
use pipeline::time::{Duration, Watermark};
use pipeline::watermark::WatermarkStrategy;
use pipeline::window::Window;
use pipeline::{Pipeline, ProcessingTimeRule, WindowOutput};
use serde::Serialize;

use crate::disorder::DisorderOptions;
use crate::run::{simulate, SimulationError, SimulationOptions, Sinks};

/// How to explore.
#[derive(Debug, Clone, PartialEq)]
pub struct ExploreOptions {
    /// The seeds to try, in order; the first that changes a window is reported for it.
    pub seeds: Range<u64>,
    /// The disorder bounds every seed draws within (its `seed` is replaced by each seed in turn).
    pub disorder: DisorderOptions,
    /// Where the watermark comes from, in every run.
    pub watermark: WatermarkStrategy,
}

/// A window whose result depends on arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowChange<K> {
    /// The key.
    pub key: K,
    /// The window (for sessions, as the undisturbed run formed it, or the seed's when it has none).
    pub window: Window,
    /// Its panes in the undisturbed run, one output line each (with pane timing and index).
    pub undisturbed: Vec<String>,
    /// The smallest seed under which its panes differ.
    pub first_seed: u64,
    /// Its panes under that seed.
    pub disturbed: Vec<String>,
    /// How many of the explored seeds change it.
    pub seeds_changing: u64,
    /// The allowed lateness that keeps every record of it in every explored order that changes it
    /// (and the undisturbed one); `None` when no record of it was dropped late: its panes split
    /// differently, which no lateness changes.
    pub lateness_fix: Option<Duration>,
}

/// What an exploration found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exploration<K> {
    /// Seeds run.
    pub runs: u64,
    /// (key, window)s of the undisturbed run.
    pub windows: usize,
    /// The windows whose panes changed under some seed, by window end, start, then key.
    pub changes: Vec<WindowChange<K>>,
}

/// Why an exploration stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExploreError {
    /// A run failed (cannot happen with the in-memory sinks used here, but a source can).
    #[error(transparent)]
    Simulation(#[from] SimulationError),
}

/// Panes of one run by (window, key), as output lines.
type Panes<K> = BTreeMap<(Window, K), Vec<String>>;

/// A record dropped late: its key, the windows it was dropped from and the watermark then.
struct LateDrop<K> {
    key: K,
    windows: Vec<Window>,
    watermark: Watermark,
}

/// Collects a run's panes as output lines, by window and key.
struct PaneCollector<K> {
    panes: Panes<K>,
}

impl<K: Ord + Clone, O: Serialize> Sink<WindowOutput<K, O>> for PaneCollector<K> {
    fn write(&mut self, item: &WindowOutput<K, O>) -> Result<(), SinkError> {
        let mut lines = OutputLines::new(Vec::new(), "panes", true);
        lines.write(item)?;
        let mut text = String::from_utf8(lines.into_inner()).map_err(|e| SinkError::Serialize(e.to_string()))?;
        text.truncate(text.trim_end().len());
        self.panes
            .entry((item.window, item.key.clone()))
            .or_default()
            .push(text);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A recording held in memory, replayed once per run.
struct Replay<'a> {
    steps: std::slice::Iter<'a, Step>,
}

impl Source for Replay<'_> {
    fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        Ok(self.steps.next().cloned())
    }
}

/// Runs `pipeline` over `steps` (a recording's records, in file order) undisturbed, then under every
/// seed of `options.seeds`; see the module docs.
pub fn explore_disorder<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    steps: &[Step],
    options: &ExploreOptions,
) -> Result<Exploration<K>, ExploreError>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: Serialize,
{
    let merging = pipeline.strategy().window_fn.is_merging();
    let (baseline, baseline_drops) = run_once(pipeline, steps, options, None)?;
    let mut changes: BTreeMap<(Window, K), WindowChange<K>> = BTreeMap::new();
    let mut runs = 0;
    for seed in options.seeds.clone() {
        runs += 1;
        let disorder = DisorderOptions {
            seed,
            ..options.disorder
        };
        let (panes, drops) = run_once(pipeline, steps, options, Some(disorder))?;
        let keys: std::collections::BTreeSet<&(Window, K)> = baseline.keys().chain(panes.keys()).collect();
        for id in keys {
            let before = baseline.get(id).map_or(&[][..], Vec::as_slice);
            let after = panes.get(id).map_or(&[][..], Vec::as_slice);
            if before == after {
                continue;
            }
            let (window, key) = id;
            let needed = [
                lateness_needed(merging, &baseline_drops, key, window),
                lateness_needed(merging, &drops, key, window),
            ]
            .into_iter()
            .flatten()
            .max();
            let change = changes.entry(id.clone()).or_insert_with(|| WindowChange {
                key: key.clone(),
                window: *window,
                undisturbed: before.to_vec(),
                first_seed: seed,
                disturbed: after.to_vec(),
                seeds_changing: 0,
                lateness_fix: None,
            });
            change.seeds_changing += 1;
            change.lateness_fix = change.lateness_fix.max(needed);
        }
    }
    let mut changes: Vec<WindowChange<K>> = changes.into_values().collect();
    changes.sort_by(|a, b| (a.window.end(), a.window.start(), &a.key).cmp(&(b.window.end(), b.window.start(), &b.key)));
    Ok(Exploration {
        runs,
        windows: baseline.len(),
        changes,
    })
}

/// One run: its panes and the records it dropped late (decoded again for their key and windows).
fn run_once<E, K, C, O>(
    pipeline: &Pipeline<E, K, C, O>,
    steps: &[Step],
    options: &ExploreOptions,
    disorder: Option<DisorderOptions>,
) -> Result<(Panes<K>, Vec<LateDrop<K>>), ExploreError>
where
    K: Clone + Ord + Hash,
    C: CombineFn + Clone,
    O: Serialize,
{
    let mut outputs = PaneCollector { panes: BTreeMap::new() };
    let mut late: MemorySink<LateRecord> = MemorySink::default();
    let mut dead: MemorySink<DeadLetter> = MemorySink::default();
    let simulation = SimulationOptions {
        watermark: options.watermark,
        disorder,
        processing_time: ProcessingTimeRule::FollowsEventTime,
        ..SimulationOptions::default()
    };
    let sinks = Sinks {
        outputs: &mut outputs,
        late: &mut late,
        dead_letters: &mut dead,
    };
    let mut source = Replay { steps: steps.iter() };
    simulate(pipeline, &mut source, &simulation, sinks, &mut |_| {})?;
    let window_fn = &pipeline.strategy().window_fn;
    let drops = late
        .items
        .into_iter()
        // A closed window (a finished trigger) drops records whatever the lateness.
        .filter(|l| !l.reason.starts_with("closed window"))
        .filter_map(|l| {
            let (event, t) = pipeline.decode(&l.payload).ok()?;
            let mut windows = Vec::new();
            window_fn.assign_windows(t, &mut windows);
            Some(LateDrop {
                key: pipeline.key_of(&event),
                windows,
                watermark: l.watermark,
            })
        })
        .collect();
    Ok((outputs.panes, drops))
}

/// The lateness that would have kept the records of `key` dropped late from `window`: for each, the
/// watermark then minus the max timestamp of the window it was dropped from (its session's proto-window
/// with sessions, matched by overlap). `None` when none was dropped.
fn lateness_needed<K: PartialEq>(merging: bool, drops: &[LateDrop<K>], key: &K, window: &Window) -> Option<Duration> {
    drops
        .iter()
        .filter(|d| d.key == *key)
        .flat_map(|d| d.windows.iter().map(move |w| (w, d.watermark)))
        .filter(|(w, _)| if merging { w.intersects(window) } else { *w == window })
        .map(|(w, watermark)| {
            // Expired when max_timestamp + lateness < watermark: kept from watermark − max_timestamp on.
            let behind = watermark
                .timestamp()
                .millis()
                .saturating_sub(w.max_timestamp().millis());
            Duration::millis(behind.max(0))
        })
        .max()
}
