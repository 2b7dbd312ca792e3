//! The reader's share of the stream: a fixed byte FIFO of wire entries, who the reader
//! is, its loss count, and the protocol between the worker, the read dispatch and
//! cancellation.
//!
//! One lock guards it (a spin lock in the kernel: the cancel path can run
//! at `DISPATCH_LEVEL`); the pending reads sit in a queue with a lock of its own (the
//! kernel's cancel-safe IRP queue), always taken inside this one, never around it. The
//! queue is told which case it is in: inside this lock the channel hands it a [`Held`]
//! (in the kernel, proof that its caller already runs at `DISPATCH_LEVEL`). At most
//! [`wire::MAX_PENDING_READS`] reads wait; one more is refused at once. One read copies
//! at most [`FILL_BUDGET`] bytes of entries and the one entry that crosses it under the
//! lock, whatever its buffer's size; the rest stays buffered for the next read.
//!
//! With no reader attached (the usual case) the worker does not take the lock at all: an
//! atomic hint, written under the lock at attach and detach, says whether to
//! ([`Channel::reader_hint`]).
//!
//! The invariant that makes the protocol right: **a read is pending only while the
//! buffer holds nothing to deliver.** The read dispatch checks the buffer and queues the
//! read under the lock; the worker appends and takes a pending read under the same lock.
//! So no read waits while there is data, and none is completed twice: a read is owned
//! by exactly one party at a time (the queue, the dispatch, the worker, or a canceller).

use alloc::vec::Vec;
use core::marker::PhantomData;

use super::wire::{self, BATCH_HEADER, EventEntry, LOST_ENTRY};
use crate::delivered::Delivered;
use crate::sync::{AtomicU32, Ordering, UnsafeCell};
use crate::vocab::clock::Clock;

/// The lock around a [`Channel`]: a spin lock in the kernel, a mutex on the host and in
/// loom models.
pub trait Lock {
    /// Runs `f` holding the lock.
    fn with<R>(&self, f: impl FnOnce() -> R) -> R;
}

/// A read request: the kernel's IRP, a test's vector.
pub trait Read {
    /// Where the batch goes.
    fn buffer(&mut self) -> &mut [u8];
}

/// Proof that the lock of a [`Channel`] with lock type `L` is held.
///
/// Only the channel makes one, inside its lock section, and lends it out for that
/// section only (it cannot be copied, kept, or handed to another thread). With the
/// kernel's spin lock, the holder runs at `DISPATCH_LEVEL`, so the read queue takes its
/// own spin lock without raising the IRQL.
pub struct Held<'a, L> {
    /// The lock section it was made in; `*const ()` keeps it on the holding thread.
    section: PhantomData<(&'a L, *const ())>,
}

