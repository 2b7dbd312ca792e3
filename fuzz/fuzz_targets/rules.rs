//! Arbitrary Sigma rule files through the rule loader and evaluator (the harness:
//! `notifyring::fuzzing::rules`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifyring::fuzzing::rules::run(data));
