//! The device `\Device\NotifyRing` (`\\.\Global\NotifyRing` for programs): created with a DACL
//! that admits only SYSTEM and Administrators, and its dispatch routines.
//!
//! * `IRP_MJ_CREATE`: an open asking for [`READER_ACCESS`], or granted it (a
//!   `MAXIMUM_ALLOWED` open), attaches as the one reader (a second is refused with
//!   `STATUS_SHARING_VIOLATION`); other opens may only ask for the status
//!   ([`reader::open`](crate::reader::open) decides).
//! * `IRP_MJ_READ`: a batch from the reader's [`Channel`](crate::reader::Channel), or the
//!   read waits in the cancel-safe queue until the worker fills it; beyond
//!   [`MAX_PENDING_READS`](crate::reader::wire::MAX_PENDING_READS) waiting reads, one is
//!   refused with `STATUS_TOO_MANY_COMMANDS`.
//! * `IRP_MJ_DEVICE_CONTROL` ([`IOCTL_STATUS`]): version, configuration and counters.
//! * `IRP_MJ_CLEANUP` of the reader's handle detaches it and cancels its pending reads.
//! * `IRP_MJ_CLOSE` detaches it too, should cleanup not have (Wine sends no cleanup).
//!
//! Under Wine 8, whose creates carry no security context, an open becomes the reader at
//! its first read instead (`read_dispatch`); Windows never takes that path.
//!
//! The dispatch routines find the driver through `global::driver`: they run only while a
//! handle to the device is open or one of its IRPs is outstanding, and the I/O manager
//! calls unload only once none is (Microsoft's "Unload Routine Environment").

use core::mem::{offset_of, size_of};
use core::ptr;

use wdk_sys::ntddk::{
    IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink, ObOpenObjectByPointer,
    RtlAddAccessAllowedAce, RtlCreateAcl, RtlCreateSecurityDescriptor, RtlSetDaclSecurityDescriptor, ZwClose,
    ZwSetSecurityObject,
};
use wdk_sys::{
    _MODE, ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, BOOLEAN, DACL_SECURITY_INFORMATION, DO_BUFFERED_IO,
    DO_DEVICE_INITIALIZING, DOMAIN_ALIAS_RID_ADMINS, DRIVER_OBJECT, FILE_DEVICE_SECURE_OPEN, FILE_DEVICE_UNKNOWN,
    FILE_READ_DATA, GENERIC_ALL, GENERIC_READ, HANDLE, IO_STACK_LOCATION, IRP, IRP_MJ_CLEANUP, IRP_MJ_CLOSE,
    IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, KPROCESSOR_MODE, MAXIMUM_ALLOWED, NT_SUCCESS, NTSTATUS,
    OBJ_KERNEL_HANDLE, PDEVICE_OBJECT, PIO_SECURITY_CONTEXT, PIRP, SECURITY_BUILTIN_DOMAIN_RID, SECURITY_DESCRIPTOR,
    SECURITY_DESCRIPTOR_REVISION, SECURITY_LOCAL_SYSTEM_RID, SID_REVISION, STATUS_ACCESS_DENIED,
    STATUS_BUFFER_TOO_SMALL, STATUS_CANCELLED, STATUS_DEVICE_NOT_READY, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_PENDING, STATUS_SHARING_VIOLATION, STATUS_SUCCESS, STATUS_TOO_MANY_COMMANDS,
    WRITE_DAC,
};

use super::NOTIFYRING_STATS;
use super::global::{Driver, driver};
use super::kernel::with_name;
use super::queue::{ReadIrp, complete, read_at, stack_location};
use crate::ntname::NtName;
use crate::reader::ReadOutcome;
use crate::reader::device::{DEVICE_NAME, DOS_NAME, IOCTL_STATUS, READER_ACCESS};
use crate::reader::open::{self, Access, Open, classify};
use crate::reader::status::{Inputs, items};
use crate::reader::wire::{STATUS_MAX, encode_status};

