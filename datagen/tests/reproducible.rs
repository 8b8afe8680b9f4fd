//! A seed is a complete description of a run: same seed, same bytes; another seed, other bytes.

use datagen::{Generator, GeneratorConfig};
use pipeline::time::Duration;

fn busy(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        num_users: 12,
        events: 3000,
        jitter: Duration::seconds(2),
        late_fraction: 0.05,
        malformed_fraction: 0.02,
        empty_coords_fraction: 0.1,
        ..GeneratorConfig::default()
    }
}

fn bytes(config: GeneratorConfig) -> Vec<u8> {
    let mut out = Vec::new();
    Generator::new(config).unwrap().write_jsonl(&mut out).unwrap();
    out
}

#[test]
fn the_same_seed_gives_identical_bytes() {
    let a = bytes(busy(42));
    let b = bytes(busy(42));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "two runs of seed 42 differ");
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 3000);
}

#[test]
fn different_seeds_give_different_users_and_traffic() {
    let a = bytes(busy(42));
    let b = bytes(busy(43));
    assert_ne!(a, b);
    let first_line = |v: &[u8]| v.split(|&c| c == b'\n').next().unwrap().to_vec();
    assert_ne!(first_line(&a), first_line(&b));
    let users_a = Generator::new(busy(42)).unwrap().users().to_vec();
    let users_b = Generator::new(busy(43)).unwrap().users().to_vec();
    assert!(users_a.iter().zip(&users_b).all(|(a, b)| a.id != b.id));
}

#[test]
fn the_iterator_and_the_writer_produce_the_same_lines() {
    let written = bytes(busy(7));
    let iterated: String = Generator::new(busy(7)).unwrap().map(|line| line.text + "\n").collect();
    assert!(written == iterated.as_bytes());
}

#[test]
fn a_generator_is_exhausted_after_its_events() {
    let mut generator = Generator::new(GeneratorConfig {
        events: 5,
        ..GeneratorConfig::default()
    })
    .unwrap();
    assert_eq!(generator.len(), 5);
    assert_eq!(generator.by_ref().count(), 5);
    assert!(generator.next().is_none());
    let mut out = Vec::new();
    assert_eq!(generator.next_into(&mut out), None);
    assert!(out.is_empty());
}
