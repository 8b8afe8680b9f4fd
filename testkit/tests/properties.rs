//! Properties of the windowing core, checked through the traffic pipeline on drawn scripts whose event
//! times and watermark steps crowd the window boundaries (`testkit::strategies`).
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's default: 256). A failure shrinks to a short
//! script and prints it in the scenario format with its `simulate` flags: save them as
//! `tests/scenarios/<name>.jsonl` and `<name>.flags` to keep the case as a snapshot regression.

use std::collections::BTreeMap;

use pipeline::event::VisitEvent;
use pipeline::pane::PaneTiming;
use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Timestamp, Watermark};
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};
use pipeline::window::Window;
use pipeline::Step;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use testkit::strategies::{config_and_timeline, reordered_arrivals};
use testkit::{ElementFate, TestOutput, TestStream};

/// What a failing case prints: the options as `simulate` flags, then the script.
fn repro(config: &TrafficConfig, stream: &TestStream) -> String {
    let mut flags = format!(
        "--window {} --allowed-lateness {}",
        config.window, config.allowed_lateness
    );
    if config.accumulation == AccumulationMode::Accumulating {
        flags.push_str(" --accumulating");
    }
    format!("\n# flags: {flags}\n# scenario:\n{}", stream.to_scenario())
}

fn run(config: TrafficConfig, stream: &TestStream) -> TestOutput<String, TrafficAgg> {
    stream.run(&traffic_pipeline(config)).expect("drawn scripts are valid")
}

/// `end − 1 ms + allowed lateness`: once the watermark is past it, the window's state is gone.
fn gc_time(config: &TrafficConfig, window: &Window) -> Timestamp {
    window.max_timestamp().plus(config.allowed_lateness)
}

/// What Beam's rules say should become of each element and how many each key and window counts,
/// recomputed from the script alone: an element is dropped when its window's gc time is behind the
/// watermark it arrives under.
struct Model {
    fates: Vec<ElementFate>,
    counts: BTreeMap<(String, Window), u64>,
}

fn model(config: &TrafficConfig, stream: &TestStream) -> Model {
    let size = config.window.as_millis();
    let mut watermark = Watermark::MIN;
    let mut model = Model {
        fates: Vec::new(),
        counts: BTreeMap::new(),
    };
    for step in stream.steps() {
        match step {
            Step::Bundle(records) => {
                for record in records {
                    let decoded = VisitEvent::from_json(&record.payload).ok();
                    let Some((id, t)) = decoded.and_then(|v| Some((v.id.clone(), v.event_time().ok()?))) else {
                        model.fates.push(ElementFate::DeadLettered);
                        continue;
                    };
                    let start = t.millis() - t.millis().rem_euclid(size);
                    let window = Window::new(Timestamp::from_millis(start), Timestamp::from_millis(start + size));
                    if gc_time(config, &window) < watermark.timestamp() {
                        model.fates.push(ElementFate::DroppedLate);
                    } else {
                        model.fates.push(ElementFate::Counted);
                        *model.counts.entry((id, window)).or_default() += 1;
                    }
                }
            }
            Step::Watermark(w) => watermark = watermark.max(*w),
            Step::ProcessingTime(_) => {}
        }
    }
    model
}

/// The panes of each key and window, in firing order.
fn panes_by_window(output: &TestOutput<String, TrafficAgg>) -> BTreeMap<(String, Window), Vec<usize>> {
    let mut by_window: BTreeMap<(String, Window), Vec<usize>> = BTreeMap::new();
    for (i, p) in output.panes.iter().enumerate() {
        by_window.entry((p.key.clone(), p.window)).or_default().push(i);
    }
    by_window
}

