//! The single `IO_WORKITEM`, as the schedule's [`WorkQueue`]: queued only through the
//! schedule's gate ([`WorkQueue::queue`]), each time with the routine it was given (the
//! worker's, which runs at `PASSIVE_LEVEL` on a system worker thread); and the worker's
//! idle sweep, a one-shot [`Timer`] ([`WorkQueue::arm_sweep`]).

use wdk_sys::ntddk::IoQueueWorkItem;
use wdk_sys::{_WORK_QUEUE_TYPE, PDEVICE_OBJECT, PIO_WORKITEM, PVOID};

use super::timer::{DpcRoutine, Timer};
use crate::pipeline::SWEEP_PERIOD_MS;
use crate::schedule::WorkQueue;

/// A work item routine (`IO_WORKITEM_ROUTINE`), run at `PASSIVE_LEVEL`.
pub(super) type WorkItemRoutine = unsafe extern "C" fn(device: PDEVICE_OBJECT, context: PVOID);

/// The driver's one work item, allocated on its device object.
pub(super) struct WorkItemQueue {
    /// From `IoAllocateWorkItem`; freed by unload once the schedule is idle.
    pub(super) item: PIO_WORKITEM,
    /// What the item runs, with no context.
    routine: WorkItemRoutine,
    /// The idle sweep's one-shot timer (its DPC calls `Pipeline::sweep`).
    sweep: Timer,
}

// SAFETY: an IO_WORKITEM may be queued from any thread at IRQL <= DISPATCH_LEVEL; the
// schedule makes sure only one party queues it at a time.
unsafe impl Send for WorkItemQueue {}
// SAFETY: as above: the pointer itself is never written after DriverEntry.
unsafe impl Sync for WorkItemQueue {}

impl WorkItemQueue {
    /// The work item `item` (from `IoAllocateWorkItem`), which runs `routine` each time
    /// it is queued; the sweep is not armable until [`WorkItemQueue::init_sweep`].
    pub(super) fn new(item: PIO_WORKITEM, routine: WorkItemRoutine) -> Self {
        Self { item, routine, sweep: Timer::new() }
    }

    /// Makes the idle sweep armable, running `dpc` when it expires.
    ///
    /// # Safety
    /// As [`Timer::init`]: `self` stays put (the driver's static slot) until
    /// [`WorkItemQueue::stop_sweep`] has returned.
    pub(super) unsafe fn init_sweep(&self, dpc: DpcRoutine) {
        // SAFETY: the caller's contract is `Timer::init`'s.
        unsafe { self.sweep.init(dpc) };
    }

    /// Unload, after the schedule is stopped and idle: no sweep is set or running
    /// afterwards.
    pub(super) fn stop_sweep(&self) {
        self.sweep.stop();
    }
}

impl WorkQueue for WorkItemQueue {
    fn queue(&self) {
        let routine = Some(self.routine);
        // SAFETY: `item` is a live work item (freed only after the schedule is idle and
        // stopped, when nothing calls this), and the schedule calls this only on its
        // IDLE → SCHEDULED or RUNNING → SCHEDULED transition, so the item is never
        // queued twice (bug check 0xE4). The routine takes no context.
        unsafe { IoQueueWorkItem(self.item, routine, _WORK_QUEUE_TYPE::DelayedWorkQueue, core::ptr::null_mut()) };
    }

    fn arm_sweep(&self) {
        self.sweep.set(SWEEP_PERIOD_MS, 0);
    }
}
