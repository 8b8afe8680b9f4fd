//! What one visit line looks like on the wire, well-formed or deliberately broken.
//!
//! This module owns the JSON text of a visit: the seed's twelve fields in the seed's order, compact, as
//! `serde_json` writes them (a test holds the fast path to that). The hot path copies each user's fixed
//! fields from a template rendered once and formats the rest (numbers, `event_datetime`) into a reused
//! buffer without allocating. It also owns the ways a line is malformed on purpose. Which visit to render,
//! and when, is decided by [`crate::generator`].

use pipeline::time::Timestamp;
use rand::RngExt;
use serde_json::Value;

use crate::population::User;

/// The pages visitors request, the seed's tree-of-life pages.
pub const PAGES: &[&str] = &[
    "amoebozoa",
    "archaea",
    "bacteria",
    "chromista",
    "excavata",
    "fungi",
    "metazoa",
    "plantae",
    "protozoa",
    "viruses",
];

/// How a visit's coordinates are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coordinates {
    /// The user's city, as numbers.
    City,
    /// `"lat":"","lng":""`.
    BothEmpty,
    /// Only `lat` is `""`.
    LatEmpty,
    /// Only `lng` is `""`.
    LngEmpty,
}

/// A deliberately broken line. Every kind fails `pipeline::event::VisitEvent::from_json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformation {
    /// A well-formed line cut short.
    Truncated,
    /// Valid JSON that is not an object: an array of the values, the line as a JSON string, a number or
    /// `null`.
    NotAnObject,
    /// An object with one of the twelve fields left out.
    MissingField,
    /// An object with one field of the wrong type (a quoted number, a numeric id, a word for a
    /// coordinate or a flag).
    WrongType,
    /// An object whose `event_datetime` is not `YYYY-MM-DDTHH:MM:SS.mmm` (another layout, a zone, an
    /// impossible hour, empty).
    BadDatetime,
}

impl Malformation {
    /// Every kind, in the order the generator draws them.
    pub const ALL: [Malformation; 5] = [
        Malformation::Truncated,
        Malformation::NotAnObject,
        Malformation::MissingField,
        Malformation::WrongType,
        Malformation::BadDatetime,
    ];
}

/// One visit, by reference to the user who makes it: everything needed to write its line.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    /// Who visits.
    pub user: &'a User,
    /// Whether the city's coordinates are written or emptied.
    pub coordinates: Coordinates,
    /// An index into [`PAGES`].
    pub page: usize,
    /// The HTTP status code.
    pub http_response: u16,
    /// The response size.
    pub file_size_bytes: u32,
    /// The event time, written as both `event_datetime` and `event_ts`.
    pub event_time: Timestamp,
}

/// The field names, in the seed's order.
pub const FIELDS: [&str; 12] = pipeline::event::VISIT_FIELDS;

impl Visit<'_> {
    /// The twelve fields as JSON values, in the seed's order: the reference the fast path is held to,
    /// and the material the malformed lines are cut from.
    pub fn fields(&self) -> [(&'static str, Value); 12] {
        let (lat, lng) = match self.coordinates {
            Coordinates::City => (self.user.city.lat.into(), self.user.city.lng.into()),
            Coordinates::BothEmpty => ("".into(), "".into()),
            Coordinates::LatEmpty => ("".into(), self.user.city.lng.into()),
            Coordinates::LngEmpty => (self.user.city.lat.into(), "".into()),
        };
        let values: [Value; 12] = [
            self.user.ip.as_str().into(),
            self.user.id.as_str().into(),
            lat,
            lng,
            self.user.user_agent.as_str().into(),
            self.user.age_bracket.into(),
            self.user.opted_into_marketing.into(),
            format!("GET {}.html HTTP/1.0", PAGES[self.page]).into(),
            self.http_response.into(),
            self.file_size_bytes.into(),
            self.event_time.format_millis().into(),
            self.event_time.millis().into(),
        ];
        let mut values = values.into_iter();
        FIELDS.map(|name| (name, values.next().expect("twelve values")))
    }

    /// The line as `serde_json` writes the fields, slowly; [`VisitTemplates::render`] must agree.
    pub fn reference_line(&self) -> String {
        object(self.fields().iter().map(|(k, v)| (*k, v.to_string())))
    }
}

/// `{"k":v,...}` from already-rendered values.
fn object<'a>(fields: impl Iterator<Item = (&'a str, String)>) -> String {
    let mut line = String::from("{");
    for (i, (key, value)) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(key).to_string());
        line.push(':');
        line.push_str(&value);
    }
    line.push('}');
    line
}

