//! loom models of the ring and the schedule (the same source, through `sync`'s shim).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --profile host --test loom`
//! (`LOOM_MAX_PREEMPTIONS=3` explores more; the default bound of 2 finds most bugs).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use notifyring::record::HEAD;
use notifyring::ring::{Pop, Ring};
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name};
use notifyring::worker::format::Line;
use notifyring::worker::{Host, Sink};
use notifyring::{ClientId, Config, Event, Pipeline, Stamp, Stats, WorkQueue};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Two producers each publish one record while the consumer pops concurrently: every
/// popped payload is intact, nothing comes out twice or out of reservation order, and
/// a producer preempted between reserve and commit only ever makes the consumer stop.
#[test]
fn ring_two_producers_one_consumer() {
    model(|| {
        let ring = Arc::new(Ring::try_new(512).unwrap());
        let producers: Vec<_> = (1..=2u8)
            .map(|id| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let r = ring.reserve(HEAD + 2).unwrap();
                    assert!(r.write(&[id; HEAD], &[u16::from(id)], &[]));
                    r.commit();
                })
            })
            .collect();
        let mut seen = Vec::new();
        for _ in 0..2 {
            // SAFETY: this thread is the only consumer.
            match unsafe { ring.pop(|_, b| b.to_vec()) } {
                Pop::Record { value, .. } => seen.push(value),
                Pop::Empty | Pop::Busy => {}
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        // SAFETY: sole consumer.
        while let Pop::Record { value, .. } = unsafe { ring.pop(|_, b| b.to_vec()) } {
            seen.push(value);
        }
        assert_eq!(seen.len(), 2);
        for bytes in &seen {
            let id = bytes[0];
            assert!(bytes[..HEAD].iter().all(|&b| b == id), "torn head");
            assert_eq!(u16::from_ne_bytes([bytes[HEAD], bytes[HEAD + 1]]), u16::from(id));
        }
        assert_ne!(seen[0][0], seen[1][0]);
    });
}

/// A full ring: a producer that fails counts the loss, and the loss reaches the
/// consumer exactly once (on the next record's header, or as a trailing loss).
#[test]
fn ring_loss_is_reported_once() {
    model(|| {
        let ring = Arc::new(Ring::try_new(512).unwrap());
        // Fill most of the ring so the two racing reservations cannot both fit.
        let filler_units = (512 - 8 - 2 * (8 + HEAD + 8) - HEAD) / 2;
        let filler = ring.reserve(HEAD + 2 * filler_units).unwrap();
        assert!(filler.write(&[9; HEAD], &vec![0; filler_units], &[]));
        filler.commit();
        #[expect(clippy::needless_collect, reason = "both producers must start before the consumer pops")]
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || {
                    ring.reserve(HEAD + 120).map_or(0u64, |r| {
                        assert!(r.write(&[1; HEAD], &[0; 60], &[]));
                        r.commit();
                        1
                    })
                })
            })
            .collect();
        let mut reported = 0u64;
        let mut records = 0u64;
        // SAFETY: sole consumer (a concurrent pop with the producers).
        if let Pop::Record { lost_before, .. } = unsafe { ring.pop(|_, _| ()) } {
            reported += u64::from(lost_before);
            records += 1;
        }
        let stored: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        loop {
            // SAFETY: sole consumer.
            match unsafe { ring.pop(|_, _| ()) } {
                Pop::Record { lost_before, .. } => {
                    reported += u64::from(lost_before);
                    records += 1;
                }
                Pop::Empty => {
                    // SAFETY: sole consumer, after Empty.
                    reported += unsafe { ring.take_trailing_losses() };
                    break;
                }
                Pop::Busy => panic!("busy after every producer returned"),
            }
        }
        assert_eq!(records, 1 + stored);
        assert_eq!(reported, 2 - stored);
    });
}

