//! Process create/exit: `PASSIVE_LEVEL` inside a critical region, on the creating
//! thread or the last exiting thread. Extracts the fields of `PS_CREATE_NOTIFY_INFO`
//! (NULL on exit) and records them; nothing else. A create's record also holds a
//! reference on the new process (taken only once the record has its place in the ring),
//! through which the worker reads its token (`token`) and which it then drops.
//!
//! Registered with `PsSetCreateProcessNotifyRoutineEx2(PsCreateProcessNotifySubsystems)`
//! where the kernel exports it (Windows 10 1703+; looked up at run time): only then are
//! subsystem (WSL1/pico) processes reported, and `IsSubsystemProcess` filled in. With
//! `PsSetCreateProcessNotifyRoutineEx` (the fallback) they are not reported at all.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

use wdk_sys::ntddk::{ObfReferenceObject, PsGetProcessExitStatus, PsSetCreateProcessNotifyRoutineEx};
use wdk_sys::{BOOLEAN, HANDLE, NTSTATUS, PEPROCESS, PPS_CREATE_NOTIFY_INFO, PS_CREATE_NOTIFY_INFO, PVOID};

use super::global::driver;
use super::kernel::{id, routine, stamp, units};
use crate::event::{ClientId, Event};
use crate::ntname::NtName;

/// `PsSetCreateProcessNotifyRoutineEx2` (ntddk.h, Windows 10 1703): the notify type,
/// the routine (for `PsCreateProcessNotifySubsystems`), and whether to remove it.
type NotifyRoutineEx2 = unsafe extern "system" fn(notify_type: u32, information: PVOID, remove: BOOLEAN) -> NTSTATUS;

/// `PSCREATEPROCESSNOTIFYTYPE::PsCreateProcessNotifySubsystems`: every subsystem's
/// processes, Win32 included.
const PS_CREATE_PROCESS_NOTIFY_SUBSYSTEMS: u32 = 0;

/// The Ex2 routine's name, counted at compile time (too long a name fails the build).
const EX2_NAME: NtName = NtName::of("PsSetCreateProcessNotifyRoutineEx2");

/// The Ex2 routine `register` used, or NULL if it used `…Ex`; `unregister` removes
/// the routine with the same API.
static EX2: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The registration API in use, for DriverEntry's status line.
pub(super) fn api() -> &'static str {
    // Relaxed: written and read by DriverEntry/unload only, which never overlap.
    if EX2.load(Ordering::Relaxed).is_null() {
        "PsSetCreateProcessNotifyRoutineEx"
    } else {
        "PsSetCreateProcessNotifyRoutineEx2(PsCreateProcessNotifySubsystems)"
    }
}

/// The notify routine. No allocation, lock, wait, print or panic: it only reads its
/// arguments and calls [`crate::Pipeline::record`], or for a create
/// [`crate::Pipeline::record_holding`], whose one kernel call is `ObfReferenceObject`.
unsafe extern "C" fn on_process(process: PEPROCESS, process_id: HANDLE, create_info: PPS_CREATE_NOTIFY_INFO) {
    let Some(driver) = driver() else { return };
    let stamp = stamp();
    let pid = id(process_id);
    // SAFETY: NULL (an exit) or the kernel's PS_CREATE_NOTIFY_INFO, valid during the call.
    let Some(info) = (unsafe { create_info.as_ref() }) else {
        driver.pipeline.record(stamp, &exited(pid, process));
        return;
    };
    // The record carries the EPROCESS address; the reference is taken between the copy
    // and the commit, i.e. only for a record that got its place (a lost one holds none),
    // and the worker drops it once (`KernelHost::release_process`).
    driver.pipeline.record_holding(stamp, &created(pid, info), process.expose_provenance() as u64, || {
        // SAFETY: `process` is the new process, referenced by the kernel for the duration
        // of the callback; ObfReferenceObject is an interlocked increment of its pointer
        // count (<= DISPATCH_LEVEL, no lock, no allocation, no wait).
        let _ = unsafe { ObfReferenceObject(process.cast::<c_void>()) };
    });
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

/// Calls the Ex2 routine at `address` for `on_process`.
fn ex2(address: *mut c_void, remove: bool) -> NTSTATUS {
    // SAFETY: a non-NULL value MmGetSystemRoutineAddress returned for
    // "PsSetCreateProcessNotifyRoutineEx2", whose prototype `NotifyRoutineEx2` is.
    let routine = unsafe { core::mem::transmute::<*mut c_void, NotifyRoutineEx2>(address) };
    let information = (on_process as unsafe extern "C" fn(_, _, _)) as PVOID;
    // SAFETY: PASSIVE_LEVEL; for PsCreateProcessNotifySubsystems the information is the
    // PCREATE_PROCESS_NOTIFY_ROUTINE_EX, which `on_process` is; it stays loaded until
    // the removal returns.
    unsafe { routine(PS_CREATE_PROCESS_NOTIFY_SUBSYSTEMS, information, BOOLEAN::from(remove)) }
}

/// Registers the routine (DriverEntry; fails with 0xC0000022 unless the image is
/// linked with /INTEGRITYCHECK and signed): with Ex2 where the kernel has it.
pub(super) fn register() -> NTSTATUS {
    let address = routine(&EX2_NAME);
    // Relaxed: see `api`.
    EX2.store(address, Ordering::Relaxed);
    if !address.is_null() {
        return ex2(address, false);
    }
    // SAFETY: PASSIVE_LEVEL; `on_process` has the documented signature and stays
    // loaded until `unregister` returns.
    unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process), BOOLEAN::from(false)) }
}

/// Removes the routine with the API that registered it; waits for calls in flight
/// (unload, never a callback).
pub(super) fn unregister() -> NTSTATUS {
    // Relaxed: see `api`.
    let address = EX2.load(Ordering::Relaxed);
    if !address.is_null() {
        return ex2(address, true);
    }
    // SAFETY: PASSIVE_LEVEL; removes the routine `register` added.
    unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process), BOOLEAN::from(true)) }
}
