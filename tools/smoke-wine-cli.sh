#!/usr/bin/env bash
# The CLI's Wine check: the cross-built notifyring.exe (tools/build-cli-windows.sh)
# starts under Wine in a fresh prefix with no driver loaded, and
#   `notifyring status` and `notifyring watch` each print the one-line "driver not
#   loaded" error and exit 2 (CreateFileW of \\.\Global\NotifyRing fails with
#   ERROR_FILE_NOT_FOUND: the Win32 error mapping, end to end);
#   the CLI's tests (its library's unit tests, its program's, its integration tests),
#   cross-built, pass under Wine (among them the Windows calls' own tests: a running
#   child process's image and command line; an unsigned PE that no catalog lists: a
#   SHA1 catalog context and hash, no catalog, Signed=false/Unavailable; a file replaced
#   by one of the same size and time has another volume serial/file index; a thread
#   start at LoadLibraryW is placed in the image mapped there and named by its export,
#   one in private memory is outside every image);
#   `notifyring facts` of Wine's notepad.exe: Signed=false, SignatureStatus=Unavailable;
#   `notifyring --version` prints the version and exits 0;
#   `notifyring account SID` prints what Wine's LookupAccountSidW names a SID (Wine 8:
#   `NT AUTHORITY\SYSTEM` for S-1-5-18, as Windows; `Everyone`, no domain, for S-1-1-0),
#   and a malformed SID or one with no name is a one-line error, exit 1;
#   a bad option value exits 1 with clap's message (usage errors are not exit 2);
#   with a stand-in device — a FIFO that the prefix's dosdevices/global/notifyring names,
#   which Wine opens for \\.\Global\NotifyRing (its ntdll maps \??\Global\NotifyRing to
#   that path before asking its object namespace, where the driver's link lives) — fed
#   the batches tests/cli_watch.rs made with the real worker and reader channel: `watch`
#   prints exactly the debugger's lines for them (and `--json`, `--kinds`, `--output`
#   their share; `--json` names the process creates' users through LookupAccountSidW;
#   `--rules` with the project's test rules prints the one alert right after the event
#   it matches, and `--alerts-only` only alerts and LOST lines);
#   SIGINT, which Wine turns into Ctrl+C, cancels the pending overlapped read: the
#   summary line on stderr, exit 0.
# What it cannot show: the driver's own device (its read, IOCTL and sharing rules), and
# message boundaries: the FIFO is a byte stream, so batches are written a second apart
# for each to arrive as one read.
#
# Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust's std imports; the prefix
# then gets a stand-in built from tools/wine-cli/ (test use only). Installs what it
# needs; the prefix lives under target/wine-cli/ and is removed after a pass.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/target/wine-cli
say() { printf 'smoke-wine-cli: %s\n' "$*" >&2; }
fail() {
    say "FAIL: $*"
    exit 1
}

EXE=$(bash "$ROOT/tools/build-cli-windows.sh" | tail -n 1)

if ! dpkg-query -W -f='${Status}' wine64 2>/dev/null | grep -q 'ok installed'; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    say "installing wine64"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wine64 wine >&2
fi
WINE=$(command -v wine64 || true)
[[ -n $WINE ]] || WINE=/usr/lib/wine/wine64
[[ -x $WINE ]] || fail "no wine64 loader found (Debian package wine64)"
export WINELOADER=$WINE

export WINEPREFIX=$OUT/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree=;mshtml="
unset DISPLAY WAYLAND_DISPLAY
rm -rf "$OUT"
mkdir -p "$OUT"
say "fresh prefix ${WINEPREFIX#"$ROOT"/}"
"$WINE" wineboot -i >"$OUT/wineboot.log" 2>&1 || fail "wineboot -i failed (see ${OUT#"$ROOT"/}/wineboot.log)"
trap 'wineserver -k 2>/dev/null || true' EXIT

# shellcheck source=tools/lib/wine-cli.sh
source "$ROOT/tools/lib/wine-cli.sh"
nr_wine_cli_standin "$WINEPREFIX" "$OUT"

# run EXPECTED_EXIT EXPECTED_STDERR_OR_STDOUT_LINE ARGS...: one run, checked.
run() {
    local want_rc=$1 want=$2 rc=0
    shift 2
    "$WINE" "$EXE" "$@" >"$OUT/stdout" 2>"$OUT/stderr" || rc=$?
    local got
    got=$(cat "$OUT/stdout" "$OUT/stderr" | tr -d '\r')
    say "notifyring $* -> exit $rc: $(head -n 1 <<<"$got")"
    [[ $rc == "$want_rc" ]] || fail "notifyring $*: exit $rc, expected $want_rc; output: $got"
    grep -qxF -- "$want" <<<"$got" || fail "notifyring $*: expected the line '$want'; output: $got"
}

