//! Names the driver hands the kernel as counted UTF-16 strings (`UNICODE_STRING`): its
//! device and link, the `Parameters` key and its values, the routines it looks up at run
//! time.
//!
//! A name is never cut: one built from a constant ([`NtName::of`], in a `const` item) is a
//! build error if it does not fit, and one known only at run time ([`NtName::new`]) is
//! refused whole, which the caller handles.

/// The longest name, in UTF-16 units (the driver's names are ASCII: one unit a byte).
pub const NAME_UNITS: usize = 64;

/// An ASCII name as UTF-16 units, with its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtName {
    /// The name's units, then zeros.
    units: [u16; NAME_UNITS],
    /// Units in use: at most [`NAME_UNITS`].
    len: usize,
}

impl NtName {
    /// `name` as UTF-16; `None` if it is longer than [`NAME_UNITS`], holds a byte that is
    /// not ASCII, or a NUL (which would end the name early for some readers).
    #[must_use]
    pub const fn new(name: &str) -> Option<Self> {
        let mut units = [0u16; NAME_UNITS];
        let mut from = name.as_bytes();
        let mut to: &mut [u16] = &mut units;
        while let [byte, rest @ ..] = from {
            let [unit, free @ ..] = to else { return None };
            if !byte.is_ascii() || *byte == 0 {
                return None;
            }
            // A widening of an ASCII byte (`u16::from` is not const).
            *unit = *byte as u16;
            from = rest;
            to = free;
        }
        let len = NAME_UNITS - to.len();
        Some(Self { units, len })
    }

    /// `name` as UTF-16, for constants: evaluated in a `const` item, a name that
    /// [`NtName::new`] refuses fails the build.
    ///
    /// # Panics
    /// When `name` does not fit (at compile time, in a `const` item).
    #[must_use]
    pub const fn of(name: &str) -> Self {
        match Self::new(name) {
            Some(name) => name,
            None => panic!("a kernel name is ASCII, without NUL, and at most NAME_UNITS long"),
        }
    }

    /// The name's units.
    #[must_use]
    pub fn units(&self) -> &[u16] {
        self.units.get(..self.len).unwrap_or(&[])
    }

    /// The name's length in bytes, as `UNICODE_STRING.Length` counts it (at most 128).
    #[must_use]
    pub const fn bytes(&self) -> u16 {
        // At most 2 * NAME_UNITS = 128: no truncation.
        #[allow(clippy::cast_possible_truncation, reason = "len <= NAME_UNITS = 64")]
        let bytes = (self.len * 2) as u16;
        bytes
    }

    /// A copy of the units, for a `UNICODE_STRING` whose buffer the kernel may not write
    /// but which it declares writable (`PWCH`).
    #[must_use]
    pub const fn buffer(&self) -> [u16; NAME_UNITS] {
        self.units
    }
}

#[cfg(all(test, not(any(target_os = "windows", loom, notifyring_no_std))))]
mod tests {
    use super::*;
    use crate::config::SETTINGS;
    use crate::reader::device::{DEVICE_NAME, DOS_NAME};
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn a_name_becomes_its_utf16_units_and_byte_length() {
        let name = NtName::of(DOS_NAME);
        let want: Vec<u16> = DOS_NAME.encode_utf16().collect();
        assert_eq!(name.units(), want);
        assert_eq!(usize::from(name.bytes()), 2 * DOS_NAME.len());
        assert_eq!(&name.buffer()[..want.len()], want.as_slice());
        assert!(name.buffer()[want.len()..].iter().all(|&u| u == 0), "zeros after the name");
        assert_eq!(NtName::of("").units(), [0u16; 0]);
    }

    #[test]
    fn a_name_that_does_not_fit_is_refused_whole_never_cut() {
        let longest = "x".repeat(NAME_UNITS);
        assert_eq!(NtName::new(&longest).map(|n| n.units().len()), Some(NAME_UNITS));
        let longer = String::from(longest.as_str()) + "y";
        assert_eq!(NtName::new(&longer), None, "one unit too many");
        assert_eq!(NtName::new("NotifyRing\u{e9}"), None, "not ASCII");
        assert_eq!(NtName::new("Notify\0Ring"), None, "a NUL");
    }

    /// Every constant name the driver hands the kernel fits (the driver builds them in
    /// `const` items, where one that did not would fail its build).
    #[test]
    fn every_name_the_driver_uses_fits() {
        let routines = ["IoOpenDriverRegistryKey", "PsSetCreateProcessNotifyRoutineEx2", "ExAllocatePool2"];
        let settings = SETTINGS.iter().map(|s| s.name);
        for name in [DEVICE_NAME, DOS_NAME, "Parameters"].into_iter().chain(settings).chain(routines) {
            let converted = NtName::new(name).unwrap_or_else(|| panic!("{name} does not fit"));
            assert_eq!(String::from_utf16(converted.units()).ok().as_deref(), Some(name));
        }
    }
}
