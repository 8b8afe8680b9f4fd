//! The mutation loop: a seeded, structure-aware fuzzer that needs nothing but stable Rust.
//!
//! It starts from the target's checked-in corpus and regressions and, for as long or as many inputs as
//! asked, either builds a fresh structured input with the target's generator (random bytes read through
//! `arbitrary`) or mutates a corpus entry ([`crate::mutate`]). Each input runs under `catch_unwind`: a
//! panic is counted and the first input for each panic location is saved under the artifacts folder.
//! A watchdog thread watches the input in flight; one that runs longer than the hang timeout is saved
//! as `hang-*`, the report so far is printed, and the process exits at once with status
//! [`HANG_EXIT_STATUS`] (a hung call cannot be cancelled; libFuzzer's timeouts use the same status).
//!
//! Everything random comes from one ChaCha8 stream seeded by [`LoopOptions::seed`], so a run with the
//! same seed, corpus and budget in inputs tries the same inputs. There is no coverage feedback: the
//! pool grows with generated and mutated inputs (bounded, oldest replaced at random), which lets
//! mutations compound.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{mutate, Target};

/// How long, or how many inputs, a loop runs; it stops at whichever limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Stop after this much wall-clock time.
    pub time: Option<Duration>,
    /// Stop after this many inputs.
    pub inputs: Option<u64>,
}

/// How to run the loop.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Seeds every random choice; print it first so a run can be repeated.
    pub seed: u64,
    /// When to stop.
    pub budget: Budget,
    /// An input running longer than this is a hang.
    pub hang_timeout: Duration,
    /// Where inputs that panicked or hung are saved.
    pub artifacts: PathBuf,
    /// Folders of seed inputs (the corpus and the regressions).
    pub seeds: Vec<PathBuf>,
    /// The longest input tried, in bytes.
    pub max_len: usize,
    /// Print each new panic as it is found.
    pub verbose: bool,
}

/// A panic found by the loop: where it happened and the input saved for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// The panic message with its location.
    pub message: String,
    /// The saved input.
    pub artifact: PathBuf,
}

/// What a loop did.
#[derive(Debug, Clone)]
pub struct LoopReport {
    /// The target's name.
    pub target: &'static str,
    /// The seed that was used.
    pub seed: u64,
    /// Inputs run.
    pub inputs: u64,
    /// Time spent.
    pub elapsed: Duration,
    /// Inputs that panicked.
    pub panics: u64,
    /// Inputs that hung (0 or 1: a hang ends the process).
    pub hangs: u64,
    /// Seed inputs plus pool entries at the end.
    pub corpus: usize,
    /// One entry per distinct panic location.
    pub crashes: Vec<Crash>,
}

impl fmt::Display for LoopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        summary_line(
            f,
            self.target,
            self.inputs,
            self.elapsed,
            self.panics,
            self.hangs,
            self.corpus,
        )?;
        write!(f, ", seed {}", self.seed)
    }
}

fn summary_line(
    f: &mut dyn fmt::Write,
    target: &str,
    inputs: u64,
    elapsed: Duration,
    panics: u64,
    hangs: u64,
    corpus: usize,
) -> fmt::Result {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { inputs as f64 / seconds } else { 0.0 };
    write!(
        f,
        "{target}: {inputs} inputs in {seconds:.1} s ({rate:.0}/s), {panics} panics, {hangs} hangs, corpus {corpus}"
    )
}

thread_local! {
    /// Set while a fuzz input runs on this thread: its panics are recorded, not printed.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per process) a panic hook that records the message and location of a panic raised
/// by a fuzz input and leaves every other panic to the previous hook.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a panic without a message)".to_owned());
                let location = info.location().map_or_else(
                    || "an unknown place".to_owned(),
                    |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
                );
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("panicked at {location}: {message}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `target` on `input`, turning a panic into `Err` with its message and location (and printing
/// nothing).
pub fn run_one(target: &Target, input: &[u8]) -> Result<(), String> {
    install_panic_hook();
    CAPTURING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    CAPTURING.with(|c| c.set(false));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panicked".to_owned())
    })
}

/// The input in flight, shared with the watchdog.
struct InFlight {
    input: Mutex<Vec<u8>>,
    /// Milliseconds since the loop started at which the input began, plus one; 0 when idle.
    started: AtomicU64,
    inputs: AtomicU64,
    panics: AtomicU64,
    corpus: AtomicU64,
    stop: AtomicBool,
}

/// A short, stable name for an input's content (FNV-1a, 64 bits).
pub fn content_name(input: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn save(dir: &Path, kind: &str, input: &[u8]) -> PathBuf {
    let path = dir.join(format!("{kind}-{}", content_name(input)));
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("fuzz: cannot save {}: {e}", path.display());
    }
    path
}

/// Reads every file of the seed folders.
pub fn load_seeds(dirs: &[PathBuf]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for dir in dirs {
        for file in crate::input_files(dir)? {
            seeds.push(std::fs::read(&file)?);
        }
    }
    Ok(seeds)
}

/// The exit status of a process stopped by a hang.
pub const HANG_EXIT_STATUS: i32 = 70;

