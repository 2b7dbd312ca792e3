//! Every way the CLI fails ([`CliError`]): one line on stderr, and the exit code
//! docs/cli.md ("Exit codes") documents; and the Win32 errors that pick one.
//!
//! A read's bytes that `Watch` cannot show ([`WatchError`]) become their own
//! [`CliError`] ([`From`]), with the words and exit codes of any other bad reply.

use std::fmt;

use notifyring::reader::device;
use notifyring::reader::wire::{self, WireError};
use notifyring::user::watch::WatchError;

/// Every way the CLI fails: one line on stderr, and an exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// `\\.\Global\NotifyRing` does not exist (`ERROR_FILE_NOT_FOUND`, `ERROR_PATH_NOT_FOUND`).
    DriverNotLoaded,
    /// Opening it was refused (`ERROR_ACCESS_DENIED`).
    NotElevated,
    /// Another reader is attached (`ERROR_SHARING_VIOLATION`).
    ReaderAttached,
    /// The driver refused a read: `wire::MAX_PENDING_READS` wait already
    /// (`STATUS_TOO_MANY_COMMANDS`, Win32 `ERROR_TOO_MANY_CMDS`).
    TooManyReads,
    /// The driver's bytes are not what this program reads.
    Wire(WireError),
    /// A batch header announces `announced` entries but holds `found`.
    EntryCount {
        /// What the header says.
        announced: u32,
        /// Entries parsed.
        found: u32,
    },
    /// A status reply with fewer items than it announces.
    StatusItems {
        /// What the reply says.
        announced: u32,
        /// Items parsed.
        found: u32,
    },
    /// Any other Windows error, with what was being done.
    Os {
        /// What failed (`opening \\.\Global\NotifyRing`, `reading`, …).
        doing: &'static str,
        /// `GetLastError()`.
        code: u32,
    },
    /// Writing the output failed.
    Output(String),
    /// The CLI was built for another system.
    NotWindows,
    /// `notifyring facts`: the file could not be read.
    File(String),
    /// `notifyring account`: the argument is not a SID's string form.
    NotASid(String),
    /// `notifyring account`: Windows has no account name for this SID
    /// (`ERROR_NONE_MAPPED`).
    NoAccount(String),
}

/// `ERROR_FILE_NOT_FOUND`.
pub const ERROR_FILE_NOT_FOUND: u32 = 2;
/// `ERROR_PATH_NOT_FOUND`.
pub const ERROR_PATH_NOT_FOUND: u32 = 3;
/// `ERROR_ACCESS_DENIED`.
pub const ERROR_ACCESS_DENIED: u32 = 5;
/// `ERROR_SHARING_VIOLATION`.
pub const ERROR_SHARING_VIOLATION: u32 = 32;
/// `ERROR_TOO_MANY_CMDS`: `STATUS_TOO_MANY_COMMANDS` in Win32 terms.
pub const ERROR_TOO_MANY_CMDS: u32 = 56;

impl CliError {
    /// The error a Win32 failure of `doing` is.
    #[must_use]
    pub const fn from_win32(doing: &'static str, code: u32) -> Self {
        match code {
            ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND => Self::DriverNotLoaded,
            ERROR_ACCESS_DENIED => Self::NotElevated,
            ERROR_SHARING_VIOLATION => Self::ReaderAttached,
            ERROR_TOO_MANY_CMDS => Self::TooManyReads,
            _ => Self::Os { doing, code },
        }
    }

    /// The process exit code (docs/cli.md, "Exit codes").
    #[must_use]
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::DriverNotLoaded => 2,
            Self::NotElevated => 3,
            Self::ReaderAttached => 4,
            Self::Wire(WireError::Version { .. }) => 5,
            Self::TooManyReads => 6,
            Self::Wire(_)
            | Self::EntryCount { .. }
            | Self::StatusItems { .. }
            | Self::Os { .. }
            | Self::Output(_)
            | Self::NotWindows
            | Self::File(_)
            | Self::NotASid(_)
            | Self::NoAccount(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("notifyring: ")?;
        match self {
            Self::DriverNotLoaded => {
                write!(f, "driver not loaded ({} does not exist): start the notifyring service", device::USER_PATH)
            }
            Self::NotElevated => write!(f, "access denied opening {}: run from an elevated prompt", device::USER_PATH),
            Self::ReaderAttached => f.write_str("another reader is attached (one at a time): stop it first"),
            Self::TooManyReads => write!(
                f,
                "the driver refused a read: {} reads of this reader are waiting already",
                wire::MAX_PENDING_READS
            ),
            Self::Wire(WireError::Version { found }) => write!(
                f,
                "protocol version mismatch: the driver speaks {found}, this program {}: use the CLI built with the driver",
                wire::VERSION
            ),
            Self::Wire(e) => write!(f, "bad reply from the driver: {e}"),
            Self::EntryCount { announced, found } => {
                write!(f, "bad reply from the driver: batch announces {announced} entries, holds {found}")
            }
            Self::StatusItems { announced, found } => {
                write!(f, "bad reply from the driver: status announces {announced} items, holds {found}")
            }
            Self::Os { doing, code } => write!(f, "{doing} failed: Windows error {code}"),
            Self::Output(e) => write!(f, "writing the output failed: {e}"),
            Self::NotWindows => f.write_str("this program runs on Windows only"),
            Self::File(path) => write!(f, "cannot read {path}"),
            Self::NotASid(text) => write!(f, "not a SID: {text:?} (expected S-1-<authority>-<sub-authority>-...)"),
            Self::NoAccount(sid) => write!(f, "no account name for {sid}"),
        }
    }
}

impl From<WatchError> for CliError {
    fn from(e: WatchError) -> Self {
        match e {
            WatchError::Wire(e) => Self::Wire(e),
            WatchError::EntryCount { announced, found } => Self::EntryCount { announced, found },
        }
    }
}
