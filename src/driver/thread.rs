//! Thread create/exit (`PsSetCreateThreadNotifyRoutine`): `PASSIVE_LEVEL` or `APC_LEVEL`. A
//! create runs in the creator's context, so the current process and thread name the
//! creator (creator pid != pid: a remote thread). Extracts ids and records them.

use wdk_sys::ntddk::{
    PsGetCurrentProcessId, PsGetCurrentThreadId, PsRemoveCreateThreadNotifyRoutine, PsSetCreateThreadNotifyRoutine,
};
use wdk_sys::{BOOLEAN, HANDLE, NTSTATUS};

use super::{id, stamp};
use crate::event::{ClientId, Event};

/// The notify routine. No allocation, lock, wait, print or panic.
unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {
    let Some(driver) = super::driver() else { return };
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
    driver.pipeline.record(stamp, &event);
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
