//! The `notifyring` CLI's library: what the program (src/main.rs) does besides parsing
//! its command line.
//!
//! * [`error`]: every way the CLI fails, as one line and an exit code;
//! * [`accounts`]: account names for `watch --json`'s `User`, each SID asked once;
//! * [`disk`]: the image files' facts for `watch --json` and `facts`, read from the file
//!   on disk, cached by file identity, computed off the event path;
//! * [`status`]: the driver's status reply as text;
//! * [`output`]: where a command's lines go (standard output or a file), and its write
//!   errors;
//! * [`sys`]: the system's calls: `windows` on Windows (open and read the driver's
//!   device, ask for its status, what the JSON output needs to know about the machine),
//!   `other` elsewhere (every command refuses: the driver exists only on Windows).
//!
//! What the CLI shares with the driver and the replay (the wire decoder, the debugger's
//! line formatter, the JSON formatter, `Watch`) is the driver crate's (`notifyring`,
//! its `user` feature on Windows).

pub mod accounts;
#[cfg(any(windows, test))]
mod command_line;
pub mod disk;
pub mod error;
#[cfg(windows)]
mod handle;
pub mod output;
#[cfg(windows)]
mod signature;
pub mod status;

#[cfg(not(windows))]
pub mod other;
#[cfg(windows)]
pub mod windows;

/// The system's calls: `windows`, as this is Windows.
#[cfg(windows)]
pub use windows as sys;

/// The system's calls: `other`, as this is not Windows.
#[cfg(not(windows))]
pub use other as sys;
