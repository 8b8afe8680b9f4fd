//! Fault plans: what goes wrong in a simulated cluster run, drawn from a seed, written as text, shrunk.
//!
//! A [`FaultPlan`] is a list of [`Fault`]s. Each names the moment it strikes by something the run counts
//! (an instance's n-th action, the n-th message, commit, transaction step or fetch of the run) or by
//! virtual time since the run began, so the same plan and seed replay the same run exactly. Its text form,
//! `crash(1,37);outage(12s,8s)`, is what `simulate --faults` takes back and what a failing seed prints.

use std::fmt;
use std::str::FromStr;

use pipeline::time::Duration;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One thing that goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Instance `instance` dies (all in-memory state lost) right before, or right after, executing its
    /// `action`-th action (counted from 0 over the run, across restarts). Its supervisor restarts it.
    Crash {
        /// The instance.
        instance: usize,
        /// Which of its actions.
        action: u64,
        /// After the action took effect rather than before.
        after: bool,
    },
    /// The broker refuses the `message`-th message sent in the run (a failed delivery).
    DeliveryError {
        /// Which message.
        message: u64,
    },
    /// The `commit`-th offset commit of the run fails.
    CommitError {
        /// Which commit.
        commit: u64,
    },
    /// The `step`-th transaction step of the run fails.
    TxnError {
        /// Which step.
        step: u64,
    },
    /// Instance `instance` leaves the group at `at` and rejoins at once: every member is revoked and
    /// reassigned.
    Rebalance {
        /// The instance.
        instance: usize,
        /// Virtual time since the start of the run.
        at: Duration,
    },
    /// The broker answers nothing from `at` for `lasting`: no fetches, no acknowledgements, no commits.
    Outage {
        /// Virtual time since the start of the run.
        at: Duration,
        /// How long.
        lasting: Duration,
    },
    /// The `fetch`-th fetch of the run delivers its records twice.
    Redeliver {
        /// Which fetch.
        fetch: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crash {
                instance,
                action,
                after: false,
            } => write!(f, "crash({instance},{action})"),
            Fault::Crash {
                instance,
                action,
                after: true,
            } => write!(f, "crash({instance},{action},after)"),
            Fault::DeliveryError { message } => write!(f, "delivery-error({message})"),
            Fault::CommitError { commit } => write!(f, "commit-error({commit})"),
            Fault::TxnError { step } => write!(f, "txn-error({step})"),
            Fault::Rebalance { instance, at } => write!(f, "rebalance({instance},{at})"),
            Fault::Outage { at, lasting } => write!(f, "outage({at},{lasting})"),
            Fault::Redeliver { fetch } => write!(f, "redeliver({fetch})"),
        }
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(text: &str) -> Result<Fault, String> {
        let text = text.trim();
        let bad = |why: &str| format!("bad fault {text:?}: {why}");
        let (name, rest) = text
            .split_once('(')
            .ok_or_else(|| bad("expected name(arguments), e.g. crash(1,37)"))?;
        let args: Vec<&str> = rest
            .strip_suffix(')')
            .ok_or_else(|| bad("missing ')'"))?
            .split(',')
            .map(str::trim)
            .collect();
        let int = |i: usize| -> Result<u64, String> {
            args.get(i)
                .ok_or_else(|| bad("too few arguments"))?
                .parse()
                .map_err(|_| bad(&format!("argument {} is not a whole number", i + 1)))
        };
        let duration = |i: usize| -> Result<Duration, String> {
            args.get(i)
                .ok_or_else(|| bad("too few arguments"))?
                .parse()
                .map_err(|e: pipeline::time::DurationError| bad(&e.to_string()))
        };
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(bad(&format!("expected {n} argument(s)")))
            }
        };
        let fault = match name.trim() {
            "crash" => {
                let after = match args.get(2) {
                    None => false,
                    Some(&"after") => true,
                    Some(&"before") => false,
                    Some(_) => return Err(bad("the third argument is before or after")),
                };
                if args.len() > 3 {
                    return Err(bad("expected 2 or 3 arguments"));
                }
                Fault::Crash {
                    instance: int(0)? as usize,
                    action: int(1)?,
                    after,
                }
            }
            "delivery-error" => {
                arity(1)?;
                Fault::DeliveryError { message: int(0)? }
            }
            "commit-error" => {
                arity(1)?;
                Fault::CommitError { commit: int(0)? }
            }
            "txn-error" => {
                arity(1)?;
                Fault::TxnError { step: int(0)? }
            }
            "rebalance" => {
                arity(2)?;
                Fault::Rebalance {
                    instance: int(0)? as usize,
                    at: duration(1)?,
                }
            }
            "outage" => {
                arity(2)?;
                Fault::Outage {
                    at: duration(0)?,
                    lasting: duration(1)?,
                }
            }
            "redeliver" => {
                arity(1)?;
                Fault::Redeliver { fetch: int(0)? }
            }
            other => {
                return Err(bad(&format!(
                    "unknown fault {other:?}; expected crash, delivery-error, commit-error, txn-error, rebalance, \
                     outage or redeliver"
                )))
            }
        };
        Ok(fault)
    }
}

