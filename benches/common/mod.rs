//! What the benchmarks share: one payload mix, and the push variants compared on it.
//!
//! Every variant does the same work per event: read the time-stamp counter, lay the
//! event out (the same 72-byte head `record::encode` builds, plus the UTF-16 strings),
//! and hand it to its queue. Only the queue differs:
//!
//! * `Floor`: copy into a buffer at a position taken by one `fetch_add` — the
//!   hardware floor for a push (no wrap-around, no commit, no consumer protocol);
//! * `Record`: notifyring's `Pipeline::record`, the entry point the callbacks call;
//! * `Holding`: the same, with a process create holding its process the way the
//!   driver's process callback does (`Pipeline::record_holding`; an atomic increment
//!   stands in for `ObfReferenceObject`);
//! * `ArrayQueue`: crossbeam-queue's bounded MPMC queue of fixed 640-byte slots;
//! * `MutexAlloc`: `Mutex<VecDeque<Box<[u16]>>>` with one exact-size heap allocation per
//!   event, the pattern of the best-known book sample and most open-source monitors.
//!
//! Each variant has an untimed `drain` that empties it between timed chunks; the
//! notifyring drain is the real worker (`run_worker`: decode, name, format).

#![allow(dead_code, reason = "each bench uses a different subset")]

pub mod stages;

pub use notifyring::replay::ticker;

use crossbeam_queue::ArrayQueue;
use notifyring::config::Config;
use notifyring::event::{ClientId, Event, Stamp};
use notifyring::record::{self, Caps, HEAD};
use notifyring::ring::Ring;
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name};
use notifyring::worker::format::Line;
use notifyring::worker::{Host, Sink};
use notifyring::{Pipeline, Stats, WorkQueue};
use std::collections::VecDeque;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Events pushed per timed chunk; each variant is drained between chunks.
pub const CHUNK: usize = 8192;

/// Image path and command line lengths of the process creates, in UTF-16 units.
pub const IMAGE_UNITS: usize = 60;
/// See [`IMAGE_UNITS`].
pub const COMMAND_LINE_UNITS: usize = 200;

fn units(text: &str, len: usize) -> &'static [u16] {
    let mut v: Vec<u16> = text.encode_utf16().cycle().take(len).collect();
    v.resize(len, u16::from(b' '));
    Box::leak(v.into_boxed_slice())
}

/// A process create with a 60-unit image path and a 200-unit command line.
#[must_use]
pub fn process_create() -> Event<'static> {
    let image = units("C:\\Program Files\\Contoso\\Monitoring Agent\\bin\\agent-host.exe", IMAGE_UNITS);
    let command_line = units(
        "\"C:\\Program Files\\Contoso\\Monitoring Agent\\bin\\agent-host.exe\" --type=renderer --lang=en-US \
         --service-sandbox-type=none --mojo-platform-channel-handle=2044 --field-trial-handle=1980,i,1 /prefetch:1 ",
        COMMAND_LINE_UNITS,
    );
    Event::ProcessCreate {
        pid: 4242,
        parent_pid: 868,
        creator: ClientId { pid: 868, tid: 1234 },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(image),
        command_line: Some(command_line),
    }
}

/// A thread create (ids only).
#[must_use]
pub const fn thread_create() -> Event<'static> {
    Event::ThreadCreate { pid: 4242, tid: 5000, creator: ClientId { pid: 4242, tid: 4996 } }
}

/// A thread exit (ids only).
#[must_use]
pub const fn thread_exit() -> Event<'static> {
    Event::ThreadExit { pid: 4242, tid: 5000 }
}

/// A user-mode image load with a 60-unit path (the paired bench's per-kind figures).
#[must_use]
pub fn image_load() -> Event<'static> {
    let image = units("\\Device\\HarddiskVolume3\\Windows\\System32\\contoso-agent-helper.dll", IMAGE_UNITS);
    Event::ImageLoad {
        pid: 4242,
        base: 0x7ff8_1234_0000,
        size: 0x1_8000,
        kernel_image: false,
        signature_level: 12,
        signature_type: 1,
        image: Some(image),
    }
}

/// The mix: one process create per three ids-only thread events, cycled.
#[must_use]
pub fn mix() -> [Event<'static>; 4] {
    [process_create(), thread_create(), thread_exit(), thread_create()]
}

/// The payloads benchmarked: the mix, and each shape alone.
#[must_use]
pub fn payloads() -> Vec<(&'static str, [Event<'static>; 4])> {
    vec![("mix", mix()), ("process_create", [process_create(); 4]), ("thread_create", [thread_create(); 4])]
}

