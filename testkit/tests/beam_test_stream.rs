//! Apache Beam's own TestStream tests, ported as a user of this crate would port them: the same scripts,
//! the same windowing and triggers, and Beam's expected values exactly, each quoted with the name of the
//! Beam test it comes from.
//!
//! From Java, `sdks/java/core/src/test/java/org/apache/beam/sdk/testing/TestStreamTest.java` (times
//! are `Instant`s in milliseconds); from Python, `sdks/python/apache_beam/testing/test_stream_test.py`
//! (times in seconds). Beam's pipelines are `TestStream → Window → WithKeys → GroupByKey → Values →
//! Flatten`, or a `Combine`; here they are one stage: [`timestamped_values`] decodes each element,
//! `.windows(..)`, `.triggering(..)` and the rest window it, `.key_by(..)` keys it and `.to_list(..)`
//! (GroupByKey values), `.sum(..)` or `.count()` combines it; `flatten()` on an assertion lists the
//! grouped elements as `Flatten.iterables()` does. Python's tagged outputs of one TestStream become
//! separate streams applied to the same pipeline. Tests that need several stages, side inputs,
//! pre-windowed elements or a runner service (`testMultiStage`, Python's side-input tests,
//! `test_windowed_values_interpreted_correctly`, `test_basic_execution_with_service`,
//! `ReverseTestStream`) have no single-stage equivalent and are not ported.

use pipeline::strategy::AccumulationMode;
use pipeline::time::{Duration, Timestamp, Watermark, END_OF_GLOBAL_WINDOW, TIMESTAMP_MAX_VALUE, TIMESTAMP_MIN_VALUE};
use pipeline::trigger::{AfterPane, AfterProcessingTime, AfterWatermark, ClosingBehavior, DefaultTrigger, Never};
use pipeline::window::{FixedWindows, GlobalWindows, Window, WindowFn};
use testkit::{assert_that, timestamped_values, PaneOutput, ScriptError, TestPipeline, TestStream, TimestampedValue};

