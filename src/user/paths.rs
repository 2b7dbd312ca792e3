//! NT paths as the kernel gives them, turned into the Win32 form Sysmon prints, where
//! that can be done reliably; anything else is kept as it came, never guessed.
//!
//! * `\??\C:\x` → `C:\x`, `\??\UNC\srv\share\x` → `\\srv\share\x` (the DOS-devices prefix);
//! * `\SystemRoot\x` → `<system root>\x` (user mode asks Windows for the Windows
//!   directory; the replay takes it as an option, default `C:\Windows`);
//! * `\Device\Mup\srv\share\x` → `\\srv\share\x` (the UNC provider);
//! * `\Device\HarddiskVolume3\x` → `C:\x` only with a volume → drive map (user mode asks
//!   Windows with `QueryDosDevice`; the replay takes `--volume DEVICE=DRIVE`).
//!
//! Prefixes match case-insensitively and only at a path component boundary.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// What converting a path needs to know about the machine.
#[derive(Clone, Debug)]
pub struct PathMap {
    system_root: String,
    /// `(\Device\HarddiskVolumeN, C:)`, longest device first.
    volumes: Vec<(String, String)>,
}

impl Default for PathMap {
    fn default() -> Self {
        Self::new(r"C:\Windows")
    }
}

/// `path` without the prefix `prefix` (ASCII, any case) if it starts with it at a
/// component boundary (followed by `\` or nothing).
fn strip_component<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let head = path.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = path.get(prefix.len()..)?;
    (rest.is_empty() || rest.starts_with('\\')).then_some(rest)
}

impl PathMap {
    /// No volumes known; `system_root` is what `\SystemRoot` stands for.
    #[must_use]
    pub fn new(system_root: &str) -> Self {
        Self { system_root: String::from(system_root.trim_end_matches('\\')), volumes: Vec::new() }
    }

    /// Maps the NT device `device` (e.g. `\Device\HarddiskVolume3`) to `drive` (`C:`).
    pub fn add_volume(&mut self, device: &str, drive: &str) {
        let device = String::from(device.trim_end_matches('\\'));
        let drive = String::from(drive.trim_end_matches('\\'));
        self.volumes.retain(|(d, _)| !d.eq_ignore_ascii_case(&device));
        self.volumes.push((device, drive));
        // Longest first, so `\Device\HarddiskVolume10` is tried before `…Volume1`
        // (the boundary check already tells them apart; this keeps the order obvious).
        self.volumes.sort_by_key(|(d, _)| core::cmp::Reverse(d.len()));
    }

    /// The Win32 form of `path` where it can be had without guessing, else `path`.
    #[must_use]
    pub fn win32<'a>(&self, path: &'a str) -> Cow<'a, str> {
        if let Some(rest) = strip_component(path, r"\??\UNC") {
            return Cow::Owned(alloc::format!(r"\{rest}"));
        }
        if let Some(rest) = path.get(4..).filter(|_| path.get(..4) == Some(r"\??\")) {
            // `\??\C:\x`: the rest is already a Win32 path (drive or volume GUID form).
            return Cow::Borrowed(rest);
        }
        if let Some(rest) = strip_component(path, r"\SystemRoot") {
            return Cow::Owned(alloc::format!("{}{rest}", self.system_root));
        }
        if let Some(rest) = strip_component(path, r"\Device\Mup") {
            return Cow::Owned(alloc::format!(r"\{rest}"));
        }
        for (device, drive) in &self.volumes {
            if let Some(rest) = strip_component(path, device) {
                let rest = if rest.is_empty() { "\\" } else { rest };
                return Cow::Owned(alloc::format!("{drive}{rest}"));
            }
        }
        Cow::Borrowed(path)
    }
}
