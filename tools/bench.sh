#!/usr/bin/env bash
# Runs the benchmarks and writes target/bench/summary.json (and paired.json, latency.json,
# latency.svg, producers.txt/.svg with --producers).
#
#   tools/bench.sh                 # paired rounds + per-call latency (~1 minute on a 2-vCPU VM)
#   tools/bench.sh --producers 4   # also sweep 1..4 producers, one ring each
#   tools/bench.sh --criterion     # also run the criterion benches (not used in the summary)
#   tools/bench.sh --rules         # also Sigma rules against JSON, per event, on every trace
#                                  # (benches/rules.rs, ~10 s a trace; writes rules.json)
#   tools/bench.sh --update-docs   # also copy the plots to docs/ (bench-latency.svg, bench-producers.svg)
#
# The summary comes from benches/paired.rs: every variant and stage runs back to back in
# each round, order rotated, and the figures are medians (with p10-p90 spreads) of the
# per-round ratios, so the machine's drift between benchmarks cancels out. PAIRED_ROUNDS
# (default 300) sets the rounds. --rules runs benches/rules.rs after the summary: per
# recorded trace (../shared/traces, else the vendored one), criterion's figures for
# formatting each event as JSON, evaluating the full shared Sigma rule set on it, and
# parsing it back, and the trace's peak event rate against what one reader sustains;
# its table is printed and target/bench/rules.json written (not part of summary.json).
set -euo pipefail
cd "$(dirname "$0")/.."

update_docs=0
criterion=0
rules=0
producers=0
while [ $# -gt 0 ]; do
    case "$1" in
        --update-docs) update_docs=1 ;;
        --criterion) criterion=1 ;;
        --rules) rules=1 ;;
        --producers) shift; producers="${1:?--producers needs a number}" ;;
        --producers=*) producers="${1#--producers=}" ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$producers" in ''|*[!0-9]*) echo "bench.sh: --producers takes a number" >&2; exit 2 ;; esac

mkdir -p target/bench
rm -f target/bench/paired.json target/bench/latency.json
if [ "$rules" = 1 ]; then rm -f target/bench/rules.json; fi
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

if [ "$criterion" = 1 ]; then
    echo "== criterion: push variants and the worker (each in its own block; not in the summary)"
    cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 3 --noplot
fi

echo "== paired rounds: floors, record, peers, two producers, stages${producers:+ (sweep to $producers producers)}"
PAIRED_PRODUCERS="$producers" cargo bench --bench paired

echo "== per-call latency distributions and allocations per call"
cargo bench --bench latency

LOAD_BEFORE="$load_before" python3 - <<'PY'
import json, os, platform, subprocess

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "unknown"

with open("target/bench/paired.json") as f:
    p = json.load(f)
with open("target/bench/latency.json") as f:
    latency = json.load(f)

KEYS = ["record_vs_floor", "arrayqueue_1p_vs_record", "record_2p_vs_floor_2p",
        "record_2p_vs_arrayqueue", "record_2p_vs_mutex_alloc"]
TARGETS = {
    "record_vs_floor": ("<=", 1.15),
    "arrayqueue_1p_vs_record": (">=", 1.5),
    "record_2p_vs_floor_2p": ("<=", 1.3),
    "record_2p_vs_arrayqueue": (">=", 1.5),
    "record_2p_vs_mutex_alloc": (">=", 3.0),
}
s = {}
for k in KEYS:
    s[k] = p[k]
    s[k + "_spread"] = p[k + "_spread"]
s["allocations_per_record"] = p["allocations_per_record"]
ns = p["ns_per_event"]
floor = ns["floor"]["median"]

# Every stage, per event: median ns (p10-p90) and the median of per-round ratios to the floor.
STAGES = [
    ("floor", "floor: rdtsc + encode + fetch_add + copies", None),
    ("protocol_floor", "protocol floor: CAS for the fetch_add, + release store, SeqCst load", "protocol_floor_vs_floor"),
    ("ring", "bare ring: encode + reserve + write + commit", None),
    ("record", "Pipeline::record (callback path)", "record_vs_floor"),
    ("record_holding", "Pipeline::record_holding", "record_holding_vs_floor"),
    ("arrayqueue", "ArrayQueue push, 1 producer", None),
    ("mutex_alloc", "Mutex<VecDeque<Box>> push, 1 producer", None),
    ("floor_2p", "2 producers: private floors (aggregate)", None),
    ("record_2p", "2 producers: record, a ring each (aggregate)", None),
    ("arrayqueue_2p", "2 producers: shared ArrayQueue (aggregate)", None),
    ("mutex_alloc_2p", "2 producers: shared Mutex+alloc (aggregate)", None),
    ("drain_format", "worker: drain + decode + name + format", "drain_format_vs_floor"),
    ("reader", "reader: deliver + read + parse", "reader_vs_floor"),
    ("json", "JSON: wire decode + JsonFormatter::event", "json_vs_floor"),
    ("json_facts", "JSON with file facts from a cache", "json_facts_vs_floor"),
]
stages = {}
for name, what, key in STAGES:
    st = ns[name]
    row = {"what": what, "ns": st["median"], "ns_spread": [st["p10"], st["p90"]]}
    if key and key in p:
        row["vs_floor"] = p[key]
        row["vs_floor_spread"] = p[key + "_spread"]
    else:
        row["vs_floor"] = round(st["median"] / floor, 3)
    stages[name] = row
