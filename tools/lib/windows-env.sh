# shellcheck shell=bash
# The Windows toolchain stand-in for Linux lanes, sourced by tools/check-windows.sh (and
# by any later lane that links or runs the driver under Wine). It builds, under
# target/windows-lane/ and nowhere else:
#   wdk/       a stand-in WDKContentRoot: mingw-w64's DDK headers, patched towards the
#              WDK (tools/windows-stubs/patch-mingw-ddk.py) plus the declarations mingw
#              lacks (tools/windows-stubs/notifyring-wdk-extras.h); an empty Lib/ tree;
#   wdk-build-0.6.0/  wdk-build's registry source, patched to build on a Linux host
#              (tools/windows-stubs/patch-wdk-build.py);
#   ws/        a workspace view of the repository (symlinks, plus its own Cargo.toml and
#              Cargo.lock copies), so the [patch] that wires in that wdk-build rewrites
#              ws/Cargo.lock and never the repository's, and wdk-build, which looks for
#              Cargo.lock above its OUT_DIR, finds this one. (wdk-build's build script
#              also runs `cargo metadata` there without the --config patch, which puts
#              the registry entry back; the next cargo call re-locks. Harmless.)
# None of it is used by the real build, which runs on Windows against the real WDK.
#
# Use: source it, call nr_win_setup, then nr_win_cargo <cargo args...>.

NR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NR_STUBS=$NR_ROOT/tools/windows-stubs
NR_LANE=$NR_ROOT/target/windows-lane
NR_WIN_TARGET=x86_64-pc-windows-msvc
NR_WDK_VERSION=10.0.26100.0
NR_WDK_ROOT=$NR_LANE/wdk
NR_WDK_BUILD=$NR_LANE/wdk-build-0.6.0
NR_WS=$NR_LANE/ws
NR_MINGW_INCLUDE=/usr/x86_64-w64-mingw32/include

nr_log() { printf 'windows-lane: %s\n' "$*" >&2; }

# Debian packages, the Windows target and clippy; each only if missing.
nr_win_prereqs() {
    local missing=() pkg sudo=()
    for pkg in clang libclang-dev llvm mingw-w64-x86-64-dev python3; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) == 0 ]] || sudo=(sudo)
        nr_log "installing ${missing[*]}"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
    fi
    rustup target list --installed | grep -qx "$NR_WIN_TARGET" || rustup target add "$NR_WIN_TARGET"
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy
}

# Rebuilds DIR only when KEY (inputs' fingerprint) changed since the last build.
nr_win_fresh() { [[ -f $1/.stamp && $(cat "$1/.stamp") == "$2" ]]; }

