//! The Windows calls: open `\\.\Global\NotifyRing`, read batches overlapped until Ctrl+C,
//! ask for the status.
//!
//! And what the JSON output needs to know about the machine: the drive letters'
//! volumes, the Windows directory, process images and command lines, the clock, the
//! account names of user SIDs, the files mapped where threads start.
//!
//! Ctrl+C: the console handler (another thread) sets [`STOP`] and cancels the pending
//! read with `CancelIoEx`; the read then ends with `ERROR_OPERATION_ABORTED` and the
//! watch ends normally. A Ctrl+C between two reads finds nothing to cancel, so the main
//! thread looks at [`STOP`] after issuing each read and cancels it itself.

use std::ffi::c_void;
use std::io;
use std::os::windows::fs::OpenOptionsExt as _;
use std::os::windows::io::AsRawHandle as _;
use std::ptr::{null, null_mut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::accounts::AccountCache;
use crate::disk::{FileId, Files, Identity, Signature, StdFiles};
use notifyring::reader::{device, wire};
use notifyring::user::accounts::AccountNames;
use notifyring::user::json::HostProcess;
use notifyring::user::paths::PathMap;
use notifyring::user::pe::{self, Exports};
use notifyring::user::starts::{StartPlace, StartPlaces, StartRegion, ThreadStart};
use notifyring::user::watch::{Anchor, Watch};
use notifyring::vocab::token::{SID_MAX, Sid};
use std::collections::HashMap;
use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessCommandLineInformation};
use windows_sys::Win32::Foundation::{
    ERROR_INSUFFICIENT_BUFFER, ERROR_IO_PENDING, ERROR_NONE_MAPPED, ERROR_OPERATION_ABORTED, GENERIC_READ,
    GetLastError, INVALID_HANDLE_VALUE, NTSTATUS, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL,
    STATUS_INFO_LENGTH_MISMATCH,
};
use windows_sys::Win32::Security::{LookupAccountSidW, PSID, SID_NAME_USE};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, CreateFileW, FILE_FLAG_OVERLAPPED, FILE_FLAGS_AND_ATTRIBUTES, FILE_READ_ATTRIBUTES,
    FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, GetFileInformationByHandle, OPEN_EXISTING, QueryDosDeviceW,
    ReadFile,
};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::IO::{CancelIoEx, DeviceIoControl, GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::System::Memory::{MEM_COMMIT, MEM_IMAGE, MEMORY_BASIC_INFORMATION, VirtualQueryEx};
use windows_sys::Win32::System::Performance::QueryPerformanceCounter;
use windows_sys::Win32::System::ProcessStatus::K32GetMappedFileNameW;
use windows_sys::Win32::System::SystemInformation::GetWindowsDirectoryW;
use windows_sys::Win32::System::Threading::{
    CreateEventW, OpenProcess, PROCESS_NAME_NATIVE, PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION,
    QueryFullProcessImageNameW,
};

use crate::error::CliError;
use crate::output::Output;

/// Bytes per read: the driver's minimum, which holds the most one read returns
/// (`channel::MAX_BATCH`: the driver copies a bounded share per read under its spin lock).
const READ_BYTES: usize = wire::MIN_READ;
const _: () = assert!(notifyring::reader::MAX_BATCH <= READ_BYTES);

/// Set by the console handler: the user asked to stop.
static STOP: AtomicBool = AtomicBool::new(false);
/// The reader's handle while a watch runs (null otherwise), for the handler to cancel.
static DEVICE: AtomicPtr<c_void> = AtomicPtr::new(null_mut());

/// `GetLastError()`.
fn last_error() -> u32 {
    // SAFETY: no preconditions; reads this thread's last-error value.
    unsafe { GetLastError() }
}

/// `s` as a NUL-terminated UTF-16 string.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

pub use crate::handle::Handle;

/// Opens the device with `access`; the driver's refusals become their [`CliError`].
fn open_device(access: u32, flags: FILE_FLAGS_AND_ATTRIBUTES) -> Result<Handle, CliError> {
    open_path(device::USER_PATH, access, flags).map_err(|code| CliError::from_win32("opening the device", code))
}

/// Opens `path` as the device is opened; a failure is its Win32 error.
fn open_path(path: &str, access: u32, flags: FILE_FLAGS_AND_ATTRIBUTES) -> Result<Handle, u32> {
    let path = wide(path);
    // SAFETY: `path` is NUL-terminated and outlives the call; the null security
    // attributes and template handle are allowed.
    let h = unsafe {
        CreateFileW(path.as_ptr(), access, FILE_SHARE_READ | FILE_SHARE_WRITE, null(), OPEN_EXISTING, flags, null_mut())
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    Ok(Handle(h))
}

/// The attached reader: the device opened for reading, and the event its reads signal.
pub struct Reader {
    device: Handle,
    event: Handle,
}

/// The console's Ctrl+C / Ctrl+Break / close: stop, cancelling the pending read.
unsafe extern "system" fn on_ctrl(_kind: u32) -> i32 {
    STOP.store(true, Ordering::SeqCst);
    let device = DEVICE.load(Ordering::SeqCst);
    if !device.is_null() {
        // SAFETY: `DEVICE` holds the reader's open handle while a watch runs (cleared
        // before it is closed); a null OVERLAPPED cancels all of its I/O in this process.
        unsafe { CancelIoEx(device, null()) };
    }
    1
}

impl Reader {
    /// Opens `\\.\Global\NotifyRing` as its reader (`GENERIC_READ`, overlapped).
    ///
    /// # Errors
    /// Driver not loaded, access denied, another reader attached, or another failure.
    pub fn open() -> Result<Self, CliError> {
        let device = open_device(GENERIC_READ, FILE_FLAG_OVERLAPPED)?;
        // SAFETY: null attributes and name are allowed: an unnamed manual-reset event.
        let event = unsafe { CreateEventW(null(), 1, 0, null()) };
        if event.is_null() {
            return Err(CliError::from_win32("creating an event", last_error()));
        }
        Ok(Self { device, event: Handle(event) })
    }

    /// Reads and prints batches until Ctrl+C (then `Ok`) or an error.
    ///
    /// # Errors
    /// A failed read, a batch this program cannot read, or a failed write.
    pub fn run(self, watch: &mut Watch, out: &mut Output) -> Result<(), CliError> {
        DEVICE.store(self.device.0, Ordering::SeqCst);
        // SAFETY: `on_ctrl` has the handler signature and stays valid for the process.
        let installed = unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) };
        let result = if installed == 0 {
            Err(CliError::from_win32("installing the Ctrl+C handler", last_error()))
        } else {
            self.read_loop(watch, out)
        };
        DEVICE.store(null_mut(), Ordering::SeqCst);
        result
    }

    fn read_loop(&self, watch: &mut Watch, out: &mut Output) -> Result<(), CliError> {
        let mut buf = vec![0u8; READ_BYTES];
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        while !STOP.load(Ordering::SeqCst) {
            let n = self.read(&mut buf, len)?;
            let Some(n) = n else { break };
            let Some(bytes) = buf.get(..n).filter(|b| !b.is_empty()) else { continue };
            watch.batch(bytes, anchor, host_process, |line| out.line(line))?;
            out.flush()?;
        }
        Ok(())
    }

    /// One read: its byte count, or `None` if it was cancelled for Ctrl+C.
    fn read(&self, buf: &mut [u8], len: u32) -> Result<Option<usize>, CliError> {
        let mut ov = OVERLAPPED { hEvent: self.event.0, ..OVERLAPPED::default() };
        // SAFETY: `buf` holds `len` bytes; `buf` and `ov` are not touched again until
        // GetOverlappedResult below has waited for the read to finish.
        let issued = unsafe { ReadFile(self.device.0, buf.as_mut_ptr(), len, null_mut(), &raw mut ov) };
        if issued == 0 {
            let e = last_error();
            if e != ERROR_IO_PENDING {
                return Err(CliError::from_win32("reading", e));
            }
        }
        if STOP.load(Ordering::SeqCst) {
            // SAFETY: `ov` is this read's, still alive; cancelling a finished read is harmless.
            unsafe { CancelIoEx(self.device.0, &raw const ov) };
        }
        let mut n = 0u32;
        // SAFETY: the handle and `ov` are the read's; `n` is writable; waits for the end.
        let done = unsafe { GetOverlappedResult(self.device.0, &raw const ov, &raw mut n, 1) };
        if done == 0 {
            let e = last_error();
            if e == ERROR_OPERATION_ABORTED && STOP.load(Ordering::SeqCst) {
                return Ok(None);
            }
            return Err(CliError::from_win32("reading", e));
        }
        Ok(Some(n as usize))
    }
}