/// A SID with `N` subauthorities, laid out as the documented `SID` structure.
#[repr(C, align(4))]
struct Sid<const N: usize> {
    revision: u8,
    count: u8,
    authority: [u8; 6],
    subauthorities: [u32; N],
}

/// `SECURITY_NT_AUTHORITY`.
const NT_AUTHORITY: [u8; 6] = [0, 0, 0, 0, 0, 5];
/// `SID_REVISION`, as the byte a SID holds.
const SID_REVISION_U8: u8 = 1;
const _: () = assert!(SID_REVISION == 1);

/// An ACL with room for the two ACEs (`ACCESS_ALLOWED_ACE` ends in the SID's first
/// `ULONG`, counted as `SidStart`).
const ACL_BYTES: usize =
    size_of::<ACL>() + 2 * offset_of!(ACCESS_ALLOWED_ACE, SidStart) + size_of::<Sid<1>>() + size_of::<Sid<2>>();

// The generic rights the portable decision knows by value, as winnt.h defines them.
const _: () = assert!(open::GENERIC_READ == GENERIC_READ && open::GENERIC_ALL == GENERIC_ALL);
const _: () = assert!(open::MAXIMUM_ALLOWED == MAXIMUM_ALLOWED && READER_ACCESS == FILE_READ_DATA);

/// The device's name and its link's, as the kernel takes them (built at compile time: a
/// name that did not fit would fail the build).
const DEVICE: NtName = NtName::of(DEVICE_NAME);
const LINK: NtName = NtName::of(DOS_NAME);

