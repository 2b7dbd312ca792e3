//! User mode: what a reader of the event stream does with it, after the worker.
//!
//! Host and user-mode code only (the replay today, the `notifyring` CLI later): the
//! kernel never formats JSON or converts paths.
//!
//! * [`json`]: one Sysmon-compatible JSON object per event (docs/json.md);
//! * [`paths`]: NT paths to their Win32 form, where that needs no guess.

pub mod json;
pub mod paths;