/// The status IOCTL's reply, on a handle that may only ask for it.
///
/// # Errors
/// Driver not loaded, access denied, or the IOCTL failed.
pub fn status_reply() -> Result<Vec<u8>, CliError> {
    let device = open_device(FILE_READ_ATTRIBUTES, 0)?;
    let mut buf = vec![0u8; wire::STATUS_MAX];
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let mut n = 0u32;
    // SAFETY: no input buffer; `buf` holds `len` bytes and `n` is writable; synchronous
    // (no OVERLAPPED on a handle opened without FILE_FLAG_OVERLAPPED).
    let ok = unsafe {
        DeviceIoControl(device.0, device::IOCTL_STATUS, null(), 0, buf.as_mut_ptr().cast(), len, &raw mut n, null_mut())
    };
    if ok == 0 {
        return Err(CliError::from_win32("asking for the status", last_error()));
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The wall clock and the performance counter, read together (see `user::watch`).
fn anchor() -> Anchor {
    let mut ticks = 0i64;
    // SAFETY: `ticks` is writable; cannot fail on XP and later.
    unsafe { QueryPerformanceCounter(&raw mut ticks) };
    let wall_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Anchor { wall_ns, ticks: u64::try_from(ticks).unwrap_or(0) }
}

/// What Windows says of process `pid`, for processes started before the watch: its NT
/// image path (`QueryFullProcessImageName`) and, where it can be read, its command line
/// ([`command_line`]); `None` if the process cannot be opened or has no image path.
fn host_process(pid: u64) -> Option<HostProcess> {
    let pid = u32::try_from(pid).ok()?;
    // SAFETY: plain call; a null result is handled.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return None;
    }
    let process = Handle(h);
    let mut buf = vec![0u16; 32_768];
    let mut len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: `buf` holds `len` units; `len` is writable.
    let ok = unsafe { QueryFullProcessImageNameW(process.0, PROCESS_NAME_NATIVE, buf.as_mut_ptr(), &raw mut len) };
    if ok == 0 {
        return None;
    }
    let image = String::from_utf16_lossy(buf.get(..len as usize).unwrap_or(&[]));
    Some(HostProcess { image, command_line: command_line(&process) })
}

/// Bytes first offered for a command line; a longer one is asked again with the length
/// Windows says it needs (up to 64 KiB: `UNICODE_STRING` counts bytes in a `u16`).
const COMMAND_LINE_BYTES: usize = 4096;

/// The command line of the process `process` (opened with
/// `PROCESS_QUERY_LIMITED_INFORMATION`); any failure is `None` ([`query_command_line`]).
fn command_line(process: &Handle) -> Option<String> {
    query_command_line(process).ok().flatten()
}

/// `NtQueryInformationProcess` with `ProcessCommandLineInformation` (Windows 8.1 and
/// later), asked once more with the returned length if the buffer was too small: the
/// line ([`crate::command_line::from_reply`]'s `None` for a reply it does not trust), or
/// the call's failing `NTSTATUS` (Wine 8 answers `STATUS_INVALID_INFO_CLASS`).
fn query_command_line(process: &Handle) -> Result<Option<String>, NTSTATUS> {
    // 8-aligned storage: the reply starts with a UNICODE_STRING, which holds a pointer.
    let mut buf = vec![0u64; COMMAND_LINE_BYTES / 8];
    let mut status = STATUS_INFO_LENGTH_MISMATCH;
    for _ in 0..2 {
        let Ok(len) = u32::try_from(buf.len() * 8) else { break };
        let mut returned = 0u32;
        // SAFETY: `buf` holds `len` writable bytes, 8-aligned; `returned` is writable;
        // `process` is an open process handle with the access this class needs.
        status = unsafe {
            NtQueryInformationProcess(
                process.0,
                ProcessCommandLineInformation,
                buf.as_mut_ptr().cast(),
                len,
                &raw mut returned,
            )
        };
        if matches!(status, STATUS_INFO_LENGTH_MISMATCH | STATUS_BUFFER_TOO_SMALL | STATUS_BUFFER_OVERFLOW)
            && returned > len
        {
            buf.resize((returned as usize).div_ceil(8), 0);
            continue;
        }
        if status < 0 {
            return Err(status);
        }
        // The string's `Buffer` is an address inside `buf`: read it as an offset.
        let base = buf.as_ptr().addr();
        let written = (returned as usize).min(buf.len() * 8);
        let reply: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).take(written).collect();
        return Ok(crate::command_line::from_reply(&reply, base));
    }
    Err(status)
}

