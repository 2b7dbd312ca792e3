//! Arbitrary events through `Pipeline::record`, the worker and unload (see
//! harness/record_path.rs).
#![no_main]

#[path = "../harness/common.rs"]
mod common;
#[path = "../harness/record_path.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
