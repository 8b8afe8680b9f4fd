use proptest::prelude::*;

use super::*;
use crate::trigger::{AfterEach, AfterFirst, AfterPane, AfterProcessingTime, AfterWatermark, Never, Repeatedly};

fn parse(text: &str) -> Trigger {
    text.parse().unwrap_or_else(|e| panic!("{text:?} should parse:\n{e}"))
}

fn error(text: &str) -> TriggerParseError {
    match text.parse::<Trigger>() {
        Ok(t) => panic!("{text:?} should be refused, parsed as {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn reads_every_trigger_of_beams_java_spelling() {
    let speculative = parse(
        "AfterWatermark.pastEndOfWindow()\
         .withEarlyFirings(AfterProcessingTime.pastFirstElementInPane().plusDelayOf(10s))\
         .withLateFirings(AfterPane.elementCountAtLeast(1))",
    );
    assert_eq!(
        speculative,
        AfterWatermark::past_end_of_window()
            .with_early_firings(AfterProcessingTime::past_first_element_in_pane().plus_delay_of(Duration::seconds(10)))
            .with_late_firings(AfterPane::element_count_at_least(1))
            .into()
    );
    assert_eq!(
        parse("Repeatedly.forever(AfterPane.elementCountAtLeast(3))"),
        Repeatedly::forever(AfterPane::element_count_at_least(3))
    );
    assert_eq!(parse("Never.ever()"), Never::ever());
    assert_eq!(parse("DefaultTrigger.of()"), Trigger::Default);
    assert_eq!(
        parse(
            "AfterEach.inOrder(AfterPane.elementCountAtLeast(2), Repeatedly.forever(AfterWatermark.pastEndOfWindow()))"
        ),
        AfterEach::in_order([
            AfterPane::element_count_at_least(2),
            Repeatedly::forever(AfterWatermark::past_end_of_window()),
        ])
    );
    assert_eq!(
        parse(
            "Repeatedly.forever(AfterFirst.of(AfterPane.elementCountAtLeast(5), AfterWatermark.pastEndOfWindow()))\
               .orFinally(AfterAll.of(Never.ever(), AfterPane.elementCountAtLeast(9)))"
        ),
        Repeatedly::forever(AfterFirst::of([
            AfterPane::element_count_at_least(5),
            AfterWatermark::past_end_of_window().into(),
        ]))
        .or_finally(crate::trigger::AfterAll::of([
            Never::ever(),
            AfterPane::element_count_at_least(9)
        ]))
    );
    let at = Timestamp::parse_datetime("2024-04-28T23:12:40").unwrap();
    assert_eq!(
        parse("AfterProcessingTime.pastFirstElementInPane().alignedTo(1m).alignedTo(1m, 2024-04-28T23:12:40)"),
        AfterProcessingTime::past_first_element_in_pane()
            .aligned_to(Duration::minutes(1), Timestamp::EPOCH)
            .aligned_to(Duration::minutes(1), at)
            .into()
    );
}

#[test]
fn whitespace_is_allowed_between_tokens() {
    let spaced = parse(
        "  AfterWatermark . pastEndOfWindow ( )\n\t.withLateFirings( AfterPane.elementCountAtLeast( 1 ) )  \
         . orFinally (AfterProcessingTime.pastFirstElementInPane().alignedTo( 1m ,  2024-04-28T23:12:40.000 ))",
    );
    assert_eq!(
        spaced.to_string(),
        "AfterWatermark.pastEndOfWindow().withLateFirings(AfterPane.elementCountAtLeast(1))\
         .orFinally(AfterProcessingTime.pastFirstElementInPane().alignedTo(1m, 2024-04-28T23:12:40.000))"
    );
}

#[test]
fn late_firings_may_be_given_before_early_firings_as_in_java() {
    assert_eq!(
        parse("AfterWatermark.pastEndOfWindow().withLateFirings(Never.ever()).withEarlyFirings(AfterPane.elementCountAtLeast(2))"),
        parse("AfterWatermark.pastEndOfWindow().withEarlyFirings(AfterPane.elementCountAtLeast(2)).withLateFirings(Never.ever())"),
    );
}

#[test]
fn an_error_points_at_the_column_with_a_caret_line() {
    let err = error("Repeatedly.forever)");
    assert_eq!(err.column(), 19);
    assert_eq!(
        err.to_string(),
        "expected `(` after `forever`, found `)`\n --> column 19\n  |\n  | Repeatedly.forever)\n  |                   ^"
    );
    let err = error("AfterWatermak.pastEndOfWindow()");
    assert_eq!(err.column(), 1);
    assert!(
        err.message().starts_with("expected a trigger (AfterWatermark, "),
        "{err}"
    );
    assert!(err.to_string().ends_with("\n  | ^^^^^^^^^^^^^"), "{err}");
}

#[test]
fn each_mistake_says_what_was_expected() {
    let cases = [
        (
            "",
            1,
            "expected a trigger (AfterWatermark,",
            "found the end of the text",
        ),
        (
            "Never.ever",
            11,
            "expected `(` after `ever`",
            "found the end of the text",
        ),
        (
            "Never.ever(1)",
            12,
            "expected `)` (`Never.ever()` takes no arguments)",
            "found `1`",
        ),
        (
            "AfterPane.elementCountAtLeast(x)",
            31,
            "expected a whole number of elements",
            "found `x`",
        ),
        (
            "AfterPane.elementCountAtLeast(-1)",
            31,
            "expected a whole number of elements",
            "found `-1`",
        ),
        (
            "AfterProcessingTime.pastFirstElementInPane().plusDelayOf(10)",
            58,
            "expected a delay: a duration",
            "`10`",
        ),
        (
            "AfterProcessingTime.pastFirstElementInPane().alignedTo(0s)",
            56,
            "alignment period must be positive",
            "0s",
        ),
        (
            "AfterProcessingTime.pastFirstElementInPane().alignedTo(1m, yesterday)",
            60,
            "expected an instant",
            "`yesterday`",
        ),
        (
            "Never.ever() Never.ever()",
            14,
            "expected the end of the trigger or `.orFinally(..)`",
            "found `Never`",
        ),
        (
            "Never.ever().orFinaly(Never.ever())",
            14,
            "expected `.orFinally(..)`",
            "found `.orFinaly`",
        ),
        (
            "AfterPane.elementCountAtLeast(1).plusDelayOf(1s)",
            34,
            "`.plusDelayOf(..)` applies only to",
            "not to AfterPane",
        ),
        (
            "Never.ever().withEarlyFirings(Never.ever())",
            14,
            "`.withEarlyFirings(..)` applies only to",
            "not to Never",
        ),
        (
            "AfterWatermark.pastEndOfWindow().withLateFirings(Never.ever()).withLateFirings(Never.ever())",
            64,
            "`.withLateFirings(..)` is given twice",
            "",
        ),
        (
            "AfterEach.inOrder(Never.ever() Never.ever())",
            32,
            "expected `,` or `)` in `AfterEach.inOrder(..)`",
            "`Never`",
        ),
        (
            "AfterEach.inOrder(Never.ever())",
            18,
            "AfterEach.inOrder(..) needs at least two sub-triggers, got 1",
            "",
        ),
        (
            "AfterAll.of(Never.ever())",
            12,
            "AfterAll.of(..) needs at least two sub-triggers, got 1",
            "",
        ),
    ];
    for (text, column, expected, found) in cases {
        let err = error(text);
        assert!(err.message().contains(expected), "{text:?}: {err}");
        assert!(err.message().contains(found), "{text:?}: {err}");
        assert_eq!(err.column(), column, "{text:?}: {err}");
    }
}

#[test]
fn what_beams_types_refuse_is_refused_with_the_rule() {
    let cases = [
        ("Never.ever().orFinally(Repeatedly.forever(Never.ever()))", 24, ".orFinally(..) takes a trigger that fires at most once"),
        ("DefaultTrigger.of().orFinally(DefaultTrigger.of())", 31, "but DefaultTrigger.of() can fire more than once"),
        (
            "AfterWatermark.pastEndOfWindow().withEarlyFirings(Repeatedly.forever(AfterPane.elementCountAtLeast(1)))",
            51,
            ".withEarlyFirings(..) takes a trigger that fires at most once",
        ),
        (
            "AfterWatermark.pastEndOfWindow().withLateFirings(AfterWatermark.pastEndOfWindow().withLateFirings(Never.ever()))",
            50,
            "but AfterWatermark with early or late firings can fire more than once",
        ),
        ("AfterFirst.of(Never.ever(), AfterEach.inOrder(Never.ever(), Never.ever()))", 29, "AfterFirst.of(..) takes a trigger"),
        ("AfterAll.of(Never.ever().orFinally(Never.ever()), Never.ever())", 13, "but a trigger with .orFinally(..) can fire"),
        ("Never.ever().orFinally(Never.ever().orFinally(Never.ever()))", 24, ".orFinally(..) takes"),
    ];
    for (text, column, expected) in cases {
        let err = error(text);
        assert!(err.message().contains(expected), "{text:?}: {err}");
        assert_eq!(err.column(), column, "{text:?}: {err}");
        assert!(parse_unchecked(text).check().is_err(), "{text:?}: check() agrees");
    }
}

/// Builds the tree the text describes without the parser's checks, to compare with [`Trigger::check`].
fn parse_unchecked(text: &str) -> Trigger {
    match text {
        "Never.ever().orFinally(Repeatedly.forever(Never.ever()))" => {
            Never::ever().or_finally(Repeatedly::forever(Never::ever()))
        }
        "DefaultTrigger.of().orFinally(DefaultTrigger.of())" => Trigger::Default.or_finally(Trigger::Default),
        t if t.starts_with("AfterWatermark.pastEndOfWindow().withEarlyFirings(") => {
            AfterWatermark::past_end_of_window()
                .with_early_firings(Repeatedly::forever(AfterPane::element_count_at_least(1)))
                .into()
        }
        t if t.starts_with("AfterWatermark") => AfterWatermark::past_end_of_window()
            .with_late_firings(AfterWatermark::past_end_of_window().with_late_firings(Never::ever()))
            .into(),
        t if t.starts_with("AfterFirst") => {
            AfterFirst::of([Never::ever(), AfterEach::in_order([Never::ever(), Never::ever()])])
        }
        t if t.starts_with("AfterAll") => {
            crate::trigger::AfterAll::of([Never::ever().or_finally(Never::ever()), Never::ever()])
        }
        _ => Never::ever().or_finally(Never::ever().or_finally(Never::ever())),
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "Repeatedly.forever(".repeat(100_000) + "Never.ever()" + &")".repeat(100_000);
    let err = error(&deep);
    assert!(err.message().contains("nest more than 64 levels"), "{}", err.message());
    let fine = "Repeatedly.forever(".repeat(MAX_NESTING - 1) + "Never.ever()" + &")".repeat(MAX_NESTING - 1);
    assert_eq!(parse(&fine).to_string(), fine);
}

#[test]
fn instants_beyond_years_0_to_9999_read_back_as_display_writes_them() {
    for millis in [
        -62_167_219_200_001,
        253_402_300_800_000,
        -8_300_000_000_000_000,
        9_000_000_000_000_000,
    ] {
        let t: Trigger = AfterProcessingTime::past_first_element_in_pane()
            .aligned_to(Duration::seconds(1), Timestamp::from_millis(millis))
            .into();
        assert_eq!(parse(&t.to_string()), t, "{t}");
    }
}

#[test]
fn behaviours_read_back_from_their_display() {
    for b in [ClosingBehavior::FireAlways, ClosingBehavior::FireIfNonEmpty] {
        assert_eq!(b.to_string().parse::<ClosingBehavior>(), Ok(b));
    }
    for b in [OnTimeBehavior::FireAlways, OnTimeBehavior::FireIfNonEmpty] {
        assert_eq!(b.to_string().parse::<OnTimeBehavior>(), Ok(b));
    }
    assert_eq!(
        "fire_always".parse::<ClosingBehavior>().unwrap_err().to_string(),
        "expected FIRE_ALWAYS or FIRE_IF_NON_EMPTY, found \"fire_always\""
    );
}

fn any_transform() -> impl Strategy<Value = TimeTransform> {
    prop_oneof![
        (0..=i64::MAX).prop_map(|ms| TimeTransform::Delay(Duration::millis(ms))),
        (1..=i64::MAX, (i64::MIN + 1)..i64::MAX).prop_map(|(period, offset)| TimeTransform::AlignTo {
            period: Duration::millis(period),
            offset: Timestamp::from_millis(offset),
        }),
        // The usual shapes, whose Display uses every unit.
        (
            1..100i64,
            prop_oneof![Just(1), Just(1000), Just(60_000), Just(3_600_000)]
        )
            .prop_map(|(n, unit)| TimeTransform::Delay(Duration::millis(n * unit))),
    ]
}

fn once_leaf() -> impl Strategy<Value = Trigger> {
    prop_oneof![
        any::<u64>().prop_map(|count| Trigger::AfterPane { count }),
        prop::collection::vec(any_transform(), 0..3).prop_map(|transforms| Trigger::AfterProcessingTime { transforms }),
        Just(Trigger::AfterWatermark {
            early: None,
            late: None
        }),
        Just(Trigger::Never),
    ]
}

/// Triggers that fire at most once (Beam's `OnceTrigger`).
fn once_trigger() -> impl Strategy<Value = Trigger> {
    once_leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Trigger::AfterFirst),
            prop::collection::vec(inner, 2..4).prop_map(Trigger::AfterAll),
        ]
    })
}

