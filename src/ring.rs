//! Step 3: the ring, after the Linux BPF ring buffer (`kernel/bpf/ringbuf.c`).
//!
//! Multi-producer, single-consumer, variable-length records in one preallocated
//! power-of-two byte buffer: reserve/commit, a BUSY bit, the consumer stops at a busy
//! record.
//!
//! Why by hand: a notify callback may not wait, allocate or spin on another thread.
//! crossbeam's `ArrayQueue` spins in `pop` while a producer is preempted mid-push and
//! holds fixed-size slots; heapless' MPMC queue is deprecated for the same reason; no
//! crate offers an allocation-free MPSC ring of variable-size records for `no_std`.
//!
//! # Layout
//! Positions are monotonically increasing byte counters; `pos & mask` is the offset.
//! A record is an 8-byte header word followed by its payload, padded to 8 bytes:
//!
//! ```text
//!  header: | lost-before (32) | BUSY (1) | PAD (1) | COMMITTED (1) | payload length (29) |
//! ```
//!
//! * COMMITTED: set in every published header, so even an empty payload reads non-zero.
//! * BUSY: reserved and being copied. A header that still reads 0 (reserved, not yet
//!   stamped) means the same: every word outside `[consumer, producer)` is 0, because
//!   the consumer zeroes what it consumed before releasing its position.
//! * PAD: a skip record filling the tail of the buffer, so no record straddles the end.
//! * lost-before: events lost (ring full) since the previous record; the consumer turns
//!   it into an in-band LOST marker at exactly this place in the stream.
//!
//! # Protocol
//! * Reserve: a bounded CAS loop advances `producer`; no lock, no wait. A full ring fails
//!   at once and the loss is counted.
//! * Commit: one RMW that clears BUSY (release for the payload, and the first half of
//!   the Dekker pair with the scheduler; see `schedule`).
//! * Consume: read the header at `consumer` (acquire); stop, without spinning, at a
//!   BUSY or unstamped one; otherwise lend the payload, zero the words, release the
//!   new `consumer` position.

use crate::sync::words::{Taken, Words};
use crate::sync::{AtomicU64, DEKKER_LOAD, DEKKER_RMW, Ordering, dekker_fence};
use crossbeam_utils::CachePadded;

const BUSY: u64 = 1 << 31;
const PAD: u64 = 1 << 30;
const COMMITTED: u64 = 1 << 29;
const LEN_MASK: u64 = COMMITTED - 1;
const LOST_SHIFT: u32 = 32;

/// Smallest ring: 4 KiB.
#[cfg(not(loom))]
pub const MIN_BYTES: usize = 4 << 10;
/// Smallest ring under loom: every word is a modelled object there, so models use
/// rings of a few records (the protocol does not depend on the size).
#[cfg(loom)]
pub const MIN_BYTES: usize = 512;
/// Largest ring: 256 MiB.
pub const MAX_BYTES: usize = 256 << 20;
/// A reservation gives up (and counts a loss) after this many lost CAS races. Each lost
/// race means another producer made progress, so this is only reached under contention
/// far beyond what the callbacks see; it keeps the callback's time bounded regardless.
const MAX_ATTEMPTS: u32 = 1024;

/// Whether `bytes` is a ring size [`Ring::try_new`] accepts: a power of two from
/// [`MIN_BYTES`] to [`MAX_BYTES`].
#[must_use]
pub const fn valid_size(bytes: usize) -> bool {
    bytes.is_power_of_two() && bytes >= MIN_BYTES && bytes <= MAX_BYTES
}

/// Whether a header word is published and no longer being copied.
const fn ready(header: u64) -> bool {
    header & COMMITTED != 0 && header & BUSY == 0
}

/// Why a reservation failed (the event is counted as lost either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Not enough free space.
    Full,
    /// Gave up after a bounded number (1024) of lost CAS races.
    Contended,
}

/// A reserved record: the producer owns its words until [`Reservation::commit`].
pub struct Reservation<'r> {
    ring: &'r Ring,
    /// Word index of the header.
    index: usize,
    /// Reserved payload length in bytes.
    len: u64,
    /// Committed header value (length and lost-before).
    header: u64,
}

