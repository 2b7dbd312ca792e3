//! Where a thread from another process started: Sysmon's `StartModule` and
//! `StartFunction` for its `StartAddress`.
//!
//! The kernel worker reads the start address and whether the target's memory holds an
//! image there, and at which base (`worker::start`); a start outside every image (injected
//! code) is Sysmon's pair of empty strings, which detection rules test (`StartModule:
//! ''`), known from the kernel's answer alone. Naming the image and the export at the
//! address is user-mode work, done after the event arrives: the CLI asks Windows which
//! file is mapped there (`GetMappedFileNameW`, which also covers processes that started
//! before the driver, whose image loads the worker never saw) and reads that file's export
//! table; the replay serves what the recording says. An answer that could not be had is
//! absent, never guessed.

use alloc::string::String;

pub use crate::vocab::start::{StartRegion, ThreadStart};

/// Where a thread's start address lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartPlace {
    /// Inside a mapped image.
    Image {
        /// The image's path (NT or Win32 form; the formatter prints it in Win32 form).
        path: String,
        /// The exported function at exactly the start address, if one is.
        function: Option<String>,
    },
    /// Outside every mapped image (private or data memory): `StartModule` and
    /// `StartFunction` are empty strings, as Sysmon writes them.
    NoImage,
}

/// Where the JSON formatter learns the place of a start inside an image, or of one whose
/// region the kernel could not read: the CLI asks Windows, the replay the recording. Must
/// not block for long.
pub trait StartPlaces {
    /// The place of `start` in process `pid`'s memory; `None` if it cannot be said (the
    /// process is gone, or the host cannot tell).
    fn start_place(&mut self, pid: u64, start: &ThreadStart) -> Option<StartPlace>;
}

/// No answers (the formatter's default): `StartAddress`, and the empty pair for a start
/// the kernel found outside every image.
pub struct NoStartPlaces;

impl StartPlaces for NoStartPlaces {
    fn start_place(&mut self, _: u64, _: &ThreadStart) -> Option<StartPlace> {
        None
    }
}

/// Sysmon's `StartAddress`: `0x` and 16 uppercase hex digits.
#[must_use]
pub fn start_address(address: u64) -> String {
    alloc::format!("0x{address:016X}")
}

/// The address a `StartAddress` string names (`0x` and hex digits, any case); `None` for
/// anything else.
#[must_use]
pub fn parse_start_address(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_addresses_read_and_write_as_sysmon_writes_them() {
        assert_eq!(start_address(0x7ff8_9c86_5ea0), "0x00007FF89C865EA0");
        assert_eq!(parse_start_address("0x00007FF89C865EA0"), Some(0x7ff8_9c86_5ea0));
        assert_eq!(parse_start_address("0x2baa0700000"), Some(0x2ba_a070_0000));
        for bad in ["", "0x", "7FF8", "0x1ffffffffffffffff", "0xg0", "0x-1"] {
            assert_eq!(parse_start_address(bad), None, "{bad:?}");
        }
        for address in [0, 1, 0x7ffb_9285_e540, u64::MAX] {
            assert_eq!(parse_start_address(&start_address(address)), Some(address));
        }
    }
}