/// Why creating the device failed: the step and its status.
pub(super) struct Failed(pub(super) &'static str, pub(super) NTSTATUS);

/// Creates `\Device\NotifyRing` (secure-open semantics, buffered I/O), sets its DACL,
/// then its symbolic link; everything undone on failure. The device still has
/// `DO_DEVICE_INITIALIZING` set: [`open`] clears it once the driver is ready.
pub(super) fn create(driver: &mut DRIVER_OBJECT) -> Result<PDEVICE_OBJECT, Failed> {
    let mut device: PDEVICE_OBJECT = ptr::null_mut();
    let status = with_name(&DEVICE, |name| {
        // SAFETY: PASSIVE_LEVEL in DriverEntry; a named device without extension, not
        // exclusive (status-only handles may be open beside the reader's).
        unsafe {
            IoCreateDevice(
                driver,
                0,
                name.cast_mut(),
                FILE_DEVICE_UNKNOWN,
                FILE_DEVICE_SECURE_OPEN,
                BOOLEAN::from(false),
                &raw mut device,
            )
        }
    });
    if !NT_SUCCESS(status) {
        return Err(Failed("IoCreateDevice", status));
    }
    if let Err(failed) = secure(device) {
        // SAFETY: created above; nothing can have opened it (no link yet, and
        // DO_DEVICE_INITIALIZING is set).
        unsafe { IoDeleteDevice(device) };
        return Err(failed);
    }
    let status = with_name(&LINK, |link| {
        with_name(&DEVICE, |name| {
            // SAFETY: PASSIVE_LEVEL; both names outlive the call, which copies them.
            unsafe { IoCreateSymbolicLink(link.cast_mut(), name.cast_mut()) }
        })
    });
    if !NT_SUCCESS(status) {
        // SAFETY: as above.
        unsafe { IoDeleteDevice(device) };
        return Err(Failed("IoCreateSymbolicLink", status));
    }
    // SAFETY: our device, not yet shared with anyone.
    unsafe { (*device).Flags |= DO_BUFFERED_IO };
    Ok(device)
}

/// Lets opens in: clears `DO_DEVICE_INITIALIZING` (DriverEntry's last step).
pub(super) fn open(device: PDEVICE_OBJECT) {
    // SAFETY: our live device; DriverEntry is the only writer of its flags now.
    unsafe { (*device).Flags &= !DO_DEVICE_INITIALIZING };
}

/// Deletes the link, then the device (unload, or a DriverEntry failing late).
pub(super) fn delete(device: PDEVICE_OBJECT) {
    // SAFETY: PASSIVE_LEVEL; the link `create` made. Its status cannot change what
    // follows.
    let _ = with_name(&LINK, |link| unsafe { IoDeleteSymbolicLink(link.cast_mut()) });
    // SAFETY: no handle is open and no IRP outstanding (unload runs only then; a failing
    // DriverEntry never cleared DO_DEVICE_INITIALIZING).
    unsafe { IoDeleteDevice(device) };
}

/// Sets the device's DACL: `GENERIC_ALL` for SYSTEM (S-1-5-18) and Administrators
/// (S-1-5-32-544), nothing for anyone else. `IoCreateDeviceSecure` would do this from an
/// SDDL string, but it lives in wdmsec.lib; this is the way Microsoft's "Setting a
/// security descriptor on a legacy device object" shows: a kernel handle with `WRITE_DAC`
/// from `ObOpenObjectByPointer`, then `ZwSetSecurityObject`. The SIDs are built here
/// rather than read from `SeExports`, which Wine exports only as a stub.
fn secure(device: PDEVICE_OBJECT) -> Result<(), Failed> {
    /// The ACL's storage: ACLs and SIDs are DWORD-aligned.
    #[repr(C, align(8))]
    struct AclBuffer([u8; ACL_BYTES.next_multiple_of(8)]);
    let system = Sid {
        revision: SID_REVISION_U8,
        count: 1,
        authority: NT_AUTHORITY,
        subauthorities: [SECURITY_LOCAL_SYSTEM_RID],
    };
    let admins = Sid {
        revision: SID_REVISION_U8,
        count: 2,
        authority: NT_AUTHORITY,
        subauthorities: [SECURITY_BUILTIN_DOMAIN_RID, DOMAIN_ALIAS_RID_ADMINS],
    };
    let mut buffer = AclBuffer([0; ACL_BYTES.next_multiple_of(8)]);
    let acl = (&raw mut buffer).cast::<ACL>();
    let bytes = u32::try_from(ACL_BYTES).unwrap_or(0);
    let check = |step, status| if NT_SUCCESS(status) { Ok(()) } else { Err(Failed(step, status)) };
    // SAFETY: `acl` has ACL_BYTES writable, 8-aligned bytes.
    check("RtlCreateAcl", unsafe { RtlCreateAcl(acl, bytes, ACL_REVISION) })?;
    // SAFETY: an initialised ACL with room for this ACE; the SID is valid and only read.
    check("RtlAddAccessAllowedAce", unsafe {
        RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, (&raw const system).cast_mut().cast())
    })?;
    // SAFETY: as above, for the second ACE.
    check("RtlAddAccessAllowedAce", unsafe {
        RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, (&raw const admins).cast_mut().cast())
    })?;
    let mut sd = SECURITY_DESCRIPTOR::default();
    // SAFETY: `sd` is an absolute-format descriptor on this stack.
    check("RtlCreateSecurityDescriptor", unsafe {
        RtlCreateSecurityDescriptor((&raw mut sd).cast(), SECURITY_DESCRIPTOR_REVISION)
    })?;
    // SAFETY: `sd` initialised above; it refers to `acl`, which outlives its use below.
    check("RtlSetDaclSecurityDescriptor", unsafe {
        RtlSetDaclSecurityDescriptor((&raw mut sd).cast(), BOOLEAN::from(true), acl, BOOLEAN::from(false))
    })?;
    let kernel_mode = KPROCESSOR_MODE::try_from(_MODE::KernelMode).unwrap_or_default();
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; our live device object; a kernel handle with WRITE_DAC only,
    // closed below; any object type (NULL), as the article does.
    check("ObOpenObjectByPointer", unsafe {
        ObOpenObjectByPointer(
            device.cast(),
            OBJ_KERNEL_HANDLE,
            ptr::null_mut(),
            WRITE_DAC,
            ptr::null_mut(),
            kernel_mode,
            &raw mut handle,
        )
    })?;
    // SAFETY: an open handle with WRITE_DAC; `sd` is a valid descriptor for the call.
    let status = unsafe { ZwSetSecurityObject(handle, DACL_SECURITY_INFORMATION, (&raw mut sd).cast()) };
    // SAFETY: the handle opened above, closed once.
    let _ = unsafe { ZwClose(handle) };
    check("ZwSetSecurityObject", status)
}

