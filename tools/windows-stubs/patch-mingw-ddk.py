#!/usr/bin/env python3
"""Brings a copy of mingw-w64's DDK headers closer to the WDK 10.0.26100 ones.

Used only by the Linux lanes (tools/lib/windows-env.sh) to build the stand-in
WDKContentRoot's Include/<ver>/km. Only what the driver or the wdk crates touch and an
added declaration cannot fix (typedefs, struct bit-fields, an inline definition); new
declarations go to notifyring-wdk-extras.h instead. Each edit follows the documented
WDK definition and must match exactly once, or the script fails.

Usage: patch-mingw-ddk.py KM_DIR EXTRAS_HEADER_NAME
"""

import os
import sys


def sub(path, old, new):
    with open(path, newline="") as f:
        text = f.read()
    found = text.count(old)
    if found != 1:
        sys.exit(f"patch-mingw-ddk: {path}: expected 1 of {old!r}, found {found}")
    with open(path, "w", newline="") as f:
        f.write(text.replace(old, new))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    km, extras = sys.argv[1], sys.argv[2]
    os.chdir(km)

    # The WDK declares both as pointers to the kernel (K) structures.
    sub("wdm.h", "typedef struct _EPROCESS *PEPROCESS;", "typedef struct _KPROCESS *PEPROCESS;")
    sub("wdm.h", "typedef struct _ETHREAD *PETHREAD;", "typedef struct _KTHREAD *PETHREAD;")
    # mingw defines KeGetCurrentIrql inline on x64 (bindgen then emits nothing, and
    # wdk's paged_code! cannot call it); the WDK imports it from the HAL.
    sub(
        "wdm.h",
        "FORCEINLINE\nKIRQL\nKeGetCurrentIrql(VOID)\n{\n  return (KIRQL)__readcr8();\n}\n",
        "NTHALAPI\nKIRQL\nNTAPI\nKeGetCurrentIrql(VOID);\n",
    )
    # DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT) in the WDK: 16 bytes, x64 size 336.
    sub("wdm.h", "typedef struct _DEVICE_OBJECT {", "typedef struct DECLSPEC_ALIGN(16) _DEVICE_OBJECT {")
    # PS_CREATE_NOTIFY_INFO gained IsSubsystemProcess (Windows 10).
    sub(
        "ntddk.h",
        "      IN ULONG FileOpenNameAvailable:1;\n      IN ULONG Reserved:31;\n",
        "      IN ULONG FileOpenNameAvailable:1;\n      IN ULONG IsSubsystemProcess:1;\n"
        "      IN ULONG Reserved:30;\n",
    )
    # IMAGE_INFO gained the signature bits (Windows 8.1 / 10).
    sub(
        "ntddk.h",
        "      ULONG ExtendedInfoPresent:1;\n      ULONG Reserved:21;\n",
        "      ULONG ExtendedInfoPresent:1;\n      ULONG MachineTypeMismatch:1;\n"
        "      ULONG ImageSignatureLevel:4;\n      ULONG ImageSignatureType:3;\n"
        "      ULONG ImagePartialMap:1;\n      ULONG Reserved:12;\n",
    )
    # wdk-build's bindgen input includes ntifs.h, ntddk.h, then ntstrsafe.h: the extras
    # come last, after everything they build on.
    with open("ntstrsafe.h", "a", newline="") as f:
        f.write(f'\n#include "{extras}"\n')


if __name__ == "__main__":
    main()
