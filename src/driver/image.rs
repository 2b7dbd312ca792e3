//! Image loads (`PsSetLoadImageNotifyRoutine`): `PASSIVE_LEVEL`, critical region, for
//! every exe, dll and driver mapped. Extracts `IMAGE_INFO` and `FullImageName` (may be
//! NULL; process id 0 for a kernel image) and records them; nothing else.

use wdk_sys::ntddk::{PsRemoveLoadImageNotifyRoutine, PsSetLoadImageNotifyRoutine};
use wdk_sys::{HANDLE, NTSTATUS, PIMAGE_INFO, PUNICODE_STRING};

use super::global::driver;
use super::kernel::{id, stamp, units};
use crate::event::Event;

/// The notify routine. No allocation, lock, wait, print or panic.
unsafe extern "C" fn on_image(full_image_name: PUNICODE_STRING, process_id: HANDLE, image_info: PIMAGE_INFO) {
    let Some(driver) = driver() else { return };
    let stamp = stamp();
    // SAFETY: the kernel's IMAGE_INFO, valid during the call (NULL is not documented,
    // but costs nothing to refuse).
    let Some(info) = (unsafe { image_info.as_ref() }) else { return };
    // SAFETY: `Properties` and the bit-field struct are two views of one ULONG; every
    // bit pattern is valid for both.
    let bits = unsafe { info.__bindgen_anon_1.__bindgen_anon_1 };
    let event = Event::ImageLoad {
        pid: id(process_id),
        base: info.ImageBase.addr() as u64,
        size: info.ImageSize,
        kernel_image: bits.SystemModeImage() != 0,
        // 4- and 3-bit fields: the conversions cannot fail.
        signature_level: u8::try_from(bits.ImageSignatureLevel()).unwrap_or(u8::MAX),
        signature_type: u8::try_from(bits.ImageSignatureType()).unwrap_or(u8::MAX),
        // SAFETY: NULL or valid during the call; `record` copies before returning.
        image: unsafe { units(full_image_name) },
    };
    driver.pipeline.record(stamp, &event);
}

/// Registers the routine (DriverEntry).
pub(super) fn register() -> NTSTATUS {
    // SAFETY: PASSIVE_LEVEL; `on_image` has the documented signature and stays loaded
    // until `unregister` returns.
    unsafe { PsSetLoadImageNotifyRoutine(Some(on_image)) }
}

/// Removes the routine; waits for calls in flight (unload, never a callback).
pub(super) fn unregister() -> NTSTATUS {
    // SAFETY: PASSIVE_LEVEL; removes the routine `register` added.
    unsafe { PsRemoveLoadImageNotifyRoutine(Some(on_image)) }
}