impl Reservation<'_> {
    /// Copies the payload into the reserved words. Refuses (returns false, writing
    /// nothing) a payload that is not exactly the reserved length: writing past it would
    /// touch words another reservation owns. A refused record still commits, as zeros.
    #[inline]
    #[must_use]
    pub fn write(&self, head: &[u8; crate::sync::words::HEAD], first: &[u16], second: &[u16]) -> bool {
        let units = first.len().checked_add(second.len());
        let len = units.and_then(|u| u.checked_mul(2)).and_then(|b| b.checked_add(crate::sync::words::HEAD));
        if len.and_then(|b| u64::try_from(b).ok()) != Some(self.len) {
            return false;
        }
        // SAFETY: the CAS in `reserve` gave this producer sole ownership of the `len`
        // payload bytes after the header until it commits, and the payload is exactly
        // that long (checked above). `write_record` also refuses an out-of-bounds range.
        unsafe { self.ring.words.write_record(self.index.wrapping_add(1), head, first, second) }
    }

    /// Publishes the record: clears BUSY with the Dekker RMW (release for the payload to
    /// the consumer's Acquire in `pop`; `StoreLoad` before the caller's schedule check).
    #[inline]
    pub fn commit(self) {
        if let Some(h) = self.ring.words.header(self.index) {
            // Dekker RMW: Release half pairs with the Acquire header load in `pop`;
            // with the fence it pairs with the worker's idle RMW + `has_work` re-check.
            h.swap(self.header, DEKKER_RMW);
            dekker_fence();
        }
    }
}

/// What [`Ring::pop`] found at the consumer position.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<R> {
    /// A record: `lost_before` events were lost just before it.
    Record {
        /// Events lost (ring full) between the previous record and this one.
        lost_before: u32,
        /// What the consumer's closure returned for the payload.
        value: R,
    },
    /// Nothing reserved.
    Empty,
    /// The next record is reserved but not committed; its commit will wake the worker.
    Busy,
}

/// The ring. See the module documentation for the protocol.
pub struct Ring {
    /// Next free byte position. Only producers advance it, by CAS.
    producer: CachePadded<AtomicU64>,
    /// First unconsumed byte position. Only the consumer advances it (Release); every
    /// word in `[consumer, consumer + capacity)` outside `[consumer, producer)` is zero.
    consumer: CachePadded<AtomicU64>,
    /// Losses not yet attached to a record header. Touched by producers only when it is
    /// non-zero or they fail, so it stays a shared, clean cache line in the common case.
    lost_pending: CachePadded<AtomicU64>,
    words: Words,
    /// Capacity in bytes (a power of two).
    capacity: u64,
    /// `capacity - 1`: position → offset.
    mask: u64,
}

impl Ring {
    /// Allocates a zeroed ring of `bytes` (a power of two in [`MIN_BYTES`]..=[`MAX_BYTES`]).
    /// Returns `None` for any other size or when the allocator refuses.
    #[must_use]
    pub fn try_new(bytes: usize) -> Option<Self> {
        if !valid_size(bytes) {
            return None;
        }
        Some(Self {
            producer: CachePadded::new(AtomicU64::new(0)),
            consumer: CachePadded::new(AtomicU64::new(0)),
            lost_pending: CachePadded::new(AtomicU64::new(0)),
            words: Words::try_new(bytes / 8)?,
            capacity: bytes as u64,
            mask: bytes as u64 - 1,
        })
    }

    /// Capacity in bytes.
    #[must_use]
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes currently reserved and not yet consumed (a racy snapshot, for statistics).
    #[must_use]
    pub fn used(&self) -> u64 {
        // Relaxed: a statistic; no memory is accessed on the strength of it.
        let producer = self.producer.load(Ordering::Relaxed);
        // Relaxed: as above.
        let consumer = self.consumer.load(Ordering::Relaxed);
        producer.saturating_sub(consumer)
    }

    #[inline]
    const fn word(&self, pos: u64) -> usize {
        // The offset is below capacity (<= 256 MiB), so the cast is lossless.
        ((pos & self.mask) / 8) as usize
    }

