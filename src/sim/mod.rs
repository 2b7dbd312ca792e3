//! A *simulated* kernel, for host tests and the replay tool (host only, uses std).
//!
//! Producer threads call the very entry point the notify callbacks call
//! ([`Pipeline::record`]); [`SimQueue`] stands in for `IoQueueWorkItem`: it runs the
//! routine on a worker thread of its own, counts a queue of an already-queued item as a
//! violation (on Windows: bug check 0xE4), and can stall the worker, per run or
//! indefinitely. The idle sweep's timer fires on the same thread, [`SWEEP_PERIOD_MS`]
//! after it was armed, as the driver's DPC does. [`SimKernel::unload`] follows the
//! driver's unload order.

use crate::config::Config;
use crate::pipeline::{NewError, Pipeline, SWEEP_PERIOD_MS};
use crate::schedule::WorkQueue;
use crate::stats::{Snapshot, Stats};
use crate::vocab::clock::Clock;
use crate::vocab::process::{Lookup, Name};
use crate::worker::format::Line;
use crate::worker::{Host, Sink, WorkerEnv};
use std::boxed::Box;
use std::collections::HashMap;
use std::string::String;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::vec::Vec;

// Orderings in this file are SeqCst: it is test scaffolding, where the simplest
// correct choice beats the cheapest one.

/// Shared between the queue, the worker thread and the test.
#[derive(Default)]
struct QueueState {
    /// The work item is queued (set by `queue`, cleared when the routine is dispatched).
    queued: AtomicBool,
    /// Queue calls while already queued: each would be bug check 0xE4.
    double_queues: AtomicU64,
    /// Successful queue calls.
    queues: AtomicU64,
    /// Queue calls after unload finished.
    queues_after_unload: AtomicU64,
    unloaded: AtomicBool,
    /// Times the idle sweep was armed (the sweeps that ran, and what they found, are
    /// in the pipeline's counters).
    sweeps_armed: AtomicU64,
    /// Pending dispatch / hold / exit flags, guarded for the condvar.
    control: Mutex<Control>,
    wake: Condvar,
    stall_per_run: Mutex<Duration>,
}

#[derive(Default)]
struct Control {
    pending: bool,
    held: bool,
    exit: bool,
    /// When the armed idle sweep fires.
    sweep_due: Option<Instant>,
}

/// The simulated `IoQueueWorkItem`.
#[derive(Clone)]
pub struct SimQueue(Arc<QueueState>);

impl WorkQueue for SimQueue {
    fn queue(&self) {
        let state = &self.0;
        if state.unloaded.load(Ordering::SeqCst) {
            state.queues_after_unload.fetch_add(1, Ordering::SeqCst);
        }
        if state.queued.swap(true, Ordering::SeqCst) {
            state.double_queues.fetch_add(1, Ordering::SeqCst);
            return;
        }
        state.queues.fetch_add(1, Ordering::SeqCst);
        state.control.lock().unwrap_or_else(PoisonError::into_inner).pending = true;
        state.wake.notify_all();
    }

    fn arm_sweep(&self) {
        let state = &self.0;
        state.sweeps_armed.fetch_add(1, Ordering::SeqCst);
        let due = Instant::now() + Duration::from_millis(u64::from(SWEEP_PERIOD_MS));
        state.control.lock().unwrap_or_else(PoisonError::into_inner).sweep_due = Some(due);
        state.wake.notify_all();
    }
}

/// What the simulated work queue observed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueReport {
    /// Successful queue calls.
    pub queues: u64,
    /// Queue calls while already queued (must be 0).
    pub double_queues: u64,
    /// Queue calls after unload (must be 0).
    pub queues_after_unload: u64,
    /// Times the worker (or a sweep) armed the idle sweep.
    pub sweeps_armed: u64,
}

/// A callback that receives each printed line (without NUL).
pub type LineSink = Box<dyn FnMut(&[u8]) + Send>;

