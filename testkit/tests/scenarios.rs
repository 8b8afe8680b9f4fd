//! Every scenario in `tests/scenarios/*.jsonl` runs through the traffic pipeline and its transcript is
//! snapshotted (`tests/snapshots/scenarios__transcript@<file>.snap`): adding a case is adding a file.
//!
//! Options come from an optional `<name>.flags` sidecar holding `simulate` flags (see
//! `testkit::scenario`). New or changed snapshots: run `cargo insta review`, or without cargo-insta
//! `INSTA_UPDATE=always cargo test -p testkit --test scenarios`, read the `.snap` files and commit them.
//! CI runs with `CI=true`, where insta never writes snapshots, so a missing one fails.

use testkit::TrafficScenario;

#[test]
fn transcript() {
    insta::glob!("scenarios/*.jsonl", |path| {
        let scenario = TrafficScenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let output = scenario
            .stream
            .run(&scenario.pipeline())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(output.stats.check_conservation().is_ok(), "{:?}", output.stats);
        assert_eq!(output.open_windows, 0, "a window outlived the end of input");
        let flags = if scenario.flags.is_empty() {
            "(none: 20s windows, no allowed lateness, discarding)".to_owned()
        } else {
            scenario.flags.clone()
        };
        insta::with_settings!({ description => format!("simulate flags: {flags}"), omit_expression => true, sort_maps => true }, {
            insta::assert_yaml_snapshot!(output.transcript());
        });
    });
}

#[test]
fn scenario_files_round_trip_through_test_stream() {
    insta::glob!("scenarios/*.jsonl", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let scenario = TrafficScenario::load(path).unwrap();
        assert_eq!(scenario.stream.to_scenario(), text, "{}", path.display());
    });
}

/// The simulator and TestStream are both thin drivers of the same core: replaying a scenario file with
/// the `simulate` library under an explicit watermark gives the same panes, in the same order.
#[test]
fn simulate_and_test_stream_fire_the_same_panes() {
    use formats::scenario::ScenarioSource;
    use pipeline::io::memory::MemorySink;
    use pipeline::watermark::WatermarkStrategy;
    use pipeline::ProcessingTimeRule;
    use simulator::{simulate, SimulationOptions, Sinks};

    insta::glob!("scenarios/*.jsonl", |path| {
        let scenario = TrafficScenario::load(path).unwrap();
        let pipeline = scenario.pipeline();
        let text = std::fs::read_to_string(path).unwrap();
        let mut source = ScenarioSource::from_reader(path.display().to_string(), text.as_bytes());
        let (mut outputs, mut late, mut dead) = (MemorySink::default(), MemorySink::default(), MemorySink::default());
        let options = SimulationOptions {
            watermark: WatermarkStrategy::Explicit,
            disorder: None,
            processing_time: ProcessingTimeRule::Scripted,
            ..SimulationOptions::default()
        };
        let sinks = Sinks {
            outputs: &mut outputs,
            late: &mut late,
            dead_letters: &mut dead,
        };
        let report = simulate(&pipeline, &mut source, &options, sinks, &mut |_| {}).unwrap();
        let output = scenario.stream.run(&pipeline).unwrap();
        let simulated: Vec<_> = outputs
            .items
            .into_iter()
            .map(|o| (o.key, o.window, o.pane, o.value))
            .collect();
        let scripted: Vec<_> = output
            .panes
            .into_iter()
            .map(|p| (p.key, p.window, p.pane, p.value))
            .collect();
        assert_eq!(simulated, scripted, "{}", path.display());
        assert_eq!(report.stats, output.stats, "{}", path.display());
        assert_eq!(
            (late.items.len(), dead.items.len()),
            (output.late.len(), output.dead_letters.len())
        );
    });
}
