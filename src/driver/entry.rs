//! DriverEntry reads `Parameters`, creates the device (named, with its DACL and link),
//! work item, pipeline and the reader's channel, publishes them, starts the read queue,
//! arms the statistics timer and readies the idle sweep, registers the enabled notify
//! routines and only then lets opens in, undoing all in reverse on failure.
//! DriverUnload: routines out, timer off, gate closed, wait for the worker, sweep off,
//! drain, cancel what a reader left, free — unless a
//! routine could not be removed: then nothing it could reach is freed, and the image
//! stays loaded.

use core::mem::{offset_of, size_of};
use core::ptr;

use wdk_sys::ntddk::{
    IoAllocateWorkItem, IoFreeWorkItem, KeDelayExecutionThread, KeQueryActiveProcessorCountEx, ObfReferenceObject,
    PsGetCurrentProcessId, PsGetCurrentThreadId, ZwClose, ZwOpenKey, ZwQueryValueKey,
};
use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS, _MODE, BOOLEAN, DRIVER_OBJECT, HANDLE, KEY_READ, KEY_VALUE_PARTIAL_INFORMATION,
    KPROCESSOR_MODE, LARGE_INTEGER, NT_SUCCESS, NTSTATUS, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES,
    PCUNICODE_STRING, PDRIVER_OBJECT, PHANDLE, REG_DWORD, STATUS_ACCESS_DENIED, STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_SUCCESS,
};

use super::NOTIFYRING_STATS;
use super::global::{Driver, driver, install, uninstall};
use super::kernel::{ERROR_LEVEL, Status, id, performance_counter, routine, say, system_time, with_name};
use super::queue::{ReadIrp, ReadQueue, SpinLock};
use super::timer::Timer;
use super::work_item::WorkItemQueue;
use super::worker::{KernelHost, env};
use super::{device, image, lookup, pool, process, thread, token, worker};
use crate::config::{Config, ConfigLine, SETTINGS, Sources};
use crate::ntname::NtName;
use crate::pipeline::{NewError, Pipeline};
use crate::reader::Channel;
use crate::reader::device::{DEVICE_NAME, DOS_NAME};
use crate::schedule::WorkQueue;
use crate::vocab::clock::Clock;
use crate::worker::format;

/// `ALL_PROCESSOR_GROUPS` (0xffff) as the `USHORT` `KeQueryActiveProcessorCountEx` takes.
const ALL_PROCESSOR_GROUPS_U16: u16 = 0xffff;

/// One notify routine: the API that registers it and the two calls.
struct Source {
    /// The registering API's name (the process routine picks Ex2 or Ex at run time).
    api: fn() -> &'static str,
    register: fn() -> NTSTATUS,
    unregister: fn() -> NTSTATUS,
    /// What `STATUS_ACCESS_DENIED` from `register` means.
    access_denied: Option<&'static str>,
}

/// Registration order; removal runs in reverse.
const SOURCES: [Source; 3] = [
    Source {
        api: process::api,
        register: process::register,
        unregister: process::unregister,
        access_denied: Some(
            "the process callback needs an image linked with /INTEGRITYCHECK and signed (test-signed on a test VM)",
        ),
    },
    Source {
        api: || "PsSetCreateThreadNotifyRoutine",
        register: thread::register,
        unregister: thread::unregister,
        access_denied: None,
    },
    Source {
        api: || "PsSetLoadImageNotifyRoutine",
        register: image::register,
        unregister: image::unregister,
        access_denied: None,
    },
];

/// `sources` in [`SOURCES`] order.
const fn enabled(sources: Sources) -> [bool; 3] {
    [sources.process, sources.thread, sources.image]
}

