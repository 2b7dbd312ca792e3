#!/usr/bin/env bash
# Checks that the driver's PDB carries what WinDbg's `dx -r3 notifyring!NOTIFYRING_STATS`
# needs (docs/windows.md, "Live counters in WinDbg"): full type information, not public symbols only.
#
# Usage: tools/check-pdb.sh [SYS [PDB]]   (default: target/wine-smoke/notifyring.{sys,pdb},
# which tools/smoke-wine.sh writes). Reads the PDB with llvm-pdbutil (Debian package llvm):
#   * it belongs to the .sys: the GUID and age in the .sys's CodeView debug entry are the
#     PDB's, and the entry names `notifyring.pdb` (how a debugger finds it beside the .sys);
#   * the global NOTIFYRING_STATS is a typed data record (S_GDATA32) of type
#     notifyring::stats::Stats, at the address of the public (#[no_mangle]) symbol;
#   * that type's record has its fields, and the counter structs under it
#     (ProducerStats, WorkerStats, inside crossbeam's CachePadded) have exactly the fields
#     src/stats.rs declares, in order, each an AtomicU64 or an array of them.
# Prints the type tree as `dx` would lay it out, and exits non-zero with a one-line reason
# otherwise (a release build without `debug = "full"` fails: its PDB has no types).
set -euo pipefail
cd "$(dirname "$0")/.."
SYS=${1:-target/wine-smoke/notifyring.sys}
PDB=${2:-${SYS%.sys}.pdb}
for f in "$SYS" "$PDB"; do
    [[ -f $f ]] || {
        echo "pdb-check: FAIL: $f not found (tools/smoke-wine.sh links the .sys and copies its PDB)" >&2
        exit 1
    }
done
command -v llvm-pdbutil >/dev/null || {
    echo "pdb-check: FAIL: llvm-pdbutil not found (Debian package llvm)" >&2
    exit 1
}
python3 - "$SYS" "$PDB" src/stats.rs <<'PY'
import re, subprocess, sys

sys_path, pdb, stats_rs = sys.argv[1:4]


