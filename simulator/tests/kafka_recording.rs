//! A Kafka consumer core driven in-process, recording what its pipeline saw; the simulator's replay of
//! the recording gives the very messages the core sent: window results, late records (those the core
//! judged late per partition, and those its pipeline dropped) and dead letters, in order.

use formats::scenario::{scenario_line, ScenarioSource, ScenarioStep};
use kafka_core::message::{dead_letter_headers, late_headers};
use kafka_core::{
    Action, Assignment, ConsumerCore, CoreConfig, EndOffsets, InputRecord, KafkaOutput, Message, MessageKind, Recorded,
    Topics,
};
use pipeline::io::memory::MemorySink;
use pipeline::io::{DeadLetter, LateRecord};
use pipeline::strategy::WindowingStrategy;
use pipeline::time::{Duration, Timestamp};
use pipeline::traffic::{windowed_traffic_pipeline, TrafficAgg, TrafficPipeline};
use pipeline::trigger::{AfterProcessingTime, AfterWatermark, Trigger};
use pipeline::watermark::WatermarkStrategy;
use pipeline::window::{FixedWindows, SlidingWindows};
use pipeline::{ProcessingTimeRule, WindowOutput};
use simulator::{simulate, SimulationOptions, Sinks};

/// Processing time `ms` after 2024-04-28T23:12:00, when the visits happen.
fn at(ms: i64) -> Timestamp {
    Timestamp::parse_datetime("2024-04-28T23:12:00")
        .unwrap()
        .plus(Duration::millis(ms))
}

/// A visit of `id` at `second` seconds past 2024-04-28T23:12:00.
fn visit(id: &str, second: u32) -> Vec<u8> {
    let (minute, second) = (12 + second / 60, second % 60);
    format!(
        r#"{{"ip":"1.2.3.4","id":"{id}","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:{minute:02}:{second:02}.000","event_ts":0}}"#
    )
    .into_bytes()
}

fn pipeline(trigger: Trigger) -> TrafficPipeline {
    windowed_traffic_pipeline(
        WindowingStrategy::new(FixedWindows::of(Duration::seconds(20)))
            .with_allowed_lateness(Duration::ZERO)
            .with_trigger(trigger),
    )
}

/// 60 s windows every 20 s: a record belongs to three, some of which its partition's watermark may
/// have passed while the pipeline's has not.
fn sliding_pipeline() -> TrafficPipeline {
    windowed_traffic_pipeline(
        WindowingStrategy::new(SlidingWindows::of(Duration::seconds(60), Duration::seconds(20)))
            .with_allowed_lateness(Duration::ZERO),
    )
}

type Core = ConsumerCore<pipeline::event::PageView, String, pipeline::combine::Count, TrafficAgg>;

/// Feeds a core and carries out its actions: every send is acknowledged, every commit succeeds.
struct Feeder {
    next_offset: [i64; 2],
    sent: Vec<Message>,
}

impl Feeder {
    fn drive(&mut self, core: &mut Core, now: i64) {
        while let Some(action) = core.poll_action() {
            match action {
                Action::Send(message) => {
                    core.on_delivery(at(now), message.id, Ok(()));
                    self.sent.push(message);
                }
                Action::Commit { id, .. } => core.on_commit_result(at(now), id, Ok(())),
                _ => {}
            }
        }
    }

    fn feed(&mut self, core: &mut Core, now: i64, partition: i32, payloads: Vec<Vec<u8>>) {
        let next = &mut self.next_offset[partition as usize];
        let records = payloads
            .into_iter()
            .map(|payload| {
                *next += 1;
                InputRecord {
                    offset: *next - 1,
                    payload,
                }
            })
            .collect();
        core.on_records(at(now), partition, records);
        self.drive(core, now);
    }

    /// The broker says `partitions` are caught up, every 2 s from `from` to `to`, with a tick each time.
    fn caught_up(&mut self, core: &mut Core, partitions: &[i32], from: i64, to: i64) {
        for now in (from..=to).step_by(2_000) {
            for &partition in partitions {
                let end = self.next_offset[partition as usize];
                core.on_end_offsets(at(now), partition, EndOffsets { position: end, end });
            }
            core.on_tick(at(now));
            self.drive(core, now);
        }
    }
}

