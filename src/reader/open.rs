//! What an open of the device is, from what its `IRP_MJ_CREATE` carries.
//!
//! A name inside the device, and the access asked for and already granted, decide it.
//! The create dispatch only extracts those and acts on the answer; the simulated device
//! asks the same.

use super::device::READER_ACCESS;

/// `GENERIC_READ` (winnt.h): an open asking for it asks to read.
pub const GENERIC_READ: u32 = 0x8000_0000;
/// `GENERIC_ALL` (winnt.h).
pub const GENERIC_ALL: u32 = 0x1000_0000;
/// `MAXIMUM_ALLOWED` (winnt.h): "whatever the DACL grants", resolved by the I/O
/// manager's access check into `ACCESS_STATE.PreviouslyGrantedAccess`.
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;

/// The access an open carries (`IO_SECURITY_CONTEXT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// `DesiredAccess`: what the open asked for.
    pub desired: u32,
    /// `AccessState->PreviouslyGrantedAccess`: what the I/O manager's access check
    /// granted already; where a `MAXIMUM_ALLOWED` open's rights are (0 when the context
    /// has no access state).
    pub granted: u32,
}

/// What an open is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// A name inside the device (`\\.\Global\NotifyRing\x`): the device has no
    /// namespace, so no such object exists (`STATUS_OBJECT_NAME_NOT_FOUND`).
    NoSuchName,
    /// With read access: the reader, if no other is attached.
    Reader,
    /// Without it: may ask for the status only.
    StatusOnly,
    /// Without a security context (Wine 8's creates): becomes the reader at its first
    /// read, if no other is attached.
    Unclassified,
}

/// Whether an open with `access` asks to read.
///
/// It does with [`READER_ACCESS`] or a generic right that includes it, asked for or
/// granted. `IO_SECURITY_CONTEXT`'s page does not say whether
/// generic rights arrive mapped, so either form counts; and a `MAXIMUM_ALLOWED` open asks
/// for no right by name, its rights are the granted ones.
#[must_use]
pub const fn is_reader(access: Access) -> bool {
    (access.desired | access.granted) & (READER_ACCESS | GENERIC_READ | GENERIC_ALL) != 0
}

/// The create dispatch's decision.
///
/// `name_bytes` is the length of the create's `FileObject->FileName`, the part of the
/// path after the device's name: any name at all is refused, whatever the access
/// ("Controlling Device Namespace Access": a device without a namespace may fail every
/// create whose `FileName` is not empty). `access` is `None` for a create without a
/// security context.
#[must_use]
pub const fn classify(name_bytes: usize, access: Option<Access>) -> Open {
    if name_bytes != 0 {
        return Open::NoSuchName;
    }
    match access {
        None => Open::Unclassified,
        Some(access) if is_reader(access) => Open::Reader,
        Some(_) => Open::StatusOnly,
    }
}

#[cfg(all(test, not(any(target_os = "windows", loom, notifyring_no_std))))]
mod tests {
    use super::*;

    /// `FILE_READ_ATTRIBUTES` (winnt.h): what `notifyring status` opens with.
    const FILE_READ_ATTRIBUTES: u32 = 0x0080;
    /// `SYNCHRONIZE` (winnt.h): added by `CreateFile` to every open.
    const SYNCHRONIZE: u32 = 0x0010_0000;
    /// `FILE_GENERIC_READ` (winnt.h): `GENERIC_READ` mapped for a file object.
    const FILE_GENERIC_READ: u32 = 0x0012_0089;

    /// What an open with a security context carrying these masks is.
    const fn open_with(desired: u32, granted: u32) -> Open {
        classify(0, Some(Access { desired, granted }))
    }

    #[test]
    fn a_maximum_allowed_open_reads_if_its_granted_rights_do() {
        // An administrator's MAXIMUM_ALLOWED open: the DACL grants GENERIC_ALL, mapped.
        assert_eq!(open_with(MAXIMUM_ALLOWED | SYNCHRONIZE, 0x001f_01ff), Open::Reader);
        // Granted only attributes: it may ask for the status, nothing more.
        assert_eq!(open_with(MAXIMUM_ALLOWED, FILE_READ_ATTRIBUTES | SYNCHRONIZE), Open::StatusOnly);
        // No access state: nothing granted to look at.
        assert_eq!(open_with(MAXIMUM_ALLOWED, 0), Open::StatusOnly);
    }

    #[test]
    fn read_access_asked_for_or_granted_makes_the_reader() {
        for (desired, granted) in [
            (GENERIC_READ | SYNCHRONIZE, 0),
            (GENERIC_ALL, 0),
            (READER_ACCESS, 0),
            (0, FILE_GENERIC_READ),
            (SYNCHRONIZE, READER_ACCESS),
        ] {
            assert!(is_reader(Access { desired, granted }), "{desired:#x} / {granted:#x}");
            assert_eq!(open_with(desired, granted), Open::Reader);
        }
        for (desired, granted) in [(FILE_READ_ATTRIBUTES | SYNCHRONIZE, FILE_READ_ATTRIBUTES | SYNCHRONIZE), (0, 0)] {
            assert!(!is_reader(Access { desired, granted }), "{desired:#x} / {granted:#x}");
            assert_eq!(open_with(desired, granted), Open::StatusOnly);
        }
    }

    #[test]
    fn an_open_without_a_security_context_is_unclassified() {
        assert_eq!(classify(0, None), Open::Unclassified);
    }

    #[test]
    fn a_name_inside_the_device_is_never_opened() {
        // `\x` is 4 bytes; a lone `\` 2. Whatever the access, with or without a context.
        for access in
            [Some(Access { desired: GENERIC_READ, granted: 0 }), Some(Access { desired: 0, granted: 0 }), None]
        {
            for name_bytes in [2, 4, 0xfffe] {
                assert_eq!(classify(name_bytes, access), Open::NoSuchName, "{name_bytes} bytes, {access:?}");
            }
        }
    }
}
