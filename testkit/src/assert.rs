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
//! Selecting panes follows Beam's `PAssert`: [`in_window`](PaneAssert::in_window) takes every pane of a
//! window ([`in_global_window`](PaneAssert::in_global_window) of the global one),
//! [`in_on_time_pane`](PaneAssert::in_on_time_pane), [`in_late_pane`](PaneAssert::in_late_pane) and
//! [`in_early_pane`](PaneAssert::in_early_pane) the panes of that timing,
//! [`in_combined_non_late_panes`](PaneAssert::in_combined_non_late_panes) the early and on-time ones,
//! [`in_early_global_window_panes`](PaneAssert::in_early_global_window_panes) the early panes of the
//! global window, [`in_final_pane`](PaneAssert::in_final_pane) the pane after which the window's state
//! was dropped (`is_last`) and [`in_only_pane`](PaneAssert::in_only_pane) a window's one pane, failing
//! when its trigger fired more than once. Without a selection, every pane of the collection counts.
//!
//! The values checked are the panes' values, or what [`map`](PaneAssert::map),
//! [`flat_map`](PaneAssert::flat_map) or [`flatten`](PaneAssert::flatten) make of them: with a `ToList`
//! combine (Beam's `GroupByKey` values), `flatten()` checks the elements themselves, as Beam's tests do
//! after `Values.create()` and `Flatten.iterables()`. The checks are Beam's:
//! [`contains_in_any_order`](PaneAssert::contains_in_any_order), [`is_empty`](PaneAssert::is_empty),
//! [`is_equal_to`](PaneAssert::is_equal_to) and [`not_equal_to`](PaneAssert::not_equal_to) (one value,
//! `thatSingleton`), [`values_satisfy`](PaneAssert::values_satisfy) (a function of the values) and
//! [`satisfies`](PaneAssert::satisfies) (a function of the panes, with their pane info, step and
//! watermark).

use std::cell::{Ref, RefCell};
use std::fmt::{self, Debug, Write};
use std::hash::Hash;
use std::ops::Deref;
use std::rc::Rc;

use pipeline::combine::CombineFn;
use pipeline::pane::PaneTiming;
use pipeline::window::Window;
use pipeline::Pipeline;

use crate::run::{ElementFate, ElementOutcome, FiredPane, TestOutput};
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
pub fn assert_that<'p, K: 'static, O: 'static>(collection: &PCollection<'p, K, O>) -> PaneAssert<'p, K, O> {
    PaneAssert {
        collection: *collection,
        panes: Panes::All,
        project: Rc::new(each_value::<K, O>),
        projection: String::new(),
    }
}

/// An assertion being declared: choose panes, optionally project their values, then end with one check.
/// `T` is the type of the values checked: the pipeline's output `O` until [`map`](Self::map),
/// [`flat_map`](Self::flat_map) or [`flatten`](Self::flatten) projects them.
#[must_use = "an assertion is only declared once it ends with a check such as contains_in_any_order or is_empty"]
pub struct PaneAssert<'p, K, O, T = O> {
    collection: PCollection<'p, K, O>,
    panes: Panes,
    project: Projection<K, O, T>,
    /// The projection in the builder's words, for the assertion's description: `.flatten()`.
    projection: String,
}

/// Turns one selected pane into the values an assertion checks.
type Projection<K, O, T> = Rc<dyn for<'a> Fn(&'a FiredPane<K, O>) -> Vec<Projected<'a, T>>>;

/// A value to check: the pane's own value, or one a projection made.
enum Projected<'a, T> {
    Borrowed(&'a T),
    Owned(T),
}

impl<T> Deref for Projected<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Projected::Borrowed(t) => t,
            Projected::Owned(t) => t,
        }
    }
}

impl<T: Debug> Debug for Projected<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

