//! The reader's wire decoder on untrusted bytes, and its channel under arbitrary
//! operation sequences (the harness: `notifyring::fuzzing::reader_wire`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifyring::fuzzing::reader_wire::run(data));