    /// Reserves room for a payload of `payload_len` bytes. On failure the loss is
    /// counted for the in-band LOST marker and the caller returns at once.
    ///
    /// # Errors
    /// [`Loss`] when the ring is full or the reservation lost too many races.
    #[inline]
    pub fn reserve(&self, payload_len: usize) -> Result<Reservation<'_>, Loss> {
        let Some(total) = (payload_len as u64).checked_add(8 + 7).map(|n| n & !7) else {
            return Err(self.lose(Loss::Full));
        };
        if payload_len as u64 > LEN_MASK || total > self.capacity {
            return Err(self.lose(Loss::Full));
        }
        // Relaxed: only a starting guess; the CAS below validates it.
        let mut pos = self.producer.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            // Acquire: pairs with the Release store of `consumer` in `pop`, made after the
            // consumer zeroed the words it gave back; we may write them once we win.
            let consumer = self.consumer.load(Ordering::Acquire);
            // Wrapping arithmetic below cannot wrap: offset < capacity, total <= capacity,
            // and both are at most 256 MiB.
            let offset = pos & self.mask;
            let pad = if offset.wrapping_add(total) > self.capacity { self.capacity.wrapping_sub(offset) } else { 0 };
            let end = pos.wrapping_add(pad).wrapping_add(total);
            match end.checked_sub(consumer) {
                // `pos` is older than the consumer: another producer moved on; reload.
                None => {
                    // Relaxed: as the first load.
                    pos = self.producer.load(Ordering::Relaxed);
                    continue;
                }
                Some(needed) if needed > self.capacity => return Err(self.lose(Loss::Full)),
                Some(_) => {}
            }
            // Relaxed on both paths: the CAS only hands out disjoint ranges; the data the
            // range needs (zeroed words) was acquired from `consumer` above, and the
            // consumer learns of the record through its header, not through `producer`.
            match self.producer.compare_exchange_weak(pos, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(self.stamp(pos, pad, payload_len as u64)),
                Err(actual) => pos = actual,
            }
        }
        Err(self.lose(Loss::Contended))
    }

    /// After a won CAS: writes the skip record (if any) and the BUSY header.
    #[inline]
    fn stamp(&self, pos: u64, pad: u64, payload_len: u64) -> Reservation<'_> {
        if pad != 0
            && let Some(h) = self.words.header(self.word(pos))
        {
            {
                // Dekker RMW as in `commit`: the pad is a committed record whose only
                // wake-up comes from the commit of the record behind it, so it must be
                // ordered before that commit's schedule check like the record itself.
                h.swap(COMMITTED | PAD | pad.wrapping_sub(8), DEKKER_RMW);
            }
        }
        let index = self.word(pos.wrapping_add(pad));
        if let Some(h) = self.words.header(index) {
            // Relaxed: diagnostic only; a consumer treats BUSY exactly like the 0 it
            // replaces and reads nothing else on its strength.
            h.store(BUSY | payload_len, Ordering::Relaxed);
        }
        let lost = u64::from(self.take_lost_pending()) << LOST_SHIFT;
        Reservation { ring: self, index, len: payload_len, header: COMMITTED | payload_len | lost }
    }

    /// Takes up to `u32::MAX` pending losses for this record's header.
    #[inline]
    fn take_lost_pending(&self) -> u32 {
        // Relaxed: the count travels to the consumer inside our header (released by the
        // commit); the RMWs below keep the total exact between racing producers.
        if self.lost_pending.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        // Relaxed: as above.
        let taken = self.lost_pending.swap(0, Ordering::Relaxed);
        let kept = u32::try_from(taken).unwrap_or(u32::MAX);
        if u64::from(kept) < taken {
            // Relaxed: as above; the excess goes to a later record.
            self.lost_pending.fetch_add(taken - u64::from(kept), Ordering::Relaxed);
        }
        kept
    }

    #[cold]
    fn lose(&self, why: Loss) -> Loss {
        // Relaxed: the count is the data; RMWs keep it exact. It reaches the consumer
        // through a later record's header (released by that commit) or `take_trailing_losses`.
        self.lost_pending.fetch_add(1, Ordering::Relaxed);
        why
    }

    /// Whether the worker has something to do: a committed record at the consumer
    /// position or losses to report. The worker's re-check after going idle.
    ///
    /// Only atomic reads: a racing consumer makes the answer stale, never unsound.
    #[must_use]
    pub fn has_work(&self) -> bool {
        // Relaxed: any recent position will do; a stale one names a record that was
        // consumed, whose header reads 0 or has been reused (then it is work anyway).
        let pos = self.consumer.load(Ordering::Relaxed);
        let ready = self.words.header(self.word(pos)).is_some_and(|h| {
            // Dekker load: pairs with the RMW in `Reservation::commit` and `stamp`.
            let v = h.load(DEKKER_LOAD);
            ready(v)
        });
        // Relaxed: pending losses are reported on a best-effort schedule (next record,
        // next empty ring, or unload); this only lets a worker report them sooner.
        ready || self.lost_pending.load(Ordering::Relaxed) != 0
    }

    /// Whether the record at the consumer position is reserved but not yet committed:
    /// the worker's re-check after going idle must not resume for another ring's work
    /// while this head blocks the merge (its commit wakes the worker instead).
    ///
    /// Only atomic reads, like [`Ring::has_work`].
    #[must_use]
    pub fn head_busy(&self) -> bool {
        // Relaxed: as in `has_work`.
        let pos = self.consumer.load(Ordering::Relaxed);
        let ready = self.words.header(self.word(pos)).is_some_and(|h| {
            // Dekker load: pairs with the RMW in `Reservation::commit` and `stamp`.
            ready(h.load(DEKKER_LOAD))
        });
        // Relaxed: a stale position only makes the worker look once more.
        !ready && self.producer.load(Ordering::Relaxed) != pos
    }

    /// Takes the losses no record carried (the ring went quiet after them).
    ///
    /// # Safety
    /// Only the consumer may call this, and only after `pop` returned `Empty`.
    #[must_use]
    pub unsafe fn take_trailing_losses(&self) -> u64 {
        // Relaxed: the count is the data; the RMW keeps it exact against producers.
        self.lost_pending.swap(0, Ordering::Relaxed)
    }

    /// Consumes the record at the consumer position, lending `f` the number of events
    /// lost just before it and its payload.
    ///
    /// # Safety
    /// Single consumer: no other call to `pop`, `has_work` or `take_trailing_losses`
    /// may run concurrently (the schedule's RUNNING state, or a stopped, idle pipeline,
    /// guarantees it).
    pub unsafe fn pop<R>(&self, f: impl FnOnce(u32, &[u8]) -> R) -> Pop<R> {
        // SAFETY: the caller's contract, passed on.
        match unsafe { self.pop_or_keep(|lost_before, bytes| Some(f(lost_before, bytes))) } {
            Pop::Record { lost_before, value: Some(value) } => Pop::Record { lost_before, value },
            // `f` always consumes, so a kept record cannot come back.
            Pop::Record { value: None, .. } | Pop::Busy => Pop::Busy,
            Pop::Empty => Pop::Empty,
        }
    }

    /// [`Ring::pop`], except that `f` may return `None` to leave the record where it is:
    /// the next call lends the same record (and the same `lost_before`) again. The
    /// worker keeps a record whose lines did not all fit in its run's time budget.
    ///
    /// # Safety
    /// As [`Ring::pop`].
    pub unsafe fn pop_or_keep<R>(&self, f: impl FnOnce(u32, &[u8]) -> Option<R>) -> Pop<Option<R>> {
        loop {
            // Relaxed: we are the only writer of `consumer`.
            let pos = self.consumer.load(Ordering::Relaxed);
            let index = self.word(pos);
            let Some(h) = self.words.header(index) else { return Pop::Busy };
            // Acquire: pairs with the Release half of the commit RMW, making the payload
            // visible.
            let header = h.load(Ordering::Acquire);
            if !ready(header) {
                // Relaxed: only to tell an empty ring from a busy head in the result.
                let producer = self.producer.load(Ordering::Relaxed);
                return if producer == pos { Pop::Empty } else { Pop::Busy };
            }
            let len = header & LEN_MASK;
            // len < 2^29: no wrap.
            let total = len.wrapping_add(8 + 7) & !7;
            if header & PAD != 0 {
                // Relaxed: published by the Release store of `consumer` below.
                h.store(0, Ordering::Relaxed);
                // Release: pairs with the Acquire load of `consumer` in `reserve`.
                self.consumer.store(pos.wrapping_add(total), Ordering::Release);
                continue;
            }
            // The header was written by `stamp` with a length that fit the ring.
            let lost_before = (header >> LOST_SHIFT) as u32;
            // SAFETY: the Acquire above saw the commit, so the producer is done with the
            // payload words and no producer may reuse them before we release `consumer`.
            let taken = unsafe { self.words.take(index.wrapping_add(1), len as usize, |b| f(lost_before, b)) };
            let taken = match taken {
                Some(Taken::Kept) => {
                    // Kept: the position and the header stay; nothing is released.
                    return Pop::Record { lost_before, value: None };
                }
                Some(Taken::Consumed(value)) => Some(value),
                None => None,
            };
            // Relaxed: published by the Release store of `consumer` below.
            h.store(0, Ordering::Relaxed);
            // Release: pairs with the Acquire load of `consumer` in `reserve`, so the
            // zeroing and our reads happen before any producer reuses these words.
            self.consumer.store(pos.wrapping_add(total), Ordering::Release);
            if let Some(value) = taken {
                return Pop::Record { lost_before, value: Some(value) };
            }
            // Unreachable by construction (`reserve` sized it to fit); skipping keeps the
            // consumer moving, and the losses it carried stay counted.
            // Relaxed: as in `take_lost_pending`.
            self.lost_pending.fetch_add(u64::from(lost_before), Ordering::Relaxed);
            return Pop::Busy;
        }
    }
}
