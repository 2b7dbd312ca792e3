#!/usr/bin/env python3
"""Makes a copy of wdk-build 0.6.0's registry source build on a Linux host.

Used only by the Linux lanes (tools/lib/windows-env.sh), never by the real build on
Windows. wdk-build refuses non-Windows hosts in its build-time host code; this keeps
every behaviour and only compiles out what cannot exist on Linux:
  * Cargo.toml: the `windows` crate (registry look-ups) becomes a Windows-only dependency;
  * src/utils.rs: the registry look-up of the WDK root and its imports are cfg(windows),
    and the non-Windows set_var/remove_var do their job instead of compile_error!;
  * src/cargo_make.rs: std::os::windows::fs::symlink_file becomes the Unix symlink.
Each edit must match exactly the expected number of times, or the script fails (a new
wdk-build release needs a new look, not a silent half-patch). Line endings are kept.

Usage: patch-wdk-build.py DIR   (DIR: a fresh copy of wdk-build-0.6.0)
"""

import os
import sys


def sub(path, old, new, expect=1, first=False):
    with open(path, newline="") as f:
        text = f.read()
    eol = "\r\n" if "\r\n" in text else "\n"
    old, new = old.replace("\n", eol), new.replace("\n", eol)
    found = text.count(old)
    if found != expect:
        sys.exit(f"patch-wdk-build: {path}: expected {expect} of {old!r}, found {found}")
    text = text.replace(old, new, 1 if first else -1)
    with open(path, "w", newline="") as f:
        f.write(text)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.chdir(sys.argv[1])

    sub("Cargo.toml", "[dependencies.windows]\n", '[target."cfg(windows)".dependencies.windows]\n')

    utils = "src/utils.rs"
    sub(utils, "    ffi::{CStr, OsStr},\n", "    ffi::OsStr,\n")
    sub(utils, "use windows::{\n", "#[cfg(windows)]\nuse std::ffi::CStr;\n\n#[cfg(windows)]\nuse windows::{\n")
    sub(
        utils,
        "    if let Some(path) = read_registry_key_string_value(",
        "    #[cfg(windows)]\n    if let Some(path) = read_registry_key_string_value(",
        expect=2,
    )
    sub(utils, "/// closed\nfn read_registry_key_string_value(", "/// closed\n#[cfg(windows)]\nfn read_registry_key_string_value(")
    refusal = (
        "    compile_error!(\n"
        '        "windows-drivers-rs is designed to be run on a Windows host machine in a WDK environment. \\\n'
        '         Please build using a Windows target."\n'
        "    );\n"
    )
    safety = "    // SAFETY: Linux type-check lane only; build scripts set variables before spawning threads.\n"
    sub(utils, refusal, safety + "    unsafe {\n        env::set_var(_key, _value);\n    }\n", expect=2, first=True)
    sub(utils, refusal, safety + "    unsafe {\n        env::remove_var(_key);\n    }\n")

    cargo_make = "src/cargo_make.rs"
    sub(cargo_make, "std::os::windows::fs::symlink_file(", "symlink_file(", expect=2)
    sub(
        cargo_make,
        "use anyhow::Context;\n",
        "use anyhow::Context;\n#[cfg(windows)]\nuse std::os::windows::fs::symlink_file;\n"
        "#[cfg(unix)]\nuse std::os::unix::fs::symlink as symlink_file;\n",
    )


if __name__ == "__main__":
    main()
