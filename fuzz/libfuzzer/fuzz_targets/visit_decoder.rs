//! libFuzzer entry point of the `visit_decoder` target; the target itself is `fuzz_targets::targets::visit_decoder::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::targets::visit_decoder::run(data));
