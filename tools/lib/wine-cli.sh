# Shared by the Wine lanes that run the cross-built CLI (tools/smoke-wine-cli.sh,
# tools/smoke-wine.sh). Source it; it defines functions only.

# nr_wine_cli_standin PREFIX WORKDIR: Wine 8 (Debian 12) lacks bcryptprimitives.dll,
# which Rust's std imports (ProcessPrng); if this Wine has none, builds the stand-in
# from tools/wine-cli/ (test use only) in WORKDIR and copies it into PREFIX's system32.
# Prints what it did on stderr.
nr_wine_cli_standin() {
    local prefix=$1 work=$2 root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    if find /usr/lib/x86_64-linux-gnu/wine /usr/lib/wine /usr/lib64/wine \
        -ipath '*x86_64-windows/bcryptprimitives.dll' 2>/dev/null | grep -q .; then
        return 0
    fi
    printf '%s\n' "this Wine has no bcryptprimitives.dll: installing the stand-in (tools/wine-cli/)" >&2
    x86_64-w64-mingw32-gcc -O2 -shared -o "$work/bcryptprimitives.dll" \
        "$root/tools/wine-cli/bcryptprimitives.c" "$root/tools/wine-cli/bcryptprimitives.def" -ladvapi32
    cp "$work/bcryptprimitives.dll" "$prefix/drive_c/windows/system32/"
}

# nr_cli_tests [KIND]: cross-builds the CLI's tests for x86_64-pc-windows-gnu (not run)
# and prints the paths of the test executables of KIND, one a line: `lib`, the library's
# unit tests (cli/src/lib.rs and its modules: the Windows calls' tests are there);
# `bin`, the program's (cli/src/main.rs); `test`, the integration tests (cli/tests/);
# every one without KIND. Prints nothing for a KIND the build made none of.
nr_cli_tests() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    (cd "$root" && cargo test --manifest-path cli/Cargo.toml --target x86_64-pc-windows-gnu --no-run \
        --message-format=json 2>/dev/null) | python3 -c '
import json, sys
kind = sys.argv[1] if len(sys.argv) > 1 else None
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        if kind is None or kind in m["target"]["kind"]:
            print(m["executable"])' "$@"
}
