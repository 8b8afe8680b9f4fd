//! Pane-aware assertions in the spirit of Beam's `PAssert`, and [`TestPipeline`], the harness that runs
//! them.
//!
//! As in Beam, assertions are declared on a pipeline's output before it runs and checked when it runs:
//! [`TestPipeline::apply`] gives a deferred [`PCollection`], [`assert_that`] declares what its panes must
//! hold, [`TestPipeline::run`] runs every applied [`TestStream`] and checks every assertion, and fails
//! with one report listing each failure: expected and actual values, then every pane of the windows
//! concerned with its timing and index, the script step that fired it and the watermark at that moment.
//! A `TestPipeline` dropped with assertions that never ran panics (Beam's "PAssert actually ran" guard),
//! so a forgotten `run()` cannot pass silently. An assertion declared after its collection ran is checked
//! at once.
//!
//! Selecting panes follows Beam: [`in_window`](PaneAssert::in_window) takes every pane of a window,
//! [`in_on_time_pane`](PaneAssert::in_on_time_pane), [`in_late_pane`](PaneAssert::in_late_pane) and
//! [`in_early_pane`](PaneAssert::in_early_pane) the panes of that timing, and
//! [`in_final_pane`](PaneAssert::in_final_pane) the pane after which the window's state was dropped
//! (`is_last`). Without a selection, every pane of the collection counts.

use std::cell::{Ref, RefCell};
use std::fmt::{self, Debug, Write};
use std::hash::Hash;

use pipeline::combine::CombineFn;
use pipeline::pane::PaneTiming;
use pipeline::window::Window;
use pipeline::Pipeline;

use crate::run::{ElementFate, FiredPane, TestOutput};
use crate::stream::{ScriptError, TestStream};

type RunFn<K, O> = Box<dyn Fn(&TestStream) -> Result<TestOutput<K, O>, ScriptError>>;
type CheckFn<K, O> = Box<dyn Fn(&TestOutput<K, O>) -> Result<(), String>>;

/// The harness: one pipeline, the streams applied to it, and the assertions declared on their outputs.
///
/// ```
/// use testkit::{assert_that, page_views, visit, window, TestPipeline, TestStream};
/// use pipeline::traffic::{traffic_pipeline, TrafficConfig};
///
/// let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
/// let output = p.apply(TestStream::new().add_elements([visit("alice", "2024-04-28T23:12:41")]));
/// let w = window("2024-04-28T23:12:40", "2024-04-28T23:13:00");
/// assert_that(&output).in_on_time_pane(w).contains_in_any_order([page_views("alice", w, 1)]);
/// p.run();
/// assert_eq!(output.output().panes.len(), 1);
/// ```
pub struct TestPipeline<K, O> {
    run: RunFn<K, O>,
    collections: RefCell<Vec<Collection<K, O>>>,
}

struct Collection<K, O> {
    stream: TestStream,
    output: Option<TestOutput<K, O>>,
    pending: Vec<(String, CheckFn<K, O>)>,
}

/// The output of one [`TestStream`] applied to a [`TestPipeline`]: deferred until the pipeline runs.
pub struct PCollection<'p, K, O> {
    pipeline: &'p TestPipeline<K, O>,
    index: usize,
}

impl<K, O> Clone for PCollection<'_, K, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, O> Copy for PCollection<'_, K, O> {}

impl<K: 'static, O: 'static> TestPipeline<K, O> {
    /// A harness for `pipeline`. Each applied stream runs against a fresh instance of it.
    pub fn new<E, C>(pipeline: Pipeline<E, K, C, O>) -> TestPipeline<K, O>
    where
        E: 'static,
        K: Clone + Ord + Hash,
        C: CombineFn + Clone + 'static,
    {
        TestPipeline {
            run: Box::new(move |stream| stream.run(&pipeline)),
            collections: RefCell::new(Vec::new()),
        }
    }

