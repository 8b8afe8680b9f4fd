//! Every line the generator writes is either a visit the pipeline model reads back exactly, or broken on
//! purpose in a way the model refuses.

use std::collections::HashSet;

use datagen::{Coordinates, Generator, GeneratorConfig, Malformation};
use pipeline::event::VisitEvent;
use pipeline::time::{Duration, Timestamp};

fn config() -> GeneratorConfig {
    GeneratorConfig {
        seed: 2024,
        num_users: 15,
        events: 20_000,
        jitter: Duration::seconds(3),
        late_fraction: 0.03,
        malformed_fraction: 0.02,
        empty_coords_fraction: 0.1,
        ..GeneratorConfig::default()
    }
}

#[test]
fn well_formed_lines_parse_and_event_ts_is_event_datetime() {
    let generator = Generator::new(config()).unwrap();
    let users = generator.users().to_vec();
    let mut checked = 0;
    for line in generator.filter(|l| l.meta.malformed.is_none()) {
        let visit = VisitEvent::from_json(line.text.as_bytes())
            .unwrap_or_else(|e| panic!("line {}: {e}: {}", line.meta.position, line.text));
        let parsed = Timestamp::parse_datetime(&visit.event_datetime).unwrap();
        assert_eq!(visit.event_ts, parsed.millis(), "{}", line.text);
        assert_eq!(parsed, line.meta.event_time);
        let user = &users[line.meta.user];
        assert_eq!(
            (&visit.ip, &visit.id, &visit.user_agent),
            (&user.ip, &user.id, &user.user_agent)
        );
        assert!(visit.http_request.starts_with("GET ") && visit.http_request.ends_with(".html HTTP/1.0"));
        assert!(line.text.contains(r#""event_datetime":""#));
        // The seed's Python reads `event_datetime` with `%Y-%m-%dT%H:%M:%S.%f`: always a fraction.
        assert_eq!(visit.event_datetime.len(), 23, "{}", visit.event_datetime);
        checked += 1;
    }
    assert!(checked > 19_000, "{checked}");
}

#[test]
fn malformed_lines_fail_to_parse_and_come_in_every_kind() {
    let mut kinds = HashSet::new();
    for line in Generator::new(config()).unwrap() {
        if let Some(kind) = line.meta.malformed {
            assert!(
                VisitEvent::from_json(line.text.as_bytes()).is_err(),
                "{kind:?} parsed: {}",
                line.text
            );
            kinds.insert(kind);
        }
    }
    assert_eq!(kinds, Malformation::ALL.into_iter().collect());
}

#[test]
fn emptied_coordinates_are_empty_strings_as_in_the_seed() {
    let mut seen = HashSet::new();
    for line in Generator::new(config()).unwrap() {
        if line.meta.malformed.is_some() {
            continue;
        }
        let visit = VisitEvent::from_json(line.text.as_bytes()).unwrap();
        match line.meta.coordinates {
            Coordinates::City => assert!(visit.lat != -1.0 && visit.lng != -1.0),
            Coordinates::BothEmpty => assert!(line.text.contains(r#""lat":"","lng":"""#)),
            Coordinates::LatEmpty => assert!(line.text.contains(r#""lat":"","#)),
            Coordinates::LngEmpty => assert!(line.text.contains(r#""lng":"","#)),
        }
        if line.meta.coordinates != Coordinates::City {
            // pipeline's parser applies the seed's rule: either one missing makes both -1.
            assert_eq!((visit.lat, visit.lng), (-1.0, -1.0));
        }
        seen.insert(line.meta.coordinates);
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn responses_are_mostly_200() {
    let mut ok = 0;
    let mut codes = HashSet::new();
    for line in Generator::new(config()).unwrap() {
        if let Ok(visit) = VisitEvent::from_json(line.text.as_bytes()) {
            ok += u32::from(visit.http_response == 200);
            codes.insert(visit.http_response);
            if visit.http_response == 200 {
                assert!((100..=500).contains(&visit.file_size_bytes));
            }
        }
    }
    assert!(ok > 16_000, "{ok}");
    assert!(codes.len() >= 4, "{codes:?}");
}