nr_win_wdk_root() {
    local key inc
    key=$(
        dpkg-query -W -f='${Version}' mingw-w64-x86-64-dev
        cat "$NR_STUBS/patch-mingw-ddk.py" "$NR_STUBS/notifyring-wdk-extras.h"
    )
    key=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
    nr_win_fresh "$NR_WDK_ROOT" "$key" && return 0
    nr_log "building the stand-in WDK in ${NR_WDK_ROOT#"$NR_ROOT"/}"
    rm -rf "$NR_WDK_ROOT"
    inc=$NR_WDK_ROOT/Include/$NR_WDK_VERSION
    mkdir -p "$inc/km/crt" "$NR_WDK_ROOT/Lib/$NR_WDK_VERSION/km/x64"
    cp "$NR_MINGW_INCLUDE"/ddk/*.h "$NR_STUBS/notifyring-wdk-extras.h" "$inc/km/"
    python3 "$NR_STUBS/patch-mingw-ddk.py" "$inc/km" notifyring-wdk-extras.h
    ln -s "$NR_MINGW_INCLUDE" "$inc/shared"
    ln -s "$NR_MINGW_INCLUDE" "$inc/um"
    printf '%s' "$key" >"$NR_WDK_ROOT/.stamp"
}

nr_win_wdk_build() {
    local key src
    key=$(sha256sum "$NR_STUBS/patch-wdk-build.py" | cut -d' ' -f1)
    nr_win_fresh "$NR_WDK_BUILD" "$key" && return 0
    (cd "$NR_ROOT" && cargo fetch --target "$NR_WIN_TARGET" --locked -q)
    src=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -type d -name wdk-build-0.6.0 | head -n 1)
    [[ -n $src ]] || { nr_log "wdk-build-0.6.0 not found in the cargo registry"; return 1; }
    nr_log "patching a copy of wdk-build-0.6.0 in ${NR_WDK_BUILD#"$NR_ROOT"/}"
    rm -rf "$NR_WDK_BUILD"
    cp -r "$src" "$NR_WDK_BUILD"
    python3 "$NR_STUBS/patch-wdk-build.py" "$NR_WDK_BUILD"
    printf '%s' "$key" >"$NR_WDK_BUILD/.stamp"
}

# The workspace view DIR (default $NR_WS): every top-level entry symlinked except
# target/ and the two files cargo writes or wdk-build watches, which are copied only when
# they would change (so the generated bindings stay cached). EDIT, if given, is a
# function that rewrites the copied Cargo.toml (its path is the argument).
# .cargo/config.toml is not linked: cargo finds the repository's by walking up from DIR.
nr_win_workspace() {
    local ws=${1:-$NR_WS} edit=${2:-} entry name
    mkdir -p "$ws"
    for entry in "$NR_ROOT"/*; do
        name=${entry##*/}
        case $name in target | Cargo.toml | Cargo.lock) continue ;; esac
        [[ -L $ws/$name ]] || ln -s "$entry" "$ws/$name"
    done
    cp "$NR_ROOT/Cargo.toml" "$ws/.Cargo.toml.want"
    # Its own workspace root, whatever encloses the repository.
    grep -q '^\[workspace\]' "$ws/.Cargo.toml.want" || printf '\n[workspace]\n' >>"$ws/.Cargo.toml.want"
    [[ -z $edit ]] || "$edit" "$ws/.Cargo.toml.want"
    cmp -s "$ws/.Cargo.toml.want" "$ws/Cargo.toml" || cp "$ws/.Cargo.toml.want" "$ws/Cargo.toml"
    if ! cmp -s "$NR_ROOT/Cargo.lock" "$ws/.Cargo.lock.repo"; then
        cp "$NR_ROOT/Cargo.lock" "$ws/.Cargo.lock.repo"
        cp "$NR_ROOT/Cargo.lock" "$ws/Cargo.lock"
    fi
}

nr_win_setup() {
    nr_win_prereqs
    nr_win_wdk_root
    nr_win_wdk_build
    nr_win_workspace
}

# cargo for the Windows target, in the workspace view, against the stand-in WDK.
nr_win_cargo() {
    local sub=$1
    shift
    (
        cd "$NR_WS" || exit
        unset CARGO_TARGET_DIR
        export WDKContentRoot=$NR_WDK_ROOT
        # wdk-build passes -fms-compatibility, which undefines __GNUC__ and breaks
        # mingw's headers; libclang may not find its own resource directory.
        BINDGEN_EXTRA_CLANG_ARGS="-D__GNUC__=4 -D__GNUC_MINOR__=9 -resource-dir=$(clang -print-resource-dir)"
        export BINDGEN_EXTRA_CLANG_ARGS
        cargo "$sub" --target "$NR_WIN_TARGET" \
            --config "patch.crates-io.wdk-build.path=\"$NR_WDK_BUILD\"" "$@"
    )
}

# --- Linking the driver on Linux (tools/smoke-wine.sh) ---------------------------------
# Adds, under target/windows-lane/:
#   wdk/Lib/<ver>/km/x64/*.lib  MSVC-style import libraries for the libraries wdk-build
#              links (ntoskrnl, hal, wmilib, BufferOverflowFastFailK), made by
#              llvm-dlltool from the exports mingw-w64 lists, plus the few it lacks;
#   ws-link/   a second workspace view whose Cargo.toml runs wdk-build's binary
#              configuration on this host (tools/wine/build.rs), so the driver links
#              with exactly the flags wdk-build gives link.exe on Windows.
# Use: nr_win_setup, nr_win_link_setup, then nr_win_link_cargo <cargo args...>.

