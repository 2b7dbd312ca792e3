//! `notifyring status`: the driver's status reply (the status IOCTL's bytes) as text.

use std::fmt::Write as _;

use notifyring::reader::wire::{self, Status};

use crate::error::CliError;

/// The status IOCTL's reply as text: the driver's version, then one `name=value` per
/// item in the driver's order.
///
/// # Errors
/// [`CliError::Wire`] for bytes that are not a status reply of this version,
/// [`CliError::StatusItems`] for a reply cut short.
pub fn status_text(bytes: &[u8]) -> Result<String, CliError> {
    let status = Status::parse(bytes).map_err(CliError::Wire)?;
    let mut text = format!("driver {} (protocol {})\n", status.driver_version, wire::VERSION);
    let mut found = 0u32;
    for (name, value) in status.items() {
        found = found.saturating_add(1);
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{name}={value}");
    }
    if found != status.announced() {
        return Err(CliError::StatusItems { announced: status.announced(), found });
    }
    Ok(text)
}