/// Two producers race for the last free place: the loser's loss happened after the
/// winner's place, so it never rides on the winner's record, whenever the winner (perhaps
/// preempted between winning the place and stamping its header) takes its losses. It is
/// reported after that record (here as a trailing loss: nothing is reserved later).
#[test]
fn ring_loss_rides_on_the_reservation_after_it() {
    model(|| {
        let ring = Arc::new(Ring::try_new(512).unwrap());
        // 304 bytes taken: one 200-byte record (HEAD + 120) fits after it, two do not.
        let filler = ring.reserve(HEAD + 2 * 112).unwrap();
        assert!(filler.write(&[9; HEAD], &[0; 112], &[]));
        filler.commit();
        // Both threads are spawned before either is joined.
        #[allow(clippy::needless_collect)]
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || {
                    ring.reserve(HEAD + 120).is_ok_and(|r| {
                        assert!(r.write(&[1; HEAD], &[0; 60], &[]));
                        r.commit();
                        true
                    })
                })
            })
            .collect();
        let stored: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(stored.iter().filter(|&&s| s).count(), 1, "exactly one fits");
        let mut lost_before = Vec::new();
        // SAFETY: sole consumer, every producer joined.
        while let Pop::Record { lost_before: l, .. } = unsafe { ring.pop(|_, _| ()) } {
            lost_before.push(l);
        }
        assert_eq!(lost_before, [0, 0], "the loss rode on the record reserved before it");
        // SAFETY: sole consumer, after Empty.
        assert_eq!(unsafe { ring.take_trailing_losses() }, 1);
    });
}

/// The simulated `IoQueueWorkItem` for models: remembers that the item is queued and
/// fails on a double queue (bug check 0xE4); and the idle sweep's timer, armed or not.
#[derive(Default)]
struct ModelQueue {
    queued: AtomicBool,
    sweep_armed: AtomicBool,
}

/// The pipeline's handle on the shared [`ModelQueue`].
struct QueueHandle(Arc<ModelQueue>);

