//! The periodic timer: a `KTIMER` and its `KDPC`, whose routine (the one given to
//! [`Timer::start`]: the worker's DPC, which wakes the worker through the schedule's
//! gate) runs every `StatsIntervalSeconds`, so an idle system still gets its statistics
//! line.
//!
//! The DPC runs at `DISPATCH_LEVEL`. [`Timer::stop`] cancels the timer and then calls
//! `KeFlushQueuedDpcs`, which returns once no DPC is queued or running anywhere, so
//! unload can free anything the DPC could reach afterwards.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::ntddk::{KeCancelTimer, KeFlushQueuedDpcs, KeInitializeDpc, KeInitializeTimerEx, KeSetTimerEx};
use wdk_sys::{_TIMER_TYPE, KDPC, KTIMER, LARGE_INTEGER, PKDPC, PVOID};

/// A DPC routine (`KDEFERRED_ROUTINE`), run at `DISPATCH_LEVEL`.
pub(super) type DpcRoutine = unsafe extern "C" fn(dpc: PKDPC, context: PVOID, argument1: PVOID, argument2: PVOID);

/// The timer and its DPC, kept in the driver's static slot (non-paged, and at a fixed
/// address from [`Timer::start`] until [`Timer::stop`]).
pub(super) struct Timer {
    ktimer: UnsafeCell<KTIMER>,
    kdpc: UnsafeCell<KDPC>,
    /// Whether [`Timer::start`] armed it (so that unload must cancel it).
    armed: AtomicBool,
}

impl Timer {
    /// Zeroed and not armed; [`Timer::start`] initialises it in place.
    pub(super) fn new() -> Self {
        Self {
            ktimer: UnsafeCell::new(KTIMER::default()),
            kdpc: UnsafeCell::new(KDPC::default()),
            armed: AtomicBool::new(false),
        }
    }

    /// Arms a periodic timer of `seconds` (0: none) that runs `dpc`, with no context, at
    /// every expiry. `PASSIVE_LEVEL`, DriverEntry, once whatever `dpc` reaches is ready
    /// (the driver is published).
    ///
    /// # Safety
    /// `self` must not move or be dropped until [`Timer::stop`] has returned, and no
    /// other call on it may run concurrently (DriverEntry and unload never overlap).
    pub(super) unsafe fn start(&self, seconds: u32, dpc: DpcRoutine) {
        if seconds == 0 {
            return;
        }
        let period_ms = i32::try_from(u64::from(seconds) * 1000).unwrap_or(i32::MAX);
        // SAFETY: a KTIMER in non-paged memory that stays put (the caller's contract).
        unsafe { KeInitializeTimerEx(self.ktimer.get(), _TIMER_TYPE::NotificationTimer) };
        // SAFETY: a KDPC in non-paged memory that stays put; `dpc` has the documented
        // KDEFERRED_ROUTINE signature and takes no context.
        unsafe { KeInitializeDpc(self.kdpc.get(), Some(dpc), core::ptr::null_mut()) };
        // Relative (negative), in 100 ns units: the first expiry one period from now.
        let due = LARGE_INTEGER { QuadPart: -i64::from(period_ms) * 10_000 };
        // SAFETY: both objects were initialised above; the timer was not set before
        // (the result, "was already set", is false).
        let _ = unsafe { KeSetTimerEx(self.ktimer.get(), due, period_ms, self.kdpc.get()) };
        // Relaxed: read back by unload, which the I/O manager runs after DriverEntry.
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Cancels the timer and waits until no DPC of it is queued or running
    /// (`PASSIVE_LEVEL`, unload). Afterwards nothing of the timer touches the driver.
    pub(super) fn stop(&self) {
        // Relaxed: see `start`; the swap makes a second stop a no-op.
        if !self.armed.swap(false, Ordering::Relaxed) {
            return;
        }
        // SAFETY: an initialised timer; cancelling also dequeues nothing else.
        let _ = unsafe { KeCancelTimer(self.ktimer.get()) };
        // SAFETY: PASSIVE_LEVEL; waits for DPCs already queued (on any processor) to run.
        unsafe { KeFlushQueuedDpcs() };
    }
}
