//! The generator: from a [`GeneratorConfig`] to a reproducible sequence of visit lines.
//!
//! This module owns the order of random draws and therefore the meaning of a seed: which user visits
//! next, what they request, the nominal clock, the disorder (jitter, lateness) and the faults (malformed
//! lines, emptied coordinates). It hands out lines one at a time, as an [`Iterator`] of
//! [`GeneratedLine`]s for tests and callers that want each line with its facts, or through
//! [`Generator::next_into`] and [`Generator::write_jsonl`], which reuse one buffer and allocate nothing
//! per well-formed line. Where the bytes go (a file, stdout, later Kafka) is the caller's business.
//!
//! Randomness comes from four ChaCha8 streams of the one seed (population, traffic, disorder, faults),
//! each used for one concern only, so changing a fault rate does not change who visits which page when,
//! and raising `--events` only appends lines. `ChaCha8Rng::seed_from_u64` and the integer draws used here
//! are documented by `rand` as portable, so a seed means the same bytes on every platform for the
//! dependency versions in `Cargo.lock`.

use std::io::{self, Write};
use std::iter::FusedIterator;

use pipeline::time::{Duration, Timestamp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{ConfigError, GeneratorConfig};
use crate::population::{weighted, Population, User};
use crate::render::{render_malformed, Coordinates, Malformation, Visit, VisitTemplates, PAGES};

/// HTTP status codes and their relative weights: mostly 200, as in the seed.
pub const HTTP_RESPONSES: &[(u16, u32)] = &[(200, 88), (304, 4), (404, 5), (500, 2), (503, 1)];

const STREAM_POPULATION: u64 = 0;
const STREAM_TRAFFIC: u64 = 1;
const STREAM_DISORDER: u64 = 2;
const STREAM_FAULTS: u64 = 3;

/// Flush the line buffer to the writer once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

/// The facts behind one line: who, when it was due, when it says it happened, what was done to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineMeta {
    /// The line's 0-based position in the output, which is its arrival order.
    pub position: u64,
    /// The index of the visiting user in [`Generator::users`].
    pub user: usize,
    /// The nominal time: non-decreasing along the output.
    pub nominal: Timestamp,
    /// The event time written in the line (for a malformed line: the time of the visit it was cut from).
    pub event_time: Timestamp,
    /// Whether the event was chosen to be late (`event_time` moved back by `late_by` as well).
    pub late: bool,
    /// How the coordinates were written.
    pub coordinates: Coordinates,
    /// How the line was broken, if it was.
    pub malformed: Option<Malformation>,
}

/// One output line (without its newline) and the facts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedLine {
    /// What was drawn for this line.
    pub meta: LineMeta,
    /// The line as written, without the trailing newline.
    pub text: String,
}

/// Counts over the lines written so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// All lines.
    pub lines: u64,
    /// Well-formed lines whose event was late.
    pub late: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// Well-formed lines with at least one empty coordinate.
    pub empty_coordinates: u64,
    /// The earliest and latest event time among well-formed lines.
    pub event_times: Option<(Timestamp, Timestamp)>,
}

impl Summary {
    /// Counts one more line.
    pub fn record(&mut self, meta: &LineMeta) {
        self.lines += 1;
        if meta.malformed.is_some() {
            self.malformed += 1;
            return;
        }
        self.late += u64::from(meta.late);
        self.empty_coordinates += u64::from(meta.coordinates != Coordinates::City);
        let t = meta.event_time;
        self.event_times = Some(match self.event_times {
            None => (t, t),
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
        });
    }
}

