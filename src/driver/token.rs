//! The token facts of a process the worker holds a reference on: who it runs as
//! (`TokenUser`), at which integrity (`TokenIntegrityLevel`) and in which logon session
//! (the token's authentication id), read from its primary token into
//! [`TokenFacts`]. `PASSIVE_LEVEL` only (every routine here is documented so): the work
//! item routine, unload's final drain and DriverEntry's self-check ([`probe`]), never a
//! callback.
//!
//! `TokenIsAppContainer` is not read: `SeQueryInformationToken`'s documentation lists the
//! classes it supports (…, `TokenUser`, `TokenIntegrityLevel`) and that one is not among
//! them, so `app_container` stays false.

use core::ffi::c_void;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::ntddk::{
    ExFreePool, IoGetCurrentProcess, ObfReferenceObject, PsDereferencePrimaryToken, PsGetCurrentProcessId,
    PsReferencePrimaryToken, SeQueryAuthenticationIdToken, SeQueryInformationToken,
};
use wdk_sys::{_TOKEN_INFORMATION_CLASS, LUID, NT_SUCCESS, PACCESS_TOKEN, PEPROCESS, PVOID, TOKEN_USER};

use crate::worker::WorkerEnv;
use crate::worker::token::{self, SID_MAX_SUB_AUTHORITIES, Sid, TokenFacts};

/// The facts [`read`] looks for, each one query: the user, the integrity level, the
/// logon id. A token that cannot be referenced fails all of them.
const QUERIES: u32 = 3;

/// Set at DriverEntry when the kernel is Wine's ntoskrnl.exe, which exports
/// `PsReferencePrimaryToken`, `SeQueryInformationToken`, `SeQueryAuthenticationIdToken`
/// and `PsDereferencePrimaryToken` only as spec stubs (Wine 8.0 and its current source):
/// calling one aborts the whole driver host, winedevice.exe. Only Wine has the export
/// [`resolve`] looks for, so on Windows this stays false.
static STUBBED: AtomicBool = AtomicBool::new(false);

/// Looks for Wine (DriverEntry, `PASSIVE_LEVEL`, before [`probe`] or any callback):
/// whether the token routines may be called. There is no way to ask a stub whether it
/// is one; an export only Wine's ntoskrnl.exe has is the one reliable sign.
pub(super) fn resolve() {
    let wine = !super::system_routine("wine_ntoskrnl_main_loop").is_null();
    // Relaxed: written once by DriverEntry before anything that reads it can run (the
    // work item is queued, and the probe runs, only after this).
    STUBBED.store(wine, Ordering::Relaxed);
}

/// Fills `facts` from the primary token of `process` and returns how many of the
/// [`QUERIES`] failed (each failure leaves its field `None`).
///
/// `process` must be a referenced `EPROCESS` (a record's held reference, or the probe's).
pub(super) fn read(process: PEPROCESS, facts: &mut TokenFacts) -> u32 {
    // Relaxed: see `resolve`.
    if process.is_null() || STUBBED.load(Ordering::Relaxed) {
        return QUERIES;
    }
    // SAFETY: PASSIVE_LEVEL; `process` is referenced by the caller, so its EPROCESS (and
    // the token it points to) stays valid; the token comes back referenced.
    let primary: PACCESS_TOKEN = unsafe { PsReferencePrimaryToken(process) };
    if primary.is_null() {
        return QUERIES;
    }
    facts.user = user(primary);
    facts.integrity = integrity(primary);
    facts.logon_id = logon_id(primary);
    // SAFETY: drops the reference PsReferencePrimaryToken took, once, after the last use.
    unsafe { PsDereferencePrimaryToken(primary) };
    u32::from(facts.user.is_none()) + u32::from(facts.integrity.is_none()) + u32::from(facts.logon_id.is_none())
}

/// `TokenUser`: the account's SID, copied out of the buffer the routine allocates.
fn user(primary: PACCESS_TOKEN) -> Option<Sid> {
    let mut buffer: PVOID = core::ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `primary` is referenced; on success `buffer` receives a
    // paged-pool TOKEN_USER (with the SID it points to) that the caller frees.
    let status = unsafe { SeQueryInformationToken(primary, _TOKEN_INFORMATION_CLASS::TokenUser, &raw mut buffer) };
    if !NT_SUCCESS(status) || buffer.is_null() {
        return None;
    }
    // SAFETY: a TOKEN_USER from the kernel, valid and aligned until the ExFreePool below.
    let sid = unsafe { buffer.cast::<TOKEN_USER>().read() }.User.Sid;
    let copied = copy_sid(sid);
    // SAFETY: SeQueryInformationToken's buffer, freed once with ExFreePool (as its
    // documentation says), after its last use.
    unsafe { ExFreePool(buffer) };
    copied
}