/// Any trigger Beam's types allow.
fn valid_trigger() -> impl Strategy<Value = Trigger> {
    prop_oneof![Just(Trigger::Default), once_trigger()].prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Trigger::Repeatedly(Box::new(t))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Trigger::AfterEach),
            (inner, once_trigger()).prop_map(|(main, until)| main.or_finally(until)),
            (prop::option::of(once_trigger()), prop::option::of(once_trigger())).prop_map(|(early, late)| {
                Trigger::AfterWatermark {
                    early: early.map(Box::new),
                    late: late.map(Box::new),
                }
            }),
        ]
    })
}

/// Any tree, including those Beam's types refuse.
fn any_tree() -> impl Strategy<Value = Trigger> {
    prop_oneof![Just(Trigger::Default), once_leaf()].prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Trigger::Repeatedly(Box::new(t))),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Trigger::AfterEach),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Trigger::AfterFirst),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Trigger::AfterAll),
            (inner.clone(), inner.clone()).prop_map(|(main, until)| main.or_finally(until)),
            (prop::option::of(inner.clone()), prop::option::of(inner)).prop_map(|(early, late)| {
                Trigger::AfterWatermark {
                    early: early.map(Box::new),
                    late: late.map(Box::new),
                }
            }),
        ]
    })
}