/// A worker environment that keeps every line, names processes from a table, and
/// reads a nanosecond clock.
pub struct CollectEnv {
    /// Printed lines, without NUL.
    pub lines: Vec<String>,
    /// Keep lines in `lines` (false: only count them, for long runs).
    pub keep: bool,
    /// Names the "kernel" knows for pids the worker has not seen created (an empty path:
    /// a process with no image file).
    pub processes: HashMap<u64, String>,
    /// Look-ups made.
    pub lookups: u64,
    /// Optional line sink called for every line (e.g. print to stdout).
    pub on_line: Option<LineSink>,
    start: Instant,
}

impl Default for CollectEnv {
    fn default() -> Self {
        Self {
            lines: Vec::new(),
            keep: true,
            processes: HashMap::new(),
            lookups: 0,
            on_line: None,
            start: Instant::now(),
        }
    }
}

impl CollectEnv {
    /// Nanoseconds since this environment was made: the simulated performance counter.
    #[must_use]
    pub fn ticks(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The simulated counter's clock (1 GHz, starting now).
    #[must_use]
    pub fn clock(&self) -> Clock {
        Clock { start_ticks: self.ticks(), frequency: 1_000_000_000 }
    }
}

impl Host for CollectEnv {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.lookups += 1;
        match self.processes.get(&pid) {
            Some(path) if path.is_empty() => Lookup::NoImageFile,
            Some(path) => {
                *name = Name::from_path(path.encode_utf16());
                Lookup::Found
            }
            None => Lookup::Failed,
        }
    }
    fn now_ticks(&mut self) -> u64 {
        self.ticks()
    }
}

impl Sink for CollectEnv {
    fn print(&mut self, line: Line<'_>) {
        if let Some(f) = self.on_line.as_mut() {
            f(line.text());
        }
        if self.keep {
            self.lines.push(String::from_utf8_lossy(line.text()).into_owned());
        }
    }
}

/// A pipeline wired to a simulated work queue and worker thread.
pub struct SimKernel<E: WorkerEnv + Send + 'static = CollectEnv> {
    pipeline: Arc<Pipeline<SimQueue>>,
    /// Leaked for the pipeline's `&'static`; reclaimed by `unload` once the pipeline is
    /// gone (the driver keeps its counters in a real static instead).
    stats: LeakedStats,
    queue: Arc<QueueState>,
    worker: Option<JoinHandle<E>>,
}

/// The counters' allocation, owned by a [`SimKernel`] and lent to its pipeline.
struct LeakedStats(*mut Stats);
// SAFETY: `Stats` is `Sync` (atomics only); the pointer is only dereferenced to lend a
// shared reference and freed once, in `unload`.
unsafe impl Send for LeakedStats {}
// SAFETY: as above.
unsafe impl Sync for LeakedStats {}

/// Everything unload leaves behind.
pub struct Unloaded<E> {
    /// Final counters (after the final drain).
    pub stats: Snapshot,
    /// What the work queue saw.
    pub queue: QueueReport,
    /// The worker environment (with its lines).
    pub env: E,
}

