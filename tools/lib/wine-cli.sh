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
