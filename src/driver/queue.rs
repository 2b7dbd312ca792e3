//! The reader's kernel plumbing: the spin lock around its [`Channel`](crate::reader::Channel)
//! ([`SpinLock`]), the cancel-safe queue its reads wait in ([`ReadQueue`], the `IoCsq*`
//! routines over a list with a spin lock of its own), and a read IRP as the channel
//! sees it ([`ReadIrp`]).
//!
//! Lock order: the channel's lock, then the queue's (the channel inserts and takes
//! reads while holding its own); the queue's callbacks never take the channel's.
//! Both are spin locks: the queue's is taken by the cancel path at `DISPATCH_LEVEL`,
//! and the channel's is held around the queue's. So everything touched under them is
//! non-paged: the channel's buffer (default pool), the IRPs and their system buffers.

use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::ptr;

use wdk_sys::ntddk::{
    IoCsqInitialize, IoCsqInsertIrp, IoCsqRemoveNextIrp, IofCompleteRequest, KeAcquireSpinLockRaiseToDpc,
    KeReleaseSpinLock,
};
use wdk_sys::{
    IO_CSQ, IO_NO_INCREMENT, IO_STACK_LOCATION, IRP, KIRQL, KSPIN_LOCK, LIST_ENTRY, NTSTATUS, PIRP, PKIRQL, PVOID,
    STATUS_CANCELLED,
};

use crate::reader::{Lock, Pending, Read};

/// A `KSPIN_LOCK`, as the channel's [`Lock`]: its holder runs at `DISPATCH_LEVEL`.
pub(super) struct SpinLock(UnsafeCell<KSPIN_LOCK>);

// SAFETY: a KSPIN_LOCK is made to be shared between processors; only the kernel's
// acquire and release routines touch it.
unsafe impl Sync for SpinLock {}
// SAFETY: as above; nothing in it belongs to a thread.
unsafe impl Send for SpinLock {}

impl SpinLock {
    /// An initialised lock: on x64, wdm.h's inline `KeInitializeSpinLock` stores 0.
    pub(super) const fn new() -> Self {
        Self(UnsafeCell::new(0))
    }
}

impl Lock for SpinLock {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: IRQL <= DISPATCH_LEVEL (the worker, the dispatch routines, unload); the
        // lock is initialised and is released below, on this processor, before returning
        // (nothing in `f` unwinds: panic = abort).
        let irql = unsafe { KeAcquireSpinLockRaiseToDpc(self.0.get()) };
        let result = f();
        // SAFETY: held since the acquire above; `irql` is what it returned.
        unsafe { KeReleaseSpinLock(self.0.get(), irql) };
        result
    }
}

/// Reads the `T` at `offset` bytes into `*base`: the fields of IRPs and stack locations
/// that sit inside unions, read without forming references to the shared structure.
///
/// # Safety
/// `base` points to a live object whose bytes at `offset` hold an initialised `T`,
/// suitably aligned, that nobody writes concurrently.
pub(super) const unsafe fn read_at<B, T: Copy>(base: *const B, offset: usize) -> T {
    // SAFETY: the caller's contract.
    unsafe { base.wrapping_byte_add(offset).cast::<T>().read() }
}

/// The IRP's current stack location (wdm.h's inline `IoGetCurrentIrpStackLocation`:
/// `Irp->Tail.Overlay.CurrentStackLocation`).
///
/// # Safety
/// `irp` is an IRP the I/O manager handed to this driver, not yet completed.
pub(super) const unsafe fn stack_location(irp: PIRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: the caller's contract; for an IRP being dispatched this union member is
    // the stack location pointer.
    unsafe { read_at(irp, offset_of!(IRP, Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation)) }
}