fn each_value<K, O>(pane: &FiredPane<K, O>) -> Vec<Projected<'_, O>> {
    vec![Projected::Borrowed(&pane.value)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panes {
    All,
    Window(Window),
    Global,
    OnTime(Window),
    Late(Window),
    Early(Window),
    EarlyGlobal,
    NonLate(Window),
    Final(Window),
    Only(Window),
}

impl Panes {
    fn window(self) -> Option<Window> {
        match self {
            Panes::All => None,
            Panes::Global | Panes::EarlyGlobal => Some(Window::global()),
            Panes::Window(w)
            | Panes::OnTime(w)
            | Panes::Late(w)
            | Panes::Early(w)
            | Panes::NonLate(w)
            | Panes::Final(w)
            | Panes::Only(w) => Some(w),
        }
    }

    fn selects<K, O>(self, p: &FiredPane<K, O>) -> bool {
        if self.window().is_some_and(|w| w != p.window) {
            return false;
        }
        let timing = p.pane.timing;
        match self {
            Panes::All | Panes::Window(_) | Panes::Global | Panes::Only(_) => true,
            Panes::OnTime(_) => timing == PaneTiming::OnTime,
            Panes::Late(_) => timing == PaneTiming::Late,
            Panes::Early(_) | Panes::EarlyGlobal => timing == PaneTiming::Early,
            Panes::NonLate(_) => timing != PaneTiming::Late,
            Panes::Final(_) => p.pane.is_last,
        }
    }

    /// The selected panes, in firing order; for `in_only_pane`, an error when a pane of the window is
    /// not both its first and its last (Beam: "a trigger that fires at most once").
    fn select<K: Debug, O: Debug>(self, output: &TestOutput<K, O>) -> Result<Vec<&FiredPane<K, O>>, String> {
        let selected: Vec<&FiredPane<K, O>> = output.panes.iter().filter(|p| self.selects(p)).collect();
        if let Panes::Only(_) = self {
            if let Some(p) = selected.iter().find(|p| !(p.pane.is_first && p.pane.is_last)) {
                let which = if p.pane.is_first {
                    "not the last pane"
                } else {
                    "not the first pane"
                };
                return Err(format!(
                    "  expected the window's values from a trigger that fires at most once, but {:?} (key {:?}) \
                     is in a pane that is {which} ({} pane {})\n",
                    p.value, p.key, p.pane.timing, p.pane.index
                ));
            }
        }
        Ok(selected)
    }
}

impl fmt::Display for Panes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Panes::All => Ok(()),
            Panes::Window(w) => write!(f, ".in_window({w})"),
            Panes::Global => write!(f, ".in_global_window()"),
            Panes::OnTime(w) => write!(f, ".in_on_time_pane({w})"),
            Panes::Late(w) => write!(f, ".in_late_pane({w})"),
            Panes::Early(w) => write!(f, ".in_early_pane({w})"),
            Panes::EarlyGlobal => write!(f, ".in_early_global_window_panes()"),
            Panes::NonLate(w) => write!(f, ".in_combined_non_late_panes({w})"),
            Panes::Final(w) => write!(f, ".in_final_pane({w})"),
            Panes::Only(w) => write!(f, ".in_only_pane({w})"),
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

impl<'p, K, O, T> PaneAssert<'p, K, O, T>
where
    K: Debug + 'static,
    O: Debug + 'static,
    T: Debug + 'static,
{
    /// Every pane of `window`, whatever its timing (Beam's `inWindow`).
    pub fn in_window(self, window: Window) -> Self {
        self.select(Panes::Window(window))
    }

    /// Every pane of the global window (Beam's `inWindow(GlobalWindow.INSTANCE)`), for pipelines
    /// windowed with `GlobalWindows`.
    pub fn in_global_window(self) -> Self {
        self.select(Panes::Global)
    }

    /// The on-time pane of `window`: fired when the watermark reached its end (Beam's `inOnTimePane`).
    pub fn in_on_time_pane(self, window: Window) -> Self {
        self.select(Panes::OnTime(window))
    }

    /// Every late pane of `window` (Beam's `inLatePane`).
    pub fn in_late_pane(self, window: Window) -> Self {
        self.select(Panes::Late(window))
    }

    /// Every early pane of `window`: speculative panes fired before the watermark reached its end, by
    /// a trigger's early firings (Beam's `inEarlyPane`). The default trigger fires none.
    pub fn in_early_pane(self, window: Window) -> Self {
        self.select(Panes::Early(window))
    }

    /// Every early pane of the global window: the panes fired before the end of input (Beam's
    /// `inEarlyGlobalWindowPanes`).
    pub fn in_early_global_window_panes(self) -> Self {
        self.select(Panes::EarlyGlobal)
    }

    /// Every pane of `window` that is not late: its early panes and its on-time pane, together (Beam's
    /// `inCombinedNonLatePanes`). With discarding panes they hold every element that arrived in time.
    pub fn in_combined_non_late_panes(self, window: Window) -> Self {
        self.select(Panes::NonLate(window))
    }

    /// The final pane of `window`: the one after which its state was dropped (`is_last`, Beam's
    /// `inFinalPane`). With allowed lateness and the default `ClosingBehavior::FireIfNonEmpty`, a window
    /// whose last pane came before its expiry has none; `FireAlways` makes one fire at the expiry.
    pub fn in_final_pane(self, window: Window) -> Self {
        self.select(Panes::Final(window))
    }

    /// The only pane of `window` (Beam's `PAssert.thatSingleton(..).inOnlyPane`): the check fails when
    /// the window has a pane that is not both its first and its last, that is when its trigger fired
    /// more than once.
    pub fn in_only_pane(self, window: Window) -> Self {
        self.select(Panes::Only(window))
    }

    /// Checks `f(value)` instead of each value, for example an aggregate projected to `(id, count)`.
    ///
    /// ```
    /// use pipeline::traffic::{traffic_pipeline, TrafficConfig};
    /// use testkit::{assert_that, visit, TestPipeline, TestStream};
    ///
    /// let p = TestPipeline::new(traffic_pipeline(TrafficConfig::default()));
    /// let output = p.apply(TestStream::new().add_elements([visit("alice", "2024-04-28T23:12:41")]));
    /// assert_that(&output).map(|agg| (agg.id.clone(), agg.page_views)).contains_in_any_order([("alice".to_owned(), 1)]);
    /// p.run();
    /// ```
    pub fn map<U, F>(self, f: F) -> PaneAssert<'p, K, O, U>
    where
        F: Fn(&T) -> U + 'static,
    {
        self.flat_map_described(".map(..)", move |t| [f(t)])
    }

    /// Checks the values `f(value)` yields for each value instead of the value.
    pub fn flat_map<U, I, F>(self, f: F) -> PaneAssert<'p, K, O, U>
    where
        F: Fn(&T) -> I + 'static,
        I: IntoIterator<Item = U>,
    {
        self.flat_map_described(".flat_map(..)", f)
    }

    /// Checks the items of each value instead of the value: with `ToList` (Beam's `GroupByKey`
    /// values), the elements of the selected panes, as Beam's `Values.create()` followed by
    /// `Flatten.iterables()` gives them.
    pub fn flatten(self) -> PaneAssert<'p, K, O, T::Item>
    where
        T: Clone + IntoIterator,
    {
        self.flat_map_described(".flatten()", T::clone)
    }

    /// Checks that the selected values are exactly `expected`, in any order (Beam's
    /// `containsInAnyOrder`).
    #[track_caller]
    pub fn contains_in_any_order(self, expected: impl IntoIterator<Item = T>)
    where
        T: PartialEq,
    {
        let expected: Vec<T> = expected.into_iter().collect();
        self.check("contains_in_any_order(..)", move |actual| {
            let mut unexpected: Vec<&T> = actual.to_vec();
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
            Err(why)
        });
    }

    /// Checks that no value is selected (Beam's `empty`).
    #[track_caller]
    pub fn is_empty(self) {
        self.check("is_empty()", |actual| {
            if actual.is_empty() {
                return Ok(());
            }
            let mut why = String::new();
            list(&mut why, "expected", std::iter::empty::<&T>());
            list(&mut why, "actual", actual.iter());
            Err(why)
        });
    }

    /// Checks that exactly one value is selected and that it equals `expected` (Beam's
    /// `PAssert.thatSingleton(..).isEqualTo`).
    #[track_caller]
    pub fn is_equal_to(self, expected: T)
    where
        T: PartialEq,
    {
        self.check("is_equal_to(..)", move |actual| match actual {
            [one] if **one == expected => Ok(()),
            _ => Err(singleton_report(
                "expected exactly one value, equal to",
                &expected,
                actual,
            )),
        });
    }

    /// Checks that exactly one value is selected and that it differs from `unexpected` (Beam's
    /// `PAssert.thatSingleton(..).notEqualTo`).
    #[track_caller]
    pub fn not_equal_to(self, unexpected: T)
    where
        T: PartialEq,
    {
        self.check("not_equal_to(..)", move |actual| match actual {
            [one] if **one != unexpected => Ok(()),
            _ => Err(singleton_report(
                "expected exactly one value, different from",
                &unexpected,
                actual,
            )),
        });
    }

    /// Checks the selected panes (with their pane info, step and watermark) with `check`, which returns
    /// a `bool` or a `Result<(), impl Display>`. It sees the panes themselves, whatever the projection;
    /// [`values_satisfy`](Self::values_satisfy) sees the values, as Beam's `satisfies` does.
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
                let selected = panes
                    .select(output)
                    .map_err(|why| report(&header, &why, output, panes))?;
                check(&selected)
                    .into_verdict()
                    .map_err(|why| report(&header, &format!("  {why}\n"), output, panes))
            }),
        );
    }

    /// Checks the selected values with `check`, which returns a `bool` or a `Result<(), impl Display>`
    /// (Beam's `satisfies`, a function of the values).
    #[track_caller]
    pub fn values_satisfy<F, V>(self, check: F)
    where
        F: Fn(&[&T]) -> V + 'static,
        V: Verdict,
    {
        self.check("values_satisfy(..)", move |actual| {
            check(actual).into_verdict().map_err(|why| {
                let mut out = format!("  {why}\n");
                list(&mut out, "actual", actual.iter());
                out
            })
        });
    }

    fn select(mut self, panes: Panes) -> Self {
        self.panes = panes;
        self
    }

    fn flat_map_described<U, I, F>(self, projection: &str, f: F) -> PaneAssert<'p, K, O, U>
    where
        F: Fn(&T) -> I + 'static,
        I: IntoIterator<Item = U>,
    {
        let before = self.project;
        PaneAssert {
            collection: self.collection,
            panes: self.panes,
            project: Rc::new(move |pane| before(pane).iter().flat_map(|t| f(t)).map(Projected::Owned).collect()),
            projection: self.projection + projection,
        }
    }

    /// Declares a check of the selected values: `check` gets them in firing order and says why they
    /// are wrong.
    #[track_caller]
    fn check<F>(self, name: &str, check: F)
    where
        F: Fn(&[&T]) -> Result<(), String> + 'static,
    {
        let panes = self.panes;
        let project = self.project.clone();
        let description = self.describe(name);
        let header = description.clone();
        self.declare(
            description,
            Box::new(move |output| {
                let selected = panes
                    .select(output)
                    .map_err(|why| report(&header, &why, output, panes))?;
                let values: Vec<Projected<'_, T>> = selected.iter().flat_map(|p| project(p)).collect();
                let values: Vec<&T> = values.iter().map(|v| &**v).collect();
                check(&values).map_err(|why| report(&header, &why, output, panes))
            }),
        );
    }

    fn describe(&self, check: &str) -> String {
        format!(
            "assert_that({}){}{}.{check}",
            name(self.collection.index),
            self.panes,
            self.projection
        )
    }

    #[track_caller]
    fn declare(self, description: String, check: CheckFn<K, O>) {
        self.collection
            .pipeline
            .declare(self.collection.index, description, check);
    }
}

fn singleton_report<T: Debug>(expectation: &str, value: &T, actual: &[&T]) -> String {
    let mut why = format!("  {expectation}:\n    {value:?}\n");
    list(&mut why, "actual", actual.iter());
    why
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
            let dropped =
                |e: &&ElementOutcome<K>| matches!(e.fate, ElementFate::DroppedLate | ElementFate::DroppedClosed);
            for e in step.elements.iter().filter(dropped) {
                if e.event_time.is_some_and(|t| window.contains(t)) {
                    let _ = writeln!(
                        out,
                        "    element {} (key {:?}, event time {}) of this window was {} at {}, watermark {}",
                        e.index,
                        e.key.as_ref().expect("a dropped element decoded"),
                        e.event_time.expect("checked above"),
                        e.fate,
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