/// A push target.
pub trait Variant: Sync {
    /// Name in reports.
    const NAME: &'static str;
    /// One push, stamped with `ticks`. False if the event was refused (must not happen
    /// in the benchmarks: the chunk fits).
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool;
    /// Empties the queue (single consumer, no producer running).
    fn drain(&self);
}

/// Caps large enough for the payloads, so every variant copies the same bytes.
const CAPS: Caps = Caps { image: 1024, command_line: 8192 };

// ---------------------------------------------------------------------------------------

/// The bytes of UTF-16 units, as the ring copies them.
const fn bytes_of(units: &[u16]) -> &[u8] {
    // SAFETY: the same memory, viewed as bytes: `u16` has no padding, every byte is a
    // valid `u8`, and the lifetime is the input's.
    unsafe { std::slice::from_raw_parts(units.as_ptr().cast::<u8>(), size_of_val(units)) }
}

/// The hardware floor: timestamp, one `fetch_add`, copy the snapshot bytes (the same
/// three copies the ring makes: head, image, command line).
///
/// Single producer only (`&mut self`): it has no protocol that would make two safe.
pub struct Floor {
    position: AtomicU64,
    /// Where [`Floor::drain`] stopped.
    drained: u64,
    mask: u64,
    buf: Box<[u8]>,
}

impl Floor {
    /// A floor writing into `bytes` (a power of two) of buffer.
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        // Slack past the end so that a record starting near it never wraps; filled (not
        // calloc-zeroed) so every page is mapped before the first timed push.
        let buf = vec![0xa5u8; bytes + 64 * 1024].into_boxed_slice();
        Self { position: AtomicU64::new(0), drained: 0, mask: bytes as u64 - 1, buf }
    }

    /// Untimed, between chunks: zeroes what was written since the last drain, as the
    /// ring's consumer zeroes what it consumed, so that the floor's memory is in the same
    /// cache state as a ring's when the next chunk writes it (a chunk of large records
    /// wraps onto memory the previous chunk's drain just touched).
    pub fn drain(&mut self) {
        let end = *self.position.get_mut();
        let mut at = self.drained;
        while at < end {
            let offset = usize::try_from(at & self.mask).unwrap_or(0);
            let run =
                (usize::try_from(self.mask).unwrap_or(0) + 1 - offset).min(usize::try_from(end - at).unwrap_or(0));
            // In 4 KiB pieces: one large `fill` is a `memset` that may use non-temporal
            // stores and leave the lines out of the cache, where the ring's consumer
            // (record by record) leaves them in it.
            for piece in self.buf[offset..offset + run].chunks_mut(4096) {
                piece.fill(0);
            }
            at += run as u64;
        }
        self.drained = end;
    }

    /// One push.
    #[inline]
    pub fn push(&mut self, ticks: u64, cpu: u32, event: &Event<'_>) {
        let encoded = record::encode(Stamp { ticks, cpu }, event, CAPS);
        let (first, second) = (size_of_val(encoded.first), size_of_val(encoded.second));
        let len = (8 + HEAD + first + second + 7) & !7;
        let at = usize::try_from(self.position.fetch_add(len as u64, Ordering::Relaxed) & self.mask).unwrap_or(0);
        let Some(dst) = self.buf.get_mut(at..at + len) else { return };
        dst[..8].copy_from_slice(&(len as u64).to_ne_bytes());
        // The payload as the ring copies it (`Words::write_record`): one bounds check, then
        // three `copy_nonoverlapping`s (slice copies with their own checks cost the floor
        // a few ns more on large records, which would flatter the record path).
        let bytes = dst.as_mut_ptr();
        let parts =
            [(8, &encoded.head[..]), (8 + HEAD, bytes_of(encoded.first)), (8 + HEAD + first, bytes_of(encoded.second))];
        for (offset, src) in parts {
            // SAFETY: `offset + src.len()` <= `len` = `dst.len()` (len counts the header,
            // the head and both strings); the source is not this buffer.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), bytes.wrapping_add(offset), src.len()) };
        }
        black_box(dst);
    }
}

/// The two-producer floor: [`Floor`]'s timestamp, `fetch_add` and copies, at a position
/// and in memory private to each producer: nothing shared, which is what per-processor
/// rings aim at (the honest yardstick for two producers, rather than twice one).
pub struct FloorPair([crossbeam_utils::CachePadded<std::cell::UnsafeCell<Floor>>; 2]);

// SAFETY: producer `cpu` only ever touches floor `cpu % 2` (the benchmark runs one thread
// per processor number), so no floor is shared between threads.
unsafe impl Sync for FloorPair {}

