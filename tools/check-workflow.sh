#!/usr/bin/env bash
# A Linux-side guard over the Windows workflow's shape; it does not run the workflow.
#
#   tools/check-workflow.sh [WORKFLOW]    # default .github/workflows/windows.yml
#
# Fails, one line per reason, when the workflow
#  - writes WDKBinRoot or WDKToolRoot without a version folder as the last path
#    component (wdk-build 0.6 takes both as the full, versioned folder and appends only
#    the architecture: ...\c\bin\<Version_Number>, not ...\c\bin), or never writes them;
#  - has no step that Test-Paths every exported WDK path (WDKContentRoot, WDKBinRoot,
#    WDKToolRoot, WindowsSdkBinPath) and throws, before the first build step
#    (cargo build, check, clippy or wdk build). A name counts as validated when it is
#    read on a Test-Path line that throws (on it or the next two lines), or on one of
#    the five lines before it (the list such a loop iterates over).
# Comment lines are ignored. A version folder is a literal 10.0.<build>.<n> or a
# reference to a variable whose name contains "version" ($env:Version_Number,
# $sdkVersion.0, ...). Needs bash and python3 (standard library only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

python3 - "${1:-$root/.github/workflows/windows.yml}" "$root" <<'PY'
import os
import re
import sys

lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
path = os.path.relpath(sys.argv[1], sys.argv[2])
if path.startswith(".."):
    path = sys.argv[1]
code = [(i, l) for i, l in enumerate(lines) if l.strip() and not l.lstrip().startswith("#")]
fail = []

# Exports: `NAME=value` inside a string, `NAME = value` in a hashtable, `NAME: value`
# in YAML. `$env:NAME` and `env.NAME` are reads, not writes.
PATH_VARS = ["WDKContentRoot", "WDKBinRoot", "WDKToolRoot", "WindowsSdkBinPath"]
VERSION_FOLDER = re.compile(r"10\.0\.\d+\.\d+|.*\$[({]?(env:)?\w*version\w*", re.I)


def write_pattern(name):
    return re.compile(r"(?<![\w:.])[\"']?" + name + r"[\"']?\s*[=:]\s*(.*)")


def writes(name):
    pat = write_pattern(name)
    for i, l in code:
        m = pat.search(l)
        if m:
            value = m.group(1)
            value = re.split(r"\s>>", value)[0].strip()
            value = value.strip("\"'")
            yield i, value


exported = set()
for name in PATH_VARS:
    found = list(writes(name))
    if found:
        exported.add(name)
    if name not in ("WDKBinRoot", "WDKToolRoot"):
        continue
    if not found:
        fail.append(f"{name} is never exported (wdk-build would fall back to WDKContentRoot)")
    for i, value in found:
        last = [c for c in re.split(r"[\\/]", value) if c][-1:] or [""]
        if not VERSION_FOLDER.match(last[0]):
            fail.append(
                f"line {i + 1}: {name} = {value} has no version folder as its last "
                f"component (wdk-build appends only the architecture)"
            )

# Steps: list items at the indentation of the first item after `steps:`.
starts, indent = [], None
for i, l in code:
    if indent is None:
        if re.match(r"\s*steps:\s*$", l):
            indent = -1
        continue
    m = re.match(r"(\s*)- ", l)
    if m and indent == -1:
        indent = len(m.group(1))
    if m and len(m.group(1)) == indent:
        starts.append(i)
steps = []
for k, s in enumerate(starts):
    e = starts[k + 1] if k + 1 < len(starts) else len(lines)
    steps.append((s, [(i, l) for i, l in code if s <= i < e]))


def reads(step, name):
    """The step names `name` on a line that does not export it (a check, not a write)."""
    return any(name in l and not write_pattern(name).search(l) for _, l in step)


def text(step):
    return "\n".join(l for _, l in step)


BUILD = re.compile(r"\bcargo\s+(\+\S+\s+)?(build|check|clippy|wdk\s+build)\b")
first_build = next((s for s, st in steps if BUILD.search(text(st))), None)
if first_build is None:
    fail.append("no build step (cargo build, check, clippy or wdk build) found")
else:
    # The validation: in a step before the first build step, a Test-Path with a
    # `throw` on its line or the next two; it covers the exported names read (not
    # written) on its line or the five lines before it (the list it iterates over).
    covered, fatal = set(), False
    for s, st in steps:
        if s >= first_build:
            continue
        for k, (_, l) in enumerate(st):
            if "Test-Path" not in l or not any(re.search(r"\bthrow\b", t) for _, t in st[k:k + 3]):
                continue
            fatal = True
            window = st[max(0, k - 5):k + 1]
            covered |= {n for n in exported if reads(window, n)}
    if not fatal or not covered:
        fail.append(
            "no step Test-Paths the exported WDK paths and throws before the first "
            f"build step (line {first_build + 1})"
        )
    elif exported - covered:
        fail.append(
            "the path validation before the first build step does not cover "
            + ", ".join(sorted(exported - covered))
        )

for f in fail:
    print(f"check-workflow: {path}: {f}")
if fail:
    sys.exit(1)
print(f"check-workflow: {path}: WDKBinRoot/WDKToolRoot versioned, "
      f"{', '.join(sorted(exported))} validated before the first build step")
PY
