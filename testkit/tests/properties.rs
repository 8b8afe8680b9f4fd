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
