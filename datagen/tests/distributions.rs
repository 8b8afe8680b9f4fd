//! Property tests on what the generator draws: stable users, bounded disorder, rates within tolerance.
//!
//! Each case is a whole run from a random config; a failing case shrinks to a small config and is kept
//! in `proptest-regressions/`. Case counts come from `PROPTEST_CASES`.

use std::collections::{HashMap, HashSet};

use datagen::{Coordinates, GeneratedLine, Generator, GeneratorConfig};
use pipeline::event::VisitEvent;
use pipeline::time::Duration;
use proptest::prelude::*;

prop_compose! {
    /// A run with every kind of disorder dialled somewhere between off and heavy.
    fn disorderly_config()(
        seed in any::<u64>(),
        num_users in 1u32..40,
        events in 1u64..1500,
        mean_gap_ms in 0i64..1000,
        jitter_ms in 0i64..10_000,
        late_fraction in 0.0..0.3f64,
        late_by_ms in 0i64..120_000,
        malformed_fraction in 0.0..0.1f64,
        empty_coords_fraction in 0.0..0.3f64,
    ) -> GeneratorConfig {
        GeneratorConfig {
            seed,
            num_users,
            events,
            mean_gap: Duration::millis(mean_gap_ms),
            jitter: Duration::millis(jitter_ms),
            late_fraction,
            late_by: Duration::millis(late_by_ms),
            malformed_fraction,
            empty_coords_fraction,
            ..GeneratorConfig::default()
        }
    }
}

fn run(config: &GeneratorConfig) -> Vec<GeneratedLine> {
    Generator::new(config.clone()).unwrap().collect()
}

/// Whether `count` successes in `n` trials is plausible for probability `p`: within five standard
/// deviations (one spurious failure in millions of cases), plus one for tiny counts.
fn plausible(count: usize, n: usize, p: f64) -> bool {
    let n = n as f64;
    let sd = (n * p * (1.0 - p)).sqrt();
    (count as f64 - n * p).abs() <= 5.0 * sd + 1.0
}

proptest! {
    #[test]
    fn a_user_keeps_ip_agent_age_flag_and_city(config in disorderly_config()) {
        let mut seen: HashMap<String, (String, String, String, bool)> = HashMap::new();
        let mut cities: HashMap<String, (f64, f64)> = HashMap::new();
        for line in run(&config) {
            if line.meta.malformed.is_some() {
                continue;
            }
            let v = VisitEvent::from_json(line.text.as_bytes()).unwrap();
            let fixed = (v.ip.clone(), v.user_agent.clone(), v.age_bracket.clone(), v.opted_into_marketing);
            prop_assert_eq!(seen.entry(v.id.clone()).or_insert_with(|| fixed.clone()), &fixed);
            if line.meta.coordinates == Coordinates::City {
                let city = *cities.entry(v.id.clone()).or_insert((v.lat, v.lng));
                prop_assert_eq!(city, (v.lat, v.lng));
            }
        }
        prop_assert!(seen.len() <= config.num_users as usize);
    }

    #[test]
    fn distinct_ids_never_exceed_the_number_of_users(config in disorderly_config()) {
        let ids: HashSet<String> = run(&config)
            .iter()
            .filter_map(|l| VisitEvent::from_json(l.text.as_bytes()).ok())
            .map(|v| v.id)
            .collect();
        prop_assert!(ids.len() <= config.num_users as usize);
    }

    #[test]
    fn event_times_lie_within_jitter_of_their_nominal_time(config in disorderly_config()) {
        let jitter = config.jitter.as_millis();
        let mut latest_on_time = i64::MIN;
        for line in run(&config) {
            let m = line.meta;
            let late_by = if m.late { config.late_by.as_millis() } else { 0 };
            let offset = m.nominal.millis() - late_by - m.event_time.millis();
            prop_assert!((0..=jitter).contains(&offset), "offset {} at {}", offset, m.position);
            // Seen from the output alone: an on-time event is never more than `jitter` behind any
            // on-time event written before it.
            if !m.late && m.malformed.is_none() {
                let ts = VisitEvent::from_json(line.text.as_bytes()).unwrap().event_ts;
                prop_assert!(latest_on_time.saturating_sub(ts) <= jitter, "{} behind at {}", latest_on_time.saturating_sub(ts), m.position);
                latest_on_time = latest_on_time.max(ts);
            }
        }
    }

    #[test]
    fn late_malformed_and_empty_rates_are_within_tolerance(config in disorderly_config()) {
        let lines = run(&config);
        let n = lines.len();
        let late = lines.iter().filter(|l| l.meta.late).count();
        let malformed = lines.iter().filter(|l| l.meta.malformed.is_some()).count();
        let empty = lines.iter().filter(|l| l.meta.coordinates != Coordinates::City).count();
        prop_assert!(plausible(late, n, config.late_fraction), "{} late of {}", late, n);
        prop_assert!(plausible(malformed, n, config.malformed_fraction), "{} malformed of {}", malformed, n);
        prop_assert!(plausible(empty, n, config.empty_coords_fraction), "{} empty of {}", empty, n);
    }
}

#[test]
fn late_events_arrive_about_late_by_after_their_neighbours() {
    let config = GeneratorConfig {
        events: 20_000,
        jitter: Duration::seconds(1),
        late_fraction: 0.02,
        late_by: Duration::seconds(30),
        ..GeneratorConfig::default()
    };
    let lines = run(&config);
    let late: Vec<_> = lines.iter().filter(|l| l.meta.late).collect();
    assert!(plausible(late.len(), lines.len(), 0.02), "{}", late.len());
    for line in late {
        let behind = line.meta.nominal.millis() - line.meta.event_time.millis();
        assert!((30_000..=31_000).contains(&behind), "{behind}");
    }
}
