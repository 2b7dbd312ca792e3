//! The token facts of a process the worker holds a reference on: who it runs as
//! (`TokenUser`), at which integrity (`TokenIntegrityLevel`), in which logon session
//! (`TokenStatistics`' `AuthenticationId`) and whether it is an app container
//! (`TokenIsAppContainer`), read into [`TokenFacts`]. `PASSIVE_LEVEL` only (every routine
//! here is documented so): the work item routine, unload's final drain and DriverEntry's
//! self-check ([`probe`]), never a callback.
//!
//! What one [`read`] calls, per process create, in the worker: `ObOpenObjectByPointer`
//! on the referenced `EPROCESS` (a kernel handle with `PROCESS_QUERY_INFORMATION`),
//! `ZwOpenProcessTokenEx` on it (a kernel handle with `TOKEN_QUERY`), four
//! `ZwQueryInformationToken` calls into one 8-aligned buffer on this stack, and `ZwClose`
//! for both handles. No pool allocation: the routines write into the caller's buffer, and
//! what they write is parsed by offset, bounded by the length they report (the SID a
//! `TOKEN_USER` or `TOKEN_MANDATORY_LABEL` points to must lie inside it).
//!
//! What of this runs under Wine, and what Wine answers: docs/wine.md.

use core::ffi::c_void;
use core::mem::offset_of;
use core::ptr;

use wdk_sys::ntddk::{
    IoGetCurrentProcess, ObOpenObjectByPointer, ObfReferenceObject, PsGetCurrentProcessId, ZwClose,
    ZwOpenProcessTokenEx, ZwQueryInformationToken,
};
use wdk_sys::{
    _MODE, _TOKEN_INFORMATION_CLASS, ACCESS_MASK, HANDLE, KPROCESSOR_MODE, LUID, NT_SUCCESS, OBJ_KERNEL_HANDLE,
    PEPROCESS, PSID, SID_AND_ATTRIBUTES, TOKEN_INFORMATION_CLASS, TOKEN_MANDATORY_LABEL, TOKEN_QUERY, TOKEN_STATISTICS,
    TOKEN_USER, ULONG,
};

use super::kernel::{id, say};
use crate::vocab::token::{self, SID_MAX, Sid, TokenFacts};
use crate::worker::Host;

/// The facts [`read`] counts a failure for, each one query: the user, the integrity
/// level, the logon id. A token that cannot be opened fails all of them.
/// `TokenIsAppContainer` is the fourth query but not one of these: see [`read`].
const QUERIES: u32 = 3;

/// `PROCESS_QUERY_INFORMATION` (0x0400, "Process Security and Access Rights"): the access
/// `ZwOpenProcessTokenEx` documents its process handle must have. Not in the generated
/// bindings of the mingw stand-in headers, so spelled here. A `KernelMode` open without
/// `OBJ_FORCE_ACCESS_CHECK` is not access-checked on Windows; Wine's
/// `ObOpenObjectByPointer` asks its server for a handle with exactly this access.
const PROCESS_QUERY_INFORMATION: ACCESS_MASK = 0x0400;

/// `TokenIsAppContainer` (29th in `TOKEN_INFORMATION_CLASS`, counting from `TokenUser` =
/// 1; Windows 8 and later): "a DWORD value that is nonzero if the token is an app
/// container token". The mingw stand-in's enum ends before it (`MaxTokenInfoClass` = 29
/// there), so the value is spelled here.
const TOKEN_IS_APP_CONTAINER: TOKEN_INFORMATION_CLASS = 29;

/// Room for the largest answer read: a `TOKEN_USER` or `TOKEN_MANDATORY_LABEL` followed by
/// its SID (`SECURITY_MAX_SID_SIZE`), which the routine places in the same buffer.
const BUFFER_BYTES: usize = (size_of::<TOKEN_USER>() + SID_MAX).next_multiple_of(8);
const _: () = assert!(size_of::<TOKEN_MANDATORY_LABEL>() + SID_MAX <= BUFFER_BYTES);
const _: () = assert!(size_of::<TOKEN_STATISTICS>() <= BUFFER_BYTES);