# The CLI's tests, cross-built for Windows, run under Wine: its library's unit tests (the
# tests of the Windows calls themselves, cli/src/windows.rs: a running child's image and
# command line, run nowhere else), its program's, and its integration tests (cli/tests/).
say "cargo test --no-run --target x86_64-pc-windows-gnu (cli/)"
LIB_TESTS=$(nr_cli_tests lib)
BIN_TESTS=$(nr_cli_tests bin)
[[ -n $LIB_TESTS && -f $LIB_TESTS ]] || fail "no cross-built test executable of the CLI's library"
[[ -n $BIN_TESTS && -f $BIN_TESTS ]] || fail "no cross-built test executable of the CLI's program"
mapfile -t INTEGRATION < <(nr_cli_tests test)
for exe in "$LIB_TESTS" "$BIN_TESTS" "${INTEGRATION[@]}"; do
    name=$(basename "$exe" .exe)
    name=tests-${name%-*} # without cargo's hash
    rc=0
    "$WINE" "$exe" --test-threads 1 >"$OUT/$name.out" 2>&1 || rc=$?
    tr -d '\r' <"$OUT/$name.out" >"$OUT/$name.txt"
    say "the CLI's tests ${name#tests-} under Wine -> exit $rc: $(grep -E '^test result:' "$OUT/$name.txt")"
    [[ $rc == 0 ]] || fail "the CLI's tests ${name#tests-} failed under Wine (see ${OUT#"$ROOT"/}/$name.txt)"
done
for t in windows::tests::a_running_process_has_its_image_and_command_line \
    signature::tests::an_unsigned_file_in_no_catalog_stays_unsigned \
    windows::tests::a_replaced_file_has_another_identity \
    windows::tests::a_thread_start_is_placed_in_its_image_and_named_by_its_export; do
    grep -qxF "test $t ... ok" "$OUT/tests-notifyring_cli.txt" || fail "$t did not pass under Wine"
    # Again, showing what it says of this Wine.
    "$WINE" "$LIB_TESTS" --exact "$t" --nocapture 2>&1 | tr -d '\r' | grep -vE '^(running|test result|$)' | sed 's/^/    /' >&2 || true
done

NOT_LOADED='notifyring: driver not loaded (\\.\Global\NotifyRing does not exist): start the notifyring service'
run 2 "$NOT_LOADED" status
run 2 "$NOT_LOADED" watch --json --kinds process
run 0 "notifyring 0.1.0" --version
run 1 "error: invalid value 'files' for '--kinds <LIST>': unknown kind \"files\" (expected process, thread, image)" watch --kinds files
# Account names: the look-up `watch --json` names `User` with, without a driver.
run 0 'NT AUTHORITY\SYSTEM' account S-1-5-18
run 0 'Everyone' account S-1-1-0
run 1 'notifyring: not a SID: "S-1-5-x" (expected S-1-<authority>-<sub-authority>-...)' account S-1-5-x
USER_SID=S-1-5-21-1004336348-1177238915-682003330-1001 # tests/cli_watch.rs's user: no name here
run 1 "notifyring: no account name for $USER_SID" account "$USER_SID"
# File facts of an unsigned file (Wine's own notepad.exe): no embedded signature, and the
# catalog look-up that follows finds none (Wine's catalog store is empty), so as before.
run 0 'Signed=false' facts 'C:\windows\system32\notepad.exe' --hashes md5
run 0 'SignatureStatus=Unavailable' facts 'C:\windows\system32\notepad.exe' --hashes md5
# The device is opened before the output file: nothing is created when it fails.
run 2 "$NOT_LOADED" watch --output 'C:\events.log'
[[ ! -e $WINEPREFIX/drive_c/events.log ]] || fail "watch --output created the file although the driver is missing"

# --- The stand-in device -----------------------------------------------------------------

say "cargo test --profile host --test cli_watch (writes the batches)"
(cd "$ROOT" && cargo test --profile host --test cli_watch -q >&2)
STREAM=$ROOT/target/tmp/cli-stream
[[ -f $STREAM/batch0.bin && -f $STREAM/lines.txt ]] || fail "no batches in ${STREAM#"$ROOT"/}"
mkfifo "$OUT/device"
mkdir -p "$WINEPREFIX/dosdevices/global"
ln -s "$OUT/device" "$WINEPREFIX/dosdevices/global/notifyring"

# watch_fed NAME ARGS...: runs `notifyring watch ARGS` on the stand-in fed every batch,
# stops it with SIGINT; stdout in $OUT/NAME.out, stderr in $OUT/NAME.err; must exit 0.
watch_fed() {
    local name=$1 rc=0 pid feeder
    shift
    (
        exec 3>"$OUT/device"
        for batch in "$STREAM"/batch*.bin; do
            cat "$batch" >&3
            sleep 1
        done
        exec sleep 60 # holds the FIFO open (no end of file) until killed, by its pid
    ) &
    feeder=$!
    "$WINE" "$EXE" watch "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
    pid=$!
    sleep $((2 + $(find "$STREAM" -name 'batch*.bin' | wc -l)))
    # The loader execs the preloader, so $pid is the Windows process itself.
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    kill "$feeder" 2>/dev/null || true
    wait "$feeder" 2>/dev/null || true
    tr -d '\r' <"$OUT/$name.out" >"$OUT/$name.txt"
    say "notifyring watch $* (fed, then SIGINT) -> exit $rc, $(wc -l <"$OUT/$name.txt") lines, stderr: $(tr -d '\r' <"$OUT/$name.err")"
    [[ $rc == 0 ]] || fail "watch $*: exit $rc after SIGINT"
}

