//! libFuzzer entry point of the `sql_compiler` target; the target itself is `fuzz_targets::targets::sql_compiler::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::targets::sql_compiler::run(data));
