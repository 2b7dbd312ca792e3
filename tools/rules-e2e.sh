#!/usr/bin/env bash
# Sigma rules end to end: every recorded trace in ../shared/traces replayed at ten times
# its recorded pace (--speed 10) with JSON output and every SigmaHQ rule in
# ../shared/sigma/rules, through the real pipeline, the reader's device, the wire and the
# CLI's Watch, which evaluates each event. Fails when a run loses an event (in the ring or
# in the reader's buffer), breaks a replay check or fails to load a rule; prints a table
# of events, losses, alerts and wall time per trace.
#
#   tools/rules-e2e.sh              # all traces (about 4 minutes, mostly waiting for the pace)
#   tools/rules-e2e.sh --speed 100  # another pace
#
# The replay's worker waits for room in the reader's buffer (as a debugger-attached one
# waits for the debugger), so a reader that fell behind would show as ring losses, not
# as events silently missing: either way the run fails here.
set -euo pipefail
cd "$(dirname "$0")/.."

speed=10
while [[ $# -gt 0 ]]; do
    case "$1" in
        --speed) speed="${2:?--speed needs a number}"; shift ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "rules-e2e: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

shared=../shared
for d in "$shared/traces" "$shared/sigma/rules"; do
    [[ -d $d ]] || { echo "rules-e2e: error: $d is missing: this check needs ../shared beside the repository" >&2; exit 2; }
done

cargo build --profile host --example replay -q
replay=target/host/examples/replay
out=target/rules-e2e
rm -rf "$out"
mkdir -p "$out"

for trace in "$shared"/traces/*.jsonl.gz; do
    name=$(basename "$trace" .jsonl.gz)
    start=$SECONDS
    rc=0
    "$replay" --trace "$trace" --format json --rules "$shared/sigma/rules" --speed "$speed" \
        --summary-json "$out/$name.json" >"$out/$name.jsonl" 2>"$out/$name.err" || rc=$?
    echo "$name $rc $((SECONDS - start))" >>"$out/runs.txt"
done

python3 - "$out" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
failed = []
print(f"{'trace':<64}{'events':>8}{'lost':>6}{'reader lost':>13}{'alerts':>8}{'wall s':>8}")
for line in (out / "runs.txt").read_text().splitlines():
    name, rc, wall = line.split()
    err = (out / f"{name}.err").read_text()
    summary_path = out / f"{name}.json"
    if rc != "0" or not summary_path.exists():
        failed.append(f"{name}: the replay exited {rc}: {err.strip()[-300:]}")
        continue
    s = json.loads(summary_path.read_text())
    objects = [json.loads(l) for l in (out / f"{name}.jsonl").read_text().splitlines()]
    reader_lost = sum(o["Lost"] for o in objects if o["EventID"] == 1000)
    events = sum(1 for o in objects if o["EventID"] not in (1000, 1003))
    alerts = sum(1 for o in objects if o["EventID"] == 1003)
    print(f"{name:<64}{s['events']:>8}{s['lost']:>6}{reader_lost:>13}{alerts:>8}{wall:>8}")
    if s["lost"] or reader_lost or s["violations"] or events != s["events"]:
        failed.append(f"{name}: lost {s['lost']}, in LOST objects {reader_lost}, {events} event objects of "
                      f"{s['events']}, violations {s['violations']}")
    counted = sum(s["rules"]["alerts"].values())
    if alerts != counted:
        failed.append(f"{name}: {alerts} alert objects, the summary counts {counted}")
    if s["rules"]["failed"] or not s["rules"]["loaded"]:
        failed.append(f"{name}: rules loaded {s['rules']['loaded']}, failed {s['rules']['failed']}")
    if ", 0 failed" not in err:
        failed.append(f"{name}: a rule failed to load: {err.splitlines()[0]}")
for f in failed:
    print(f"rules-e2e: FAIL: {f}", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
echo "rules-e2e: ok: every trace at --speed $speed, no event lost, every rule loaded"
