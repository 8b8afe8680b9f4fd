//! Watermark generators: how a runner turns the event times it has seen into a watermark.
//!
//! These are pure state machines too. A runner tells a generator each event time it reads and whether
//! the input has ended; the generator answers with the watermark the core should see. The simulator
//! uses one generator for a file; the Kafka runtime keeps one per partition and takes the minimum.

use crate::time::{Duration, Timestamp, Watermark};

/// The out-of-orderness bound of `bounded` when none is given, for the simulator and the Kafka runners
/// alike: the seed's 5 seconds.
pub const DEFAULT_BOUND: Duration = Duration::seconds(5);

/// The watermark strategies `simulate --watermark` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkStrategy {
    /// `bounded:5s`: watermark = max event time seen − bound, advanced as records arrive.
    Bounded(Duration),
    /// The watermark moves only where a scenario says so (`{"watermark": ...}` lines).
    Explicit,
    /// No element is ever late: the watermark stays at −∞ until the input ends, then goes to +∞.
    Perfect,
}

impl std::str::FromStr for WatermarkStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "explicit" => Ok(WatermarkStrategy::Explicit),
            "perfect" => Ok(WatermarkStrategy::Perfect),
            "bounded" => Ok(WatermarkStrategy::Bounded(DEFAULT_BOUND)),
            _ => match s.strip_prefix("bounded:") {
                Some(bound) => bound.parse().map(WatermarkStrategy::Bounded).map_err(|e| e.to_string()),
                None => Err(format!(
                    "unknown watermark strategy {s:?}: expected bounded:<duration>, explicit or perfect"
                )),
            },
        }
    }
}

impl std::fmt::Display for WatermarkStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatermarkStrategy::Bounded(d) => write!(f, "bounded:{d}"),
            WatermarkStrategy::Explicit => f.write_str("explicit"),
            WatermarkStrategy::Perfect => f.write_str("perfect"),
        }
    }
}

/// Bounded out-of-orderness: the watermark trails the largest event time seen by a fixed bound.
///
/// ```
/// use pipeline::time::{Duration, Timestamp, Watermark};
/// use pipeline::watermark::BoundedOutOfOrderness;
/// let mut gen = BoundedOutOfOrderness::new(Duration::seconds(5));
/// gen.observe(Timestamp::from_millis(30_000));
/// gen.observe(Timestamp::from_millis(10_000)); // out of order: the watermark does not go back
/// assert_eq!(gen.current(), Watermark::at(Timestamp::from_millis(25_000)));
/// ```
#[derive(Debug, Clone)]
pub struct BoundedOutOfOrderness {
    bound: Duration,
    max_seen: Option<Timestamp>,
}

impl BoundedOutOfOrderness {
    /// A generator trailing the maximum event time by `bound`.
    pub fn new(bound: Duration) -> Self {
        BoundedOutOfOrderness { bound, max_seen: None }
    }

    /// Takes one event time into account.
    pub fn observe(&mut self, t: Timestamp) {
        if self.max_seen.is_none_or(|m| t > m) {
            self.max_seen = Some(t);
        }
    }

    /// The largest event time seen so far.
    pub fn max_seen(&self) -> Option<Timestamp> {
        self.max_seen
    }

    /// `max event time − bound`, or −∞ before the first event.
    pub fn current(&self) -> Watermark {
        match self.max_seen {
            Some(m) => Watermark::at(m.minus(self.bound)),
            None => Watermark::MIN,
        }
    }
}
