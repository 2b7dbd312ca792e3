//! The worker's kernel side: the single `IO_WORKITEM`, queued only through the
//! schedule's gate ([`WorkQueue::queue`]), and its routine, which runs the portable
//! worker at `PASSIVE_LEVEL` with [`KernelHost`] (the look-ups by id (`lookup`), token
//! facts (`token`), clock) and the reader's sink around `DbgPrintEx` ([`env`]).

use core::ffi::c_void;

use wdk_sys::ntddk::{IoQueueWorkItem, ObfDereferenceObject};
use wdk_sys::{_WORK_QUEUE_TYPE, PDEVICE_OBJECT, PEPROCESS, PIO_WORKITEM, PVOID};

use crate::reader::{Channel, Device, ReaderSink};
use crate::schedule::WorkQueue;
use crate::vocab::process::{Lookup, Name};
use crate::vocab::start::ThreadStart;
use crate::vocab::token::TokenFacts;
use crate::worker::format::Line;
use crate::worker::{Both, Host, Sink};

/// The driver's one work item, allocated on its device object.
pub(super) struct WorkItemQueue {
    /// From `IoAllocateWorkItem`; freed by unload once the schedule is idle.
    pub(super) item: PIO_WORKITEM,
}

// SAFETY: an IO_WORKITEM may be queued from any thread at IRQL <= DISPATCH_LEVEL; the
// schedule makes sure only one party queues it at a time.
unsafe impl Send for WorkItemQueue {}
// SAFETY: as above: the pointer itself is never written after DriverEntry.
unsafe impl Sync for WorkItemQueue {}

impl WorkQueue for WorkItemQueue {
    fn queue(&self) {
        // SAFETY: `item` is a live work item (freed only after the schedule is idle and
        // stopped, when nothing calls this), and the schedule calls this only on its
        // IDLE → SCHEDULED or RUNNING → SCHEDULED transition, so the item is never
        // queued twice (bug check 0xE4). The routine takes no context.
        unsafe { IoQueueWorkItem(self.item, Some(routine), _WORK_QUEUE_TYPE::DelayedWorkQueue, core::ptr::null_mut()) };
    }
}

/// The work item routine (`PASSIVE_LEVEL`, system worker thread): one bounded batch,
/// then the schedule re-queues it or lets it go idle.
unsafe extern "C" fn routine(_device: PDEVICE_OBJECT, _context: PVOID) {
    if let Some(driver) = super::driver() {
        driver.pipeline.run_worker(&mut env(driver));
    }
}

/// The worker's environment in the kernel: [`KernelHost`], and the debugger inside the
/// reader's sink. `PASSIVE_LEVEL` only (the work item routine, unload).
pub(super) const fn env(driver: &super::Driver) -> Both<KernelHost, ReaderSink<&super::Driver, Debugger>> {
    let sink = ReaderSink { device: driver, output: driver.config.debugger_output, debugger: Debugger(driver.level) };
    Both { host: KernelHost, sink }
}

impl Device for super::Driver {
    type Lock = super::queue::SpinLock;
    type Pending = super::queue::ReadQueue;
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
        super::print_line(self.0, line.with_nul());
    }
}

/// [`Host`] on the kernel: the look-ups by id, token facts, the clock, and the release
/// of a record's process reference.
pub(super) struct KernelHost;

impl Host for KernelHost {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        super::lookup::process_image(pid, name)
    }

    fn process_created(&mut self, pid: u64) -> Option<u64> {
        super::lookup::process_created(pid)
    }

    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        super::lookup::thread_start(pid, tid)
    }

    fn now_ticks(&mut self) -> u64 {
        super::performance_counter(None)
    }

    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        // `object` is the EPROCESS address the process callback recorded, still referenced.
        let process: PEPROCESS = core::ptr::with_exposed_provenance_mut(usize::try_from(object).unwrap_or(0));
        super::token::read(process, facts)
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
