//! Not Windows: the driver exists only there, so every command says so and exits 1.
//! (The crate still builds, lints and tests on the Linux host.)

use notifyring::user::disk::Signature;
use notifyring::user::paths::PathMap;
use notifyring::user::watch::{CliError, Watch};

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

/// No signature check outside Windows: the signature fields stay absent.
pub fn signature() -> Option<Box<dyn Signature>> {
    None
}
