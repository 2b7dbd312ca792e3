//! A token's user SID to the account name Sysmon prints (`DOMAIN\user`), in user mode.
//!
//! The kernel hands over the SID (see `worker::token`); naming it needs the local
//! account database or a domain controller, which is user-mode work (the CLI calls
//! `LookupAccountSidW`, each SID once: its `AccountCache`, cli/src/accounts.rs; the
//! replay names the SIDs it made up for the recording's accounts). The JSON formatter
//! asks through [`AccountNames`].

use alloc::string::String;

use crate::vocab::token::Sid;

/// Names a SID: `DOMAIN\user`, or `None` if it has no name here.
pub trait AccountNames {
    /// The account `sid` names.
    fn account(&mut self, sid: &Sid) -> Option<String>;
}

/// No names: the JSON's `User` is then the SID's string form.
pub struct NoAccountNames;

impl AccountNames for NoAccountNames {
    fn account(&mut self, _: &Sid) -> Option<String> {
        None
    }
}