/// A seeded, finite source of visit lines. See [`GeneratorConfig`] for what each setting means.
///
/// ```
/// use datagen::{Generator, GeneratorConfig};
///
/// let config = GeneratorConfig { events: 3, ..GeneratorConfig::default() };
/// let mut out = Vec::new();
/// let summary = Generator::new(config.clone())?.write_jsonl(&mut out)?;
/// assert_eq!(summary.lines, 3);
///
/// // The iterator yields the same lines, each with the facts behind it.
/// let lines: Vec<String> = Generator::new(config)?.map(|line| line.text + "\n").collect();
/// assert_eq!(String::from_utf8(out)?, lines.concat());
/// assert!(lines[0].contains(r#""event_datetime":"2024-04-28T23:12:40.000""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    population: Population,
    templates: VisitTemplates,
    traffic: ChaCha8Rng,
    disorder: ChaCha8Rng,
    faults: ChaCha8Rng,
    position: u64,
    nominal: Timestamp,
}

impl Generator {
    /// Validates `config` and draws the user population.
    pub fn new(config: GeneratorConfig) -> Result<Generator, ConfigError> {
        config.validate()?;
        let population = Population::generate(&mut stream(config.seed, STREAM_POPULATION), config.num_users);
        let templates = VisitTemplates::new(population.users());
        Ok(Generator {
            traffic: stream(config.seed, STREAM_TRAFFIC),
            disorder: stream(config.seed, STREAM_DISORDER),
            faults: stream(config.seed, STREAM_FAULTS),
            position: 0,
            nominal: config.start,
            config,
            population,
            templates,
        })
    }

    /// The config this generator runs.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The users, indexed by [`LineMeta::user`].
    pub fn users(&self) -> &[User] {
        self.population.users()
    }

    /// Appends the next line to `out` (without a newline) and returns its facts, or returns `None`
    /// when all `events` lines have been produced. Allocates nothing for a well-formed line.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> Option<LineMeta> {
        let config = &self.config;
        if self.position >= config.events {
            return None;
        }
        let position = self.position;
        self.position += 1;

        // Traffic: the nominal clock, then who asks for what.
        if position > 0 {
            let gap = self.traffic.random_range(0..=2 * config.mean_gap.as_millis() as u64);
            self.nominal = self.nominal.plus(Duration::millis(gap as i64));
        }
        let user = self.population.pick(&mut self.traffic);
        let page = self.traffic.random_range(0..PAGES.len() as u32) as usize;
        let http_response = weighted(&mut self.traffic, HTTP_RESPONSES);
        let file_size_bytes = match http_response {
            200 => self.traffic.random_range(100..=500u32),
            304 => 0,
            _ => self.traffic.random_range(50..=250u32),
        };

        // Disorder: every event lies up to `jitter` before its nominal time; a late one `late_by` more.
        let offset = self.disorder.random_range(0..=config.jitter.as_millis() as u64);
        let late = self.disorder.random_bool(config.late_fraction);
        let mut event_time = self.nominal.minus(Duration::millis(offset as i64));
        if late {
            event_time = event_time.minus(config.late_by);
        }

        // Faults.
        let coordinates = if self.faults.random_bool(config.empty_coords_fraction) {
            match self.faults.random_range(0..4u32) {
                0 | 1 => Coordinates::BothEmpty,
                2 => Coordinates::LatEmpty,
                _ => Coordinates::LngEmpty,
            }
        } else {
            Coordinates::City
        };
        let malformed = self
            .faults
            .random_bool(config.malformed_fraction)
            .then(|| Malformation::ALL[self.faults.random_range(0..Malformation::ALL.len() as u32) as usize]);

        let visit = Visit {
            user: &self.population.users()[user],
            coordinates,
            page,
            http_response,
            file_size_bytes,
            event_time,
        };
        match malformed {
            None => self.templates.render(user, &visit, out),
            Some(kind) => render_malformed(kind, &visit, &mut self.faults, out),
        }
        Some(LineMeta {
            position,
            user,
            nominal: self.nominal,
            event_time,
            late,
            coordinates,
            malformed,
        })
    }

    /// Writes every remaining line to `writer`, each followed by `\n`, in chunks of about 64 KiB, and
    /// flushes it. Wrap a file in nothing: the chunking is the buffering.
    pub fn write_jsonl<W: Write>(&mut self, mut writer: W) -> io::Result<Summary> {
        let mut summary = Summary::default();
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        while let Some(meta) = self.next_into(&mut buf) {
            buf.push(b'\n');
            summary.record(&meta);
            if buf.len() >= FLUSH_AT {
                writer.write_all(&buf)?;
                buf.clear();
            }
        }
        writer.write_all(&buf)?;
        writer.flush()?;
        Ok(summary)
    }
}