/// Completes `irp` with `status` and `information` (wdm.h's `IoCompleteRequest` macro is
/// `IofCompleteRequest`) and returns `status`, which the dispatch routine then returns.
///
/// # Safety
/// The caller owns `irp` (a dispatch routine that has not queued it, or whoever took it
/// out of the queue) and never touches it again. IRQL <= `DISPATCH_LEVEL`.
pub(super) unsafe fn complete(irp: PIRP, status: NTSTATUS, information: usize) -> NTSTATUS {
    let status_field = irp.wrapping_byte_add(offset_of!(IRP, IoStatus.__bindgen_anon_1.Status)).cast::<NTSTATUS>();
    // SAFETY: the caller owns the IRP; `IoStatus.Status` is an aligned NTSTATUS.
    unsafe { status_field.write(status) };
    // SAFETY: as above.
    unsafe { (*irp).IoStatus.Information = information as u64 };
    // SAFETY: owned and filled in; from here the I/O manager owns it.
    unsafe { IofCompleteRequest(irp, NO_INCREMENT) };
    status
}

/// `IO_NO_INCREMENT` (0) as the `CCHAR` `IofCompleteRequest` takes.
const NO_INCREMENT: i8 = 0;
const _: () = assert!(IO_NO_INCREMENT == 0);

/// A read IRP on the device (`DO_BUFFERED_IO`): its system buffer of
/// `Parameters.Read.Length` bytes, which the I/O manager copies to the caller's buffer
/// on completion (the first `Information` bytes only).
pub(super) struct ReadIrp {
    irp: PIRP,
    buffer: *mut u8,
    len: usize,
}

impl ReadIrp {
    /// A read the dispatch routine just received. Zeroes its system buffer: pool memory
    /// is not initialised, and the channel writes through a `&mut [u8]`.
    ///
    /// # Safety
    /// `irp` is an `IRP_MJ_READ` for this device that the caller owns.
    pub(super) const unsafe fn arrived(irp: PIRP) -> Self {
        // SAFETY: the caller's contract, passed on.
        let read = unsafe { Self::queued(irp) };
        if !read.buffer.is_null() {
            // SAFETY: buffered I/O: the system buffer holds `len` writable bytes.
            unsafe { ptr::write_bytes(read.buffer, 0, read.len) };
        }
        read
    }

    /// A read taken back out of the queue (its buffer was zeroed when it arrived and
    /// untouched since).
    ///
    /// # Safety
    /// As for [`ReadIrp::arrived`].
    const unsafe fn queued(irp: PIRP) -> Self {
        // SAFETY: the caller's contract.
        let stack = unsafe { stack_location(irp) };
        // SAFETY: an IRP_MJ_READ's stack location: `Parameters.Read` is the live member.
        let len: u32 = unsafe { read_at(stack, offset_of!(IO_STACK_LOCATION, Parameters.Read.Length)) };
        // SAFETY: buffered I/O: `SystemBuffer` is the live member for a read.
        let buffer: *mut u8 = unsafe { read_at(irp, offset_of!(IRP, AssociatedIrp.SystemBuffer)) };
        let len = len as usize;
        Self { irp, buffer, len: if buffer.is_null() { 0 } else { len } }
    }

    /// Completes the read: `bytes` of its buffer go to the caller.
    pub(super) fn complete(self, status: NTSTATUS, bytes: usize) -> NTSTATUS {
        // SAFETY: a ReadIrp is owned by whoever holds it, and this consumes it.
        unsafe { complete(self.irp, status, bytes.min(self.len)) }
    }

    /// Completes the read with `STATUS_CANCELLED` (its reader is gone).
    pub(super) fn cancel(self) {
        let _ = self.complete(STATUS_CANCELLED, 0);
    }
}

impl Read for ReadIrp {
    fn buffer(&mut self) -> &mut [u8] {
        if self.buffer.is_null() {
            return &mut [];
        }
        // SAFETY: `len` writable, zeroed (so initialised) bytes of a non-paged system
        // buffer that lives until the IRP is completed, which needs `self` by value.
        unsafe { core::slice::from_raw_parts_mut(self.buffer, self.len) }
    }
}

