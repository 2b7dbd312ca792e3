//! Not Windows: the driver exists only there, so every command says so and exits 1.
//! (The crate still builds, lints and tests on the Linux host.)

use notifyring::user::accounts::AccountNames;
use std::sync::Arc;

use crate::disk::{Files, Signature, StdFiles};
use notifyring::user::paths::PathMap;
use notifyring::user::starts::StartPlaces;
use notifyring::user::watch::Watch;
use notifyring::vocab::token::Sid;

use crate::error::CliError;
use crate::output::Output;

/// No reader can exist here.
pub enum Reader {}

impl Reader {
    /// No reader: the driver exists only on Windows.
    ///
    /// # Errors
    /// Always [`CliError::NotWindows`].
    pub const fn open() -> Result<Self, CliError> {
        Err(CliError::NotWindows)
    }

    /// Unreachable: no `Reader` exists.
    ///
    /// # Errors
    /// None: it never runs.
    pub const fn run(self, _watch: &mut Watch, _out: &mut Output) -> Result<(), CliError> {
        match self {}
    }
}

/// No status: the driver exists only on Windows.
///
/// # Errors
/// Always [`CliError::NotWindows`].
pub const fn status_reply() -> Result<Vec<u8>, CliError> {
    Err(CliError::NotWindows)
}

/// The defaults (never used: nothing opens here).
#[must_use]
pub fn path_map() -> PathMap {
    PathMap::default()
}

/// The files `DiskFacts` reads: `std`'s (device and inode in the identity on Unix).
#[must_use]
pub fn files() -> Arc<dyn Files> {
    Arc::new(StdFiles)
}

/// No signature check outside Windows: the signature fields stay absent.
#[must_use]
pub fn signature() -> Option<Box<dyn Signature>> {
    None
}

/// No account name: account names come from Windows.
///
/// # Errors
/// Always [`CliError::NotWindows`].
pub const fn lookup_account(_sid: &Sid) -> Result<String, CliError> {
    Err(CliError::NotWindows)
}

/// No start places outside Windows: only the kernel's answers are printed.
#[must_use]
pub fn start_places(_paths: PathMap) -> Option<Box<dyn StartPlaces + Send>> {
    None
}

/// No account names outside Windows: `User` stays the SID.
#[must_use]
pub fn account_names() -> Option<Box<dyn AccountNames + Send>> {
    None
}
