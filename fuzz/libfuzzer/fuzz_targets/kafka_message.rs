//! libFuzzer entry point of the `kafka_message` target; the target itself is `fuzz_targets::targets::kafka_message::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::targets::kafka_message::run(data));