/// The file facts' files: `std`'s, with the volume serial number and file index in each
/// file's identity, so a file replaced by one of the same size and time is read again.
pub struct WinFiles;

impl Files for WinFiles {
    /// One open with `FILE_READ_ATTRIBUTES` only, sharing everything (it never stands in
    /// the way of a writer, a rename or a delete); `std`'s metadata of that handle and
    /// `GetFileInformationByHandle` for `dwVolumeSerialNumber` and `nFileIndexHigh/Low`.
    /// If that call fails the identity has no [`FileId`] (size and time only).
    fn identity(&self, path: &str) -> io::Result<Identity> {
        let file = std::fs::OpenOptions::new()
            .access_mode(FILE_READ_ATTRIBUTES)
            .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"));
        }
        let mut info = BY_HANDLE_FILE_INFORMATION::default();
        // SAFETY: `file` is an open file handle (alive across the call); `info` is writable.
        let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &raw mut info) };
        let file_id = (ok != 0).then(|| FileId {
            volume: u64::from(info.dwVolumeSerialNumber),
            index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        });
        Ok(Identity::from_metadata(&meta, file_id))
    }

    fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        StdFiles.read(path, limit)
    }
}

/// The files `DiskFacts` reads: [`WinFiles`].
#[must_use]
pub fn files() -> Arc<dyn Files> {
    Arc::new(WinFiles)
}

