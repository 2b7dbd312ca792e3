//! # notifyring
//!
//! A Windows kernel-mode driver (WDM) that watches process, thread and image-load
//! events and prints them to the kernel debugger — built so that the notify callbacks,
//! which run inside process and thread creation, never wait on anything:
//!
//! ```text
//! callback --snapshot--> lock-free ring --(queue at most once)--> IoWorkItem worker --> debugger
//!  event.rs, record.rs     ring/, rings.rs   schedule.rs            worker/              DbgPrintEx
//!  pipeline.rs (record)                                              (names, format)  or reader device
//!                                                                                     reader/ -> CLI
//! ```
//!
//! The modules stand on floors and import only from below (docs/design.md has the
//! table; `tests/layers.rs` checks it), bottom up:
//!
//! * `sync`, `fallible`, [`bytes`], [`digits`], [`event`]: the atomics
//!   shim, fixed tables, little-endian bytes, number writers, what a callback hands over.
//! * [`vocab`] (clock, process names, tokens, thread starts), [`record`] (an event's
//!   byte layout in the ring, and a decoder that never panics), [`ring`] (the
//!   multi-producer, single-consumer ring), [`schedule`] (the gate that queues the work
//!   item at most once), [`stats`].
//! * [`config`] (the settings, [`config::SETTINGS`]), [`rings`] (one ring per processor
//!   and their merge), [`delivered`].
//! * [`worker`]: the work item's side: drain in bounded runs, name processes, format;
//!   its [`Host`] and [`Sink`] traits.
//! * [`pipeline`]: what the callbacks and the worker share: record, tick, unload.
//! * [`reader`]: the reader device `\\.\Global\NotifyRing`: its channel, pending
//!   reads, the one [`reader::ReaderSink`], the versioned wire format, the status reply.
//! * [`ntname`]: names the driver hands the kernel; `user` (host / user mode): what a
//!   reader does with the stream (Sysmon-compatible JSON, `Watch`, PE facts); `sim`
//!   (host feature): a simulated kernel and reader device.
//! * `replay` (host feature): recorded or synthetic streams through the simulated
//!   kernel, the wire and `Watch` (`examples/replay.rs`).
//! * `driver` (Windows only): a thin layer that extracts fields and calls the portable
//!   code; `proof` (`--cfg notifyring_no_std`): the link-time no-panic proof; `fuzzing`
//!   (host feature): the fuzz harnesses.
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
