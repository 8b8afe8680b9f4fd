use pipeline::traffic::{traffic_pipeline, TrafficConfig};
use simulator::cluster::*;
fn main() {
    let input: Vec<Vec<u8>> = std::fs::read_to_string("ci/visits.jsonl")
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let pipeline = traffic_pipeline(TrafficConfig::default());
    let args: Vec<String> = std::env::args().collect();
    let eos = args.iter().any(|a| a == "eos");
    let burst = args.iter().any(|a| a == "burst");
    let seeds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if let Some(plan) = args.iter().find_map(|a| a.strip_prefix("plan=")) {
        let seed: u64 = args
            .iter()
            .find_map(|a| a.strip_prefix("seed="))
            .unwrap()
            .parse()
            .unwrap();
        let grep = args.iter().find_map(|a| a.strip_prefix("grep=")).unwrap_or("");
        let options = ClusterOptions {
            seed,
            plan: plan.parse().unwrap(),
            trace: true,
            exactly_once: eos,
            pace: if burst { Pace::Burst } else { Pace::Recorded },
            ..ClusterOptions::default()
        };
        let r = run_cluster(&pipeline, &input, &options);
        for l in r.trace.iter().filter(|l| l.contains(grep) || !l.contains("wrote")) {
            println!("{l}");
        }
        println!("{:?}", r.violation);
        return;
    }
    let options = ClusterOptions {
        exactly_once: eos,
        pace: if burst { Pace::Burst } else { Pace::Recorded },
        ..ClusterOptions::default()
    };
    let t = std::time::Instant::now();
    let r = run_cluster(&pipeline, &input, &options);
    println!(
        "baseline: {:?} {:?} outputs {} dlq {} late {} in {:?}",
        r.violation,
        r.stats,
        r.output.len(),
        r.dead_letters.len(),
        r.late.len(),
        t.elapsed()
    );
    println!("{:?}", r.baseline);
    if seeds > 0 {
        let t = std::time::Instant::now();
        let e = explore(&pipeline, &input, &options, 0..seeds, 2, &|_, _| {});
        println!(
            "explored {} seeds: {} violations in {:?}",
            e.runs,
            e.findings.len(),
            t.elapsed()
        );
        for f in e.findings.iter().take(10) {
            println!(
                "seed {} plan {} minimal {} -> {}",
                f.seed, f.drawn, f.minimal, f.violation
            );
        }
    }
}
#[allow(dead_code)]
fn unused() {}
