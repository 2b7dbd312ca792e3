//! The reader device's names and codes.
//!
//! Shared by the driver (which creates the device) and the CLI (which opens it): its
//! kernel name, its global link, the path a program opens, the access right that makes
//! an open the reader, and the status IOCTL's code.

/// The device's kernel name.
pub const DEVICE_NAME: &str = "\\Device\\NotifyRing";
/// Its DOS name: a link in the *global* `\DosDevices` directory.
///
/// Every logon session sees it. DriverEntry's system thread would put a plain
/// `\DosDevices\NotifyRing` there too ("Local and Global MS-DOS Device Names"); the
/// explicit `Global` makes that independent of the creating thread.
pub const DOS_NAME: &str = "\\DosDevices\\Global\\NotifyRing";
/// What a program opens: `\??\Global\NotifyRing`, the global name itself.
///
/// A plain `\\.\NotifyRing` is looked up in the caller's session-local `\DosDevices`
/// first, where a name of the same spelling (`DefineDosDevice`) would shadow the driver's.
pub const USER_PATH: &str = "\\\\.\\Global\\NotifyRing";
/// The access right that makes an open the reader (`FILE_READ_DATA`, in `GENERIC_READ`).
///
/// One such open at a time; a second is refused with
/// `STATUS_SHARING_VIOLATION` (Win32 `ERROR_SHARING_VIOLATION`). Opens without it (say,
/// `FILE_READ_ATTRIBUTES` only) may only ask for the status.
pub const READER_ACCESS: u32 = 0x0001;
/// The status IOCTL: `CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS)`.
///
/// The device's DACL already limits who may open it at all. Its
/// output is a status reply ([`super::wire::Status`]).
pub const IOCTL_STATUS: u32 = (0x22 << 16) | (0x800 << 2);
