//! The worker's look-ups by id (`PASSIVE_LEVEL`: the work item routine, unload's final
//! drain, DriverEntry's probes; never a callback): a process's image name, when a process
//! was created, and where a new thread starts. Each takes a reference on the object it
//! looks up and drops it before returning; none allocates from pool but
//! `SeLocateProcessImageName`'s own answer, freed here.
//!
//! What of this runs under Wine, and what Wine answers: docs/wine.md.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;

use wdk_sys::ntddk::{
    ExFreePool, ObOpenObjectByPointer, ObfDereferenceObject, PsGetProcessCreateTimeQuadPart, PsGetThreadProcessId,
    PsLookupProcessByProcessId, PsLookupThreadByThreadId, SeLocateProcessImageName, ZwClose,
};
use wdk_sys::{
    _MODE, _THREADINFOCLASS, ACCESS_MASK, HANDLE, KPROCESSOR_MODE, MEM_COMMIT, NT_SUCCESS, NTSTATUS, OBJ_KERNEL_HANDLE,
    PEPROCESS, PETHREAD, PSIZE_T, PULONG, PUNICODE_STRING, PVOID, SIZE_T, THREADINFOCLASS, ULONG,
};

use super::kernel::units;
use crate::vocab::process::{Lookup, Name};
use crate::vocab::start::{StartRegion, ThreadStart};

// Declared from their documented prototypes (ntifs.h): the lane's generated bindings lack
// both, and a declaration of our own cannot clash with the WDK's.
unsafe extern "system" {
    /// `ZwQueryInformationThread`, as its documentation page gives it.
    fn ZwQueryInformationThread(
        thread: HANDLE,
        class: THREADINFOCLASS,
        information: PVOID,
        length: ULONG,
        returned: PULONG,
    ) -> NTSTATUS;
    /// `ZwQueryVirtualMemory`, as its documentation page (ntifs.h) gives it.
    fn ZwQueryVirtualMemory(
        process: HANDLE,
        address: PVOID,
        class: u32,
        information: PVOID,
        length: SIZE_T,
        returned: PSIZE_T,
    ) -> NTSTATUS;
}

/// `MEMORY_INFORMATION_CLASS::MemoryBasicInformation`, the one class the documentation
/// supports for `ZwQueryVirtualMemory`.
const MEMORY_BASIC_INFORMATION_CLASS: u32 = 0;
/// `MEM_IMAGE` (winnt.h): the pages map a view of an image section.
const MEM_IMAGE: u32 = 0x0100_0000;
/// `THREAD_QUERY_INFORMATION` ("Thread Security and Access Rights"); not in the lane's
/// bindings. A `KernelMode` open is not access-checked on Windows.
const THREAD_QUERY_INFORMATION: ACCESS_MASK = 0x0040;
/// `PROCESS_QUERY_INFORMATION`, as `token` spells it.
const PROCESS_QUERY_INFORMATION: ACCESS_MASK = 0x0400;

/// `MEMORY_BASIC_INFORMATION` (winnt.h) as the x64 kernel fills it.
#[repr(C)]
#[derive(Default)]
struct MemoryBasicInformation {
    base_address: usize,
    allocation_base: usize,
    allocation_protect: u32,
    partition_id: u16,
    region_size: usize,
    state: u32,
    protect: u32,
    kind: u32,
}

/// A referenced object (`PsLookup*`'s answer), dereferenced once when dropped.
struct Referenced(*mut c_void);

impl Drop for Referenced {
    fn drop(&mut self) {
        // SAFETY: drops the one reference the look-up took; nothing uses it after.
        unsafe { ObfDereferenceObject(self.0) };
    }
}

/// A kernel handle (`OBJ_KERNEL_HANDLE`), closed once when dropped.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: PASSIVE_LEVEL; a handle `open` got from the kernel, closed once.
        let _ = unsafe { ZwClose(self.0) };
    }
}

/// A process or thread id as the kernel takes it.
fn id(value: u64) -> Option<HANDLE> {
    usize::try_from(value).ok().map(ptr::without_provenance_mut)
}

/// `pid`'s process, referenced.
fn process(pid: u64) -> Option<Referenced> {
    let mut process: PEPROCESS = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `process` receives a referenced EPROCESS on success.
    let status = unsafe { PsLookupProcessByProcessId(id(pid)?, &raw mut process) };
    (NT_SUCCESS(status) && !process.is_null()).then(|| Referenced(process.cast()))
}

/// A kernel handle with `access` on the referenced `object`.
fn open(object: &Referenced, access: ACCESS_MASK) -> Option<Handle> {
    let kernel_mode = KPROCESSOR_MODE::try_from(_MODE::KernelMode).unwrap_or_default();
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `object` is referenced for the call (the caller holds it); a
    // kernel handle, closed by `Handle`'s drop; no access state; ObjectType NULL, which
    // the documentation allows for KernelMode (the queries below fail for a wrong type).
    let status = unsafe {
        ObOpenObjectByPointer(
            object.0,
            OBJ_KERNEL_HANDLE,
            ptr::null_mut(),
            access,
            ptr::null_mut(),
            kernel_mode,
            &raw mut handle,
        )
    };
    (NT_SUCCESS(status) && !handle.is_null()).then_some(Handle(handle))
}

