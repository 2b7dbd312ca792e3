//! # notifyring
//!
//! A Windows kernel-mode driver (WDM) that watches process, thread and image-load
//! events and prints them to the kernel debugger — built so that the notify callbacks,
//! which run inside process and thread creation, never wait on anything:
//!
//! ```text
//! callback --snapshot--> lock-free ring --(queue at most once)--> IoWorkItem worker --> debugger
//!  event.rs, record.rs     ring.rs          schedule.rs             worker/              DbgPrintEx
//!  pipeline.rs (record)                                              (names, format)  or reader device
//!                                                                                     reader/ -> CLI
//! ```
//!
//! * [`event`]: what a callback hands over (borrowed strings, plain ids).
//! * [`record`]: its byte layout in the ring, and a decoder that never panics.
//! * [`ring`]: the multi-producer, single-consumer ring of variable-length records.
//! * [`schedule`]: the gate that queues the single work item at most once.
//! * [`pipeline`]: the record entry point the callbacks call, and unload.
//! * [`worker`]: the work item routine: drain in batches, name processes, format, print.
//! * [`reader`]: the user-mode reader's share of the stream (the device `\\.\Global\NotifyRing`):
//!   its fixed buffer, loss accounting, pending reads, and the versioned wire format.
//! * [`stats`], [`config`]: counters and settings; [`ntname`]: the names the driver
//!   hands the kernel, as counted UTF-16 built at compile time.
//! * `driver` (Windows only): DriverEntry/Unload, one file per notify callback, the
//!   work item — a thin layer that extracts fields and calls the portable code.
//! * `sim` (host only, `host` feature): a simulated kernel that fires the same entry
//!   points from threads and runs the work item on a work-queue simulator.
//! * `replay` (host only, `host` feature): recorded or synthetic event streams replayed
//!   through the pipeline on the simulated kernel (`examples/replay.rs`).
//! * `fuzzing` (host only, `host` feature): the fuzz harnesses, shared by the `cargo-fuzz`
//!   targets (fuzz/) and their stable proptest run (`tests/fuzz_harnesses.rs`).
//! * `user` (host / user mode only): what a reader does with the stream after the
//!   worker: Sysmon-compatible JSON, NT → Win32 paths.
//! * `proof` (only with `--cfg notifyring_no_std`): the link-time no-panic proof.
//!
//! Everything but `driver` is portable `no_std` Rust, tested on Linux with unit and
//! property tests, loom and miri.

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
// The host build uses std for the simulated kernel; the kernel build and the link-time
// panic proof (`--cfg notifyring_no_std`, see `proof`) are pure `no_std`.
#[cfg(not(any(all(target_os = "windows", not(feature = "user")), notifyring_no_std)))]
extern crate std;

// A Windows build is either the driver or the CLI's user-mode library, never both.
#[cfg(all(target_os = "windows", feature = "driver", feature = "user"))]
compile_error!("on Windows, build either the driver (default features) or `--no-default-features --features user`");

pub mod bytes;
pub mod config;
pub mod delivered;
pub mod digits;
pub mod event;
mod fallible;
pub mod ntname;
pub mod pipeline;
pub mod reader;
pub mod record;
pub mod ring;
pub mod rings;
pub mod schedule;
pub mod stats;
mod sync;
pub mod vocab;
pub mod worker;

#[cfg(all(target_os = "windows", feature = "driver"))]
mod driver;

#[cfg(all(feature = "host", not(any(target_os = "windows", loom, notifyring_no_std))))]
pub mod sim;

#[cfg(all(feature = "host", not(any(target_os = "windows", loom, notifyring_no_std))))]
pub mod replay;

#[cfg(all(feature = "host", not(any(target_os = "windows", loom, notifyring_no_std))))]
pub mod fuzzing;

#[cfg(not(any(all(target_os = "windows", not(feature = "user")), loom, notifyring_no_std)))]
pub mod user;

#[cfg(all(notifyring_no_std, not(target_os = "windows")))]
pub mod proof;

pub use config::Config;
pub use delivered::Delivered;
pub use event::{ClientId, Event, Kind, Stamp};
pub use pipeline::{Pipeline, Recorded};
pub use schedule::WorkQueue;
pub use stats::Stats;
pub use worker::{Both, Host, Sink, WorkerEnv};