/// Routes the five major functions this device serves; every other one is refused.
pub(super) fn set_dispatch(driver: &mut DRIVER_OBJECT) {
    for slot in &mut driver.MajorFunction {
        *slot = Some(unsupported);
    }
    let routes: [(u32, unsafe extern "C" fn(PDEVICE_OBJECT, PIRP) -> NTSTATUS); 5] = [
        (IRP_MJ_CREATE, create_dispatch),
        (IRP_MJ_CLEANUP, cleanup_close_dispatch),
        (IRP_MJ_CLOSE, cleanup_close_dispatch),
        (IRP_MJ_READ, read_dispatch),
        (IRP_MJ_DEVICE_CONTROL, device_control_dispatch),
    ];
    for (major, routine) in routes {
        if let Some(slot) = driver.MajorFunction.get_mut(major as usize) {
            *slot = Some(routine);
        }
    }
}

/// The file object of `irp` as the channel knows a reader: a number, never sent anywhere.
///
/// # Safety
/// `irp` is an IRP being dispatched to this driver.
unsafe fn file_of(irp: PIRP) -> usize {
    // SAFETY: the caller's contract.
    let stack = unsafe { stack_location(irp) };
    // SAFETY: every IRP on a file handle carries its file object here.
    unsafe { (*stack).FileObject }.addr()
}

/// Every major function but the five.
unsafe extern "C" fn unsupported(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands the IRP over; it is completed once, here.
    unsafe { complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0) }
}

/// `IRP_MJ_CREATE` (`PASSIVE_LEVEL`): extracts the name the open names inside the device
/// and the access it asked for and was granted, and acts on [`classify`]'s answer.
///
/// A name inside the device (`\\.\Global\NotifyRing\x`) is refused
/// (`STATUS_OBJECT_NAME_NOT_FOUND`), the second of the two ways "Controlling Device
/// Namespace Access" gives a device without a namespace. The first, which the device also
/// has, is `FILE_DEVICE_SECURE_OPEN`: it makes the I/O manager apply the device's DACL to
/// such opens too (without it their security would be left to the driver). It does not
/// stop the create from reaching this routine, which would otherwise open the device
/// under another name (a reader, even); refusing the name does.
unsafe extern "C" fn create_dispatch(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let Some(driver) = driver() else {
        // SAFETY: ours to complete, once.
        return unsafe { complete(irp, STATUS_DEVICE_NOT_READY, 0) };
    };
    // SAFETY: an IRP being dispatched.
    let stack = unsafe { stack_location(irp) };
    // SAFETY: every create carries its file object here.
    let file_object = unsafe { (*stack).FileObject };
    // The path after the device's name; a create by relative name (a related file
    // object) carries it here too.
    // SAFETY: the create's file object, NULL-checked, not shared yet.
    let name_bytes = unsafe { file_object.as_ref() }.map_or(0, |file| file.FileName.Length);
    // SAFETY: IRP_MJ_CREATE: `Parameters.Create` is the live member.
    let context: PIO_SECURITY_CONTEXT =
        unsafe { read_at(stack, offset_of!(IO_STACK_LOCATION, Parameters.Create.SecurityContext)) };
    // Windows always passes a security context; Wine 8 passes NULL ("FIXME" in its
    // dispatch_create), and such an open is classified at its first read instead.
    // SAFETY: the I/O manager's security context for this open, NULL-checked.
    let access = unsafe { context.as_ref() }.map(|context| Access {
        desired: context.DesiredAccess,
        // Where a MAXIMUM_ALLOWED open's rights are: the I/O manager's access check
        // grants them there, and DesiredAccess names none.
        // SAFETY: the context's access state, NULL-checked, live for this create.
        granted: unsafe { context.AccessState.as_ref() }.map_or(0, |state| state.PreviouslyGrantedAccess),
    });
    let status = match classify(usize::from(name_bytes), access) {
        Open::NoSuchName => STATUS_OBJECT_NAME_NOT_FOUND,
        Open::Reader => {
            // SAFETY: an IRP being dispatched.
            let file = unsafe { file_of(irp) };
            if driver.channel.attach(file) { STATUS_SUCCESS } else { STATUS_SHARING_VIOLATION }
        }
        Open::StatusOnly => STATUS_SUCCESS,
        Open::Unclassified => {
            // SAFETY: an IRP_MJ_CREATE being dispatched.
            unsafe { mark_unclassified(irp) };
            STATUS_SUCCESS
        }
    };
    // SAFETY: ours to complete, once.
    unsafe { complete(irp, status, 0) }
}