events=$(grep -c '^notifyring: #' "$STREAM/lines.txt")
lost=$(awk '/^notifyring: LOST / { n += $3 } END { print n + 0 }' "$STREAM/lines.txt")
((lost > 0)) || fail "the stream has no LOST line"

watch_fed text
cmp -s "$OUT/text.txt" "$STREAM/lines.txt" || fail "watch printed other lines than the debugger (diff $OUT/text.txt $STREAM/lines.txt)"
grep -qxF "notifyring: $events events, $lost lost" <(tr -d '\r' <"$OUT/text.err") || fail "no summary line"

watch_fed json --json
python3 - "$OUT/json.txt" "$events" "$lost" "$USER_SID" <<'PY' || fail "the JSON output is not one object per event and LOST, or its process creates' users are not named as LookupAccountSidW names them"
import json, sys
objs = [json.loads(line) for line in open(sys.argv[1])]
events = [o for o in objs if o["EventID"] != 1000]
lost = sum(o["Lost"] for o in objs if o["EventID"] == 1000)
assert len(events) == int(sys.argv[2]) and lost == int(sys.argv[3]), (len(events), lost)
# The stream's process creates (tests/cli_watch.rs): svchost as SYSTEM, named by Wine's
# LookupAccountSidW; notepad as a user Wine has no name for, so its User is the SID.
creates = {o["ProcessId"]: o for o in events if o["EventID"] == 1}
token = lambda o: {k: o.get(k) for k in ("User", "UserSid", "LogonId", "IntegrityLevel")}
want = {"User": "NT AUTHORITY\\SYSTEM", "UserSid": "S-1-5-18", "LogonId": "0x3e7", "IntegrityLevel": "System"}
assert token(creates[7400]) == want, token(creates[7400])
want = {"User": sys.argv[4], "UserSid": sys.argv[4], "LogonId": "0x1a2b3c", "IntegrityLevel": "Medium"}
assert token(creates[7212]) == want, token(creates[7212])
PY

watch_fed process --kinds process --output 'C:\events.log'
grep -E '^notifyring: (LOST |#[0-9]+ \S+ \S+ process-)' "$STREAM/lines.txt" >"$OUT/process.want"
tr -d '\r' <"$WINEPREFIX/drive_c/events.log" | cmp -s - "$OUT/process.want" ||
    fail "--kinds process --output: other lines than the debugger's process and LOST lines"
[[ ! -s $OUT/process.txt ]] || fail "--output also printed to stdout"

# Sigma rules: the project's test rule (tests/data/rules) for svchost started as SYSTEM
# fires once, right after that process create; its other rule and its README do not.
RULES_WIN="Z:$(tr / '\\' <<<"$ROOT/tests/data/rules")"
watch_fed rules --json --rules "$RULES_WIN"
grep -qF "notifyring: rules: 2 loaded, 0 skipped (other log sources), 0 failed" <(tr -d '\r' <"$OUT/rules.err") ||
    fail "--rules: not the load line for the test rules"
grep -qE "events, $lost lost, 1 alerts \(high 1\)$" <(tr -d '\r' <"$OUT/rules.err") || fail "--rules: no alert count in the summary"
python3 - "$OUT/rules.txt" "$events" <<'PY' || fail "--rules --json: not the one alert right after svchost's process create"
import json, sys
objs = [json.loads(line) for line in open(sys.argv[1])]
alerts = [i for i, o in enumerate(objs) if o.get("Kind") == "alert"]
assert len(alerts) == 1, alerts
alert, event = objs[alerts[0]], objs[alerts[0] - 1]
assert alert["EventID"] == 1003 and alert["RuleId"] == "6f1c3c52-8f7e-4c43-9a52-6b0a0c1f3e01", alert
assert (event["EventID"], event["ProcessId"], event["IntegrityLevel"]) == (1, 7400, "System"), event
assert alert["Sequence"] == event["Sequence"] and alert["Image"] == event["Image"], (alert, event)
assert len([o for o in objs if o["EventID"] not in (1000, 1003)]) == int(sys.argv[2])
PY
watch_fed rules-only --rules "$RULES_WIN" --alerts-only --min-level high
grep -E '^notifyring: (LOST |ALERT )' "$OUT/rules-only.txt" | cmp -s - "$OUT/rules-only.txt" ||
    fail "--alerts-only printed more than alerts and LOST lines"
[[ $(grep -c '^notifyring: ALERT level=high rule="Service host started as SYSTEM" ' "$OUT/rules-only.txt") == 1 ]] ||
    fail "--alerts-only: not the one alert line"

wineserver -k 2>/dev/null || true
rm -rf "$WINEPREFIX"
say "PASS"