/// The driver's entry point, called once by the I/O manager at `PASSIVE_LEVEL`.
///
/// # Safety
/// Called only by the kernel, with its driver object and the service key's path.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(driver: &mut DRIVER_OBJECT, registry_path: PCUNICODE_STRING) -> NTSTATUS {
    // Before the first allocation: the allocator reads what this finds.
    let pool = pool::resolve();
    let mut config = read_config(driver, registry_path);
    // One ring per processor, of every processor group.
    // SAFETY: no preconditions; ALL_PROCESSOR_GROUPS counts every group's active ones.
    let processors = unsafe { KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS_U16) };
    config.processors = processors.max(1);
    say(config.level, format_args!("pool {}", pool.describe()));
    match start(driver, &config) {
        Ok(()) => {
            driver.DriverUnload = Some(driver_unload);
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

/// DriverUnload (`PASSIVE_LEVEL`, after DriverEntry succeeded).
unsafe extern "C" fn driver_unload(driver_object: *mut DRIVER_OBJECT) {
    let Some(driver) = driver() else { return };
    let (registered, level) = (enabled(driver.registered), driver.level);
    if shut_down(driver_object, registered) {
        say(level, format_args!("unloaded"));
    }
}

/// Everything after the configuration; on error, everything done is undone.
fn start(driver_object: &mut DRIVER_OBJECT, config: &Config) -> Result<(), NTSTATUS> {
    let object: PDRIVER_OBJECT = &raw mut *driver_object;
    let level = config.level;
    device::set_dispatch(driver_object);
    let device = match device::create(driver_object) {
        Ok(device) => device,
        Err(device::Failed(step, status)) => {
            failed(step, status);
            return Err(status);
        }
    };
    say(level, format_args!("device {DEVICE_NAME} and link {DOS_NAME} created; DACL: SYSTEM and Administrators only"));
    // SAFETY: `device` was just created.
    let item = unsafe { IoAllocateWorkItem(device) };
    if item.is_null() {
        failed("IoAllocateWorkItem", STATUS_INSUFFICIENT_RESOURCES);
        device::delete(device);
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    let mut frequency = 0;
    let start_ticks = performance_counter(Some(&mut frequency));
    let clock = Clock { start_ticks, frequency };
    // The pid table only the worker touches goes to paged pool; the ring stays non-paged.
    let queue = WorkItemQueue::new(item, worker::routine);
    let made = Pipeline::new_in(config, clock, queue, &NOTIFYRING_STATS, |make| pool::paged(make))
        .map_err(|error| match error {
            NewError::RingSize => ("allocating the ring", STATUS_INVALID_PARAMETER),
            NewError::NoMemory => ("allocating the ring", STATUS_INSUFFICIENT_RESOURCES),
        })
        // Outside `pool::paged`: the reader's buffer is touched under a spin lock, so it
        // must be non-paged (the allocator's default).
        .and_then(|pipeline| {
            Channel::try_new(config.reader_bytes, clock, SpinLock::new())
                .map(|channel| (pipeline, channel))
                .ok_or(("allocating the reader's buffer", STATUS_INSUFFICIENT_RESOURCES))
        });
    let (pipeline, channel) = match made {
        Ok(made) => made,
        Err((step, status)) => {
            failed(step, status);
            // SAFETY: allocated above and never queued.
            unsafe { IoFreeWorkItem(item) };
            device::delete(device);
            return Err(status);
        }
    };
    // Records carry no command line then; every batch says so, for the CLI's `<omitted>`.
    channel.set_command_lines_omitted(config.omit_command_line);
    print_config(config, &pipeline);
    install(Driver {
        pipeline,
        device,
        channel,
        reads: ReadQueue::new(),
        config: *config,
        frequency,
        registered: config.sources,
        level,
        timer: Timer::new(),
    });
    let Some(published) = driver() else { return Err(STATUS_INSUFFICIENT_RESOURCES) };
    // SAFETY: the queue lives in the static slot until unload, and the device lets no
    // open in before `device::open` below.
    unsafe { published.reads.start() };
    // SAFETY: the timer lives in the static slot, where it stays until unload's
    // `shut_down` has stopped it; DriverEntry and unload never overlap. Its DPC, the
    // worker's, finds the driver published above.
    unsafe { published.timer.start(config.stats_interval_s, worker::timer_dpc) };
    // SAFETY: the work item queue lives in the static slot until unload's `shut_down` has
    // stopped its sweep; the sweep is armed only by the worker and the sweep itself,
    // neither of which runs before a routine is registered below.
    unsafe { published.pipeline.queue().init_sweep(worker::sweep_dpc) };
    // Its self-check: one sweep of the empty rings (the statistics line's `sweeps=`
    // counts it), so a timer or DPC that does not work shows from the first line.
    WorkQueue::arm_sweep(published.pipeline.queue());
    // The worker's token path once, on the current process, before any routine is
    // registered: on Wine, whose process routine never runs, this is its only run.
    token::probe(&mut KernelHost, level);
    // Likewise its thread-start path, on this very thread.
    thread_probe(level, config.kernel_image_bases);

    // The watch starts now: a process created before this time had its first thread before
    // it too, so a later thread from another process is remote (`Pipeline::watching_since`).
    let watch_start = system_time();
    published.pipeline.watching_since(watch_start);
    say(level, format_args!("watch-start system-time={watch_start}"));
    let wanted = enabled(config.sources);
    let mut registered = [false; 3];
    for ((source, &on), done) in SOURCES.iter().zip(&wanted).zip(&mut registered) {
        if !on {
            continue;
        }
        let status = (source.register)();
        if !NT_SUCCESS(status) {
            failed((source.api)(), status);
            if let (STATUS_ACCESS_DENIED, Some(hint)) = (status, source.access_denied) {
                say(ERROR_LEVEL, format_args!("{hint}"));
            }
            shut_down(object, registered);
            return Err(status);
        }
        say(level, format_args!("{}: {}", (source.api)(), Status(status)));
        *done = true;
    }
    device::open(device);
    Ok(())
}

/// Unload's order, also used by a DriverEntry that fails after publishing the driver:
/// remove the `registered` routines (each removal waits for calls in flight), stop the
/// timer, close the gate, wait until the work item is neither queued nor running,
/// drain and print the final counters, cancel whatever reads a reader left, then free
/// the work item, the link and device, the ring and the reader's buffer. Returns whether
/// everything was freed.
///
/// The I/O manager calls unload only once no handle to the device is open and none of
/// its IRPs is outstanding (Microsoft's "Unload Routine Environment"), so no reader is
/// attached by then; the detach below is a guard, and touches the read queue only if
/// one were.
///
/// If any removal fails, a routine may still be called: then nothing it could reach is
/// freed (the ring, the pipeline, the work item, the device) and the driver object gets
/// a reference that is never dropped, so the image stays mapped after unload returns.
/// The worker and the timer go on as before; the memory is leaked on purpose.
fn shut_down(driver_object: PDRIVER_OBJECT, registered: [bool; 3]) -> bool {
    let mut removed = 0u32;
    let mut stuck = None;
    // Two reversed iterators, not a reversed `zip`: `Zip::next_back` keeps an
    // `unreachable!()` for unequal lengths in the linked driver (tools/prove-no-panic-sys.sh).
    for (source, on) in SOURCES.iter().rev().zip(registered.into_iter().rev()) {
        if on {
            let status = (source.unregister)();
            if NT_SUCCESS(status) {
                removed += 1;
            } else {
                failed((source.api)(), status);
                stuck = Some((source.api)());
            }
        }
    }
    let Some(driver) = driver() else { return true };
    if let Some(api) = stuck {
        // SAFETY: the driver object the I/O manager passed in, live for this call; the
        // reference is never dropped, which is the point.
        unsafe { ObfReferenceObject(driver_object.cast()) };
        say(
            ERROR_LEVEL,
            format_args!(
                "a routine registered with {api} could not be removed: the driver stays loaded and keeps its memory \
                 (a reboot unloads it)"
            ),
        );
        return false;
    }
    say(driver.level, format_args!("callbacks removed ({removed})"));
    driver.timer.stop();
    driver.pipeline.stop();
    let mut waited_ms = 0u32;
    while !driver.pipeline.is_idle() {
        sleep_10ms();
        waited_ms = waited_ms.saturating_add(10);
    }
    say(driver.level, format_args!("worker idle (waited {waited_ms} ms); final drain"));
    // Stopped and idle: nothing arms the sweep any more but a sweep DPC already running,
    // which `stop_sweep` waits for and undoes.
    driver.pipeline.queue().stop_sweep();
    // Every record still in the ring goes through the worker's deliver here, which drops
    // the process reference a process create's record holds (`KernelHost::release_process`).
    // All routines were removed above (each removal waits for calls in flight), so no
    // callback can commit a held record after this drain: none is left unreleased.
    if driver.pipeline.shutdown(&mut env(driver)).is_err() {
        say(ERROR_LEVEL, format_args!("shutdown refused: the worker is still busy"));
        return false;
    }
    driver.channel.detach_any(&driver.reads, ReadIrp::cancel);
    // SAFETY: every registered routine is removed, the timers' DPCs are flushed and the
    // schedule is stopped and idle: no callback, DPC or work item routine can reach the
    // driver any more.
    let Some(driver) = (unsafe { uninstall() }) else { return true };
    // SAFETY: stopped and idle: the item is not queued and never will be again.
    unsafe { IoFreeWorkItem(driver.pipeline.queue().item) };
    // The last user of the device (the work item) is gone; a routine still returning
    // holds its own reference, which defers the deletion.
    device::delete(driver.device);
    drop(driver);
    true
}

/// DriverEntry's self-check of the worker's thread-start path (`PASSIVE_LEVEL`): reads
/// where this very thread starts, as the worker reads a remote thread's, and prints one
/// line: `notifyring: thread-probe pid=4 tid=… start=0x… start_image=0x…` (`start=?` if it
/// could not be read, `start=-` if it is a kernel address that may not be shown: on
/// Windows DriverEntry runs on a system thread, whose start is in the kernel).
fn thread_probe(level: u32, kernel_addresses: bool) {
    // SAFETY: no preconditions.
    let pid = id(unsafe { PsGetCurrentProcessId() });
    // SAFETY: no preconditions.
    let tid = id(unsafe { PsGetCurrentThreadId() });
    let mut text = [0u8; 64];
    let mut len = 0;
    let mut put = |piece: &[u8]| {
        for &b in piece {
            if let Some(slot) = text.get_mut(len) {
                *slot = b;
                len += 1;
            }
        }
    };
    match lookup::thread_start(pid, tid).map(|s| s.shown(kernel_addresses)) {
        Some(Some(start)) => format::write_start(&start, put),
        Some(None) => put(b" start=-"),
        None => put(b" start=?"),
    }
    let shown = core::str::from_utf8(text.get(..len).unwrap_or(&[])).unwrap_or("");
    say(level, format_args!("thread-probe pid={pid} tid={tid}{shown}"));
}

/// Unload may wait; callbacks never do.
fn sleep_10ms() {
    // Relative (negative), in 100 ns units.
    let mut interval = LARGE_INTEGER { QuadPart: -100_000 };
    let kernel_mode = KPROCESSOR_MODE::try_from(_MODE::KernelMode).unwrap_or_default();
    // SAFETY: PASSIVE_LEVEL (unload or DriverEntry), non-alertable, `interval` on this
    // stack. The status of a non-alertable kernel-mode wait is always success.
    let _ = unsafe { KeDelayExecutionThread(kernel_mode, BOOLEAN::from(false), &raw mut interval) };
}

fn failed(step: &str, status: NTSTATUS) {
    say(ERROR_LEVEL, format_args!("{step} failed: {}", Status(status)));
}

fn print_config<Q: crate::WorkQueue>(config: &Config, pipeline: &Pipeline<Q>) {
    let line = ConfigLine { config, rings: pipeline.rings(), ring_bytes: pipeline.ring_bytes(), caps: pipeline.caps() };
    say(config.level, format_args!("{line}"));
}

/// `IoOpenDriverRegistryKey` (wdm.h, Windows 10 1803), as `MmGetSystemRoutineAddress`
/// returns it.
type OpenDriverRegistryKey =
    unsafe extern "system" fn(driver: PDRIVER_OBJECT, key_type: u32, access: u32, flags: u32, key: PHANDLE) -> NTSTATUS;

/// `DRIVER_REGKEY_TYPE::DriverRegKeyParameters`: the service key's `Parameters`, which the
/// INF writes with `HKR,Parameters`.
const DRIVER_REG_KEY_PARAMETERS: u32 = 0;

/// `IoOpenDriverRegistryKey`'s name, and the `Parameters` key's, as the kernel takes them.
const OPEN_DRIVER_REGISTRY_KEY: NtName = NtName::of("IoOpenDriverRegistryKey");
const PARAMETERS: NtName = NtName::of("Parameters");

/// The `Parameters` values, each with its name as the kernel takes it (built at compile
/// time: a name that did not fit would fail the build), in [`SETTINGS`]' order.
const VALUES: [(&str, NtName); SETTINGS.len()] = {
    let mut values = [("", NtName::of("")); SETTINGS.len()];
    let mut at = 0;
    while at < SETTINGS.len() {
        values[at] = (SETTINGS[at].name, NtName::of(SETTINGS[at].name));
        at += 1;
    }
    values
};

/// Opens the `Parameters` key: with `IoOpenDriverRegistryKey`, the documented way from
/// Windows 10 1803 (looked up at run time), else relative to the service key's path.
fn open_parameters(driver: PDRIVER_OBJECT, registry_path: PCUNICODE_STRING) -> Result<Key, NTSTATUS> {
    let address = routine(&OPEN_DRIVER_REGISTRY_KEY);
    if address.is_null() {
        return Key::open(ptr::null_mut(), registry_path)
            .and_then(|service| with_name(&PARAMETERS, |name| Key::open(service.0, name)));
    }
    // SAFETY: a non-NULL value MmGetSystemRoutineAddress returned for
    // "IoOpenDriverRegistryKey", whose prototype `OpenDriverRegistryKey` is.
    let open = unsafe { core::mem::transmute::<*mut core::ffi::c_void, OpenDriverRegistryKey>(address) };
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL in DriverEntry (a system thread); our own driver object;
    // Flags must be 0; a kernel handle is returned, closed by `Key`'s drop.
    let status = unsafe { open(driver, DRIVER_REG_KEY_PARAMETERS, KEY_READ, 0, &raw mut handle) };
    if NT_SUCCESS(status) { Ok(Key(handle)) } else { Err(status) }
}

/// The defaults, overridden by each valid `REG_DWORD` under the service key's
/// `Parameters`; one line per value that is refused.
fn read_config(driver: PDRIVER_OBJECT, registry_path: PCUNICODE_STRING) -> Config {
    let mut config = Config::DEFAULT;
    let parameters = match open_parameters(driver, registry_path) {
        Ok(key) => key,
        Err(status) => {
            // Not an error: the defaults are in force, and so is their DebugLevel.
            let level = if status == STATUS_OBJECT_NAME_NOT_FOUND { config.level } else { ERROR_LEVEL };
            say(level, format_args!("no Parameters key ({}): using the defaults", Status(status)));
            return config;
        }
    };
    for (name, counted) in &VALUES {
        let name = *name;
        match parameters.dword(counted) {
            Value::Absent => {}
            Value::Dword(value) => {
                if let Err(rejected) = config.apply(name, value) {
                    say(
                        ERROR_LEVEL,
                        format_args!(
                            "config: {}={} rejected (allowed: {}); using the default",
                            rejected.name, rejected.value, rejected.allowed
                        ),
                    );
                }
            }
            Value::NotDword => say(ERROR_LEVEL, format_args!("config: {name} is not a REG_DWORD; using the default")),
            Value::Failed(status) => {
                say(ERROR_LEVEL, format_args!("config: reading {name} failed: {}; using the default", Status(status)));
            }
        }
    }
    config
}

/// An open registry key, closed on drop.
struct Key(HANDLE);

/// What one `Parameters` value held.
enum Value {
    Absent,
    Dword(u32),
    NotDword,
    Failed(NTSTATUS),
}

impl Key {
    /// Opens `name`, relative to `root` (or absolute for a NULL root), for reading.
    fn open(root: HANDLE, name: PCUNICODE_STRING) -> Result<Self, NTSTATUS> {
        let mut attributes = OBJECT_ATTRIBUTES {
            Length: u32::try_from(size_of::<OBJECT_ATTRIBUTES>()).unwrap_or(u32::MAX),
            RootDirectory: root,
            ObjectName: name.cast_mut(),
            Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
            SecurityDescriptor: ptr::null_mut(),
            SecurityQualityOfService: ptr::null_mut(),
        };
        let mut handle: HANDLE = ptr::null_mut();
        // SAFETY: PASSIVE_LEVEL; `attributes` and the name it points to outlive the
        // call (the kernel only reads the name); a kernel handle is returned.
        let status = unsafe { ZwOpenKey(&raw mut handle, KEY_READ, &raw mut attributes) };
        if NT_SUCCESS(status) { Ok(Self(handle)) } else { Err(status) }
    }

    fn dword(&self, name: &NtName) -> Value {
        /// `KEY_VALUE_PARTIAL_INFORMATION` with room for four data bytes.
        #[repr(C, align(8))]
        struct Buffer([u8; 24]);
        let mut buffer = Buffer([0; 24]);
        let capacity = u32::try_from(size_of::<Buffer>()).unwrap_or(0);
        let mut written = 0u32;
        let status = with_name(name, |name| {
            // SAFETY: PASSIVE_LEVEL; `self.0` is an open key, `buffer` has `capacity`
            // writable bytes aligned for the structure, `name` outlives the call.
            unsafe {
                ZwQueryValueKey(
                    self.0,
                    name.cast_mut(),
                    _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation,
                    buffer.0.as_mut_ptr().cast(),
                    capacity,
                    &raw mut written,
                )
            }
        });
        if status == STATUS_OBJECT_NAME_NOT_FOUND {
            return Value::Absent;
        }
        if status == STATUS_BUFFER_OVERFLOW || status == STATUS_BUFFER_TOO_SMALL {
            return Value::NotDword;
        }
        if !NT_SUCCESS(status) {
            return Value::Failed(status);
        }
        let field = |at: usize| buffer.0.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes);
        match (
            field(offset_of!(KEY_VALUE_PARTIAL_INFORMATION, Type)),
            field(offset_of!(KEY_VALUE_PARTIAL_INFORMATION, DataLength)),
            field(offset_of!(KEY_VALUE_PARTIAL_INFORMATION, Data)),
        ) {
            (Some(REG_DWORD), Some(4), Some(value)) => Value::Dword(value),
            _ => Value::NotDword,
        }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: a handle `open` returned, closed once.
        let _ = unsafe { ZwClose(self.0) };
    }
}