/// The SID at `sid` (NULL or a valid SID), sized by its own sub-authority count.
fn copy_sid(sid: PVOID) -> Option<Sid> {
    if sid.is_null() {
        return None;
    }
    // SAFETY: a SID starts with its revision and sub-authority count, one byte each.
    let header = unsafe { core::slice::from_raw_parts(sid.cast::<u8>(), 2) };
    let count = usize::from(*header.get(1)?);
    if count > SID_MAX_SUB_AUTHORITIES {
        return None;
    }
    // SAFETY: a valid SID is 8 bytes of header and authority, then `count` ULONGs.
    let bytes = unsafe { core::slice::from_raw_parts(sid.cast::<u8>(), 8 + 4 * count) };
    Sid::from_bytes(bytes)
}

/// `TokenIntegrityLevel`: the mandatory label's RID. Unlike `TokenUser`, the
/// documentation says the output receives "a DWORD value (not a pointer to it)", so there
/// is no buffer to free: the value is the pointer-sized output itself, zeroed first. A
/// kernel that wrote a pointer there instead would fail the `u32` conversion (x64
/// kernel addresses are above 4 GiB), which counts as a failure rather than a bogus level.
fn integrity(primary: PACCESS_TOKEN) -> Option<u32> {
    let mut value: PVOID = core::ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; `primary` is referenced; `value` is a pointer-sized output
    // on this stack.
    let status =
        unsafe { SeQueryInformationToken(primary, _TOKEN_INFORMATION_CLASS::TokenIntegrityLevel, &raw mut value) };
    if !NT_SUCCESS(status) {
        return None;
    }
    u32::try_from(value.addr()).ok()
}

/// The token's authentication id: its logon session's LUID.
fn logon_id(primary: PACCESS_TOKEN) -> Option<u64> {
    let mut id = LUID { LowPart: 0, HighPart: 0 };
    // SAFETY: PASSIVE_LEVEL; `primary` is referenced; `id` is a LUID on this stack.
    let status = unsafe { SeQueryAuthenticationIdToken(primary, &raw mut id) };
    NT_SUCCESS(status).then(|| token::luid(id.LowPart, id.HighPart))
}

/// DriverEntry's self-check of the worker's token path (`PASSIVE_LEVEL`, before any
/// notify routine is registered): takes a reference on the current process (the System
/// process on Windows) as the process callback does, reads its token and drops the
/// reference through `env` exactly as the worker does for a record, and prints one line:
/// `notifyring: token-probe pid=4 user=S-1-5-18 integrity=System logon=0x3e7 failures=0`.
/// Under Wine, whose token routines are stubs, the facts are `-` and `failures=3`.
pub(super) fn probe(env: &mut impl WorkerEnv, level: u32) {
    // SAFETY: no preconditions; the current process, alive while this thread runs.
    let process = unsafe { IoGetCurrentProcess() };
    // SAFETY: as above.
    let pid = super::id(unsafe { PsGetCurrentProcessId() });
    if process.is_null() {
        super::say(level, format_args!("token-probe pid={pid}: no current process"));
        return;
    }
    // SAFETY: the current process is alive; the reference is dropped by
    // `release_process` below, as the worker drops a record's.
    let _ = unsafe { ObfReferenceObject(process.cast::<c_void>()) };
    let object = process.expose_provenance() as u64;
    let mut facts = TokenFacts::default();
    let failures = env.process_token(object, &mut facts);
    env.release_process(object);
    // Relaxed: see `resolve`.
    let why = if STUBBED.load(Ordering::Relaxed) { " (Wine: the token routines are stubs, not called)" } else { "" };
    super::say(level, format_args!("token-probe pid={pid} {} failures={failures}{why}", Shown(&facts)));
}

/// `user=… integrity=… logon=…`, `-` for each fact not known.
struct Shown<'a>(&'a TokenFacts);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        let mut put = |piece: &[u8]| {
            if result.is_ok() {
                result = f.write_str(core::str::from_utf8(piece).unwrap_or("?"));
            }
        };
        put(b"user=");
        match self.0.user {
            Some(sid) => sid.write(&mut put),
            None => put(b"-"),
        }
        put(b" integrity=");
        match self.0.integrity_level() {
            Some(level) => token::write_integrity(level, &mut put),
            None => put(b"-"),
        }
        put(b" logon=");
        match self.0.logon_id {
            Some(id) => token::write_logon_id(id, &mut put),
            None => put(b"-"),
        }
        result
    }
}
