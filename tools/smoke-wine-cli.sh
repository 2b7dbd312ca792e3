#!/usr/bin/env bash
# The CLI's Wine check: the cross-built notifyring.exe (tools/build-cli-windows.sh)
# starts under Wine in a fresh prefix with no driver loaded, and
#   `notifyring status` and `notifyring watch` each print the one-line "driver not
#   loaded" error and exit 2 (CreateFileW of \\.\NotifyRing fails with
#   ERROR_FILE_NOT_FOUND: the Win32 error mapping, end to end);
#   `notifyring --version` prints the version and exits 0;
#   a bad option value exits 1 with clap's message (usage errors are not exit 2).
# What it cannot show: reading events and the status reply need the driver's device,
# which Wine's driver host would have to create (not checked here).
#
# Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust's std imports; the prefix
# then gets a stand-in built from tools/wine-cli/ (test use only). Installs what it
# needs; the prefix lives under target/wine-cli/ and is removed after a pass.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/target/wine-cli
say() { printf 'smoke-wine-cli: %s\n' "$*" >&2; }
fail() {
    say "FAIL: $*"
    exit 1
}

EXE=$(bash "$ROOT/tools/build-cli-windows.sh" | tail -n 1)

if ! dpkg-query -W -f='${Status}' wine64 2>/dev/null | grep -q 'ok installed'; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    say "installing wine64"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wine64 wine >&2
fi
WINE=$(command -v wine64 || true)
[[ -n $WINE ]] || WINE=/usr/lib/wine/wine64
[[ -x $WINE ]] || fail "no wine64 loader found (Debian package wine64)"
export WINELOADER=$WINE

export WINEPREFIX=$OUT/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree=;mshtml="
unset DISPLAY WAYLAND_DISPLAY
rm -rf "$OUT"
mkdir -p "$OUT"
say "fresh prefix ${WINEPREFIX#"$ROOT"/}"
"$WINE" wineboot -i >"$OUT/wineboot.log" 2>&1 || fail "wineboot -i failed (see ${OUT#"$ROOT"/}/wineboot.log)"
trap 'wineserver -k 2>/dev/null || true' EXIT

if ! find /usr/lib/x86_64-linux-gnu/wine /usr/lib/wine /usr/lib64/wine -ipath '*x86_64-windows/bcryptprimitives.dll' 2>/dev/null | grep -q .; then
    say "this Wine has no bcryptprimitives.dll: installing the stand-in"
    x86_64-w64-mingw32-gcc -O2 -shared -o "$OUT/bcryptprimitives.dll" \
        "$ROOT/tools/wine-cli/bcryptprimitives.c" "$ROOT/tools/wine-cli/bcryptprimitives.def" -ladvapi32
    cp "$OUT/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
fi

# run EXPECTED_EXIT EXPECTED_STDERR_OR_STDOUT_LINE ARGS...: one run, checked.
run() {
    local want_rc=$1 want=$2 rc=0
    shift 2
    "$WINE" "$EXE" "$@" >"$OUT/stdout" 2>"$OUT/stderr" || rc=$?
    local got
    got=$(cat "$OUT/stdout" "$OUT/stderr" | tr -d '\r')
    say "notifyring $* -> exit $rc: $(head -n 1 <<<"$got")"
    [[ $rc == "$want_rc" ]] || fail "notifyring $*: exit $rc, expected $want_rc; output: $got"
    grep -qxF -- "$want" <<<"$got" || fail "notifyring $*: expected the line '$want'; output: $got"
}

NOT_LOADED='notifyring: driver not loaded (\\.\NotifyRing does not exist): start the notifyring service'
run 2 "$NOT_LOADED" status
run 2 "$NOT_LOADED" watch --json --kinds process
run 0 "notifyring 0.1.0" --version
run 1 "error: invalid value 'files' for '--kinds <LIST>': unknown kind \"files\" (expected process, thread, image)" watch --kinds files
# The device is opened before the output file: nothing is created when it fails.
run 2 "$NOT_LOADED" watch --output 'C:\events.log'
[[ ! -e $WINEPREFIX/drive_c/events.log ]] || fail "watch --output created the file although the driver is missing"

wineserver -k 2>/dev/null || true
rm -rf "$WINEPREFIX"
say "PASS"
