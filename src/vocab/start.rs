//! Step 5b: where a thread from another process starts, as the worker reads it.
//!
//! Never the callback, which has only ids: the thread's Win32 start address, and what the
//! target process's memory holds there, an image (at which base) or not. The driver reads both through kernel handles (`ZwQueryInformationThread` with
//! `ThreadQuerySetWin32StartAddress`, `ZwQueryVirtualMemory` with
//! `MemoryBasicInformation`), which a protected process (lsass.exe as a PPL) does not
//! refuse, unlike a user-mode reader's `OpenProcess`: so "started outside every image",
//! the telling fact of injected code, is known even there. Naming the image and the
//! export at the address is user-mode work (`user::starts`).

/// What the target's memory holds at a thread's start address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartRegion {
    /// The memory could not be queried (the process is gone, or the host cannot say).
    Unknown,
    /// Not part of any mapped image: private or data memory (injected code, typically).
    NoImage,
    /// Inside the image mapped at `base` (the allocation's base: the image's).
    Image {
        /// The image's base address in the target process.
        base: u64,
    },
}

/// A thread's start facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadStart {
    /// The Win32 start address (what the thread's creator asked it to run).
    pub address: u64,
    /// What the target's memory holds there.
    pub region: StartRegion,
}

/// Where the kernel's half of the x64 address space starts.
const KERNEL_SPACE: u64 = 0xFFFF_8000_0000_0000;

impl ThreadStart {
    /// A start address whose region is not known.
    #[must_use]
    pub const fn at(address: u64) -> Self {
        Self { address, region: StartRegion::Unknown }
    }

    /// These facts as they may leave the kernel: a start in kernel space (a system
    /// thread that a driver started from some process's context) only where kernel
    /// addresses may be shown (`KernelImageBases=1`), like kernel images' bases: it would
    /// tell the output's readers where the kernel's code lies.
    #[must_use]
    pub const fn shown(self, kernel_addresses: bool) -> Option<Self> {
        if self.address >= KERNEL_SPACE && !kernel_addresses { None } else { Some(self) }
    }
}
