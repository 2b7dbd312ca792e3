//! The object callbacks and the worker share, and the callback side of it: the record
//! entry point every notify callback calls (snapshot → ring → gate), and the unload path.
//!
//! [`Pipeline::record`] never allocates, locks, waits, prints or panics: it clips and
//! copies the strings into a reserved record, commits, and wakes the worker through the
//! schedule's single gate. The worker side is in `worker`.

use crate::config::Config;
use crate::event::{Event, Stamp};
use crate::record::{self, Caps};
use crate::ring::{Loss, Ring};
use crate::schedule::{Schedule, Wake, WorkQueue};
use crate::stats::{self, Stats};
use crate::sync::UnsafeCell;
use crate::worker::WorkerState;
use crate::worker::format::Clock;

/// What happened to one recorded event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// In the ring; this call queued the work item.
    Queued,
    /// In the ring; the worker was already scheduled or running.
    Pending,
    /// Lost (ring full, or reservation contention); counted.
    Lost,
}

/// Why [`Pipeline::new`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewError {
    /// The ring size is not a power of two in range.
    RingSize,
    /// The allocator refused the ring or the pid table.
    NoMemory,
}

/// Why [`Pipeline::shutdown`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownError {
    /// [`Pipeline::stop`] was not called.
    NotStopping,
    /// The work item is still queued or running: wait and retry.
    Busy,
}

/// Ring, schedule, work queue and worker state of one driver instance.
pub struct Pipeline<Q: WorkQueue> {
    pub(crate) ring: Ring,
    pub(crate) schedule: Schedule,
    pub(crate) queue: Q,
    caps: Caps,
    pub(crate) stats: &'static Stats,
    /// Touched only by the party that owns the consumer side: a work item routine
    /// holding RUNNING, or unload once the schedule is stopped and idle.
    pub(crate) worker: UnsafeCell<WorkerState>,
}

// SAFETY: the ring and schedule are built for concurrent use; the worker state is only
// touched under the exclusivity the schedule guarantees (see the field), and `Q` is Sync.
unsafe impl<Q: WorkQueue + Sync> Sync for Pipeline<Q> {}
// SAFETY: nothing in it is tied to a thread.
unsafe impl<Q: WorkQueue + Send> Send for Pipeline<Q> {}

impl<Q: WorkQueue> Pipeline<Q> {
    /// Allocates the ring and the worker's tables (at driver entry, never in a callback).
    ///
    /// # Errors
    /// [`NewError`] for a bad ring size or a refused allocation.
    pub fn new(config: &Config, clock: Clock, queue: Q, stats: &'static Stats) -> Result<Self, NewError> {
        Self::new_in(config, clock, queue, stats, |make| make())
    }

    /// [`Pipeline::new`], with the worker's tables allocated inside `worker_pool`: the
    /// driver runs it with its allocator switched to paged pool, since only the worker
    /// touches them, at `PASSIVE_LEVEL`. The ring stays in the default (non-paged) pool.
    ///
    /// # Errors
    /// [`NewError`] for a bad ring size or a refused allocation.
    pub fn new_in(
        config: &Config,
        clock: Clock,
        queue: Q,
        stats: &'static Stats,
        worker_pool: impl FnOnce(&mut dyn FnMut() -> Option<WorkerState>) -> Option<WorkerState>,
    ) -> Result<Self, NewError> {
        if !crate::ring::valid_size(config.ring_bytes) {
            return Err(NewError::RingSize);
        }
        let ring = Ring::try_new(config.ring_bytes).ok_or(NewError::NoMemory)?;
        let worker = worker_pool(&mut || WorkerState::try_new(config, clock)).ok_or(NewError::NoMemory)?;
        Ok(Self {
            ring,
            schedule: Schedule::new(),
            queue,
            caps: config.effective_caps(),
            stats,
            worker: UnsafeCell::new(worker),
        })
    }

    /// The string caps in force (after fitting them to the ring).
    #[must_use]
    pub const fn caps(&self) -> Caps {
        self.caps
    }

    /// Ring capacity in bytes.
    #[must_use]
    pub const fn ring_bytes(&self) -> u64 {
        self.ring.capacity()
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        self.stats
    }

    /// The record entry point: what every notify callback calls. Copies `event` into
    /// the ring and queues the worker if it is idle. Returns at once in every case.
    #[inline]
    pub fn record(&self, stamp: Stamp, event: &Event<'_>) -> Recorded {
        self.record_between(stamp, event, || ()).0
    }

    /// [`Pipeline::record`], calling `between` after the copy and before the commit: a
    /// simulated producer preempted mid-record (host tests only). `None` if the event
    /// was lost before reaching that point.
    #[cfg(not(any(target_os = "windows", loom, notifyring_no_std)))]
    pub fn record_paused<R>(
        &self,
        stamp: Stamp,
        event: &Event<'_>,
        between: impl FnOnce() -> R,
    ) -> (Recorded, Option<R>) {
        self.record_between(stamp, event, between)
    }

    #[inline]
    fn record_between<R>(&self, stamp: Stamp, event: &Event<'_>, between: impl FnOnce() -> R) -> (Recorded, Option<R>) {
        let encoded = record::encode(stamp, event, self.caps);
        match self.ring.reserve(encoded.payload_len()) {
            Ok(reservation) => {
                // Sized from these very strings, so the write is never refused.
                let _written = reservation.write(&encoded.head, encoded.first, encoded.second);
                let paused = between();
                reservation.commit();
                // The commit was the Dekker RMW, so this check cannot miss a worker
                // going idle.
                let outcome = match self.schedule.wake(&self.queue) {
                    Wake::Queued => Recorded::Queued,
                    Wake::NotNeeded => Recorded::Pending,
                };
                (outcome, Some(paused))
            }
            Err(loss) => {
                // No wake-up: a full ring holds records whose commits already woke the
                // worker (or whose head is still being copied, when waking is useless).
                // The count reaches the output on the next record's header, or when
                // the worker next finds the ring empty (at the latest, at unload).
                self.stats.lost(event.kind(), loss == Loss::Contended);
                stats::raise(&self.stats.worker.high_water, self.ring.used());
                (Recorded::Lost, None)
            }
        }
    }

    /// Unload, step 2: no one queues the work item from now on.
    pub fn stop(&self) {
        self.schedule.stop();
    }

    /// Whether the work item is neither queued nor running (unload polls this).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.schedule.is_idle()
    }

    /// The work queue this pipeline calls.
    pub const fn queue(&self) -> &Q {
        &self.queue
    }
}
