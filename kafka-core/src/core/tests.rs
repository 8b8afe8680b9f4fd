use super::*;
use crate::config::Topics;
use pipeline::traffic::{traffic_pipeline, TrafficAgg, TrafficConfig};

type TrafficCore = ConsumerCore<pipeline::event::PageView, String, pipeline::combine::Count, TrafficAgg>;

/// Processing time `ms` after 2024-04-28T23:12:00, when the visits below happen: event time follows
/// processing time, as in a live stream.
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

fn records(first_offset: i64, payloads: Vec<Vec<u8>>) -> Vec<InputRecord> {
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| InputRecord {
            offset: first_offset + i as i64,
            payload,
        })
        .collect()
}

fn config(exactly_once: bool) -> CoreConfig {
    CoreConfig {
        topics: Topics {
            dead_letters: Some("dlq".to_owned()),
            late: Some("late".to_owned()),
            ..Topics::default()
        },
        exactly_once,
        ..CoreConfig::default()
    }
}

fn core(config: CoreConfig) -> TrafficCore {
    ConsumerCore::new(traffic_pipeline(TrafficConfig::default()), config).unwrap()
}

fn assign(core: &mut TrafficCore, now: i64, partitions: &[(i32, Option<i64>, Option<&str>)]) {
    let assignments: Vec<Assignment> = partitions
        .iter()
        .map(|(partition, committed, metadata)| Assignment {
            partition: *partition,
            committed: *committed,
            metadata: metadata.map(str::to_owned),
        })
        .collect();
    core.on_assign(at(now), &assignments);
}

fn drain(core: &mut TrafficCore) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

fn sends(actions: &[Action]) -> Vec<&Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn commits(actions: &[Action]) -> Vec<(u64, Vec<CommitPoint>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Commit { id, offsets } => Some((*id, offsets.clone())),
            _ => None,
        })
        .collect()
}

/// Answers every commit among `actions` with success; returns the offsets committed per commit.
fn settle_commits(core: &mut TrafficCore, now: i64, actions: &[Action]) -> Vec<Vec<i64>> {
    commits(actions)
        .into_iter()
        .map(|(id, points)| {
            core.on_commit_result(at(now), id, Ok(()));
            points.iter().map(|p| p.offset).collect()
        })
        .collect()
}

fn ack_all(core: &mut TrafficCore, now: i64, actions: &[Action]) {
    for m in sends(actions) {
        core.on_delivery(at(now), m.id, Ok(()));
    }
}

/// Ten visits of user 7 in the window [23:12:00, 23:12:20) at offsets 0..=9, then, as a second bundle,
/// one at 23:13:00 (offset 10) that moves the partition watermark (5 s bound) past the first window's end.
fn first_window_then_one_more(core: &mut TrafficCore, now: i64) {
    core.on_records(at(now), 0, records(0, (0..10).map(|s| visit("7", s)).collect()));
    core.on_records(at(now), 0, records(10, vec![visit("7", 60)]));
}

#[test]
fn offsets_are_committed_only_after_every_earlier_message_is_acknowledged() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    drain(&mut core);
    first_window_then_one_more(&mut core, 1_000);
    let actions = drain(&mut core);
    let out = sends(&actions);
    assert_eq!(out.len(), 1, "the first window fired: {actions:?}");
    // A commit may go out before the window's message, but only of offset 0: nothing is done yet.
    assert!(settle_commits(&mut core, 1_000, &actions)
        .iter()
        .flatten()
        .all(|o| *o == 0));
    core.on_tick(at(5_000));
    let actions = drain(&mut core);
    assert!(commits(&actions).is_empty(), "still unacknowledged: {actions:?}");
    core.on_delivery(at(5_001), out[0].id, Ok(()));
    let actions = drain(&mut core);
    // Offsets 0..=9 are done (their window was written); offset 10's window is still open.
    assert_eq!(settle_commits(&mut core, 5_001, &actions), vec![vec![10]]);
    assert_eq!(core.stats().commits, 2);
    assert!(core.stats().check_conservation().is_ok());
}

