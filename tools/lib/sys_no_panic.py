#!/usr/bin/env python3
"""No-panic proof over the linked driver image (tools/prove-no-panic-sys.sh).

Reads the PE (headers, exports, imports, base relocations, .pdata) with the standard
library, the PDB through `llvm-pdbutil dump` (procedure, thunk, data and switch-table
records, publics) and the machine code through `llvm-objdump -d`, builds the call graph
of the image and walks it from the root functions. Fails, naming the chain, when a panic
entry is reachable.

Edges:
  * direct `call`/`jmp`/`jcc` to another function;
  * `jmp *%reg` at a switch-table branch the PDB records (S_ARMSWITCHTABLE): its targets;
  * a call or jump through an import address table slot, directly or through an import
    thunk (`jmp *__imp_X`): the import is a leaf (kernel code, not ours), listed as data;
  * a call or jump through a register or memory (any other `*` operand, including a
    `rex64 jmp *%reg` tail call): resolved inside its basic block when the register was
    loaded from a known function address (`lea`) or from a pointer the image holds in
    read-only data, or from a static named with --kernel-pointer (every store into it is
    checked to be MmGetSystemRoutineAddress's result: a kernel routine, a leaf); otherwise
    every function whose address the image takes (base relocations, `lea` of code) is a
    possible target, and so is code outside the image (a leaf). That over-approximates: a
    false alarm is possible, a missed edge is not (for code that only calls what it can
    name or load). Chains prefer resolved calls and say where they cross an unresolved one.
  * every instruction of .text (padding aside) must lie in a known function (PDB
    procedures and thunks, publics, .pdata, call and `lea` targets, pointers to code).

Panic entries: core::panicking::*, functions named *panic* / *_fail / unwrap_failed /
expect_failed / rust_begin_unwind (the panic handler: wdk-panic's calls KeBugCheckEx),
and the KeBugCheck* imports (the driver never bug-checks on purpose).
"""
import argparse
import bisect
import heapq
import re
import struct
import subprocess
import sys