/// `IRP_MJ_CLEANUP` (the handle's last close) and `IRP_MJ_CLOSE`: the reader's handle
/// detaches it and cancels its pending reads; any other's has nothing to undo. On Windows
/// cleanup does it and the close finds nothing left; Wine 8 sends no `IRP_MJ_CLEANUP` at
/// all (its ntoskrnl dispatches create, close, read, write, flush, ioctl, volume and
/// cancel only), so there the close is what detaches. One routine for both: they would
/// be identical (and the linker's /OPT:ICF would fold them anyway).
unsafe extern "C" fn cleanup_close_dispatch(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    if let Some(driver) = driver() {
        // SAFETY: an IRP being dispatched.
        let file = unsafe { file_of(irp) };
        driver.channel.detach(file, &driver.reads, ReadIrp::cancel);
    }
    // SAFETY: ours to complete, once.
    unsafe { complete(irp, STATUS_SUCCESS, 0) }
}

/// `FsContext2` of a file object opened without a security context (Wine): this
/// driver's own field on its own device's file objects, never set on Windows.
const UNCLASSIFIED: usize = 0x4e52_5543; // "NRUC"

/// Marks the file object of the create `irp` as opened without a security context.
///
/// # Safety
/// `irp` is an `IRP_MJ_CREATE` being dispatched to this driver.
unsafe fn mark_unclassified(irp: PIRP) {
    // SAFETY: the caller's contract.
    let stack = unsafe { stack_location(irp) };
    // SAFETY: every create carries its file object, which this driver's device owns the
    // FsContext fields of.
    let file = unsafe { (*stack).FileObject };
    if !file.is_null() {
        // SAFETY: as above; not shared yet (the open is not complete).
        unsafe { (*file).FsContext2 = ptr::without_provenance_mut(UNCLASSIFIED) };
    }
}

/// Whether the file object of `irp` was opened without a security context.
///
/// # Safety
/// `irp` is an IRP being dispatched to this driver.
unsafe fn unclassified(irp: PIRP) -> bool {
    // SAFETY: the caller's contract.
    let stack = unsafe { stack_location(irp) };
    // SAFETY: every IRP on a file handle carries its file object here.
    let file = unsafe { (*stack).FileObject };
    // SAFETY: a live file object of this device, NULL-checked; only create writes the field.
    unsafe { file.as_ref() }.is_some_and(|f| f.FsContext2.addr() == UNCLASSIFIED)
}

