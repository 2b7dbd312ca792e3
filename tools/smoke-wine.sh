#!/usr/bin/env bash
# The Wine smoke lane: builds the real release notifyring.sys on Linux (rust-lld, with
# wdk-build's own link flags) and runs it under Wine's kernel emulation (winedevice.exe
# over Wine's ntoskrnl.exe, an independent implementation of the kernel API):
#   1. the PE: native subsystem, FORCE_INTEGRITY, DriverEntry exported, imports only
#      from ntoskrnl.exe and HAL.dll, each of them exported by the installed Wine, and
#      none of them one Wine exports only as a stub (which aborts when called), except
#      those listed in WINE_STUBS_ALLOWED with the reason this run never calls them;
#      1b. its PDB (copied beside it) has the types `dx notifyring!NOTIFYRING_STATS`
#      needs (tools/check-pdb.sh);
#   2. installs it as a demand-start kernel service in a fresh prefix (sc create, the
#      way docs/windows.md tells), sets Parameters values, starts it: the configuration it read,
#      the device \Device\NotifyRing and its link \DosDevices\Global\NotifyRing created
#      (Wine's \??\Global links to \??, as on Windows), each registration's status;
#   3. starts a second copy in the same service group, i.e. the same winedevice.exe,
#      which makes Wine call the load-image callback: the worker's `image-load` line
#      for that driver (callback -> ring -> work item -> DbgPrintEx); the copy's own
#      DriverEntry then fails, as it must: \Device\NotifyRing exists already
#      (STATUS_OBJECT_NAME_COLLISION), having undone what it did;
#   3b. the CLI against the driver (the CLI's acceptance test): `notifyring watch
#      --json --output C:\watch.jsonl` runs in the background as the reader; a second
#      `watch` fails with the one-line "another reader is attached" error and exit 4;
#      the second copy is started again and its image load arrives as a JSON line
#      (EventID 6, ImageLoaded its path) and not as a debugger line (DebuggerOutput=1:
#      muted while a reader is attached); `notifyring status` shows the counters;
#      SIGINT (Ctrl+C under Wine) makes the reader CancelIoEx its pending read, which the
#      driver's cancel routine completes: exit 0 and the summary line; its handle's
#      close detaches it (Wine sends IRP_MJ_CLOSE but no IRP_MJ_CLEANUP);
#   3c. the driver's limits through the CLI's own tests (cli/src/windows.rs, cross-built,
#      run --ignored against the driver): a reader keeps 4 reads waiting and a 5th is
#      refused at once with ERROR_TOO_MANY_CMDS (the CLI's exit 6); Wine's trace shows
#      the 5 reads dispatched and the 4 waiting ones cancelled; a name inside the device
#      (\\.\Global\NotifyRing\x) is not found (ERROR_FILE_NOT_FOUND), refused by Wine's
#      server before any driver (its trace shows only the device's own create);
#   4. stops the service: callbacks removed, worker idle, final drain, a final-stats
#      line that agrees with the event lines printed, and nothing wrong afterwards.
# Throughout: no KeBugCheckEx (a Rust panic), no page fault, no unimplemented call.
#
# Reuses the type-check lane's stand-in WDK and patched wdk-build
# (tools/lib/windows-env.sh). Installs what it needs. Everything stays under
# target/windows-lane/ (toolchain stand-ins, build) and target/wine-smoke/ (wine.log
# with Wine's whole output, driver.log with the driver's lines, the .sys and its PDB,
# which tools/prove-no-panic-sys.sh reads next; the Wine prefix too when a step failed).
# Exits non-zero with a one-line reason on the first failed step. docs/wine.md ("Running the
# real driver without Windows") says what a pass proves and what it cannot.
set -euo pipefail

# shellcheck source=tools/lib/windows-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/windows-env.sh"

OUT=$NR_ROOT/target/wine-smoke
LOG=$OUT/wine.log
SERVICE=notifyring
SECOND=notifyring-second
GROUP=notifyring-smoke
# Parameters for the first instance: a small ring, periodic stats every second, and a
# few non-defaults the configuration line must echo back.
PARAMETERS=(RingBytes=16384 ImagePathCap=260 BatchSize=4 PidTableSize=64 OmitCommandLine=1 StatsIntervalSeconds=1
    ReaderBytes=262144 DebuggerOutput=1)
# Imports Wine 8 exports only as stubs (`__wine_stub_*`: calling one aborts), each with
# why this run never calls it. Any other stubbed import fails step 1.
declare -A WINE_STUBS_ALLOWED=(
    [PsGetProcessExitStatus]="the process-exit callback's: Wine's PsSetCreateProcessNotifyRoutineEx never calls back"
    [PsGetProcessCreateTimeQuadPart]="the worker's age check of a remote thread's target: Wine's PsSetCreateThreadNotifyRoutine never calls back"
)
APIS=(PsSetCreateProcessNotifyRoutineEx PsSetCreateThreadNotifyRoutine PsSetLoadImageNotifyRoutine)
KINDS=(process-create process-exit thread-create thread-exit image-load)
# Seconds to wait for each expected line (one usually appears within a second).
TIMEOUT=${SMOKE_WINE_TIMEOUT:-30}