/// The queue of pending reads (the kernel's cancel-safe IRP queue).
///
/// A canceller may take any read out of it at any time; the channel only inserts, counts
/// and takes the next, inside its lock ([`Held`]) — except when a reader goes, when it
/// takes what is left outside its lock.
pub trait Pending<L> {
    /// The request type.
    type Read: Read;
    /// Queues `read` (the channel's lock is held); gives it back if it was already
    /// cancelled (complete it cancelled).
    ///
    /// # Errors
    /// The read itself, when it must not be queued.
    fn insert(&self, held: &Held<'_, L>, read: Self::Read) -> Result<(), Self::Read>;
    /// How many reads are queued (the channel's lock is held, so no insert runs
    /// meanwhile; a canceller may only lower it).
    fn queued(&self, held: &Held<'_, L>) -> usize;
    /// Takes the oldest pending read, if any: inside the channel's lock (`Some`: the
    /// worker filling it) or outside it (`None`: a reader's cleanup, unload).
    fn remove_next(&self, held: Option<&Held<'_, L>>) -> Option<Self::Read>;
    /// Completes `read` with success, `filled` bytes of its buffer written: outside the
    /// channel's lock, once the worker's delivery handed it back.
    fn complete(&self, read: Self::Read, filled: usize);
}

/// What became of a read.
#[derive(Debug)]
pub enum ReadOutcome<R> {
    /// Filled with this many bytes: complete it with success.
    Filled(R, usize),
    /// Queued: the worker (or a canceller) completes it later.
    Pending,
    /// Already cancelled: complete it cancelled.
    Cancelled(R),
    /// Not the attached reader: refuse it.
    NotReader(R),
    /// Buffer smaller than [`wire::MIN_READ`]: refuse it.
    TooSmall(R),
    /// [`wire::MAX_PENDING_READS`] reads wait already: refuse it.
    TooMany(R),
}

/// Bytes of entries one read takes before it stops, after the entry that reaches them.
///
/// The copy runs under the channel's spin lock (`DISPATCH_LEVEL`), so it is bounded
/// by this plus one entry, not by the read's buffer, which may be megabytes. Entries are
/// never split and never reordered: the rest waits for the next read.
pub const FILL_BUDGET: usize = 64 << 10;

/// The most one read returns.
///
/// A batch header, entries up to [`FILL_BUDGET`], the largest entry that crosses it, and
/// the LOST entry that may follow the last one. It fits [`wire::MIN_READ`], so every
/// entry fits one read and a larger buffer gains nothing.
pub const MAX_BATCH: usize = BATCH_HEADER + FILL_BUDGET + wire::MAX_ENTRY + LOST_ENTRY;
const _: () = assert!(MAX_BATCH <= wire::MIN_READ);

/// The reader's counters (the status IOCTL reports them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaderCounters {
    /// Readers attached since load.
    pub attaches: u64,
    /// Events appended for the current reader.
    pub events: u64,
    /// Events the current reader lost (its buffer full, or lost before the ring).
    pub lost: u64,
    /// Of those, events dropped because the reader's buffer was full.
    pub dropped_full: u64,
    /// Events handed to the current reader in completed reads.
    pub events_read: u64,
    /// Lost events reported to the current reader in LOST entries.
    pub lost_read: u64,
    /// Reads completed with data.
    pub reads: u64,
    /// Reads that had to wait.
    pub reads_pended: u64,
}

/// A byte FIFO over fixed memory; entries may wrap around the end.
struct Fifo {
    bytes: Vec<u8>,
    head: usize,
    len: usize,
}

impl Fifo {
    const fn free(&self) -> usize {
        self.bytes.len().saturating_sub(self.len)
    }

    fn push(&mut self, part: &[u8]) {
        let cap = self.bytes.len();
        if part.len() > self.free() || cap == 0 {
            return;
        }
        let start = self.head.wrapping_add(self.len) % cap;
        let first = part.len().min(cap.saturating_sub(start));
        let (a, b) = part.split_at(first);
        if let Some(dst) = self.bytes.get_mut(start..start.wrapping_add(first)) {
            dst.copy_from_slice(a);
        }
        if let Some(dst) = self.bytes.get_mut(..b.len()) {
            dst.copy_from_slice(b);
        }
        self.len = self.len.wrapping_add(part.len());
    }

    fn push_zeros(&mut self, n: usize) {
        self.push(&[0u8; 8][..n.min(8)]);
    }

    /// Copies `out.len()` bytes from the front without taking them.
    fn peek(&self, out: &mut [u8]) -> bool {
        let cap = self.bytes.len();
        if out.len() > self.len || cap == 0 {
            return false;
        }
        let first = out.len().min(cap.saturating_sub(self.head));
        let (a, b) = out.split_at_mut(first);
        match (self.bytes.get(self.head..self.head.wrapping_add(first)), self.bytes.get(..b.len())) {
            (Some(x), Some(y)) => {
                a.copy_from_slice(x);
                b.copy_from_slice(y);
                true
            }
            _ => false,
        }
    }

    fn take(&mut self, out: &mut [u8]) -> bool {
        if !self.peek(out) {
            return false;
        }
        self.head = self.head.wrapping_add(out.len()) % self.bytes.len().max(1);
        self.len = self.len.saturating_sub(out.len());
        true
    }

    const fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// Everything under the lock.
pub struct State {
    fifo: Fifo,
    /// The attached reader (the kernel's file object, as a number; never sent anywhere).
    reader: Option<usize>,
    /// Events lost for the reader not yet reported: (stream position before the first,
    /// count, `wire::LOST_*` reasons).
    lost: Option<(u64, u64, u8)>,
    /// Batch flags (`wire::FLAG_*`).
    flags: u32,
    /// Entries in the FIFO.
    entries: u32,
    clock: Clock,
    counters: ReaderCounters,
}

impl State {
    /// Whether a reader is attached.
    #[must_use]
    pub const fn attached(&self) -> bool {
        self.reader.is_some()
    }

    /// The counters.
    #[must_use]
    pub const fn counters(&self) -> ReaderCounters {
        self.counters
    }

    /// The buffer's capacity in bytes.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.fifo.bytes.len()
    }

    /// Bytes waiting for the reader.
    #[must_use]
    pub const fn buffered(&self) -> usize {
        self.fifo.len
    }

    /// Whether a read would get anything: buffered entries, or a LOST not yet appended.
    #[must_use]
    pub const fn has_data(&self) -> bool {
        self.fifo.len > 0 || self.lost.is_some()
    }

    fn note_lost(&mut self, seq: u64, count: u64, reason: u8) {
        self.counters.lost = self.counters.lost.wrapping_add(count);
        // Everything between two drops was dropped too, so the runs join.
        self.lost = Some(
            self.lost.map_or((seq, count, reason), |(first, n, why)| (first, n.wrapping_add(count), why | reason)),
        );
    }

    /// Appends the pending LOST entry if it fits with `then` more bytes after it.
    fn flush_lost(&mut self, then: usize) -> bool {
        let Some((seq, count, reason)) = self.lost else { return true };
        if self.fifo.free() < LOST_ENTRY.saturating_add(then) {
            return false;
        }
        self.fifo.push(&wire::lost_entry(seq, count, reason));
        self.entries = self.entries.wrapping_add(1);
        self.lost = None;
        true
    }

    fn push_event(&mut self, d: &Delivered<'_>) {
        if self.reader.is_none() {
            return;
        }
        let token = d.token.map(wire::token_bytes);
        let entry: EventEntry<'_> = wire::event_entry(d, token.as_ref().map_or(&[], |t| t.as_slice()));
        let len = entry.len();
        if !self.flush_lost(len) || self.fifo.free() < len {
            self.counters.dropped_full = self.counters.dropped_full.wrapping_add(1);
            self.note_lost(d.seq.wrapping_sub(1), 1, wire::LOST_READER);
            return;
        }
        self.fifo.push(&entry.head);
        for unit in entry.name {
            self.fifo.push(&unit.to_le_bytes());
        }
        self.fifo.push(entry.token);
        self.fifo.push(entry.start());
        self.fifo.push(entry.record_head());
        self.fifo.push(entry.record_rest);
        self.fifo.push_zeros(entry.pad);
        self.entries = self.entries.wrapping_add(1);
        self.counters.events = self.counters.events.wrapping_add(1);
    }

    fn push_lost(&mut self, seq: u64, count: u64) {
        if self.reader.is_some() && count != 0 {
            // Kept as a pending LOST, so that it joins any drop right next to it.
            self.note_lost(seq, count, wire::LOST_RING);
        }
    }

    /// Moves whole entries into `out` behind a batch header, in order, until they reach
    /// [`FILL_BUDGET`] bytes or `out` is full, then the pending LOST if everything
    /// buffered went and it fits (so it never overtakes an entry). Returns the bytes
    /// written (0: nothing).
    fn fill(&mut self, out: &mut [u8]) -> usize {
        let mut at = BATCH_HEADER;
        let mut entries = 0u32;
        let mut events = 0u64;
        let mut lost = 0u64;
        while self.entries > 0 && at < BATCH_HEADER + FILL_BUDGET {
            let mut len = [0u8; 8];
            if !self.fifo.peek(&mut len[..]) {
                break;
            }
            let size = wire::entry_len(&len).unwrap_or(0);
            let Some(dst) = out.get_mut(at..at.saturating_add(size)) else { break };
            if !self.fifo.take(dst) {
                break;
            }
            if let Some(count) = wire::lost_count(dst) {
                lost = lost.wrapping_add(count);
            } else {
                events = events.wrapping_add(1);
            }
            at = at.wrapping_add(size);
            entries = entries.wrapping_add(1);
            self.entries = self.entries.wrapping_sub(1);
        }
        if self.entries == 0
            && let Some((seq, count, reason)) = self.lost
            && let Some(dst) = out.get_mut(at..at.wrapping_add(LOST_ENTRY))
        {
            dst.copy_from_slice(&wire::lost_entry(seq, count, reason));
            self.lost = None;
            lost = lost.wrapping_add(count);
            at = at.wrapping_add(LOST_ENTRY);
            entries = entries.wrapping_add(1);
        }
        if entries == 0 {
            return 0;
        }
        if self.entries == 0 {
            // Empty: start again at the front, so entries wrap less.
            self.fifo.clear();
        }
        if let Some(dst) = out.get_mut(..BATCH_HEADER) {
            dst.copy_from_slice(&wire::batch_header(at, entries, self.clock, self.flags));
        }
        let c = &mut self.counters;
        c.events_read = c.events_read.wrapping_add(events);
        c.lost_read = c.lost_read.wrapping_add(lost);
        c.reads = c.reads.wrapping_add(1);
        at
    }

    /// Attaches `reader` unless one is attached.
    fn attach(&mut self, reader: usize) -> bool {
        if self.reader.is_some() {
            return false;
        }
        self.reset();
        self.reader = Some(reader);
        self.counters =
            ReaderCounters { attaches: self.counters.attaches.wrapping_add(1), ..ReaderCounters::default() };
        true
    }

    const fn reset(&mut self) {
        self.fifo.clear();
        self.lost = None;
        self.entries = 0;
    }
}

/// The reader's channel: its state under a [`Lock`].
pub struct Channel<L: Lock> {
    lock: L,
    state: UnsafeCell<State>,
    /// 1 while a reader is attached: written under the lock, read without it by the
    /// worker, so that with no reader (the usual case) a record costs no spin lock.
    attached: AtomicU32,
}

// SAFETY: the state is touched only inside `lock.with`, which serialises every access.
unsafe impl<L: Lock + Sync> Sync for Channel<L> {}
// SAFETY: nothing in it is tied to a thread.
unsafe impl<L: Lock + Send> Send for Channel<L> {}

impl<L: Lock> Channel<L> {
    /// A channel with a `bytes`-byte buffer (allocated here, at driver entry); `None` if
    /// the allocation fails.
    pub fn try_new(bytes: usize, clock: Clock, lock: L) -> Option<Self> {
        let fifo = Fifo { bytes: crate::fallible::try_vec_with(bytes, || 0u8)?, head: 0, len: 0 };
        let state =
            State { fifo, reader: None, lost: None, flags: 0, entries: 0, clock, counters: ReaderCounters::default() };
        Some(Self { lock, state: UnsafeCell::new(state), attached: AtomicU32::new(0) })
    }

    /// Says in every batch that the driver omits command lines (`OmitCommandLine=1`:
    /// records carry none), so that the reader prints `<omitted>` as the debugger does.
    pub fn set_command_lines_omitted(&self, omitted: bool) {
        self.with(|s| {
            s.flags = if omitted {
                s.flags | wire::FLAG_COMMAND_LINES_OMITTED
            } else {
                s.flags & !wire::FLAG_COMMAND_LINES_OMITTED
            };
        });
    }

    /// Runs `f` on the state, holding the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.locked(|state, _| f(state))
    }

    /// Runs `f` on the state holding the lock, with the proof that it is held.
    fn locked<R>(&self, f: impl FnOnce(&mut State, &Held<'_, L>) -> R) -> R {
        self.lock.with(|| {
            self.state.with_mut(|state| {
                let held = Held { section: PhantomData };
                // SAFETY: the lock is held, so this is the only access.
                f(unsafe { &mut *state }, &held)
            })
        })
    }

    /// Attaches `reader` (an open with read access) if no reader is; its stream starts
    /// with the next record the worker delivers. False: another reader is attached.
    pub fn attach(&self, reader: usize) -> bool {
        self.with(|s| self.note(s.attach(reader)))
    }

    /// Records in the hint that a reader attached (`true`), under the lock.
    fn note(&self, attached: bool) -> bool {
        if attached {
            // Relaxed: a hint; the lock orders what it guards. See `reader_hint`.
            self.attached.store(1, Ordering::Relaxed);
        }
        attached
    }

    /// Whether a reader may be attached, without the lock: the worker's shortcut. A
    /// stale `false` right after an attach makes the worker pass a record by, as if it
    /// had come just before the attach (a reader's stream starts at some record, never
    /// mid-way); a stale `true` after a detach takes the lock and finds no reader.
    #[must_use]
    pub fn reader_hint(&self) -> bool {
        // Relaxed: pairs with nothing; only the lock orders the channel's state.
        self.attached.load(Ordering::Relaxed) != 0
    }

    /// A read on an open that could not say which access it wanted (Wine's creates carry
    /// no security context): such an open becomes the reader by reading. True if
    /// `reader` is the reader now (it was, or it just attached); false if another is.
    pub fn attach_at_read(&self, reader: usize) -> bool {
        // One lock section: no other open can attach between the check and the attach.
        self.with(|s| s.reader == Some(reader) || self.note(s.attach(reader)))
    }

    /// Detaches `reader` (its handle's cleanup) and hands back every pending read, to be
    /// completed cancelled by the caller outside the lock. Nothing if `reader` is not
    /// the attached one.
    pub fn detach<P: Pending<L>>(&self, reader: usize, pending: &P, mut cancelled: impl FnMut(P::Read)) {
        let was = self.with(|s| {
            if s.reader != Some(reader) {
                return false;
            }
            s.reader = None;
            s.reset();
            // Relaxed: a hint, written under the lock; see `reader_hint`.
            self.attached.store(0, Ordering::Relaxed);
            true
        });
        if was {
            // Outside the lock: the queue raises to take its own.
            while let Some(read) = pending.remove_next(None) {
                cancelled(read);
            }
        }
    }

    /// Unload: detaches whoever is attached and hands back every pending read, as
    /// [`Channel::detach`] does. Nothing (and no call on `pending`) if no reader is.
    pub fn detach_any<P: Pending<L>>(&self, pending: &P, cancelled: impl FnMut(P::Read)) {
        if let Some(reader) = self.with(|s| s.reader) {
            self.detach(reader, pending, cancelled);
        }
    }

    /// The read dispatch: fills `read` from the buffer, or queues it if there is
    /// nothing yet (checked and queued under the lock, see the module doc) and fewer than
    /// [`wire::MAX_PENDING_READS`] wait already.
    pub fn read<P: Pending<L>>(&self, reader: usize, pending: &P, mut read: P::Read) -> ReadOutcome<P::Read> {
        if read.buffer().len() < wire::MIN_READ {
            return ReadOutcome::TooSmall(read);
        }
        self.locked(|s, held| {
            if s.reader != Some(reader) {
                return ReadOutcome::NotReader(read);
            }
            if s.has_data() {
                let n = s.fill(read.buffer());
                return ReadOutcome::Filled(read, n);
            }
            // Counted and inserted in one section of the channel's lock, which every
            // insert needs: the count can only have dropped meanwhile (a cancel).
            if pending.queued(held) >= wire::MAX_PENDING_READS {
                return ReadOutcome::TooMany(read);
            }
            match pending.insert(held, read) {
                Ok(()) => {
                    s.counters.reads_pended = s.counters.reads_pended.wrapping_add(1);
                    ReadOutcome::Pending
                }
                Err(read) => ReadOutcome::Cancelled(read),
            }
        })
    }

    /// The worker, for each delivered record: appends it (or counts it lost for the
    /// reader) and, if a read is pending, fills it. The caller completes the returned
    /// read outside the lock. Never waits for the reader.
    pub fn deliver<P: Pending<L>>(&self, pending: &P, d: &Delivered<'_>) -> Option<(P::Read, usize)> {
        if !self.reader_hint() {
            return None;
        }
        self.locked(|s, held| {
            s.reader?;
            s.push_event(d);
            Self::complete_one(s, held, pending)
        })
    }

    /// The worker, for events lost before the ring: reported to the reader at their place.
    pub fn lost<P: Pending<L>>(&self, pending: &P, seq: u64, count: u64) -> Option<(P::Read, usize)> {
        if !self.reader_hint() {
            return None;
        }
        self.locked(|s, held| {
            s.reader?;
            s.push_lost(seq, count);
            Self::complete_one(s, held, pending)
        })
    }

    fn complete_one<P: Pending<L>>(s: &mut State, held: &Held<'_, L>, pending: &P) -> Option<(P::Read, usize)> {
        if !s.has_data() {
            return None;
        }
        let mut read = pending.remove_next(Some(held))?;
        let n = s.fill(read.buffer());
        Some((read, n))
    }
}