proptest! {
    #[test]
    fn every_valid_trigger_reads_back_from_its_display(trigger in valid_trigger()) {
        prop_assert!(trigger.check().is_ok(), "{}", trigger);
        let text = trigger.to_string();
        let parsed = text.parse::<Trigger>();
        match parsed {
            Ok(parsed) => prop_assert_eq!(parsed, trigger),
            Err(e) => prop_assert!(false, "{}\n{}", text, e),
        }
    }

    #[test]
    fn the_parser_accepts_a_tree_exactly_when_check_does(trigger in any_tree()) {
        let parsed = trigger.to_string().parse::<Trigger>();
        prop_assert_eq!(parsed.is_ok(), trigger.check().is_ok(), "{}", trigger);
        if let Ok(parsed) = parsed {
            prop_assert_eq!(parsed, trigger);
        }
    }

    #[test]
    fn the_parser_never_panics_on_any_text(text in "\\PC{0,80}") {
        let _ = text.parse::<Trigger>();
    }

    #[test]
    fn the_parser_never_panics_on_a_damaged_trigger(
        trigger in valid_trigger(),
        cut in any::<prop::sample::Index>(),
        insert in "[().,a-zA-Z0-9 é-]{0,3}",
        remove in 0usize..4,
    ) {
        let text = trigger.to_string();
        let chars: Vec<char> = text.chars().collect();
        let at = cut.index(chars.len() + 1);
        let damaged: String = chars[..at].iter().chain(insert.chars().collect::<Vec<_>>().iter())
            .chain(chars[(at + remove).min(chars.len())..].iter()).collect();
        if let Err(e) = damaged.parse::<Trigger>() {
            // The caret lies within the expression (or just after it).
            prop_assert!(e.column() <= damaged.chars().count() + 1, "{}", e);
        }
    }
}