/// The signature check image loads get their `Signed` fields from.
#[must_use]
#[allow(clippy::unnecessary_wraps, reason = "the same signature as other.rs's, which has none")]
pub fn signature() -> Option<Box<dyn Signature>> {
    Some(Box::new(crate::signature::WinTrust))
}

/// The Windows directory and each drive letter's volume device, for Win32 paths.
pub fn path_map() -> PathMap {
    let mut buf = vec![0u16; 1024];
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: `buf` holds `len` units.
    let n = unsafe { GetWindowsDirectoryW(buf.as_mut_ptr(), len) } as usize;
    let mut map = buf
        .get(..n)
        .filter(|_| n > 0 && n < buf.len())
        .map_or_else(PathMap::default, |dir| PathMap::new(&String::from_utf16_lossy(dir)));
    for letter in 'A'..='Z' {
        let drive = format!("{letter}:");
        let name = wide(&drive);
        // SAFETY: `name` is NUL-terminated; `buf` holds `len` units.
        let n = unsafe { QueryDosDeviceW(name.as_ptr(), buf.as_mut_ptr(), len) } as usize;
        // The first of the NUL-separated targets is the current one.
        let target = buf.get(..n).unwrap_or(&[]).split(|&u| u == 0).next().unwrap_or(&[]);
        let target = String::from_utf16_lossy(target);
        if target.starts_with(r"\Device\") {
            map.add_volume(&target, &drive);
        }
    }
    map
}

/// Units the account and domain buffers start with; a longer name is asked again with
/// the sizes Windows says it needs.
const ACCOUNT_UNITS: usize = 256;

/// The account `sid` names, as Sysmon prints it: `DOMAIN\user` (`NT AUTHORITY\SYSTEM`),
/// or the name alone for a SID whose domain is empty (`Everyone`).
///
/// Asks the local machine (`LookupAccountSidW` with no system name), which asks a domain controller for
/// a domain's accounts.
///
/// # Errors
/// [`CliError::NoAccount`] for a SID with no name here (`ERROR_NONE_MAPPED`, or an empty
/// name), [`CliError::Os`] for any other failure.
pub fn lookup_account(sid: &Sid) -> Result<String, CliError> {
    // `SID` holds DWORD sub-authorities: give it DWORD-aligned storage. The API's PSID is
    // `*mut`, so the storage is this function's own, not the `Sid`'s.
    let mut storage = [0u32; SID_MAX / 4];
    for (word, bytes) in storage.iter_mut().zip(sid.as_bytes().chunks_exact(4)) {
        *word = <[u8; 4]>::try_from(bytes).map_or(0, u32::from_ne_bytes);
    }
    let psid: PSID = storage.as_mut_ptr().cast();
    let mut name = vec![0u16; ACCOUNT_UNITS];
    let mut domain = vec![0u16; ACCOUNT_UNITS];
    let mut retried = false;
    loop {
        let mut name_len = u32::try_from(name.len()).unwrap_or(u32::MAX);
        let mut domain_len = u32::try_from(domain.len()).unwrap_or(u32::MAX);
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: `psid` points to a valid SID (`storage`, alive across the call); `name`
        // and `domain` hold `name_len` and `domain_len` units; the lengths and `kind` are
        // writable; a null system name means the local machine.
        let ok = unsafe {
            LookupAccountSidW(
                null(),
                psid,
                name.as_mut_ptr(),
                &raw mut name_len,
                domain.as_mut_ptr(),
                &raw mut domain_len,
                &raw mut kind,
            )
        };
        if ok != 0 {
            let name = until_nul(&name);
            if name.is_empty() {
                return Err(CliError::NoAccount(sid.to_string()));
            }
            let domain = until_nul(&domain);
            return Ok(if domain.is_empty() { name } else { format!("{domain}\\{name}") });
        }
        let code = last_error();
        if code == ERROR_INSUFFICIENT_BUFFER && !retried {
            // The lengths now say what each buffer needs, its NUL included.
            retried = true;
            name.resize((name_len as usize).max(name.len()), 0);
            domain.resize((domain_len as usize).max(domain.len()), 0);
            continue;
        }
        return Err(if code == ERROR_NONE_MAPPED {
            CliError::NoAccount(sid.to_string())
        } else {
            CliError::Os { doing: "looking up the account (LookupAccountSidW)", code }
        });
    }
}