impl FloorPair {
    /// Two floors of `bytes` each.
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        Self([
            crossbeam_utils::CachePadded::new(std::cell::UnsafeCell::new(Floor::new(bytes))),
            crossbeam_utils::CachePadded::new(std::cell::UnsafeCell::new(Floor::new(bytes))),
        ])
    }
}

impl Variant for FloorPair {
    const NAME: &'static str = "floor";

    #[inline]
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool {
        let cell = &self.0[usize::try_from(cpu).unwrap_or(0) % 2];
        // SAFETY: only the producer of processor `cpu` uses this floor (see `Sync`).
        unsafe { (*cell.get()).push(ticks, cpu, event) };
        true
    }

    fn drain(&self) {
        for cell in &self.0 {
            // SAFETY: `drain` runs with no producer running (the `Variant` contract), so
            // nothing else touches either floor.
            unsafe { (*cell.get()).drain() };
        }
    }
}

/// The protocol floor: [`Floor`]'s timestamp and copies, with the memory operations
/// notifyring's protocol needs per event and nothing else: a plain load of the consumer
/// word, one CAS on a shared producer word (the reservation, in place of the floor's
/// `fetch_add`: one locked instruction either way), a release store of the header (the
/// commit) and a `SeqCst` load of a shared state word (the schedule's check; a plain load
/// on x86-64). `record` over this floor is the cost of the code (encode,
/// bounds, the pipeline's branches); this floor over [`Floor`] is the cost of the protocol.
pub struct ProtocolFloor {
    producer: crossbeam_utils::CachePadded<AtomicU64>,
    consumer: crossbeam_utils::CachePadded<AtomicU64>,
    state: crossbeam_utils::CachePadded<AtomicU64>,
    mask: u64,
    words: Box<[AtomicU64]>,
}

impl ProtocolFloor {
    /// As [`Floor::drain`]: zeroes what was written since the last drain (and moves the
    /// consumer word, as the ring's consumer does).
    pub fn drain(&mut self) {
        let end = *self.producer.get_mut();
        let mut at = *self.consumer.get_mut();
        while at < end {
            let index = usize::try_from((at & self.mask) / 8).unwrap_or(0);
            self.words[index].store(0, Ordering::Relaxed);
            at += 8;
        }
        *self.consumer.get_mut() = end;
    }
}

impl ProtocolFloor {
    /// A protocol floor over `bytes` (a power of two) of buffer, like [`Floor::new`].
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        let words = (0..(bytes + 64 * 1024) / 8).map(|_| AtomicU64::new(0xa5a5_a5a5_a5a5_a5a5)).collect();
        Self {
            producer: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
            consumer: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
            state: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
            mask: bytes as u64 - 1,
            words,
        }
    }

    /// One push. Single producer (`&mut self`), though the CAS is the real locked one.
    #[inline]
    #[expect(clippy::needless_pass_by_ref_mut, reason = "single producer: the copies are not atomic")]
    pub fn push(&mut self, ticks: u64, cpu: u32, event: &Event<'_>) {
        let encoded = record::encode(Stamp { ticks, cpu }, event, CAPS);
        let (first, second) = (size_of_val(encoded.first), size_of_val(encoded.second));
        let len = (8 + HEAD + first + second + 7) & !7;
        // Relaxed: the CAS below validates the guess.
        let mut word = self.producer.load(Ordering::Relaxed);
        // Acquire, as the ring's reservation reads the consumer position.
        black_box(self.consumer.load(Ordering::Acquire));
        loop {
            // SeqCst, as the ring's Dekker RMW; one producer, so it succeeds first time.
            match self.producer.compare_exchange_weak(word, word + len as u64, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        let at = usize::try_from((word & self.mask) / 8).unwrap_or(0);
        let Some(dst) = self.words.get(at..at + len / 8) else { return };
        let bytes = dst.as_ptr().cast::<u8>().cast_mut();
        let copy = |offset: usize, src: &[u8]| {
            // SAFETY: `offset + src.len()` is within `dst` (len counts the head and both
            // strings after the 8-byte header); this floor's only producer is `&mut self`,
            // so nothing else accesses these words meanwhile; the source is not this buffer.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), bytes.wrapping_add(offset), src.len()) };
        };
        copy(8, &encoded.head);
        copy(8 + HEAD, bytes_of(encoded.first));
        copy(8 + HEAD + first, bytes_of(encoded.second));
        // Release: the commit, as the ring's.
        dst[0].store(len as u64, Ordering::Release);
        // SeqCst: the schedule's check of the worker's state after the commit.
        black_box(self.state.load(Ordering::SeqCst));
    }
}

/// The ring alone: `record::encode`, then `Ring::reserve`, `Reservation::write` and
/// `Reservation::commit` on a bare [`Ring`] (no pipeline: no processor's ring to pick, no
/// schedule to wake, no counters). Between [`ProtocolFloor`] and [`Record`], it tells the
/// ring's code from the pipeline's.
pub struct RingOnly(pub Ring);

impl RingOnly {
    /// A ring of `bytes`.
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        Self(Ring::try_new(bytes).expect("a valid ring size"))
    }
}

