//! The driver's one global, since notify callbacks get no context: [`Driver`], everything
//! DriverEntry creates, in its static slot ([`DRIVER`]), published by [`install`], found
//! by [`driver`] (the notify callbacks, the worker's routines, the dispatch routines),
//! taken back by [`uninstall`]. It is made of the parts below it (the work item, the
//! timer, the reader's lock and read queue) and names none of the routines.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::PDEVICE_OBJECT;

use super::queue::{ReadQueue, SpinLock};
use super::timer::Timer;
use super::work_item::WorkItemQueue;
use crate::config::{Config, Sources};
use crate::pipeline::Pipeline;
use crate::reader::Channel;

/// Everything DriverEntry creates and unload tears down.
pub(super) struct Driver {
    pub(super) pipeline: Pipeline<WorkItemQueue>,
    /// `\Device\NotifyRing`: the reader's device, and what the work item is allocated on.
    pub(super) device: PDEVICE_OBJECT,
    /// The reader's share of the stream (its buffer is non-paged: default pool).
    pub(super) channel: Channel<SpinLock>,
    /// The reader's pending reads; initialised in place once the driver is published.
    pub(super) reads: ReadQueue,
    /// The settings in force (the status IOCTL reports them).
    pub(super) config: Config,
    /// Performance-counter frequency (the status IOCTL converts ticks with it).
    pub(super) frequency: u64,
    /// The notify routines that are registered (and so must be removed).
    pub(super) registered: Sources,
    /// `DbgPrintEx` level for event lines.
    pub(super) level: u32,
    /// The periodic statistics timer and its DPC (`timer`); initialised in place once
    /// the driver is published, so their addresses never change while armed.
    pub(super) timer: Timer,
}

/// Static storage for the one [`Driver`]: no allocation that could fail after the
/// pipeline exists, and nothing to leak.
struct Slot {
    /// True while `driver` holds a live value (Release on publish, Acquire on read).
    ready: AtomicBool,
    driver: UnsafeCell<MaybeUninit<Driver>>,
}

// SAFETY: `driver` is written only by DriverEntry before `ready` is set and taken only
// by unload after every reader is gone ([`DRIVER`]'s invariant); in between it is only read,
// and the pipeline inside is built for concurrent use.
unsafe impl Sync for Slot {}

/// The one global, because notify callbacks get no context. Invariant: it holds a live
/// [`Driver`] from the moment DriverEntry publishes it, before any callback is
/// registered or the work item can be queued, until unload has removed every callback
/// (the removal calls wait for callbacks in flight) and the schedule reports the work
/// item idle; only then is it emptied and dropped. The device's dispatch routines run
/// only while one of its handles is open or one of its IRPs outstanding: the device
/// refuses opens until DriverEntry's last step, and the I/O manager calls unload only
/// once no handle and no IRP is left.
static DRIVER: Slot = Slot { ready: AtomicBool::new(false), driver: UnsafeCell::new(MaybeUninit::uninit()) };

/// The live driver, for callbacks and the work item routine; `None` outside
/// DriverEntry's publish .. unload's teardown.
pub(super) fn driver() -> Option<&'static Driver> {
    if !DRIVER.ready.load(Ordering::Acquire) {
        return None;
    }
    let driver = DRIVER.driver.get().cast::<Driver>();
    // SAFETY: `ready` was set (Release) after the value was written, and unload drops
    // it only after removing every callback and seeing the work item idle, i.e. after
    // every caller of this function has returned ([`DRIVER`]'s invariant).
    Some(unsafe { &*driver })
}

/// Publishes `driver` (DriverEntry, before registering any callback).
pub(super) fn install(driver: Driver) {
    let slot = DRIVER.driver.get();
    // SAFETY: DriverEntry runs once, before any callback or work item could read the
    // slot, and the slot is empty (a failed entry or an unload emptied it).
    unsafe { (*slot).write(driver) };
    DRIVER.ready.store(true, Ordering::Release);
}

/// Takes the driver back out (unload, or a failed DriverEntry).
///
/// # Safety
/// Every callback must be removed and the work item idle: no reference from
/// [`driver`] may be used after this.
pub(super) unsafe fn uninstall() -> Option<Driver> {
    if !DRIVER.ready.swap(false, Ordering::AcqRel) {
        return None;
    }
    let slot = DRIVER.driver.get();
    // SAFETY: `ready` was true, so the slot holds a value; it is now false, and the
    // caller guarantees no reader is left, so the value is moved out exactly once.
    Some(unsafe { slot.cast::<Driver>().read() })
}