/// The cancel-safe queue of pending reads: `IO_CSQ` over a list of IRPs (linked through
/// `Tail.Overlay.ListEntry`) under its own spin lock. The `IoCsq*` routines keep the
/// cancel routine, the list and the lock consistent; its callbacks below only edit the
/// list. Initialised in place ([`ReadQueue::start`]) once it sits in the driver's
/// static slot, where it stays until unload.
#[repr(C)]
pub(super) struct ReadQueue {
    /// First, so that a callback's `PIO_CSQ` is the queue's address.
    csq: UnsafeCell<IO_CSQ>,
    lock: UnsafeCell<KSPIN_LOCK>,
    head: UnsafeCell<LIST_ENTRY>,
}

// SAFETY: the IO_CSQ routines serialise every access under `lock`; `start` runs before
// any IRP can reach the queue.
unsafe impl Sync for ReadQueue {}

impl ReadQueue {
    /// Zeroed; [`ReadQueue::start`] initialises it where it will stay.
    pub(super) fn new() -> Self {
        Self {
            csq: UnsafeCell::new(IO_CSQ::default()),
            lock: UnsafeCell::new(0),
            head: UnsafeCell::new(LIST_ENTRY { Flink: ptr::null_mut(), Blink: ptr::null_mut() }),
        }
    }

    /// Empties the list and initialises the `IO_CSQ` (`PASSIVE_LEVEL`, DriverEntry).
    ///
    /// # Safety
    /// `self` must not move until the driver unloads, and no IRP may reach it before
    /// this returns success.
    pub(super) unsafe fn start(&self) -> NTSTATUS {
        let head = self.head.get();
        // SAFETY: not shared yet (the caller's contract); an empty list points at itself.
        unsafe { head.write(LIST_ENTRY { Flink: head, Blink: head }) };
        // SAFETY: as above; the callbacks have the documented IO_CSQ_* signatures.
        unsafe {
            IoCsqInitialize(
                self.csq.get(),
                Some(csq_insert),
                Some(csq_remove),
                Some(csq_peek_next),
                Some(csq_acquire_lock),
                Some(csq_release_lock),
                Some(csq_complete_canceled),
            )
        }
    }
}

impl Pending for ReadQueue {
    type Read = ReadIrp;

    /// `IoCsqInsertIrp` marks the IRP pending (the dispatch routine returns
    /// `STATUS_PENDING`); if it was already cancelled, the queue completes it itself
    /// through [`csq_complete_canceled`]. So it is never handed back.
    fn insert(&self, read: ReadIrp) -> Result<(), ReadIrp> {
        // SAFETY: an initialised queue (`start`); the IRP is owned by the caller, who
        // gives it up here; no IRP context is kept (NULL).
        unsafe { IoCsqInsertIrp(self.csq.get(), read.irp, ptr::null_mut()) };
        Ok(())
    }

    fn remove_next(&self) -> Option<ReadIrp> {
        // SAFETY: an initialised queue; IRQL <= DISPATCH_LEVEL. A returned IRP is no
        // longer cancelable and belongs to the caller.
        let irp = unsafe { IoCsqRemoveNextIrp(self.csq.get(), ptr::null_mut()) };
        if irp.is_null() {
            return None;
        }
        // SAFETY: a read IRP this driver queued, now owned here.
        Some(unsafe { ReadIrp::queued(irp) })
    }
}

/// The queue a callback's `IO_CSQ` belongs to.
///
/// # Safety
/// `csq` is the `csq` field of a live [`ReadQueue`] (the I/O manager passes back the one
/// `start` registered).
unsafe fn queue<'a>(csq: *mut IO_CSQ) -> &'a ReadQueue {
    // SAFETY: `csq` is the first field of the repr(C) ReadQueue (UnsafeCell is
    // transparent), so its address is the queue's.
    unsafe { &*csq.cast::<ReadQueue>() }
}

/// The list links inside an IRP (`Tail.Overlay.ListEntry`, free for the driver while it
/// owns or queues the IRP).
const fn links(irp: PIRP) -> *mut LIST_ENTRY {
    irp.wrapping_byte_add(offset_of!(IRP, Tail.Overlay.__bindgen_anon_2.ListEntry)).cast()
}