/// The caller's buffer for `ZwQueryInformationToken`, on the stack. The documentation
/// asks for 32-bit alignment; 8 suits the pointers and LUIDs in the structures.
#[repr(C, align(8))]
struct Buffer([u8; BUFFER_BYTES]);

/// A kernel handle (`OBJ_KERNEL_HANDLE`), closed once when dropped.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: PASSIVE_LEVEL; a handle `open` got from the kernel, closed once.
        let _ = unsafe { ZwClose(self.0) };
    }
}

/// Fills `facts` from the primary token of `process` and returns how many of the
/// [`QUERIES`] failed (each failure leaves its field `None`).
///
/// `TokenIsAppContainer` is read too, but a failure there is not counted: it leaves
/// `app_container` false, which is also the answer for the common case, and
/// `token_failures=` stays a count of the three facts a line can lack.
///
/// `process` must be a referenced `EPROCESS` (a record's held reference, or the probe's).
pub(super) fn read(process: PEPROCESS, facts: &mut TokenFacts) -> u32 {
    if process.is_null() {
        return QUERIES;
    }
    let Some(token) = open(process) else { return QUERIES };
    let mut buffer = Buffer([0; BUFFER_BYTES]);
    facts.user = user(&token, &mut buffer);
    facts.integrity = integrity(&token, &mut buffer);
    facts.logon_id = logon_id(&token, &mut buffer);
    facts.app_container = app_container(&token, &mut buffer).unwrap_or(false);
    u32::from(facts.user.is_none()) + u32::from(facts.integrity.is_none()) + u32::from(facts.logon_id.is_none())
}

/// A `TOKEN_QUERY` handle on `process`'s primary token, through a process handle that is
/// closed again before this returns.
fn open(process: PEPROCESS) -> Option<Handle> {
    let kernel_mode = KPROCESSOR_MODE::try_from(_MODE::KernelMode).unwrap_or_default();
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `process` is a referenced EPROCESS (the caller's reference
    // keeps it alive through the call); a kernel handle, closed by `Handle`'s drop; no
    // access state; ObjectType NULL, which the documentation allows for KernelMode (the
    // bindings have `PsProcessType` only as a DATA import, and the token open below
    // fails STATUS_OBJECT_TYPE_MISMATCH for anything but a process).
    let status = unsafe {
        ObOpenObjectByPointer(
            process.cast::<c_void>(),
            OBJ_KERNEL_HANDLE,
            ptr::null_mut(),
            PROCESS_QUERY_INFORMATION,
            ptr::null_mut(),
            kernel_mode,
            &raw mut handle,
        )
    };
    if !NT_SUCCESS(status) || handle.is_null() {
        return None;
    }
    let process = Handle(handle);
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `process` is an open process handle with
    // PROCESS_QUERY_INFORMATION; `handle` receives a kernel handle, closed by `Handle`'s
    // drop.
    let status = unsafe { ZwOpenProcessTokenEx(process.0, TOKEN_QUERY, OBJ_KERNEL_HANDLE, &raw mut handle) };
    (NT_SUCCESS(status) && !handle.is_null()).then_some(Handle(handle))
}

/// The bytes `ZwQueryInformationToken` wrote for `class` into `buffer`, as many as it
/// says it returned (`None` on failure, or if that exceeds the buffer).
fn query<'b>(token: &Handle, class: TOKEN_INFORMATION_CLASS, buffer: &'b mut Buffer) -> Option<&'b [u8]> {
    let capacity = ULONG::try_from(BUFFER_BYTES).ok()?;
    let mut returned: ULONG = 0;
    // SAFETY: PASSIVE_LEVEL; `token` is open with TOKEN_QUERY; `buffer` has `capacity`
    // writable, 8-aligned bytes and `returned` is a ULONG, both on this stack and alive
    // through the call.
    let status =
        unsafe { ZwQueryInformationToken(token.0, class, buffer.0.as_mut_ptr().cast(), capacity, &raw mut returned) };
    if !NT_SUCCESS(status) {
        return None;
    }
    buffer.0.get(..usize::try_from(returned).ok()?)
}