impl<E: WorkerEnv + Send + 'static> SimKernel<E> {
    /// Builds the pipeline (like `DriverEntry`) and starts the worker thread.
    ///
    /// # Errors
    /// As [`Pipeline::new`].
    pub fn start(config: &Config, clock: Clock, env: E) -> Result<Self, NewError> {
        let queue = Arc::new(QueueState::default());
        let raw = Box::into_raw(Box::new(Stats::new()));
        // SAFETY: freshly allocated; it stays valid until `unload` reclaims it, which it
        // does only after the last pipeline (the holder of this reference) is dropped.
        let shared: &'static Stats = unsafe { &*raw };
        let stats = LeakedStats(raw);
        let pipeline = Arc::new(Pipeline::new(config, clock, SimQueue(queue.clone()), shared)?);
        let worker = {
            let pipeline = pipeline.clone();
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("sim-work-queue".into())
                .spawn(move || work_queue_thread(&pipeline, &queue, env))
                .ok()
        };
        Ok(Self { pipeline, stats, queue, worker })
    }

    /// The pipeline: producers call `record` on it.
    #[must_use]
    pub fn pipeline(&self) -> &Pipeline<SimQueue> {
        &self.pipeline
    }

    /// A shareable handle for producer threads.
    #[must_use]
    pub fn pipeline_arc(&self) -> Arc<Pipeline<SimQueue>> {
        self.pipeline.clone()
    }

    /// The periodic timer fires (the driver's DPC): wakes the worker through the gate.
    pub fn tick(&self) {
        self.pipeline.tick();
    }

    /// Stalls the worker indefinitely: queued routines wait until [`SimKernel::release`].
    pub fn hold(&self) {
        self.queue.control.lock().unwrap_or_else(PoisonError::into_inner).held = true;
    }

    /// Ends a [`SimKernel::hold`].
    pub fn release(&self) {
        self.queue.control.lock().unwrap_or_else(PoisonError::into_inner).held = false;
        self.queue.wake.notify_all();
    }

    /// Sleeps the worker this long before each routine run.
    pub fn stall_each_run(&self, pause: Duration) {
        *self.queue.stall_per_run.lock().unwrap_or_else(PoisonError::into_inner) = pause;
    }

    /// What the work queue has seen so far.
    #[must_use]
    pub fn queue_report(&self) -> QueueReport {
        report(&self.queue)
    }

    /// The driver's unload order, after the callbacks are gone (the caller has joined
    /// its producer threads): STOPPING, wait until the work item is idle, final drain.
    /// A held worker is released first (unload may wait; it must not wait forever).
    ///
    /// # Panics
    /// If the worker thread panicked (a test failure).
    pub fn unload(self) -> Unloaded<E> {
        let Self { pipeline, stats: stats_box, queue, worker } = self;
        pipeline.stop();
        queue.control.lock().unwrap_or_else(PoisonError::into_inner).held = false;
        queue.wake.notify_all();
        while !pipeline.is_idle() {
            std::thread::sleep(Duration::from_micros(200));
        }
        queue.control.lock().unwrap_or_else(PoisonError::into_inner).exit = true;
        queue.wake.notify_all();
        let mut env = worker.map(|w| w.join().expect("worker thread panicked")).expect("worker thread");
        let stats = pipeline.shutdown(&mut env).expect("stopped and idle");
        queue.unloaded.store(true, Ordering::SeqCst);
        let report = report(&queue);
        // Free the pipeline (ring and tables), then the counters it pointed to, as
        // DriverUnload does; if a test still holds a pipeline handle, they stay leaked.
        if Arc::into_inner(pipeline).is_some() {
            // SAFETY: `stats_box.0` came from `Box::into_raw` in `start`; the only pipeline,
            // which held the only reference derived from it, was just dropped.
            drop(unsafe { Box::from_raw(stats_box.0) });
        }
        Unloaded { stats, queue: report, env }
    }
}

fn report(queue: &QueueState) -> QueueReport {
    QueueReport {
        queues: queue.queues.load(Ordering::SeqCst),
        double_queues: queue.double_queues.load(Ordering::SeqCst),
        queues_after_unload: queue.queues_after_unload.load(Ordering::SeqCst),
        sweeps_armed: queue.sweeps_armed.load(Ordering::SeqCst),
    }
}

fn work_queue_thread<E: WorkerEnv>(pipeline: &Pipeline<SimQueue>, queue: &QueueState, mut env: E) -> E {
    loop {
        {
            let mut control = queue.control.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if control.exit || (control.pending && !control.held) {
                    break;
                }
                let now = Instant::now();
                match control.sweep_due {
                    // The sweep's DPC: on this thread, as it touches only atomics.
                    Some(due) if due <= now => {
                        control.sweep_due = None;
                        drop(control);
                        pipeline.sweep();
                        control = queue.control.lock().unwrap_or_else(PoisonError::into_inner);
                    }
                    Some(due) => {
                        control = queue.wake.wait_timeout(control, due - now).unwrap_or_else(PoisonError::into_inner).0;
                    }
                    None => control = queue.wake.wait(control).unwrap_or_else(PoisonError::into_inner),
                }
            }
            if control.exit && !control.pending {
                return env;
            }
            control.pending = false;
        }
        let pause = *queue.stall_per_run.lock().unwrap_or_else(PoisonError::into_inner);
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
        // Windows dequeues the item before calling its routine: it may be queued again
        // from here on, including from inside the routine.
        queue.queued.store(false, Ordering::SeqCst);
        pipeline.run_worker(&mut env);
    }
}

pub mod device;
pub mod objects;
