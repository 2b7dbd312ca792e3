//! Step 4: the gate that queues the driver's single work item at most once.
//!
//! Queueing an `IO_WORKITEM` that is already queued corrupts the system worker queue
//! (bug check 0xE4, WORKER_INVALID), so exactly one party may queue it: whoever moves
//! the state from IDLE to SCHEDULED. States:
//!
//! ```text
//!   IDLE --producer wins CAS--> SCHEDULED --routine starts--> RUNNING
//!     ^                             ^                            |
//!     |                             +---- batch limit, requeue --+
//!     +------------ drained: idle, then re-check the ring -------+
//!   STOPPING: a flag over any state; once set nothing queues again.
//!   ROUTINE count (bits 8..): routines still executing; unload waits for 0 as well.
//! ```
//!
//! Lost wake-up: a producer records while the worker is RUNNING and sees it RUNNING, so it
//! does not queue; the worker, having already found the ring empty, goes IDLE. Both sides
//! form a Dekker pair (RMW, StoreLoad, load): the producer's reservation CAS then its load
//! of the state, the worker's IDLE RMW then its scan of the producer words. At least one
//! sees the other: the producer sees IDLE and queues, or the worker sees the reservation.
//! The commit itself is a plain release store, so the worker may see the reservation
//! but not yet its commit; then it arms the idle sweep ([`WorkQueue::arm_sweep`]), which
//! looks again a few milliseconds later. A record is never stranded, only ever delayed
//! by one sweep, and that only when its commit raced the worker's idle transition. This
//! replaces the "more arrived" state of the Linux workqueue ("ghost PENDING") and tokio
//! (NOTIFIED): with it every producer would RMW this shared line per event; here a
//! producer only reads it, unless it finds the worker IDLE. As ETW's buffers are flushed
//! by a timer and perf's reader polls with a timeout, the timer is the backstop.

use crate::sync::{AtomicU32, DEKKER_LOAD, DEKKER_RMW, Ordering, dekker_fence};
use crossbeam_utils::CachePadded;

const IDLE: u32 = 0;
const SCHEDULED: u32 = 1;
const RUNNING: u32 = 2;
const ACTIVE: u32 = SCHEDULED | RUNNING;
const STOPPING: u32 = 4;
/// Bits 8.. count routine invocations still executing. Unload may free the pipeline
/// only when no routine is inside it, which the ACTIVE bits alone cannot tell: a
/// routine touches the ring for its re-check *after* it went IDLE. While one routine is
/// preempted there, producers can queue the item again and that run can end and be
/// queued again, so any number of routines may be inside at once: one per system
/// worker thread at most, far below the 2^24 the count has room for.
const ROUTINE: u32 = 1 << 8;

/// What the driver queues: `IoQueueWorkItem` on the one work item (tests pass a
/// simulator that fails on a double queue). Called only through [`Schedule`].
pub trait WorkQueue {
    /// Queues the work item. Must not block; callable from a notify callback.
    fn queue(&self);

    /// Arms the idle sweep: a one-shot timer that calls `Pipeline::sweep` a few
    /// milliseconds from now (arming it again moves that time). Called by the worker
    /// when it goes idle with a record in flight, and by the sweep itself; never by a
    /// notify callback. Must not block; callable at `DISPATCH_LEVEL`.
    fn arm_sweep(&self);
}

/// Outcome of [`Schedule::wake`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// This call queued the work item.
    Queued,
    /// The worker was already scheduled or running, or unload has begun.
    NotNeeded,
}

/// The worker's state word.
pub struct Schedule {
    state: CachePadded<AtomicU32>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new()
    }
}