s["stages"] = stages
for k in ["drain_format_vs_floor", "reader_vs_floor", "json_vs_floor", "json_facts_vs_floor",
          "protocol_floor_vs_floor", "record_vs_protocol_floor", "ring_vs_protocol_floor", "record_vs_ring",
          "record_holding_vs_floor", "mutex_alloc_1p_vs_record", "record_2p_vs_record_1p",
          "record_vs_floor_process_create", "record_vs_floor_thread_create", "record_vs_floor_image_load"]:
    if k in p:
        s[k] = p[k]
        s[k + "_spread"] = p[k + "_spread"]
s["ns_per_event"] = ns
s["two_producer_rounds_concurrent"] = p["two_producer_rounds_concurrent"]
met = {}
for k, (op, t) in TARGETS.items():
    met[f"{k} {op} {t}"] = s[k] <= t if op == "<=" else s[k] >= t
met["zero allocations per record"] = s["allocations_per_record"] == 0
s["targets"] = met

sweep = p.get("producer_sweep")
if sweep:
    s["producer_sweep"] = sweep
    top = max(max(pt["record_mevents_per_s"], pt["floor_mevents_per_s"]) for pt in sweep)
    lines = ["producers  record Mev/s (p10-p90)     floor Mev/s (p10-p90)      record/floor",
             ""]
    for pt in sweep:
        r, f = pt["record_mevents_per_s"], pt["floor_mevents_per_s"]
        lines.append(f"{pt['producers']:>9}  {r:7.1f} ({pt['record_mevents_per_s_spread'][0]:.1f}-{pt['record_mevents_per_s_spread'][1]:.1f})"
                     f"      {f:7.1f} ({pt['floor_mevents_per_s_spread'][0]:.1f}-{pt['floor_mevents_per_s_spread'][1]:.1f})"
                     f"      {pt['record_vs_floor_throughput']:.2f}")
    lines.append("")
    for pt in sweep:
        bar = lambda v: "#" * max(1, round(50 * v / top))
        lines.append(f"{pt['producers']}p record {bar(pt['record_mevents_per_s'])} {pt['record_mevents_per_s']:.0f}")
        lines.append(f"{pt['producers']}p floor  {bar(pt['floor_mevents_per_s'])} {pt['floor_mevents_per_s']:.0f}")
    lines.append(f"\n(aggregate events/s, each producer on its own ring or floor, {os.cpu_count()} CPUs; rounds where all"
                 f" producers ran at once: {', '.join(str(pt['producers']) + 'p ' + pt['rounds_all_producers_concurrent'] for pt in sweep)};"
                 " up to one producer per CPU only those rounds count)")
    with open("target/bench/producers.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    # A small SVG: aggregate Mevents/s against producers.
    W, H, L, B = 520, 320, 60, 40
    n = len(sweep)
    xs = lambda i: L + (W - L - 20) * (i / max(1, n - 1))
    ys = lambda v: H - B - (H - B - 20) * v / (top * 1.1)
    def poly(key, color):
        pts = " ".join(f"{xs(i):.1f},{ys(pt[key]):.1f}" for i, pt in enumerate(sweep))
        dots = "".join(f'<circle cx="{xs(i):.1f}" cy="{ys(pt[key]):.1f}" r="3" fill="{color}"/>' for i, pt in enumerate(sweep))
        return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>{dots}'
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W/2}" y="14" text-anchor="middle">aggregate Mevents/s by producers (one ring each; {os.cpu_count()} CPUs)</text>',
           f'<line x1="{L}" y1="{H-B}" x2="{W-10}" y2="{H-B}" stroke="black"/><line x1="{L}" y1="20" x2="{L}" y2="{H-B}" stroke="black"/>']
    for i, pt in enumerate(sweep):
        svg.append(f'<text x="{xs(i):.1f}" y="{H-B+16}" text-anchor="middle">{pt["producers"]}</text>')
    for k in range(0, 5):
        v = top * 1.1 * k / 4
        svg.append(f'<text x="{L-6}" y="{ys(v)+4:.1f}" text-anchor="end">{v:.0f}</text>')
    svg.append(poly("floor_mevents_per_s", "gray"))
    svg.append(poly("record_mevents_per_s", "blue"))
    svg.append(f'<text x="{W-20}" y="34" text-anchor="end" fill="blue">record</text>')
    svg.append(f'<text x="{W-20}" y="50" text-anchor="end" fill="gray">floor (private buffers)</text>')
    svg.append(f'<text x="{W/2}" y="{H-6}" text-anchor="middle">producers</text></svg>')
    with open("target/bench/producers.svg", "w") as f:
        f.write("".join(svg) + "\n")