/// Java's `new Instant(ms)`.
fn instant(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Python's `Timestamp(seconds)`.
fn seconds(s: i64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

fn tv<T>(value: T, at: Timestamp) -> TimestampedValue<T> {
    TimestampedValue::of(value, at)
}

/// The window `FixedWindows` puts `t` in: Beam's `windowFn.assignWindow(t)`.
fn assign_window(window_fn: &impl WindowFn, t: Timestamp) -> Window {
    let mut windows = Vec::new();
    window_fn.assign_windows(t, &mut windows);
    assert_eq!(windows.len(), 1, "one window for {t}");
    windows[0]
}

// ---------------------------------------------------------------------------------------------------
// Java: TestStreamTest

/// `testLateDataAccumulating`'s windowing: five-minute windows, early firings two minutes of processing
/// time after a pane's first element, a late firing for every late element, accumulating, five minutes
/// of allowed lateness with `ClosingBehavior.FIRE_ALWAYS`.
fn late_data_accumulating() -> pipeline::dataflow::WindowedBuilder<TimestampedValue<i64>> {
    timestamped_values::<i64>()
        .windows(FixedWindows::of(Duration::minutes(5)))
        .triggering(
            AfterWatermark::past_end_of_window()
                .with_early_firings(
                    AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::minutes(2)),
                )
                .with_late_firings(AfterPane::element_count_at_least(1)),
        )
        .accumulation(AccumulationMode::Accumulating)
        .allowed_lateness(Duration::minutes(5))
        .closing_behavior(ClosingBehavior::FireAlways)
}

fn late_data_stream() -> TestStream {
    let instant = instant(0);
    TestStream::new()
        .add_elements([tv(1, instant), tv(2, instant), tv(3, instant)])
        .advance_watermark_to(instant.plus(Duration::minutes(6)))
        // These elements are late but within the allowed lateness
        .add_elements([tv(4, instant), tv(5, instant)])
        .advance_watermark_to(instant.plus(Duration::minutes(20)))
        // These elements are droppably late
        .add_elements([tv(-1, instant), tv(-2, instant), tv(-3, instant)])
        .advance_watermark_to_infinity()
}

#[test]
fn test_late_data_accumulating() {
    let window = Window::new(instant(0), instant(0).plus(Duration::minutes(5)));

    // triggered = windowed → WithKeys.of(1) → GroupByKey → Values → Flatten.iterables()
    let triggered = TestPipeline::new(late_data_accumulating().key_by(|_| 1).to_list(|e| e.value).values());
    let output = triggered.apply(late_data_stream());
    // PAssert.that(triggered).inFinalPane(window).containsInAnyOrder(1L, 2L, 3L, 4L, 5L);
    assert_that(&output)
        .in_final_pane(window)
        .flatten()
        .contains_in_any_order([1, 2, 3, 4, 5]);
    // PAssert.that(triggered).inOnTimePane(window).containsInAnyOrder(1L, 2L, 3L);
    assert_that(&output)
        .in_on_time_pane(window)
        .flatten()
        .contains_in_any_order([1, 2, 3]);
    triggered.run();
    assert_eq!(output.output().late.len(), 3, "-1, -2 and -3 are droppably late");

    // count = windowed.apply(Combine.globally(Count.<Long>combineFn()).withoutDefaults())
    let count = TestPipeline::new(late_data_accumulating().key_by(|_| ()).count().values());
    let counts = count.apply(late_data_stream());
    // assertThat(count1, allOf(greaterThanOrEqualTo(3L), lessThanOrEqualTo(5L)))
    assert_that(&counts)
        .in_window(window)
        .values_satisfy(|counts| !counts.is_empty() && counts.iter().all(|c| (3..=5).contains(*c)));
    count.run();

    // sum = windowed.apply(Sum.longsGlobally().withoutDefaults())
    let sum = TestPipeline::new(late_data_accumulating().key_by(|_| ()).sum(|e| e.value).values());
    let sums = sum.apply(late_data_stream());
    // assertThat(sum1, allOf(greaterThanOrEqualTo(6L), lessThanOrEqualTo(15L)))
    assert_that(&sums)
        .in_window(window)
        .values_satisfy(|sums| !sums.is_empty() && sums.iter().all(|s| (6..=15).contains(*s)));
    sum.run();
}

#[test]
fn test_processing_time_trigger() {
    // Window.<Long>configure(): the TestStream's global window.
    let sum = TestPipeline::new(
        timestamped_values::<i64>()
            .windows(GlobalWindows)
            .triggering(AfterWatermark::past_end_of_window().with_early_firings(
                AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::minutes(5)),
            ))
            .accumulation(AccumulationMode::Accumulating)
            .allowed_lateness(Duration::ZERO)
            .key_by(|_| ()) // Sum.longsGlobally()
            .sum(|e| e.value)
            .values(),
    );
    let output = sum.apply(
        TestStream::new()
            .add_elements([tv(1, instant(1000)), tv(2, instant(2000))])
            .advance_processing_time(Duration::minutes(12))
            .add_elements([tv(3, instant(3000))])
            .advance_processing_time(Duration::minutes(6))
            .advance_watermark_to_infinity(),
    );
    // PAssert.that(sum).inEarlyGlobalWindowPanes().containsInAnyOrder(3L, 6L);
    assert_that(&output)
        .in_early_global_window_panes()
        .contains_in_any_order([3, 6]);
    sum.run();
}

