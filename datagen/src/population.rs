//! The simulated audience: a fixed set of users and what stays the same about each of them.
//!
//! This module owns the tables a user is drawn from (real cities with four-decimal coordinates, the age
//! brackets and their weights), the drawing of a population from a seeded random source (public IPv4
//! addresses and user agents from the `fake` crate, ids as large integers) and the choice of which user
//! makes the next visit. What a single visit looks like is left to [`crate::render`] and
//! [`crate::generator`].

use std::net::Ipv4Addr;

use fake::faker::internet::en::{IPv4, UserAgent};
use fake::Fake;
use rand::RngExt;

/// A real city a user visits from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct City {
    /// The city's name (for reading the table; it is not written to the output).
    pub name: &'static str,
    /// Latitude, four decimals.
    pub lat: f64,
    /// Longitude, four decimals.
    pub lng: f64,
}

/// The cities users live in; the first three are the coordinates of the seed's sample output.
pub const CITIES: &[City] = &[
    city("Milan", 45.5253, 9.333),
    city("Ashburn", 39.0437, -77.4875),
    city("Shanghai", 31.2222, 121.4581),
    city("Sydney", -33.8688, 151.2093),
    city("Melbourne", -37.8136, 144.9631),
    city("Auckland", -36.8485, 174.7633),
    city("Tokyo", 35.6762, 139.6503),
    city("Seoul", 37.5665, 126.978),
    city("Singapore", 1.3521, 103.8198),
    city("Mumbai", 19.076, 72.8777),
    city("Dubai", 25.2048, 55.2708),
    city("Nairobi", -1.2921, 36.8219),
    city("Cairo", 30.0444, 31.2357),
    city("Lagos", 6.5244, 3.3792),
    city("Berlin", 52.52, 13.405),
    city("Paris", 48.8566, 2.3522),
    city("London", 51.5072, -0.1276),
    city("Madrid", 40.4168, -3.7038),
    city("Stockholm", 59.3293, 18.0686),
    city("Sao Paulo", -23.5558, -46.6396),
    city("Buenos Aires", -34.6037, -58.3816),
    city("Mexico City", 19.4326, -99.1332),
    city("New York", 40.7128, -74.006),
    city("Chicago", 41.8781, -87.6298),
    city("Toronto", 43.6532, -79.3832),
    city("San Francisco", 37.7749, -122.4194),
];

const fn city(name: &'static str, lat: f64, lng: f64) -> City {
    City { name, lat, lng }
}

/// The age brackets and their relative weights.
pub const AGE_BRACKETS: &[(&str, u32)] = &[("18-25", 20), ("26-40", 35), ("41-55", 25), ("56-70", 15), ("71+", 5)];

/// One visitor. Everything here is fixed for the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// A public IPv4 address.
    pub ip: String,
    /// A large positive integer (18 or 19 digits) written as a string, like the seed's ids.
    pub id: String,
    /// Where the user visits from.
    pub city: City,
    /// The browser's user-agent string.
    pub user_agent: String,
    /// One of [`AGE_BRACKETS`].
    pub age_bracket: &'static str,
    /// Whether the user agreed to marketing.
    pub opted_into_marketing: bool,
    /// How active the user is relative to the others (1 to 4); a user with weight 4 visits four times
    /// as often as one with weight 1.
    pub activity: u32,
}

/// A fixed set of users with distinct ids, and the weighted choice among them.
#[derive(Debug, Clone)]
pub struct Population {
    users: Vec<User>,
    /// Running sums of `activity`, for picking a user by weight with one draw and a binary search.
    cumulative: Vec<u32>,
}

impl Population {
    /// Draws `n` users from `rng`. User `k` depends only on the draws before it, so the first users of a
    /// larger population are the users of a smaller one with the same seed.
    ///
    /// # Panics
    /// If `n` is zero.
    pub fn generate<R: RngExt + ?Sized>(rng: &mut R, n: u32) -> Population {
        assert!(n > 0, "a population needs at least one user");
        let mut users: Vec<User> = Vec::with_capacity(n as usize);
        let mut ids = std::collections::HashSet::with_capacity(n as usize);
        for _ in 0..n {
            let id = loop {
                // 18 or 19 digits, below i64::MAX so that consumers reading it as a signed integer cope.
                let id = rng.random_range(100_000_000_000_000_000..=i64::MAX as u64);
                if ids.insert(id) {
                    break id;
                }
            };
            let ip = public_ipv4(rng);
            let city = CITIES[rng.random_range(0..CITIES.len() as u32) as usize];
            let user_agent: String = UserAgent().fake_with_rng(rng);
            let age_bracket = weighted(rng, AGE_BRACKETS);
            let opted_into_marketing = rng.random_bool(0.4);
            let activity = rng.random_range(1..=4u32);
            users.push(User {
                ip,
                id: id.to_string(),
                city,
                user_agent,
                age_bracket,
                opted_into_marketing,
                activity,
            });
        }
        let cumulative = users
            .iter()
            .scan(0u32, |sum, user| {
                *sum += user.activity;
                Some(*sum)
            })
            .collect();
        Population { users, cumulative }
    }

