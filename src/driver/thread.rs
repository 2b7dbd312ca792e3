//! Thread create/exit (`PsSetCreateThreadNotifyRoutine`): `PASSIVE_LEVEL` or `APC_LEVEL`. A
//! create runs in the creator's context, so the current process and thread name the
//! creator (the worker decides whether that makes it remote: a new process's first
//! thread is created by its parent). Extracts ids and records them.
//!
//! Unlike the process and image routines, this one is not documented to run inside a
//! critical region. A thread suspended between reserving and committing its record
//! would leave the ring's head busy: the worker stops there, and unload would wait for
//! it forever. So the record is made inside `KeEnterCriticalRegion` /
//! `KeLeaveCriticalRegion`, which hold off normal kernel APCs, suspension among them.
//! Raising IRQL to `DISPATCH_LEVEL` instead would also hold off preemption (thread
//! events carry no strings, so nothing paged is touched); but on x64 raising and
//! lowering IRQL are inline CR8 writes that wdk-sys does not bind, and a preempted
//! producer is resumed by the scheduler anyway, so the critical region is enough.

use wdk_sys::ntddk::{
    KeEnterCriticalRegion, KeLeaveCriticalRegion, PsGetCurrentProcessId, PsGetCurrentThreadId,
    PsRemoveCreateThreadNotifyRoutine, PsSetCreateThreadNotifyRoutine,
};
use wdk_sys::{BOOLEAN, HANDLE, NTSTATUS};

use super::global::driver;
use super::kernel::{id, stamp};
use crate::event::{ClientId, Event};

/// The notify routine. No allocation, lock, wait, print or panic.
unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {
    let Some(driver) = driver() else { return };
    let stamp = stamp();
    let (pid, tid) = (id(process_id), id(thread_id));
    let event = if create == 0 {
        Event::ThreadExit { pid, tid }
    } else {
        // SAFETY: no preconditions; any IRQL.
        let process = unsafe { PsGetCurrentProcessId() };
        // SAFETY: as above.
        let thread = unsafe { PsGetCurrentThreadId() };
        Event::ThreadCreate { pid, tid, creator: ClientId { pid: id(process), tid: id(thread) } }
    };
    // SAFETY: IRQL <= APC_LEVEL (the routine's documented IRQL); paired with the leave
    // below on every path (`record` always returns).
    unsafe { KeEnterCriticalRegion() };
    driver.pipeline.record(stamp, &event);
    // SAFETY: leaves the critical region entered above.
    unsafe { KeLeaveCriticalRegion() };
}

/// Registers the routine (DriverEntry).
pub(super) fn register() -> NTSTATUS {
    // SAFETY: PASSIVE_LEVEL; `on_thread` has the documented signature and stays
    // loaded until `unregister` returns.
    unsafe { PsSetCreateThreadNotifyRoutine(Some(on_thread)) }
}

/// Removes the routine; waits for calls in flight (unload, never a callback).
pub(super) fn unregister() -> NTSTATUS {
    // SAFETY: PASSIVE_LEVEL; removes the routine `register` added.
    unsafe { PsRemoveCreateThreadNotifyRoutine(Some(on_thread)) }
}
