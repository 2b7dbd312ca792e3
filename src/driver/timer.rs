//! The driver's timers: a `KTIMER` and its `KDPC`. Two of them: the periodic statistics
//! timer, whose DPC wakes the worker through the schedule's gate every
//! `StatsIntervalSeconds`, so an idle system still gets its statistics line; and the
//! worker's one-shot idle sweep (`WorkItemQueue::arm_sweep`).
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

/// A timer and its DPC, kept in the driver's static slot (non-paged, and at a fixed
/// address from [`Timer::init`] until [`Timer::stop`]).
pub(super) struct Timer {
    ktimer: UnsafeCell<KTIMER>,
    kdpc: UnsafeCell<KDPC>,
    /// Initialised and not stopped: it may be set, and unload must stop it. Release on
    /// `init`, Acquire before setting it, so a setter sees initialised objects.
    ready: AtomicBool,
}

// SAFETY: the KTIMER and KDPC are touched only through kernel routines that may be
// called from any processor on the same objects (`KeSetTimerEx`, `KeCancelTimer`: the
// kernel serialises them on its timer table), and `init`/`stop` only by DriverEntry and
// unload, which never overlap each other or a `set` (see their contracts).
#[expect(clippy::non_send_fields_in_send_ty, reason = "kernel objects, used only through the kernel's routines")]
unsafe impl Send for Timer {}
// SAFETY: as above.
unsafe impl Sync for Timer {}

impl Timer {
    /// Zeroed and not ready; [`Timer::init`] initialises it in place.
    pub(super) fn new() -> Self {
        Self {
            ktimer: UnsafeCell::new(KTIMER::default()),
            kdpc: UnsafeCell::new(KDPC::default()),
            ready: AtomicBool::new(false),
        }
    }

    /// Initialises the timer and its DPC, which runs `dpc` with no context at each
    /// expiry. `PASSIVE_LEVEL`, DriverEntry, once whatever `dpc` reaches is ready (the
    /// driver is published).
    ///
    /// # Safety
    /// `self` must not move or be dropped until [`Timer::stop`] has returned, and
    /// `init` runs once, before any [`Timer::set`] (DriverEntry and unload never overlap).
    pub(super) unsafe fn init(&self, dpc: DpcRoutine) {
        // SAFETY: a KTIMER in non-paged memory that stays put (the caller's contract).
        unsafe { KeInitializeTimerEx(self.ktimer.get(), _TIMER_TYPE::NotificationTimer) };
        // SAFETY: a KDPC in non-paged memory that stays put; `dpc` has the documented
        // KDEFERRED_ROUTINE signature and takes no context.
        unsafe { KeInitializeDpc(self.kdpc.get(), Some(dpc), core::ptr::null_mut()) };
        // Release: pairs with the Acquire in `set`: the objects are initialised first.
        self.ready.store(true, Ordering::Release);
    }

    /// Sets the timer to expire `due_ms` from now, then every `period_ms` (0: once);
    /// setting it again replaces the previous expiry. Does nothing before
    /// [`Timer::init`] or after [`Timer::stop`]. `IRQL <= DISPATCH_LEVEL`.
    pub(super) fn set(&self, due_ms: u32, period_ms: u32) {
        // Acquire: pairs with the Release in `init`.
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        // Relative (negative), in 100 ns units.
        let due = LARGE_INTEGER { QuadPart: -i64::from(due_ms) * 10_000 };
        let period = i32::try_from(period_ms).unwrap_or(i32::MAX);
        // SAFETY: both objects were initialised (`ready`) and stay put until `stop`;
        // `KeSetTimerEx` may be called at `DISPATCH_LEVEL`, from several processors at
        // once, and on a timer that is already set (it is reset).
        let _ = unsafe { KeSetTimerEx(self.ktimer.get(), due, period, self.kdpc.get()) };
    }

    /// Arms a periodic timer of `seconds` (0: none) that runs `dpc`.
    ///
    /// # Safety
    /// As [`Timer::init`].
    pub(super) unsafe fn start(&self, seconds: u32, dpc: DpcRoutine) {
        if seconds == 0 {
            return;
        }
        // SAFETY: the caller's contract is `init`'s.
        unsafe { self.init(dpc) };
        let period_ms = u32::try_from(u64::from(seconds) * 1000).unwrap_or(u32::MAX);
        self.set(period_ms, period_ms);
    }

    /// Cancels the timer and waits until no DPC of it is queued or running
    /// (`PASSIVE_LEVEL`, unload). Twice: a DPC that was running during the first
    /// cancel may have set the timer again (the idle sweep's does); the flush waits for
    /// it, and from then on `set` does nothing, so the second cancel and flush leave no
    /// expiry and no DPC behind. Afterwards nothing of the timer touches the driver.
    pub(super) fn stop(&self) {
        // Relaxed: DriverEntry and unload never overlap; the swap makes a second stop a
        // no-op, and a concurrent `set` is covered by the second cancel below.
        if !self.ready.swap(false, Ordering::Relaxed) {
            return;
        }
        for _ in 0..2 {
            // SAFETY: an initialised timer; cancelling also dequeues nothing else.
            let _ = unsafe { KeCancelTimer(self.ktimer.get()) };
            // SAFETY: PASSIVE_LEVEL; waits for DPCs already queued (on any processor) to run.
            unsafe { KeFlushQueuedDpcs() };
        }
    }
}
