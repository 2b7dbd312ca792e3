//! The one place that chooses the synchronisation primitives (after tokio's `loom` shim).
//!
//! The kernel build, the host build and the loom model all compile the same ring and
//! scheduler source; only this module differs. Under `cfg(loom)` every atomic, fence and
//! payload cell is loom's, so the model checker sees every access the real code makes.

#[cfg(loom)]
pub use loom::cell::UnsafeCell;
#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `core::cell::UnsafeCell` with loom's closure-based access API, so the same code
/// compiles in both worlds and loom can check exclusive access to the worker's state.
#[cfg(not(loom))]
#[derive(Debug)]
pub struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Lends the raw pointer to `f`; the caller upholds exclusivity.
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Ordering for the read-modify-writes that open a Dekker pair (a commit followed by
/// the schedule check, or the worker's idle transition followed by the ring re-check).
///
/// Natively `SeqCst`: such an RMW, then a `SeqCst` load on each side, is the classic
/// Dekker pattern under C++20's single total order of `SeqCst` operations, and on
/// x86-64 the RMW is a locked instruction, so the hot path pays no separate `mfence`
/// (docs/performance.md). loom models `SeqCst` accesses as `AcqRel` (its documented
/// limitation), so the model uses `AcqRel` plus an explicit fence
/// ([`dekker_fence`]), the formulation loom does model.
#[cfg(not(loom))]
pub const DEKKER_RMW: Ordering = Ordering::SeqCst;
#[cfg(loom)]
pub const DEKKER_RMW: Ordering = Ordering::AcqRel;

/// Ordering for the load that closes a Dekker pair (see [`DEKKER_RMW`]).
#[cfg(not(loom))]
pub const DEKKER_LOAD: Ordering = Ordering::SeqCst;
#[cfg(loom)]
pub const DEKKER_LOAD: Ordering = Ordering::Acquire;

/// The StoreLoad barrier between a [`DEKKER_RMW`] and the [`DEKKER_LOAD`] after it.
/// Natively the `SeqCst` RMW already is one, so this compiles to nothing.
#[inline]
#[cfg_attr(not(loom), expect(clippy::missing_const_for_fn, reason = "a fence under loom"))]
pub fn dekker_fence() {
    // SeqCst fence: pairs with the other side's fence after its Dekker RMW.
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}