/// Drives `core` through records out of order on two partitions: a bad record, records late in their
/// partition (but not for the pipeline watermark, held back by the other partition), a partition going
/// idle and waking up with a record the pipeline drops as late, and both going idle at the end so that
/// every window closes. Returns every message the core sent, in order.
fn run_core(core: &mut Core) -> Vec<Message> {
    let mut feeder = Feeder {
        next_offset: [0; 2],
        sent: Vec::new(),
    };
    let assignments: Vec<Assignment> = (0..2)
        .map(|partition| Assignment {
            partition,
            committed: None,
            metadata: None,
        })
        .collect();
    core.on_assign(at(0), &assignments);
    feeder.drive(core, 0);
    feeder.feed(core, 1_000, 0, vec![visit("a", 1), visit("b", 2), visit("a", 3)]);
    feeder.feed(core, 1_100, 1, vec![visit("c", 4), b"not json".to_vec(), visit("a", 5)]);
    // Partition 0 runs ahead: its watermark passes 23:12:40, the pipeline's stays behind partition 1's.
    feeder.feed(
        core,
        2_000,
        0,
        vec![visit("a", 61), visit("a", 30), visit("b", 62), visit("a", 6)],
    );
    for now in [3_000, 8_000, 12_000] {
        core.on_tick(at(now));
        feeder.drive(core, now);
    }
    feeder.feed(core, 13_000, 1, vec![visit("c", 70), visit("c", 50), visit("c", 66)]);
    // Partition 0 is caught up and silent for the idle timeout: the watermark follows partition 1 alone.
    feeder.caught_up(core, &[0], 14_000, 26_000);
    feeder.feed(core, 27_000, 1, vec![visit("c", 90)]);
    // Partition 0 wakes up behind the pipeline watermark: its window [23:12:40, 23:13:00) is gone.
    feeder.feed(core, 27_100, 0, vec![visit("b", 58), visit("b", 63)]);
    // Both partitions caught up and silent: the watermark follows processing time and closes everything.
    feeder.caught_up(core, &[0, 1], 28_000, 200_000);
    assert!(core.stats().check_conservation().is_ok(), "{:?}", core.stats());
    feeder.sent
}

/// What the core recorded, as a scenario file's text.
fn recording(core: &mut Core) -> String {
    let mut text = String::new();
    while let Some(recorded) = core.poll_recorded() {
        let line = match recorded {
            Recorded::Step(step) => ScenarioStep::from(step),
            Recorded::Bundle {
                records,
                lateness_horizons,
            } => ScenarioStep::Step {
                step: pipeline::Step::Bundle(records),
                kafka_ts: None,
                lateness_horizons,
            },
            Recorded::DroppedLate(late) => ScenarioStep::DroppedLate { late, kafka_ts: None },
            Recorded::End => break,
        };
        text.push_str(&scenario_line(&line));
        text.push('\n');
    }
    text
}

struct Replay {
    outputs: Vec<WindowOutput<String, TrafficAgg>>,
    late: Vec<LateRecord>,
    dead_letters: Vec<DeadLetter>,
}

fn replay(pipeline: &TrafficPipeline, text: &str) -> Replay {
    let mut source = ScenarioSource::from_reader("recording", text.as_bytes());
    let (mut outputs, mut late, mut dead_letters) =
        (MemorySink::default(), MemorySink::default(), MemorySink::default());
    let options = SimulationOptions {
        watermark: WatermarkStrategy::Explicit,
        disorder: None,
        processing_time: ProcessingTimeRule::Scripted,
        ..SimulationOptions::default()
    };
    let sinks = Sinks {
        outputs: &mut outputs,
        late: &mut late,
        dead_letters: &mut dead_letters,
    };
    let report = simulate(pipeline, &mut source, &options, sinks, &mut |_| {}).unwrap();
    assert!(report.stats.check_conservation().is_ok(), "{:?}", report.stats);
    Replay {
        outputs: outputs.items,
        late: late.items,
        dead_letters: dead_letters.items,
    }
}

