//! The reader's kernel plumbing: the spin lock around its [`Channel`](crate::reader::Channel)
//! ([`SpinLock`]), the cancel-safe queue its reads wait in ([`ReadQueue`]: a list with a
//! spin lock of its own and a cancel routine, as Microsoft's docs describe it), and a read
//! IRP as the channel sees it ([`ReadIrp`]).
//!
//! Lock order: the channel's lock, then the queue's (the channel inserts and takes
//! reads while holding its own); the queue's cancel routine never takes the channel's.
//! Both are spin locks: the queue's is taken by the cancel path at `DISPATCH_LEVEL`,
//! and the channel's is held around the queue's. So everything touched under them is
//! non-paged: the channel's buffer (default pool), the IRPs and their system buffers.
//!
//! Two ways to take the queue's lock, chosen by type, never by asking the IRQL: inside
//! the channel's lock section the channel lends a [`Held`] proof, and since
//! [`SpinLock::with`] raised to `DISPATCH_LEVEL`, the queue takes its lock with
//! `KeAcquireSpinLockAtDpcLevel`; everywhere else (a reader's cleanup and unload taking
//! what is left, the cancel routine after it dropped the cancel spin lock) it raises with
//! `KeAcquireSpinLockRaiseToDpc`.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::mem::offset_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use wdk_sys::ntddk::{
    IoReleaseCancelSpinLock, IofCompleteRequest, KeAcquireSpinLockAtDpcLevel, KeAcquireSpinLockRaiseToDpc,
    KeReleaseSpinLock, KeReleaseSpinLockFromDpcLevel,
};
use wdk_sys::{
    BOOLEAN, IO_NO_INCREMENT, IO_STACK_LOCATION, IRP, KSPIN_LOCK, LIST_ENTRY, NTSTATUS, PDEVICE_OBJECT, PDRIVER_CANCEL,
    PIRP, PVOID, SL_PENDING_RETURNED, STATUS_CANCELLED,
};

use crate::reader::{Held, Lock, Pending, Read};

/// A `KSPIN_LOCK`, as the channel's [`Lock`]: its holder runs at `DISPATCH_LEVEL` (what
/// a [`Held`] of this lock type proves to the read queue).
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

/// The cancel-safe queue of pending reads, written out by hand as Microsoft's kernel docs
/// describe it for a driver that keeps its own queue under its own spin lock ("Canceling
/// IRPs", "Using a Driver-Supplied Spin Lock", "Points to Consider When Canceling IRPs",
/// and `IoSetCancelRoutine`'s page): a doubly-linked list of IRPs through
/// `Tail.Overlay.ListEntry`, guarded by `lock`.
///
/// * [`Pending::insert`] (queue lock held, the channel's too) sets [`cancel_routine`]; if
///   the IRP is already cancelled *and* taking the routine back succeeds, nobody else
///   will touch it: it is handed back to be completed `STATUS_CANCELLED`. Otherwise it
///   is marked pending and linked; should a cancel be in flight already, its routine
///   waits for the queue lock and finds the IRP linked.
/// * [`Pending::remove_next`] (queue lock held; the channel's too for the worker, not for
///   a reader's cleanup or unload) takes the first IRP whose routine it can clear: from
///   then on no cancel routine will run for it. One whose routine is already NULL is
///   being cancelled: it stays linked, and its cancel routine unlinks it.
/// * [`cancel_routine`] releases the system cancel spin lock first, takes only the queue
///   lock, unlinks the IRP (an unlinked IRP's links point at itself), and completes it.
///
/// Not the `IoCsq*` routines: Wine 8 exports those only as stubs that abort, so a reader
/// under Wine would crash the driver; this needs only `IoReleaseCancelSpinLock` (a real
/// export of both ntoskrnls) and wdm.h's inline `IoSetCancelRoutine`/`IoMarkIrpPending`.
///
/// Lock order: the channel's lock, then this one; the cancel routine takes only this one
/// (after dropping the system cancel spin lock), so no cycle. Initialised in place
/// ([`ReadQueue::start`]) once it sits in the driver's static slot, where it stays until
/// unload; the I/O manager calls unload only once no IRP is outstanding, so a queued IRP
/// (and its cancel routine) never outlives the queue.
pub(super) struct ReadQueue {
    lock: UnsafeCell<KSPIN_LOCK>,
    head: UnsafeCell<LIST_ENTRY>,
}

// SAFETY: the list is touched only while `lock` is held; `start` runs before any IRP can
// reach the queue.
unsafe impl Sync for ReadQueue {}