#[test]
fn a_delivery_failure_stops_the_core_and_nothing_is_committed_past_it() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    drain(&mut core);
    first_window_then_one_more(&mut core, 1_000);
    let actions = drain(&mut core);
    let id = sends(&actions)[0].id;
    core.on_delivery(at(2_000), id, Err("message timed out".to_owned()));
    assert!(matches!(core.fatal(), Some(CoreError::Delivery { .. })));
    core.on_tick(at(60_000));
    assert!(commits(&drain(&mut core)).is_empty());
    assert_eq!(core.poll_timeout(), None);
}

#[test]
fn a_revocation_waits_for_its_deliveries_commits_and_drops_state() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    drain(&mut core);
    first_window_then_one_more(&mut core, 1_000);
    let actions = drain(&mut core);
    settle_commits(&mut core, 1_000, &actions);
    core.on_revoke(at(1_100));
    assert!(core.is_revoking());
    assert!(
        commits(&drain(&mut core)).is_empty(),
        "the window's message is not acknowledged yet"
    );
    ack_all(&mut core, 1_200, &actions);
    let actions = drain(&mut core);
    assert_eq!(settle_commits(&mut core, 1_300, &actions), vec![vec![10]]);
    assert!(!core.is_revoking());
    assert_eq!(core.open_windows(), 0);
    assert!(core.assigned().is_empty());
    let notices: Vec<Notice> = std::iter::from_fn(|| core.poll_notice()).collect();
    assert!(notices.contains(&Notice::Revoked { committed: true }), "{notices:?}");
}

#[test]
fn a_revocation_gives_up_at_its_deadline_without_committing() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    drain(&mut core);
    first_window_then_one_more(&mut core, 1_000);
    let actions = drain(&mut core);
    settle_commits(&mut core, 1_000, &actions);
    core.on_revoke(at(1_000));
    core.on_tick(at(60_999));
    assert!(core.is_revoking(), "one millisecond before the deadline");
    core.on_tick(at(61_000));
    assert!(!core.is_revoking());
    assert_eq!(
        core.stats().commits,
        1,
        "only the commit of offset 0, before the revocation"
    );
}

#[test]
fn records_already_emitted_before_the_checkpoint_are_skipped_on_replay() {
    let mut core = core(config(false));
    // A previous owner committed offset 0 with floor 23:12:20 after reading up to offset 11: the first
    // window (offsets 0..=9) was emitted; offset 10 (23:13:00) was not.
    let floor = Timestamp::parse_datetime("2024-04-28T23:12:20").unwrap().millis();
    let metadata = format!("kafka-runtime/1 floor={floor} replay-until=11");
    assign(&mut core, 0, &[(0, Some(0), Some(&metadata))]);
    drain(&mut core);
    first_window_then_one_more(&mut core, 1_000);
    let stats = core.stats();
    assert_eq!(stats.replay_skipped, 10);
    assert_eq!(stats.pipeline.counted, 1);
    assert!(
        sends(&drain(&mut core)).is_empty(),
        "the first window is not emitted again"
    );
    assert!(stats.check_conservation().is_ok());
}

#[test]
fn records_of_partitions_not_assigned_and_redelivered_offsets_are_counted_apart() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, Some(5), None)]);
    core.on_records(at(1), 1, records(0, vec![visit("7", 1)]));
    core.on_records(at(2), 0, records(3, vec![visit("7", 1), visit("7", 2), visit("7", 3)]));
    core.on_records(at(3), 0, records(5, vec![visit("7", 3)]));
    let stats = core.stats();
    assert_eq!((stats.discarded, stats.redelivered, stats.pipeline.read), (1, 3, 1));
    assert!(stats.check_conservation().is_ok());
}

#[test]
fn dead_letters_keep_their_bytes_and_say_where_they_came_from() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(2, None, None)]);
    core.on_records(at(1), 2, records(40, vec![b"\xffnot json".to_vec()]));
    let actions = drain(&mut core);
    let dead = sends(&actions)[0];
    assert_eq!((dead.kind, dead.topic.as_str()), (MessageKind::DeadLetter, "dlq"));
    assert_eq!(dead.value, b"\xffnot json");
    assert_eq!(dead.header("source.offset"), Some(&b"40"[..]));
}