proptest! {
    // Cases come from PROPTEST_CASES (default 256). Found failures are saved where `cargo test` runs
    // (the package root), in the file committed with the crate, and replayed first forever after.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/properties.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn with_a_perfect_watermark_the_output_does_not_depend_on_arrival_order(
        (config, in_order, reordered) in reordered_arrivals()
    ) {
        let shape = |o: TestOutput<String, TrafficAgg>| {
            o.panes.into_iter().map(|p| (p.key, p.window, p.pane, p.value)).collect::<Vec<_>>()
        };
        let expected = shape(run(config, &in_order));
        let actual = shape(run(config, &reordered));
        prop_assert_eq!(
            &actual, &expected,
            "arrival order changed the output of{}\nin event-time order:{}", repro(&config, &reordered), repro(&config, &in_order)
        );
        prop_assert!(expected.iter().all(|(_, _, pane, _)| pane.timing == PaneTiming::OnTime && pane.is_last));
    }

    #[test]
    fn accumulating_final_panes_equal_a_batch_count_of_the_elements_not_dropped(
        (config, stream) in config_and_timeline()
    ) {
        let config = TrafficConfig { accumulation: AccumulationMode::Accumulating, ..config };
        let output = run(config, &stream);
        let model = model(&config, &stream);
        let last: BTreeMap<(String, Window), u64> = panes_by_window(&output)
            .into_iter()
            .map(|(key, panes)| (key, output.panes[*panes.last().expect("one pane at least")].value.page_views))
            .collect();
        prop_assert_eq!(&last, &model.counts, "{}", repro(&config, &stream));
    }

    #[test]
    fn every_element_is_counted_once_dropped_as_late_or_dead_lettered(
        (config, stream) in config_and_timeline()
    ) {
        let config = TrafficConfig { accumulation: AccumulationMode::Discarding, ..config };
        let output = run(config, &stream);
        let model = model(&config, &stream);
        let fates: Vec<ElementFate> = output.elements().map(|e| e.fate).collect();
        prop_assert_eq!(&fates, &model.fates, "{}", repro(&config, &stream));
        prop_assert!(output.stats.check_conservation().is_ok(), "{:?}{}", output.stats, repro(&config, &stream));
        let counted = fates.iter().filter(|f| **f == ElementFate::Counted).count() as u64;
        let late = fates.iter().filter(|f| **f == ElementFate::DroppedLate).count();
        let dead = fates.iter().filter(|f| **f == ElementFate::DeadLettered).count();
        let in_panes: u64 = output.panes.iter().map(|p| p.value.page_views).sum();
        prop_assert_eq!(in_panes, counted, "discarding panes count each element once{}", repro(&config, &stream));
        prop_assert_eq!(output.late.len(), late, "{}", repro(&config, &stream));
        prop_assert_eq!(output.dead_letters.len(), dead, "{}", repro(&config, &stream));
        prop_assert_eq!(output.stats.read, fates.len() as u64, "{}", repro(&config, &stream));
    }

    #[test]
    fn nothing_fires_for_a_window_after_its_state_was_dropped(
        (config, stream) in config_and_timeline()
    ) {
        let output = run(config, &stream);
        for p in &output.panes {
            let before = output.step(p.step).watermark_before;
            prop_assert!(
                before.timestamp() <= gc_time(&config, &p.window),
                "{} pane {} of {:?} in {} fired at step {} although the watermark {} had passed {} already{}",
                p.pane.timing, p.pane.index, p.key, p.window, p.step, before, gc_time(&config, &p.window), repro(&config, &stream)
            );
        }
        for ((key, window), panes) in panes_by_window(&output) {
            let after_final = panes.iter().skip_while(|i| !output.panes[**i].pane.is_last).skip(1).count();
            prop_assert_eq!(after_final, 0, "a pane of {:?} in {} after its final pane{}", key, window, repro(&config, &stream));
        }
        prop_assert_eq!(output.open_windows, 0, "{}", repro(&config, &stream));
    }

    #[test]
    fn pane_indices_count_up_from_zero_per_key_and_window(
        (config, stream) in config_and_timeline()
    ) {
        let output = run(config, &stream);
        for ((key, window), panes) in panes_by_window(&output) {
            let infos: Vec<_> = panes.iter().map(|i| output.panes[*i].pane).collect();
            for (n, info) in infos.iter().enumerate() {
                prop_assert_eq!(info.index, n as u64, "{:?} in {}: {:?}{}", key, window, infos, repro(&config, &stream));
                prop_assert_eq!(info.is_first, n == 0, "{:?} in {}: {:?}{}", key, window, infos, repro(&config, &stream));
                prop_assert_eq!(info.non_speculative_index, Some(n as u64), "{}", repro(&config, &stream));
            }
            let on_time = infos.iter().filter(|i| i.timing == PaneTiming::OnTime).count();
            prop_assert!(on_time <= 1, "{:?} in {}: {:?}{}", key, window, infos, repro(&config, &stream));
            let first_late = infos.iter().position(|i| i.timing == PaneTiming::Late).unwrap_or(infos.len());
            prop_assert!(
                infos[first_late..].iter().all(|i| i.timing == PaneTiming::Late),
                "an on-time pane after a late one for {:?} in {}: {:?}{}", key, window, infos, repro(&config, &stream)
            );
        }
    }
}