impl ReadQueue {
    /// Zeroed; [`ReadQueue::start`] initialises it where it will stay.
    pub(super) const fn new() -> Self {
        Self {
            lock: UnsafeCell::new(0),
            head: UnsafeCell::new(LIST_ENTRY { Flink: ptr::null_mut(), Blink: ptr::null_mut() }),
        }
    }

    /// Empties the list (`InitializeListHead`; the lock is already 0, wdm.h's inline
    /// `KeInitializeSpinLock` on x64). `PASSIVE_LEVEL`, DriverEntry.
    ///
    /// # Safety
    /// `self` must not move until the driver unloads, and no IRP may reach it before
    /// this returns.
    pub(super) const unsafe fn start(&self) {
        let head = self.head.get();
        // SAFETY: not shared yet (the caller's contract); an empty list points at itself.
        unsafe { head.write(LIST_ENTRY { Flink: head, Blink: head }) };
    }

    /// Runs `f` on the list head holding the queue lock: at `DISPATCH_LEVEL` already if
    /// the channel's lock is `held`, else raising to it.
    fn locked<R>(&self, held: Option<&Held<'_, SpinLock>>, f: impl FnOnce(*mut LIST_ENTRY) -> R) -> R {
        match held {
            Some(held) => self.locked_at_dpc(held, f),
            None => self.locked_raising(f),
        }
    }

    /// Runs `f` holding the queue lock, taken by a caller that holds the channel's spin
    /// lock (`held`), so runs at `DISPATCH_LEVEL`: `KeAcquireSpinLockAtDpcLevel`, which
    /// does not raise (drivers call it "if and only if they are already running at an
    /// IRQL of `DISPATCH_LEVEL` or above", its page says).
    fn locked_at_dpc<R>(&self, _held: &Held<'_, SpinLock>, f: impl FnOnce(*mut LIST_ENTRY) -> R) -> R {
        // SAFETY: an initialised spin lock (0 from `new`); `_held` proves that this thread
        // holds the channel's `SpinLock`, which `SpinLock::with` acquired with
        // KeAcquireSpinLockRaiseToDpc and releases only after this returns: the caller
        // runs at DISPATCH_LEVEL, as KeAcquireSpinLockAtDpcLevel requires. Released below
        // on this processor (no unwinding: panic = abort).
        unsafe { KeAcquireSpinLockAtDpcLevel(self.lock.get()) };
        let result = f(self.head.get());
        // SAFETY: held since the acquire above, still at DISPATCH_LEVEL (the channel's
        // lock is still held).
        unsafe { KeReleaseSpinLockFromDpcLevel(self.lock.get()) };
        result
    }

    /// Runs `f` holding the queue lock, raising to `DISPATCH_LEVEL` for it and back: a
    /// caller outside the channel's lock (a reader's cleanup or unload at
    /// `PASSIVE_LEVEL`, the cancel routine at the IRQL `IoCancelIrp` was called at).
    fn locked_raising<R>(&self, f: impl FnOnce(*mut LIST_ENTRY) -> R) -> R {
        // SAFETY: an initialised spin lock (0 from `new`); IRQL <= DISPATCH_LEVEL (every
        // caller: cleanup, unload, the cancel routine after it has released the cancel
        // spin lock, which restored `Irp->CancelIrql`, at most DISPATCH_LEVEL); released
        // below on this processor (no unwinding: panic = abort).
        let irql = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        let result = f(self.head.get());
        // SAFETY: held since the acquire above; `irql` is what it returned.
        unsafe { KeReleaseSpinLock(self.lock.get(), irql) };
        result
    }
}

impl Pending<SpinLock> for ReadQueue {
    type Read = ReadIrp;

