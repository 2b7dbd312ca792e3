#!/usr/bin/env bash
# Cross-builds the notifyring CLI (cli/) for Windows on Linux: x86_64-pc-windows-gnu,
# linked by mingw-w64's gcc (Debian package gcc-mingw-w64-x86-64), so no Windows SDK is
# needed. Also lints, for that target, the CLI and the library's user-mode build
# (`--no-default-features --features user`, what the CLI links), with -D warnings.
#
# Installs what it needs (the Debian package, the Rust target, clippy). Prints the
# .exe's path on stdout as its last line; exits non-zero on any error or warning.
# The driver is not built here: that is `cargo wdk build` on Windows.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=x86_64-pc-windows-gnu
say() { printf 'build-cli-windows: %s\n' "$*" >&2; }

if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    say "installing gcc-mingw-w64-x86-64 (the linker)"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends gcc-mingw-w64-x86-64 >&2
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
    say "rustup target add $TARGET"
    rustup target add "$TARGET" >&2
fi
rustup component add clippy >/dev/null 2>&1

cd "$ROOT"
say "clippy: the library's user-mode build for $TARGET"
cargo clippy --target "$TARGET" --no-default-features --features user --lib -- -D warnings >&2
say "clippy: cli/ for $TARGET"
cargo clippy --manifest-path cli/Cargo.toml --target "$TARGET" --all-targets -- -D warnings >&2
say "cargo build --release --target $TARGET --manifest-path cli/Cargo.toml"
cargo build --release --target "$TARGET" --manifest-path cli/Cargo.toml >&2

EXE=$ROOT/cli/target/$TARGET/release/notifyring.exe
[[ -f $EXE ]] || { say "FAIL: no $EXE"; exit 1; }
say "built $(stat -c %s "$EXE") bytes"
printf '%s\n' "$EXE"
