//! The Windows layer: it only adapts. Its files stand in four layers, and none imports
//! from a file above it:
//!
//! 1. The routines the kernel calls: DriverEntry/Unload (`entry`, on top: it creates and
//!    wires up everything else); one file per notify callback (`process`, `thread`,
//!    `image`), each extracting fields and calling
//!    [`Pipeline::record`](crate::Pipeline::record); the work item routine that runs the
//!    worker and the timer's DPC that wakes it (`worker`); `\Device\NotifyRing` and its
//!    dispatch routines (`device`).
//! 2. The global they find the driver through (`global`): everything DriverEntry creates,
//!    in one static slot.
//! 3. The parts it is made of and what the routines use, none of which knows the global
//!    or a routine: the single `IO_WORKITEM` (`work_item`) and the statistics timer
//!    (`timer`), each given the routine it runs; the reader's locks and cancel-safe read
//!    queue (`queue`); what the worker asks by id (`lookup`: a process's image and
//!    creation time, where a new thread starts) and a new process's token facts
//!    (`token`); the pool allocator (`pool`).
//! 4. The kernel helpers all of them use (`kernel`): timestamps and clocks, routines
//!    looked up by name, ids and counted strings, the debugger's lines.
//!
//! This file registers the allocator (`pool`) and exports the counters, which `entry`
//! hands to the pipeline and `device` reports.

extern crate wdk_panic;

mod device;
mod entry;
mod global;
mod image;
mod kernel;
mod lookup;
mod pool;
mod process;
mod queue;
mod thread;
mod timer;
mod token;
mod work_item;
mod worker;

use crate::stats::Stats;

/// Pool allocations for the ring (non-paged, no-execute) and the pid table (paged; tag
/// `nfyr`): `ExAllocatePool2` where the kernel has it, resolved at run time (`pool`).
#[global_allocator]
static GLOBAL_ALLOCATOR: pool::Pool = pool::Pool;

/// The counters, under a fixed symbol so that WinDbg shows them live:
/// `dx notifyring!NOTIFYRING_STATS` (its typed record is
/// `notifyring::driver::NOTIFYRING_STATS`, so it stays in this file).
#[unsafe(no_mangle)]
pub static NOTIFYRING_STATS: Stats = Stats::new();
