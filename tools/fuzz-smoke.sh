#!/usr/bin/env bash
# Bounded fuzz smoke run of every cargo-fuzz target (fuzz/), for CI.
#
#   tools/fuzz-smoke.sh            # each target for FUZZ_SECONDS (default 45, at most 60)
#
# libFuzzer runs on one thread, so the targets run side by side, as many at once as the
# machine has processors (FUZZ_JOBS overrides): each still gets its FUZZ_SECONDS on a
# processor of its own, and on 2 processors the lane takes half the time.
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing). Where either
# is unavailable it says so and runs the documented alternative instead: the very same
# harnesses (src/fuzzing/) driven by proptest on stable (tests/fuzz_harnesses.rs).
# The last line always says which of the two ran; a skipped fuzz run is never reported
# as a passed one. Exit status: 0 if what ran passed, 1 if a target crashed or failed.
set -uo pipefail
cd "$(dirname "$0")/.."

TARGETS=(ring_decode_format record_path trace_parser reader_wire rules)
secs=${FUZZ_SECONDS:-45}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 1)); then secs=45; fi
((secs > 60)) && secs=60

alternative() {
    local why=$1 cases=${FUZZ_HARNESS_CASES:-2000}
    echo "fuzz smoke: cargo-fuzz NOT run: $why"
    echo "fuzz smoke: running the documented alternative instead: the same harnesses under proptest"
    echo "            (cargo test --profile host --test fuzz_harnesses, $cases random inputs per target + checked-in inputs)"
    if FUZZ_HARNESS_CASES=$cases cargo test --profile host --test fuzz_harnesses; then
        echo "fuzz smoke result: ALTERNATIVE (proptest harnesses, no cargo-fuzz) passed — this was not a fuzzing run"
        exit 0
    fi
    echo "fuzz smoke result: ALTERNATIVE (proptest harnesses, no cargo-fuzz) FAILED"
    exit 1
}

if [[ ${FUZZ_SMOKE_FORCE_ALTERNATIVE:-0} == 1 ]]; then
    alternative "FUZZ_SMOKE_FORCE_ALTERNATIVE=1"
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    alternative "the nightly toolchain is not installed (rustup toolchain install nightly)"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    if ! cargo install cargo-fuzz --locked; then
        alternative "cargo-fuzz is not installed and could not be installed"
    fi
fi
echo "fuzz smoke: $(cargo fuzz --version 2>/dev/null), $(cargo +nightly --version)"
if ! cargo +nightly fuzz build -O; then
    echo "fuzz smoke result: cargo-fuzz FAILED (the fuzz targets did not build)"
    exit 1
fi

logdir=fuzz/target/smoke-logs
mkdir -p "$logdir"
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
if ! [[ $jobs =~ ^[0-9]+$ ]] || ((jobs < 1)); then jobs=1; fi

# fuzz_one TARGET: one bounded run; libFuzzer's output in $logdir/TARGET.log, its exit
# status in $logdir/TARGET.status.
fuzz_one() {
    local t=$1 dirs=("fuzz/corpus/$1") extra flags status=0
    for extra in "fuzz/seeds/$t" "fuzz/regressions/$t"; do
        [[ -d $extra ]] && [[ -n $(ls -A "$extra") ]] && dirs+=("$extra")
    done
    flags=(-max_total_time="$secs" -max_len=8192 -print_final_stats=1)
    [[ -f fuzz/$t.dict ]] && flags+=(-dict="fuzz/$t.dict")
    echo "fuzz smoke: $t for ${secs}s (corpus: ${dirs[*]}; log: $logdir/$t.log)"
    cargo +nightly fuzz run -O "$t" "${dirs[@]}" -- "${flags[@]}" >"$logdir/$t.log" 2>&1 || status=$?
    echo "$status" >"$logdir/$t.status"
}

for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    rm -f "$logdir/$t.status"
done
for t in "${TARGETS[@]}"; do
    while (($(jobs -pr | wc -l) >= jobs)); do wait -n || true; done
    fuzz_one "$t" &
done
wait

failed=0
summary=()
for t in "${TARGETS[@]}"; do
    log=$logdir/$t.log
    status=$(cat "$logdir/$t.status" 2>/dev/null || echo '?')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    if [[ $status == 0 ]] && grep -q '^Done [0-9]* runs' "$log"; then
        result=passed
    else
        result="FAILED (exit $status)"
        failed=1
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -8 | sed "s/^/    $t: /"
    fi
    summary+=("$(printf '  %-20s %-12s execs=%-10s %s' "$t" "$result" "${execs:-?}" "${cov:-cov: ?}")")
done
echo "fuzz smoke summary (cargo-fuzz / libFuzzer, ${secs}s per target, $jobs at a time):"
printf '%s\n' "${summary[@]}"
if ((failed)); then
    echo "fuzz smoke result: cargo-fuzz FAILED (crash inputs are under fuzz/artifacts/<target>/)"
    exit 1
fi
echo "fuzz smoke result: cargo-fuzz ran ${#TARGETS[@]} targets for ${secs}s each and passed"
