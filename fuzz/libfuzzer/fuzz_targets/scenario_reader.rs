//! libFuzzer entry point of the `scenario_reader` target; the target itself is `fuzz_targets::targets::scenario_reader::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::targets::scenario_reader::run(data));
