//! Arbitrary events through `Pipeline::record`, the worker and unload (the harness:
//! `notifyring::fuzzing::record_path`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifyring::fuzzing::record_path::run(data));
