//! Step 3: the ring, after the Linux BPF ring buffer (`kernel/bpf/ringbuf.c`).
//!
//! Multi-producer, single-consumer, variable-length records in one preallocated
//! power-of-two byte buffer: reserve/commit; the consumer stops at a record not yet
//! committed.
//!
//! Why by hand: a notify callback may not wait, allocate or spin on another thread.
//! crossbeam's `ArrayQueue` spins in `pop` while a producer is preempted mid-push and
//! holds fixed-size slots; heapless' MPMC queue is deprecated for the same reason; no
//! crate offers an allocation-free MPSC ring of variable-size records for `no_std`.
//!
//! # Layout
//! Positions are byte counters that grow by whole records and wrap at 2^43 (8 TiB, a
//! multiple of every ring size); `pos & mask` is the offset. A record is an 8-byte
//! header word followed by its payload, padded to 8 bytes:
//!
//! ```text
//!  header: | lost-before (32) | 0 (1) | PAD (1) | COMMITTED (1) | payload length (29) |
//! ```
//!
//! * COMMITTED: set in every published header, so even an empty payload reads non-zero.
//!   A reserved record's header reads 0 until its commit (busy: being copied): every word
//!   outside `[consumer, producer)` is 0, because the consumer zeroes what it consumed
//!   before releasing its position, and a producer writes its header only to commit
//!   (stamping a "busy" value first cost 0.6 ns a record and told the consumer nothing).
//! * PAD: a skip record filling the tail of the buffer, so no record straddles the end.
//! * lost-before: events lost (ring full) since the previous record; the consumer turns
//!   it into an in-band LOST marker at exactly this place in the stream.
//!
//! The producer word packs the next free position (in 8-byte units, 40 bits) with the
//! events lost since the last reservation (24 bits). A loss and a reservation are each one
//! CAS on that word, so every loss is ordered against every reservation, and a reservation
//! takes exactly the losses made at its position: a producer preempted between winning its
//! place and stamping its header cannot pick up losses that happened after its place (a
//! separate counter, taken after the CAS, did exactly that: a loss showed up before records
//! committed before it happened).
//!
//! # Protocol
//! * Reserve: a bounded CAS loop advances the producer word and takes its losses; no
//!   lock, no wait. The common case (no pad, room, no race) is one attempt whose CAS
//!   operand is two instructions from the loaded word; the rest is `reserve_slow`. A
//!   full ring fails at once and the loss is counted by a CAS on the same word, at the
//!   position the decision was made on. The winning CAS is the record
//!   path's one locked operation, and the first half of the Dekker pair with the
//!   scheduler (see `schedule`): a worker going idle either sees the reservation
//!   ([`Ring::scan`]) or its producer sees the worker idle.
//! * Commit: a release store of the header. No second locked operation: a commit
//!   the idle worker's re-check cannot see yet is a record [`Scan::InFlight`], which the
//!   worker's idle sweep picks up a few milliseconds later (`Pipeline::sweep`).
//! * Consume: read the header at `consumer` (acquire); stop, without spinning, at one
//!   not committed; otherwise lend the payload, zero the words, release the
//!   new `consumer` position.

mod words;

use crate::sync::{AtomicU64, DEKKER_LOAD, DEKKER_RMW, Ordering, dekker_fence};
use crossbeam_utils::CachePadded;
use words::{Taken, Words};

const PAD: u64 = 1 << 30;
const COMMITTED: u64 = 1 << 29;
const LEN_MASK: u64 = COMMITTED - 1;
const LOST_SHIFT: u32 = 32;

/// Bits of the producer word that hold the position, in 8-byte units.
const POS_BITS: u32 = 40;
/// Byte positions wrap here: 2^40 units of 8 bytes.
const POS_WRAP: u64 = 1 << (POS_BITS + 3);
/// Where byte positions wrap (8 TiB), for tests that start a ring just before it.
pub const POSITION_WRAP: u64 = POS_WRAP;
/// One loss in the producer word.
const LOST_ONE: u64 = 1 << POS_BITS;
/// The most losses the producer word holds; beyond it they go to `lost_overflow`.
const LOST_MAX: u64 = u64::MAX >> POS_BITS;