    /// Feeds `stream` to the pipeline (when [`run`](Self::run) is called) and returns its output.
    pub fn apply(&self, stream: TestStream) -> PCollection<'_, K, O> {
        let mut collections = self.collections.borrow_mut();
        collections.push(Collection {
            stream,
            output: None,
            pending: Vec::new(),
        });
        PCollection {
            pipeline: self,
            index: collections.len() - 1,
        }
    }

    /// Runs every applied stream that has not run yet and checks every assertion declared on its
    /// output. Panics with a report of every failure, or when a stream breaks a script rule.
    #[track_caller]
    pub fn run(&self) {
        let mut failures = Vec::new();
        let mut checked = 0;
        let mut collections = self.collections.borrow_mut();
        for (i, collection) in collections.iter_mut().enumerate() {
            if collection.output.is_some() {
                continue;
            }
            let pending = std::mem::take(&mut collection.pending);
            match (self.run)(&collection.stream) {
                Ok(output) => {
                    for (_, check) in &pending {
                        checked += 1;
                        if let Err(report) = check(&output) {
                            failures.push(report);
                        }
                    }
                    collection.output = Some(output);
                }
                Err(e) => failures.push(format!("{}: the TestStream is invalid: {e}", name(i))),
            }
        }
        drop(collections);
        if !failures.is_empty() {
            panic!(
                "TestPipeline: {} of {checked} assertion(s) failed or could not run\n\n{}",
                failures.len(),
                failures.join("\n\n")
            );
        }
    }

    #[track_caller]
    fn declare(&self, index: usize, description: String, check: CheckFn<K, O>) {
        let mut collections = self.collections.borrow_mut();
        let collection = &mut collections[index];
        match &collection.output {
            // Declared after its collection ran: check now, as Beam would have at run time.
            Some(output) => {
                if let Err(report) = check(output) {
                    drop(collections);
                    panic!("{report}");
                }
            }
            None => collection.pending.push((description, check)),
        }
    }
}

impl<K, O> Drop for TestPipeline<K, O> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let never_ran: Vec<&str> = self
            .collections
            .get_mut()
            .iter()
            .flat_map(|c| c.pending.iter().map(|(description, _)| description.as_str()))
            .collect();
        if !never_ran.is_empty() {
            panic!(
                "TestPipeline dropped with {} assertion(s) that never ran; call .run() after declaring them:\n  {}",
                never_ran.len(),
                never_ran.join("\n  ")
            );
        }
    }
}

impl<'p, K, O> PCollection<'p, K, O> {
    /// What the run produced. Panics before [`TestPipeline::run`].
    pub fn output(&self) -> Ref<'p, TestOutput<K, O>> {
        let index = self.index;
        Ref::map(self.pipeline.collections.borrow(), |c| {
            c[index]
                .output
                .as_ref()
                .expect("this PCollection has not run yet: call TestPipeline::run first")
        })
    }
}

/// Starts an assertion about `collection`'s panes: Beam's `PAssert.that`.
pub fn assert_that<'p, K, O>(collection: &PCollection<'p, K, O>) -> PaneAssert<'p, K, O> {
    PaneAssert {
        collection: *collection,
        panes: Panes::All,
    }
}

/// An assertion being declared: choose panes, then end with one check.
#[must_use = "an assertion is only declared once it ends with contains_in_any_order, is_empty or satisfies"]
pub struct PaneAssert<'p, K, O> {
    collection: PCollection<'p, K, O>,
    panes: Panes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panes {
    All,
    Window(Window),
    OnTime(Window),
    Late(Window),
    Early(Window),
    Final(Window),
}

impl Panes {
    fn window(self) -> Option<Window> {
        match self {
            Panes::All => None,
            Panes::Window(w) | Panes::OnTime(w) | Panes::Late(w) | Panes::Early(w) | Panes::Final(w) => Some(w),
        }
    }

    fn selects<K, O>(self, p: &FiredPane<K, O>) -> bool {
        let timing = p.pane.timing;
        match self {
            Panes::All => true,
            Panes::Window(w) => p.window == w,
            Panes::OnTime(w) => p.window == w && timing == PaneTiming::OnTime,
            Panes::Late(w) => p.window == w && timing == PaneTiming::Late,
            Panes::Early(w) => p.window == w && timing == PaneTiming::Early,
            Panes::Final(w) => p.window == w && p.pane.is_last,
        }
    }
}

