//! The per-processor ring set: which ring a callback records into, and the merge that
//! makes one stream of them for the worker.
//!
//! One ring per processor (ETW and Linux perf do the same): with a single ring, every
//! callback on every processor fights over one producer position and over the memory
//! another processor just wrote. A callback records into the ring of the processor it
//! runs on (the stamp's processor number, modulo the ring count, since processors can
//! be added after driver entry). The rings stay multi-producer: a callback at
//! `PASSIVE_LEVEL` can be preempted and resumed on another processor mid-record, and
//! another callback then records into the same ring; the CAS reservation keeps that
//! correct, and it is now almost never contended. The callback does not raise IRQL to
//! pin itself to its processor: its strings may be paged, and must be copied at the IRQL
//! it was called at.
//!
//! The merge takes the committed head with the oldest timestamp. What holds:
//! * each ring's records come out in exactly its order (its reservation order);
//! * across rings, records come out in timestamp order among the heads committed when
//!   the worker looks; a record stamped earlier but reserved later (its callback was
//!   preempted between reading the clock and reserving) can come after records stamped
//!   later on other processors: the stream never waits for it;
//! * a ring whose head is still being copied (its callback preempted between reserve and
//!   commit) is passed over: the other rings' records go on, and only that ring waits;
//!   its commit wakes the worker again. So one preempted producer holds back its own
//!   processor's ring, not every ring.

use alloc::vec::Vec;

use crate::record;
use crate::ring::{Pop, Ring, Scan};
use crate::stats::{self, Stats};

/// One ring per processor counted at driver entry.
pub struct Rings {
    rings: Vec<Ring>,
}

/// What the merge takes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The head of this ring.
    Ring(usize),
    /// No committed head anywhere, but some ring's head is still being copied.
    Busy,
    /// No ring has a record.
    Empty,
}

impl Rings {
    /// `processors` rings of `bytes` each (at least one); `None` if the allocator refuses.
    /// The caller checked `bytes` with [`crate::ring::valid_size`].
    #[must_use]
    pub fn try_new(processors: usize, bytes: usize) -> Option<Self> {
        let rings = crate::fallible::try_vec_from(processors.max(1), || Ring::try_new(bytes))?;
        Some(Self { rings })
    }

    /// How many rings.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.rings.len()
    }

    /// Whether there are none (never, once built).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Each ring's capacity in bytes.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.rings.first().map_or(0, Ring::capacity)
    }

    /// The ring of processor `cpu` (modulo the ring count: a processor added later shares).
    #[inline]
    #[must_use]
    pub fn of(&self, cpu: u32) -> Option<&Ring> {
        let n = self.rings.len();
        if n == 0 {
            return None;
        }
        self.rings.get(usize::try_from(cpu).unwrap_or(0) % n)
    }

    /// Ring `index`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&Ring> {
        self.rings.get(index)
    }

    /// Every ring, in index order.
    pub fn iter(&self) -> core::slice::Iter<'_, Ring> {
        self.rings.iter()
    }

    /// What the rings hold, as [`Ring::scan`] says: work if any ring has it, else in
    /// flight if any ring has a record whose commit is not visible, else empty.
    #[must_use]
    pub fn scan(&self) -> Scan {
        let mut seen = Scan::Empty;
        for ring in &self.rings {
            match ring.scan() {
                Scan::Ready => return Scan::Ready,
                Scan::InFlight => seen = Scan::InFlight,
                Scan::Empty => {}
            }
        }
        seen
    }

    /// Raises the high-water mark to the fullest ring's occupancy.
    pub fn raise_high_water(&self, stats: &Stats) {
        for ring in &self.rings {
            stats::raise(&stats.worker.high_water, ring.used());
        }
    }

    /// Which ring's head goes next: the oldest committed head (by timestamp; the lower
    /// ring on a tie). `Busy` if rings whose head is still being copied are all that have
    /// records, `Empty` if no ring has a record.
    ///
    /// # Safety
    /// The caller owns the consumer side of every ring (the worker holding RUNNING, or
    /// unload once stopped and idle).
    #[must_use]
    pub unsafe fn oldest(&self) -> Next {
        let mut best: Option<(u64, usize)> = None;
        let mut busy = false;
        for (i, ring) in self.rings.iter().enumerate() {
            let mut ticks = None;
            // SAFETY: the caller owns the consumer side; the closure only reads the
            // head's stamp and keeps the record in place.
            let peeked = unsafe {
                ring.pop_or_keep(|_, bytes| {
                    ticks = Some(record::stamp_ticks(bytes));
                    None::<()>
                })
            };
            match (peeked, ticks) {
                (Pop::Busy, _) => busy = true,
                (Pop::Record { .. }, Some(t)) if best.is_none_or(|(b, _)| t < b) => best = Some((t, i)),
                _ => {}
            }
        }
        match best {
            Some((_, i)) => Next::Ring(i),
            None if busy => Next::Busy,
            None => Next::Empty,
        }
    }
}

impl<'a> IntoIterator for &'a Rings {
    type Item = &'a Ring;
    type IntoIter = core::slice::Iter<'a, Ring>;

    fn into_iter(self) -> Self::IntoIter {
        self.rings.iter()
    }
}