    /// Queues the read (marked pending: the dispatch routine returns `STATUS_PENDING`),
    /// or hands it back if it was cancelled before it could become cancelable.
    fn insert(&self, held: &Held<'_, SpinLock>, read: ReadIrp) -> Result<(), ReadIrp> {
        let irp = read.irp;
        self.locked_at_dpc(held, |head| {
            // Who the cancel routine must unlink it from.
            // SAFETY: the caller owns the IRP; DriverContext is the driver's while it does
            // (and while the IRP is queued), and nothing else uses it in this driver.
            unsafe { driver_context(irp).write(ptr::from_ref(self).cast_mut().cast()) };
            // SAFETY: an IRP this driver owns; the queue lock is held, as "Using a
            // Driver-Supplied Spin Lock" asks for setting the routine.
            let _ = unsafe { set_cancel_routine(irp, Some(cancel_routine)) };
            // SAFETY: as above; `Cancel` is a BOOLEAN the I/O manager sets (IoCancelIrp)
            // before it takes the routine: read it after the exchange above (volatile: it
            // may change under us).
            let cancelled = unsafe { ptr::read_volatile(cancel_flag(irp)) } != 0;
            // SAFETY: as above. Non-NULL: we took the routine back before IoCancelIrp did,
            // so no cancel routine will run and the IRP is still ours alone.
            if cancelled && unsafe { set_cancel_routine(irp, None) }.is_some() {
                return Err(read);
            }
            // Cancelled with the routine already taken, or not cancelled: queued either
            // way; a cancel routine in flight waits for this lock and then unlinks it.
            // SAFETY: the dispatch routine's IRP, not yet completed; it returns
            // STATUS_PENDING for it (ReadOutcome::Pending).
            unsafe { mark_pending(irp) };
            // SAFETY: the queue lock is held; `head` is an initialised list and the IRP's
            // links are free (it is in no list).
            unsafe { insert_tail(head, links(irp)) };
            Ok(())
        })
    }

    /// Counted by walking the list: at most `MAX_PENDING_READS` links, since `insert`
    /// is refused beyond that.
    fn queued(&self, held: &Held<'_, SpinLock>) -> usize {
        self.locked_at_dpc(held, |head| {
            let mut queued = 0usize;
            // SAFETY: the queue lock is held; an initialised list.
            let mut entry = unsafe { (*head).Flink };
            while entry != head {
                queued = queued.saturating_add(1);
                // SAFETY: the lock is held and `entry` is linked, so its Flink is too.
                entry = unsafe { (*entry).Flink };
            }
            queued
        })
    }

    fn remove_next(&self, held: Option<&Held<'_, SpinLock>>) -> Option<ReadIrp> {
        let irp = self.locked(held, |head| {
            // SAFETY: the queue lock is held; an initialised list.
            let mut entry = unsafe { (*head).Flink };
            while entry != head {
                let irp = irp_of(entry);
                // SAFETY: `entry` is linked, so its IRP is queued and not completed (a
                // cancel routine completes it only after unlinking it under this lock).
                let next = unsafe { (*entry).Flink };
                // SAFETY: a queued IRP. Non-NULL: no cancel routine will run for it now.
                if unsafe { set_cancel_routine(irp, None) }.is_some() {
                    // SAFETY: the lock is held and `entry` is linked.
                    unsafe { unlink(entry) };
                    return irp;
                }
                // NULL: being cancelled; its routine (waiting for this lock) unlinks it.
                entry = next;
            }
            ptr::null_mut()
        });
        if irp.is_null() {
            return None;
        }
        // SAFETY: a read IRP this driver queued, now unlinked and no longer cancelable:
        // owned here.
        Some(unsafe { ReadIrp::queued(irp) })
    }

    fn complete(&self, read: ReadIrp, filled: usize) {
        let _ = read.complete(wdk_sys::STATUS_SUCCESS, filled);
    }
}

/// The read queue's cancel routine (`DRIVER_CANCEL`): called by the I/O manager
/// (`IoCancelIrp`: the reader's thread exited, `CancelIo`/`CancelIoEx`) at
/// `DISPATCH_LEVEL` holding the system cancel spin lock, only for an IRP whose routine
/// it took, i.e. one [`Pending::remove_next`] can no longer take.
unsafe extern "C" fn cancel_routine(_device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: the IRP being cancelled, live until we complete it below; CancelIrql is
    // what IoAcquireCancelSpinLock returned to the I/O manager.
    let irql = unsafe { (*irp).CancelIrql };
    // SAFETY: the I/O manager holds the cancel spin lock for this call; release it first,
    // with Irp->CancelIrql ("Points to Consider When Canceling IRPs").
    unsafe { IoReleaseCancelSpinLock(irql) };
    // SAFETY: `insert` stored the queue's address before making the IRP cancelable, and
    // the queue lives in the driver's static slot until unload, which cannot run while
    // this IRP is outstanding.
    let queue: *const ReadQueue = unsafe { driver_context(irp).read() }.cast_const().cast();
    // SAFETY: as above.
    if let Some(queue) = unsafe { queue.as_ref() } {
        let entry = links(irp);
        queue.locked_raising(|_| {
            // SAFETY: the queue lock is held; the IRP's links are either in the list or
            // point at themselves (unlinked).
            if unsafe { (*entry).Flink } != entry {
                // SAFETY: as above: linked.
                unsafe { unlink(entry) };
            }
        });
    }
    // SAFETY: unlinked and its routine taken by the I/O manager: ours alone, completed
    // once (IRQL <= DISPATCH_LEVEL).
    let _ = unsafe { complete(irp, STATUS_CANCELLED, 0) };
}