/// The UTF-16 string `units` starts with (up to its first NUL).
fn until_nul(units: &[u16]) -> String {
    String::from_utf16_lossy(units.split(|&u| u == 0).next().unwrap_or(&[]))
}

/// Export tables kept at most; past it, the cache starts again.
const EXPORT_CACHE: usize = 256;

/// Where `watch --json` places a thread's start inside an image.
///
/// That is the file Windows maps at the image's base in the target process
/// (`K32GetMappedFileNameW`) and that file's export at the address (its export table
/// read from disk once per path, cached). Where the kernel could not say what lies at
/// the address, `VirtualQueryEx` does. Both need `PROCESS_QUERY_INFORMATION`, which a
/// protected process (lsass.exe as a PPL) refuses from user mode: there only the
/// kernel's own answer (the empty pair for a start outside every image) is printed.
pub struct WinStartPlaces {
    paths: PathMap,
    exports: HashMap<String, Arc<Exports>>,
}

impl WinStartPlaces {
    /// A look-up that converts the mapped files' NT paths with `paths`.
    #[must_use]
    pub fn new(paths: PathMap) -> Self {
        Self { paths, exports: HashMap::new() }
    }

    /// The named exports of the file at `path` (NT form), read once; empty if unreadable.
    fn exports(&mut self, path: &str) -> Arc<Exports> {
        if let Some(known) = self.exports.get(path) {
            return Arc::clone(known);
        }
        let win32 = self.paths.win32(path).into_owned();
        let exports = Arc::new(std::fs::read(&win32).map(|data| pe::exports(&data)).unwrap_or_default());
        if self.exports.len() >= EXPORT_CACHE {
            self.exports.clear();
        }
        self.exports.insert(path.to_owned(), Arc::clone(&exports));
        exports
    }
}

impl StartPlaces for WinStartPlaces {
    fn start_place(&mut self, pid: u64, start: &ThreadStart) -> Option<StartPlace> {
        let pid = u32::try_from(pid).ok()?;
        // SAFETY: plain call; a null result is handled.
        let h = unsafe { OpenProcess(PROCESS_QUERY_INFORMATION, 0, pid) };
        if h.is_null() {
            return None;
        }
        let process = Handle(h);
        let region = match start.region {
            StartRegion::Unknown => mapped_region(&process, start.address),
            known => known,
        };
        let base = match region {
            StartRegion::Image { base } => base,
            StartRegion::NoImage => return Some(StartPlace::NoImage),
            StartRegion::Unknown => return None,
        };
        let path = mapped_file(&process, base)?;
        let rva = u32::try_from(start.address.checked_sub(base)?).ok()?;
        let function = self.exports(&path).at(rva).map(String::from);
        Some(StartPlace::Image { path, function })
    }
}

/// What `process`'s memory holds at `address` (`VirtualQueryEx`), as the kernel would
/// have said: the image mapped there (its allocation's base), none, or `Unknown` if the
/// query failed.
fn mapped_region(process: &Handle, address: u64) -> StartRegion {
    let mut info = MEMORY_BASIC_INFORMATION::default();
    let size = std::mem::size_of::<MEMORY_BASIC_INFORMATION>();
    let Ok(address) = usize::try_from(address) else { return StartRegion::Unknown };
    // SAFETY: `process` has PROCESS_QUERY_INFORMATION; `info` is writable and `size`
    // bytes long; the address is only a number to the call.
    let n = unsafe { VirtualQueryEx(process.0, std::ptr::without_provenance(address), &raw mut info, size) };
    if n < size {
        return StartRegion::Unknown;
    }
    if info.State == MEM_COMMIT && info.Type == MEM_IMAGE {
        StartRegion::Image { base: info.AllocationBase.addr() as u64 }
    } else {
        StartRegion::NoImage
    }
}

/// The NT path of the file mapped at `address` in `process`, if any.
fn mapped_file(process: &Handle, address: u64) -> Option<String> {
    let mut buf = vec![0u16; 32_768];
    let at = std::ptr::without_provenance::<c_void>(usize::try_from(address).ok()?);
    let len = u32::try_from(buf.len()).ok()?;
    // SAFETY: `process` has PROCESS_QUERY_INFORMATION; `buf` holds `len` writable units.
    let n = unsafe { K32GetMappedFileNameW(process.0, at, buf.as_mut_ptr(), len) };
    (n > 0).then(|| String::from_utf16_lossy(buf.get(..n as usize).unwrap_or(&[])))
}

