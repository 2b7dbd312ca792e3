#!/usr/bin/env bash
# Link-time proof that the callback path, the work item gate and the worker cannot panic.
#
# Builds the crate's cdylib with `--cfg notifyring_no_std`, which compiles src/proof.rs:
# `extern "C"` entry points wrapping `Pipeline::record`, `run_worker`, unload and the
# decoder/formatter with concrete types, in the driver's release profile (LTO, one
# codegen unit) plus overflow checks, so that arithmetic the optimiser cannot prove in
# range counts as a panic path as it would in a debug driver build. Then it
# walks the machine code of the linked library: every direct call or jump reachable from
# those entry points. Reaching any panic entry (core::panicking::*, the *_fail helpers,
# the panic handler) — or an indirect call it cannot follow — fails the proof, naming
# the path. Exits 0 only when no panic is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target/no-panic"
export RUSTFLAGS="--cfg notifyring_no_std"
mkdir -p "$CARGO_TARGET_DIR"
log="$CARGO_TARGET_DIR/build.log"
if ! cargo build --release --lib \
    --config 'profile.release.overflow-checks=true' \
    >"$log" 2>&1; then
    echo "no-panic proof: FAIL: the crate did not build" >&2
    tail -40 "$log" >&2
    exit 1
fi
so="$CARGO_TARGET_DIR/release/libnotifyring.so"
objdump -d --no-show-raw-insn -C "$so" >"$CARGO_TARGET_DIR/libnotifyring.dis"
objdump -R -C "$so" >"$CARGO_TARGET_DIR/libnotifyring.relocs"
python3 - "$CARGO_TARGET_DIR/libnotifyring.dis" "$CARGO_TARGET_DIR/libnotifyring.relocs" <<'PY'
import bisect, re, sys
from collections import deque

# Dynamic relocations: GOT slot -> symbol name, or -> local address (RELATIVE).
slots = {}
for line in open(sys.argv[2]):
    m = re.match(r'^([0-9a-f]{8,})\s+(R_X86_64_\w+)\s+(.*)$', line.strip())
    if not m:
        continue
    off, kind, value = int(m.group(1), 16), m.group(2), m.group(3)
    if kind == 'R_X86_64_RELATIVE':
        a = re.match(r'\*ABS\*\+0x([0-9a-f]+)', value)
        if a:
            slots[off] = int(a.group(1), 16)
    else:
        slots[off] = value.split('@')[0]

funcs, starts, names = {}, [], []
header = re.compile(r'^([0-9a-f]+) <(.*)>:$')
insn = re.compile(r'^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$')
lines_by_func = {}
cur = None
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    m = header.match(line)
    if m:
        cur = m.group(2)
        funcs.setdefault(cur, set())
        starts.append(int(m.group(1), 16))
        names.append(cur)
        lines_by_func.setdefault(cur, [])
        continue
    if cur is not None and insn.match(line):
        lines_by_func[cur].append(line)

def func_at(addr):
    i = bisect.bisect_right(starts, addr) - 1
    return names[i] if i >= 0 else None

def resolve_slot(slot):
    v = slots.get(slot)
    if v is None:
        return None
    return v if isinstance(v, str) else func_at(v)

unresolved = {}
for f, body in lines_by_func.items():
    reg_slot = {}
    for line in body:
        m = insn.match(line)
        op, args = m.group(2), m.group(3)
        # Loads of a GOT slot into a register: remember which slot the register holds;
        # any other write to the register forgets it.
        g = re.match(r'0x[0-9a-f]+\(%rip\),(%\w+)\s+#\s+([0-9a-f]+)', args)
        if op == 'mov' and g:
            reg_slot[g.group(1)] = int(g.group(2), 16)
            continue
        copy = re.match(r'(%\w+),(%\w+)$', args)
        if op == 'mov' and copy and copy.group(1) in reg_slot:
            reg_slot[copy.group(2)] = reg_slot[copy.group(1)]
            continue
        dest = re.search(r',(%\w+)$', args.split('#')[0].strip())
        if dest:
            reg_slot.pop(dest.group(1), None)
        if not (op == 'call' or op.startswith('j')):
            continue
        d = re.match(r'([0-9a-f]+) <(.*?)(\+0x[0-9a-f]+)?>$', args)
        if d:
            if d.group(2) != f:
                funcs[f].add(d.group(2))
            continue
        if args.startswith('*'):
            via_got = re.search(r'#\s+([0-9a-f]+)', args)
            reg = re.match(r'\*(%\w+)$', args)
            target = None
            if via_got:
                target = resolve_slot(int(via_got.group(1), 16))
            elif reg and reg.group(1) in reg_slot:
                target = resolve_slot(reg_slot[reg.group(1)])
            if target is None and reg and op == 'jmp':
                continue  # a `match` jump table: its targets lie inside this function
            if target:
                funcs[f].add(target)
            else:
                unresolved.setdefault(f, line.strip())

def is_panic(name):
    last = name.split('::')[-1]
    return (name.startswith('core::panicking') or 'rust_begin_unwind' in name or 'panic' in last
            or last.endswith('_fail') or 'unwrap_failed' in name or 'expect_failed' in name
            or 'notifyring_panic_is_reachable' in name)

roots = sorted(f for f in funcs if f.startswith('proof_'))
if len(roots) != 8:
    print(f"no-panic proof: FAIL: expected 8 proof_* entry points, found {roots}", file=sys.stderr)
    sys.exit(1)
parent = {r: None for r in roots}
queue, bad = deque(roots), []
while queue:
    f = queue.popleft()
    if is_panic(f):
        bad.append((f, 'a panic entry'))
        continue
    if f in unresolved:
        bad.append((f, 'an indirect call the proof cannot follow: ' + unresolved[f]))
    for c in sorted(funcs.get(f, ())):
        if c not in parent:
            parent[c] = f
            queue.append(c)

def chain(f):
    path = []
    while f is not None:
        path.append(f)
        f = parent.get(f)
    return ' <- '.join(path)

if bad:
    print("no-panic proof: FAIL: reachable from the entry points:", file=sys.stderr)
    for f, why in bad[:10]:
        print(f"  {why}: {chain(f)}", file=sys.stderr)
    sys.exit(1)
print(f"no-panic proof: PASS: {len(parent)} functions reachable from {', '.join(roots)}; none can panic")
PY