/// A message's value and headers.
type Sent = (Vec<u8>, Vec<(String, Vec<u8>)>);

fn of_kind(sent: &[Message], kind: MessageKind) -> Vec<Sent> {
    sent.iter()
        .filter(|m| m.kind == kind)
        .map(|m| (m.value.clone(), m.headers.clone()))
        .collect()
}

/// Runs a recording core, replays its recording, and checks the replay sent what the core sent; returns
/// the replay's panes.
fn check_replay_equals_run(pipeline: TrafficPipeline) -> Vec<WindowOutput<String, TrafficAgg>> {
    let config = CoreConfig {
        topics: Topics {
            dead_letters: Some("dlq".to_owned()),
            late: Some("late".to_owned()),
            ..Topics::default()
        },
        ..CoreConfig::default()
    };
    let mut core = ConsumerCore::new(pipeline.clone(), config).unwrap();
    core.record();
    let sent = run_core(&mut core);
    let stats = core.stats();
    assert_eq!(stats.pipeline.dead_lettered, 1);
    let text = recording(&mut core);
    assert!(text.contains("\"partition\": 1, \"offset\": [0,1,2]"), "{text}");
    if !pipeline.strategy().window_fn.is_merging() && text.contains("\"lateness_horizon\"") {
        // Sliding windows: lateness is per window, and the records' horizons carry it.
    } else {
        assert!(
            stats.late_in_partition >= 2,
            "records late in their partition: {stats:?}"
        );
        assert!(
            stats.pipeline.dropped_late >= 1,
            "a record the pipeline dropped: {stats:?}"
        );
        assert!(text.contains("\"dropped_late\""), "{text}");
    }

    let replayed = replay(&pipeline, &text);
    let outputs: Vec<Vec<u8>> = sent
        .iter()
        .filter(|m| m.kind == MessageKind::Output)
        .map(|m| m.value.clone())
        .collect();
    let replayed_outputs: Vec<Vec<u8>> = replayed.outputs.iter().map(|o| o.value.message_value()).collect();
    assert!(!outputs.is_empty());
    assert_eq!(
        replayed_outputs
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>(),
        outputs
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>(),
        "window results, pane for pane\n{text}"
    );
    let late: Vec<_> = replayed
        .late
        .iter()
        .map(|l| (l.payload.clone(), late_headers(l, "website-visit")))
        .collect();
    assert_eq!(
        late,
        of_kind(&sent, MessageKind::Late),
        "late records with reason, event time and watermark"
    );
    let dead: Vec<_> = replayed
        .dead_letters
        .iter()
        .map(|d| (d.payload.clone(), dead_letter_headers(d, "website-visit")))
        .collect();
    assert_eq!(
        dead,
        of_kind(&sent, MessageKind::DeadLetter),
        "dead letters at their partition and offset"
    );
    replayed.outputs
}

#[test]
fn a_recorded_core_run_replays_to_the_same_panes_late_records_and_dead_letters() {
    let panes = check_replay_equals_run(pipeline(Trigger::default()));
    assert!(
        panes
            .iter()
            .all(|o| o.pane.timing == pipeline::pane::PaneTiming::OnTime),
        "{panes:?}"
    );
}

#[test]
fn a_recorded_run_with_a_processing_time_trigger_replays_its_early_panes_too() {
    let panes = check_replay_equals_run(pipeline(
        AfterWatermark::past_end_of_window()
            .with_early_firings(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::seconds(5)))
            .into(),
    ));
    assert!(
        panes.iter().any(|o| o.pane.timing == pipeline::pane::PaneTiming::Early),
        "processing time fired early panes: {panes:?}"
    );
}

#[test]
fn a_recorded_run_with_sliding_windows_replays_with_each_record_s_lateness_horizon() {
    let mut core = ConsumerCore::new(sliding_pipeline(), CoreConfig::default()).unwrap();
    core.record();
    run_core(&mut core);
    let text = recording(&mut core);
    assert!(
        text.contains("\"lateness_horizon\": "),
        "the horizons that matter are recorded:\n{text}"
    );
    check_replay_equals_run(sliding_pipeline());
}