/// The image file name of `pid` (`SeLocateProcessImageName`): `Found`, `NoImageFile` for
/// a process without one (Registry, `MemCompression`, …), `Failed` if there is no such
/// process.
pub(super) fn process_image(pid: u64, name: &mut Name) -> Lookup {
    let Some(process) = process(pid) else { return Lookup::Failed };
    let mut image: PUNICODE_STRING = ptr::null_mut();
    // SAFETY: `process` is referenced; on success `image` is a pool allocation holding a
    // UNICODE_STRING and its buffer, which is freed below.
    let status = unsafe { SeLocateProcessImageName(process.0.cast(), &raw mut image) };
    if !NT_SUCCESS(status) || image.is_null() {
        return Lookup::NoImageFile;
    }
    // SAFETY: `image` is valid until the ExFreePool below.
    let found = match unsafe { units(image) } {
        Some(units) if !units.is_empty() => {
            *name = Name::from_path(units.iter().copied());
            Lookup::Found
        }
        _ => Lookup::NoImageFile,
    };
    // SAFETY: SeLocateProcessImageName's allocation, freed once, after its last use.
    unsafe { ExFreePool(image.cast::<c_void>()) };
    found
}

/// When the process `pid` names was created, as the system time it was stamped with
/// (`PsGetProcessCreateTimeQuadPart`: `KeQuerySystemTime`'s value then); `None` if there
/// is no such process.
pub(super) fn process_created(pid: u64) -> Option<u64> {
    let process = process(pid)?;
    // SAFETY: a referenced EPROCESS; any IRQL.
    let created = unsafe { PsGetProcessCreateTimeQuadPart(process.0.cast()) };
    u64::try_from(created).ok()
}

/// Where thread `tid` of process `pid` starts: its Win32 start address
/// (`ZwQueryInformationThread`, `ThreadQuerySetWin32StartAddress`) and what `pid`'s memory
/// holds there (`ZwQueryVirtualMemory`, `MemoryBasicInformation`). `None` if the thread is
/// gone, or `tid` now names a thread of another process (reused); a region that cannot be
/// queried is `Unknown`.
pub(super) fn thread_start(pid: u64, tid: u64) -> Option<ThreadStart> {
    let mut thread: PETHREAD = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `thread` receives a referenced ETHREAD on success.
    let status = unsafe { PsLookupThreadByThreadId(id(tid)?, &raw mut thread) };
    if !NT_SUCCESS(status) || thread.is_null() {
        return None;
    }
    let thread = Referenced(thread.cast());
    // SAFETY: a referenced ETHREAD; any IRQL.
    let owner = unsafe { PsGetThreadProcessId(thread.0.cast()) };
    if owner.addr() as u64 != pid {
        return None;
    }
    let handle = open(&thread, THREAD_QUERY_INFORMATION)?;
    let mut address: usize = 0;
    let length = ULONG::try_from(size_of::<usize>()).ok()?;
    // SAFETY: PASSIVE_LEVEL; an open thread handle; `address` is a pointer-sized, aligned
    // buffer of `length` bytes on this stack; no returned length is asked for.
    let status = unsafe {
        ZwQueryInformationThread(
            handle.0,
            _THREADINFOCLASS::ThreadQuerySetWin32StartAddress,
            (&raw mut address).cast(),
            length,
            ptr::null_mut(),
        )
    };
    if !NT_SUCCESS(status) {
        return None;
    }
    drop(handle);
    // The thread's reference keeps its process (and so `pid`) alive through the query.
    let region = region(pid, address);
    drop(thread);
    Some(ThreadStart { address: address as u64, region })
}

/// What `pid`'s memory holds at `address`: the image mapped there (its allocation's base),
/// none, or `Unknown` if the memory cannot be queried.
fn region(pid: u64, address: usize) -> StartRegion {
    let Some(process) = process(pid) else { return StartRegion::Unknown };
    let Some(handle) = open(&process, PROCESS_QUERY_INFORMATION) else { return StartRegion::Unknown };
    let mut info = MemoryBasicInformation::default();
    let mut returned: SIZE_T = 0;
    // SAFETY: PASSIVE_LEVEL; an open process handle; `info` is a MEMORY_BASIC_INFORMATION
    // on this stack of the size passed; `returned` is writable. The address is only a
    // number to the routine (it is never dereferenced here).
    let status = unsafe {
        ZwQueryVirtualMemory(
            handle.0,
            ptr::without_provenance_mut(address),
            MEMORY_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<MemoryBasicInformation>() as SIZE_T,
            &raw mut returned,
        )
    };
    if !NT_SUCCESS(status) || returned < size_of::<MemoryBasicInformation>() as SIZE_T {
        return StartRegion::Unknown;
    }
    if info.state == MEM_COMMIT && info.kind == MEM_IMAGE {
        StartRegion::Image { base: info.allocation_base as u64 }
    } else {
        StartRegion::NoImage
    }
}