/// The SID a `SID_AND_ATTRIBUTES` at `at` in `bytes` points to: the kernel places it in
/// the same buffer, so the pointer is taken as an offset into `bytes` and the SID is
/// copied from there, bounded by what was returned (`None` if it points elsewhere).
fn sid_at(bytes: &[u8], at: usize) -> Option<Sid> {
    let at = at + offset_of!(SID_AND_ATTRIBUTES, Sid);
    let field = bytes.get(at..at + size_of::<PSID>())?;
    let address = usize::from_ne_bytes(field.try_into().ok()?);
    let offset = address.checked_sub(bytes.as_ptr().addr())?;
    Sid::from_bytes(bytes.get(offset..)?)
}

/// `TokenUser`: a `TOKEN_USER`, the account's SID.
fn user(token: &Handle, buffer: &mut Buffer) -> Option<Sid> {
    let bytes = query(token, _TOKEN_INFORMATION_CLASS::TokenUser, buffer)?;
    sid_at(bytes, offset_of!(TOKEN_USER, User))
}

/// `TokenIntegrityLevel`: a `TOKEN_MANDATORY_LABEL`, whose label SID's RID is the level.
fn integrity(token: &Handle, buffer: &mut Buffer) -> Option<u32> {
    let bytes = query(token, _TOKEN_INFORMATION_CLASS::TokenIntegrityLevel, buffer)?;
    sid_at(bytes, offset_of!(TOKEN_MANDATORY_LABEL, Label))?.rid()
}

/// `TokenStatistics`: a `TOKEN_STATISTICS`, whose `AuthenticationId` is the logon
/// session's LUID.
fn logon_id(token: &Handle, buffer: &mut Buffer) -> Option<u64> {
    let bytes = query(token, _TOKEN_INFORMATION_CLASS::TokenStatistics, buffer)?;
    let at = offset_of!(TOKEN_STATISTICS, AuthenticationId);
    let low = bytes.get(at + offset_of!(LUID, LowPart)..)?.first_chunk::<4>()?;
    let high = bytes.get(at + offset_of!(LUID, HighPart)..)?.first_chunk::<4>()?;
    Some(token::luid(u32::from_ne_bytes(*low), i32::from_ne_bytes(*high)))
}

/// `TokenIsAppContainer`: a ULONG, nonzero for an app container's token.
fn app_container(token: &Handle, buffer: &mut Buffer) -> Option<bool> {
    let bytes = query(token, TOKEN_IS_APP_CONTAINER, buffer)?;
    Some(u32::from_ne_bytes(*bytes.first_chunk::<4>()?) != 0)
}

/// DriverEntry's self-check of the worker's token path (`PASSIVE_LEVEL`, before any
/// notify routine is registered): takes a reference on the current process (the System
/// process on Windows) as the process callback does, reads its token and drops the
/// reference through `env` exactly as the worker does for a record, and prints one line:
/// `notifyring: token-probe pid=4 user=S-1-5-18 integrity=System logon=0x3e7 failures=0`.
/// Under Wine the facts are winedevice.exe's token's (`tools/smoke-wine.sh` asserts them).
pub(super) fn probe(env: &mut impl Host, level: u32) {
    // SAFETY: no preconditions; the current process, alive while this thread runs.
    let process = unsafe { IoGetCurrentProcess() };
    // SAFETY: as above.
    let pid = id(unsafe { PsGetCurrentProcessId() });
    if process.is_null() {
        say(level, format_args!("token-probe pid={pid}: no current process"));
        return;
    }
    // SAFETY: the current process is alive; the reference is dropped by
    // `release_process` below, as the worker drops a record's.
    let _ = unsafe { ObfReferenceObject(process.cast::<c_void>()) };
    let object = process.expose_provenance() as u64;
    let mut facts = TokenFacts::default();
    let failures = env.process_token(object, &mut facts);
    env.release_process(object);
    say(level, format_args!("token-probe pid={pid}{} failures={failures}", token::Shown(&facts)));
}