NR_WS_LINK=$NR_LANE/ws-link
NR_MINGW_LIB=/usr/x86_64-w64-mingw32/lib

# Exports of the WDK's ntoskrnl.lib that mingw-w64 10's libntoskrnl.a lacks: the APIs
# tools/windows-stubs/notifyring-wdk-extras.h declares, and __chkstk (frames > 4 KiB).
# A library lists an API; whether the running kernel exports it is the lane's check.
NR_NTOSKRNL_EXTRAS=(ExAllocatePool2 ExAllocatePool3 KeQuerySystemTimePrecise
    PsSetCreateThreadNotifyRoutineEx PsSetLoadImageNotifyRoutineEx __chkstk)

# OUT.def for DLL from a mingw import archive: `__imp_X` with a thunk `X` is a function,
# without one it is data; then EXTRA names (functions).
nr_win_def() {
    local archive=$1 dll=$2 out=$3
    shift 3
    {
        printf 'LIBRARY %s\nEXPORTS\n' "$dll"
        {
            llvm-nm "$archive" 2>/dev/null | awk '
                $2 == "I" && $3 ~ /^__imp_/ { imp[substr($3, 7)] = 1 }
                $2 == "T" { thunk[$3] = 1 }
                END { for (n in imp) print (n in thunk) ? n : n " DATA" }'
            printf '%s\n' "$@"
        } | sort -u -k1,1
    } >"$out"
}

nr_win_import_libs() {
    local lib=$NR_WDK_ROOT/Lib/$NR_WDK_VERSION/km/x64 key name
    key=$(
        dpkg-query -W -f='${Version}' mingw-w64-x86-64-dev llvm
        printf '%s\n' "${NR_NTOSKRNL_EXTRAS[@]}"
        declare -f nr_win_def nr_win_import_libs
    )
    key=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
    nr_win_fresh "$lib" "$key" && return 0
    nr_log "generating import libraries in ${lib#"$NR_ROOT"/}"
    rm -f "$lib"/*.lib "$lib"/*.def
    nr_win_def "$NR_MINGW_LIB/libntoskrnl.a" ntoskrnl.exe "$lib/ntoskrnl.def" "${NR_NTOSKRNL_EXTRAS[@]}"
    nr_win_def "$NR_MINGW_LIB/libhal.a" HAL.dll "$lib/hal.def"
    for name in ntoskrnl hal; do
        llvm-dlltool -m i386:x86-64 -d "$lib/$name.def" -l "$lib/$name.lib"
    done
    # Nothing of these is used (wdk-build links them for other driver kinds): empty.
    for name in wmilib BufferOverflowFastFailK; do
        llvm-ar rcs "$lib/$name.lib"
    done
    printf '%s' "$key" >"$lib/.stamp"
}

# The link view's Cargo.toml: the repository's build.rs runs wdk-build on a Windows host
# only (its build-dependency is host-cfg'd), so point `build` at the lane's script and
# give it wdk-build unconditionally.
nr_win_link_toml() {
    local toml=$1
    if grep -q '^\[build-dependencies\]' "$toml" || grep -q '^build *=' "$toml"; then
        nr_log "Cargo.toml gained [build-dependencies] or package.build: update nr_win_link_toml"
        return 1
    fi
    sed -i '0,/^\[package\]$/s//[package]\nbuild = "tools\/wine\/build.rs"/' "$toml"
    printf '\n[build-dependencies]\nwdk-build = "=0.6.0"\n' >>"$toml"
}

nr_win_link_setup() {
    command -v llvm-dlltool >/dev/null || {
        nr_log "llvm-dlltool not found (Debian package llvm)"
        return 1
    }
    nr_win_import_libs
    nr_win_workspace "$NR_WS_LINK" nr_win_link_toml
}

# cargo for the Windows target in the link view, linking with rust-lld (lld-link
# flavour, inferred from the name). Only this lane's --config: the committed
# .cargo/config.toml keeps the real build on MSVC's link.exe.
nr_win_link_cargo() {
    local sub=$1
    shift
    NR_WS=$NR_WS_LINK nr_win_cargo "$sub" --config "target.$NR_WIN_TARGET.linker=\"rust-lld\"" "$@"
}