def fail(msg):
    print(f"no-panic proof (.sys): FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(*cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        fail(f"{cmd[0]} not found (Debian package llvm)")
    except subprocess.CalledProcessError as e:
        fail(f"{' '.join(cmd[:3])} failed: {e.stderr.strip().splitlines()[-1:] or e.returncode}")


# --- The PE ------------------------------------------------------------------------------


class PE:
    def __init__(self, path):
        self.data = d = open(path, "rb").read()
        if d[:2] != b"MZ":
            fail(f"{path} is not a PE image")
        pe = struct.unpack_from("<I", d, 0x3C)[0]
        if d[pe:pe + 4] != b"PE\0\0":
            fail(f"{path} has no PE signature")
        machine, nsec, _, _, _, opt_size, _ = struct.unpack_from("<HHIIIHH", d, pe + 4)
        if machine != 0x8664:
            fail(f"{path} is not x86-64 (machine 0x{machine:x})")
        opt = pe + 24
        if struct.unpack_from("<H", d, opt)[0] != 0x20B:
            fail(f"{path} is not PE32+")
        self.base = struct.unpack_from("<Q", d, opt + 24)[0]
        ndirs = struct.unpack_from("<I", d, opt + 108)[0]
        self.dirs = [struct.unpack_from("<II", d, opt + 112 + 8 * i) for i in range(ndirs)]
        self.sections = []
        for i in range(nsec):
            off = opt + opt_size + 40 * i
            name = d[off:off + 8].rstrip(b"\0").decode()
            vsize, va, rawsize, rawptr = struct.unpack_from("<IIII", d, off + 8)
            chars = struct.unpack_from("<I", d, off + 36)[0]
            self.sections.append((name, va, max(vsize, rawsize), rawsize, rawptr, chars))

    def section_of(self, rva):
        for s in self.sections:
            if s[1] <= rva < s[1] + s[2]:
                return s
        return None

    def read(self, rva, n):
        s = self.section_of(rva)
        if s is None:
            return None
        _, va, _, rawsize, rawptr, _ = s
        off = rva - va
        if off + n > rawsize:
            return bytes(n)  # uninitialised data
        return self.data[rawptr + off:rawptr + off + n]

    def u32(self, rva):
        b = self.read(rva, 4)
        return None if b is None else struct.unpack("<I", b)[0]

    def u64(self, rva):
        b = self.read(rva, 8)
        return None if b is None else struct.unpack("<Q", b)[0]

    def cstr(self, rva):
        out = bytearray()
        while True:
            b = self.read(rva + len(out), 1)
            if not b or b == b"\0":
                return out.decode("ascii", "replace")
            out += b

    def exports(self):
        rva, size = self.dirs[0]
        if not size:
            return {}
        nfuncs, nnames, afuncs, anames, aords = struct.unpack("<IIIII", self.read(rva + 20, 20))
        out = {}
        for i in range(nnames):
            name = self.cstr(self.u32(anames + 4 * i))
            ordinal = struct.unpack("<H", self.read(aords + 2 * i, 2))[0]
            out[name] = self.base + self.u32(afuncs + 4 * ordinal)
        return out

    def imports(self):
        """IAT slot VA -> 'dll!name'."""
        rva, size = self.dirs[1]
        out = {}
        while size:
            ilt, _, _, name_rva, iat = struct.unpack("<IIIII", self.read(rva, 20))
            if not (ilt or name_rva or iat):
                break
            dll = self.cstr(name_rva)
            lookup, i = ilt or iat, 0
            while True:
                entry = self.u64(lookup + 8 * i)
                if not entry:
                    break
                sym = f"#{entry & 0xFFFF}" if entry >> 63 else self.cstr((entry & 0x7FFFFFFF) + 2)
                out[self.base + iat + 8 * i] = f"{dll}!{sym}"
                i += 1
            rva += 20
        return out

    def pointers(self):
        """Every absolute pointer the image holds (DIR64 base relocations): location VA -> value."""
        rva, size = self.dirs[5]
        end, out = rva + size, {}
        while rva < end:
            page, block = struct.unpack("<II", self.read(rva, 8))
            if block < 8:
                break
            for j in range((block - 8) // 2):
                e = struct.unpack("<H", self.read(rva + 8 + 2 * j, 2))[0]
                if e >> 12 == 10:  # IMAGE_REL_BASED_DIR64
                    loc = page + (e & 0xFFF)
                    out[self.base + loc] = self.u64(loc)
            rva += block
        return out

    def runtime_functions(self):
        rva, size = self.dirs[3]
        return [
            (self.base + b, self.base + e)
            for b, e, _ in (struct.unpack("<III", self.read(rva + 12 * i, 12)) for i in range(size // 12))
        ]

    def writable(self, va):
        s = self.section_of(va - self.base)
        return s is not None and bool(s[5] & 0x80000000)


# --- The PDB -----------------------------------------------------------------------------

RECORD = re.compile(r"^\s*\d+ \| (S_\w+) \[size = \d+\](?: `(.*)`)?")
ADDR = re.compile(r"addr = (\d{4}):(\d+)")


def pdb_records(text):
    """(kind, name, [detail lines]) per symbol record."""
    rec = None
    for line in text.splitlines():
        m = RECORD.match(line)
        if m:
            if rec:
                yield rec
            rec = (m.group(1), m.group(2) or "", [])
        elif rec:
            rec[2].append(line.strip())
    if rec:
        yield rec


def read_pdb(pe, pdb):
    def va(seg, off):
        return pe.base + pe.sections[int(seg) - 1][1] + int(off)

    procs, thunks, data, switches, publics = [], [], [], [], []
    for kind, name, lines in pdb_records(run("llvm-pdbutil", "dump", "--symbols", "--sym-data", pdb)):
        detail = " ".join(lines)
        if kind in ("S_GPROC32", "S_LPROC32", "S_THUNK32"):
            a = ADDR.search(detail)
            size = re.search(r"(?:code size|size) = (\d+)", detail)
            if a and size:
                (procs if kind != "S_THUNK32" else thunks).append((va(*a.groups()), int(size.group(1)), name))
        elif kind in ("S_GDATA32", "S_LDATA32"):
            a = ADDR.search(detail)
            if a:
                data.append((va(*a.groups()), name))
        elif kind == "S_ARMSWITCHTABLE":
            raw = bytes.fromhex("".join(re.findall(r"\b[0-9A-F]{8}\b", detail.split("|")[0])))
            if len(raw) >= 24:
                base_off, base_sec, kind_, branch_off, table_off, branch_sec, table_sec, n = struct.unpack(
                    "<IHHIIHHI", raw[:24])
                switches.append((va(base_sec, base_off), kind_, va(branch_sec, branch_off), va(table_sec, table_off), n))
    for kind, name, lines in pdb_records(run("llvm-pdbutil", "dump", "--publics", pdb)):
        detail = " ".join(lines)
        a = ADDR.search(detail)
        if kind == "S_PUB32" and a and "function" in detail:
            publics.append((va(*a.groups()), name))
    return procs, thunks, data, switches, publics


# --- Machine code ------------------------------------------------------------------------

INSN = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)\s*(\S.*)?$")


def disassemble(sys_path):
    out = []
    for line in run("llvm-objdump", "-d", "-j", ".text", sys_path).splitlines():
        m = INSN.match(line)
        if m and m.group(3):
            out.append((int(m.group(1), 16), bytes.fromhex(m.group(2).replace(" ", "")), m.group(3)))
    return out


def rex_w(raw):
    i = 0
    while i < len(raw) and raw[i] in (0x66, 0xF2, 0xF3, 0x2E, 0x3E):
        i += 1
    return i < len(raw) and 0x48 <= raw[i] <= 0x4F


CALLER_SAVED = {"rax", "rcx", "rdx", "r8", "r9", "r10", "r11"}
_LEGACY = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp")
REG64 = {
    **{r: r for r in _LEGACY},
    **{f"e{r[1:]}": r for r in _LEGACY},
    **{r[1:]: r for r in _LEGACY},  # ax, bx, ..., si, di, bp, sp
    **{f"{r[1]}l": r for r in _LEGACY[:4]},  # al, bl, cl, dl
    **{f"{r[1]}h": r for r in _LEGACY[:4]},  # ah, bh, ch, dh
    **{f"{r[1:]}l": r for r in _LEGACY[4:]},  # sil, dil, bpl, spl
    **{f"r{i}{w}": f"r{i}" for i in range(8, 16) for w in ("", "d", "w", "b")},
}


# Instructions that write no general-purpose register they name (stores name registers
# they read: `mov %rax, 8(%rsp)` matches none of these, and is handled as a write of rax,
# which only forgets what is known).
READ_ONLY_OPS = ("test", "cmp", "bt", "push", "ucomis", "comis", "ptest", "prefetch", "nop", "int3", "ud2")
# Instructions that write registers they do not name.
IMPLICIT_WRITERS = ("mul", "imul", "div", "idiv", "cqto", "cltq", "cltd", "cwtl", "cqo", "cdq", "rdtsc",
                    "cpuid", "xchg", "cmpxchg", "xadd", "movs", "stos", "lods", "scas", "cmps", "syscall",
                    "leave", "enter", "pop", "xgetbv", "rdrand", "rdseed", "rdpid", "lock", "rep")


def canon(reg):
    return REG64.get(reg.lstrip("%"), reg.lstrip("%"))


# --- The proof ---------------------------------------------------------------------------


def is_panic_name(name):
    base = re.sub(r"<.*>", "", name)
    last = base.split("::")[-1]
    return (
        base.startswith("core::panicking")
        or "rust_begin_unwind" in name
        or "panic" in last
        or last.endswith("_fail")
        or "unwrap_failed" in name
        or "expect_failed" in name
        or re.search(r"panicking\d", name) is not None  # mangled core::panicking::*
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sys")
    ap.add_argument("pdb")
    ap.add_argument("--root", action="append", default=[], help="ROLE=NAME=required|optional")
    ap.add_argument("--notify", action="append", default=[], help="roles whose reachable imports are listed")
    ap.add_argument("--kernel-pointer", action="append", default=[],
                    help="a writable static that only ever holds a kernel routine's address")
    ap.add_argument("--graph", help="write the reachable call graph here (text: caller -> callee @ call site)")
    args = ap.parse_args()

    pe = PE(args.sys)
    exports = pe.exports()
    iat = pe.imports()
    pointers = pe.pointers()
    procs, thunks, data, switches, publics = read_pdb(pe, args.pdb)
    if not procs:
        fail(f"{args.pdb} has no procedure records (a PDB with public symbols only: debug info off?)")
    insns = disassemble(args.sys)
    text = next((s for s in pe.sections if s[0] == ".text"), None)
    if not insns or text is None:
        fail("no .text disassembly")

    # Functions: PDB procedures first (names, sizes), then thunks, publics, .pdata, exports.
    funcs = {}  # start -> [end, name, aliases]

    def add(start, end, name):
        if start in funcs:
            if name not in funcs[start][2] and name != funcs[start][1]:
                funcs[start][2].append(name)
            if funcs[start][0] is None and end is not None:
                funcs[start][0] = end
        else:
            funcs[start] = [end, name, []]

    for start, size, name in procs:
        add(start, start + size, name)
    for start, size, name in thunks:
        add(start, start + size, f"thunk {name}")
    text_lo, text_hi = pe.base + text[1], pe.base + text[1] + text[2]
    for start, name in publics + [(a, n) for n, a in exports.items()]:
        if text_lo <= start < text_hi:  # exports include data (NOTIFYRING_STATS)
            add(start, None, name)
    for b, e in pe.runtime_functions():
        add(b, e, f"sub_{b:x}")
    sized = sorted((b, e) for b, (e, _, _) in funcs.items() if e is not None)

    def inside_sized(a):
        i = bisect.bisect_right(sized, (a, float("inf"))) - 1
        return i >= 0 and sized[i][0] < a < sized[i][1]

    # Code addresses that no record names: direct call targets, `lea` of code, pointers to
    # code (a function the image only takes the address of).
    for addr, raw, asm in insns:
        m = re.match(r"callq?\s+(?:0x)?([0-9a-f]+)\b", asm) or re.match(
            r"leaq?\s+-?(?:0x)?[0-9a-f]+\(%rip\),\s*%\w+\s+#\s+0x([0-9a-f]+)", asm)
        if m:
            t = int(m.group(1), 16)
            if text_lo <= t < text_hi and not inside_sized(t):
                add(t, None, f"sub_{t:x}")
    for t in pointers.values():
        if text_lo <= t < text_hi and not inside_sized(t):
            add(t, None, f"sub_{t:x}")
    starts = sorted(funcs)
    for i, s in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else text_hi
        if funcs[s][0] is None or funcs[s][0] > nxt:
            funcs[s][0] = nxt

    def func_at(a):
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < funcs[starts[i]][0]:
            return starts[i]
        return None

    proc_names = {name for _, _, name in procs}
    for spec in args.root:
        role, name, need = spec.split("=")
        if need == "required" and name not in proc_names:
            fail(f"root {role} ({name}) not found in the PDB's procedures "
                 "(renamed? or a PDB without full debug info)")

    # Every instruction must belong to a function: code the walk cannot place would be
    # code it cannot see.
    for addr, raw, asm in insns:
        if func_at(addr) is None and not asm.startswith(("int3", "nop")) and raw not in (b"\xcc",):
            fail(f"code at 0x{addr:x} ({asm.strip()}) lies outside every known function")

    name_of = {s: funcs[s][1] for s in starts}
    by_name = {}
    for s in starts:
        for n in [funcs[s][1]] + funcs[s][2]:
            by_name.setdefault(n, s)

    # Import thunks: `jmp *IAT` (6 bytes) anywhere in .text.
    thunk_import = {}
    for addr, raw, asm in insns:
        m = re.match(r"jmpq?\s+\*-?(?:0x)?[0-9a-f]+\(%rip\)\s+#\s+0x([0-9a-f]+)", asm)
        if m and int(m.group(1), 16) in iat and func_at(addr) == addr:
            thunk_import[addr] = iat[int(m.group(1), 16)]

    # Address-taken functions: pointers the image holds and `lea` of a function start. (An
    # export is called by the kernel, not by this image, unless its address is taken.)
    taken = {v for v in pointers.values() if v in funcs}
    for addr, raw, asm in insns:
        m = re.match(r"leaq?\s+-?(?:0x)?[0-9a-f]+\(%rip\),\s*%\w+\s+#\s+0x([0-9a-f]+)", asm)
        if m and int(m.group(1), 16) in funcs:
            taken.add(int(m.group(1), 16))
    taken -= set(thunk_import)  # a thunk's address is the import's: a leaf either way

    kernel_slots = {}
    for name in args.kernel_pointer:
        hits = [a for a, n in data if n == name]
        if len(hits) != 1:
            fail(f"--kernel-pointer {name}: {len(hits)} data records of that name in the PDB")
        if not pe.writable(hits[0]) or hits[0] in pointers:
            fail(f"--kernel-pointer {name}: not a writable static starting empty")
        kernel_slots[hits[0]] = name

    switch_at = {}
    for base, kind, branch, table, n in switches:
        if kind != 4:  # CV_SWT_INT4: 32-bit offsets from the base
            continue
        targets = []
        for i in range(n):
            rel = pe.read(table - pe.base + 4 * i, 4)
            targets.append(base + struct.unpack("<i", rel)[0])
        switch_at[branch] = targets

    # --- Edges ---
    edges = {s: {} for s in starts}  # function -> {callee key: first call site}
    indirect = {s: [] for s in starts}  # unresolved sites
    intra_targets = {}
    for addr, raw, asm in insns:
        f = func_at(addr)
        if f is None:
            continue
        m = re.match(r"j\w*\s+(?:0x)?([0-9a-f]+)\b", asm)
        if m and not asm.startswith(("jmpq\t*", "jmp\t*")):
            intra_targets.setdefault(f, set()).add(int(m.group(1), 16))
    for f, ts in switch_at.items():
        g = func_at(f)
        if g is not None:
            intra_targets.setdefault(g, set()).update(ts)

    def edge(f, callee, site):
        if callee != f:
            edges[f].setdefault(callee, site)

    cur, known, kernel_stores = None, {}, []
    for addr, raw, asm in insns:
        f = func_at(addr)
        if f is None:
            continue
        if f != cur or addr in intra_targets.get(f, ()):
            cur, known = f, {}
        op, _, operands = asm.partition("\t")
        op, operands = op.strip(), operands.strip()
        if op.startswith("rex64"):
            op = operands.split()[0]
            operands = operands[len(op):].strip()
        branch = op.startswith("call") or op.startswith("j")
        if not branch:
            # A store into a kernel-pointer static must be MmGetSystemRoutineAddress's result.
            st = re.match(r"(\S+),\s*-?(?:0x)?[0-9a-f]+\(%rip\)\s+#\s+0x([0-9a-f]+)", operands)
            if st and int(st.group(2), 16) in kernel_slots:
                kernel_stores.append(addr)
                if known.get(canon(st.group(1))) != ("ret", "ntoskrnl.exe!MmGetSystemRoutineAddress"):
                    fail(f"0x{addr:x} stores into {kernel_slots[int(st.group(2), 16)]} something other than "
                         f"MmGetSystemRoutineAddress's result ({asm.strip()}): it may not hold only kernel routines")
            # What registers hold inside the basic block: a function or data address (`lea`),
            # a pointer loaded from read-only data, a kernel-pointer static's value, or an
            # import's return value. Anything else forgets every register it names.
            load = re.match(r"-?(?:0x)?[0-9a-f]+\(%rip\),\s*%(\w+)\s+#\s+0x([0-9a-f]+)", operands)
            copy = re.match(r"%(\w+),\s*%(\w+)$", operands)
            if load and op in ("leaq", "lea"):
                known[canon(load.group(1))] = ("addr", int(load.group(2), 16))
            elif load and op in ("movq", "mov"):
                slot, reg = int(load.group(2), 16), canon(load.group(1))
                if slot in pointers and not pe.writable(slot):
                    known[reg] = ("addr", pointers[slot])
                elif slot in kernel_slots:
                    known[reg] = ("kernel", kernel_slots[slot])
                else:
                    known.pop(reg, None)
            elif copy and op in ("movq", "mov") and canon(copy.group(1)) in known:
                known[canon(copy.group(2))] = known[canon(copy.group(1))]
            elif op.startswith(IMPLICIT_WRITERS) or asm.startswith(("lock", "rep")):
                known.clear()
            elif not op.startswith(READ_ONLY_OPS):
                for reg in re.findall(r"%(\w+)", operands.split("#")[0]):
                    known.pop(canon(reg), None)
            continue
        is_call = op.startswith("call")
        site = f"0x{addr:x}"
        d = re.match(r"(?:0x)?([0-9a-f]+)\b", operands)
        if d and not operands.startswith("*"):
            t = int(d.group(1), 16)
            g = func_at(t)
            if g is None:
                fail(f"{name_of[f]} branches to 0x{t:x}, outside every function")
            if g != f:
                edge(f, ("import", thunk_import[g]) if g in thunk_import else g, site)
            if is_call:
                for r in CALLER_SAVED:
                    known.pop(r, None)
                if g in thunk_import:
                    known["rax"] = ("ret", thunk_import[g])
            continue
        # Indirect.
        rip = re.match(r"\*-?(?:0x)?[0-9a-f]+\(%rip\)\s+#\s+0x([0-9a-f]+)", operands)
        target = None
        if rip:
            slot = int(rip.group(1), 16)
            if slot in iat:
                target = ("import", iat[slot])
            elif slot in kernel_slots:
                target = ("kernel", kernel_slots[slot])
            elif slot in pointers and not pe.writable(slot) and pointers[slot] in funcs:
                target = pointers[slot]
        else:
            reg = re.match(r"\*%(\w+)$", operands)
            mem = re.match(r"\*(-?(?:0x)?[0-9a-f]*)\(%(\w+)\)$", operands)
            if reg and canon(reg.group(1)) in known and known[canon(reg.group(1))][0] != "ret":
                kind, v = known[canon(reg.group(1))]
                target = ("kernel", v) if kind == "kernel" else (v if v in funcs else None)
            elif mem and canon(mem.group(2)) in known and known[canon(mem.group(2))][0] == "addr":
                disp = int(mem.group(1) or "0", 0)
                loc = known[canon(mem.group(2))][1] + disp
                if loc in pointers and not pe.writable(loc) and pointers[loc] in funcs:
                    target = pointers[loc]
            if not is_call and reg and addr in switch_at:
                for t in switch_at[addr]:
                    g = func_at(t)
                    if g != f and g is not None:
                        edge(f, g, site)
                known = {}
                continue
        if target is None:
            indirect[f].append(f"{site}: {asm.split('#')[0].strip()}")
        else:
            if isinstance(target, int) and target in thunk_import:
                target = ("import", thunk_import[target])
            if isinstance(target, tuple) and target[0] == "kernel":
                target = ("kernel", f"kernel routine via {target[1]}")
            edge(f, target, site)
        if is_call:
            for r in CALLER_SAVED:
                known.pop(r, None)
        else:
            known = {}

    # --- Roots ---
    roots, missing_optional = [], []
    for spec in args.root:
        role, name, need = spec.split("=")
        if name in by_name:
            roots.append((role, name, by_name[name]))
        elif need == "optional":
            missing_optional.append((role, name))
        else:
            fail(f"root {role} ({name}) not found in the PDB's procedures "
                 "(renamed? or a PDB without full debug info)")
    if not roots:
        fail("no root function found: nothing would be checked")
    if "DriverEntry" in exports:
        de = [s for r, n, s in roots if r == "DriverEntry"]
        if de and de[0] != exports["DriverEntry"]:
            fail(f"the exported DriverEntry (0x{exports['DriverEntry']:x}) is not {de[0]:x} from the PDB")

    def is_panic(key):
        if isinstance(key, tuple):
            return key[0] == "import" and re.search(r"!KeBugCheck", key[1]) is not None
        return any(is_panic_name(n) for n in [funcs[key][1]] + funcs[key][2])

    def label(key):
        if isinstance(key, tuple):
            return key[1] if key[0] == "import" else key[1]
        return name_of[key]

    UNRESOLVED = 1000  # a hop through an unresolved pointer call: chains avoid them if they can

    def walk(root):
        """Everything reachable from ROOT, each with the chain that has the fewest unresolved
        pointer calls and then the fewest calls (Dijkstra; the graph is small)."""
        dist, parent, heap, n = {root: 0}, {root: None}, [(0, 0, root)], 0
        bad, over, done = [], False, set()
        while heap:
            d, _, f = heapq.heappop(heap)
            if f in done:
                continue
            done.add(f)
            if is_panic(f):
                bad.append(f)
                continue
            if isinstance(f, tuple):
                continue
            steps = [(c, 1, f"call at {site}") for c, site in edges[f].items()]
            if indirect[f]:
                over = True
                site = indirect[f][0].split(":")[0]
                steps += [(c, UNRESOLVED, f"unresolved pointer call at {site}") for c in sorted(taken)]
            for c, w, how in steps:
                if c not in dist or d + w < dist[c]:
                    dist[c], parent[c] = d + w, (f, how)
                    n += 1
                    heapq.heappush(heap, (d + w, n, c))
        return parent, bad, over

    def chain(parent, f):
        path = []
        while f is not None:
            p = parent[f]
            path.append(label(f) + (f" ({p[1]})" if p else ""))
            f = p[0] if p else None
        return " -> ".join(reversed(path))

    failures, report, notify_imports, all_funcs = [], [], {}, set()
    for role, name, root in roots:
        parent, bad, over = walk(root)
        fn = [k for k in parent if not isinstance(k, tuple)]
        imps = sorted(k[1] for k in parent if isinstance(k, tuple) and k[0] == "import")
        kern = sorted(k[1] for k in parent if isinstance(k, tuple) and k[0] == "kernel")
        sites = sum(len(indirect[k]) for k in fn)
        all_funcs.update(fn)
        report.append(f"  {role:<13} {name}: {len(fn)} functions, {len(imps)} imports"
                      + (f", {len(kern)} run-time kernel pointer(s)" if kern else "")
                      + (f", {sites} indirect call site(s) taken as any of the {len(taken)} address-taken functions"
                         if over else ", every call resolved"))
        if role in args.notify:
            notify_imports[role] = imps + kern
        for b in bad:
            failures.append((role, chain(parent, b)))

    if args.graph:
        with open(args.graph, "w") as out:
            for t in sorted(taken):
                out.write(f"address-taken: {name_of[t]}\n")
            for f in sorted(all_funcs):
                for c, site in sorted(edges[f].items(), key=lambda kv: kv[1]):
                    out.write(f"{name_of[f]} -> {label(c)} @ {site}\n")
                for s in indirect[f]:
                    out.write(f"{name_of[f]} -> * @ {s}\n")
    print("\n".join(report))
    if notify_imports:
        union = sorted({i for v in notify_imports.values() for i in v})
        print(f"  imports reachable from the notify routines ({', '.join(notify_imports)}): {len(union)}")
        for i in union:
            users = [r for r, v in notify_imports.items() if i in v]
            print(f"    {i:<45} {', '.join(users)}")
    sys.stdout.flush()
    if failures:
        print("no-panic proof (.sys): FAIL: a panic is reachable in the linked driver:", file=sys.stderr)
        seen = set()
        for role, c in sorted(failures, key=lambda rc: "unresolved" in rc[1]):
            if c not in seen:
                seen.add(c)
                print(f"  from {role}: {c}", file=sys.stderr)
        sys.exit(1)
    for slot, name in kernel_slots.items():
        print(f"  {name}: holds only MmGetSystemRoutineAddress's result (stores checked: "
              f"{', '.join(f'0x{a:x}' for a in kernel_stores) or 'none'}); calls through it are kernel routines")
    present = [name_of[f] for f in starts if is_panic(f)] + [i for i in iat.values() if re.search(r"!KeBugCheck", i)]
    print(f"  panic entries in the image at all: {len(present)}"
          + (f" ({', '.join(present[:6])}{', ...' if len(present) > 6 else ''})" if present
             else " (the linker dropped the panic handler and KeBugCheckEx: nothing references them)"))
    for role, name in missing_optional:
        print(f"no-panic proof (.sys): WARNING: optional root {role} ({name}) NOT FOUND in the PDB: "
              "NOT CHECKED (make it required in tools/prove-no-panic-sys.sh once it exists)")
    print(f"no-panic proof (.sys): PASS: {len(all_funcs)} functions reachable from {len(roots)} roots "
          f"({', '.join(r for r, _, _ in roots)}); none can panic"
          + (f"; NOT CHECKED: {', '.join(r for r, _ in missing_optional)}" if missing_optional else ""))


if __name__ == "__main__":
    main()
