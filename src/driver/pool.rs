//! The driver's global allocator (DriverEntry only; callbacks and the worker never
//! allocate): non-paged, no-execute pool by default, for the ring, which callbacks
//! write at any IRQL they run at; paged pool inside [`paged`], for the worker's pid
//! table, which only the worker touches, at `PASSIVE_LEVEL` (hundreds of KiB by default,
//! up to 150 MiB at the largest `PidTableSize`: no reason to pin it in RAM).
//!
//! `ExAllocatePool2` exists from Windows 10 2004 on. Importing it would keep the
//! driver from loading on anything older (and under Wine, which lacks it), so it is
//! looked up at run time with `MmGetSystemRoutineAddress`, once, in DriverEntry before
//! the first allocation ([`resolve`]). Where it is missing, or before [`resolve`] ran,
//! `ExAllocatePoolWithTag(NonPagedPoolNx or PagedPool)` (Windows 8+) serves instead, and
//! the memory is zeroed as `ExAllocatePool2` zeroes it. `ExFreePoolWithTag` frees all.
//!
//! Pool blocks are 16-byte aligned (`MEMORY_ALLOCATION_ALIGNMENT` on x64). A larger
//! alignment (the per-processor rings, whose cache-padded positions are 128-aligned) is
//! served from a block `align` bytes larger, with the block's address kept just before
//! the aligned one for `dealloc`.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use wdk_sys::ntddk::ExFreePoolWithTag;
use wdk_sys::{_POOL_TYPE, POOL_FLAG_NON_PAGED, POOL_FLAG_PAGED, POOL_FLAGS, POOL_TYPE, PVOID, SIZE_T, ULONG};

use super::kernel::routine;
use crate::ntname::NtName;

/// Pool tag: `nfyr` in WinDbg's `!poolused` and in poolmon.
const TAG: ULONG = u32::from_le_bytes(*b"nfyr");

/// The alignment every pool block has on x64.
const POOL_ALIGNMENT: usize = 16;

/// `ExAllocatePool2` (wdm.h, Windows 10 2004), as `MmGetSystemRoutineAddress` returns it.
type AllocatePool2 = unsafe extern "system" fn(flags: POOL_FLAGS, bytes: SIZE_T, tag: ULONG) -> PVOID;

unsafe extern "system" {
    /// wdm.h; wdk-sys leaves it out of its bindings as deprecated. Exported by every
    /// x64 Windows kernel (and by Wine's).
    fn ExAllocatePoolWithTag(pool_type: POOL_TYPE, bytes: SIZE_T, tag: ULONG) -> PVOID;
}

/// `ExAllocatePool2`, or NULL: not resolved yet, or not exported by this kernel.
static ALLOCATE_POOL2: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Set only inside [`paged`]: allocations come from paged pool.
static PAGED: AtomicBool = AtomicBool::new(false);

/// Runs `f` with allocations served from paged pool (DriverEntry, `PASSIVE_LEVEL`,
/// before any callback is registered or the work item exists, so nothing else
/// allocates meanwhile). Frees need no switch: `ExFreePoolWithTag` frees either pool.
pub(super) fn paged<R>(f: impl FnOnce() -> R) -> R {
    // Relaxed: DriverEntry is the only thread that allocates; read back by `alloc` on
    // the same thread.
    PAGED.store(true, Ordering::Relaxed);
    let result = f();
    // Relaxed: as above.
    PAGED.store(false, Ordering::Relaxed);
    result
}

/// Which routine the allocator uses, for DriverEntry's `pool` line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Routine {
    /// `ExAllocatePool2(POOL_FLAG_NON_PAGED or POOL_FLAG_PAGED)`.
    Pool2,
    /// `ExAllocatePoolWithTag(NonPagedPoolNx or PagedPool)` and zeroing.
    PoolWithTag,
}

impl Routine {
    /// What DriverEntry prints after `pool `.
    pub(super) const fn describe(self) -> &'static str {
        match self {
            Self::Pool2 => "ExAllocatePool2",
            Self::PoolWithTag => {
                "ExAllocatePoolWithTag(NonPagedPoolNx/PagedPool) (this kernel has no ExAllocatePool2: before Windows 10 2004)"
            }
        }
    }
}

/// `ExAllocatePool2`'s name, as `MmGetSystemRoutineAddress` takes it.
const POOL2: NtName = NtName::of("ExAllocatePool2");