#[test]
fn a_broker_outage_is_not_idleness() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None), (1, None, None)]);
    core.on_records(at(0), 0, records(0, vec![visit("7", 0)]));
    core.on_records(at(0), 1, records(0, vec![visit("8", 0)]));
    // Partition 0 keeps delivering; partition 1 goes silent and the broker never answers about it.
    for (i, second) in (1..=100).enumerate() {
        core.on_records(
            at(second * 1_000),
            0,
            records(1 + i as i64, vec![visit("7", second as u32)]),
        );
    }
    let before = core.watermark();
    assert_eq!(
        before,
        Watermark::at(Timestamp::parse_datetime("2024-04-28T23:11:55").unwrap()),
        "partition 1 holds the watermark at its last record minus the bound"
    );
    assert!(core.stats().late() == 0);
    // The broker answers that partition 1 has nothing more, and keeps saying so for the idle timeout:
    // now it is idle and stops holding.
    for now in (100_000..=110_000).step_by(2_500) {
        core.on_end_offsets(at(now), 1, EndOffsets { position: 1, end: 1 });
    }
    assert!(core.watermark() > before);
}

/// The broker says `partition` has nothing more (`position = end = next`) every 2.5 s from `from` through
/// `to`.
fn caught_up(core: &mut TrafficCore, partition: i32, next: i64, from: i64, to: i64) {
    for now in (from..=to).step_by(2_500) {
        core.on_end_offsets(
            at(now),
            partition,
            EndOffsets {
                position: next,
                end: next,
            },
        );
    }
}

#[test]
fn when_every_partition_is_caught_up_and_silent_the_last_windows_close() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    core.on_records(at(0), 0, records(0, vec![visit("7", 0), visit("7", 1)]));
    assert!(sends(&drain(&mut core)).is_empty());
    core.on_tick(at(30_000));
    assert!(sends(&drain(&mut core)).is_empty(), "no report: the window stays open");
    caught_up(&mut core, 0, 2, 30_000, 37_500);
    assert!(
        sends(&drain(&mut core)).is_empty(),
        "caught up for less than the idle timeout"
    );
    caught_up(&mut core, 0, 2, 40_000, 40_000);
    let actions = drain(&mut core);
    assert_eq!(sends(&actions).len(), 1, "{actions:?}");
}

#[test]
fn an_end_offset_report_handed_over_late_goes_stale_from_when_the_broker_answered() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    core.on_records(at(0), 0, records(0, vec![visit("7", 0), visit("7", 1)]));
    core.on_tick(at(30_000));
    drain(&mut core);
    // The broker said "caught up" from 10 s to 20 s, but the driver hands the reports over only at 30 s:
    // the last is older than half the 10 s idle timeout, stale already, and the window stays open.
    caught_up(&mut core, 0, 2, 10_000, 20_000);
    assert!(sends(&drain(&mut core)).is_empty());
    // A report from 26 s is fresh at 30 s, but it follows a gap: the partition has been caught up since
    // 26 s only, not for the idle timeout.
    core.on_end_offsets(at(26_000), 0, EndOffsets { position: 2, end: 2 });
    assert!(sends(&drain(&mut core)).is_empty());
    caught_up(&mut core, 0, 2, 28_500, 36_000);
    core.on_tick(at(36_000));
    assert_eq!(sends(&drain(&mut core)).len(), 1);
}

