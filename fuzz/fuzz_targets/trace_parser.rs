//! Arbitrary trace files through the replay tool's reader (see harness/trace_parser.rs).
#![no_main]

#[path = "../harness/trace_parser.rs"]
mod harness;
#[allow(dead_code, reason = "only the reader's part of the replay tool is used")]
#[path = "../../examples/replay/trace.rs"]
mod trace;
#[allow(dead_code, reason = "as above")]
#[path = "../../examples/replay/workload.rs"]
mod workload;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