/// The byte position in a producer word.
const fn position(word: u64) -> u64 {
    (word & (LOST_ONE - 1)) << 3
}

/// The losses in a producer word.
const fn losses(word: u64) -> u64 {
    word >> POS_BITS
}

/// A producer word at byte position `pos` with no losses.
const fn at(pos: u64) -> u64 {
    (pos >> 3) & (LOST_ONE - 1)
}

/// `to - from` in wrapping position arithmetic.
const fn distance(from: u64, to: u64) -> u64 {
    to.wrapping_sub(from) & (POS_WRAP - 1)
}

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
    header & COMMITTED != 0
}

/// What [`Ring::scan`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// A committed record, or losses of an empty ring to report: work.
    Ready,
    /// A record reserved whose commit is not visible yet: no work now, but the worker
    /// must not forget the ring (its idle sweep looks again).
    InFlight,
    /// Nothing reserved, nothing lost.
    Empty,
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
    pub fn write(&self, head: &[u8], first: &[u16], second: &[u16]) -> bool {
        let units = first.len().checked_add(second.len());
        let len = units.and_then(|u| u.checked_mul(2)).and_then(|b| b.checked_add(head.len()));
        if len.and_then(|b| u64::try_from(b).ok()) != Some(self.len) {
            return false;
        }
        // SAFETY: the CAS in `reserve` gave this producer sole ownership of the `len`
        // payload bytes after the header until it commits, and the payload is exactly
        // that long (checked above). `write_record` also refuses an out-of-bounds range.
        unsafe { self.ring.words.write_record(self.index.wrapping_add(1), head, first, second) }
    }

    /// Publishes the record: stores its header with release (for the payload, to the
    /// consumer's Acquire in `pop`). Not a Dekker half: see the module's protocol.
    #[inline]
    pub fn commit(self) {
        if let Some(h) = self.ring.words.header(self.index) {
            // Release: pairs with the Acquire header loads in `pop` and `scan`.
            h.store(self.header, Ordering::Release);
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
    /// The next record is reserved but not committed (or its commit is not visible yet):
    /// its producer, or the worker's idle sweep, wakes the worker for it.
    Busy,
}

/// The ring. See the module documentation for the protocol.
pub struct Ring {
    /// The producer word: the next free position ([`position`]) and the events lost since
    /// the last reservation ([`losses`]). Only producers write it, each time by CAS, except
    /// the consumer taking the losses of an empty ring ([`Ring::take_trailing_losses`]).
    producer: CachePadded<AtomicU64>,
    /// First unconsumed byte position. Only the consumer advances it (Release); every
    /// word in `[consumer, consumer + capacity)` outside `[consumer, producer)` is zero.
    consumer: CachePadded<AtomicU64>,
    /// Losses the producer word could not hold: beyond [`LOST_MAX`] between two
    /// reservations, or given up after [`MAX_ATTEMPTS`] lost races. Taken with the next
    /// reservation's own, so only they may be reported a record late. Touched by producers
    /// only when it is non-zero or they overflow, so it stays a shared, clean cache line.
    lost_overflow: CachePadded<AtomicU64>,
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
            lost_overflow: CachePadded::new(AtomicU64::new(0)),
            words: Words::try_new(bytes / 8)?,
            capacity: bytes as u64,
            mask: bytes as u64 - 1,
        })
    }

    /// [`Ring::try_new`], with the positions starting at byte `start` (a multiple of 8)
    /// instead of 0: host tests run records across the point where positions wrap
    /// ([`POSITION_WRAP`]), which no test could reach by writing 8 TiB.
    #[cfg(not(any(target_os = "windows", notifyring_no_std)))]
    #[must_use]
    pub fn try_new_at(bytes: usize, start: u64) -> Option<Self> {
        let ring = Self::try_new(bytes)?;
        let start = start & (POS_WRAP - 1) & !7;
        // Relaxed: not shared yet.
        ring.producer.store(at(start), Ordering::Relaxed);
        // Relaxed: as above.
        ring.consumer.store(start, Ordering::Relaxed);
        Some(ring)
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
        let producer = position(self.producer.load(Ordering::Relaxed));
        // Relaxed: as above.
        let consumer = self.consumer.load(Ordering::Relaxed);
        // A stale pair can put the consumer ahead: that reads as empty, not as 8 TiB.
        let used = distance(consumer, producer);
        if used > self.capacity { 0 } else { used }
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
    #[expect(clippy::inline_always, reason = "the record path's hot path: measured 0.5 ns a record faster")]
    #[inline(always)]
    pub fn reserve(&self, payload_len: usize) -> Result<Reservation<'_>, Loss> {
        // The common case in one attempt, with the shortest chain of arithmetic from the
        // producer word to the CAS (every cycle on it is a cycle of the callback): the
        // record fits before the end of the buffer (no pad), there is room, and no other
        // producer wins the word meanwhile. Anything else goes to `reserve_slow`, which
        // decides it from scratch.
        let units = (payload_len as u64).wrapping_add(8 + 7) >> 3;
        // Relaxed: only a guess; the CAS validates it.
        let word = self.producer.load(Ordering::Relaxed);
        // Acquire: pairs with the Release store of `consumer` in `pop`, made after the
        // consumer zeroed the words it gave back; we may write them once we win.
        let consumer = self.consumer.load(Ordering::Acquire) >> 3;
        let cap_units = self.capacity >> 3;
        // The new word: the position moved on by the record, the losses taken (0). A
        // carry out of the position bits lands in the loss bits, which the mask drops.
        let end = word.wrapping_add(units) & (LOST_ONE - 1);
        // Units from the consumer to the record's end; a stale `word` (behind the consumer)
        // reads as huge, so it takes the slow path, as a full ring does.
        let used = end.wrapping_sub(consumer) & (LOST_ONE - 1);
        // The record's offset in the buffer, in units: it must end by the buffer's end (no pad).
        let offset = word & (self.mask >> 3);
        if payload_len as u64 <= LEN_MASK && used <= cap_units && offset.wrapping_add(units) <= cap_units {
            // Dekker RMW on success: pairs with the worker's idle RMW + `scan`; on x86-64
            // this is the same locked instruction a Relaxed CAS is. Relaxed on failure.
            if self.producer.compare_exchange(word, end, DEKKER_RMW, Ordering::Relaxed).is_ok() {
                dekker_fence();
                return Ok(self.stamp(position(word), 0, payload_len as u64, losses(word)));
            }
        }
        self.reserve_slow(payload_len)
    }

    /// [`Ring::reserve`] in every case: a record that needs a pad before it, a full
    /// ring, a stale guess or a lost race.
    #[cold]
    #[inline(never)]
    fn reserve_slow(&self, payload_len: usize) -> Result<Reservation<'_>, Loss> {
        let total = (payload_len as u64).checked_add(8 + 7).map(|n| n & !7);
        let fits = total.is_some_and(|t| payload_len as u64 <= LEN_MASK && t <= self.capacity);
        // Relaxed: only a starting guess; the CASes below validate it.
        let mut word = self.producer.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            let pos = position(word);
            // Acquire: as in `reserve`.
            let consumer = self.consumer.load(Ordering::Acquire);
            let ahead = distance(consumer, pos);
            if ahead >= POS_WRAP / 2 {
                // `word` is older than the consumer (the distance is "negative"): others
                // moved on; reload. (A stale `consumer` only makes the ring look fuller.)
                // Relaxed: as the first load.
                word = self.producer.load(Ordering::Relaxed);
                continue;
            }
            // `ahead` < 2^42 and the rest below 2^29: no wrap in the sums below.
            let total = total.unwrap_or(0);
            let offset = pos & self.mask;
            let pad = if offset.wrapping_add(total) > self.capacity { self.capacity.wrapping_sub(offset) } else { 0 };
            let needed = ahead.wrapping_add(pad).wrapping_add(total);
            // Relaxed on every CAS: they only order losses and reservations against each
            // other (one word, one modification order) and hand out disjoint ranges; the
            // zeroed words were acquired from `consumer` above, and the consumer learns of a
            // record through its header, not through this word.
            if !fits || needed > self.capacity {
                // Full: counted at exactly the state this decision was made on, so the loss
                // rides on the next reservation after it, never on an earlier one.
                let lost = if losses(word) < LOST_MAX { word.wrapping_add(LOST_ONE) } else { word };
                match self.producer.compare_exchange_weak(word, lost, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        if lost == word {
                            self.overflow(1);
                        }
                        return Err(Loss::Full);
                    }
                    Err(actual) => {
                        word = actual;
                        continue;
                    }
                }
            }
            let end = at(pos.wrapping_add(pad).wrapping_add(total) & (POS_WRAP - 1));
            // Dekker RMW on success: as in `reserve`. Relaxed on failure.
            match self.producer.compare_exchange_weak(word, end, DEKKER_RMW, Ordering::Relaxed) {
                Ok(_) => {
                    dekker_fence();
                    return Ok(self.stamp(pos, pad, payload_len as u64, losses(word)));
                }
                Err(actual) => word = actual,
            }
        }
        self.overflow(1);
        Err(Loss::Contended)
    }

    /// After a won CAS: writes the skip record (if any); the record will carry the
    /// `lost` events its CAS took (and any overflow). Its own header stays 0, which a
    /// consumer reads as busy, until the commit.
    #[expect(clippy::inline_always, reason = "as `reserve`, which it finishes")]
    #[inline(always)]
    fn stamp(&self, pos: u64, pad: u64, payload_len: u64, lost: u64) -> Reservation<'_> {
        if pad != 0
            && let Some(h) = self.words.header(self.word(pos))
        {
            // Release: pairs with the Acquire header load in `pop`; published, like the
            // record behind it, by the reservation's place in the Dekker pair.
            h.store(COMMITTED | PAD | pad.wrapping_sub(8), Ordering::Release);
        }
        let index = self.word(pos.wrapping_add(pad));
        let lost = u64::from(self.with_overflow(lost)) << LOST_SHIFT;
        Reservation { ring: self, index, len: payload_len, header: COMMITTED | payload_len | lost }
    }

    /// `lost` plus any overflowed losses, at most `u32::MAX` (the header's field); the
    /// excess goes back to the overflow, for a later record.
    #[inline]
    fn with_overflow(&self, lost: u64) -> u32 {
        // Relaxed: the count travels to the consumer inside our header (released by the
        // commit); the RMWs below keep the total exact between racing producers.
        let extra = if self.lost_overflow.load(Ordering::Relaxed) == 0 {
            0
        } else {
            // Relaxed: as above.
            self.lost_overflow.swap(0, Ordering::Relaxed)
        };
        let taken = lost.saturating_add(extra);
        let kept = u32::try_from(taken).unwrap_or(u32::MAX);
        if u64::from(kept) < taken {
            self.overflow(taken - u64::from(kept));
        }
        kept
    }

    #[cold]
    fn overflow(&self, count: u64) {
        // Relaxed: the count is the data; RMWs keep it exact. It reaches the consumer
        // through a later record's header (released by that commit) or `take_trailing_losses`.
        self.lost_overflow.fetch_add(count, Ordering::Relaxed);
    }

    /// What the worker finds on this ring when it goes idle (and the idle sweep after
    /// it): a committed record at the consumer position, or losses to report on a ring
    /// with nothing reserved, is [`Scan::Ready`]; a reservation whose commit it cannot
    /// see (still being copied, or its release store not visible yet) is
    /// [`Scan::InFlight`]; otherwise [`Scan::Empty`]. Losses behind a reserved record
    /// wait for a record after them, or for the ring to empty.
    ///
    /// Only atomic reads: a racing consumer makes the answer stale, never unsound (a
    /// stale position reads as in flight, which costs one more sweep).
    #[must_use]
    pub fn scan(&self) -> Scan {
        // Dekker load: pairs with the reservation's Dekker RMW in `reserve`. After the
        // worker's idle RMW, a reservation this load misses is one whose producer will
        // see the worker idle and wake it.
        let word = self.producer.load(DEKKER_LOAD);
        // Relaxed: any recent position will do; a stale one names a record that was
        // consumed, whose header reads 0 or has been reused.
        let pos = self.consumer.load(Ordering::Relaxed);
        // Acquire: pairs with the Release of `commit` (and of a pad in `stamp`).
        let head = self.words.header(self.word(pos)).map_or(0, |h| h.load(Ordering::Acquire));
        if ready(head) {
            return Scan::Ready;
        }
        if position(word) != pos {
            return Scan::InFlight;
        }
        // Relaxed: pending losses are reported on a best-effort schedule (next record,
        // next empty ring, or unload); this only lets a worker report them sooner.
        if losses(word) != 0 || self.lost_overflow.load(Ordering::Relaxed) != 0 { Scan::Ready } else { Scan::Empty }
    }

    /// Takes the losses no record carried (the ring went quiet after them): only those of
    /// an empty ring, since losses behind a reserved record belong before the record
    /// reserved after them.
    ///
    /// # Safety
    /// Only the consumer may call this (it reads the consumer position as its own).
    #[must_use]
    pub unsafe fn take_trailing_losses(&self) -> u64 {
        // Relaxed: we are the only writer of `consumer`.
        let consumer = self.consumer.load(Ordering::Relaxed);
        // Relaxed: the CAS below validates it.
        let mut word = self.producer.load(Ordering::Relaxed);
        let mut taken = 0;
        for _ in 0..MAX_ATTEMPTS {
            if position(word) != consumer {
                // Something was reserved since: it carries the losses, and the overflow too.
                return 0;
            }
            if losses(word) == 0 {
                break;
            }
            // Relaxed: the count is the data; the CAS orders it against the producers'.
            match self.producer.compare_exchange_weak(word, at(consumer), Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    taken = losses(word);
                    break;
                }
                Err(actual) => word = actual,
            }
        }
        // Relaxed: the count is the data; the RMW keeps it exact against producers.
        taken.saturating_add(self.lost_overflow.swap(0, Ordering::Relaxed))
    }

    /// Consumes the record at the consumer position, lending `f` the number of events
    /// lost just before it and its payload.
    ///
    /// # Safety
    /// Single consumer: no other call to `pop` or `take_trailing_losses`
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
                let producer = position(self.producer.load(Ordering::Relaxed));
                return if producer == pos { Pop::Empty } else { Pop::Busy };
            }
            let len = header & LEN_MASK;
            // len < 2^29: no wrap.
            let total = len.wrapping_add(8 + 7) & !7;
            if header & PAD != 0 {
                // Relaxed: published by the Release store of `consumer` below.
                h.store(0, Ordering::Relaxed);
                // Release: pairs with the Acquire load of `consumer` in `reserve`.
                self.consumer.store(pos.wrapping_add(total) & (POS_WRAP - 1), Ordering::Release);
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
            self.consumer.store(pos.wrapping_add(total) & (POS_WRAP - 1), Ordering::Release);
            if let Some(value) = taken {
                return Pop::Record { lost_before, value: Some(value) };
            }
            // Unreachable by construction (`reserve` sized it to fit); skipping keeps the
            // consumer moving, and the losses it carried stay counted.
            self.overflow(u64::from(lost_before));
            return Pop::Busy;
        }
    }
}