#[test]
fn test_discarding_mode() {
    let window_fn = FixedWindows::of(Duration::millis(1000));
    let allowed_lateness = Duration::millis(5000);
    let values = TestPipeline::new(
        timestamped_values::<String>()
            .windows(window_fn)
            .triggering(
                AfterWatermark::past_end_of_window()
                    .with_early_firings(AfterPane::element_count_at_least(2))
                    .with_late_firings(Never::ever()),
            )
            .accumulation(AccumulationMode::Discarding)
            .allowed_lateness(allowed_lateness)
            .key_by(|_| 1)
            .to_list(|e| e.value.clone())
            .values(),
    );
    let output = values.apply(
        TestStream::new()
            .advance_watermark_to(instant(0))
            .add_elements([tv("firstPane", instant(100)), tv("alsoFirstPane", instant(200))])
            .add_elements([tv("onTimePane", instant(500))])
            .advance_watermark_to(instant(1000))
            .add_elements([tv("finalLatePane", instant(750)), tv("alsoFinalLatePane", instant(250))])
            .advance_watermark_to_infinity(),
    );
    let window = assign_window(&window_fn, instant(100));
    let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // PAssert.that(values).inWindow(window).containsInAnyOrder(
    //     "firstPane", "alsoFirstPane", "onTimePane", "finalLatePane", "alsoFinalLatePane");
    assert_that(&output)
        .in_window(window)
        .flatten()
        .contains_in_any_order(strings(&[
            "firstPane",
            "alsoFirstPane",
            "onTimePane",
            "finalLatePane",
            "alsoFinalLatePane",
        ]));
    // PAssert.that(values).inCombinedNonLatePanes(window)
    //     .containsInAnyOrder("firstPane", "alsoFirstPane", "onTimePane");
    assert_that(&output)
        .in_combined_non_late_panes(window)
        .flatten()
        .contains_in_any_order(strings(&["firstPane", "alsoFirstPane", "onTimePane"]));
    // PAssert.that(values).inOnTimePane(window).containsInAnyOrder("onTimePane");
    assert_that(&output)
        .in_on_time_pane(window)
        .flatten()
        .contains_in_any_order(strings(&["onTimePane"]));
    // PAssert.that(values).inFinalPane(window).containsInAnyOrder("finalLatePane", "alsoFinalLatePane");
    assert_that(&output)
        .in_final_pane(window)
        .flatten()
        .contains_in_any_order(strings(&["finalLatePane", "alsoFinalLatePane"]));
    values.run();
}

#[test]
fn test_first_element_late() {
    let late_element_timestamp = instant(-1_000_000);
    let window_fn = FixedWindows::of(Duration::millis(1000));
    let allowed_lateness = Duration::millis(5000);
    let values = TestPipeline::new(
        timestamped_values::<String>()
            .windows(window_fn)
            .triggering(DefaultTrigger::of())
            .accumulation(AccumulationMode::Discarding)
            .allowed_lateness(allowed_lateness)
            .key_by(|_| 1)
            .to_list(|e| e.value.clone())
            .values(),
    );
    let output = values.apply(
        TestStream::new()
            .advance_watermark_to(instant(0))
            .add_elements([tv("late", late_element_timestamp)])
            .add_elements([tv("onTime", instant(100))])
            .advance_watermark_to_infinity(),
    );
    // PAssert.that(values).inWindow(windowFn.assignWindow(lateElementTimestamp)).empty();
    assert_that(&output)
        .in_window(assign_window(&window_fn, late_element_timestamp))
        .flatten()
        .is_empty();
    // PAssert.that(values).inWindow(windowFn.assignWindow(new Instant(100))).containsInAnyOrder("onTime");
    assert_that(&output)
        .in_window(assign_window(&window_fn, instant(100)))
        .flatten()
        .contains_in_any_order(["onTime".to_owned()]);
    values.run();
    assert_eq!(output.output().late.len(), 1);
}

#[test]
fn test_elements_at_almost_positive_infinity() {
    let end_of_global_window = Window::global().max_timestamp();
    assert_eq!(end_of_global_window, END_OF_GLOBAL_WINDOW);
    let windows = FixedWindows::of(Duration::minutes(6 * 60));
    let windowed_values = TestPipeline::new(
        timestamped_values::<String>()
            .windows(windows)
            .key_by(|_| 1)
            .to_list(|e| e.value.clone())
            .values(),
    );
    let output = windowed_values.apply(
        TestStream::new()
            .add_elements([tv("foo", end_of_global_window), tv("bar", end_of_global_window)])
            .advance_watermark_to_infinity(),
    );
    // PAssert.that(windowedValues).inWindow(windows.assignWindow(endOfGlobalWindow))
    //     .containsInAnyOrder("foo", "bar");
    assert_that(&output)
        .in_window(assign_window(&windows, end_of_global_window))
        .flatten()
        .contains_in_any_order(["foo".to_owned(), "bar".to_owned()]);
    windowed_values.run();
}

