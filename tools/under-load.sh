#!/usr/bin/env bash
# The test binaries that run threads (the simulated kernel, the bad-timing scenarios, the
# worker's rules with the timer, the per-processor rings, the reader device), five rounds
# in a row with three CPU-bound processes beside them at a higher priority (nice -5; the
# default priority when not root, which may not raise one). A test that only passes when
# the host schedules its threads promptly fails here: every test must wait for a
# condition with a deadline, or step the code by hand.
#
# UNDER_LOAD_ROUNDS overrides the number of rounds. Exits non-zero at the first failure,
# with that run's output.
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=(bad_timing simulated_kernel worker_rules per_cpu_rings reader)
ROUNDS=${UNDER_LOAD_ROUNDS:-5}
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done

cargo test --profile host "${args[@]}" --no-run >/dev/null 2>&1 || cargo test --profile host "${args[@]}" --no-run

nice_hogs=-5
[[ $(id -u) == 0 ]] || nice_hogs=0
hogs=()
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
for _ in 1 2 3; do
    nice -n "$nice_hogs" bash -c 'while :; do :; done' &
    hogs+=($!)
done
log=$(mktemp)
trap 'kill "${hogs[@]}" 2>/dev/null || true; rm -f "$log"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    start=$(date +%s)
    if ! cargo test --profile host "${args[@]}" >"$log" 2>&1; then
        cat "$log" >&2
        printf 'under-load: round %s of %s failed (3 busy processes at nice %s beside it)\n' "$round" "$ROUNDS" "$nice_hogs" >&2
        exit 1
    fi
    printf 'under-load: round %s of %s passed in %ss (%s)\n' "$round" "$ROUNDS" "$(($(date +%s) - start))" \
        "$(grep -c '^test .* ok$' "$log") tests" >&2
done
printf 'under-load: %s rounds of %s passed beside 3 busy processes at nice %s\n' "$ROUNDS" "${TESTS[*]}" "$nice_hogs" >&2
