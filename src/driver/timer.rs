//! The periodic timer: a `KTIMER` whose DPC wakes the worker through the schedule's
//! gate every `StatsIntervalSeconds`, so an idle system still gets its statistics line
//! (the worker prints it when due; the DPC itself only calls [`crate::Pipeline::tick`]).
//!
//! The DPC runs at `DISPATCH_LEVEL`: `IoQueueWorkItem` is legal there, and the gate
//! touches only atomics and non-paged memory. Unload cancels the timer and then calls
//! `KeFlushQueuedDpcs`, which returns once no DPC is queued or running anywhere, before
//! it stops the schedule and frees anything the DPC could reach.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::ntddk::{KeCancelTimer, KeFlushQueuedDpcs, KeInitializeDpc, KeInitializeTimerEx, KeSetTimerEx};
use wdk_sys::{_TIMER_TYPE, KDPC, KTIMER, LARGE_INTEGER, PKDPC, PVOID};

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

    /// Arms a periodic timer of `seconds` (0: none). `PASSIVE_LEVEL`, DriverEntry, after
    /// the driver is published (the DPC finds it through `super::driver`).
    ///
    /// # Safety
    /// `self` must not move or be dropped until [`Timer::stop`] has returned, and no
    /// other call on it may run concurrently (DriverEntry and unload never overlap).
    pub(super) unsafe fn start(&self, seconds: u32) {
        if seconds == 0 {
            return;
        }
        let period_ms = i32::try_from(u64::from(seconds) * 1000).unwrap_or(i32::MAX);
        // SAFETY: a KTIMER in non-paged memory that stays put (the caller's contract).
        unsafe { KeInitializeTimerEx(self.ktimer.get(), _TIMER_TYPE::NotificationTimer) };
        // SAFETY: a KDPC in non-paged memory that stays put; `dpc_routine` has the
        // documented KDEFERRED_ROUTINE signature and takes no context.
        unsafe { KeInitializeDpc(self.kdpc.get(), Some(timer_dpc), core::ptr::null_mut()) };
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

/// The DPC (`DISPATCH_LEVEL`): wakes the worker through the gate; nothing else.
unsafe extern "C" fn timer_dpc(_dpc: PKDPC, _context: PVOID, _argument1: PVOID, _argument2: PVOID) {
    if let Some(driver) = super::driver() {
        driver.pipeline.tick();
    }
}