#[test]
fn test_multiple_streams() {
    // Window.<String>configure().triggering(AfterPane.elementCountAtLeast(2))
    //     .withAllowedLateness(Duration.ZERO).accumulatingFiredPanes()
    let create_strings = TestPipeline::new(
        timestamped_values::<String>()
            .windows(GlobalWindows)
            .triggering(AfterPane::element_count_at_least(2))
            .allowed_lateness(Duration::ZERO)
            .accumulation(AccumulationMode::Accumulating)
            .key_by(|_| ())
            .to_list(|e| e.value.clone())
            .values(),
    );
    let strings = create_strings.apply(
        TestStream::new()
            .add_values(["foo", "bar"])
            .advance_watermark_to_infinity(),
    );
    // PAssert.that(createStrings).containsInAnyOrder("foo", "bar");
    assert_that(&strings)
        .flatten()
        .contains_in_any_order(["foo".to_owned(), "bar".to_owned()]);
    create_strings.run();

    let create_ints = TestPipeline::new(
        timestamped_values::<i64>()
            .windows(GlobalWindows)
            .triggering(AfterPane::element_count_at_least(4))
            .allowed_lateness(Duration::ZERO)
            .accumulation(AccumulationMode::Accumulating)
            .key_by(|_| ())
            .to_list(|e| e.value)
            .values(),
    );
    let ints = create_ints.apply(
        TestStream::new()
            .add_values([1, 2, 3, 4])
            .advance_watermark_to_infinity(),
    );
    // PAssert.that(createInts).containsInAnyOrder(1L, 2L, 3L, 4L);
    assert_that(&ints).flatten().contains_in_any_order([1, 2, 3, 4]);
    create_ints.run();
}

#[test]
fn test_element_at_positive_infinity_throws() {
    let stream = TestStream::new().add_elements([tv(-1, TIMESTAMP_MAX_VALUE.minus(Duration::millis(1)))]);
    assert_eq!(stream.validate(), Ok(()));
    // thrown.expect(IllegalArgumentException.class);
    // stream.addElements(TimestampedValue.of(1, BoundedWindow.TIMESTAMP_MAX_VALUE));
    let err = stream
        .add_elements([tv(1, TIMESTAMP_MAX_VALUE)])
        .validate()
        .unwrap_err();
    assert!(matches!(err, ScriptError::ElementTimestamp { step: 2, .. }), "{err}");
}

#[test]
fn test_advance_watermark_non_monotonic_throws() {
    let stream = TestStream::new().advance_watermark_to(instant(0));
    // thrown.expect(IllegalArgumentException.class);
    // stream.advanceWatermarkTo(new Instant(-1L));
    let err = stream.advance_watermark_to(instant(-1)).validate().unwrap_err();
    assert!(matches!(err, ScriptError::WatermarkBackwards { step: 2, .. }), "{err}");
}

#[test]
fn test_advance_watermark_equal_to_positive_infinity_throws() {
    let stream = TestStream::new().advance_watermark_to(TIMESTAMP_MAX_VALUE.minus(Duration::millis(1)));
    assert_eq!(stream.validate(), Ok(()));
    // thrown.expect(IllegalArgumentException.class);
    // stream.advanceWatermarkTo(BoundedWindow.TIMESTAMP_MAX_VALUE);
    let err = stream.advance_watermark_to(TIMESTAMP_MAX_VALUE).validate().unwrap_err();
    assert!(matches!(err, ScriptError::WatermarkPastEnd { step: 2, .. }), "{err}");
}