/// `CONTAINING_RECORD(entry, IRP, Tail.Overlay.ListEntry)`.
const fn irp_of(entry: *mut LIST_ENTRY) -> PIRP {
    entry.wrapping_byte_sub(offset_of!(IRP, Tail.Overlay.__bindgen_anon_2.ListEntry)).cast()
}

/// `CsqInsertIrp`: at the list's tail (reads are served in order). Queue lock held.
unsafe extern "C" fn csq_insert(csq: *mut IO_CSQ, irp: PIRP) {
    // SAFETY: the I/O manager passes the registered IO_CSQ.
    let head = unsafe { queue(csq) }.head.get();
    let entry = links(irp);
    // SAFETY: the queue lock is held; `head` is an initialised list (InsertTailList).
    let last = unsafe { (*head).Blink };
    // SAFETY: as above; `entry`, `last` and `head` are links of this list.
    unsafe {
        entry.write(LIST_ENTRY { Flink: head, Blink: last });
    }
    // SAFETY: as above.
    unsafe { (*last).Flink = entry };
    // SAFETY: as above.
    unsafe { (*head).Blink = entry };
}

/// `CsqRemoveIrp`: unlinks it (`RemoveEntryList`). Queue lock held.
unsafe extern "C" fn csq_remove(_csq: *mut IO_CSQ, irp: PIRP) {
    let entry = links(irp);
    // SAFETY: the queue lock is held and `entry` is linked, so its neighbours are too.
    let LIST_ENTRY { Flink: next, Blink: prev } = unsafe { entry.read() };
    // SAFETY: as above.
    unsafe { (*prev).Flink = next };
    // SAFETY: as above.
    unsafe { (*next).Blink = prev };
}

/// `CsqPeekNextIrp`: the IRP after `irp` (the first if NULL), or NULL at the end. No
/// peek context is ever passed. Queue lock held.
unsafe extern "C" fn csq_peek_next(csq: *mut IO_CSQ, irp: PIRP, _peek_context: PVOID) -> PIRP {
    // SAFETY: the I/O manager passes the registered IO_CSQ.
    let head = unsafe { queue(csq) }.head.get();
    let next = if irp.is_null() {
        // SAFETY: the queue lock is held; an initialised list.
        unsafe { (*head).Flink }
    } else {
        let entry = links(irp);
        // SAFETY: as above; `irp` is in this queue.
        unsafe { (*entry).Flink }
    };
    if next == head { ptr::null_mut() } else { irp_of(next) }
}

/// `CsqAcquireLock`: the queue's own spin lock (raises to `DISPATCH_LEVEL`).
unsafe extern "C" fn csq_acquire_lock(csq: *mut IO_CSQ, irql: PKIRQL) {
    // SAFETY: the I/O manager passes the registered IO_CSQ.
    let lock = unsafe { queue(csq) }.lock.get();
    // SAFETY: an initialised spin lock; called at IRQL <= DISPATCH_LEVEL.
    let old = unsafe { KeAcquireSpinLockRaiseToDpc(lock) };
    // SAFETY: the I/O manager passes where to keep the previous IRQL.
    unsafe { irql.write(old) };
}

/// `CsqReleaseLock`.
unsafe extern "C" fn csq_release_lock(csq: *mut IO_CSQ, irql: KIRQL) {
    // SAFETY: the I/O manager passes the registered IO_CSQ.
    let lock = unsafe { queue(csq) }.lock.get();
    // SAFETY: held since `csq_acquire_lock`, which returned `irql`.
    unsafe { KeReleaseSpinLock(lock, irql) };
}

/// `CsqCompleteCanceledIrp`: a read cancelled while queued (its thread exited, `CancelIo`).
unsafe extern "C" fn csq_complete_canceled(_csq: *mut IO_CSQ, irp: PIRP) {
    // SAFETY: the queue removed it and hands it over to be completed.
    let _ = unsafe { complete(irp, STATUS_CANCELLED, 0) };
}
