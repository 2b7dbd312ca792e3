//! The reader's wire decoder on untrusted bytes, and its channel under arbitrary
//! operation sequences (see harness/reader_wire.rs).
#![no_main]

#[allow(dead_code, reason = "this harness checks lines, it does not parse their numbering")]
#[path = "../harness/common.rs"]
mod common;
#[path = "../harness/reader_wire.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