s["latency"] = latency
cpu = sh("lscpu | sed -n 's/^Model name: *//p'") or platform.processor()
s["machine"] = {
    "cpu": cpu,
    "cpus": os.cpu_count(),
    "hypervisor": sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'") or "none",
    "kernel": platform.release(),
    "rustc": sh("rustc --version"),
    "load_average_before": os.environ.get("LOAD_BEFORE", "unknown"),
    "load_average_after": sh("cut -d' ' -f1-3 /proc/loadavg"),
    "timer": p["timer"],
    "pinned": p["pinned"],
}
s["method"] = (
    f"benches/paired.rs: {p['rounds']} rounds; in each, every task runs once, back to back, order rotated "
    f"round by round; push tasks time one chunk of {p['chunk_events']} events (queues drained untimed before), "
    f"stages {p['stage_events']} events; figures are medians over rounds of per-round ns/event and of "
    "per-round ratios, spreads p10-p90; payload mix = 1 process create (60-unit image, 200-unit command line) "
    "per 3 ids-only thread events"
)
with open("target/bench/summary.json", "w") as f:
    json.dump(s, f, indent=2)
    f.write("\n")

fmt = lambda k: f"{s[k]:.2f} ({s[k + '_spread'][0]:.2f}-{s[k + '_spread'][1]:.2f})"
print()
print("| stage | ns/event (p10-p90) | ratio to floor (p10-p90) |")
print("|---|---|---|")
for name, row in stages.items():
    spread = row.get("vs_floor_spread")
    ratio = f"{row['vs_floor']:.2f}" + (f" ({spread[0]:.2f}-{spread[1]:.2f})" if spread else "")
    print(f"| {row['what']} | {row['ns']:.1f} ({row['ns_spread'][0]:.1f}-{row['ns_spread'][1]:.1f}) | {ratio} |")
print()
print("| key ratio (median of per-round ratios, p10-p90) | value | target | |")
print("|---|---|---|---|")
for k, (op, t) in TARGETS.items():
    ok = met[f"{k} {op} {t}"]
    print(f"| {k} | {fmt(k)} | {op} {t} | {'met' if ok else 'MISSED'} |")
print(f"| allocations_per_record | {s['allocations_per_record']:g} | 0 | {'met' if s['allocations_per_record'] == 0 else 'MISSED'} |")
print(f"\ntwo-producer rounds that ran concurrently: {p['two_producer_rounds_concurrent']}")
if sweep:
    print()
    with open("target/bench/producers.txt") as f:
        print(f.read(), end="")
print(f"\nmachine: {cpu}, {os.cpu_count()} CPUs, {s['machine']['hypervisor']}, "
      f"load before: {s['machine']['load_average_before']}, after: {s['machine']['load_average_after']}")
print("wrote target/bench/summary.json" + (", producers.txt, producers.svg" if sweep else ""))
PY

if [ "$rules" = 1 ]; then
    echo
    echo "== Sigma rules: format, evaluate and parse per event, per trace (criterion; not in the summary)"
    cargo bench --bench rules -- --noplot
fi

if [ "$update_docs" = 1 ]; then
    mkdir -p docs
    cp target/bench/latency.svg docs/bench-latency.svg
    echo "copied target/bench/latency.svg to docs/bench-latency.svg"
    if [ -f target/bench/producers.svg ]; then
        cp target/bench/producers.svg docs/bench-producers.svg
        echo "copied target/bench/producers.svg to docs/bench-producers.svg"
    fi
fi
