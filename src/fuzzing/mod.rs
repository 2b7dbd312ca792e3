//! The fuzz harnesses (host only, with the `host` feature): one `run` per fuzz target.
//!
//! Each takes the fuzzer's bytes and panics on a broken check. The `cargo-fuzz` targets
//! in `fuzz/fuzz_targets/` call them, and `tests/fuzz_harnesses.rs` runs the very same
//! code on stable with proptest and the checked-in inputs.
//!
//! * [`common`]: a byte reader that never runs dry, and the check every debugger line
//!   must pass.
//! * [`ring_decode_format`]: ring bytes through the decoder and formatter; the ring
//!   against a model.
//! * [`record_path`]: arbitrary events through the record path and the work item.
//! * [`reader_wire`]: the reader's wire format and channel.
//! * [`trace_parser`]: arbitrary files through the replay's trace reader.
//! * [`rules`]: arbitrary Sigma rule files through the rule loader and evaluator.

#![allow(clippy::missing_panics_doc, reason = "a harness reports a broken check by panicking")]

pub mod common;
pub mod reader_wire;
pub mod record_path;
pub mod ring_decode_format;
pub mod rules;
pub mod trace_parser;