/// Looks `ExAllocatePool2` up (DriverEntry, `PASSIVE_LEVEL`, before any allocation).
pub(super) fn resolve() -> Routine {
    let address = routine(&POOL2);
    // Release: pairs with the Acquire in `alloc`, which then calls what it read.
    ALLOCATE_POOL2.store(address, Ordering::Release);
    if address.is_null() { Routine::PoolWithTag } else { Routine::Pool2 }
}

/// The `#[global_allocator]` (see the module comment). Callable at IRQL <= `DISPATCH_LEVEL`
/// (inside [`paged`]: `APC_LEVEL`).
pub(super) struct Pool;

// SAFETY: `alloc` returns NULL or a fresh zeroed pool block of at least `layout.size()`
// bytes, aligned to 16 >= `layout.align()` (larger alignments get NULL); `dealloc` frees
// exactly such blocks, with the tag they were allocated with. Nothing here panics.
unsafe impl GlobalAlloc for Pool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= POOL_ALIGNMENT {
            return block(layout.size());
        }
        // Over-aligned (the per-processor rings: their positions are cache-padded, align
        // 128): one pool block of `size + align` bytes; the returned address is the first
        // `align`-aligned one past the block's start (at least 16 bytes in, since the
        // block is 16-aligned), and the block's own address sits in the 8 bytes before it.
        let Some(total) = layout.size().checked_add(layout.align()) else { return ptr::null_mut() };
        let start = block(total);
        if start.is_null() {
            return start;
        }
        let offset = layout.align() - start.addr() % layout.align();
        // SAFETY: offset <= align, inside the `size + align`-byte block.
        let aligned = unsafe { start.add(offset) };
        // SAFETY: offset >= 16, so `aligned - 8` is still inside the block.
        let slot = unsafe { aligned.sub(8) };
        // SAFETY: 8 bytes inside the block that nothing else uses.
        unsafe { slot.cast::<*mut u8>().write_unaligned(start) };
        aligned
    }

    /// Both routines zero, so this is [`Pool::alloc`] without a second pass.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let start = if layout.align() <= POOL_ALIGNMENT {
            block
        } else {
            // SAFETY: an over-aligned block from `alloc`: the 8 bytes before it are
            // inside the same pool block.
            let slot = unsafe { block.sub(8) };
            // SAFETY: where `alloc` stored the pool block's address.
            unsafe { slot.cast::<*mut u8>().read_unaligned() }
        };
        // SAFETY: `start` came from `block` (either routine), with this tag, and is freed
        // once; IRQL <= DISPATCH_LEVEL.
        unsafe { ExFreePoolWithTag(start.cast(), TAG) };
    }
}

/// A zeroed pool block of `size` bytes, 16-aligned, from the pool `paged` selects; NULL
/// if refused.
fn block(bytes: usize) -> *mut u8 {
    let size = bytes as SIZE_T;
    // Relaxed: set and cleared by this same thread (see `paged`).
    let paged = PAGED.load(Ordering::Relaxed);
    // Acquire: pairs with the Release in `resolve`.
    let pool2 = ALLOCATE_POOL2.load(Ordering::Acquire);
    if !pool2.is_null() {
        // SAFETY: a non-NULL value is what MmGetSystemRoutineAddress returned for
        // "ExAllocatePool2", whose prototype `AllocatePool2` is.
        let pool2 = unsafe { core::mem::transmute::<*mut c_void, AllocatePool2>(pool2) };
        let flags = if paged { POOL_FLAG_PAGED } else { POOL_FLAG_NON_PAGED };
        // SAFETY: IRQL <= DISPATCH_LEVEL (paged: DriverEntry at PASSIVE_LEVEL); the
        // block is zeroed (no POOL_FLAG_UNINITIALIZED).
        return unsafe { pool2(flags, size, TAG) }.cast();
    }
    let pool = if paged { _POOL_TYPE::PagedPool } else { _POOL_TYPE::NonPagedPoolNx };
    // SAFETY: IRQL <= DISPATCH_LEVEL (paged: DriverEntry at PASSIVE_LEVEL); the
    // documented prototype.
    let block = unsafe { ExAllocatePoolWithTag(pool, size, TAG) }.cast::<u8>();
    if !block.is_null() {
        // SAFETY: the block has `bytes` writable bytes.
        unsafe { ptr::write_bytes(block, 0, bytes) };
    }
    block
}
