//! Floor 0: fixed-size tables allocated once, failing instead of panicking: the rings'
//! words, the pid table, the reader's buffer.

use alloc::vec::Vec;

/// A vector of exactly `len` elements made by `f`, or `None` if the allocator refuses.
///
/// Not `try_reserve_exact` + `resize_with`: their growth path (a capacity-overflow or
/// allocation-failure panic, dead after the reservation but not provably so) stayed in the
/// linked driver, reachable from DriverEntry (`tools/prove-no-panic-sys.sh`). Here nothing
/// can grow the vector.
pub fn try_vec_with<T>(len: usize, mut f: impl FnMut() -> T) -> Option<Vec<T>> {
    try_vec_from(len, || Some(f()))
}

/// A vector of exactly `len` elements made by `f`, or `None` if the allocator refuses or
/// `f` does (the elements made so far are dropped). No growth path, as [`try_vec_with`].
pub fn try_vec_from<T>(len: usize, mut f: impl FnMut() -> Option<T>) -> Option<Vec<T>> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(len).ok()?;
    let mut made = 0;
    for slot in vec.spare_capacity_mut().iter_mut().take(len) {
        let Some(value) = f() else { break };
        slot.write(value);
        made += 1;
    }
    // SAFETY: the first `made` elements were initialised by the loop (made <= len <= capacity).
    unsafe { vec.set_len(made) };
    (made == len).then_some(vec)
}