/// The most pool entries kept besides the seeds.
const POOL: usize = 512;

/// Runs the mutation loop on `target` until the budget is spent.
pub fn run_loop(target: &'static Target, options: &LoopOptions) -> std::io::Result<LoopReport> {
    let seeds = load_seeds(&options.seeds)?;
    let seed_count = seeds.len();
    let mut corpus = seeds;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let begin = Instant::now();
    let shared = Arc::new(InFlight {
        input: Mutex::new(Vec::new()),
        started: AtomicU64::new(0),
        inputs: AtomicU64::new(0),
        panics: AtomicU64::new(0),
        corpus: AtomicU64::new(corpus.len() as u64),
        stop: AtomicBool::new(false),
    });
    let watchdog = spawn_watchdog(target.name, options, begin, shared.clone());
    let mut report = LoopReport {
        target: target.name,
        seed: options.seed,
        inputs: 0,
        elapsed: Duration::ZERO,
        panics: 0,
        hangs: 0,
        corpus: corpus.len(),
        crashes: Vec::new(),
    };
    let mut seen_locations: Vec<String> = Vec::new();
    let mut scratch = vec![0u8; 4096];
    // Seeds first, as they are: a known crash shows up at once.
    let mut queue: Vec<Vec<u8>> = corpus.iter().rev().cloned().collect();
    loop {
        if options.budget.inputs.is_some_and(|n| report.inputs >= n)
            || options.budget.time.is_some_and(|t| begin.elapsed() >= t)
        {
            break;
        }
        let (input, keep) = match queue.pop() {
            Some(seed) => (seed, false),
            None if corpus.is_empty() || rng.random_ratio(1, 4) => {
                let len = rng.random_range(0..=scratch.len());
                rng.fill(&mut scratch[..len]);
                let mut generated = (target.generate)(&mut Unstructured::new(&scratch[..len])).unwrap_or_default();
                generated.truncate(options.max_len);
                (generated, true)
            }
            None => {
                let mut input = corpus[rng.random_range(0..corpus.len())].clone();
                mutate::mutate(&mut rng, &mut input, &corpus, target.dictionary, options.max_len);
                let keep = rng.random_ratio(1, 8);
                (input, keep)
            }
        };
        {
            let mut in_flight = shared.input.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.clear();
            in_flight.extend_from_slice(&input);
        }
        shared
            .started
            .store(begin.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let result = run_one(target, &input);
        shared.started.store(0, Ordering::SeqCst);
        report.inputs += 1;
        shared.inputs.store(report.inputs, Ordering::Relaxed);
        if let Err(message) = result {
            report.panics += 1;
            shared.panics.store(report.panics, Ordering::Relaxed);
            let location = message.split(": ").next().unwrap_or("").to_owned();
            if !seen_locations.contains(&location) {
                seen_locations.push(location);
                let artifact = save(&options.artifacts, "crash", &input);
                if options.verbose {
                    eprintln!(
                        "fuzz: {}: {message}\nfuzz: input saved to {}",
                        target.name,
                        artifact.display()
                    );
                }
                report.crashes.push(Crash { message, artifact });
            }
        } else if keep {
            if corpus.len() < seed_count + POOL {
                corpus.push(input);
            } else {
                let at = rng.random_range(seed_count..corpus.len());
                corpus[at] = input;
            }
            shared.corpus.store(corpus.len() as u64, Ordering::Relaxed);
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    watchdog.thread().unpark();
    let _ = watchdog.join();
    report.elapsed = begin.elapsed();
    report.corpus = corpus.len();
    Ok(report)
}

fn spawn_watchdog(
    target: &'static str,
    options: &LoopOptions,
    begin: Instant,
    shared: Arc<InFlight>,
) -> std::thread::JoinHandle<()> {
    let timeout = options.hang_timeout;
    let artifacts = options.artifacts.clone();
    let seed = options.seed;
    let poll = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    std::thread::Builder::new()
        .name(format!("fuzz watchdog {target}"))
        .spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(poll);
                let started = shared.started.load(Ordering::SeqCst);
                if started == 0 {
                    continue;
                }
                let running = begin.elapsed().saturating_sub(Duration::from_millis(started - 1));
                if running < timeout || shared.started.load(Ordering::SeqCst) != started {
                    continue;
                }
                let input = shared.input.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let artifact = save(&artifacts, "hang", &input);
                let mut line = String::new();
                let _ = summary_line(
                    &mut line,
                    target,
                    shared.inputs.load(Ordering::Relaxed),
                    begin.elapsed(),
                    shared.panics.load(Ordering::Relaxed),
                    1,
                    shared.corpus.load(Ordering::Relaxed) as usize,
                );
                eprintln!(
                    "fuzz: {target}: an input ran longer than {:.1} s; saved to {}",
                    timeout.as_secs_f64(),
                    artifact.display()
                );
                println!("{line}, seed {seed}");
                eprintln!("fuzz: stopping (a hung call cannot be cancelled)");
                std::process::exit(HANG_EXIT_STATUS);
            }
        })
        .expect("the watchdog thread starts")
}