impl Iterator for Generator {
    type Item = GeneratedLine;

    fn next(&mut self) -> Option<GeneratedLine> {
        let mut out = Vec::with_capacity(384);
        let meta = self.next_into(&mut out)?;
        let text = String::from_utf8(out).expect("lines are rendered from UTF-8 text");
        Some(GeneratedLine { meta, text })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.config.events - self.position;
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

impl FusedIterator for Generator {}

/// Stream `n` of the seed: independent sequences that a change in one concern cannot shift.
fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_of_one_seed_differ() {
        let a: u64 = stream(1, 0).random();
        let b: u64 = stream(1, 1).random();
        assert_ne!(a, b);
    }

    #[test]
    fn fault_rates_do_not_move_the_traffic() {
        let clean = GeneratorConfig {
            events: 500,
            ..GeneratorConfig::default()
        };
        let faulty = GeneratorConfig {
            malformed_fraction: 0.3,
            empty_coords_fraction: 0.3,
            late_fraction: 0.3,
            jitter: Duration::seconds(3),
            ..clean.clone()
        };
        let a: Vec<_> = Generator::new(clean).unwrap().map(|l| l.meta).collect();
        let b: Vec<_> = Generator::new(faulty).unwrap().map(|l| l.meta).collect();
        for (a, b) in a.iter().zip(&b) {
            assert_eq!((a.user, a.nominal), (b.user, b.nominal));
        }
        assert!(b.iter().any(|m| m.malformed.is_some()));
    }

    #[test]
    fn more_events_only_append_lines() {
        let short = GeneratorConfig {
            events: 50,
            jitter: Duration::seconds(1),
            malformed_fraction: 0.1,
            ..GeneratorConfig::default()
        };
        let long = GeneratorConfig {
            events: 80,
            ..short.clone()
        };
        let a: Vec<_> = Generator::new(short).unwrap().collect();
        let b: Vec<_> = Generator::new(long).unwrap().collect();
        assert_eq!(a[..], b[..50]);
    }

    #[test]
    fn the_first_nominal_time_is_start_and_nominal_times_never_decrease() {
        let config = GeneratorConfig {
            events: 300,
            ..GeneratorConfig::default()
        };
        let metas: Vec<_> = Generator::new(config.clone()).unwrap().map(|l| l.meta).collect();
        assert_eq!(metas[0].nominal, config.start);
        assert_eq!(metas[0].event_time, config.start);
        assert!(metas.windows(2).all(|w| w[0].nominal <= w[1].nominal));
        let span = metas[299].nominal.millis() - metas[0].nominal.millis();
        // 299 gaps of mean 200 ms, uniform on [0, 400]: the sum is within a few standard deviations.
        assert!((span - 59_800).abs() < 5_000, "{span}");
    }

    #[test]
    fn summary_counts_what_was_written() {
        let config = GeneratorConfig {
            events: 2000,
            late_fraction: 0.1,
            malformed_fraction: 0.05,
            empty_coords_fraction: 0.1,
            ..GeneratorConfig::default()
        };
        let summary = Generator::new(config.clone()).unwrap().write_jsonl(io::sink()).unwrap();
        let mut expected = Summary::default();
        Generator::new(config).unwrap().for_each(|l| expected.record(&l.meta));
        assert_eq!(summary, expected);
        assert_eq!(summary.lines, 2000);
        assert!(summary.late > 0 && summary.malformed > 0 && summary.empty_coordinates > 0);
    }
}