impl Variant for RingOnly {
    const NAME: &'static str = "ring";

    #[inline]
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool {
        let encoded = record::encode(Stamp { ticks, cpu }, event, CAPS);
        let Ok(reservation) = Ring::reserve(&self.0, encoded.payload_len()) else { return false };
        let written = reservation.write(&encoded.head, encoded.first, encoded.second);
        reservation.commit();
        written
    }

    fn drain(&self) {
        // SAFETY: `drain` runs with no producer running and is this ring's only consumer.
        while let notifyring::ring::Pop::Record { value, .. } = unsafe { self.0.pop(|_, bytes| bytes.len()) } {
            black_box(value);
        }
    }
}

// ---------------------------------------------------------------------------------------

/// The work queue for benchmarks: remembers that the work item was queued; the bench
/// runs the routine itself when it drains.
#[derive(Default)]
pub struct FlagQueue(pub AtomicBool);

impl WorkQueue for FlagQueue {
    fn queue(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// The bench drains by hand until the rings are empty: no timer needed.
    fn arm_sweep(&self) {}
}

/// A worker host that prints nowhere (but looks at every byte count).
#[derive(Default)]
pub struct NullEnv {
    /// Bytes "printed".
    pub bytes: u64,
    /// Lines "printed".
    pub lines: u64,
}

impl Host for NullEnv {
    fn process_image(&mut self, _pid: u64, name: &mut Name) -> Lookup {
        *name = Name::from_path("C:\\Windows\\System32\\svchost.exe".encode_utf16());
        Lookup::Found
    }
    fn now_ticks(&mut self) -> u64 {
        0
    }
}

impl Sink for NullEnv {
    fn print(&mut self, line: Line<'_>) {
        self.bytes += black_box(line.text()).len() as u64;
        self.lines += 1;
    }
}

/// notifyring's record path on a pipeline of its own.
pub struct Record {
    /// The pipeline.
    pub pipeline: Pipeline<FlagQueue>,
    env: Mutex<NullEnv>,
}

impl Record {
    /// A pipeline with a ring of `ring_bytes`; `omit_command_line` only makes the
    /// untimed drain cheaper (the record path copies the command line either way).
    #[must_use]
    pub fn new(ring_bytes: usize, omit_command_line: bool) -> Self {
        // Two processors, one ring each (the two-producer benchmarks push on 0 and 1).
        Self::with_processors(ring_bytes, 2, omit_command_line)
    }

    /// [`Record::new`] with `processors` rings sharing `ring_bytes`.
    #[must_use]
    pub fn with_processors(ring_bytes: usize, processors: u32, omit_command_line: bool) -> Self {
        let config =
            Config { ring_bytes, processors, caps: CAPS, omit_command_line, stats_interval_s: 0, ..Config::DEFAULT };
        let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
        let clock = Clock { start_ticks: 0, frequency: 1_000_000_000 };
        let pipeline = Pipeline::new(&config, clock, FlagQueue::default(), stats).expect("a valid ring size");
        Self { pipeline, env: Mutex::new(NullEnv::default()) }
    }

    /// Runs the work item routine while it is queued: the real drain, decode and format.
    /// Returns the records delivered so far (all runs).
    pub fn run_worker(&self) -> u64 {
        let mut env = self.env.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while self.pipeline.queue().0.swap(false, Ordering::Acquire) {
            self.pipeline.run_worker(&mut *env);
        }
        drop(env);
        self.pipeline.stats().snapshot().delivered_total()
    }
}

impl Variant for Record {
    const NAME: &'static str = "record";

    #[inline]
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool {
        self.pipeline.record(Stamp { ticks, cpu }, event) != notifyring::Recorded::Lost
    }

    fn drain(&self) {
        self.run_worker();
        assert_eq!(self.pipeline.stats().snapshot().lost_total(), 0, "the benchmark chunk overflowed the ring");
    }
}

/// [`Record`], with process creates holding their process (`Pipeline::record_holding`).
pub struct Holding {
    /// The pipeline and its drain.
    pub record: Record,
    /// Stands in for the process object's reference count.
    references: AtomicU64,
}

impl Holding {
    /// On a pipeline like [`record`]'s.
    #[must_use]
    pub fn new() -> Self {
        Self { record: record(), references: AtomicU64::new(1) }
    }
}

impl Variant for Holding {
    const NAME: &'static str = "record_holding";

