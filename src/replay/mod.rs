//! The replay (host only, with the `host` feature): process, thread and image-load events
//! through the real pipeline on the simulated kernel ([`crate::sim`]).
//!
//! It prints what the driver would print to the debugger, or the JSON the CLI's `watch`
//! prints, and a summary of what it cost. `examples/replay.rs` is its command line;
//! tests and benches drive the same code.
//!
//! * [`cli`]: the command line (options, input, exit status) of `examples/replay.rs`.
//! * [`workload`]: what a replay feeds the pipeline, events owning their UTF-16 strings.
//! * [`trace`]: reads recorded traces (JSON Lines, plain or gzip) into a workload.
//! * [`synthetic`]: a deterministic synthetic workload shaped on the recordings.
//! * [`engine`]: the run itself: producer threads, the simulated kernel, the checks.
//! * [`facts`]: the recording's file facts, served to the JSON formatter per event.
//! * [`ticker`]: the cheap tick source that stamps events and times each record call.
//! * [`summary`]: what a run tells a person (stderr) and a script (`--summary-json`).

pub mod cli;
pub mod engine;
pub mod facts;
pub mod summary;
pub mod synthetic;
pub mod ticker;
pub mod trace;
pub mod workload;
