//! Process create/exit (`PsSetCreateProcessNotifyRoutineEx`): `PASSIVE_LEVEL` inside a
//! critical region, on the creating thread or the last exiting thread. Extracts the
//! fields of `PS_CREATE_NOTIFY_INFO` (NULL on exit) and records them; nothing else.

use wdk_sys::ntddk::{PsGetProcessExitStatus, PsSetCreateProcessNotifyRoutineEx};
use wdk_sys::{BOOLEAN, HANDLE, NTSTATUS, PEPROCESS, PPS_CREATE_NOTIFY_INFO, PS_CREATE_NOTIFY_INFO};

use super::{id, stamp, units};
use crate::event::{ClientId, Event};

/// The notify routine. No allocation, lock, wait, print or panic: it only reads its
/// arguments and calls [`crate::Pipeline::record`].
unsafe extern "C" fn on_process(process: PEPROCESS, process_id: HANDLE, create_info: PPS_CREATE_NOTIFY_INFO) {
    let Some(driver) = super::driver() else { return };
    let stamp = stamp();
    let pid = id(process_id);
    // SAFETY: NULL (an exit) or the kernel's PS_CREATE_NOTIFY_INFO, valid during the call.
    let info = unsafe { create_info.as_ref() };
    let event = info.map_or_else(|| exited(pid, process), |info| created(pid, info));
    driver.pipeline.record(stamp, &event);
}

/// A create: the fields of `info`, borrowed for the duration of the callback.
fn created(pid: u64, info: &PS_CREATE_NOTIFY_INFO) -> Event<'_> {
    // SAFETY: `Flags` and the bit-field struct are two views of one ULONG; every bit
    // pattern is valid for both.
    let flags = unsafe { info.__bindgen_anon_1.__bindgen_anon_1 };
    Event::ProcessCreate {
        pid,
        parent_pid: id(info.ParentProcessId),
        creator: ClientId { pid: id(info.CreatingThreadId.UniqueProcess), tid: id(info.CreatingThreadId.UniqueThread) },
        file_open_name_available: flags.FileOpenNameAvailable() != 0,
        subsystem_process: flags.IsSubsystemProcess() != 0,
        // SAFETY: NULL or valid while `info` is (the callback); `record` copies it.
        image: unsafe { units(info.ImageFileName) },
        // SAFETY: as above.
        command_line: unsafe { units(info.CommandLine) },
    }
}

/// An exit: `process` is the exiting process, referenced for the callback.
fn exited(pid: u64, process: PEPROCESS) -> Event<'static> {
    // SAFETY: a live EPROCESS (the callback's argument), <= APC_LEVEL.
    let status = unsafe { PsGetProcessExitStatus(process) };
    Event::ProcessExit { pid, exit_status: status.cast_unsigned() }
}

/// Registers the routine (DriverEntry; fails with 0xC0000022 unless the image is
/// linked with /INTEGRITYCHECK and signed).
pub(super) fn register() -> NTSTATUS {
    // SAFETY: PASSIVE_LEVEL; `on_process` has the documented signature and stays
    // loaded until `unregister` returns.
    unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process), BOOLEAN::from(false)) }
}

/// Removes the routine; waits for calls in flight (unload, never a callback).
pub(super) fn unregister() -> NTSTATUS {
    // SAFETY: PASSIVE_LEVEL; removes the routine `register` added.
    unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process), BOOLEAN::from(true)) }
}