/// Each user's fixed fields, rendered once, so that writing a visit is mostly copying bytes.
#[derive(Debug, Clone)]
pub struct VisitTemplates {
    users: Vec<UserTemplate>,
    /// `"GET <page>.html HTTP/1.0","http_response":` for each page.
    pages: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct UserTemplate {
    /// `{"ip":"…","id":"…","lat":`
    head: Vec<u8>,
    /// The latitude as serde_json writes it.
    lat: Vec<u8>,
    /// The longitude as serde_json writes it.
    lng: Vec<u8>,
    /// `,"user_agent":"…","age_bracket":"…","opted_into_marketing":…,"http_request":`
    tail: Vec<u8>,
}

impl VisitTemplates {
    /// Renders the fixed parts for `users` (in order; a visit's user is found by its index).
    pub fn new(users: &[User]) -> VisitTemplates {
        let json = |v: Value| v.to_string().into_bytes();
        let users = users
            .iter()
            .map(|u| UserTemplate {
                head: format!(
                    r#"{{"ip":{},"id":{},"lat":"#,
                    Value::from(u.ip.as_str()),
                    Value::from(u.id.as_str())
                )
                .into_bytes(),
                lat: json(u.city.lat.into()),
                lng: json(u.city.lng.into()),
                tail: format!(
                    r#","user_agent":{},"age_bracket":{},"opted_into_marketing":{},"http_request":"#,
                    Value::from(u.user_agent.as_str()),
                    Value::from(u.age_bracket),
                    u.opted_into_marketing
                )
                .into_bytes(),
            })
            .collect();
        let pages = PAGES
            .iter()
            .map(|p| format!(r#""GET {p}.html HTTP/1.0","http_response":"#).into_bytes())
            .collect();
        VisitTemplates { users, pages }
    }

    /// Appends the visit of user number `user` as one compact JSON object, without a newline.
    pub fn render(&self, user: usize, visit: &Visit<'_>, out: &mut Vec<u8>) {
        let t = &self.users[user];
        out.extend_from_slice(&t.head);
        let (lat, lng): (&[u8], &[u8]) = match visit.coordinates {
            Coordinates::City => (&t.lat, &t.lng),
            Coordinates::BothEmpty => (b"\"\"", b"\"\""),
            Coordinates::LatEmpty => (b"\"\"", &t.lng),
            Coordinates::LngEmpty => (&t.lat, b"\"\""),
        };
        out.extend_from_slice(lat);
        out.extend_from_slice(b",\"lng\":");
        out.extend_from_slice(lng);
        out.extend_from_slice(&t.tail);
        out.extend_from_slice(&self.pages[visit.page]);
        push_u64(out, u64::from(visit.http_response));
        out.extend_from_slice(b",\"file_size_bytes\":");
        push_u64(out, u64::from(visit.file_size_bytes));
        out.extend_from_slice(b",\"event_datetime\":\"");
        visit.event_time.write_millis(out);
        out.extend_from_slice(b"\",\"event_ts\":");
        push_i64(out, visit.event_time.millis());
        out.push(b'}');
    }
}

/// Appends a malformed line of the given kind, cut from `visit`, choosing the details with `rng`.
pub fn render_malformed<R: RngExt + ?Sized>(kind: Malformation, visit: &Visit<'_>, rng: &mut R, out: &mut Vec<u8>) {
    let mut fields = visit.fields().map(|(k, v)| (k, v.to_string()));
    let line = match kind {
        Malformation::Truncated => {
            let whole = visit.reference_line();
            // Any proper prefix of an object is invalid JSON; keep at least the opening brace.
            let cut = rng.random_range(1..whole.len() as u32) as usize;
            whole[..cut].to_owned()
        }
        Malformation::NotAnObject => match rng.random_range(0..4u32) {
            0 => format!(
                "[{}]",
                fields.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")
            ),
            1 => Value::from(visit.reference_line()).to_string(),
            2 => visit.event_time.millis().to_string(),
            _ => "null".to_owned(),
        },
        Malformation::MissingField => {
            let missing = rng.random_range(0..FIELDS.len() as u32) as usize;
            object(
                fields
                    .into_iter()
                    .enumerate()
                    .filter(|&(i, _)| i != missing)
                    .map(|(_, f)| f),
            )
        }
        Malformation::WrongType => {
            let (field, value) = match rng.random_range(0..6u32) {
                0 => (8, Value::from(visit.http_response.to_string()).to_string()),
                1 => (9, Value::from(visit.file_size_bytes.to_string()).to_string()),
                2 => (11, Value::from(visit.event_time.millis().to_string()).to_string()),
                3 => (1, visit.user.id.clone()),
                4 => (2, r#""north""#.to_owned()),
                _ => (6, r#""yes""#.to_owned()),
            };
            fields[field].1 = value;
            object(fields.into_iter())
        }
        Malformation::BadDatetime => {
            let good = visit.event_time.format_millis();
            let bad = match rng.random_range(0..5u32) {
                // Day/month/year, as a careless producer might write it.
                0 => format!("{}/{}/{} {}", &good[8..10], &good[5..7], &good[0..4], &good[11..19]),
                1 => format!("{good}+10:00"),
                2 => format!("{}25{}", &good[..11], &good[13..]),
                3 => good[..10].to_owned(),
                _ => String::new(),
            };
            fields[10].1 = Value::from(bad).to_string();
            object(fields.into_iter())
        }
    };
    out.extend_from_slice(line.as_bytes());
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{Population, CITIES};
    use pipeline::event::VisitEvent;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn users() -> Vec<User> {
        Population::generate(&mut ChaCha8Rng::seed_from_u64(5), 8)
            .users()
            .to_vec()
    }

    fn coordinates() -> impl Strategy<Value = Coordinates> {
        prop_oneof![
            Just(Coordinates::City),
            Just(Coordinates::BothEmpty),
            Just(Coordinates::LatEmpty),
            Just(Coordinates::LngEmpty),
        ]
    }

    proptest! {
        #[test]
        fn fast_render_matches_serde_json(
            user in 0usize..8,
            coordinates in coordinates(),
            page in 0..PAGES.len(),
            http_response in 100u16..600,
            file_size_bytes in any::<u32>(),
            ms in 0i64..253_402_300_799_999,
        ) {
            let users = users();
            let templates = VisitTemplates::new(&users);
            let visit = Visit {
                user: &users[user],
                coordinates,
                page,
                http_response,
                file_size_bytes,
                event_time: Timestamp::from_millis(ms),
            };
            let mut out = Vec::new();
            templates.render(user, &visit, &mut out);
            let line = String::from_utf8(out).unwrap();
            prop_assert_eq!(&line, &visit.reference_line());
            let parsed = VisitEvent::from_json(line.as_bytes()).unwrap();
            prop_assert_eq!(parsed.event_ts, ms);
            prop_assert_eq!(parsed.event_time().unwrap().millis(), ms);
        }
    }

    #[test]
    fn every_malformation_fails_to_parse() {
        let users = users();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for round in 0..400 {
            let visit = Visit {
                user: &users[round % users.len()],
                coordinates: Coordinates::City,
                page: round % PAGES.len(),
                http_response: 200,
                file_size_bytes: 300,
                event_time: Timestamp::from_millis(1_714_345_960_000 + round as i64 * 997),
            };
            for kind in Malformation::ALL {
                let mut out = Vec::new();
                render_malformed(kind, &visit, &mut rng, &mut out);
                assert!(
                    VisitEvent::from_json(&out).is_err(),
                    "{kind:?} parsed: {}",
                    String::from_utf8_lossy(&out)
                );
                assert!(!out.contains(&b'\n'));
            }
        }
    }

    #[test]
    fn coordinates_are_written_as_the_seed_writes_them() {
        let users = users();
        let templates = VisitTemplates::new(&users);
        let mut visit = Visit {
            user: &users[0],
            coordinates: Coordinates::LatEmpty,
            page: 0,
            http_response: 200,
            file_size_bytes: 453,
            event_time: Timestamp::parse_datetime("2024-04-28T23:12:50.484").unwrap(),
        };
        let mut out = Vec::new();
        templates.render(0, &visit, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.contains(r#""lat":"","lng":"#), "{line}");
        assert!(line.ends_with(
            r#""http_request":"GET amoebozoa.html HTTP/1.0","http_response":200,"file_size_bytes":453,"event_datetime":"2024-04-28T23:12:50.484","event_ts":1714345970484}"#
        ));
        visit.coordinates = Coordinates::City;
        let mut out = Vec::new();
        templates.render(0, &visit, &mut out);
        let city = users[0].city;
        assert!(CITIES.contains(&city));
        let expected = format!(r#""lat":{},"lng":{},"#, city.lat, city.lng);
        assert!(String::from_utf8(out).unwrap().contains(&expected));
    }
}
