//! Ring contents and record payloads → decoder and formatter; the ring under arbitrary
//! single-threaded operation sequences (see harness/ring_decode_format.rs).
#![no_main]

#[path = "../harness/common.rs"]
mod common;
#[path = "../harness/ring_decode_format.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