#[test]
fn test_early_panes_of_window() {
    let sum = TestPipeline::new(
        timestamped_values::<i64>()
            .windows(FixedWindows::of(Duration::minutes(30)))
            .triggering(AfterWatermark::past_end_of_window().with_early_firings(
                AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::minutes(5)),
            ))
            .accumulation(AccumulationMode::Accumulating)
            .allowed_lateness(Duration::ZERO)
            .key_by(|_| "key".to_owned()) // MapElements.via(v -> KV.of("key", v))
            .sum(|e| e.value) // Sum.longsPerKey()
            .kvs(),
    );
    let output = sum.apply(
        TestStream::new()
            .add_elements([tv(1, instant(1000))])
            .advance_processing_time(Duration::minutes(6)) // Fire early pane
            .add_elements([tv(2, instant(2000))])
            .advance_processing_time(Duration::minutes(6)) // Fire early pane
            .add_elements([tv(3, instant(3000))])
            .advance_processing_time(Duration::minutes(6)) // Fire early pane
            .advance_watermark_to_infinity(), // Fire on-time pane
    );
    let window = Window::new(instant(0), instant(0).plus(Duration::minutes(30)));
    let kv = |v: i64| ("key".to_owned(), v);
    // PAssert.that(sum).inEarlyPane(window)
    //     .satisfies(input -> { assertThat(count(input), is(3L)); ... })
    //     .containsInAnyOrder(KV.of("key", 1L), KV.of("key", 3L), KV.of("key", 6L))
    assert_that(&output)
        .in_early_pane(window)
        .values_satisfy(|input| input.len() == 3);
    assert_that(&output)
        .in_early_pane(window)
        .contains_in_any_order([kv(1), kv(3), kv(6)]);
    //     .inOnTimePane(window)
    //     .satisfies(input -> { assertThat(count(input), is(1L)); ... })
    //     .containsInAnyOrder(KV.of("key", 6L));
    assert_that(&output)
        .in_on_time_pane(window)
        .values_satisfy(|input| input.len() == 1);
    assert_that(&output)
        .in_on_time_pane(window)
        .contains_in_any_order([kv(6)]);
    sum.run();
}

#[test]
fn test_test_stream_coder() {
    // The coder's round trip is the scenario form's: a script survives being written and read back.
    let test_stream = TestStream::new()
        .add_values(["hey"])
        .advance_watermark_to(Timestamp::from_millis(22_521_600))
        .advance_processing_time(Duration::millis(42))
        .add_values(["hey", "joe"])
        .advance_watermark_to_infinity();
    let recovered_stream = TestStream::from_scenario(&test_stream.to_scenario()).unwrap();
    // assertThat(recoveredStream, is(testStream));
    assert_eq!(recovered_stream, test_stream);
}

// ---------------------------------------------------------------------------------------------------
// Python: test_stream_test.py (times in seconds)

/// `key` for every element, values grouped per pane and shown with the key: Python's
/// `beam.Map(lambda x: ('k', x)) | beam.GroupByKey()`.
fn python_gbk(
    windowed: pipeline::dataflow::WindowedBuilder<TimestampedValue<String>>,
) -> TestPipeline<String, (String, Vec<String>)> {
    TestPipeline::new(windowed.key_by(|_| "k".to_owned()).to_list(|e| e.value.clone()).kvs())
}

fn k(values: &[&str]) -> (String, Vec<String>) {
    ("k".to_owned(), values.iter().map(|s| s.to_string()).collect())
}

#[test]
fn test_basic_test_stream() {
    let test_stream = TestStream::new()
        .advance_watermark_to(seconds(0))
        // 'a' has no timestamp of its own: it takes the watermark, 0. WindowedValue('b', 3, []) and
        // TimestampedValue('c', 6) carry theirs.
        .add_elements([tv("a", seconds(0)), tv("b", seconds(3)), tv("c", seconds(6))])
        .advance_processing_time(Duration::seconds(10))
        .advance_watermark_to(seconds(8))
        .add_values(["d"]) // no timestamp: the watermark, 8
        .advance_watermark_to_infinity();
    // WatermarkEvent(0), ElementEvent([TimestampedValue('a', 0), TimestampedValue('b', 3),
    // TimestampedValue('c', 6)]), ProcessingTimeEvent(10), WatermarkEvent(8),
    // ElementEvent([TimestampedValue('d', 8)]), WatermarkEvent(timestamp.MAX_TIMESTAMP)
    let events = TestStream::new()
        .advance_watermark_to(seconds(0))
        .add_elements([tv("a", seconds(0)), tv("b", seconds(3)), tv("c", seconds(6))])
        .advance_processing_time(Duration::seconds(10))
        .advance_watermark_to(seconds(8))
        .add_elements([tv("d", seconds(8))])
        .advance_watermark_to(Timestamp::MAX);
    assert_eq!(test_stream, events);
    assert_eq!(test_stream.current_watermark(), Watermark::MAX);
}