    /// The users, in the order they were drawn.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Picks the index of the user who makes the next visit, weighted by activity.
    pub fn pick<R: RngExt + ?Sized>(&self, rng: &mut R) -> usize {
        let total = *self.cumulative.last().expect("population is never empty");
        let r = rng.random_range(0..total);
        self.cumulative.partition_point(|&sum| sum <= r)
    }
}

/// A value from a table of `(value, weight)` pairs, by weight, with one integer draw (portable across
/// platforms, unlike a float comparison chain would need to be argued to be).
pub(crate) fn weighted<R: RngExt + ?Sized, T: Copy>(rng: &mut R, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|&(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for &(value, weight) in table {
        if r < weight {
            return value;
        }
        r -= weight;
    }
    unreachable!("r < total")
}

/// A random IPv4 address that could appear in a public web server's log: `fake`'s uniform address,
/// drawn again while it is private, loopback, link-local, multicast, reserved or otherwise not routable.
fn public_ipv4<R: RngExt + ?Sized>(rng: &mut R) -> String {
    loop {
        let text: String = IPv4().fake_with_rng(rng);
        let ip: Ipv4Addr = text.parse().expect("fake writes dotted quads");
        let [a, b, ..] = ip.octets();
        let shared = a == 100 && (64..128).contains(&b); // carrier-grade NAT, 100.64.0.0/10
        if !(ip.is_private()
            || ip.is_loopback()
            || ip.is_link_local()
            || ip.is_multicast()
            || ip.is_broadcast()
            || ip.is_documentation()
            || ip.is_unspecified()
            || a == 0
            || a >= 240
            || shared)
        {
            return text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn users_have_distinct_ids_of_the_seed_shape() {
        let population = Population::generate(&mut ChaCha8Rng::seed_from_u64(7), 500);
        let mut ids: Vec<&str> = population.users().iter().map(|u| u.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 500);
        for user in population.users() {
            assert!(matches!(user.id.len(), 18 | 19), "{}", user.id);
            assert!(user.id.parse::<i64>().is_ok(), "{}", user.id);
            let ip: Ipv4Addr = user.ip.parse().unwrap();
            assert!(!ip.is_private() && !ip.is_loopback(), "{ip}");
            assert!(user.user_agent.starts_with("Mozilla/") || user.user_agent.starts_with("Opera/"));
            assert!(AGE_BRACKETS.iter().any(|&(b, _)| b == user.age_bracket));
        }
    }

    #[test]
    fn a_smaller_population_is_a_prefix_of_a_larger_one() {
        let small = Population::generate(&mut ChaCha8Rng::seed_from_u64(3), 5);
        let large = Population::generate(&mut ChaCha8Rng::seed_from_u64(3), 50);
        assert_eq!(small.users(), &large.users()[..5]);
    }

    #[test]
    fn picks_follow_activity_weights() {
        let population = Population::generate(&mut ChaCha8Rng::seed_from_u64(11), 4);
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let mut counts = [0u32; 4];
        let n = 40_000;
        for _ in 0..n {
            counts[population.pick(&mut rng)] += 1;
        }
        let total: u32 = population.users().iter().map(|u| u.activity).sum();
        for (user, &count) in population.users().iter().zip(&counts) {
            let expected = f64::from(n) * f64::from(user.activity) / f64::from(total);
            assert!(
                (f64::from(count) - expected).abs() < 5.0 * expected.sqrt() + 1.0,
                "{count} vs {expected}"
            );
        }
    }

    #[test]
    fn city_coordinates_have_at_most_four_decimals() {
        for city in CITIES {
            for v in [city.lat, city.lng] {
                assert_eq!((v * 10_000.0).round() / 10_000.0, v, "{}", city.name);
                let text = serde_json::to_string(&v).unwrap();
                let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
                assert!(decimals <= 4, "{} {text}", city.name);
            }
        }
    }
}
