//! The object callbacks and the worker share, and the callback side of it: the record
//! entry point every notify callback calls (snapshot → its processor's ring → gate), and
//! the unload path.
//!
//! The callback records into its processor's ring ([`Rings`] says why one per processor
//! and how the worker merges them).
//!
//! [`Pipeline::record`] never allocates, locks, waits, prints or panics: it clips and
//! copies the strings into a reserved record, commits, and wakes the worker through the
//! schedule's single gate.
//!
//! [`Pipeline::run_worker`] is the work item routine's whole body: it follows the
//! schedule's protocol (enter, drain a batch, re-queue through the gate or go idle and
//! re-check, exit) and touches the worker state only while it owns RUNNING.

use crate::config::Config;
use crate::event::{Event, Stamp};
use crate::record::{self, Caps};
use crate::ring::{Loss, Ring, Scan};
use crate::rings::Rings;
use crate::schedule::{Schedule, Wake, WorkQueue};
use crate::stats::{self, Snapshot, Stats};
use crate::sync::{AtomicU64, Ordering, UnsafeCell};
use crate::vocab::clock::Clock;
use crate::worker::{Pass, WorkerEnv, WorkerState};

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

/// How long after the worker goes idle with a record in flight the idle sweep looks
/// again (the driver's timer fires at the next clock tick at or after it).
pub const SWEEP_PERIOD_MS: u32 = 4;

