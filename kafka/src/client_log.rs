//! How the Kafka clients log: librdkafka's log and error callbacks, and the runner's own warnings
//! about things librdkafka retries, each said once per interval however often it repeats.
//!
//! An unreachable broker makes librdkafka retry every few milliseconds, and every retry raises a log
//! line and an error event on every client; printed as they come, that is dozens of lines a second for
//! as long as the broker stays away. Every client of this crate (the runner's consumer and producer,
//! the repartition stage, the admin clients, `datagen`'s producer) therefore logs through one
//! process-wide [`RepeatLimiter`]: the first occurrence of a kind of message is logged at once, later
//! ones within [`REPEAT_INTERVAL`] are counted, and the next one after it is logged with that count.
//! The limiter itself is a pure value with time passed in, so its rule is unit-tested without a clock.
//!
//! What a "kind" is: a librdkafka log line's facility (`FAIL`, `REQTMOUT`, ...), an error's code, or a
//! name the caller picks. librdkafka raises the same failure both as an error event and, on a consumer,
//! as a poll error; both carry the same code, so they count as one kind.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration as Wall, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// How often one kind of message is logged at most.
pub const REPEAT_INTERVAL: Wall = Wall::from_secs(10);

/// At most this many kinds are remembered; beyond it, kinds not logged within the interval are
/// forgotten (a forgotten kind is logged at once the next time, with its count lost).
const MAX_KINDS: usize = 256;

/// Decides which occurrences of a repeated message are logged: the first of each kind, then at most
/// one per interval, each telling how many were suppressed since the last one logged.
///
/// ```
/// use std::time::{Duration, Instant};
/// use kafka_runtime::client_log::RepeatLimiter;
///
/// let mut limiter = RepeatLimiter::new(Duration::from_secs(10));
/// let t0 = Instant::now();
/// assert_eq!(limiter.admit("refused", t0), Some(0));
/// assert_eq!(limiter.admit("refused", t0 + Duration::from_secs(1)), None);
/// assert_eq!(limiter.admit("refused", t0 + Duration::from_secs(10)), Some(1));
/// ```
#[derive(Debug, Clone)]
pub struct RepeatLimiter<K> {
    interval: Wall,
    kinds: BTreeMap<K, Seen>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    logged_at: Instant,
    suppressed: u64,
}