say() { printf 'smoke-wine: %s\n' "$*" >&2; }
wine_started=
fail() {
    printf 'smoke-wine: FAIL: %s\n' "$*" >&2
    [[ -z $wine_started ]] || printf 'smoke-wine: Wine log: %s\n' "${LOG#"$NR_ROOT"/}" >&2
    exit 1
}
started=$SECONDS
lap=$SECONDS
timing() {
    say "$1 ($((SECONDS - lap)) s)"
    lap=$SECONDS
}

# --- Prerequisites and the build -------------------------------------------------------

wine_prereqs() {
    local missing=() pkg sudo=()
    for pkg in wine64 wine llvm; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) == 0 ]] || sudo=(sudo)
        say "installing ${missing[*]}"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    # The 64-bit loader itself: Debian's `wine` wrapper nags about wine32 on every call.
    WINE=$(command -v wine64 || true)
    [[ -n $WINE ]] || WINE=/usr/lib/wine/wine64
    [[ -x $WINE ]] || fail "no wine64 loader found (Debian package wine64)"
    export WINELOADER=$WINE
    WINE_DLLS=$(dirname "$(find /usr/lib/x86_64-linux-gnu/wine /usr/lib/wine /usr/lib64/wine \
        -path '*x86_64-windows/ntoskrnl.exe' 2>/dev/null | head -n 1)")
    [[ -f $WINE_DLLS/ntoskrnl.exe && -f $WINE_DLLS/hal.dll ]] || fail "Wine's x86_64 ntoskrnl.exe/hal.dll not found"
}

nr_win_setup
nr_win_link_setup
wine_prereqs
mkdir -p "$OUT"
timing "toolchain ready: $("$WINE" --version), $(rustc --version | cut -d' ' -f1-2), llvm-dlltool $(dpkg-query -W -f='${Version}' llvm)"

say "building the release driver for $NR_WIN_TARGET with rust-lld (wdk-build's link flags + /RELEASE)"
# /RELEASE sets the PE checksum, as the WDK's link.exe settings do for a release driver.
nice -n 10 bash -c "source '$NR_ROOT/tools/lib/windows-env.sh' && nr_win_link_cargo build --release --lib \
    --config 'target.$NR_WIN_TARGET.rustflags=[\"-C\", \"link-arg=/RELEASE\"]'" ||
    fail "cargo build --release for $NR_WIN_TARGET failed"
SYS=$OUT/notifyring.sys
cp "$NR_WS_LINK/target/$NR_WIN_TARGET/release/notifyring.dll" "$SYS"
# The PDB beside the .sys, under the name the .sys's debug entry gives (a debugger looks
# for it there); tools/prove-no-panic-sys.sh reads the pair.
cp "$NR_WS_LINK/target/$NR_WIN_TARGET/release/notifyring.pdb" "$OUT/notifyring.pdb"
timing "built ${SYS#"$NR_ROOT"/} ($(stat -c %s "$SYS") bytes) and notifyring.pdb ($(stat -c %s "$OUT/notifyring.pdb") bytes)"
EXE=$(bash "$NR_ROOT/tools/build-cli-windows.sh" | tail -n 1) || fail "tools/build-cli-windows.sh failed"
timing "built the CLI ${EXE#"$NR_ROOT"/} (tools/build-cli-windows.sh)"
# The CLI's library's unit tests, cross-built: step 3c runs the ones that need the driver.
# shellcheck source=tools/lib/wine-cli.sh
source "$NR_ROOT/tools/lib/wine-cli.sh"
CLI_TESTS=$(nr_cli_tests lib)
[[ -n $CLI_TESTS && -f $CLI_TESTS ]] || fail "no cross-built test executable of the CLI's library"
timing "built the CLI's unit tests ${CLI_TESTS#"$NR_ROOT"/}"

# --- 1. The PE ---------------------------------------------------------------------------

say "1. checking the PE"
pe=$(llvm-readobj --file-headers --coff-imports --coff-exports "$SYS")
grep -q 'Subsystem: IMAGE_SUBSYSTEM_NATIVE' <<<"$pe" || fail "PE subsystem is not NATIVE"
grep -q 'IMAGE_DLL_CHARACTERISTICS_FORCE_INTEGRITY' <<<"$pe" || fail "PE lacks FORCE_INTEGRITY (/INTEGRITYCHECK)"
grep -qx '  Name: DriverEntry' <<<"$pe" || fail "DriverEntry is not exported"
checksum=$(llvm-objdump -p "$SYS" | awk '$1 == "CheckSum" { print $2 }')
[[ -n $checksum && $checksum != 00000000 ]] || fail "PE checksum not set (link without /RELEASE?)"
image_size=$(awk '$1 == "SizeOfImage:" { print $2 }' <<<"$pe")
# "DLL symbol" per import, from the Import { Name: ...  Symbol: ... } blocks.
imports=$(awk '/^Import \{/ { dll = "" } /^  Name: / && dll == "" { dll = $2 } /^  Symbol: / { print dll, $2 }' <<<"$pe")
[[ -n $imports ]] || fail "the PE imports nothing (llvm-readobj output changed?)"
missing=()
mapfile -t dlls < <(cut -d' ' -f1 <<<"$imports" | sort -u)
for dll in "${dlls[@]}"; do
    case ${dll,,} in
        ntoskrnl.exe | hal.dll) ;;
        *) fail "imports from $dll (only ntoskrnl.exe and HAL.dll are allowed)" ;;
    esac
    exports=$(llvm-readobj --coff-exports "$WINE_DLLS/${dll,,}" | awk '/^  Name: / { print $2 }')
    while read -r symbol; do
        grep -qxF "$symbol" <<<"$exports" || missing+=("$dll!$symbol")
    done < <(awk -v d="$dll" '$1 == d { print $2 }' <<<"$imports")