#[test]
fn test_test_stream_errors() {
    // 'Watermark must strictly-monotonically advance.'
    let err = TestStream::new()
        .advance_watermark_to(seconds(5))
        .advance_watermark_to(seconds(4))
        .validate();
    assert!(
        matches!(err, Err(ScriptError::WatermarkBackwards { step: 2, .. })),
        "{err:?}"
    );
    // 'Must advance processing time by positive amount.'
    let err = TestStream::new()
        .advance_processing_time(Duration::seconds(-1))
        .validate();
    assert!(
        matches!(err, Err(ScriptError::ProcessingTimeNotAdvancing { step: 1, .. })),
        "{err:?}"
    );
    // 'Element timestamp must be before timestamp.MAX_TIMESTAMP.'
    let err = TestStream::new()
        .add_elements([tv("a", TIMESTAMP_MAX_VALUE)])
        .validate();
    assert!(
        matches!(err, Err(ScriptError::ElementTimestamp { step: 1, .. })),
        "{err:?}"
    );
}

#[test]
fn test_basic_execution() {
    // RecordFn yields (element, timestamp): here each element's key is its value, and the run reports
    // every element with its event time.
    let records = timestamped_values::<String>()
        .windows(GlobalWindows)
        .key_by(|e| e.value.clone())
        .count()
        .values();
    let output = TestStream::new()
        .advance_watermark_to(seconds(10))
        .add_values(["a", "b", "c"])
        .advance_watermark_to(seconds(20))
        .add_values(["d"])
        .add_values(["e"])
        .advance_processing_time(Duration::seconds(10))
        .advance_watermark_to(seconds(300))
        .add_elements([tv("late", seconds(12))])
        .add_elements([tv("last", seconds(310))])
        .advance_watermark_to_infinity()
        .run(&records)
        .unwrap();
    let recorded: Vec<(String, Timestamp)> = output
        .elements()
        .map(|e| (e.key.clone().unwrap(), e.event_time.unwrap()))
        .collect();
    // ('a', 10), ('b', 10), ('c', 10), ('d', 20), ('e', 20), ('late', 12), ('last', 310)
    let expected: Vec<(String, Timestamp)> = [
        ("a", 10),
        ("b", 10),
        ("c", 10),
        ("d", 20),
        ("e", 20),
        ("late", 12),
        ("last", 310),
    ]
    .iter()
    .map(|(e, s)| (e.to_string(), seconds(*s)))
    .collect();
    assert_eq!(recorded, expected);
}

#[test]
fn test_multiple_outputs() {
    // Each tag of the TestStream is a stream of its own here, applied to the same pipeline.
    let records = TestPipeline::new(
        timestamped_values::<String>()
            .windows(GlobalWindows)
            .key_by(|e| e.value.clone())
            .count()
            .values(),
    );
    let letters = records.apply(TestStream::new().advance_watermark_to(seconds(5)).add_elements([
        tv("a", seconds(6)),
        tv("b", seconds(7)),
        tv("c", seconds(8)),
    ]));
    let numbers = records.apply(TestStream::new().advance_watermark_to(seconds(10)).add_elements([
        tv("1", seconds(11)),
        tv("2", seconds(12)),
        tv("3", seconds(13)),
    ]));
    records.run();
    let recorded = |output: &testkit::TestOutput<String, u64>| -> Vec<(String, Timestamp)> {
        output
            .elements()
            .map(|e| (e.key.clone().unwrap(), e.event_time.unwrap()))
            .collect()
    };
    let expected = |pairs: &[(&str, i64)]| -> Vec<(String, Timestamp)> {
        pairs.iter().map(|(e, s)| (e.to_string(), seconds(*s))).collect()
    };
    // equal_to([('a', Timestamp(6)), ('b', Timestamp(7)), ('c', Timestamp(8))]), label='assert letters'
    assert_eq!(recorded(&letters.output()), expected(&[("a", 6), ("b", 7), ("c", 8)]));
    // equal_to([('1', Timestamp(11)), ('2', Timestamp(12)), ('3', Timestamp(13))]), label='assert numbers'
    assert_eq!(
        recorded(&numbers.output()),
        expected(&[("1", 11), ("2", 12), ("3", 13)])
    );
}