impl<K> RepeatLimiter<K> {
    /// A limiter that lets one message of each kind through per `interval`.
    pub const fn new(interval: Wall) -> Self {
        RepeatLimiter {
            interval,
            kinds: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> RepeatLimiter<K> {
    /// A message of kind `kind` occurs at `now`: `Some(n)` when it is to be logged, `n` being how many
    /// of its kind were suppressed since the last one logged; `None` when it is suppressed (and
    /// counted).
    pub fn admit(&mut self, kind: K, now: Instant) -> Option<u64> {
        if let Some(seen) = self.kinds.get_mut(&kind) {
            if now.saturating_duration_since(seen.logged_at) < self.interval {
                seen.suppressed += 1;
                return None;
            }
            let suppressed = std::mem::take(&mut seen.suppressed);
            seen.logged_at = now;
            return Some(suppressed);
        }
        if self.kinds.len() >= MAX_KINDS {
            let interval = self.interval;
            self.kinds
                .retain(|_, seen| now.saturating_duration_since(seen.logged_at) < interval);
        }
        if self.kinds.len() >= MAX_KINDS {
            // Every kind is recent: forget the one logged longest ago.
            let oldest = self
                .kinds
                .iter()
                .min_by_key(|(_, seen)| seen.logged_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.kinds.remove(&oldest);
            }
        }
        self.kinds.insert(
            kind,
            Seen {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

/// The process-wide limiter every client logs through.
static LIMITER: Mutex<RepeatLimiter<String>> = Mutex::new(RepeatLimiter::new(REPEAT_INTERVAL));

/// `message` followed by how many like it were not logged, when any were.
fn with_count(message: impl Display, suppressed: u64) -> String {
    match suppressed {
        0 => message.to_string(),
        n => format!("{message} ({n} more like this since it was last logged)"),
    }
}

/// Runs `log` with the count of suppressed repetitions when a message of `kind` is due now.
fn when_due(kind: String, log: impl FnOnce(u64)) {
    let due = LIMITER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .admit(kind, Instant::now());
    if let Some(suppressed) = due {
        log(suppressed);
    }
}

/// Logs a warning of kind `kind` (a name for what went wrong, e.g. `"commit"`), at most once per
/// [`REPEAT_INTERVAL`].
pub fn warn_repeated(kind: &str, message: impl Display) {
    when_due(kind.to_owned(), |n| tracing::warn!("{}", with_count(message, n)));
}

/// Logs an informational line of kind `kind`, at most once per [`REPEAT_INTERVAL`] (for lines a
/// rebalance storm or a flapping broker could repeat many times a second).
pub fn info_repeated(kind: &str, message: impl Display) {
    when_due(kind.to_owned(), |n| tracing::info!("{}", with_count(message, n)));
}

/// The kind of an error from librdkafka: its code, so that an error event and the poll error raised
/// for the same failure count as one.
pub fn error_kind(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("error {code:?}"),
        None => format!("error {error}"),
    }
}

/// Logs a warning about a client error that librdkafka retries by itself, at most once per interval
/// per error code (shared with the error callbacks of every client).
pub fn warn_client_error(client: &str, error: &KafkaError) {
    when_due(error_kind(error), |n| {
        tracing::warn!("{}", with_count(format_args!("{client}: {error}"), n))
    });
}

/// Logs what a librdkafka error callback reports, at most once per interval per error code.
pub fn client_error(client: &str, error: &KafkaError, reason: &str) {
    when_due(
        error_kind(error),
        |n| tracing::error!(target: "librdkafka", "{}", with_count(format_args!("{client}: {error}: {reason}"), n)),
    );
}

/// Logs a librdkafka log line at its level, at most once per interval per facility and level.
pub fn client_log(client: &str, level: RDKafkaLogLevel, facility: &str, message: &str) {
    when_due(format!("log {level:?} {facility}"), |n| {
        let line = with_count(format_args!("{client}: librdkafka {facility}: {message}"), n);
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "{line}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{line}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", "{line}"),
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{line}"),
        }
    });
}

/// A client context that only logs, through the limiter: for admin clients and plain consumers.
#[derive(Debug, Clone, Copy)]
pub struct LimitedLog {
    /// Which client this is, as it appears in log lines (`admin client`, `consumer`, ...).
    pub client: &'static str,
}

impl ClientContext for LimitedLog {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        client_log(self.client, level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(self.client, &error, reason);
    }
}

impl ConsumerContext for LimitedLog {}

/// Sends `tracing` output to standard error (`RUST_LOG`, else `default_filter`), colored on a
/// terminal; librdkafka's lines arrive through the client contexts above.
pub fn init_stderr_logging(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Wall {
        Wall::from_secs(s)
    }

    #[test]
    fn a_message_repeated_every_25_ms_is_logged_once_per_interval_with_the_suppressed_count() {
        let mut limiter = RepeatLimiter::new(secs(10));
        let t0 = Instant::now();
        let logged: Vec<(u64, u64)> = (0..=1200u64)
            .filter_map(|i| {
                let at = Wall::from_millis(i * 25);
                limiter.admit("refused", t0 + at).map(|n| (at.as_millis() as u64, n))
            })
            .collect();
        // 30 s of retries: logged at 0, 10 and 20 s and 30 s, each after the 399 in between.
        assert_eq!(logged, vec![(0, 0), (10_000, 399), (20_000, 399), (30_000, 399)]);
    }

    #[test]
    fn kinds_are_limited_separately() {
        let mut limiter = RepeatLimiter::new(secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.admit("refused", t0), Some(0));
        assert_eq!(limiter.admit("timed out", t0), Some(0));
        assert_eq!(limiter.admit("refused", t0 + secs(1)), None);
        assert_eq!(limiter.admit("timed out", t0 + secs(1)), None);
        assert_eq!(limiter.admit("refused", t0 + secs(11)), Some(1));
    }

    #[test]
    fn a_message_after_a_quiet_spell_is_logged_at_once_without_a_count() {
        let mut limiter = RepeatLimiter::new(secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.admit("refused", t0), Some(0));
        assert_eq!(limiter.admit("refused", t0 + secs(60)), Some(0));
        assert_eq!(limiter.admit("refused", t0 + secs(61)), None);
    }

    #[test]
    fn a_clock_read_out_of_order_between_threads_does_not_log_early() {
        let mut limiter = RepeatLimiter::new(secs(10));
        let t0 = Instant::now() + secs(5);
        assert_eq!(limiter.admit("refused", t0), Some(0));
        assert_eq!(limiter.admit("refused", t0 - secs(1)), None);
    }

    #[test]
    fn many_kinds_stay_bounded_and_recent_ones_keep_their_counts() {
        let mut limiter = RepeatLimiter::new(secs(10));
        let t0 = Instant::now();
        for i in 0..MAX_KINDS {
            limiter.admit(i, t0);
        }
        assert_eq!(limiter.admit(0, t0 + secs(1)), None);
        for i in MAX_KINDS..3 * MAX_KINDS {
            limiter.admit(i, t0 + secs(20));
        }
        assert_eq!(limiter.kinds.len(), MAX_KINDS);
        assert_eq!(limiter.admit(3 * MAX_KINDS - 1, t0 + secs(21)), None);
    }

    #[test]
    fn a_count_is_written_after_the_message() {
        assert_eq!(with_count("refused", 0), "refused");
        assert_eq!(
            with_count("refused", 7),
            "refused (7 more like this since it was last logged)"
        );
    }
}