def fail(msg):
    print(f"pdb-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        fail(f"{' '.join(cmd[:3])}: {(r.stderr.strip().splitlines() or ['exit %d' % r.returncode])[-1]}")
    return r.stdout


# --- The PDB is the .sys's ---
summary = run("llvm-pdbutil", "dump", "--summary", pdb)
guid = re.search(r"GUID: \{([0-9A-F-]+)\}", summary)
age = re.search(r"Age: (\d+)", summary)
debug = run("llvm-readobj", "--coff-debug-directory", sys_path)
raw = re.search(r"PDBGUID: \(([0-9A-F ]+)\)", debug)
sys_age = re.search(r"PDBAge: (\d+)", debug)
name = re.search(r"PDBFileName: (\S+)", debug)
if not (guid and age and raw and sys_age and name):
    fail("no GUID/age in the PDB summary or no CodeView entry in the .sys")
b = bytes.fromhex(raw.group(1).replace(" ", ""))
sys_guid = (f"{int.from_bytes(b[0:4], 'little'):08X}-{int.from_bytes(b[4:6], 'little'):04X}-"
            f"{int.from_bytes(b[6:8], 'little'):04X}-{b[8:10].hex().upper()}-{b[10:16].hex().upper()}")
if (sys_guid, sys_age.group(1)) != (guid.group(1), age.group(1)):
    fail(f"the PDB ({guid.group(1)}, age {age.group(1)}) is not the .sys's ({sys_guid}, age {sys_age.group(1)})")
if re.split(r"[\\/]", name.group(1))[-1] != "notifyring.pdb":
    fail(f"the .sys names its PDB {name.group(1)}, not notifyring.pdb")

# --- The global, typed ---
globals_ = run("llvm-pdbutil", "dump", "--globals", pdb)
m = re.search(r"S_GDATA32 \[size = \d+\] `((?:\w+::)*NOTIFYRING_STATS)`\s+type = (0x[0-9A-F]+) \(([^)]*)\), addr = (\d+:\d+)", globals_)
if not m:
    fail("no typed global NOTIFYRING_STATS (S_GDATA32) in the PDB: public symbols only "
         "(is `debug = \"full\"` gone from [profile.release]?)")
gname, gtype, gtype_name, gaddr = m.groups()
publics = run("llvm-pdbutil", "dump", "--publics", pdb)
p = re.search(r"S_PUB32 \[size = \d+\] `NOTIFYRING_STATS`\s+flags = [^,]*, addr = (\d+:\d+)", publics)
if not p or p.group(1) != gaddr:
    fail(f"the public NOTIFYRING_STATS is {'missing' if not p else 'at ' + p.group(1)}, the typed global at {gaddr}")

# --- Types ---
types_text = run("llvm-pdbutil", "dump", "--types", pdb)
records, cur = {}, None
for line in types_text.splitlines():
    r = re.match(r"\s*(0x[0-9A-F]+) \| (LF_\w+) \[size = \d+\](?: `(.*)`)?", line)
    if r:
        cur = records[int(r.group(1), 16)] = {"kind": r.group(2), "name": r.group(3), "lines": []}
    elif cur is not None:
        cur["lines"].append(line.strip())


def struct(index, expect_name=None):
    """The complete LF_STRUCTURE for INDEX (following a forward reference)."""
    rec = records.get(index)
    if rec is None or rec["kind"] != "LF_STRUCTURE":
        fail(f"type 0x{index:X} is not a structure record")
    text = " ".join(rec["lines"])
    fwd = re.search(r"forward ref \(-> (0x[0-9A-F]+)\)", text)
    if fwd:
        return struct(int(fwd.group(1), 16), expect_name)
    if expect_name and rec["name"] != expect_name:
        fail(f"type 0x{index:X} is {rec['name']}, not {expect_name}")
    fl = re.search(r"field list: (0x[0-9A-F]+)", text)
    size = re.search(r"sizeof (\d+)", text)
    if not fl:
        fail(f"{rec['name']} has no field list in the PDB")
    fields = []
    for line in records[int(fl.group(1), 16)]["lines"]:
        f = re.match(r"- LF_MEMBER \[name = `(\w+)`, Type = (0x[0-9A-F]+).*?, offset = (\d+)", line)
        if f:
            fields.append((f.group(1), int(f.group(2), 16), int(f.group(3))))
    return rec["name"], int(size.group(1)) if size else 0, fields


def type_name(index):
    rec = records.get(index)
    if rec is None:
        return f"0x{index:X}"
    if rec["kind"] == "LF_ARRAY":
        a = re.search(r"size: (\d+), index type: .*?, element type: (0x[0-9A-F]+)", " ".join(rec["lines"]))
        elem = int(a.group(2), 16)
        n = int(a.group(1)) // max(struct(elem)[1], 1)
        return f"{type_name(elem)} [{n}]"
    return rec["name"] or rec["kind"]


# The fields src/stats.rs declares, per struct.
source = open(stats_rs).read()
declared = {
    s.group(1): re.findall(r"^\s*pub (\w+):", s.group(2), re.M)
    for s in re.finditer(r"pub struct (\w+) \{\n(.*?)\n\}", source, re.S)
}
for want in ("Stats", "ProducerStats", "WorkerStats"):
    if not declared.get(want):
        fail(f"no fields of {want} found in {stats_rs} (the check's parser needs updating)")
for must in ("delivered", "lost_reported", "worker_runs"):
    if must not in declared["WorkerStats"]:
        fail(f"{stats_rs}: WorkerStats has no field {must} (update this check)")

out = []


def check(index, rust_name, depth):
    name, size, fields = struct(index, f"notifyring::stats::{rust_name}")
    got = [f[0] for f in fields]
    if got != declared[rust_name]:
        fail(f"{name}'s fields in the PDB are {got}; {stats_rs} declares {declared[rust_name]}")
    for fname, ftype, off in fields:
        tname = type_name(ftype)
        out.append(f"{'    ' * depth}[+0x{off:03x}] {fname:<18} [Type: {tname}]")
        if rust_name == "Stats":
            padded = re.fullmatch(r"crossbeam_utils::cache_padded::CachePadded<notifyring::stats::(\w+)>", tname)
            if not padded or padded.group(1) not in ("ProducerStats", "WorkerStats"):
                fail(f"Stats.{fname} has type {tname}, not CachePadded<ProducerStats or WorkerStats>")
            _, _, pad = struct(ftype, tname)
            if [f[0] for f in pad] != ["value"]:
                fail(f"{tname} has fields {[f[0] for f in pad]}, expected [value]")
            out.append(f"{'    ' * (depth + 1)}[+0x{pad[0][2]:03x}] {'value':<18} "
                       f"[Type: notifyring::stats::{padded.group(1)}]")
            check(pad[0][1], padded.group(1), depth + 2)
        elif not re.fullmatch(r"core::sync::atomic::AtomicU64( \[\d+\])?", tname):
            fail(f"{name}.{fname} has type {tname}, not AtomicU64 or an array of them")
    return size


if gtype_name != "notifyring::stats::Stats":
    fail(f"{gname} has type {gtype_name}, not notifyring::stats::Stats")
size = check(int(gtype, 16), "Stats", 1)
print(f"pdb-check: {pdb} belongs to {sys_path} (GUID {guid.group(1)}, age {age.group(1)})")
print(f"pdb-check: {gname} (public NOTIFYRING_STATS, {gaddr}) [Type: notifyring::stats::Stats] ({size} bytes)")
print("\n".join(out))
n = sum(len(declared[s]) for s in ("Stats", "ProducerStats", "WorkerStats"))
print(f"pdb-check: PASS: NOTIFYRING_STATS has type Stats in the PDB with all {n} fields of "
      f"Stats, ProducerStats and WorkerStats that {stats_rs} declares")
PY