done
((${#missing[@]} == 0)) || fail "imports the installed Wine does not export: ${missing[*]}"
# Wine's export table lists its stubs too; their code is a `__wine_stub_NAME` symbol.
stubbed=()
allowed=()
for dll in "${dlls[@]}"; do
    stubs=$(llvm-objdump -t "$WINE_DLLS/${dll,,}" | grep -o '__wine_stub_[A-Za-z0-9_]*' | sed 's/^__wine_stub_//' | sort -u)
    while read -r symbol; do
        grep -qxF "$symbol" <<<"$stubs" || continue
        if [[ -n ${WINE_STUBS_ALLOWED[$symbol]:-} ]]; then
            allowed+=("$symbol")
        else
            stubbed+=("$dll!$symbol")
        fi
    done < <(awk -v d="$dll" '$1 == d { print $2 }' <<<"$imports")
done
((${#stubbed[@]} == 0)) || fail "imports the installed Wine implements only as a stub (calling one aborts): ${stubbed[*]}"
for symbol in "${allowed[@]}"; do say "   Wine stub, not called in this run: $symbol (${WINE_STUBS_ALLOWED[$symbol]})"; done
timing "PE ok: NATIVE, FORCE_INTEGRITY, checksum 0x$checksum, DriverEntry exported, $(wc -l <<<"$imports") imports \
($(cut -d' ' -f1 <<<"$imports" | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')), all exported by Wine"

say "1b. checking the PDB (the types WinDbg's dx -r3 notifyring!NOTIFYRING_STATS needs)"
bash "$NR_ROOT/tools/check-pdb.sh" "$SYS" "$OUT/notifyring.pdb" >"$OUT/pdb-check.log" 2>&1 || {
    sed 's/^/    /' "$OUT/pdb-check.log" >&2
    fail "PDB check: $(grep -m1 'FAIL' "$OUT/pdb-check.log" | sed 's/^pdb-check: FAIL: //')"
}
sed 's/^/    /' "$OUT/pdb-check.log" >&2
timing "PDB ok: NOTIFYRING_STATS typed notifyring::stats::Stats, every field of src/stats.rs present"

# --- Wine ----------------------------------------------------------------------------------

export WINEPREFIX=$OUT/prefix
# Headless: no display, and no Mono/Gecko installers during wineboot.
unset DISPLAY WAYLAND_DISPLAY
export WINEDLLOVERRIDES="mscoree=;mshtml="
wineserver -k 2>/dev/null && wineserver -w
rm -rf "$WINEPREFIX" "$LOG" "$OUT/driver.log" "$OUT/wineboot.log"
trap 'wineserver -k 2>/dev/null || true' EXIT
wine_started=1

say "2. fresh prefix ${WINEPREFIX#"$NR_ROOT"/}"
WINEDEBUG=-all "$WINE" wineboot -i >"$OUT/wineboot.log" 2>&1 || fail "wineboot -i failed (see target/wine-smoke/wineboot.log)"
wineserver -w
nr_wine_cli_standin "$WINEPREFIX" "$OUT" 2> >(sed 's/^/smoke-wine: /' >&2)
drivers=$WINEPREFIX/drive_c/windows/system32/drivers
cp "$SYS" "$drivers/$SERVICE.sys"
cp "$SYS" "$drivers/$SECOND.sys"

# From here on one session: a persistent server (otherwise it exits after a few idle
# seconds and DriverUnload never runs); services.exe and winedevice.exe inherit this
# WINEDEBUG and write DbgPrintEx text (debugstr) and Wine's errors into the log.
# trace+ntoskrnl: Wine's own account of the IRPs (dispatch_cancel, IoCancelIrp,
# IofCompleteRequest, dispatch_close), which step 3b reads. SMOKE_WINE_DEBUG overrides.
export WINEDEBUG=${SMOKE_WINE_DEBUG:-warn+debugstr,trace+ntoskrnl}
wineserver -p
run() { "$WINE" "$@" 2>>"$LOG"; }
# Wine's sc reports errors on its debug channel only: the last such line of the log.
sc_error() { tr -d '\r' <"$LOG" | grep -E ':err:sc:' | tail -n 1; }

# The driver's lines in the log from byte OFFSET on: "notifyring: ..." only.
driver_lines() {
    tail -c "+$(($1 + 1))" "$LOG" | tr -d '\r' |
        sed -n 's/^[0-9a-f]*:warn:debugstr:vDbgPrintExWithPrefix [0-9a-f]*:[0-9a-f]*: \(notifyring: .*\)$/\1/p'
}
offset() { stat -c %s "$LOG" 2>/dev/null || echo 0; }
show() { sed 's/^/    /' >&2; }
# Waits until a driver line from OFFSET on matches the ERE; on timeout, shows what the
# driver printed meanwhile and fails with REASON.
wait_line() {
    local from=$1 pattern=$2 reason=$3 deadline=$((SECONDS + TIMEOUT))
    until driver_lines "$from" | grep -qE -- "$pattern"; do
        if ((SECONDS >= deadline)); then
            driver_lines "$from" | show
            fail "$reason"
        fi
        sleep 0.2
    done
}
# sc's answer must show STATE N.
sc_state() {
    local want=$1 out
    shift
    out=$(run sc "$@") || fail "sc $* failed: $(sc_error)"
    grep -qE "STATE +: +$want " <<<"$(tr -d '\r' <<<"$out")" ||
        fail "sc $*: expected state $want, got: $(tr -d '\r' <<<"$out" | grep STATE | tr -s ' ')"
}

# services.exe starts with the session. Once it answers, querying a service that does
# not exist yet fails with 1060 (ERROR_SERVICE_DOES_NOT_EXIST), not "failed to open
# service manager".
deadline=$((SECONDS + TIMEOUT))
until run sc query "$SERVICE" >/dev/null || [[ $(sc_error) == *"failed to open service 1060" ]]; do
    ((SECONDS < deadline)) || fail "the service manager did not answer within ${TIMEOUT}s: $(sc_error)"
    sleep 1
done
# Installed the way docs/windows.md tells Windows users to, plus the shared Group.
for name in "$SERVICE" "$SECOND"; do
    run sc create "$name" type= kernel start= demand group= "$GROUP" \
        binPath= "C:\\windows\\system32\\drivers\\$name.sys" >/dev/null || fail "sc create $name failed: $(sc_error)"
done
key="HKLM\\System\\CurrentControlSet\\Services\\$SERVICE\\Parameters"
for pair in "${PARAMETERS[@]}"; do
    run reg add "$key" /v "${pair%%=*}" /t REG_DWORD /d "${pair#*=}" /f >/dev/null || fail "reg add $key ${pair%%=*} failed"
done
timing "services $SERVICE and $SECOND created (kernel, demand, group $GROUP); Parameters: ${PARAMETERS[*]}"

say "   sc start $SERVICE"
start1=$(offset)
sc_state 4 start "$SERVICE"
wait_line "$start1" "^notifyring: ${APIS[-1]}: |failed" "no registration line for ${APIS[-1]} within ${TIMEOUT}s of sc start"
lines=$(driver_lines "$start1")
show <<<"$lines"
! grep -q 'failed' <<<"$lines" || fail "DriverEntry reported: $(grep -m1 failed <<<"$lines")"
! grep -q 'rejected' <<<"$lines" || fail "a Parameters value was refused: $(grep -m1 rejected <<<"$lines")"
config=$(grep -m1 '^notifyring: config ' <<<"$lines") || fail "no configuration line"
for pair in "${PARAMETERS[@]}"; do
    grep -qE "(^| )$pair( |$)" <<<"${config#notifyring: config }" || fail "configuration line lacks $pair: $config"
done
grep -q '^notifyring: pool ' <<<"$lines" || fail "no pool line"
grep -qxF 'notifyring: device \Device\NotifyRing and link \DosDevices\Global\NotifyRing created; DACL: SYSTEM and Administrators only' \
    <<<"$lines" || fail "no line saying the device and its link were created"
for api in "${APIS[@]}"; do
    grep -qx "notifyring: $api: 0x00000000" <<<"$lines" || fail "no successful registration line for $api"
done
# DriverEntry's token probe: the worker's token path once, on a reference to the current
# process (winedevice.exe) taken with ObfReferenceObject, read by KernelEnv::process_token
# (src/driver/token.rs: ObOpenObjectByPointer, ZwOpenProcessTokenEx, four
# ZwQueryInformationToken queries, two ZwClose) and released by
# KernelEnv::release_process (ObfDereferenceObject). Wine runs all of it (ntoskrnl.exe's
# Zw* forward to ntdll's Nt*), and answers, per dlls/ntdll/unix/security.c:
#   TokenUser           the wineserver's token user, its fixed local_user_sid
#                       S-1-5-21-0-0-0-1000 (server/token.c);
#   TokenIntegrityLevel always S-1-16-12288 ("report always ... high mandatory level for
#                       now"), whatever the token: High;
#   TokenStatistics     AuthenticationId always 0 (marked FIXME): logon=0x0, which Windows
#                       never reports (0 is no logon session);
#   TokenIsAppContainer always 0 (a semi-stub): not an app container, so High stays High.
# So this checks the calls, the buffer parsing (the SIDs found through their pointers
# inside the buffer) and the formatting; only the user is a value Wine really looked up.
probe=$(grep -m1 '^notifyring: token-probe ' <<<"$lines") || fail "no token-probe line from DriverEntry"
[[ $probe =~ ^notifyring:\ token-probe\ pid=[0-9]+\ user=S-1-5-21-0-0-0-1000\ integrity=High\ logon=0x0\ failures=0$ ]] ||
    fail "token-probe: expected 'user=S-1-5-21-0-0-0-1000 integrity=High logon=0x0 failures=0' (what Wine's ntdll answers), got: $probe"
# DriverEntry's thread probe: the worker's thread-start path (src/driver/lookup.rs) on its
# own thread: PsLookupThreadByThreadId, PsGetThreadProcessId, ObOpenObjectByPointer,
# ZwQueryInformationThread(ThreadQuerySetWin32StartAddress), then PsLookupProcessByProcessId
# and ZwQueryVirtualMemory(MemoryBasicInformation) of the address: Wine answers the thread's
# real start address, which lies in an image (winedevice.exe's thread starts in a DLL).
thread_probe=$(grep -m1 '^notifyring: thread-probe ' <<<"$lines") || fail "no thread-probe line from DriverEntry"
[[ $thread_probe =~ ^notifyring:\ thread-probe\ pid=[0-9]+\ tid=[0-9]+\ start=0x[0-9a-f]+\ start_image=0x[0-9a-f]+$ ]] ||
    fail "thread-probe: expected a start address inside an image, got: $thread_probe"
# The watch's start: KUSER_SHARED_DATA.SystemTime as the WDK's KeQuerySystemTime macro reads
# it (Wine emulates the kernel's shared page), 100 ns units since 1601: within a day of now.
watch=$(grep -m1 '^notifyring: watch-start ' <<<"$lines") || fail "no watch-start line from DriverEntry"
[[ $watch =~ ^notifyring:\ watch-start\ system-time=([0-9]+)$ ]] || fail "watch-start: $watch"
now_filetime=$((($(date +%s) + 11644473600) * 10000000))
((${BASH_REMATCH[1]} > now_filetime - 864000000000 && ${BASH_REMATCH[1]} < now_filetime + 864000000000)) ||
    fail "watch-start: system time ${BASH_REMATCH[1]} is not within a day of now ($now_filetime)"
timing "DriverEntry ok: configuration read back, device and link created, ${#APIS[@]} registrations STATUS_SUCCESS; $probe; $thread_probe; $watch"
# No event has happened yet: a stats line can only come from the periodic timer's DPC
# (StatsIntervalSeconds=1) waking the worker through the gate.
wait_line "$start1" '^notifyring: stats delivered=0 ' \
    "no periodic stats line within ${TIMEOUT}s on an idle driver (timer DPC -> gate -> work item broken)"
driver_lines "$start1" | grep -m1 '^notifyring: stats ' | show
timing "timer ok: the DPC woke the worker with no event, and it printed the periodic stats line"

say "3. sc start $SECOND (same group: the same winedevice.exe, so Wine calls $SERVICE's load-image callback)"
start2=$(offset)
# The copy maps (the callback fires), then its DriverEntry finds the device name taken:
# STATUS_OBJECT_NAME_COLLISION, which sc reports as ERROR_ALREADY_EXISTS (183).
! run sc start "$SECOND" >/dev/null || fail "sc start $SECOND succeeded: a second instance created \Device\NotifyRing again"
[[ $(sc_error) == *"failed to start service 183" ]] || fail "sc start $SECOND: expected error 183 (name collision), got: $(sc_error)"
path="C:\\windows\\system32\\drivers\\$SECOND.sys"
# The worker's line: sequence, time, cpu, kind, then what Wine's IMAGE_INFO holds (a
# kernel image, no process, the size of the mapping; its base is not recorded, as
# KernelImageBases is 0 by default) and the DOS path it passes.
event_re='^notifyring: #[0-9]+ \+[0-9]+\.[0-9]{6}s cpu[0-9]+ image-load pid=0 base=- size=0x[0-9a-f]+ kernel=1 sig=[0-9]+/[0-9]+ image="'
wait_line "$start2" "${event_re}${path//\\/\\\\}\"$" \
    "no image-load line for $path within ${TIMEOUT}s (callback -> ring -> work item -> DbgPrintEx broken)"
lines=$(driver_lines "$start2")
show <<<"$lines"
event=$(grep -m1 -F "image=\"$path\"" <<<"$lines")
size=$(sed -n 's/.* size=\(0x[0-9a-f]*\) .*/\1/p' <<<"$event")
((size == image_size)) || fail "image-load size=$size, but the PE's SizeOfImage is $image_size"
wait_line "$start2" '^notifyring: IoCreateDevice failed: 0xC0000035$' \
    "$SECOND: no 'IoCreateDevice failed: 0xC0000035' (STATUS_OBJECT_NAME_COLLISION) line"
any_api=$(IFS='|' && echo "${APIS[*]}")
! grep -qE "^notifyring: ($any_api): " <<<"$(driver_lines "$start2")" ||
    fail "$SECOND registered a notify routine although its DriverEntry failed before that step"
timing "image-load event for $SECOND.sys printed by the worker (size = SizeOfImage $image_size); $SECOND itself refused: the device name is taken"

say "3b. the CLI against the driver: notifyring watch --json --output C:\\watch.jsonl in the background"
JSONL=$WINEPREFIX/drive_c/watch.jsonl
# The CLI's own output only: its processes get no Wine debug channels.
cli() { WINEDEBUG=-all timeout -s KILL "$TIMEOUT" "$WINE" "$EXE" "$@"; }
status_of() { sed -n "s/^$1=\([0-9]*\)$/\1/p" <<<"$2"; }
# Polls `notifyring status` until item NAME equals VALUE; leaves the reply in $reply.
wait_status() {
    local name=$1 want=$2 reason=$3 deadline=$((SECONDS + TIMEOUT))
    while :; do
        reply=$(cli status 2>&1 | tr -d '\r') || true
        [[ $(status_of "$name" "$reply") != "$want" ]] || return 0
        ((SECONDS < deadline)) || fail "$reason; last status: $(head -n 3 <<<"$reply" | tr '\n' ' ')"
        sleep 0.5
    done
}
WINEDEBUG=-all "$WINE" "$EXE" watch --json --output 'C:\watch.jsonl' >"$OUT/watch.out" 2>"$OUT/watch.err" &
watch_pid=$!
# The reader attaches at its first read (Wine's creates carry no security context).
wait_status reader_attached 1 "the watch never attached as the reader within ${TIMEOUT}s"
kill -0 "$watch_pid" 2>/dev/null || fail "the watch exited: $(tr -d '\r' <"$OUT/watch.err")"
timing "reader attached (status: reader_attached=1, reader_attaches=$(status_of reader_attaches "$reply"))"

rc=0
cli watch >"$OUT/watch2.out" 2>"$OUT/watch2.err" || rc=$?
second=$(tr -d '\r' <"$OUT/watch2.err")
[[ $rc == 4 ]] || fail "a second watch: exit $rc, expected 4; stderr: $second"
[[ $second == 'notifyring: another reader is attached (one at a time): stop it first' ]] ||
    fail "a second watch: expected the one-line 'another reader is attached' error, got: $second"
timing "a second watch refused: exit 4, '$second'"

start3=$(offset)
! run sc start "$SECOND" >/dev/null || fail "sc start $SECOND succeeded the second time"
[[ $(sc_error) == *"failed to start service 183" ]] || fail "sc start $SECOND (again): expected error 183, got: $(sc_error)"
deadline=$((SECONDS + TIMEOUT))
until [[ -s $JSONL ]] && grep -q '"EventID":6' "$JSONL"; do
    ((SECONDS < deadline)) || fail "no EventID 6 JSON line in C:\\watch.jsonl within ${TIMEOUT}s of the second start"
    sleep 0.2
done
tr -d '\r' <"$JSONL" >"$OUT/watch.jsonl"
python3 - "$OUT/watch.jsonl" "$path" <<'PY' || fail "the JSON image-load line is not what the driver saw (above)"
import json, sys
objs = [json.loads(line) for line in open(sys.argv[1])]
loads = [o for o in objs if o.get("EventID") == 6]
assert len(loads) == 1 and len(objs) == 1, objs
assert loads[0]["ImageLoaded"] == sys.argv[2], loads[0]
assert "ImageBase" not in loads[0], "a kernel image's base reached the reader: %s" % loads[0]
PY
sed 's/^/    /' "$OUT/watch.jsonl" >&2
! driver_lines "$start3" | grep -q ' image-load ' ||
    fail "DebuggerOutput=1: the image-load was also printed to the debugger while a reader was attached"
timing "image load of $SECOND.sys arrived as JSON (EventID 6, ImageLoaded $path), and no debugger line (DebuggerOutput=1)"

reply=$(cli status 2>&1 | tr -d '\r') || fail "notifyring status failed: $reply"
printf '%s\n' "$reply" >"$OUT/status.txt"
grep -qE '^driver [0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+\)$' <<<"$(head -n 1 <<<"$reply")" ||
    fail "status: no version line: $(head -n 1 <<<"$reply")"
for check in delivered:1 image-load:1 reader_events:1 reader_attached:1 reader_reads_pended:1; do
    n=$(status_of "${check%%:*}" "$reply")
    [[ -n $n ]] && ((n >= ${check#*:})) || fail "status: ${check%%:*}=${n:-missing}, expected >= ${check#*:}"
done
[[ $(status_of DebuggerOutput "$reply") == 1 ]] || fail "status: DebuggerOutput=$(status_of DebuggerOutput "$reply")"
timing "status: $(head -n 1 <<<"$reply"); delivered=$(status_of delivered "$reply") image-load=$(status_of image-load "$reply") \
reader_attached=1 reader_events=$(status_of reader_events "$reply") reader_reads_pended=$(status_of reader_reads_pended "$reply")"

# Ctrl+C: Wine turns SIGINT into a console control event; the CLI's handler
# CancelIoEx's the pending read, Wine's ntoskrnl calls IoCancelIrp on it, and the
# driver's cancel routine completes it STATUS_CANCELLED. A read never completed hangs here.
sigint=$(offset)
kill -INT "$watch_pid" 2>/dev/null || fail "the watch is gone before SIGINT"
deadline=$((SECONDS + TIMEOUT))
while kill -0 "$watch_pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        kill -KILL "$watch_pid" 2>/dev/null || true
        fail "the watch did not end within ${TIMEOUT}s of SIGINT (the cancelled read was not completed?)"
    fi
    sleep 0.2
done
rc=0
wait "$watch_pid" || rc=$?
summary=$(tr -d '\r' <"$OUT/watch.err")
[[ $rc == 0 ]] || fail "the watch exited $rc after SIGINT: $summary"
# stderr: the summary line, and (with --json) the file facts' counters line.
grep -qxF 'notifyring: 1 events, 0 lost' <<<"$summary" ||
    fail "the watch's summary: expected 'notifyring: 1 events, 0 lost', got: $summary"
grep -qE '^notifyring: file facts: [0-9]+ files read, ' <<<"$summary" ||
    fail "the watch --json printed no file-facts counters line: $summary"
json_events=$(grep -c . "$OUT/watch.jsonl")
# What Wine did, from its trace: dispatch_cancel of the pending read's IRP, IoCancelIrp
# calling the driver's cancel routine, which releases the cancel spin lock and completes
# the IRP (IofCompleteRequest) before the handle's dispatch_close arrives.
if [[ $WINEDEBUG == *trace+ntoskrnl* ]]; then
    cancel=$(tail -c "+$((sigint + 1))" "$LOG" | tr -d '\r' | awk '
        /:trace:ntoskrnl:dispatch_cancel / { irp = $2; state = "cancel"; next }
        state == "cancel" && /:trace:ntoskrnl:IoReleaseCancelSpinLock / { state = "released"; next }
        state == "released" && /:trace:ntoskrnl:IofCompleteRequest / && $2 == irp { state = "completed"; next }
        state == "completed" && /:trace:ntoskrnl:dispatch_close / { print irp; exit }')
    [[ -n $cancel ]] || fail "Wine's trace lacks dispatch_cancel -> IoReleaseCancelSpinLock -> IofCompleteRequest (same IRP) -> dispatch_close after SIGINT"
    say "   Wine: dispatch_cancel $cancel -> IoCancelIrp -> cancel routine: IoReleaseCancelSpinLock, IofCompleteRequest $cancel; then dispatch_close"
fi
# Wine sends IRP_MJ_CLOSE when the handle goes, no IRP_MJ_CLEANUP: the close detaches.
wait_status reader_attached 0 "the reader stayed attached after its process ended (no close?)"
timing "SIGINT: the pending read was cancelled and completed, exit 0, '$summary'; the handle's close detached the reader"

say "3c. the driver's limits, from the CLI's own tests against it (cross-built, run --ignored)"
# device_test NAME: runs one of the CLI's driver tests (cli/src/windows.rs), shows what it
# printed, fails the lane if it fails.
device_test() {
    local rc=0
    WINEDEBUG=-all timeout -s KILL "$TIMEOUT" "$WINE" "$CLI_TESTS" --ignored --exact "windows::tests::$1" --nocapture \
        >"$OUT/$1.txt" 2>&1 || rc=$?
    tr -d '\r' <"$OUT/$1.txt" | grep -vE '^(running|test result|$)' | sed 's/^/    /' >&2
    [[ $rc == 0 ]] && grep -q "^test windows::tests::$1 \.\.\. ok" <(tr -d '\r' <"$OUT/$1.txt") ||
        fail "the CLI's test $1 failed under Wine against the driver (exit $rc, see ${OUT#"$NR_ROOT"/}/$1.txt)"
}
cap=$(offset)
device_test a_read_beyond_the_drivers_cap_is_refused_at_once
# Wine's account: all five reads reached the driver, and the four waiting ones were
# cancelled through its cancel routine (the fifth never waited).
if [[ $WINEDEBUG == *trace+ntoskrnl* ]]; then
    trace=$(tail -c "+$((cap + 1))" "$LOG" | tr -d '\r')
    reads=$(grep -c ':trace:ntoskrnl:dispatch_read ' <<<"$trace" || true)
    cancels=$(grep -c ':trace:ntoskrnl:dispatch_cancel ' <<<"$trace" || true)
    ((reads == 5 && cancels == 4)) ||
        fail "Wine's trace: expected 5 reads dispatched and 4 cancelled by the cap test, got $reads and $cancels"
    say "   Wine: $reads reads dispatched to the driver, $cancels cancelled"
fi
wait_status reader_attached 0 "the cap test's reader stayed attached after its handle closed"
timing "the cap: 4 reads wait, the 5th is refused at once (ERROR_TOO_MANY_CMDS, the CLI's exit 6), cancelling ends the 4"

names=$(offset)
device_test a_name_inside_the_device_is_not_found
# Wine's account: only the device's own open reached a driver. Wine 8's server refuses a
# name past a device itself (and its dispatch_create never fills FileObject->FileName),
# so the driver's own refusal of such a name does not run under Wine.
# The driver's device is the one the cap test's reads went to (other drivers in other
# winedevice.exe processes see creates from the test process too).
if [[ $WINEDEBUG == *trace+ntoskrnl* ]]; then
    ours=$(sed -n 's/.*:trace:ntoskrnl:dispatch_read device \([0-9A-Fa-f]*\) .*/\1/p' <<<"$trace" | sort -u)
    [[ -n $ours && $(wc -l <<<"$ours") == 1 ]] || fail "Wine's trace: the cap test's reads went to no single device: $ours"
    creates=$(tail -c "+$((names + 1))" "$LOG" | tr -d '\r' | grep -c ":trace:ntoskrnl:dispatch_create device $ours " || true)
    ((creates == 1)) || fail "Wine's trace: expected 1 create of the driver's device (its own open) in the name test, got $creates"
    say "   Wine: 1 create reached the driver (the device itself); the 4 opens of a name inside it did not"
fi
timing "a name inside the device: ERROR_FILE_NOT_FOUND (refused by Wine's server, as the driver refuses it on Windows)"

say "4. sc stop $SERVICE"
stop1=$(offset)
sc_state 1 stop "$SERVICE"
wait_line "$stop1" '^notifyring: unloaded$' "no 'unloaded' line within ${TIMEOUT}s of sc stop"
sleep 1 # anything printed after unload belongs in the check below
lines=$(driver_lines "$stop1")
show <<<"$lines"
# The unload sequence, in order; only drained event, LOST or periodic stats lines may
# come between.
sequence=$(grep -vE '^notifyring: (#[0-9]+ |LOST |stats )' <<<"$lines" | sed -E \
    -e 's/^notifyring: callbacks removed .*/removed/' -e 's/^notifyring: worker idle .*final drain$/idle/' \
    -e 's/^notifyring: final-stats .*/final-stats/' -e 's/^notifyring: unloaded$/unloaded/' | tr '\n' ' ')
[[ $sequence == "removed idle final-stats unloaded " ]] ||
    fail "unload sequence is not: callbacks removed, worker idle, final drain, final-stats, unloaded; got: $sequence"
grep -qx "notifyring: callbacks removed (${#APIS[@]})" <<<"$lines" || fail "not every callback was removed"
final=$(grep '^notifyring: final-stats ' <<<"$lines")
stat_of() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$final"; }
# Every event line the first instance printed (the second has no worker: its DriverEntry failed).
events=$(driver_lines "$start1" | sed -n "1,/^notifyring: unloaded$/p" | grep -E '^notifyring: #[0-9]+ ' || true)
printed=$(grep -c . <<<"$events" || true)
# The reader got the events delivered while it was attached (DebuggerOutput=1 muted
# them): json_events image loads.
[[ $(stat_of delivered) == $((printed + json_events)) ]] ||
    fail "final-stats delivered=$(stat_of delivered), but $printed event lines were printed and $json_events read as JSON"
for kind in "${KINDS[@]}"; do
    n=$(grep -c " $kind pid=" <<<"$events" || true)
    [[ $kind != image-load ]] || n=$((n + json_events))
    [[ $(stat_of "$kind") == "$n" ]] || fail "final-stats $kind=$(stat_of "$kind"), but $n $kind events were printed or read"
done
# token_failures counts the worker's failed token queries, start_failures its unread start
# addresses; no process or thread create reaches the worker under Wine (and the probes'
# are not counted), so they must parse and be 0.
for counter in lost lost_reported token_failures start_failures; do
    [[ $(stat_of $counter) == 0 ]] || fail "final-stats $counter=$(stat_of $counter) (expected 0)"
done
# DriverEntry arms the idle sweep once (its self-check): its DPC ran if it was counted.
(($(stat_of sweeps) >= 1)) ||
    fail "final-stats sweeps=$(stat_of sweeps): DriverEntry's sweep never ran (the idle sweep's timer or DPC)"
timing "sweep ok: the idle sweep's one-shot timer fired and its DPC ran (sweeps=$(stat_of sweeps), woke the worker $(stat_of sweep_wakes) times)"
seqs=$(sed -E 's/^notifyring: #([0-9]+) .*/\1/' <<<"$events" | tr '\n' ' ')
# The reader's event came last, so the printed ones are still 1..printed.
[[ $seqs == "$(seq -s ' ' 1 "$printed") " ]] || fail "event sequence numbers are not 1..$printed: $seqs"
after=$(tail -c "+$((stop1 + 1))" "$LOG" | tr -d '\r' | sed -n '/notifyring: unloaded$/,$p' | sed 1d)
bad=$(grep -E ':err:|notifyring: .*(failed|refused)' <<<"$after" || true)
[[ -z $bad ]] || fail "after unload: $(head -n1 <<<"$bad")"
timing "unload ok: callbacks removed, worker idle, final drain, final-stats delivered=$((printed + json_events)) agrees with the $printed lines printed and the $json_events the reader got"

wineserver -k 2>/dev/null || true
wineserver -w
trap - EXIT

# --- The whole log ---------------------------------------------------------------------------
whole=$(tr -d '\r' <"$LOG")
! grep -q 'KeBugCheckEx' <<<"$whole" || fail "KeBugCheckEx (a Rust panic shows as 52504e43): $(grep -m1 KeBugCheckEx <<<"$whole")"
! grep -qi 'page fault' <<<"$whole" || fail "page fault: $(grep -m1 -i 'page fault' <<<"$whole")"
! grep -qE 'unimplemented function|No implementation for' <<<"$whole" ||
    fail "unimplemented call: $(grep -m1 -E 'unimplemented function|No implementation for' <<<"$whole")"
# Step 3's refused copy is the one error expected.
errors=$(grep -E 'err:(ntoskrnl|winedevice|seh)' <<<"$whole" |
    grep -vE "err:ntoskrnl:ZwLoadDriver failed to create driver .*\\\\$SECOND\": c0000035$" || true)
[[ -z $errors ]] || fail "$(head -n1 <<<"$errors")"
driver_lines 0 >"$OUT/driver.log"
rm -rf "$WINEPREFIX" # ~0.7 GB; a failed run keeps it for inspection
say "PASS in $((SECONDS - started)) s: notifyring.sys linked, loaded, ran image-load events through callback -> ring -> work item -> DbgPrintEx and -> the reader's channel -> notifyring.exe watch --json (Ctrl+C cancelled its pending read), and unloaded cleanly under $("$WINE" --version) (logs: target/wine-smoke/)"
