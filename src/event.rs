//! Step 1 of the flow: what a notify callback hands over.
//!
//! An [`Event`] borrows the kernel's strings (valid only during the callback) and holds
//! plain ids; [`crate::Pipeline::record`] copies it into the ring before the callback
//! returns. Nothing here validates: kernel strings are data, copied verbatim.

/// Where and when an event was seen; both supplied by the caller (the driver reads
/// `KeQueryPerformanceCounter` and the processor number in the callback).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Raw performance-counter ticks.
    pub ticks: u64,
    /// Processor number the callback ran on.
    pub cpu: u32,
}

/// The five event kinds, in the order used by per-kind statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A process was created.
    ProcessCreate = 0,
    /// A process exited.
    ProcessExit = 1,
    /// A thread was created.
    ThreadCreate = 2,
    /// A thread exited.
    ThreadExit = 3,
    /// An image (exe, dll, driver) was mapped.
    ImageLoad = 4,
}

impl Kind {
    /// Every kind, in statistics order.
    pub const ALL: [Self; 5] =
        [Self::ProcessCreate, Self::ProcessExit, Self::ThreadCreate, Self::ThreadExit, Self::ImageLoad];

    /// The name used in output lines (`process-create`, …).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ProcessCreate => "process-create",
            Self::ProcessExit => "process-exit",
            Self::ThreadCreate => "thread-create",
            Self::ThreadExit => "thread-exit",
            Self::ImageLoad => "image-load",
        }
    }

    /// Index into per-kind arrays.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kind with this wire value, if any.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::ProcessCreate),
            1 => Some(Self::ProcessExit),
            2 => Some(Self::ThreadCreate),
            3 => Some(Self::ThreadExit),
            4 => Some(Self::ImageLoad),
            _ => None,
        }
    }
}

/// A process and thread id pair (the kernel's `CLIENT_ID`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientId {
    /// Process id.
    pub pid: u64,
    /// Thread id.
    pub tid: u64,
}

/// One notify callback's data, borrowed for the duration of the call.
///
/// Strings are UTF-16 code units exactly as the kernel passed them (`UNICODE_STRING`
/// length / 2 units): odd data such as unpaired surrogates or NULs is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// `PsSetCreateProcessNotifyRoutineEx` with a non-NULL `CreateInfo`.
    ProcessCreate {
        /// The new process.
        pid: u64,
        /// `ParentProcessId` (the inherited-from process, not necessarily the creator).
        parent_pid: u64,
        /// `CreatingThreadId`: the process and thread that called create.
        creator: ClientId,
        /// `FileOpenNameAvailable`: the image path is the name used to open the file.
        file_open_name_available: bool,
        /// `IsSubsystemProcess`: a WSL/pico or other non-Win32 process.
        subsystem_process: bool,
        /// `ImageFileName`, if the kernel gave one.
        image: Option<&'a [u16]>,
        /// `CommandLine`, if the kernel gave one.
        command_line: Option<&'a [u16]>,
    },
    /// `PsSetCreateProcessNotifyRoutineEx` with a NULL `CreateInfo`.
    ProcessExit {
        /// The exiting process.
        pid: u64,
        /// Its exit status (`PsGetProcessExitStatus`), an NTSTATUS.
        exit_status: u32,
    },
    /// `PsSetCreateThreadNotifyRoutine` with `Create == TRUE`.
    ThreadCreate {
        /// The process the new thread belongs to.
        pid: u64,
        /// The new thread.
        tid: u64,
        /// Who created it: the current process and thread in the callback. A creator
        /// pid different from `pid` is a remote thread.
        creator: ClientId,
    },
    /// `PsSetCreateThreadNotifyRoutine` with `Create == FALSE`.
    ThreadExit {
        /// The process the thread belonged to.
        pid: u64,
        /// The exiting thread.
        tid: u64,
    },
    /// `PsSetLoadImageNotifyRoutine`.
    ImageLoad {
        /// The process the image is mapped into; 0 for a kernel-mode image.
        pid: u64,
        /// `ImageBase`.
        base: u64,
        /// `ImageSize` in bytes.
        size: u64,
        /// `SystemModeImage`: a driver or other kernel-mode image.
        kernel_image: bool,
        /// `ImageSignatureLevel` (`SE_SIGNING_LEVEL_*`).
        signature_level: u8,
        /// `ImageSignatureType` (`SE_IMAGE_SIGNATURE_TYPE`).
        signature_type: u8,
        /// `FullImageName`, if the kernel gave one.
        image: Option<&'a [u16]>,
    },
}

impl Event<'_> {
    /// This event's kind.
    #[must_use]
    pub const fn kind(&self) -> Kind {
        match self {
            Self::ProcessCreate { .. } => Kind::ProcessCreate,
            Self::ProcessExit { .. } => Kind::ProcessExit,
            Self::ThreadCreate { .. } => Kind::ThreadCreate,
            Self::ThreadExit { .. } => Kind::ThreadExit,
            Self::ImageLoad { .. } => Kind::ImageLoad,
        }
    }
}