/// The strategies reach the cases the properties are about; without this a strategy that never draws
/// a late element would make the properties pass vacuously.
#[test]
fn drawn_timelines_reach_late_panes_dropped_elements_and_dead_letters() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut late_panes, mut dropped, mut dead, mut final_on_time) = (0, 0, 0, 0);
    for _ in 0..256 {
        let (config, stream) = config_and_timeline().new_tree(&mut runner).unwrap().current();
        let output = run(config, &stream);
        late_panes += output
            .panes
            .iter()
            .filter(|p| p.pane.timing == PaneTiming::Late)
            .count();
        final_on_time += output
            .panes
            .iter()
            .filter(|p| {
                p.pane.timing == PaneTiming::OnTime && p.pane.is_last && config.allowed_lateness > Duration::ZERO
            })
            .count();
        dropped += output.late.len();
        dead += output.dead_letters.len();
    }
    assert!(late_panes > 50 && dropped > 50 && dead > 10 && final_on_time > 10, "{late_panes} late panes, {dropped} dropped, {dead} dead letters, {final_on_time} final on-time panes with lateness");
}

// ---------------------------------------------------------------------------------------------------
// Every trigger, on fixed windows, sessions and the global window: Beam-style `(key, id)` elements
// grouped with ToList, so that each pane says exactly which elements it holds.

mod triggers {
    use std::collections::{BTreeMap, BTreeSet};

    use pipeline::combine::ToList;
    use pipeline::pane::{PaneInfo, PaneTiming};
    use pipeline::strategy::AccumulationMode;
    use pipeline::time::{Timestamp, Watermark};
    use pipeline::trigger::{ClosingBehavior, OnTimeBehavior, Trigger};
    use pipeline::window::Window;
    use pipeline::windowing::{WindowSpec, Windowing};
    use pipeline::{Driver, DriverOptions, Pipeline, Position, Step};
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use testkit::strategies::{trigger, windowing_and_timeline};
    use testkit::{timestamped_values, ElementFate, PaneOutput, TestOutput, TestStream, TimestampedValue};

    type Element = TimestampedValue<(String, u64)>;
    type Ids = Vec<u64>;

    fn pipeline(windowing: &Windowing) -> Pipeline<Element, String, ToList<u64>, Ids> {
        timestamped_values::<(String, u64)>()
            .strategy(windowing.strategy())
            .key_by(|e| e.value.0.clone())
            .to_list(|e| e.value.1)
            .values()
    }

    fn run(windowing: &Windowing, stream: &TestStream) -> TestOutput<String, Ids> {
        stream.run(&pipeline(windowing)).expect("drawn scripts are valid")
    }

    /// What a driver emitted, in order: each pane, and each late record's position and reason.
    #[derive(Debug, Default, PartialEq)]
    struct Collected {
        panes: Vec<(String, Window, PaneInfo, Ids)>,
        late: Vec<(Position, String)>,
    }

    impl Collected {
        fn take(&mut self, driver: &mut Driver<Element, String, ToList<u64>, Ids>) {
            let emitted = driver.emitted();
            let panes = emitted.outputs.drain(..).map(|o| (o.key, o.window, o.pane, o.value));
            self.panes.extend(panes);
            self.late.extend(emitted.late.drain(..).map(|l| (l.position, l.reason)));
            emitted.dead_letters.clear();
        }
    }

    /// Drives `stream` through a [`Driver`], firing watermark steps in parts of `part` windows when given.
    /// After step `i`, the parts are all taken out before the next step when `drain_parts[i]` says so
    /// (or is missing); otherwise the next step comes while parts remain, and must finish them first.
    fn drive(windowing: &Windowing, stream: &TestStream, part: Option<usize>, drain_parts: &[bool]) -> Collected {
        let pipeline = pipeline(windowing);
        let mut driver = Driver::new(&pipeline, DriverOptions::default());
        if let Some(part) = part {
            driver.fire_in_parts(part);
        }
        let mut collected = Collected::default();
        for (i, step) in stream.steps().iter().enumerate() {
            driver.step(step.clone());
            collected.take(&mut driver);
            if drain_parts.get(i).copied().unwrap_or(true) {
                while driver.fire_next_part() {
                    collected.take(&mut driver);
                }
            }
        }
        driver.end_input();
        collected.take(&mut driver);
        while driver.fire_next_part() {
            collected.take(&mut driver);
        }
        driver.finish();
        assert!(
            driver.emitted().is_empty(),
            "the end of input was all fired before finish"
        );
        collected
    }