#[test]
fn test_multiple_outputs_with_watermark_advancement() {
    // Each tag is a stream of its own, with its own watermark, through the same windowing:
    // FixedWindows(15), AfterWatermark(early=AfterCount(1)), DISCARDING, then ('k', x) and GroupByKey.
    let records = python_gbk(
        timestamped_values::<String>()
            .windows(FixedWindows::of(Duration::seconds(15)))
            .triggering(AfterWatermark::past_end_of_window().with_early_firings(AfterPane::element_count_at_least(1)))
            .accumulation(AccumulationMode::Discarding),
    );
    let letters = records.apply(
        TestStream::new()
            .advance_watermark_to(seconds(0))
            .advance_watermark_to(seconds(5))
            .add_elements([tv("a", seconds(6)), tv("b", seconds(7)), tv("c", seconds(8))])
            .advance_watermark_to(seconds(10)),
    );
    let numbers = records.apply(
        TestStream::new()
            .advance_watermark_to(seconds(0))
            .advance_watermark_to(seconds(20))
            .add_elements([tv("1", seconds(21)), tv("2", seconds(22)), tv("3", seconds(23))])
            .advance_watermark_to(seconds(30)),
    );
    let window = |start: i64, end: i64| Window::new(seconds(start), seconds(end));
    // expected_letters = {window.IntervalWindow(0, 15): [('k', ['a', 'b', 'c']), ('k', [])]}
    assert_that(&letters)
        .in_window(window(0, 15))
        .contains_in_any_order([k(&["a", "b", "c"]), k(&[])]);
    assert_that(&letters).satisfies(|panes| panes.len() == 2);
    // expected_numbers = {window.IntervalWindow(15, 30): [('k', ['1', '2', '3']), ('k', [])]}
    assert_that(&numbers)
        .in_window(window(15, 30))
        .contains_in_any_order([k(&["1", "2", "3"]), k(&[])]);
    assert_that(&numbers).satisfies(|panes| panes.len() == 2);
    records.run();
}