impl fmt::Display for Panes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Panes::All => Ok(()),
            Panes::Window(w) => write!(f, ".in_window({w})"),
            Panes::OnTime(w) => write!(f, ".in_on_time_pane({w})"),
            Panes::Late(w) => write!(f, ".in_late_pane({w})"),
            Panes::Early(w) => write!(f, ".in_early_pane({w})"),
            Panes::Final(w) => write!(f, ".in_final_pane({w})"),
        }
    }
}

/// What a [`PaneAssert::satisfies`] check returns: `true`/`false`, or `Ok(())`/`Err(why)`.
pub trait Verdict {
    /// `Ok` when the check passed, the reason otherwise.
    fn into_verdict(self) -> Result<(), String>;
}

impl Verdict for bool {
    fn into_verdict(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("the check returned false".to_owned())
        }
    }
}

impl<E: fmt::Display> Verdict for Result<(), E> {
    fn into_verdict(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

impl<'p, K, O> PaneAssert<'p, K, O>
where
    K: Debug + 'static,
    O: Debug + 'static,
{
    /// Every pane of `window`, whatever its timing (Beam's `inWindow`).
    pub fn in_window(self, window: Window) -> Self {
        self.select(Panes::Window(window))
    }

    /// The on-time pane of `window`: fired when the watermark reached its end (Beam's `inOnTimePane`).
    pub fn in_on_time_pane(self, window: Window) -> Self {
        self.select(Panes::OnTime(window))
    }

    /// Every late pane of `window` (Beam's `inLatePane`).
    pub fn in_late_pane(self, window: Window) -> Self {
        self.select(Panes::Late(window))
    }

    /// Every early pane of `window` (Beam's `inEarlyPane`); none with the default trigger.
    pub fn in_early_pane(self, window: Window) -> Self {
        self.select(Panes::Early(window))
    }

    /// The final pane of `window`: the one after which its state was dropped (`is_last`, Beam's
    /// `inFinalPane`). With allowed lateness the on-time pane is final only when the watermark passed
    /// `end − 1 ms + allowed lateness` at once.
    pub fn in_final_pane(self, window: Window) -> Self {
        self.select(Panes::Final(window))
    }

    /// Checks that the selected panes hold exactly `expected`, in any order (Beam's
    /// `containsInAnyOrder`).
    #[track_caller]
    pub fn contains_in_any_order(self, expected: impl IntoIterator<Item = O>)
    where
        O: PartialEq,
    {
        let expected: Vec<O> = expected.into_iter().collect();
        let panes = self.panes;
        let description = self.describe("contains_in_any_order(..)");
        let header = description.clone();
        self.declare(
            description,
            Box::new(move |output| {
                let actual: Vec<&O> = output
                    .panes
                    .iter()
                    .filter(|p| panes.selects(p))
                    .map(|p| &p.value)
                    .collect();
                let mut unexpected = actual.clone();
                let mut missing = Vec::new();
                for e in &expected {
                    match unexpected.iter().position(|a| *a == e) {
                        Some(i) => {
                            unexpected.remove(i);
                        }
                        None => missing.push(e),
                    }
                }
                if missing.is_empty() && unexpected.is_empty() {
                    return Ok(());
                }
                let mut why = String::new();
                list(&mut why, "expected, in any order", expected.iter());
                list(&mut why, "actual", actual.iter());
                list(&mut why, "missing", missing.iter());
                list(&mut why, "unexpected", unexpected.iter());
                Err(report(&header, &why, output, panes))
            }),
        );
    }

    /// Checks that no value is in the selected panes.
    #[track_caller]
    pub fn is_empty(self) {
        let panes = self.panes;
        let description = self.describe("is_empty()");
        let header = description.clone();
        self.declare(
            description,
            Box::new(move |output| {
                let actual: Vec<&O> = output
                    .panes
                    .iter()
                    .filter(|p| panes.selects(p))
                    .map(|p| &p.value)
                    .collect();
                if actual.is_empty() {
                    return Ok(());
                }
                let mut why = String::new();
                list(&mut why, "expected", std::iter::empty::<&O>());
                list(&mut why, "actual", actual.iter());
                Err(report(&header, &why, output, panes))
            }),
        );
    }

    /// Checks the selected panes (with their pane info, step and watermark) with `check`, which returns
    /// a `bool` or a `Result<(), impl Display>` (Beam's `satisfies`).
    #[track_caller]
    pub fn satisfies<F, V>(self, check: F)
    where
        F: Fn(&[&FiredPane<K, O>]) -> V + 'static,
        V: Verdict,
    {
        let panes = self.panes;
        let description = self.describe("satisfies(..)");
        let header = description.clone();
        self.declare(
            description,
            Box::new(move |output| {
                let selected: Vec<&FiredPane<K, O>> = output.panes.iter().filter(|p| panes.selects(p)).collect();
                check(&selected)
                    .into_verdict()
                    .map_err(|why| report(&header, &format!("  {why}\n"), output, panes))
            }),
        );
    }

    fn select(mut self, panes: Panes) -> Self {
        self.panes = panes;
        self
    }

    fn describe(&self, check: &str) -> String {
        format!("assert_that({}){}.{check}", name(self.collection.index), self.panes)
    }

    #[track_caller]
    fn declare(self, description: String, check: CheckFn<K, O>) {
        self.collection
            .pipeline
            .declare(self.collection.index, description, check);
    }
}

fn name(index: usize) -> String {
    match index {
        0 => "output".to_owned(),
        i => format!("output #{}", i + 1),
    }
}

fn list<T: Debug>(out: &mut String, title: &str, items: impl Iterator<Item = T>) {
    let items: Vec<String> = items.map(|v| format!("    {v:?}")).collect();
    if items.is_empty() {
        let _ = writeln!(out, "  {title}: (nothing)");
    } else {
        let _ = writeln!(out, "  {title}:\n{}", items.join("\n"));
    }
}

/// The failure report: the assertion, why it failed, then every pane of the windows concerned, with
/// the step that fired it and the watermark at that moment, and the window's elements dropped as late.
fn report<K: Debug, O: Debug>(header: &str, why: &str, output: &TestOutput<K, O>, panes: Panes) -> String {
    let mut out = format!("{header} failed\n{why}");
    let windows: Vec<Window> = match panes.window() {
        Some(w) => vec![w],
        None => {
            let mut all: Vec<Window> = output.panes.iter().map(|p| p.window).collect();
            all.sort();
            all.dedup();
            all
        }
    };
    for window in &windows {
        let in_window: Vec<&FiredPane<K, O>> = output.panes_in(*window).collect();
        if in_window.is_empty() {
            let _ = writeln!(out, "  no pane fired for window {window}");
        } else {
            let _ = writeln!(out, "  panes of window {window} (* = selected by the assertion):");
        }
        for p in in_window {
            let mark = if panes.selects(p) { '*' } else { ' ' };
            let last = if p.pane.is_last { ", final" } else { "" };
            let _ = writeln!(
                out,
                "  {mark} {} pane {}{last}, key {:?}: {:?}\n        fired by {}, watermark {}",
                p.pane.timing,
                p.pane.index,
                p.key,
                p.value,
                output.step(p.step),
                p.watermark
            );
        }
        for step in &output.steps {
            for e in step.elements.iter().filter(|e| e.fate == ElementFate::DroppedLate) {
                if e.event_time.is_some_and(|t| window.contains(t)) {
                    let _ = writeln!(
                        out,
                        "    element {} (key {:?}, event time {}) of this window was dropped as late at {}, \
                         watermark {}",
                        e.index,
                        e.key.as_ref().expect("a late element decoded"),
                        e.event_time.expect("checked above"),
                        step,
                        step.watermark_before
                    );
                }
            }
        }
    }
    if panes.window().is_some() {
        let mut others: Vec<Window> = output
            .panes
            .iter()
            .map(|p| p.window)
            .filter(|w| !windows.contains(w))
            .collect();
        others.sort();
        others.dedup();
        if !others.is_empty() {
            let others: Vec<String> = others.iter().map(Window::to_string).collect();
            let _ = writeln!(out, "  other windows with panes: {}", others.join(", "));
        }
    }
    out
}
