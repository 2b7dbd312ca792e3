#!/usr/bin/env bash
# No-panic proof over the driver users load: the release notifyring.sys that
# tools/smoke-wine.sh links on Linux (rust-lld, wdk-build's flags) and runs under Wine,
# with its PDB. tools/prove-no-panic.sh proves the same of a Linux build of the portable
# code; this walks the linked Windows image itself, the Windows layer (src/driver/)
# included, from every routine the kernel calls (the table below).
#
# It reads the COFF image and the PDB with LLVM's tools (llvm-objdump, llvm-pdbutil;
# Debian package llvm) and walks the machine code (tools/lib/sys_no_panic.py): direct
# calls and jumps, switch tables (from the PDB), import thunks (ntoskrnl/HAL imports are
# leaves: kernel code, not ours), calls through pointers resolved where the code loads
# them, and otherwise every address-taken function of the image. Reaching a panic entry
# (core::panicking::*, *_fail, unwrap_failed/expect_failed, the panic handler, KeBugCheck*)
# fails it, naming the chain. It lists, as data, the imports the notify routines reach.
#
# It does not link: it reads target/wine-smoke/notifyring.{sys,pdb}, which
# tools/smoke-wine.sh writes (.ci/run runs that lane first), and refuses a .sys older than
# the sources. Usage: tools/prove-no-panic-sys.sh [SYS [PDB]]
set -euo pipefail
cd "$(dirname "$0")/.."

# The roots: the routines the kernel calls. One line each: role, the function's name in
# the PDB, and `required` (missing = failure) or `optional` (missing = a loud warning,
# for a routine not yet written; none is, today).
ROOTS=(
    "DriverEntry   notifyring::driver::entry::driver_entry    required"
    "DriverUnload  notifyring::driver::entry::driver_unload   required"
    "on_process    notifyring::driver::process::on_process    required"
    "on_thread     notifyring::driver::thread::on_thread      required"
    "on_image      notifyring::driver::image::on_image        required"
    "work-item     notifyring::driver::worker::routine        required"
    "timer-DPC     notifyring::driver::worker::timer_dpc      required"
    "sweep-DPC     notifyring::driver::worker::sweep_dpc      required"
    "IRP-default   notifyring::driver::device::unsupported              required"
    "IRP_MJ_CREATE notifyring::driver::device::create_dispatch          required"
    "IRP_MJ_CLEANUP+CLOSE notifyring::driver::device::cleanup_close_dispatch required"
    "IRP_MJ_READ   notifyring::driver::device::read_dispatch            required"
    "IRP_MJ_DEVICE_CONTROL notifyring::driver::device::device_control_dispatch required"
    "IRP-cancel    notifyring::driver::queue::cancel_routine            required"
)
# Roles whose reachable imports are listed.
NOTIFY=(on_process on_thread on_image)
# Statics that hold only kernel routines found at run time (checked: every store into
# one must be MmGetSystemRoutineAddress's result); calls through them are leaves.
KERNEL_POINTERS=(notifyring::driver::pool::ALLOCATE_POOL2)

SYS=${1:-target/wine-smoke/notifyring.sys}
PDB=${2:-${SYS%.sys}.pdb}
fail() {
    printf 'no-panic proof (.sys): FAIL: %s\n' "$*" >&2
    exit 1
}
for f in "$SYS" "$PDB"; do
    [[ -f $f ]] || fail "$f not found: run tools/smoke-wine.sh first (it links the .sys and copies its PDB)"
done
if [[ $# -eq 0 ]]; then
    newer=$(find src Cargo.toml Cargo.lock build.rs -newer "$SYS" -type f -print -quit)
    [[ -z $newer ]] || fail "$newer changed after $SYS was linked: run tools/smoke-wine.sh again"
fi
for tool in llvm-objdump llvm-pdbutil; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian package llvm)"
done

args=()
for row in "${ROOTS[@]}"; do
    read -r role name need <<<"$row"
    [[ $need == required || $need == optional ]] || fail "root $role: '$need' is neither required nor optional"
    args+=(--root "$role=$name=$need")
done
for role in "${NOTIFY[@]}"; do args+=(--notify "$role"); done
for name in "${KERNEL_POINTERS[@]}"; do args+=(--kernel-pointer "$name"); done
mkdir -p target/wine-smoke
python3 tools/lib/sys_no_panic.py "$SYS" "$PDB" "${args[@]}" --graph target/wine-smoke/no-panic-callgraph.txt
