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

# The workspace view: every top-level entry symlinked except target/ and the two files
# cargo writes or wdk-build watches, which are copied only when the repository's
# changed (so the generated bindings stay cached). .cargo/config.toml is not linked:
# cargo finds the repository's by walking up from ws/.
nr_win_workspace() {
    local entry name
    mkdir -p "$NR_WS"
    for entry in "$NR_ROOT"/*; do
        name=${entry##*/}
        case $name in target | Cargo.toml | Cargo.lock) continue ;; esac
        [[ -L $NR_WS/$name ]] || ln -s "$entry" "$NR_WS/$name"
    done
    if ! cmp -s "$NR_ROOT/Cargo.toml" "$NR_WS/.Cargo.toml.repo"; then
        cp "$NR_ROOT/Cargo.toml" "$NR_WS/.Cargo.toml.repo"
        cp "$NR_ROOT/Cargo.toml" "$NR_WS/Cargo.toml"
        # Its own workspace root, whatever encloses the repository.
        grep -q '^\[workspace\]' "$NR_WS/Cargo.toml" || printf '\n[workspace]\n' >>"$NR_WS/Cargo.toml"
    fi
    if ! cmp -s "$NR_ROOT/Cargo.lock" "$NR_WS/.Cargo.lock.repo"; then
        cp "$NR_ROOT/Cargo.lock" "$NR_WS/.Cargo.lock.repo"
        cp "$NR_ROOT/Cargo.lock" "$NR_WS/Cargo.lock"
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
        cd "$NR_WS"
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
