/*
 * Declarations the WDK 10.0.26100 headers have and mingw-w64 10's DDK headers lack,
 * written from the documented prototypes (learn.microsoft.com, windows-hardware/
 * drivers/ddi). Linux type-check lane only: the stand-in km/ntstrsafe.h includes this
 * last (tools/windows-stubs/patch-mingw-ddk.py), so every type it uses is defined.
 * A WDK API missing here and in mingw fails the lane as "cannot find function".
 */
#pragma once

/* wdm.h, Windows 10 2004: ExAllocatePool2 (resolved at run time by src/driver/pool.rs). The POOL_FLAG_*
 * values are not declared here: the WDK's carry an MSVC UI64 suffix bindgen cannot
 * read, so wdk-sys defines them itself (src/constants.rs). */
typedef ULONG64 POOL_FLAGS;

NTKERNELAPI
PVOID
NTAPI
ExAllocatePool2(
  POOL_FLAGS Flags,
  SIZE_T NumberOfBytes,
  ULONG Tag);

/* wdm.h, Windows 8. */
NTKERNELAPI
VOID
NTAPI
KeQuerySystemTimePrecise(
  PLARGE_INTEGER CurrentTime);

/* ntddk.h, Windows 10: the Ex notify variants (declared for the bindings; notifyring does not use them). */
typedef enum _PSCREATETHREADNOTIFYTYPE {
  PsCreateThreadNotifyNonSystem = 0,
  PsCreateThreadNotifySubsystems = 1
} PSCREATETHREADNOTIFYTYPE;

NTKERNELAPI
NTSTATUS
NTAPI
PsSetCreateThreadNotifyRoutineEx(
  PSCREATETHREADNOTIFYTYPE NotifyType,
  PVOID NotifyInformation);

#define PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE 0x1

NTKERNELAPI
NTSTATUS
NTAPI
PsSetLoadImageNotifyRoutineEx(
  PLOAD_IMAGE_NOTIFY_ROUTINE NotifyRoutine,
  ULONG_PTR Flags);

/* ntddk.h, Windows 10 1703. */
NTKERNELAPI
NTSTATUS
NTAPI
PsGetProcessExitStatus(
  PEPROCESS Process);