impl WorkQueue for QueueHandle {
    fn queue(&self) {
        assert!(!self.0.queued.swap(true, Ordering::SeqCst), "work item queued while queued");
    }
    fn arm_sweep(&self) {
        self.0.sweep_armed.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct CountEnv {
    delivered: Arc<AtomicUsize>,
}

impl Host for CountEnv {
    fn process_image(&mut self, _: u64, _: &mut Name) -> Lookup {
        Lookup::Failed
    }
    fn now_ticks(&mut self) -> u64 {
        0
    }
}

impl Sink for CountEnv {
    fn print(&mut self, line: Line<'_>) {
        if line.text().windows(19).any(|w| w == b" thread-create pid=") {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn pipeline(batch: u32) -> (Arc<Pipeline<QueueHandle>>, Arc<ModelQueue>) {
    pipeline_on(batch, 1)
}

/// A pipeline with one ring per processor.
fn pipeline_on(batch: u32, processors: u32) -> (Arc<Pipeline<QueueHandle>>, Arc<ModelQueue>) {
    let queue = Arc::new(ModelQueue::default());
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let config = Config { ring_bytes: 512, processors, batch, names: 16, stats_interval_s: 0, ..Config::DEFAULT };
    let p = Pipeline::new(&config, Clock { start_ticks: 0, frequency: 1 }, QueueHandle(queue.clone()), stats).unwrap();
    (Arc::new(p), queue)
}

const fn event(pid: u64) -> Event<'static> {
    Event::ThreadCreate { pid, tid: 8, creator: ClientId { pid, tid: 8 } }
}

/// A "notify callback" on its own thread: one record call.
fn spawn_producer(p: &Arc<Pipeline<QueueHandle>>, pid: u64) -> thread::JoinHandle<()> {
    spawn_producer_on(p, pid, 0)
}

/// A "notify callback" on processor `cpu` (so into that processor's ring).
fn spawn_producer_on(p: &Arc<Pipeline<QueueHandle>>, pid: u64, cpu: u32) -> thread::JoinHandle<()> {
    let p = p.clone();
    thread::spawn(move || {
        p.record(Stamp { ticks: pid, cpu }, &event(pid));
    })
}

/// "The system worker thread": runs the routine up to `runs` times, when queued.
fn spawn_worker(
    p: &Arc<Pipeline<QueueHandle>>,
    queue: &Arc<ModelQueue>,
    delivered: &Arc<AtomicUsize>,
    runs: usize,
) -> thread::JoinHandle<()> {
    let (p, queue, delivered) = (p.clone(), queue.clone(), delivered.clone());
    thread::spawn(move || {
        let mut env = CountEnv { delivered };
        for _ in 0..runs {
            dispatch(&p, &queue, &mut env);
        }
    })
}

/// Runs the routine if the item is queued ("the system worker thread").
fn dispatch(p: &Pipeline<QueueHandle>, queue: &ModelQueue, env: &mut CountEnv) -> bool {
    if queue.queued.swap(false, Ordering::SeqCst) {
        p.run_worker(env);
        true
    } else {
        false
    }
}

/// What Windows eventually does once the model's threads are done: runs the queued
/// routine, and fires the idle sweep's timer while it is armed, until neither is
/// pending. Returns how many sweeps fired.
fn settle(p: &Pipeline<QueueHandle>, queue: &ModelQueue, env: &mut CountEnv) -> usize {
    let mut sweeps = 0;
    loop {
        if dispatch(p, queue, env) {
            continue;
        }
        if queue.sweep_armed.swap(false, Ordering::SeqCst) {
            sweeps += 1;
            p.sweep();
            continue;
        }
        return sweeps;
    }
}

/// The lost wake-up race: producers commit while the worker drains and goes idle. At
/// the end, every committed record was delivered, or the item is queued to deliver it,
/// or the idle sweep is armed and wakes the worker for it: never stranded with the
/// worker idle. The item is never queued twice.
#[test]
fn schedule_no_lost_wakeup_and_no_double_queue() {
    model(|| two_producers_then_drain(1));
}

/// Two producers (on processors 0 and 1) record one event each while a worker runs up
/// to twice; afterwards nothing is stranded and the item is idle.
fn two_producers_then_drain(processors: u32) {
    {
        let (p, queue) = pipeline_on(8, processors);
        let delivered = Arc::new(AtomicUsize::new(0));
        let producers = [spawn_producer_on(&p, 4, 0), spawn_producer_on(&p, 8, 1)];
        let worker = spawn_worker(&p, &queue, &delivered, 2);
        for t in producers {
            t.join().unwrap();
        }
        worker.join().unwrap();
        // Anything still owed must be queued: run it the way Windows eventually would.
        let mut env = CountEnv { delivered: delivered.clone() };
        settle(&p, &queue, &mut env);
        assert_eq!(delivered.load(Ordering::Relaxed), 2, "a committed record was stranded");
        assert!(p.is_idle());
    }
}

/// Batch limit 1: the routine re-queues itself through the gate while a producer may
/// also try to queue; still exactly one queue at a time, and nothing stranded.
#[test]
fn schedule_requeue_races_with_producers() {
    model(|| {
        let (p, queue) = pipeline(1);
        let delivered = Arc::new(AtomicUsize::new(0));
        p.record(Stamp::default(), &event(4));
        let producer = spawn_producer(&p, 8);
        let worker = spawn_worker(&p, &queue, &delivered, 1);
        producer.join().unwrap();
        worker.join().unwrap();
        let mut env = CountEnv { delivered: delivered.clone() };
        settle(&p, &queue, &mut env);
        assert_eq!(delivered.load(Ordering::Relaxed), 2);
    });
}

/// Unload while a producer records and the item may be queued or running: after
/// STOPPING and idle, the final drain delivers the rest; nothing queues afterwards.
#[test]
fn unload_while_recording() {
    model(|| {
        let (p, queue) = pipeline(8);
        let delivered = Arc::new(AtomicUsize::new(0));
        let producer = spawn_producer(&p, 4);
        let worker = spawn_worker(&p, &queue, &delivered, 1);
        // Unload: the callback is removed first (join), then STOPPING.
        producer.join().unwrap();
        p.stop();
        worker.join().unwrap();
        let mut env = CountEnv { delivered: delivered.clone() };
        // Wait for idle the way unload does (here: run what is queued).
        while !p.is_idle() {
            dispatch(&p, &queue, &mut env);
        }
        p.shutdown(&mut env).unwrap();
        assert_eq!(delivered.load(Ordering::Relaxed), 1);
        p.record(Stamp::default(), &event(12));
        assert!(!queue.queued.load(Ordering::SeqCst), "queued after STOPPING");
    });
}

/// Two processors' rings and the merge: each producer records into its own ring while
/// the worker merges and may find one head still being copied (it passes that ring over,
/// and goes idle once only such heads are left: that commit must wake it). Nothing is
/// stranded, nothing queued twice.
#[test]
fn two_rings_merge_no_lost_wakeup() {
    model(|| two_producers_then_drain(2));
}

/// A head being copied on one ring holds back only that ring: the worker's run delivers
/// the other ring's committed record whatever the state of the second producer (not yet
/// started, reserved and copying, or committed), and after its commit nothing is stranded.
#[test]
fn a_busy_ring_holds_back_only_itself() {
    model(|| {
        let (p, queue) = pipeline_on(8, 2);
        let delivered = Arc::new(AtomicUsize::new(0));
        p.record(Stamp { ticks: 4, cpu: 0 }, &event(4));
        let producer = spawn_producer_on(&p, 8, 1);
        let mut env = CountEnv { delivered: delivered.clone() };
        assert!(dispatch(&p, &queue, &mut env), "the first record queued the work item");
        assert!(delivered.load(Ordering::Relaxed) >= 1, "ring 0's record waited for ring 1");
        producer.join().unwrap();
        settle(&p, &queue, &mut env);
        assert_eq!(delivered.load(Ordering::Relaxed), 2, "a committed record was stranded");
        assert!(p.is_idle());
    });
}

/// The reader channel's lock, as the kernel's spin lock is modelled: a loom mutex.
#[derive(Default)]
struct ModelLock(loom::sync::Mutex<()>);

impl notifyring::reader::Lock for ModelLock {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.0.lock().unwrap();
        f()
    }
}

/// A read: its id and buffer.
struct ModelRead(u32, Vec<u8>);

impl notifyring::reader::Read for ModelRead {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.1
    }
}

/// The cancel-safe queue, with its own lock (taken inside the channel's, as in the
/// driver), and the reads the worker's sink completed (id, bytes filled).
#[derive(Default)]
struct ModelPending {
    queue: loom::sync::Mutex<Vec<ModelRead>>,
    done: loom::sync::Mutex<Vec<(u32, Vec<u8>)>>,
}

impl notifyring::reader::Pending<ModelLock> for ModelPending {
    type Read = ModelRead;
    fn insert(&self, _: &notifyring::reader::Held<'_, ModelLock>, read: ModelRead) -> Result<(), ModelRead> {
        let mut queue = self.queue.lock().unwrap();
        assert!(queue.len() < notifyring::reader::wire::MAX_PENDING_READS, "a read queued beyond the cap");
        queue.push(read);
        drop(queue);
        Ok(())
    }
    fn queued(&self, _: &notifyring::reader::Held<'_, ModelLock>) -> usize {
        self.queue.lock().unwrap().len()
    }
    fn remove_next(&self, _: Option<&notifyring::reader::Held<'_, ModelLock>>) -> Option<ModelRead> {
        let mut queue = self.queue.lock().unwrap();
        if queue.is_empty() { None } else { Some(queue.remove(0)) }
    }
    fn complete(&self, ModelRead(id, mut buf): ModelRead, filled: usize) {
        buf.truncate(filled);
        self.done.lock().unwrap().push((id, buf));
    }
}

/// The device the worker's reader sink feeds: the channel and its pending reads.
struct ModelDevice<'a> {
    channel: &'a notifyring::reader::Channel<ModelLock>,
    pending: &'a ModelPending,
}

impl notifyring::reader::Device for ModelDevice<'_> {
    type Lock = ModelLock;
    type Pending = ModelPending;
    fn channel(&self) -> &notifyring::reader::Channel<ModelLock> {
        self.channel
    }
    fn pending(&self) -> &ModelPending {
        self.pending
    }
}