impl Schedule {
    /// An idle, running (not stopping) schedule.
    #[must_use]
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { state: CachePadded::new(AtomicU32::new(IDLE)) }
    }

    /// An idle, running (not stopping) schedule (loom atomics are not `const`).
    #[must_use]
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { state: CachePadded::new(AtomicU32::new(IDLE)) }
    }

    /// Producer side, right after a commit whose reservation was the Dekker RMW: queues
    /// the work item if, and only if, this call moves IDLE to SCHEDULED.
    #[inline]
    pub fn wake(&self, queue: &impl WorkQueue) -> Wake {
        // Dekker load: pairs with the worker's idle RMW in `finish_run`.
        if self.state.load(DEKKER_LOAD) & (ACTIVE | STOPPING) != 0 {
            return Wake::NotNeeded;
        }
        // Relaxed: the CAS only elects the one queuer; the routine acquires the state
        // itself in `enter`, and the queue call carries its own synchronisation. It retries
        // only while the state stays idle (the routine count may change meanwhile).
        let elected = self.state.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            (s & (ACTIVE | STOPPING) == 0).then_some(s | SCHEDULED)
        });
        if elected.is_ok() {
            queue.queue();
            return Wake::Queued;
        }
        Wake::NotNeeded
    }

    /// The work item routine starts: counts itself in, and moves SCHEDULED → RUNNING.
    /// Returns whether it now owns the consumer side. Whatever it returns, the routine
    /// must end with [`Schedule::exit`].
    #[must_use]
    pub fn enter(&self) -> bool {
        // Acquire: pairs with the Release half of the previous run's `finish_run` or
        // `requeue`, so its ring accesses happen before ours (single consumer).
        // The count cannot wrap: each routine inside holds a system worker thread, and
        // there are far fewer of those than the 2^24 the count has room for.
        let before = self.state.fetch_update(Ordering::Acquire, Ordering::Acquire, |s| {
            let counted = s.wrapping_add(ROUTINE);
            Some(if s & ACTIVE == SCHEDULED { (counted & !ACTIVE) | RUNNING } else { counted })
        });
        before.is_ok_and(|s| s & ACTIVE == SCHEDULED)
    }

    /// The routine's last access to the pipeline: counts itself out.
    pub fn exit(&self) {
        // Release: pairs with unload's Acquire in `is_idle`: everything this routine did
        // happens before the pipeline is freed.
        self.state.fetch_sub(ROUTINE, Ordering::Release);
    }

    /// The routine drained a full batch and more is left: RUNNING → SCHEDULED and queue
    /// again (the item is not queued while its routine runs, so this is allowed). Returns
    /// false (the routine is now idle instead) once STOPPING is set.
    pub fn requeue(&self, queue: &impl WorkQueue) -> bool {
        // AcqRel: Release publishes this run's ring accesses to the next run's Acquire
        // in `enter`.
        let moved = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            (s & (ACTIVE | STOPPING) == RUNNING).then_some((s & !ACTIVE) | SCHEDULED)
        });
        if moved.is_ok() {
            queue.queue();
            return true;
        }
        // STOPPING is set: go idle; unload drains the rest.
        // Release: publishes this run's ring accesses to unload's Acquire in `is_idle`.
        self.state.fetch_and(!ACTIVE, Ordering::Release);
        false
    }

    /// The routine found the ring empty or its head busy: RUNNING → IDLE. Then the
    /// caller must scan the rings (`Ring::scan`) and, if it finds work, call
    /// [`Schedule::resume`]; this ordering is the worker's half of the Dekker pair.
    pub fn finish_run(&self) {
        // Dekker RMW: pairs with the producers' reservation RMW + load in `wake`; Release
        // half publishes this run's ring accesses to the next `enter`/`is_idle`.
        self.state.fetch_and(!ACTIVE, DEKKER_RMW);
        dekker_fence();
    }

    /// After [`Schedule::finish_run`] found work: IDLE → RUNNING again, unless a producer
    /// queued the item meanwhile (then that run takes it) or STOPPING is set.
    #[must_use]
    pub fn resume(&self) -> bool {
        // Acquire: pairs with the Release of a run that might have slipped in between.
        self.state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |s| {
                (s & (ACTIVE | STOPPING) == 0).then_some(s | RUNNING)
            })
            .is_ok()
    }

    /// Unload: from now on nothing queues the work item.
    pub fn stop(&self) {
        // AcqRel: Release so a producer that sees STOPPING also sees what unload did
        // before; Acquire to take the state as it was.
        self.state.fetch_or(STOPPING, Ordering::AcqRel);
    }

    /// Whether the work item is neither queued nor running and no routine is still
    /// inside the pipeline. Once true after [`Schedule::stop`], it stays true, and the
    /// caller may consume the ring itself and then free the pipeline.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        // Acquire: pairs with the Release in `exit` (and `finish_run`/`requeue`), so the
        // last routine's accesses happen before the caller's final drain and free.
        let s = self.state.load(Ordering::Acquire);
        s & ACTIVE == 0 && s < ROUTINE
    }

    /// Whether [`Schedule::stop`] was called.
    #[must_use]
    pub fn is_stopping(&self) -> bool {
        // Relaxed: a flag read for reporting; `is_idle` carries the synchronisation.
        self.state.load(Ordering::Relaxed) & STOPPING != 0
    }
}