    #[inline]
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool {
        let stamp = Stamp { ticks, cpu };
        let p = &self.record.pipeline;
        let outcome = if matches!(event, Event::ProcessCreate { .. }) {
            // Relaxed: a reference count, as ObfReferenceObject's interlocked increment.
            p.record_holding(stamp, event, 0xffff_c000_0000_1000, || {
                self.references.fetch_add(1, Ordering::Relaxed);
            })
        } else {
            p.record(stamp, event)
        };
        outcome != notifyring::Recorded::Lost
    }

    fn drain(&self) {
        Variant::drain(&self.record);
    }
}

// ---------------------------------------------------------------------------------------

/// Room in a fixed slot: the longest image path plus command line of the payloads, rounded
/// so the slot is 640 bytes.
pub const SLOT_UNITS: usize = 288;

/// A fixed-size snapshot: the same 72-byte head, then the strings; the tail past the
/// strings is left uninitialised rather than zeroed (zeroing would cost the slot more).
pub struct Slot {
    head: [u8; HEAD],
    units: [MaybeUninit<u16>; SLOT_UNITS],
}

/// crossbeam-queue's `ArrayQueue` of fixed slots.
pub struct ArrayQueueOfSlots(pub ArrayQueue<Slot>);

impl Variant for ArrayQueueOfSlots {
    const NAME: &'static str = "arrayqueue";

    #[inline]
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool {
        let encoded = record::encode(Stamp { ticks, cpu }, event, CAPS);
        let mut slot = Slot { head: encoded.head, units: [const { MaybeUninit::uninit() }; SLOT_UNITS] };
        let (a, b) = slot.units.split_at_mut(encoded.first.len().min(SLOT_UNITS));
        for (d, s) in a.iter_mut().zip(encoded.first) {
            d.write(*s);
        }
        for (d, s) in b.iter_mut().zip(encoded.second) {
            d.write(*s);
        }
        self.0.push(slot).is_ok()
    }

    fn drain(&self) {
        while let Some(slot) = self.0.pop() {
            black_box(&slot.head);
        }
    }
}

// ---------------------------------------------------------------------------------------

/// `Mutex<VecDeque<Box<[u16]>>>`: one exact-size allocation per event (head + strings).
pub struct MutexAlloc(pub Mutex<VecDeque<Box<[u16]>>>);

impl MutexAlloc {
    /// With room for `capacity` entries reserved up front (so the deque never grows
    /// inside a timed chunk).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self(Mutex::new(VecDeque::with_capacity(capacity)))
    }
}

impl Variant for MutexAlloc {
    const NAME: &'static str = "mutex_alloc";

    #[inline]
    fn push(&self, ticks: u64, cpu: u32, event: &Event<'_>) -> bool {
        let encoded = record::encode(Stamp { ticks, cpu }, event, CAPS);
        let mut v = Vec::with_capacity(HEAD / 2 + encoded.first.len() + encoded.second.len());
        v.extend(encoded.head.chunks_exact(2).map(|p| u16::from_ne_bytes([p[0], p[1]])));
        v.extend_from_slice(encoded.first);
        v.extend_from_slice(encoded.second);
        let boxed = v.into_boxed_slice();
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push_back(boxed);
        true
    }

    fn drain(&self) {
        let mut q = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(b) = q.pop_front() {
            black_box(&b);
        }
    }
}

/// Builds the three queue variants, each sized for a [`CHUNK`] of the payloads.
#[must_use]
pub fn record() -> Record {
    // 8 MiB per processor's ring, as the single ring had.
    Record::new(16 << 20, true)
}

/// See [`record`].
#[must_use]
pub fn array_queue() -> ArrayQueueOfSlots {
    ArrayQueueOfSlots(ArrayQueue::new(CHUNK))
}

/// See [`record`].
#[must_use]
pub fn mutex_alloc() -> MutexAlloc {
    MutexAlloc::new(CHUNK)
}

// ---------------------------------------------------------------------------------------

/// Counts heap allocations per thread, so a producer sees only its own. Each bench
/// declares it its `#[global_allocator]`.
pub struct Counting;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// This thread's allocations so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.try_with(std::cell::Cell::get).unwrap_or(0)
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; counting touches only a
// thread-local integer (const-initialised, no destructor, so no allocation of its own).
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, which is `System.alloc`'s.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
