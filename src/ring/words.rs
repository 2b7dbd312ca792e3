//! The ring's memory: its words, allocated once; each record's header word accessed
//! atomically in place (natively) or through a side table (under loom, which must see
//! every access), the payload copied in by its producer and lent to the consumer.

#[cfg(loom)]
pub use model::Words;
#[cfg(not(loom))]
pub use native::Words;

/// What `Words::take` did with a record.
pub enum Taken<R> {
    /// Lent, then zeroed: the consumer is done with it.
    Consumed(R),
    /// Lent and left as it was (the consumer will be lent it again).
    Kept,
}

#[cfg(not(loom))]
mod native {
    use crate::sync::AtomicU64;
    use alloc::vec::Vec;
    use core::cell::UnsafeCell;

    /// `len` 8-byte words, zeroed at creation, allocated once.
    pub struct Words {
        cells: Vec<UnsafeCell<u64>>,
    }

    // SAFETY: every word is either accessed atomically (headers, through `header`) or
    // by the single party the ring protocol gives it to (a producer between reserve and
    // commit, the consumer between Acquire of the commit and Release of its position).
    unsafe impl Sync for Words {}
    // SAFETY: plain memory with no thread affinity.
    unsafe impl Send for Words {}

    impl Words {
        /// Allocates `len` zeroed words, or `None` if the allocator refuses.
        pub fn try_new(len: usize) -> Option<Self> {
            Some(Self { cells: crate::fallible::try_vec_with(len, || UnsafeCell::new(0))? })
        }

        /// The header word at `index`, viewed as an atomic.
        #[inline]
        pub fn header(&self, index: usize) -> Option<&AtomicU64> {
            let cell = self.cells.get(index)?;
            // SAFETY: the pointer is valid and 8-aligned for the life of `self`, and
            // every access that can race with this one is atomic too: the ring never
            // lets a party copy payload into a word another party may read as a header.
            Some(unsafe { AtomicU64::from_ptr(cell.get()) })
        }

        /// Pointer to byte `offset` of words `index..`, if `len` bytes from there fit.
        #[inline]
        fn span(&self, index: usize, len: usize) -> Option<*mut u8> {
            let byte = index.checked_mul(8)?;
            let end = byte.checked_add(len)?;
            if end > self.cells.len().checked_mul(8)? {
                return None;
            }
            // wrapping_add: in bounds (checked above), so this is an ordinary offset.
            Some(self.cells.as_ptr().cast::<u8>().cast_mut().wrapping_add(byte))
        }

        /// Copies a record's payload (fixed head, then both strings' units) into the
        /// words from `index` on. Returns false, writing nothing, if it would not fit.
        ///
        /// # Safety
        /// The caller owns those words: a reserved, uncommitted record.
        #[inline]
        pub unsafe fn write_record(&self, index: usize, head: &[u8], first: &[u16], second: &[u16]) -> bool {
            let first_bytes = core::mem::size_of_val(first);
            let second_bytes = core::mem::size_of_val(second);
            let Some(dst) = self.span(index, head.len() + first_bytes + second_bytes) else {
                return false;
            };
            // SAFETY: `dst..dst+head.len()` is in bounds (span) and owned by the caller;
            // the source is the caller's, not ring memory, so the ranges cannot overlap.
            unsafe { core::ptr::copy_nonoverlapping(head.as_ptr(), dst, head.len()) };
            // SAFETY: as above, for the next `first_bytes` bytes (in bounds: span).
            let dst = unsafe { dst.add(head.len()) };
            // SAFETY: as above; the source is the kernel's string, not ring memory.
            unsafe { core::ptr::copy_nonoverlapping(first.as_ptr().cast::<u8>(), dst, first_bytes) };
            // SAFETY: as above, for the last `second_bytes` bytes.
            let dst = unsafe { dst.add(first_bytes) };
            // SAFETY: as above.
            unsafe { core::ptr::copy_nonoverlapping(second.as_ptr().cast::<u8>(), dst, second_bytes) };
            true
        }

        /// Lends `len` bytes from word `index` on to `f`, then zeroes those words unless
        /// `f` returned `None` (the record is kept). Returns `None`, touching nothing,
        /// if the range is out of bounds.
        ///
        /// # Safety
        /// The caller (the consumer) owns that range: its commit was acquired and the
        /// consumer position has not been released past it.
        #[inline]
        pub unsafe fn take<R>(
            &self,
            index: usize,
            len: usize,
            f: impl FnOnce(&[u8]) -> Option<R>,
        ) -> Option<super::Taken<R>> {
            let padded = len.div_ceil(8).checked_mul(8)?;
            let start = self.span(index, padded)?;
            // SAFETY: in bounds (span), initialised (zeroed at creation, then written by
            // the producer), and nobody else writes it while the consumer owns it.
            let Some(result) = f(unsafe { core::slice::from_raw_parts(start, len) }) else {
                // Kept: the record stays as it is, to be lent again.
                return Some(super::Taken::Kept);
            };
            // SAFETY: same range, still owned. Zeroing keeps the invariant that every
            // word outside [consumer, producer) reads 0, which makes a header that a
            // producer has reserved but not yet stamped read as "not ready".
            unsafe { core::ptr::write_bytes(start, 0, padded) };
            Some(super::Taken::Consumed(result))
        }
    }
}

#[cfg(loom)]
mod model {
    use crate::sync::{AtomicU64, UnsafeCell};
    use alloc::vec::Vec;

    /// The loom twin: payload in loom cells (so loom checks every payload access
    /// for races) and one loom atomic per word standing in for in-place headers.
    pub struct Words {
        cells: Vec<UnsafeCell<u64>>,
        headers: Vec<AtomicU64>,
    }

    impl Words {
        #[expect(clippy::unnecessary_wraps, reason = "same signature as the native twin")]
        pub fn try_new(len: usize) -> Option<Self> {
            Some(Self {
                cells: (0..len).map(|_| UnsafeCell::new(0)).collect(),
                headers: (0..len).map(|_| AtomicU64::new(0)).collect(),
            })
        }

        pub fn header(&self, index: usize) -> Option<&AtomicU64> {
            self.headers.get(index)
        }

        pub unsafe fn write_record(&self, index: usize, head: &[u8], first: &[u16], second: &[u16]) -> bool {
            let mut bytes = head.to_vec();
            for unit in first.iter().chain(second) {
                bytes.extend_from_slice(&unit.to_ne_bytes());
            }
            if index + bytes.len().div_ceil(8) > self.cells.len() {
                return false;
            }
            for (i, chunk) in bytes.chunks(8).enumerate() {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                // SAFETY: loom checks this access against every other.
                self.cells[index + i].with_mut(|p| unsafe { *p = u64::from_ne_bytes(word) });
            }
            true
        }

        pub unsafe fn take<R>(
            &self,
            index: usize,
            len: usize,
            f: impl FnOnce(&[u8]) -> Option<R>,
        ) -> Option<super::Taken<R>> {
            let words = len.div_ceil(8);
            if index + words > self.cells.len() {
                return None;
            }
            let mut bytes = Vec::with_capacity(words * 8);
            for cell in &self.cells[index..index + words] {
                // SAFETY: loom checks this access against every other.
                bytes.extend_from_slice(&cell.with_mut(|p| unsafe { *p }).to_ne_bytes());
            }
            let Some(result) = f(&bytes[..len]) else { return Some(super::Taken::Kept) };
            for cell in &self.cells[index..index + words] {
                // SAFETY: loom checks this access against every other.
                cell.with_mut(|p| unsafe { *p = 0 });
            }
            Some(super::Taken::Consumed(result))
        }
    }
}
