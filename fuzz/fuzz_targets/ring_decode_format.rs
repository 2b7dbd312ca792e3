//! Ring contents and record payloads → decoder and formatter; the ring under arbitrary
//! single-threaded operation sequences (the harness: `notifyring::fuzzing::ring_decode_format`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| notifyring::fuzzing::ring_decode_format::run(data));
