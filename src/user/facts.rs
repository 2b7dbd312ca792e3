//! The facts about an image *file* that detection rules test.
//!
//! A notify callback does not have them: its version resource, its hashes and its
//! signature (Sysmon's
//! `OriginalFileName`, `Description`, `Product`, `Company`, `FileVersion`, `Hashes`,
//! `Signed`, `Signature`, `SignatureStatus`).
//!
//! They are read in user mode, after the event arrives, as Sysmon does: the CLI from the
//! file on disk, the replay from the recording (what the file said on the machine that
//! recorded it). Both hand them to the JSON formatter through [`FileFactsSource`], so
//! the same code turns them into JSON. A fact that could not be read is absent, never
//! guessed.

use alloc::string::String;

use crate::event::Kind;

/// What is known about one image file. Every field is optional: absent means unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// `OriginalFilename` of the version resource.
    pub original_file_name: Option<String>,
    /// `FileDescription`.
    pub description: Option<String>,
    /// `ProductName`.
    pub product: Option<String>,
    /// `CompanyName`.
    pub company: Option<String>,
    /// `FileVersion` (the string-table value, as Sysmon prints it).
    pub file_version: Option<String>,
    /// The file's hashes as Sysmon writes them: `SHA1=…,MD5=…,SHA256=…,IMPHASH=…`
    /// (uppercase hex, the configured algorithms in that order).
    pub hashes: Option<String>,
    /// Whether the image is signed (image loads).
    pub signed: Option<bool>,
    /// The signer's name.
    pub signature: Option<String>,
    /// `Valid`, `Unavailable`, … as Sysmon writes it.
    pub signature_status: Option<String>,
}

impl FileFacts {
    /// Whether nothing is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The event a file's facts are asked for.
#[derive(Clone, Copy, Debug)]
pub struct FileEvent<'a> {
    /// Process create (the new process's image) or image load (the loaded image).
    pub kind: Kind,
    /// The event's process.
    pub pid: u64,
    /// The event's timestamp (performance-counter ticks).
    pub ticks: u64,
    /// The path as the kernel gave it (NT or DOS form).
    pub path: &'a str,
    /// The same path in Win32 form where known (what the CLI opens).
    pub win32_path: &'a str,
}

/// Where the JSON formatter gets file facts: the CLI reads the file, the replay the
/// recording. Must not block for long: a slow file yields `None` (and is counted by the
/// source), never a stalled stream.
pub trait FileFactsSource {
    /// The facts of `event`'s image file, or `None` if none could be read.
    fn file_facts(&mut self, event: &FileEvent<'_>) -> Option<FileFacts>;
}

/// No file facts (the formatter's default).
pub struct NoFileFacts;

impl FileFactsSource for NoFileFacts {
    fn file_facts(&mut self, _: &FileEvent<'_>) -> Option<FileFacts> {
        None
    }
}
