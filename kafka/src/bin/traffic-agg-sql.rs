//! `traffic-agg-sql`: the seed's SQL traffic aggregation (a Beam SQL query) on Kafka. All of it lives in [`kafka_runtime::cli`].

/// mimalloc: fewer cycles per record allocation than the system allocator (the simulator measured 8%).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kafka_runtime::cli::main(kafka_runtime::cli::Flavor::Sql)
}
