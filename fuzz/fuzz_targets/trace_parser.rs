//! Arbitrary trace files through the replay's trace reader (the harness:
//! `notifyring::fuzzing::trace_parser`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifyring::fuzzing::trace_parser::run(data));
