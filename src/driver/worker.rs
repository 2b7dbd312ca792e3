//! The worker's kernel side: the work item routine ([`routine`]), which runs the portable
//! worker at `PASSIVE_LEVEL` with [`KernelHost`] (the look-ups by id (`lookup`), token
//! facts (`token`), clock) and the reader's sink around `DbgPrintEx` ([`env`]), and the
//! statistics timer's DPC ([`timer_dpc`]) and the idle sweep's ([`sweep_dpc`]), which
//! wake it. DriverEntry hands them to the work item and the timers; all find the driver
//! through [`driver`].

use core::ffi::c_void;

use wdk_sys::ntddk::ObfDereferenceObject;
use wdk_sys::{PDEVICE_OBJECT, PEPROCESS, PKDPC, PVOID};

use super::global::{Driver, driver};
use super::kernel::{performance_counter, print_line};
use super::queue::{ReadQueue, SpinLock};
use super::{lookup, token};
use crate::reader::{Channel, Device, ReaderSink};
use crate::vocab::process::{Lookup, Name};
use crate::vocab::start::ThreadStart;
use crate::vocab::token::TokenFacts;
use crate::worker::format::Line;
use crate::worker::{Both, Host, Sink};

/// The work item routine (`PASSIVE_LEVEL`, system worker thread): one bounded batch,
/// then the schedule re-queues it or lets it go idle.
pub(super) unsafe extern "C" fn routine(_device: PDEVICE_OBJECT, _context: PVOID) {
    if let Some(driver) = driver() {
        driver.pipeline.run_worker(&mut env(driver));
    }
}

/// The timer's DPC (`DISPATCH_LEVEL`): wakes the worker through the gate; nothing else.
/// `IoQueueWorkItem` is legal at this IRQL, and the gate touches only atomics and
/// non-paged memory. Unload stops the timer (which flushes queued DPCs) before it stops
/// the schedule and frees anything this could reach.
pub(super) unsafe extern "C" fn timer_dpc(_dpc: PKDPC, _context: PVOID, _argument1: PVOID, _argument2: PVOID) {
    if let Some(driver) = driver() {
        driver.pipeline.tick();
    }
}

/// The idle sweep's DPC (`DISPATCH_LEVEL`), a few milliseconds after the worker went
/// idle with a record in flight: wakes the worker through the gate if that record is
/// ready now, or sets the sweep again (`Pipeline::sweep`). Touches only atomics of the
/// rings and the schedule; unload stops the sweep before freeing them.
pub(super) unsafe extern "C" fn sweep_dpc(_dpc: PKDPC, _context: PVOID, _argument1: PVOID, _argument2: PVOID) {
    if let Some(driver) = driver() {
        driver.pipeline.sweep();
    }
}

/// The worker's environment in the kernel: [`KernelHost`], and the debugger inside the
/// reader's sink. `PASSIVE_LEVEL` only (the work item routine, unload).
pub(super) const fn env(driver: &Driver) -> Both<KernelHost, ReaderSink<&Driver, Debugger>> {
    let sink = ReaderSink { device: driver, output: driver.config.debugger_output, debugger: Debugger(driver.level) };
    Both { host: KernelHost, sink }
}

impl Device for Driver {
    type Lock = SpinLock;
    type Pending = ReadQueue;
    fn channel(&self) -> &Channel<Self::Lock> {
        &self.channel
    }
    fn pending(&self) -> &Self::Pending {
        &self.reads
    }
}

/// `DbgPrintEx` at the driver's level.
pub(super) struct Debugger(u32);

impl Sink for Debugger {
    fn print(&mut self, line: Line<'_>) {
        print_line(self.0, line.with_nul());
    }
}

/// [`Host`] on the kernel: the look-ups by id, token facts, the clock, and the release
/// of a record's process reference.
pub(super) struct KernelHost;

impl Host for KernelHost {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        lookup::process_image(pid, name)
    }

    fn process_created(&mut self, pid: u64) -> Option<u64> {
        lookup::process_created(pid)
    }

    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        lookup::thread_start(pid, tid)
    }

    fn now_ticks(&mut self) -> u64 {
        performance_counter(None)
    }

    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        // `object` is the EPROCESS address the process callback recorded, still referenced.
        let process: PEPROCESS = core::ptr::with_exposed_provenance_mut(usize::try_from(object).unwrap_or(0));
        token::read(process, facts)
    }

    fn release_process(&mut self, object: u64) {
        let process: *mut c_void = core::ptr::with_exposed_provenance_mut(usize::try_from(object).unwrap_or(0));
        if process.is_null() {
            return;
        }
        // SAFETY: drops the one reference the process callback took for this record (or
        // the token probe took); the worker calls this exactly once per held record.
        // Records still in the ring at unload are released by the final drain, which
        // runs after every notify routine has been removed (entry.rs `shut_down`), so
        // no reference outlives the driver.
        let _ = unsafe { ObfDereferenceObject(process) };
    }
}