/// The debugger behind the reader sink: prints nothing.
struct Quiet;

impl Sink for Quiet {
    fn print(&mut self, _: Line<'_>) {}
}

/// The worker delivers two records while the reader's read dispatch runs and a
/// `CancelIoEx` races with both: the read ends exactly once (filled or cancelled) or is
/// still pending with nothing buffered (no lost wake-up), and every record is in a
/// completed read or still buffered, never dropped (the buffer has room).
#[test]
fn reader_read_dispatch_worker_and_cancel() {
    use notifyring::reader::{Channel, Pending, ReadOutcome, wire};
    model(|| {
        let clock = Clock { start_ticks: 0, frequency: 1 };
        let channel = Arc::new(Channel::try_new(4096, clock, ModelLock::default()).unwrap());
        let pending = Arc::new(ModelPending::default());
        let cancelled = Arc::new(AtomicUsize::new(0));
        assert!(channel.attach(1));
        let worker = {
            let (channel, pending) = (channel.clone(), pending.clone());
            thread::spawn(move || {
                for seq in 1..=2u64 {
                    deliver_thread_create(&channel, &pending, seq);
                }
            })
        };
        let cancel_io = {
            let (pending, cancelled) = (pending.clone(), cancelled.clone());
            thread::spawn(move || {
                // CancelIoEx on read 7: the queue gives it up only if it is still there.
                let mut queue = pending.queue.lock().unwrap();
                let found = queue.iter().position(|r| r.0 == 7).map(|at| queue.remove(at));
                drop(queue);
                if found.is_some() {
                    cancelled.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        match channel.read(1, &*pending, ModelRead(7, vec![0; wire::MIN_READ])) {
            ReadOutcome::Filled(read, n) => pending.complete(read, n),
            ReadOutcome::Pending => {}
            _ => panic!("refused"),
        }
        worker.join().unwrap();
        cancel_io.join().unwrap();
        // (read id, bytes): reads that ended with data, from whichever thread ended them.
        let done = std::mem::take(&mut *pending.done.lock().unwrap());
        let ended = done.len() + cancelled.load(Ordering::SeqCst);
        let still_pending = pending.queue.lock().unwrap().len();
        assert_eq!(ended + still_pending, 1, "the read ends exactly once, or waits");
        let buffered = channel.with(|s| s.buffered());
        if still_pending == 1 {
            assert_eq!(buffered, 0, "a read waits while data is buffered: a lost wake-up");
        }
        // Every record is in a completed read or still buffered.
        let mut read_events = 0;
        for (_, bytes) in &done {
            let batch = wire::Batch::parse(bytes).unwrap();
            read_events += batch.entries().filter(|e| matches!(e, Ok(wire::Entry::Event { .. }))).count();
        }
        let counters = channel.with(|s| s.counters());
        assert_eq!(counters.events, 2);
        assert_eq!(counters.lost, 0);
        assert_eq!(read_events as u64, counters.events_read);
        assert_eq!(read_events == 2, buffered == 0);
    });
}

/// One place below the cap: two read dispatches race a `CancelIoEx` of a waiting read.
/// The queue never holds more than `MAX_PENDING_READS` (the model queue asserts it on
/// every insert), a read is refused only when the cap is reached, and every read ends
/// once or still waits.
#[test]
fn reader_pending_cap_holds_while_reads_and_a_cancel_race() {
    use notifyring::reader::{Channel, ReadOutcome, wire};
    model(|| {
        let clock = Clock { start_ticks: 0, frequency: 1 };
        let channel = Arc::new(Channel::try_new(4096, clock, ModelLock::default()).unwrap());
        let pending = Arc::new(ModelPending::default());
        assert!(channel.attach(1));
        let cap = u32::try_from(wire::MAX_PENDING_READS).unwrap();
        for id in 1..cap {
            assert!(matches!(channel.read(1, &*pending, ModelRead(id, vec![0; wire::MIN_READ])), ReadOutcome::Pending));
        }
        let refused = Arc::new(AtomicUsize::new(0));
        let dispatch =
            |id: u32, channel: &Channel<ModelLock>, pending: &ModelPending, refused: &AtomicUsize| match channel.read(
                1,
                pending,
                ModelRead(id, vec![0; wire::MIN_READ]),
            ) {
                ReadOutcome::Pending => {}
                ReadOutcome::TooMany(_) => {
                    refused.fetch_add(1, Ordering::SeqCst);
                }
                _ => panic!("read {id}: neither queued nor refused for the cap"),
            };
        let other = {
            let (channel, pending, refused) = (channel.clone(), pending.clone(), refused.clone());
            thread::spawn(move || dispatch(cap, &channel, &pending, &refused))
        };
        let cancel_io = {
            let pending = pending.clone();
            thread::spawn(move || {
                // CancelIoEx on read 1, which waits from the start.
                let mut queue = pending.queue.lock().unwrap();
                let at = queue.iter().position(|r| r.0 == 1).expect("read 1 waits");
                drop(queue.remove(at));
            })
        };
        dispatch(cap + 1, &channel, &pending, &refused);
        other.join().unwrap();
        cancel_io.join().unwrap();
        let refused = refused.load(Ordering::SeqCst);
        let waiting = pending.queue.lock().unwrap().len();
        assert!(refused <= 1, "a read was refused below the cap");
        // cap - 1 waited, one was cancelled, two arrived: all but the refused ones wait.
        assert_eq!(waiting + refused, wire::MAX_PENDING_READS);
    });
}

/// The token facts' references: two process creates record while the worker
/// runs. Each process object starts with the kernel's reference, which its "callback"
/// drops right after recording (the process exits at once). A record takes its
/// reference between copy and commit; the worker reads the token only while the object
/// is alive and drops the record's reference once. At the end every object is at zero:
/// no leak, no double release, whatever the interleaving.
#[test]
fn process_references_balance_across_callback_worker_and_unload() {
    model(|| {
        let (p, queue) = pipeline(8);
        let objects: Arc<Vec<AtomicUsize>> = Arc::new((0..2).map(|_| AtomicUsize::new(1)).collect());
        let producers: Vec<_> = (0..2u64)
            .map(|i| {
                let (p, objects) = (p.clone(), objects.clone());
                thread::spawn(move || {
                    let object = &objects[usize::try_from(i).unwrap()];
                    let create = Event::ProcessCreate {
                        pid: 100 + i,
                        parent_pid: 4,
                        creator: ClientId { pid: 4, tid: 8 },
                        file_open_name_available: false,
                        subsystem_process: false,
                        image: None,
                        command_line: None,
                    };
                    // Relaxed: a reference count; the ring's commit publishes the record.
                    p.record_holding(Stamp { ticks: i, cpu: 0 }, &create, i + 1, || {
                        object.fetch_add(1, Ordering::Relaxed);
                    });
                    // AcqRel: the kernel's own reference, dropped at exit.
                    assert!(object.fetch_sub(1, Ordering::AcqRel) > 0, "the kernel's reference went negative");
                })
            })
            .collect();
        let worker = {
            let (p, queue, objects) = (p.clone(), queue.clone(), objects.clone());
            thread::spawn(move || {
                let mut env = RefEnv { objects };
                for _ in 0..2 {
                    if queue.queued.swap(false, Ordering::SeqCst) {
                        p.run_worker(&mut env);
                    }
                }
            })
        };
        for t in producers {
            t.join().unwrap();
        }
        worker.join().unwrap();
        // Unload: stop, let a queued routine finish, then the final drain.
        p.stop();
        let mut env = RefEnv { objects: objects.clone() };
        while queue.queued.swap(false, Ordering::SeqCst) {
            p.run_worker(&mut env);
        }
        p.shutdown(&mut env).unwrap();
        for (i, o) in objects.iter().enumerate() {
            assert_eq!(o.load(Ordering::Relaxed), 0, "process object {i} leaked a reference");
        }
    });
}

/// Reads a token only from a live object and drops the record's reference.
struct RefEnv {
    objects: Arc<Vec<AtomicUsize>>,
}

impl RefEnv {
    fn object(&self, object: u64) -> &AtomicUsize {
        &self.objects[usize::try_from(object - 1).unwrap()]
    }
}

impl Host for RefEnv {
    fn process_image(&mut self, _: u64, _: &mut Name) -> Lookup {
        Lookup::Failed
    }
    fn now_ticks(&mut self) -> u64 {
        0
    }
    fn process_token(&mut self, object: u64, _: &mut notifyring::vocab::token::TokenFacts) -> u32 {
        // Relaxed: only the count's value matters; the record's commit ordered it.
        assert!(self.object(object).load(Ordering::Relaxed) > 0, "token read on a freed process");
        0
    }
    fn release_process(&mut self, object: u64) {
        // AcqRel: the last release "frees" the object after every earlier use.
        assert!(self.object(object).fetch_sub(1, Ordering::AcqRel) > 0, "double release");
    }
}

impl Sink for RefEnv {
    fn print(&mut self, _: Line<'_>) {}
}

/// A reader attaches and reads while the worker delivers two records, the worker
/// looking at the channel's lock-free hint first: the reader's stream is a suffix of the
/// worker's (it starts at some record and misses none after it), its counters agree
/// with what it read, and a read waits only while nothing is buffered.
#[test]
fn reader_attach_races_the_workers_hint() {
    use notifyring::reader::{Channel, Pending, ReadOutcome, wire};
    model(|| {
        let clock = Clock { start_ticks: 0, frequency: 1 };
        let channel = Arc::new(Channel::try_new(4096, clock, ModelLock::default()).unwrap());
        let pending = Arc::new(ModelPending::default());
        let worker = {
            let (channel, pending) = (channel.clone(), pending.clone());
            thread::spawn(move || {
                for seq in 1..=2u64 {
                    deliver_thread_create(&channel, &pending, seq);
                }
            })
        };
        assert!(channel.attach(1));
        if let ReadOutcome::Filled(read, n) = channel.read(1, &*pending, ModelRead(7, vec![0; wire::MIN_READ])) {
            pending.complete(read, n);
        }
        worker.join().unwrap();
        // A record after the attach, in this thread's order: the hint must say attached.
        deliver_thread_create(&channel, &pending, 3);
        assert!(pending.queue.lock().unwrap().is_empty(), "the pending read got record 3");
        // Whatever is still buffered, read now.
        if let ReadOutcome::Filled(read, n) = channel.read(1, &*pending, ModelRead(8, vec![0; wire::MIN_READ])) {
            pending.complete(read, n);
        }
        let mut seqs = Vec::new();
        for (_, bytes) in pending.done.lock().unwrap().iter() {
            for e in wire::Batch::parse(bytes).unwrap().entries() {
                if let Ok(wire::Entry::Event { seq, .. }) = e {
                    seqs.push(seq);
                }
            }
        }
        assert_eq!(channel.with(|s| s.counters()).events, seqs.len() as u64, "counters agree with the stream");
        // A suffix of 1, 2, 3: contiguous, and ending at 3.
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a gap in the reader's stream: {seqs:?}");
        assert_eq!(seqs.last(), Some(&3), "the stream stops short: {seqs:?}");
    });
}

/// The worker delivering a thread create (stream position `seq`) through the reader's
/// sink, as the driver does: a read it fills lands in `pending`'s completed list.
fn deliver_thread_create(channel: &notifyring::reader::Channel<ModelLock>, pending: &ModelPending, seq: u64) {
    use notifyring::delivered::Delivered;
    use notifyring::vocab::process::Origin;
    use notifyring::vocab::process::ProcessName;
    let event = Event::ThreadCreate { pid: 10, tid: seq, creator: ClientId { pid: 10, tid: 1 } };
    let encoded = notifyring::record::encode(Stamp::default(), &event, Config::DEFAULT.caps);
    let mut bytes = encoded.head.to_vec();
    bytes.extend(encoded.first.iter().chain(encoded.second).flat_map(|u| u.to_ne_bytes()));
    let record = notifyring::record::decode(&bytes).unwrap();
    let d = Delivered {
        seq,
        record: &record,
        bytes: &bytes,
        origin: Origin::Local,
        process: ProcessName::Unknown,
        token: None,
        start: None,
    };
    let mut sink = notifyring::reader::ReaderSink {
        device: ModelDevice { channel, pending },
        output: notifyring::config::DebuggerOutput::Always,
        debugger: Quiet,
    };
    sink.delivered(&d);
}