/// wdm.h's inline `IoSetCancelRoutine`: `InterlockedExchangePointer(&Irp->CancelRoutine,
/// routine)`, returning the previous routine.
///
/// # Safety
/// `irp` is a live IRP this driver owns or has queued.
unsafe fn set_cancel_routine(irp: PIRP, routine: PDRIVER_CANCEL) -> PDRIVER_CANCEL {
    let field = irp.wrapping_byte_add(offset_of!(IRP, CancelRoutine)).cast::<*mut c_void>();
    // SAFETY: `CancelRoutine` is a pointer-sized, pointer-aligned field of a live IRP that
    // the I/O manager (IoCancelIrp) also only touches with interlocked exchanges.
    let atomic = unsafe { AtomicPtr::from_ptr(field) };
    let new = routine.map_or(ptr::null_mut(), |f| f as *mut c_void);
    // SeqCst: InterlockedExchangePointer is a full barrier. It pairs with IoCancelIrp,
    // which sets `Irp->Cancel` and then exchanges the routine with NULL: `insert` exchanges
    // the routine in and then reads `Cancel`; with both sides ordered (store then load
    // across a locked exchange), at least one sees the other, so a cancel is never missed.
    let old = atomic.swap(new, Ordering::SeqCst);
    if old.is_null() {
        return None;
    }
    // SAFETY: a non-NULL CancelRoutine is a DRIVER_CANCEL function pointer (the only
    // values ever stored there), and a function pointer has the size of a data pointer.
    Some(unsafe { core::mem::transmute::<*mut c_void, unsafe extern "C" fn(PDEVICE_OBJECT, PIRP)>(old) })
}

/// wdm.h's inline `IoMarkIrpPending`: sets `SL_PENDING_RETURNED` in the current stack
/// location's `Control`.
///
/// # Safety
/// `irp` is an IRP being dispatched to this driver, not yet completed.
unsafe fn mark_pending(irp: PIRP) {
    // SAFETY: the caller's contract.
    let stack = unsafe { stack_location(irp) };
    // SAFETY: the current stack location is ours while we own the IRP.
    unsafe { (*stack).Control |= PENDING_RETURNED };
}

/// `SL_PENDING_RETURNED`, as the `UCHAR` `Control` holds.
const PENDING_RETURNED: u8 = 1;
const _: () = assert!(SL_PENDING_RETURNED == PENDING_RETURNED as u32);

/// `Irp->Cancel`, set by `IoCancelIrp`.
const fn cancel_flag(irp: PIRP) -> *const BOOLEAN {
    irp.wrapping_byte_add(offset_of!(IRP, Cancel)).cast_const().cast()
}

/// `Tail.Overlay.DriverContext[0]`: free for the driver while it owns or queues the IRP
/// (it overlays only `DeviceQueueEntry`, which this driver never uses).
const fn driver_context(irp: PIRP) -> *mut PVOID {
    irp.wrapping_byte_add(offset_of!(IRP, Tail.Overlay.__bindgen_anon_1.__bindgen_anon_1.DriverContext)).cast()
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

/// `InsertTailList(head, entry)`: reads are served in order.
///
/// # Safety
/// The queue lock is held, `head` is an initialised list and `entry` is in no list.
unsafe fn insert_tail(head: *mut LIST_ENTRY, entry: *mut LIST_ENTRY) {
    // SAFETY: the caller's contract.
    let last = unsafe { (*head).Blink };
    // SAFETY: as above; `entry`, `last` and `head` are links of this list.
    unsafe { entry.write(LIST_ENTRY { Flink: head, Blink: last }) };
    // SAFETY: as above.
    unsafe { (*last).Flink = entry };
    // SAFETY: as above.
    unsafe { (*head).Blink = entry };
}

/// `RemoveEntryList(entry)`, then points `entry` at itself: "not linked" for the cancel
/// routine.
///
/// # Safety
/// The queue lock is held and `entry` is linked, so its neighbours are too.
unsafe fn unlink(entry: *mut LIST_ENTRY) {
    // SAFETY: the caller's contract.
    let LIST_ENTRY { Flink: next, Blink: prev } = unsafe { entry.read() };
    // SAFETY: as above.
    unsafe { (*prev).Flink = next };
    // SAFETY: as above.
    unsafe { (*next).Blink = prev };
    // SAFETY: as above; the IRP's own links.
    unsafe { entry.write(LIST_ENTRY { Flink: entry, Blink: entry }) };
}