#[test]
fn the_core_asks_for_end_offsets_of_silent_partitions_only() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None), (1, None, None)]);
    drain(&mut core);
    core.on_records(at(4_000), 0, records(0, vec![visit("7", 0)]));
    let asked: Vec<Vec<i32>> = drain(&mut core)
        .into_iter()
        .filter_map(|a| match a {
            Action::FetchEndOffsets(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![vec![1]]);
}

#[test]
fn too_many_unacknowledged_messages_pause_fetching_until_half_are_acknowledged() {
    let mut core = core(CoreConfig {
        max_in_flight: 4,
        ..config(false)
    });
    assign(&mut core, 0, &[(0, None, None)]);
    drain(&mut core);
    let bad: Vec<Vec<u8>> = (0..5).map(|i| format!("bad {i}").into_bytes()).collect();
    core.on_records(at(1), 0, records(0, bad));
    let actions = drain(&mut core);
    assert!(actions.contains(&Action::Pause(vec![0])), "{actions:?}");
    let ids: Vec<u64> = sends(&actions).iter().map(|m| m.id).collect();
    core.on_delivery(at(2), ids[0], Ok(()));
    core.on_delivery(at(2), ids[1], Ok(()));
    assert!(!drain(&mut core).contains(&Action::Resume(vec![0])));
    core.on_delivery(at(2), ids[2], Ok(()));
    assert!(drain(&mut core).contains(&Action::Resume(vec![0])));
}

#[test]
fn exactly_once_sends_only_inside_a_transaction_and_commits_offsets_with_it() {
    let mut core = core(config(true));
    assign(&mut core, 0, &[(0, None, None)]);
    assert!(drain(&mut core).is_empty(), "nothing to commit yet: no transaction");
    first_window_then_one_more(&mut core, 1_000);
    let actions = drain(&mut core);
    assert_eq!(
        actions,
        vec![Action::BeginTransaction],
        "the output waits for the transaction"
    );
    core.on_transaction_result(at(1_001), TxnStep::Begin, Ok(()));
    let actions = drain(&mut core);
    assert_eq!(sends(&actions).len(), 1);
    let offsets = actions.iter().find_map(|a| match a {
        Action::SendOffsetsToTransaction { offsets } => Some(offsets.clone()),
        _ => None,
    });
    assert_eq!(offsets.expect("a commit is due")[0].offset, 10);
    core.on_transaction_result(at(1_002), TxnStep::SendOffsets, Ok(()));
    assert_eq!(drain(&mut core), vec![Action::CommitTransaction]);
    core.on_transaction_result(at(1_003), TxnStep::Commit, Ok(()));
    assert_eq!(core.stats().commits, 1);
    assert_eq!(core.unacknowledged(), 0);
}

#[test]
fn a_failed_transaction_is_aborted_and_stops_the_core() {
    let mut core = core(config(true));
    assign(&mut core, 0, &[(0, None, None)]);
    first_window_then_one_more(&mut core, 1_000);
    drain(&mut core);
    core.on_transaction_result(at(1_001), TxnStep::Begin, Ok(()));
    drain(&mut core);
    core.on_transaction_result(
        at(1_002),
        TxnStep::SendOffsets,
        Err(TxnError {
            fenced: false,
            message: "coordinator not available".to_owned(),
        }),
    );
    assert_eq!(drain(&mut core), vec![Action::AbortTransaction]);
    assert!(core.fatal().is_none(), "not before the abort finished");
    core.on_transaction_result(at(1_003), TxnStep::Abort, Ok(()));
    assert!(matches!(
        core.fatal(),
        Some(CoreError::Transaction {
            step: TxnStep::SendOffsets,
            ..
        })
    ));
}

#[test]
fn a_fenced_producer_stops_at_once() {
    let mut core = core(config(true));
    assign(&mut core, 0, &[(0, None, None)]);
    first_window_then_one_more(&mut core, 1_000);
    drain(&mut core);
    core.on_transaction_result(
        at(1_001),
        TxnStep::Begin,
        Err(TxnError {
            fenced: true,
            message: "producer fenced".to_owned(),
        }),
    );
    assert!(matches!(core.fatal(), Some(CoreError::Fenced { .. })));
    assert!(drain(&mut core).is_empty());
}

#[test]
fn exactly_once_revocation_commits_the_open_transaction() {
    let mut core = core(config(true));
    assign(&mut core, 0, &[(0, None, None)]);
    core.on_records(at(500), 0, records(0, vec![visit("7", 1)]));
    assert!(
        drain(&mut core).is_empty(),
        "no output yet, and the commit is not due before 1 s"
    );
    core.on_revoke(at(600));
    assert_eq!(drain(&mut core), vec![Action::BeginTransaction]);
    core.on_transaction_result(at(601), TxnStep::Begin, Ok(()));
    let actions = drain(&mut core);
    assert!(
        matches!(&actions[..], [Action::SendOffsetsToTransaction { offsets }]
            if offsets[0].offset == 0 && offsets[0].checkpoint.replay_until == 1),
        "{actions:?}"
    );
    core.on_transaction_result(at(602), TxnStep::SendOffsets, Ok(()));
    assert_eq!(drain(&mut core), vec![Action::CommitTransaction]);
    core.on_transaction_result(at(603), TxnStep::Commit, Ok(()));
    assert!(!core.is_revoking());
    assert!(core.assigned().is_empty());
}

#[test]
fn exactly_once_messages_held_behind_a_committing_transaction_are_dropped_at_a_revocation() {
    let mut core = core(config(true));
    assign(&mut core, 0, &[(0, None, None)]);
    core.on_records(at(500), 0, records(0, vec![visit("7", 1)]));
    core.on_tick(at(1_000));
    assert_eq!(drain(&mut core), vec![Action::BeginTransaction]);
    core.on_transaction_result(at(1_001), TxnStep::Begin, Ok(()));
    assert!(matches!(
        &drain(&mut core)[..],
        [Action::SendOffsetsToTransaction { .. }]
    ));
    // While the offsets are being added, a window fires: its message waits for the next transaction.
    core.on_records(at(1_002), 0, records(1, vec![visit("7", 60)]));
    assert!(sends(&drain(&mut core)).is_empty());
    core.on_revoke(at(1_003));
    core.on_transaction_result(at(1_004), TxnStep::SendOffsets, Ok(()));
    assert_eq!(drain(&mut core), vec![Action::CommitTransaction]);
    core.on_transaction_result(at(1_005), TxnStep::Commit, Ok(()));
    assert!(!core.is_revoking());
    // The held window is rebuilt by the next owner from the committed offset (0): sent now, it would be
    // sent twice.
    assert!(sends(&drain(&mut core)).is_empty());
    assign(&mut core, 2_000, &[(0, Some(0), None)]);
    core.on_transaction_result(at(2_001), TxnStep::Begin, Ok(()));
    let actions = drain(&mut core);
    assert!(
        sends(&actions).is_empty(),
        "nothing left over from before the revocation: {actions:?}"
    );
}

#[test]
fn a_recording_holds_the_bundles_and_watermarks_the_pipeline_saw_and_ends_at_a_revocation() {
    let mut core = core(config(false));
    core.record();
    assign(&mut core, 0, &[(0, None, None)]);
    first_window_then_one_more(&mut core, 1_000);
    // Late in its partition (the watermark is 23:12:55): reported by the core, never bundled.
    core.on_records(at(1_100), 0, records(11, vec![visit("7", 5)]));
    // Each thing recorded, in short: a bundle's offsets, a watermark, a late record's offset.
    let recorded: Vec<String> = std::iter::from_fn(|| core.poll_recorded())
        .map(|r| match r {
            Recorded::Bundle {
                records,
                lateness_horizons: None,
            } => {
                let offsets: Vec<String> = records
                    .iter()
                    .map(|r| match r.position {
                        Position::Offset { partition: 0, offset } => offset.to_string(),
                        other => panic!("a recorded record stands at its partition and offset, not {other}"),
                    })
                    .collect();
                format!("bundle {}", offsets.join(","))
            }
            Recorded::Step(pipeline::Step::Watermark(w)) => format!("watermark {w}"),
            Recorded::Step(step) => format!("{step:?}"),
            Recorded::Bundle { lateness_horizons, .. } => format!("bundle with horizons {lateness_horizons:?}"),
            Recorded::DroppedLate(late) => format!("late {}", late.position),
            Recorded::End => "end".to_owned(),
        })
        .collect();
    // No processing-time step: the default trigger never reads the clock.
    assert_eq!(
        recorded,
        [
            "bundle 0,1,2,3,4,5,6,7,8,9",
            "watermark 2024-04-28T23:12:04.000",
            "bundle 10",
            "watermark 2024-04-28T23:12:55.000",
            "late partition 0 offset 11",
        ]
    );
    core.on_revoke(at(1_200));
    // Every message delivered and every commit through: the revocation completes.
    while let Some(action) = core.poll_action() {
        match action {
            Action::Send(m) => core.on_delivery(at(1_200), m.id, Ok(())),
            Action::Commit { id, .. } => core.on_commit_result(at(1_200), id, Ok(())),
            _ => {}
        }
    }
    assert!(!core.is_revoking());
    assert_eq!(core.poll_recorded(), Some(Recorded::End));
    // Nothing after the revocation is recorded: a replay cannot drop the pipeline's state.
    assign(&mut core, 2_000, &[(0, Some(11), None)]);
    core.on_records(at(2_000), 0, records(12, vec![visit("7", 70)]));
    assert_eq!(core.poll_recorded(), None);
}

#[test]
fn a_core_that_does_not_record_notes_nothing() {
    let mut core = core(config(false));
    assign(&mut core, 0, &[(0, None, None)]);
    first_window_then_one_more(&mut core, 1_000);
    assert_eq!(core.poll_recorded(), None);
}
