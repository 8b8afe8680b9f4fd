//! Seeded, reproducible disorder: records delivered out of order within a bound, and a fraction held
//! back and delivered late.
//!
//! [`Disorder`] is a pure state machine driven by a portable RNG (`ChaCha8Rng`), so a seed means the same
//! arrival order on every machine and version. It holds at most `reorder + 1` records for reordering plus
//! the records it is delaying, never the whole input.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use pipeline::time::{Duration, Timestamp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How to disturb arrival order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisorderOptions {
    /// The RNG seed; printed before the run so that any run can be replayed.
    pub seed: u64,
    /// No record moves more than this many positions from its place in the file.
    pub reorder: usize,
    /// The fraction of records (0..=1) held back and delivered late.
    pub late_fraction: f64,
    /// How late: a held record arrives once the stream's event time has moved this far past its own.
    pub late_by: Duration,
}

impl DisorderOptions {
    /// True when these options change nothing.
    pub fn is_identity(&self) -> bool {
        self.reorder == 0 && self.late_fraction <= 0.0
    }
}

/// Reorders and delays records deterministically. `T` is whatever the runner carries per record (the
/// simulator hands it records decoded once, with their event times).
///
/// ```
/// use simulator::disorder::{Disorder, DisorderOptions};
/// use pipeline::time::Duration;
///
/// let opts = DisorderOptions { seed: 7, reorder: 3, late_fraction: 0.0, late_by: Duration::ZERO };
/// let mut disorder = Disorder::new(opts);
/// let mut out = Vec::new();
/// for i in 0..100u32 {
///     disorder.push(i, None, &mut out);
/// }
/// disorder.finish(&mut out);
/// assert_eq!(out.len(), 100);
/// ```
pub struct Disorder<T> {
    options: DisorderOptions,
    rng: ChaCha8Rng,
    arrived: u64,
    /// Records waiting for their release position: (release at, arrival sequence).
    reordering: BinaryHeap<Reverse<(u64, u64, Slot<T>)>>,
    /// Records delayed until the stream's event time passes (release time, arrival sequence).
    delayed: BTreeMap<(Timestamp, u64), T>,
    max_event_time: Option<Timestamp>,
}

/// A record in the reordering heap; ordered by the heap's key only.
struct Slot<T>(T, Option<Timestamp>);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Disorder<T> {
    /// A disorder machine seeded with `options.seed`.
    pub fn new(options: DisorderOptions) -> Disorder<T> {
        assert!(
            (0.0..=1.0).contains(&options.late_fraction),
            "late fraction must be within 0..=1"
        );
        Disorder {
            options,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            arrived: 0,
            reordering: BinaryHeap::new(),
            delayed: BTreeMap::new(),
            max_event_time: None,
        }
    }

    /// Takes the next record in file order (`event_time` when it decodes) and pushes onto `out` every
    /// record whose turn has come.
    pub fn push(&mut self, record: T, event_time: Option<Timestamp>, out: &mut Vec<T>) {
        let seq = self.arrived;
        self.arrived += 1;
        // Both draws happen for every record, so that one record's fate never shifts the others'.
        let late_draw: f64 = self.rng.random();
        let shift = self.rng.random_range(0..=self.options.reorder as u64);
        match event_time {
            Some(t) if late_draw < self.options.late_fraction => {
                self.delayed.insert((t.plus(self.options.late_by), seq), record);
            }
            _ => self
                .reordering
                .push(Reverse((seq + shift, seq, Slot(record, event_time)))),
        }
        while let Some(Reverse((release_at, _, _))) = self.reordering.peek() {
            if *release_at > seq {
                break;
            }
            let Reverse((_, _, Slot(r, t))) = self.reordering.pop().expect("peeked");
            out.push(r);
            // Delays count in the event time actually delivered, so a delayed record really arrives
            // behind the stream it is late for.
            self.max_event_time = self.max_event_time.max(t);
        }
        if let Some(now) = self.max_event_time {
            while let Some(entry) = self.delayed.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                out.push(entry.remove());
            }
        }
    }

    /// The input has ended: releases everything still held, reordered ones first.
    pub fn finish(&mut self, out: &mut Vec<T>) {
        while let Some(Reverse((_, _, Slot(r, _)))) = self.reordering.pop() {
            out.push(r);
        }
        out.extend(std::mem::take(&mut self.delayed).into_values());
    }

    /// Records currently held back.
    pub fn held(&self) -> usize {
        self.reordering.len() + self.delayed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::io::{Position, Record};
    use proptest::prelude::*;

    fn run(options: DisorderOptions, times: &[i64]) -> Vec<u64> {
        let mut d = Disorder::new(options);
        let mut out = Vec::new();
        for (i, t) in times.iter().enumerate() {
            d.push(
                Record::new(vec![], Position::Index { index: i as u64 }),
                Some(Timestamp::from_millis(*t)),
                &mut out,
            );
        }
        d.finish(&mut out);
        out.into_iter()
            .map(|r| match r.position {
                Position::Index { index } => index,
                _ => unreachable!(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn reordering_is_a_bounded_permutation(seed in any::<u64>(), reorder in 0usize..8, n in 0usize..200) {
            let times: Vec<i64> = (0..n as i64).map(|i| i * 100).collect();
            let opts = DisorderOptions { seed, reorder, late_fraction: 0.0, late_by: Duration::ZERO };
            let order = run(opts, &times);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..n as u64).collect::<Vec<_>>());
            for (pos, idx) in order.iter().enumerate() {
                prop_assert!((pos as i64 - *idx as i64).unsigned_abs() <= reorder as u64, "seed {seed}: {idx} at {pos}");
            }
            prop_assert_eq!(run(opts, &times), order, "same seed, same order");
        }

        #[test]
        fn late_records_arrive_after_the_stream_passed_their_time_plus_the_delay(seed in any::<u64>()) {
            let times: Vec<i64> = (0..300).map(|i| i * 1000).collect();
            let opts = DisorderOptions { seed, reorder: 0, late_fraction: 0.1, late_by: Duration::seconds(30) };
            let order = run(opts, &times);
            prop_assert_eq!(order.len(), 300);
            let mut max_seen = i64::MIN;
            for idx in order {
                let t = times[idx as usize];
                // With no reordering, only delayed records arrive behind the stream; those whose delay
                // outlasts the input are released at the end.
                if t < max_seen && t + 30_000 <= 290_000 {
                    prop_assert!(max_seen >= t + 30_000, "record {idx} at {t} delivered when max was {max_seen}");
                }
                max_seen = max_seen.max(t);
            }
        }
    }
}