/// Where `watch --json` places threads' starts: [`WinStartPlaces`].
#[must_use]
#[allow(clippy::unnecessary_wraps, reason = "the same signature as other.rs's, which has none")]
pub fn start_places(paths: PathMap) -> Option<Box<dyn StartPlaces + Send>> {
    Some(Box::new(WinStartPlaces::new(paths)))
}

/// Where `watch --json` names user SIDs: [`lookup_account`], each SID asked once; a SID
/// with no name (or a failed look-up) is `None`, and `User` is then the SID.
#[must_use]
#[allow(clippy::unnecessary_wraps, reason = "the same signature as other.rs's, which has none")]
pub fn account_names() -> Option<Box<dyn AccountNames + Send>> {
    Some(Box::new(AccountCache::new(|sid: &Sid| lookup_account(sid).ok())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ERROR_TOO_MANY_CMDS;
    use crate::status::status_text;
    use std::process::{Command, Stdio};
    use windows_sys::Win32::Foundation::{
        ERROR_FILE_NOT_FOUND, ERROR_IO_INCOMPLETE, STATUS_INVALID_INFO_CLASS, WAIT_OBJECT_0,
    };
    use windows_sys::Win32::System::Threading::WaitForSingleObject;

    /// One overlapped read of `wire::MIN_READ` bytes on `device`, its buffer and
    /// OVERLAPPED on the heap so that they stay put until it ends.
    struct Overlapped {
        event: Handle,
        ov: Box<OVERLAPPED>,
        buf: Vec<u8>,
    }

    impl Overlapped {
        /// Issues the read: itself, and `ReadFile`'s error (0 if it succeeded at once).
        fn issue(device: &Handle) -> (Self, u32) {
            // SAFETY: null attributes and name are allowed: an unnamed manual-reset event.
            let event = Handle(unsafe { CreateEventW(null(), 1, 0, null()) });
            assert!(!event.0.is_null(), "CreateEventW: {}", last_error());
            let ov = Box::new(OVERLAPPED { hEvent: event.0, ..OVERLAPPED::default() });
            let mut read = Self { event, ov, buf: vec![0; wire::MIN_READ] };
            let len = u32::try_from(read.buf.len()).expect("MIN_READ fits a u32");
            // SAFETY: `buf` holds `len` bytes; `buf` and `ov` live on the heap, owned by
            // `read`, which the caller keeps until the read has ended.
            let issued = unsafe { ReadFile(device.0, read.buf.as_mut_ptr(), len, null_mut(), &raw mut *read.ov) };
            let error = if issued == 0 { last_error() } else { 0 };
            (read, error)
        }

        /// `GetOverlappedResult`: `Ok(bytes)` or the read's error (`ERROR_IO_INCOMPLETE`
        /// while it waits, if `wait` is false).
        fn result(&self, device: &Handle, wait: bool) -> Result<u32, u32> {
            let mut n = 0u32;
            // SAFETY: the handle and OVERLAPPED of this read; `n` is writable.
            let done = unsafe { GetOverlappedResult(device.0, &raw const *self.ov, &raw mut n, i32::from(wait)) };
            if done == 0 { Err(last_error()) } else { Ok(n) }
        }
    }

    /// Against the real driver (`tools/smoke-wine.sh` runs it under Wine): a name inside
    /// the device (`\\.\Global\NotifyRing\x`) is not found, whatever the access:
    /// `ERROR_FILE_NOT_FOUND`, from the driver's `STATUS_OBJECT_NAME_NOT_FOUND` on
    /// Windows; Wine 8's server gives the same answer before any driver sees the create
    /// (the lane checks that in Wine's trace).
    #[test]
    #[ignore = "needs the notifyring driver loaded: tools/smoke-wine.sh runs it"]
    fn a_name_inside_the_device_is_not_found() {
        drop(open_device(FILE_READ_ATTRIBUTES, 0).expect("the driver's device itself opens"));
        for name in ["x", "x\\y"] {
            let path = format!("{}\\{name}", device::USER_PATH);
            for access in [GENERIC_READ, FILE_READ_ATTRIBUTES] {
                let code = open_path(&path, access, 0).err();
                eprintln!("{path} (access {access:#x}): Windows error {code:?}");
                assert_eq!(code, Some(ERROR_FILE_NOT_FOUND), "{path}");
            }
        }
    }

    /// Against the real driver, loaded with no reader attached (`tools/smoke-wine.sh`
    /// runs it under Wine, `--ignored --exact`): the reader keeps `MAX_PENDING_READS`
    /// reads waiting; one more is refused at once with `ERROR_TOO_MANY_CMDS`
    /// (`STATUS_TOO_MANY_COMMANDS`), which the CLI reports as its own one-line error and
    /// exit 6, and takes no place; `CancelIoEx` then ends each waiting read once.
    #[test]
    #[ignore = "needs the notifyring driver loaded and no reader attached: tools/smoke-wine.sh runs it"]
    fn a_read_beyond_the_drivers_cap_is_refused_at_once() {
        let device = open_device(GENERIC_READ, FILE_FLAG_OVERLAPPED).expect("the driver's device");
        let mut waiting = Vec::new();
        for _ in 0..wire::MAX_PENDING_READS {
            let (read, error) = Overlapped::issue(&device);
            assert_eq!(error, ERROR_IO_PENDING, "a read waits for an event");
            waiting.push(read);
        }
        let (refused, error) = Overlapped::issue(&device);
        let code = if error == ERROR_IO_PENDING {
            // Completed by the driver at once, reported through the event.
            // SAFETY: the read's own event handle.
            let signalled = unsafe { WaitForSingleObject(refused.event.0, 10_000) };
            assert_eq!(signalled, WAIT_OBJECT_0, "the read beyond the cap did not end within 10 s");
            refused.result(&device, false).expect_err("refused")
        } else {
            error
        };
        assert_eq!(code, ERROR_TOO_MANY_CMDS, "the read beyond the cap");
        let err = CliError::from_win32("reading", code);
        eprintln!("read {} -> Windows error {code}: {err}", wire::MAX_PENDING_READS + 1);
        assert_eq!(err, CliError::TooManyReads);
        assert_eq!(err.exit_code(), 6);
        for read in &waiting {
            assert_eq!(read.result(&device, false), Err(ERROR_IO_INCOMPLETE), "still waiting");
        }
        let status = status_text(&status_reply().expect("status")).expect("a status reply");
        let pended = format!("reader_reads_pended={}", wire::MAX_PENDING_READS);
        assert!(status.lines().any(|l| l == pended), "{pended} expected in the status:\n{status}");
        // SAFETY: our open handle; a null OVERLAPPED cancels all of its reads.
        unsafe { CancelIoEx(device.0, null()) };
        for read in &waiting {
            assert_eq!(read.result(&device, true), Err(ERROR_OPERATION_ABORTED), "cancelled");
        }
    }

    /// Run on Windows (or Wine: tools/smoke-wine-cli.sh runs these): a process started
    /// before the look-up, a child `cmd.exe` waiting on its stdin, is named as the watch
    /// names a parent it never saw created.
    #[test]
    fn a_running_process_has_its_image_and_command_line() {
        let mut child = Command::new("cmd.exe")
            .args(["/d", "/q", "/k", "rem", "notifyring-marker"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("cmd.exe starts");
        let host = host_process(u64::from(child.id()));
        let _ = child.kill();
        let _ = child.wait();
        let host = host.expect("the child is open to PROCESS_QUERY_LIMITED_INFORMATION");
        assert!(host.image.to_ascii_lowercase().ends_with("\\cmd.exe"), "image {:?}", host.image);
        // Where the class is implemented (Windows 8.1 and later) the line is read; where it
        // is not (Wine 8: STATUS_INVALID_INFO_CLASS, as asked of this very process) it is
        // absent, never guessed.
        // SAFETY: no preconditions; closing the pseudo-handle (on drop) has no effect.
        let this = Handle(unsafe { windows_sys::Win32::System::Threading::GetCurrentProcess() });
        match query_command_line(&this) {
            Err(STATUS_INVALID_INFO_CLASS) => {
                eprintln!("ProcessCommandLineInformation: STATUS_INVALID_INFO_CLASS here; expecting no command line");
                assert_eq!(host.command_line, None);
            }
            Ok(Some(_)) => {
                let line = host.command_line.expect("its command line");
                assert!(line.contains("/k rem notifyring-marker"), "command line {line:?}");
            }
            other => panic!("this process's own command line: {other:?}"),
        }
        // No such process: nothing, not a guess.
        assert_eq!(host_process(u64::from(u32::MAX - 3)), None);
        assert_eq!(host_process(1 << 40), None);
    }

    /// Run on Windows (or Wine: tools/smoke-wine-cli.sh runs these): a start inside an
    /// image is placed in the file mapped there and named by that file's export, asked
    /// with the kernel's image base or without it; private memory is outside every image;
    /// a process that does not exist places nothing.
    #[test]
    fn a_thread_start_is_placed_in_its_image_and_named_by_its_export() {
        use windows_sys::Win32::System::LibraryLoader::{
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT, GetModuleFileNameW,
            GetModuleHandleExW, GetModuleHandleW, GetProcAddress,
        };
        use windows_sys::Win32::System::Memory::{MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE, VirtualAlloc, VirtualFree};
        // Where a thread that injects a DLL starts: LoadLibraryW.
        let kernel32 = wide("kernel32.dll");
        // SAFETY: a NUL-terminated name; kernel32.dll is loaded in every process.
        let module = unsafe { GetModuleHandleW(kernel32.as_ptr()) };
        assert!(!module.is_null(), "kernel32.dll is loaded");
        // SAFETY: a loaded module and a NUL-terminated ASCII name.
        let function = unsafe { GetProcAddress(module, c"LoadLibraryW".as_ptr().cast()) }.expect("LoadLibraryW");
        let address = function as usize as u64;
        // The image that holds it (kernel32.dll, or kernelbase.dll where it is forwarded).
        let mut holder = null_mut();
        let flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
        // SAFETY: with FROM_ADDRESS the name argument is an address inside the module.
        let ok = unsafe { GetModuleHandleExW(flags, (function as *const c_void).cast(), &raw mut holder) };
        assert_ne!(ok, 0, "the address lies in a loaded module");
        let mut file = vec![0u16; 32_768];
        // SAFETY: `file` holds its length in units; `holder` is a loaded module.
        let n = unsafe { GetModuleFileNameW(holder, file.as_mut_ptr(), u32::try_from(file.len()).unwrap()) };
        let file = String::from_utf16_lossy(&file[..n as usize]);
        let base = holder.addr() as u64;
        let paths = path_map();
        let mut places = WinStartPlaces::new(paths.clone());
        let pid = u64::from(std::process::id());
        for region in [StartRegion::Unknown, StartRegion::Image { base }] {
            let place = places.start_place(pid, &ThreadStart { address, region });
            let Some(StartPlace::Image { path, function }) = place else { panic!("{region:?}: {place:?}") };
            eprintln!("LoadLibraryW at {address:#x}: {path} ({file}), export {function:?}");
            // The same file; Windows names it by the same path, Wine 8 by where its builtin
            // DLL really lies (`\??\Z:\usr\lib\…\kernel32.dll` for C:\windows\system32's).
            let name = |p: &str| p.rsplit('\\').next().unwrap_or_default().to_ascii_lowercase();
            assert_eq!(name(&paths.win32(&path)), name(&file), "{region:?}: {path} is not {file}");
            assert_eq!(function.as_deref(), Some("LoadLibraryW"), "{region:?}");
        }
        // One byte in: the image still, but no export starts there.
        let inside =
            places.start_place(pid, &ThreadStart { address: address + 1, region: StartRegion::Image { base } });
        assert!(matches!(inside, Some(StartPlace::Image { function: None, .. })), "{inside:?}");
        // Private memory, as injected code gets: outside every image.
        // SAFETY: a fresh committed read-write page, released below.
        let private = unsafe { VirtualAlloc(null(), 4096, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) };
        assert!(!private.is_null());
        let place = places.start_place(pid, &ThreadStart::at(private.addr() as u64));
        // SAFETY: the page allocated above, released once.
        unsafe { VirtualFree(private, 0, MEM_RELEASE) };
        assert_eq!(place, Some(StartPlace::NoImage));
        // No such process: nothing, not a guess.
        assert_eq!(places.start_place(u64::from(u32::MAX - 3), &ThreadStart::at(address)), None);
    }

    /// Run on Windows (or Wine): the identity names the file, not only its size and time.
    #[test]
    fn a_replaced_file_has_another_identity() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("notifyring-identity-{}.dll", std::process::id()));
        let beside = dir.join(format!("notifyring-identity-{}.new", std::process::id()));
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let write = |at: &std::path::Path, data: &[u8]| {
            std::fs::write(at, data).expect("write");
            std::fs::File::options().write(true).open(at).expect("open").set_modified(when).expect("mtime");
        };
        write(&path, b"first!");
        let name = path.to_str().expect("utf-8 temp path");
        let before = WinFiles.identity(name).expect("identity");
        assert!(before.file_id.is_some(), "GetFileInformationByHandle answered");
        // Open for writing meanwhile: the identity's open shares everything.
        let held = std::fs::File::options().write(true).open(&path).expect("open");
        assert_eq!(WinFiles.identity(name).expect("identity"), before, "the same file, the same identity");
        drop(held);
        write(&beside, b"other!");
        std::fs::rename(&beside, &path).expect("rename over");
        let after = WinFiles.identity(name).expect("identity");
        std::fs::remove_file(&path).expect("remove");
        eprintln!("file id before and after the replacement: {:?} -> {:?}", before.file_id, after.file_id);
        assert_eq!((after.len, after.modified), (before.len, before.modified));
        assert_ne!(after.file_id, before.file_id);
        assert!(WinFiles.identity(name).is_err(), "gone");
        assert!(WinFiles.identity(dir.to_str().expect("utf-8")).is_err(), "a directory is not a file");
    }
}