    /// What a failing case prints: the windowing as `simulate` flags (the trigger without spaces, as
    /// a scenario sidecar takes it), then the script, whose elements are `{"value": [key, id],
    /// "timestamp": ms}` for `timestamped_values::<(String, u64)>()`.
    fn repro(windowing: &Windowing, stream: &TestStream) -> String {
        let mut flags = format!(
            "--windows {} --trigger {} --allowed-lateness {} --closing-behavior {} --on-time-behavior {}",
            windowing.windows,
            windowing.trigger.to_string().replace(' ', ""),
            windowing.allowed_lateness,
            windowing.closing_behavior,
            windowing.on_time_behavior,
        );
        if windowing.accumulation == AccumulationMode::Accumulating {
            flags.push_str(" --accumulating");
        }
        format!("\n# flags: {flags}\n# scenario:\n{}", stream.to_scenario())
    }

    /// Each element of the script in arrival order: key, id and event time.
    fn elements(stream: &TestStream) -> Vec<(String, u64, Timestamp)> {
        stream
            .steps()
            .iter()
            .filter_map(|step| match step {
                Step::Bundle(records) => Some(records),
                _ => None,
            })
            .flatten()
            .map(|r| {
                let e = Element::from_json(&r.payload).expect("drawn elements decode");
                (e.value.0, e.value.1, e.timestamp)
            })
            .collect()
    }

    /// True when `trigger` can finish before the window expires, closing the window early (Beam then
    /// drops what arrives for it): a trigger that fires at most once, unless it can never fire, and
    /// composites that finish when their parts do. The default trigger, `Repeatedly`, `Never` and
    /// `AfterWatermark` with late firings never finish.
    fn may_close_early(trigger: &Trigger) -> bool {
        match trigger {
            Trigger::Default | Trigger::Repeatedly(_) | Trigger::Never => false,
            Trigger::AfterWatermark { late, .. } => late.is_none(),
            Trigger::AfterProcessingTime { .. } | Trigger::AfterPane { .. } => true,
            Trigger::AfterFirst(ts) => ts.iter().any(may_close_early),
            Trigger::AfterAll(ts) | Trigger::AfterEach(ts) => ts.iter().all(may_close_early),
            Trigger::OrFinally { main, until } => may_close_early(main) || may_close_early(until),
            _ => true,
        }
    }

    /// The window an element's timestamp is assigned to before any merging (for sessions, `[t, t + gap)`).
    fn own_window(windowing: &Windowing, t: Timestamp) -> Window {
        let mut windows = Vec::new();
        windowing.strategy().window_fn.assign_windows(t, &mut windows);
        assert_eq!(windows.len(), 1, "the drawn windows assign one window each");
        windows[0]
    }

    /// Where each counted element ends up and which elements each window holds when its state is
    /// dropped, recomputed without triggers: per key, live windows take the counted elements in arrival
    /// order (sessions merge with every live window they touch, transitively), and a window is done when
    /// the watermark passes `end − 1 ms + allowed lateness`.
    fn final_windows(windowing: &Windowing, stream: &TestStream, counted: &[bool]) -> BTreeMap<(String, Window), Ids> {
        let strategy = windowing.strategy();
        let merging = windowing.windows.is_merging();
        let mut live: BTreeMap<String, Vec<(Window, Ids)>> = BTreeMap::new();
        let mut done = BTreeMap::new();
        let mut retire = |live: &mut BTreeMap<String, Vec<(Window, Ids)>>, watermark: Watermark| {
            for (key, windows) in live.iter_mut() {
                windows.retain(|(window, ids)| {
                    let expired = strategy.is_expired(window, watermark);
                    if expired {
                        let mut ids = ids.clone();
                        ids.sort_unstable();
                        done.insert((key.clone(), *window), ids);
                    }
                    !expired
                });
            }
        };
        let all = elements(stream);
        let mut next = 0;
        for step in stream.steps() {
            match step {
                Step::Bundle(records) => {
                    for _ in records {
                        let (key, id, t) = &all[next];
                        next += 1;
                        if !counted[next - 1] {
                            continue;
                        }
                        let windows = live.entry(key.clone()).or_default();
                        let mut window = own_window(windowing, *t);
                        let mut ids = vec![*id];
                        if merging {
                            while let Some(i) = windows.iter().position(|(w, _)| w.intersects(&window)) {
                                let (w, more) = windows.remove(i);
                                window = window.span(&w);
                                ids.extend(more);
                            }
                            windows.push((window, ids));
                        } else {
                            match windows.iter_mut().find(|(w, _)| *w == window) {
                                Some((_, existing)) => existing.push(*id),
                                None => windows.push((window, ids)),
                            }
                        }
                    }
                }
                Step::Watermark(w) => retire(&mut live, *w),
                Step::ProcessingTime(_) => {}
            }
        }
        retire(&mut live, Watermark::MAX);
        done
    }