#[test]
fn test_dicts_not_interpreted_as_windowed_values() {
    use std::collections::BTreeMap;
    type Dict = BTreeMap<String, i64>;
    let dict: Dict = [("a", 0), ("b", 1), ("c", 2)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let p = TestPipeline::new(
        timestamped_values::<Dict>()
            .windows(GlobalWindows)
            .key_by(|_| ())
            .to_list(|e| (e.value.clone(), e.timestamp))
            .values(),
    );
    let output = p.apply(
        TestStream::new()
            .advance_processing_time(Duration::seconds(10))
            .advance_watermark_to(seconds(10))
            .add_values([dict.clone()])
            .advance_watermark_to_infinity(),
    );
    // ({'a': 0, 'b': 1, 'c': 2}, timestamp.Timestamp(10))
    assert_that(&output)
        .flatten()
        .contains_in_any_order([(dict, seconds(10))]);
    p.run();
}

#[test]
fn test_gbk_execution_no_triggers() {
    let records = python_gbk(
        timestamped_values::<String>()
            .windows(FixedWindows::of(Duration::seconds(15)))
            .allowed_lateness(Duration::seconds(300)),
    );
    let output = records.apply(
        TestStream::new()
            .advance_watermark_to(seconds(10))
            .add_values(["a", "b", "c"])
            .advance_watermark_to(seconds(20))
            .add_values(["d"])
            .add_values(["e"])
            .advance_processing_time(Duration::seconds(10))
            .advance_watermark_to(seconds(300))
            .add_elements([tv("late", seconds(12))])
            .add_elements([tv("last", seconds(310))])
            .advance_watermark_to_infinity(),
    );
    let window = |start: i64, end: i64| Window::new(seconds(start), seconds(end));
    // window.IntervalWindow(0, 15): [('k', ['a', 'b', 'c']), ('k', ['late'])],
    assert_that(&output)
        .in_window(window(0, 15))
        .contains_in_any_order([k(&["a", "b", "c"]), k(&["late"])]);
    // window.IntervalWindow(15, 30): [('k', ['d', 'e'])],
    assert_that(&output)
        .in_window(window(15, 30))
        .contains_in_any_order([k(&["d", "e"])]);
    // window.IntervalWindow(300, 315): [('k', ['last'])],
    assert_that(&output)
        .in_window(window(300, 315))
        .contains_in_any_order([k(&["last"])]);
    assert_that(&output).satisfies(|panes| panes.len() == 4);
    records.run();
}

#[test]
fn test_gbk_execution_after_watermark_trigger() {
    let records = python_gbk(
        timestamped_values::<String>()
            .windows(FixedWindows::of(Duration::seconds(15)))
            // trigger=trigger.AfterWatermark(early=trigger.AfterCount(1))
            .triggering(AfterWatermark::past_end_of_window().with_early_firings(AfterPane::element_count_at_least(1)))
            .accumulation(AccumulationMode::Discarding),
    );
    let output = records.apply(
        TestStream::new()
            .advance_watermark_to(seconds(10))
            .add_elements([tv("a", seconds(11))])
            .advance_watermark_to(seconds(20))
            .add_elements([tv("b", seconds(21))])
            .advance_watermark_to_infinity(),
    );
    let window = |start: i64, end: i64| Window::new(seconds(start), seconds(end));
    // window.IntervalWindow(0, 15): [('k', ['a']), ('k', [])],
    assert_that(&output)
        .in_window(window(0, 15))
        .contains_in_any_order([k(&["a"]), k(&[])]);
    // window.IntervalWindow(15, 30): [('k', ['b']), ('k', [])],
    assert_that(&output)
        .in_window(window(15, 30))
        .contains_in_any_order([k(&["b"]), k(&[])]);
    assert_that(&output).satisfies(|panes| panes.len() == 4);
    records.run();
}

#[test]
fn test_gbk_execution_after_processing_trigger_fired() {
    let records = python_gbk(
        timestamped_values::<String>()
            .windows(FixedWindows::of(Duration::seconds(15)))
            // trigger=trigger.AfterProcessingTime(5)
            .triggering(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::seconds(5)))
            .accumulation(AccumulationMode::Discarding),
    );
    let output = records.apply(
        TestStream::new()
            .advance_watermark_to(seconds(10))
            .add_values(["a"])
            .advance_processing_time(Duration::millis(5100))
            .advance_watermark_to_infinity(),
    );
    // window.IntervalWindow(0, 15): [('k', ['a'])],
    assert_that(&output)
        .in_window(Window::new(seconds(0), seconds(15)))
        .contains_in_any_order([k(&["a"])]);
    assert_that(&output).satisfies(|panes| panes.len() == 1);
    records.run();
}

#[test]
fn test_roundtrip_proto() {
    let test_stream = TestStream::new()
        .advance_processing_time(Duration::seconds(1))
        .advance_watermark_to(seconds(2))
        .add_values([1, 2, 3]);
    let roundtrip_test_stream = TestStream::from_scenario(&test_stream.to_scenario()).unwrap();
    // self.assertListEqual(test_stream._events, roundtrip_test_stream._events)
    assert_eq!(roundtrip_test_stream.steps(), test_stream.steps());
}

/// The range checks every port above relies on, at their edges.
#[test]
fn elements_at_the_ends_of_the_element_range_are_accepted() {
    let stream = TestStream::new().add_elements([
        tv(0, TIMESTAMP_MIN_VALUE),
        tv(1, TIMESTAMP_MAX_VALUE.minus(Duration::millis(1))),
    ]);
    assert_eq!(stream.validate(), Ok(()));
}