/// What one [`Pipeline::sweep`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swept {
    /// A record was ready and the worker idle: this sweep queued the work item (a
    /// wake-up a producer's race had left to it).
    Woke,
    /// A record is still in flight: the sweep is armed again.
    Again,
    /// Nothing to do (empty, the worker already awake, or unload has begun).
    Nothing,
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
    /// One ring per processor, each of `Config::ring_bytes_per_processor` bytes.
    rings: Rings,
    schedule: Schedule,
    queue: Q,
    caps: Caps,
    /// Whether a kernel image's base goes into the ring (`KernelImageBases`); otherwise
    /// the callback records 0, "not given", so it never reaches the debugger or a reader.
    kernel_image_bases: bool,
    stats: &'static Stats,
    /// Touched only by the party that owns the consumer side: a work item routine
    /// holding RUNNING, or unload once the schedule is stopped and idle.
    worker: UnsafeCell<WorkerState>,
    /// The system time just before the process routine was registered (0: not set).
    watch_start: AtomicU64,
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
        let bytes = config.ring_bytes_per_processor();
        if !crate::ring::valid_size(config.ring_bytes) || !crate::ring::valid_size(bytes) {
            return Err(NewError::RingSize);
        }
        let processors = usize::try_from(config.processors.max(1)).map_err(|_| NewError::RingSize)?;
        let rings = Rings::try_new(processors, bytes).ok_or(NewError::NoMemory)?;
        let worker = worker_pool(&mut || WorkerState::try_new(config, clock)).ok_or(NewError::NoMemory)?;
        Ok(Self {
            rings,
            schedule: Schedule::new(),
            queue,
            caps: config.effective_caps(),
            kernel_image_bases: config.kernel_image_bases,
            stats,
            worker: UnsafeCell::new(worker),
            watch_start: AtomicU64::new(0),
        })
    }

    /// The string caps in force (after fitting them to the ring).
    #[must_use]
    pub const fn caps(&self) -> Caps {
        self.caps
    }

    /// Each processor's ring capacity in bytes.
    #[must_use]
    pub fn ring_bytes(&self) -> u64 {
        self.rings.capacity()
    }

    /// Rings (one per processor counted at entry).
    #[must_use]
    pub const fn rings(&self) -> usize {
        self.rings.len()
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
        self.record_between(stamp, event, 0, || ()).0
    }

    /// [`Pipeline::record`] for a record that keeps `object` (non-zero: the new process
    /// of a process create) alive until the worker is done with it: `take` (the driver's
    /// `ObfReferenceObject`) runs only once the record has its place in the ring and was
    /// written there, after the copy and before the commit. So a lost record never took a reference and has
    /// none to drop, and a committed one always holds exactly one, which the worker (or
    /// unload's final drain) releases through [`crate::worker::Host::release_process`].
    #[inline]
    pub fn record_holding(&self, stamp: Stamp, event: &Event<'_>, object: u64, take: impl FnOnce()) -> Recorded {
        self.record_between(stamp, event, object, take).0
    }

    /// [`Pipeline::record`], calling `between` after the copy and before the commit: a
    /// simulated producer preempted mid-record (host tests only). `None` if the event
    /// was lost before reaching that point (or its copy was refused).
    #[cfg(not(any(target_os = "windows", loom, notifyring_no_std)))]
    pub fn record_paused<R>(
        &self,
        stamp: Stamp,
        event: &Event<'_>,
        between: impl FnOnce() -> R,
    ) -> (Recorded, Option<R>) {
        self.record_between(stamp, event, 0, between)
    }

    #[expect(clippy::inline_always, reason = "the callbacks' whole path: measured 1.5 ns a record faster inlined")]
    #[inline(always)]
    fn record_between<R>(
        &self,
        stamp: Stamp,
        event: &Event<'_>,
        object: u64,
        between: impl FnOnce() -> R,
    ) -> (Recorded, Option<R>) {
        let hidden;
        let event = match *event {
            // A kernel image's base would tell the output's readers where the kernel's
            // modules lie (KASLR): not recorded unless the setting asks for it.
            Event::ImageLoad { pid, size, kernel_image: true, signature_level, signature_type, image, .. }
                if !self.kernel_image_bases =>
            {
                hidden =
                    Event::ImageLoad { pid, base: 0, size, kernel_image: true, signature_level, signature_type, image };
                &hidden
            }
            _ => event,
        };
        let mut encoded = record::encode(stamp, event, self.caps);
        encoded.hold(object);
        // Path calls, so the static callback check resolves them.
        let Some(ring) = Rings::of(&self.rings, stamp.cpu) else {
            // No ring at all cannot happen (`new` makes at least one); count it, never panic.
            self.stats.lost(event.kind(), false);
            return (Recorded::Lost, None);
        };
        // (A bare `.reserve()` on a local could be `Vec::reserve` for all it knows.)
        match Ring::reserve(ring, encoded.payload_len()) {
            Ok(reservation) => {
                // Sized from these very strings, so the write is never refused; should it
                // be, the record commits as zeros, holding nothing, so `between` (the
                // reference) runs only for a record that was written.
                let paused = reservation.write(&encoded.head, encoded.first, encoded.second).then(between);
                reservation.commit();
                // The reservation was the Dekker RMW: a worker that went idle before it
                // is seen here; one going idle after it sees the reservation, and sweeps
                // for it if this commit is not visible to it yet.
                let outcome = match self.schedule.wake(&self.queue) {
                    Wake::Queued => Recorded::Queued,
                    Wake::NotNeeded => Recorded::Pending,
                };
                (outcome, paused)
            }
            Err(loss) => {
                // No wake-up: a full ring holds records whose commits already woke the
                // worker (or whose head is still being copied, when waking is useless).
                // The count reaches the output on the next record's header, or when
                // the worker next finds the ring empty (at the latest, at unload).
                self.stats.lost(event.kind(), loss == Loss::Contended);
                stats::raise(&self.stats.worker.high_water, ring.used());
                (Recorded::Lost, None)
            }
        }
    }

    /// Records when the watch starts: the system time (`KeQuerySystemTime`'s clock, 100 ns
    /// units) read just before the process routine is registered (DriverEntry). A thread
    /// created by another process in a process the worker did not see created is remote
    /// if that process was created before this time. Before it is set, such a thread stays
    /// undecided (`remote=?`).
    pub fn watching_since(&self, system_time: u64) {
        // Relaxed: set once, before any notify routine is registered; the records it is
        // compared for reach the worker only through routines registered after it (the
        // kernel publishes a registration with its own interlocked operations), and those
        // records through the commit's Release and the worker's Acquire.
        self.watch_start.store(system_time, Ordering::Relaxed);
    }

    /// See [`Pipeline::watching_since`]; 0 if not set.
    fn watch_start(&self) -> u64 {
        // Relaxed: see `watching_since`.
        self.watch_start.load(Ordering::Relaxed)
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

    /// The work item routine's body. Drains at most one batch per pass; re-queues itself
    /// through the schedule's gate when more is left, otherwise goes idle and re-checks.
    pub fn run_worker(&self, env: &mut impl WorkerEnv) {
        if self.schedule.enter() {
            self.worker.with_mut(|state| {
                // SAFETY: `enter` returned true, so this routine holds RUNNING: it is the
                // only party touching the worker state and consuming the ring until it
                // leaves RUNNING below.
                let state = unsafe { &mut *state };
                self.run_owned(state, env);
            });
        }
        // Last touch of the pipeline by this routine: unload may free it after this.
        self.schedule.exit();
    }

    /// The periodic timer's DPC (`DISPATCH_LEVEL`): wakes the worker through the gate
    /// so that an idle system still gets its statistics line. Touches only the schedule.
    pub fn tick(&self) {
        self.schedule.wake(&self.queue);
    }

    /// The idle sweep's DPC (`DISPATCH_LEVEL`), a few milliseconds after the worker went
    /// idle with a record in flight: wakes the worker through the gate if a record is
    /// ready now, looks again later while one is still in flight, and lets go once the
    /// rings are empty (or unload has begun). Touches only atomics of the rings and the
    /// schedule.
    pub fn sweep(&self) -> Swept {
        stats::bump(&self.stats.worker.sweeps);
        match self.rings.scan() {
            Scan::Ready => match self.schedule.wake(&self.queue) {
                Wake::Queued => {
                    stats::bump(&self.stats.worker.sweep_wakes);
                    Swept::Woke
                }
                Wake::NotNeeded => Swept::Nothing,
            },
            Scan::InFlight if !self.schedule.is_stopping() => {
                self.queue.arm_sweep();
                Swept::Again
            }
            Scan::InFlight | Scan::Empty => Swept::Nothing,
        }
    }

    fn run_owned(&self, state: &mut WorkerState, env: &mut impl WorkerEnv) {
        state.begin_run(self.stats, env, self.watch_start());
        loop {
            if state.pass(&self.rings, self.stats, env) == Pass::Budget {
                // Leaves RUNNING either way; the state must not be touched after this.
                self.schedule.requeue(&self.queue);
                return;
            }
            // Leaves RUNNING: from here only atomics of the rings and schedule.
            self.schedule.finish_run();
            match self.rings.scan() {
                // Resume, unless a producer queued the item meanwhile (that run takes it).
                Scan::Ready if self.schedule.resume() => {}
                Scan::Ready | Scan::Empty => return,
                // A record reserved whose commit this run cannot see: its producer may
                // have found the worker still running, so the sweep looks again.
                Scan::InFlight => {
                    self.queue.arm_sweep();
                    return;
                }
            }
            // Resumed: RUNNING again, with what is left of this run's budgets.
            if state.spent() {
                self.schedule.requeue(&self.queue);
                return;
            }
        }
    }

    /// Unload, step 3: once stopped and idle, drains everything left, prints the final
    /// statistics line and returns the final counters.
    ///
    /// # Errors
    /// [`ShutdownError`] if [`Pipeline::stop`] was not called or the work item is
    /// still queued or running (poll [`Pipeline::is_idle`] and retry).
    pub fn shutdown(&self, env: &mut impl WorkerEnv) -> Result<Snapshot, ShutdownError> {
        if !self.schedule.is_stopping() {
            return Err(ShutdownError::NotStopping);
        }
        if !self.schedule.is_idle() {
            return Err(ShutdownError::Busy);
        }
        Ok(self.worker.with_mut(|state| {
            // SAFETY: stopped and idle: no routine is inside the pipeline and none can be
            // queued again, so the caller is the only consumer from now on.
            let state = unsafe { &mut *state };
            state.drain_all(&self.rings, self.stats, env, self.watch_start());
            self.stats.snapshot()
        }))
    }
}