    /// The panes of each key and window, in firing order.
    fn panes_by_window(output: &TestOutput<String, Ids>) -> BTreeMap<(String, Window), Vec<usize>> {
        let mut by_window: BTreeMap<(String, Window), Vec<usize>> = BTreeMap::new();
        for (i, p) in output.panes.iter().enumerate() {
            by_window.entry((p.key.clone(), p.window)).or_default().push(i);
        }
        by_window
    }

    /// The panes of one key and window split into the window's lives: with sessions the same bounds
    /// can come back after a window merged away or after its trigger closed it (Beam then removes it
    /// from the active windows), and each life starts with a first pane. Other windows live once.
    fn lives(output: &TestOutput<String, Ids>, panes: &[usize]) -> Vec<Vec<usize>> {
        let mut lives: Vec<Vec<usize>> = Vec::new();
        for &i in panes {
            match lives.last_mut() {
                Some(life) if !output.panes[i].pane.is_first => life.push(i),
                _ => lives.push(vec![i]),
            }
        }
        lives
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64)
    }

    proptest! {
        // PROPTEST_CASES sets the case count; without it, 64 cases per property keep the suite quick.
        #![proptest_config(ProptestConfig {
            cases: cases(),
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/properties.txt"))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn a_watermark_step_fired_in_parts_emits_what_the_whole_step_emits_in_the_same_order(
            (windowing, stream) in windowing_and_timeline(),
            part in 1usize..4,
            drain_parts in proptest::collection::vec(any::<bool>(), 0..40),
        ) {
            let whole = drive(&windowing, &stream, None, &[]);
            let in_parts = drive(&windowing, &stream, Some(part), &drain_parts);
            prop_assert_eq!(
                &in_parts, &whole,
                "parts of {} windows, drained after the steps {:?}, under {:?}:\n{}",
                part, drain_parts, windowing, stream.to_scenario()
            );
        }

        #[test]
        fn for_every_trigger_accumulating_final_panes_equal_the_batch_result_over_the_elements_not_dropped(
            (windowing, stream) in windowing_and_timeline()
        ) {
            let windowing = Windowing { accumulation: AccumulationMode::Accumulating, ..windowing };
            // With sessions, a window that a trigger closed early can still take part in a merge; what
            // Beam does then is the core's business, not this model's.
            if windowing.windows.is_merging() && may_close_early(&windowing.trigger) {
                return Ok(());
            }
            let output = run(&windowing, &stream);
            let counted: Vec<bool> = output.elements().map(|e| e.fate == ElementFate::Counted).collect();
            let expected = final_windows(&windowing, &stream, &counted);
            let mut last: BTreeMap<(String, Window), Ids> = BTreeMap::new();
            for ((key, window), panes) in panes_by_window(&output) {
                let mut ids = output.panes[*panes.last().expect("one pane at least")].value.clone();
                ids.sort_unstable();
                if expected.contains_key(&(key.clone(), window)) {
                    last.insert((key, window), ids);
                    continue;
                }
                // A session that fired before it merged into a larger one: its elements are in the
                // window it merged into.
                let merged_into = expected
                    .iter()
                    .find(|((k, w), _)| *k == key && w.start() <= window.start() && window.end() <= w.end());
                prop_assert!(
                    merged_into.is_some_and(|(_, all)| ids.iter().all(|id| all.contains(id))),
                    "panes of {:?} in {}, a window that is in no final window, hold {:?}{}",
                    key, window, ids, repro(&windowing, &stream)
                );
            }
            prop_assert_eq!(&last, &expected, "{}", repro(&windowing, &stream));
        }

        #[test]
        fn for_every_trigger_an_element_is_dropped_as_late_exactly_when_its_window_expired_and_otherwise_only_for_a_closed_window(
            (windowing, stream) in windowing_and_timeline()
        ) {
            let output = run(&windowing, &stream);
            let strategy = windowing.strategy();
            let mut fates = output.elements();
            let mut watermark = Watermark::MIN;
            let all = elements(&stream);
            let mut next = 0;
            for step in stream.steps() {
                match step {
                    Step::Bundle(records) => {
                        for _ in records {
                            let (key, id, t) = &all[next];
                            next += 1;
                            let fate = fates.next().expect("one outcome per element").fate;
                            let expired = strategy.is_expired(&own_window(&windowing, *t), watermark);
                            let context = || format!("element {id} of {key} at {t} under the watermark {watermark}{}", repro(&windowing, &stream));
                            if expired {
                                prop_assert_eq!(fate, ElementFate::DroppedLate, "{}", context());
                            } else if fate != ElementFate::Counted {
                                prop_assert_eq!(fate, ElementFate::DroppedClosed, "{}", context());
                                prop_assert!(may_close_early(&windowing.trigger), "a window closed by a trigger that never finishes: {}", context());
                            }
                        }
                    }
                    Step::Watermark(w) => watermark = watermark.max(*w),
                    Step::ProcessingTime(_) => {}
                }
            }
            prop_assert!(output.stats.check_conservation().is_ok(), "{:?}{}", output.stats, repro(&windowing, &stream));
            prop_assert_eq!(output.late.len() as u64, output.stats.dropped_late, "{}", repro(&windowing, &stream));
            let closed = output.elements().filter(|e| e.fate == ElementFate::DroppedClosed).count() as u64;
            prop_assert_eq!(closed, output.stats.dropped_closed, "{}", repro(&windowing, &stream));
        }

        #[test]
        fn with_discarding_panes_every_counted_element_is_in_exactly_one_pane(
            (windowing, stream) in windowing_and_timeline()
        ) {
            let windowing = Windowing { accumulation: AccumulationMode::Discarding, ..windowing };
            let output = run(&windowing, &stream);
            let counted: BTreeSet<u64> = output
                .elements()
                .zip(elements(&stream))
                .filter(|(e, _)| e.fate == ElementFate::Counted)
                .map(|(_, (_, id, _))| id)
                .collect();
            let mut in_panes: Vec<u64> = output.panes.iter().flat_map(|p| p.value.iter().copied()).collect();
            in_panes.sort_unstable();
            let once: BTreeSet<u64> = in_panes.iter().copied().collect();
            prop_assert_eq!(once.len(), in_panes.len(), "an element in two panes{}", repro(&windowing, &stream));
            prop_assert!(once.is_subset(&counted), "a pane holds an element that was not counted{}", repro(&windowing, &stream));
            // A session can merge into a window its trigger closed earlier: what it held is then in no pane,
            // and the core says how many (see `a_session_that_merges_into_a_closed_window_...` below).
            prop_assert_eq!(
                (counted.len() - once.len()) as u64,
                output.stats.merged_into_closed,
                "counted elements in no pane{}",
                repro(&windowing, &stream)
            );
        }

        #[test]
        fn for_every_trigger_nothing_fires_for_a_window_after_its_state_was_dropped(
            (windowing, stream) in windowing_and_timeline()
        ) {
            let output = run(&windowing, &stream);
            let strategy = windowing.strategy();
            for p in &output.panes {
                let before = output.step(p.step).watermark_before;
                prop_assert!(
                    !strategy.is_expired(&p.window, before),
                    "{} pane {} of {:?} in {} fired at step {} although the watermark {} had passed {} already{}",
                    p.pane.timing, p.pane.index, p.key, p.window, p.step, before, strategy.gc_time(&p.window), repro(&windowing, &stream)
                );
            }
            for ((key, window), panes) in panes_by_window(&output) {
                let lives = lives(&output, &panes);
                prop_assert!(
                    lives.len() == 1 || windowing.windows.is_merging(),
                    "{:?} in {} has {} first panes{}", key, window, lives.len(), repro(&windowing, &stream)
                );
                for life in lives {
                    let after_final = life.iter().skip_while(|i| !output.panes[**i].pane.is_last).skip(1).count();
                    prop_assert_eq!(after_final, 0, "a pane of {:?} in {} after its final pane{}", key, window, repro(&windowing, &stream));
                }
            }
            prop_assert_eq!(output.open_windows, 0, "{}", repro(&windowing, &stream));
        }

        #[test]
        fn for_every_trigger_pane_indices_count_up_from_zero_per_key_and_window(
            (windowing, stream) in windowing_and_timeline()
        ) {
            let output = run(&windowing, &stream);
            for ((key, window), panes) in panes_by_window(&output) {
                let lives = lives(&output, &panes);
                prop_assert!(
                    lives.len() == 1 || windowing.windows.is_merging(),
                    "{:?} in {} has {} first panes{}", key, window, lives.len(), repro(&windowing, &stream)
                );
                for life in lives {
                    let infos: Vec<_> = life.iter().map(|i| output.panes[*i].pane).collect();
                    let context = || format!("{key:?} in {window}: {infos:?}{}", repro(&windowing, &stream));
                    if windowing.windows.is_merging() {
                        // A merged window may carry on from the pane state of a window it merged (Beam
                        // keeps pane info with the window's state), so only the order is certain.
                        prop_assert!(infos.windows(2).all(|w| w[0].index < w[1].index), "{}", context());
                    } else {
                        for (n, info) in infos.iter().enumerate() {
                            prop_assert_eq!(info.index, n as u64, "{}", context());
                            prop_assert_eq!(info.is_first, n == 0, "{}", context());
                        }
                    }
                    // EARLY* ON_TIME? LATE*, and the index among non-early panes counts the non-early ones.
                    let timings: Vec<PaneTiming> = infos.iter().map(|i| i.timing).collect();
                    let mut sorted = timings.clone();
                    sorted.sort();
                    prop_assert_eq!(&timings, &sorted, "{}", context());
                    prop_assert!(timings.iter().filter(|t| **t == PaneTiming::OnTime).count() <= 1, "{}", context());
                    if !windowing.windows.is_merging() {
                        let mut non_early = 0;
                        for info in &infos {
                            if info.timing == PaneTiming::Early {
                                prop_assert_eq!(info.non_speculative_index, None, "{}", context());
                            } else {
                                prop_assert_eq!(info.non_speculative_index, Some(non_early), "{}", context());
                                non_early += 1;
                            }
                        }
                    }
                }
            }
        }

        #[test]
        fn a_trigger_never_fires_an_empty_pane_unless_a_fire_always_behaviour_says_so(
            (windowing, stream) in windowing_and_timeline()
        ) {
            let output = run(&windowing, &stream);
            for ((key, window), panes) in panes_by_window(&output) {
                let mut before = 0;
                for i in panes {
                    let p = &output.panes[i];
                    if p.pane.is_first {
                        before = 0;
                    }
                    // A merged session's first pane can hold what an earlier pane of a window it merged
                    // showed already; counting it as new only ever lets a pane pass.
                    let new = match windowing.accumulation {
                        AccumulationMode::Discarding => p.value.len(),
                        AccumulationMode::Accumulating => p.value.len().saturating_sub(before),
                    };
                    before = p.value.len();
                    let on_time_always = p.pane.timing == PaneTiming::OnTime
                        && windowing.on_time_behavior == OnTimeBehavior::FireAlways;
                    let closing_always = p.pane.is_last && windowing.closing_behavior == ClosingBehavior::FireAlways;
                    prop_assert!(
                        new > 0 || on_time_always || closing_always,
                        "an empty {} pane {} (final: {}) of {:?} in {}, fired by step {}{}",
                        p.pane.timing, p.pane.index, p.pane.is_last, key, window, p.step, repro(&windowing, &stream)
                    );
                }
            }
        }
    }

    /// Found by `with_discarding_panes_every_counted_element_is_in_exactly_one_pane`: carol's elements 0
    /// and 1 make the session [50, 59.999) and fire its only pane, which finishes the trigger and closes
    /// the window. Element 2 then opens [54.999, 59.999) (the closed window no longer merges) and is
    /// counted; element 3 merges that session back into the closed [50, 59.999) and is dropped for the
    /// closed window — and element 2 with it, in no pane although it was counted and the closing behaviour
    /// is FIRE_ALWAYS. Beam's ReduceFnRunner does the same (the merged state joins the closed window,
    /// which never fires again); the core follows it and accounts for element 2 in
    /// `PipelineStats::merged_into_closed`, so that nothing is lost unseen.
    #[test]
    fn a_session_that_merges_into_a_closed_window_accounts_for_what_no_pane_shows() {
        let windowing = Windowing {
            windows: "sessions:5s".parse().unwrap(),
            trigger: "AfterAll.of(AfterPane.elementCountAtLeast(1), AfterPane.elementCountAtLeast(2))"
                .parse()
                .unwrap(),
            closing_behavior: ClosingBehavior::FireAlways,
            ..Windowing::default()
        };
        let carol = |id: u64, t: &str| TimestampedValue::of(("carol".to_owned(), id), t);
        let stream = TestStream::new()
            .add_elements([carol(0, "2024-04-28T23:12:54.999")])
            .add_elements([carol(1, "2024-04-28T23:12:50")])
            .add_elements([carol(2, "2024-04-28T23:12:54.999")])
            .add_elements([carol(3, "2024-04-28T23:12:50")])
            .advance_watermark_to_infinity();
        let output = run(&windowing, &stream);
        let fates: Vec<ElementFate> = output.elements().map(|e| e.fate).collect();
        let in_panes: Vec<u64> = output.panes.iter().flat_map(|p| p.value.iter().copied()).collect();
        let in_no_pane: Vec<usize> = (0..fates.len())
            .filter(|&id| fates[id] == ElementFate::Counted && !in_panes.contains(&(id as u64)))
            .collect();
        assert_eq!(in_no_pane, [2], "{:?}", output.transcript());
        assert_eq!(output.stats.merged_into_closed, 1, "{:?}", output.stats);
        assert_eq!(fates[3], ElementFate::DroppedClosed, "{:?}", output.transcript());
    }

    /// The drawn triggers are valid by Beam's types, and the drawn cases reach what the properties are
    /// about: every kind of window and trigger, early and processing-time firings, merged sessions,
    /// empty panes, elements dropped as late. Without this a strategy that never drew them would make the
    /// properties pass vacuously.
    #[test]
    fn drawn_windowings_and_timelines_reach_every_kind_of_firing() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        for _ in 0..500 {
            let t = trigger(2).new_tree(&mut runner).unwrap().current();
            assert!(t.check().is_ok(), "{t}: {:?}", t.check());
            assert_eq!(t.to_string().parse::<Trigger>().as_ref(), Ok(&t), "{t}");
        }
        let mut reached: BTreeMap<&str, usize> = BTreeMap::new();
        for _ in 0..256 {
            let (windowing, stream) = windowing_and_timeline().new_tree(&mut runner).unwrap().current();
            let output = run(&windowing, &stream);
            let mut count = |what: &'static str, n: usize| *reached.entry(what).or_default() += n;
            count(
                match windowing.windows {
                    WindowSpec::Fixed(_) => "fixed windows",
                    WindowSpec::Sessions(_) => "sessions",
                    _ => "the global window",
                },
                1,
            );
            count(
                "early panes",
                output
                    .panes
                    .iter()
                    .filter(|p| p.pane.timing == PaneTiming::Early)
                    .count(),
            );
            count(
                "late panes",
                output
                    .panes
                    .iter()
                    .filter(|p| p.pane.timing == PaneTiming::Late)
                    .count(),
            );
            count(
                "panes fired by processing time",
                output
                    .panes
                    .iter()
                    .filter(|p| matches!(output.step(p.step).step, Step::ProcessingTime(_)))
                    .count(),
            );
            count(
                "empty panes",
                output.panes.iter().filter(|p| p.value.is_empty()).count(),
            );
            count(
                "elements dropped as late",
                output.elements().filter(|e| e.fate == ElementFate::DroppedLate).count(),
            );
            count(
                "elements dropped for a closed window",
                output
                    .elements()
                    .filter(|e| e.fate == ElementFate::DroppedClosed)
                    .count(),
            );
            if windowing.windows.is_merging() {
                let all = elements(&stream);
                count(
                    "merged sessions",
                    output
                        .panes
                        .iter()
                        .filter(|p| {
                            p.value
                                .iter()
                                .any(|id| own_window(&windowing, all[*id as usize].2) != p.window)
                        })
                        .count(),
                );
            }
            if may_close_early(&windowing.trigger) {
                count("triggers that close a window early", 1);
            }
        }
        for what in [
            "fixed windows",
            "sessions",
            "the global window",
            "early panes",
            "late panes",
            "panes fired by processing time",
            "empty panes",
            "elements dropped as late",
            "elements dropped for a closed window",
            "merged sessions",
            "triggers that close a window early",
        ] {
            assert!(reached.get(what).copied().unwrap_or(0) >= 10, "{what}: {reached:?}");
        }
    }
}
