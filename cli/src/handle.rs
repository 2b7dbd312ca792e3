//! A Win32 handle that closes itself: the one type the Windows calls (`windows`) and the
//! signature check (`signature`) both hold.

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};

/// A handle, closed on drop.
pub struct Handle(pub HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a valid handle this program owns; nothing uses it after.
        unsafe { CloseHandle(self.0) };
    }
}
