//! libFuzzer entry point of the `durations_and_datetimes` target; the target itself is `fuzz_targets::targets::durations_and_datetimes::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::targets::durations_and_datetimes::run(data));