/// `IRP_MJ_READ`: a batch now, or pending until the worker has one.
unsafe extern "C" fn read_dispatch(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let Some(driver) = driver() else {
        // SAFETY: ours to complete, once.
        return unsafe { complete(irp, STATUS_DEVICE_NOT_READY, 0) };
    };
    // SAFETY: an IRP being dispatched.
    let file = unsafe { file_of(irp) };
    // An open that could not say what it wanted (Wine) becomes the reader by reading.
    // SAFETY: as above.
    if unsafe { unclassified(irp) } && !driver.channel.attach_at_read(file) {
        // SAFETY: ours to complete, once.
        return unsafe { complete(irp, STATUS_SHARING_VIOLATION, 0) };
    }
    // SAFETY: an IRP_MJ_READ for this device, owned here until handed on below.
    let read = unsafe { ReadIrp::arrived(irp) };
    match driver.channel.read(file, &driver.reads, read) {
        ReadOutcome::Filled(read, bytes) => read.complete(STATUS_SUCCESS, bytes),
        ReadOutcome::Pending => STATUS_PENDING,
        ReadOutcome::Cancelled(read) => read.complete(STATUS_CANCELLED, 0),
        ReadOutcome::NotReader(read) => read.complete(STATUS_ACCESS_DENIED, 0),
        ReadOutcome::TooSmall(read) => read.complete(STATUS_BUFFER_TOO_SMALL, 0),
        // wire::MAX_PENDING_READS wait already (see there for why this status).
        ReadOutcome::TooMany(read) => read.complete(STATUS_TOO_MANY_COMMANDS, 0),
    }
}

/// `IRP_MJ_DEVICE_CONTROL`: [`IOCTL_STATUS`] (`METHOD_BUFFERED`, any access) only.
unsafe extern "C" fn device_control_dispatch(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: an IRP being dispatched.
    let stack = unsafe { stack_location(irp) };
    // SAFETY: IRP_MJ_DEVICE_CONTROL: `Parameters.DeviceIoControl` is the live member.
    let code: u32 = unsafe { read_at(stack, offset_of!(IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode)) };
    // SAFETY: as above.
    let out_len: u32 =
        unsafe { read_at(stack, offset_of!(IO_STACK_LOCATION, Parameters.DeviceIoControl.OutputBufferLength)) };
    let out_len = out_len as usize;
    let driver = driver();
    let (Some(driver), IOCTL_STATUS) = (driver, code) else {
        // SAFETY: ours to complete, once.
        return unsafe { complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0) };
    };
    // SAFETY: METHOD_BUFFERED: `SystemBuffer` is the live member.
    let buffer: *mut u8 = unsafe { read_at(irp, offset_of!(IRP, AssociatedIrp.SystemBuffer)) };
    let len = if buffer.is_null() { 0 } else { out_len.min(STATUS_MAX) };
    let out: &mut [u8] = if len == 0 {
        &mut []
    } else {
        // SAFETY: the system buffer holds at least OutputBufferLength >= len bytes.
        unsafe { ptr::write_bytes(buffer, 0, len) };
        // SAFETY: `len` writable bytes, zeroed above, live until completion below.
        unsafe { core::slice::from_raw_parts_mut(buffer, len) }
    };
    let written = encode_status(out, env!("CARGO_PKG_VERSION"), items(&status_inputs(driver)));
    let (status, bytes) = written.map_or((STATUS_BUFFER_TOO_SMALL, 0), |n| (STATUS_SUCCESS, n));
    // SAFETY: ours to complete, once; `out` is not used after this.
    unsafe { complete(irp, status, bytes) }
}

/// What the status reports, gathered now.
fn status_inputs(driver: &Driver) -> Inputs {
    let (reader, attached, buffered) = driver.channel.with(|s| (s.counters(), s.attached(), s.buffered()));
    let pipeline = &driver.pipeline;
    Inputs {
        config: driver.config,
        rings: pipeline.rings() as u64,
        ring_bytes: pipeline.ring_bytes(),
        caps: pipeline.caps(),
        stats: NOTIFYRING_STATS.snapshot(),
        frequency: driver.frequency,
        reader,
        attached,
        buffered: buffered as u64,
    }
}
