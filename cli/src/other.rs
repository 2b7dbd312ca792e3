//! Not Windows: the driver exists only there, so every command says so and exits 1.
//! (The crate still builds, lints and tests on the Linux host.)

use notifyring::user::accounts::AccountNames;
use std::sync::Arc;

use notifyring::user::disk::{Files, Signature, StdFiles};
use notifyring::user::paths::PathMap;
use notifyring::user::starts::StartPlaces;
use notifyring::user::watch::{CliError, Watch};
use notifyring::vocab::token::Sid;

use crate::Output;

/// No reader can exist here.
pub enum Reader {}

impl Reader {
    /// Always [`CliError::NotWindows`].
    pub const fn open() -> Result<Self, CliError> {
        Err(CliError::NotWindows)
    }

    /// Unreachable: no `Reader` exists.
    pub const fn run(self, _watch: &mut Watch, _out: &mut Output) -> Result<(), CliError> {
        match self {}
    }
}

/// Always [`CliError::NotWindows`].
pub const fn status_reply() -> Result<Vec<u8>, CliError> {
    Err(CliError::NotWindows)
}

/// The defaults (never used: nothing opens here).
pub fn path_map() -> PathMap {
    PathMap::default()
}

/// The files `DiskFacts` reads: `std`'s (device and inode in the identity on Unix).
pub fn files() -> Arc<dyn Files> {
    Arc::new(StdFiles)
}

/// No signature check outside Windows: the signature fields stay absent.
pub fn signature() -> Option<Box<dyn Signature>> {
    None
}

/// Always [`CliError::NotWindows`]: account names come from Windows.
pub const fn lookup_account(_sid: &Sid) -> Result<String, CliError> {
    Err(CliError::NotWindows)
}

/// No start places outside Windows: only the kernel's answers are printed.
pub fn start_places(_paths: PathMap) -> Option<Box<dyn StartPlaces + Send>> {
    None
}

/// No account names outside Windows: `User` stays the SID.
pub fn account_names() -> Option<Box<dyn AccountNames + Send>> {
    None
}
