#!/usr/bin/env bash
# The Linux type-check lane for the Windows layer: `cargo clippy -- -D warnings` (which
# type-checks as it goes) of the whole crate for x86_64-pc-windows-msvc, with the
# real wdk crates (wdk 0.5.0, wdk-sys 0.5.2, wdk-panic 0.5.0), whose
# bindings are generated here from mingw-w64's DDK headers (tools/lib/windows-env.sh).
#
# What a pass proves: every call, type, field and callback signature in src/driver
# matches those declarations, and the crate is clippy-clean for Windows. What it does
# not: it neither links nor runs the driver, and mingw's headers are not the WDK's (the
# few differences that matter are patched or declared in tools/windows-stubs/). The
# real build is `cargo wdk build` on Windows (.github/workflows/windows.yml).
#
# Installs what it needs (Debian packages, the Windows target); everything it
# generates stays under target/windows-lane/. Exits non-zero on any error or warning.
# Extra arguments go to cargo (e.g. --release).
set -euo pipefail

# shellcheck source=tools/lib/windows-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/windows-env.sh"

nr_win_setup

# cargo wdk packages <crate>.inx from beside Cargo.toml; the source lives in inf/.
if ! cmp -s "$NR_ROOT/inf/notifyring.inx" "$NR_ROOT/notifyring.inx"; then
    nr_log "notifyring.inx differs from inf/notifyring.inx: cp inf/notifyring.inx notifyring.inx"
    exit 1
fi

nr_log "cargo clippy --target $NR_WIN_TARGET -- -D warnings"
nr_win_cargo clippy "$@" -- -D warnings

nr_log "pass: the crate type-checks and is clippy-clean for $NR_WIN_TARGET (not linked, not run)"