/// The faults of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FaultPlan {
    /// The faults, in the order drawn (order does not matter: each names its own moment).
    pub faults: Vec<Fault>,
}

impl fmt::Display for FaultPlan {
    /// `crash(1,37);outage(12s,8s)`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            return f.write_str("none");
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

impl FromStr for FaultPlan {
    type Err = String;
    fn from_str(text: &str) -> Result<FaultPlan, String> {
        let text = text.trim();
        if text.is_empty() || text == "none" {
            return Ok(FaultPlan::default());
        }
        let faults = text
            .split(';')
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(FaultPlan { faults })
    }
}

/// What a fault-free run did, so that plans strike where something happens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Actions executed per instance.
    pub actions: Vec<u64>,
    /// Messages sent.
    pub messages: u64,
    /// Offset commits.
    pub commits: u64,
    /// Transaction steps.
    pub txn_steps: u64,
    /// Fetches.
    pub fetches: u64,
    /// Virtual time the run took.
    pub duration: Duration,
}

impl FaultPlan {
    /// The plan seed `seed` draws for a run like `baseline`: up to five faults, mostly crashes, each
    /// striking where the fault-free run had something of its kind.
    pub fn draw(seed: u64, baseline: &Baseline, exactly_once: bool) -> FaultPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let count = rng.random_range(0..=5usize);
        let within = |rng: &mut ChaCha8Rng, n: u64| rng.random_range(0..n.max(1));
        let duration = baseline.duration.as_millis().max(1);
        let mut faults = Vec::with_capacity(count);
        for _ in 0..count {
            let roll = rng.random_range(0..100u32);
            let instance = rng.random_range(0..baseline.actions.len().max(1));
            let fault = match roll {
                0..=39 => Fault::Crash {
                    instance,
                    action: within(&mut rng, baseline.actions.get(instance).copied().unwrap_or(1)),
                    after: rng.random(),
                },
                40..=49 => Fault::DeliveryError {
                    message: within(&mut rng, baseline.messages),
                },
                50..=59 if exactly_once => Fault::TxnError {
                    step: within(&mut rng, baseline.txn_steps),
                },
                50..=59 => Fault::CommitError {
                    commit: within(&mut rng, baseline.commits),
                },
                60..=74 => Fault::Rebalance {
                    instance,
                    at: Duration::millis(rng.random_range(0..duration)),
                },
                75..=89 => Fault::Outage {
                    at: Duration::millis(rng.random_range(0..duration)),
                    lasting: Duration::millis(rng.random_range(100..=30_000)),
                },
                _ => Fault::Redeliver {
                    fetch: within(&mut rng, baseline.fetches),
                },
            };
            faults.push(fault);
        }
        FaultPlan { faults }
    }

    /// The plans one fault smaller than this one (each fault left out in turn), for shrinking.
    pub fn smaller(&self) -> Vec<FaultPlan> {
        (0..self.faults.len())
            .map(|skip| FaultPlan {
                faults: self
                    .faults
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, f)| *f)
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plans_round_trip_through_their_text() {
        let text = "crash(1,37);crash(0,2,after);delivery-error(12);commit-error(3);txn-error(5);\
                    rebalance(1,12500ms);outage(30s,8s);redeliver(40)";
        let plan: FaultPlan = text.parse().unwrap();
        assert_eq!(plan.faults.len(), 8);
        assert_eq!(plan.to_string(), text);
        assert_eq!("none".parse::<FaultPlan>().unwrap(), FaultPlan::default());
    }

    #[test]
    fn bad_plans_say_what_is_wrong() {
        for (text, expected) in [
            ("crash(1)", "too few arguments"),
            ("explode(1)", "unknown fault"),
            ("outage(3,4s)", "bad duration"),
            ("crash(1,2,sideways)", "before or after"),
            ("redeliver(1", "missing ')'"),
        ] {
            let err = text.parse::<FaultPlan>().unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    proptest! {
        #[test]
        fn drawn_plans_round_trip_and_are_reproducible(seed in any::<u64>()) {
            let baseline = Baseline {
                actions: vec![100, 80],
                messages: 50,
                commits: 20,
                txn_steps: 30,
                fetches: 400,
                duration: Duration::seconds(600),
            };
            let plan = FaultPlan::draw(seed, &baseline, seed % 2 == 0);
            prop_assert_eq!(&plan, &FaultPlan::draw(seed, &baseline, seed % 2 == 0));
            prop_assert_eq!(plan.to_string().parse::<FaultPlan>().unwrap(), plan);
        }
    }
}
