#!/usr/bin/env bash
# Sigma agreement: the replay's alerts (`--rules`) against pySigma's, on every recorded
# trace in ../shared/traces with the SigmaHQ rules in ../shared/sigma/rules.
#
#   tools/sigma-agree.sh              # a table per trace; exit 0 when every difference is explained
#   tools/sigma-agree.sh --verbose    # also each explained difference, our alert and pySigma's SQL
#   tools/sigma-agree.sh --pysigma-only   # the pySigma side alone (a replay without --rules)
#   tools/sigma-agree.sh --probes         # also a trace of our own edge cases (target/sigma-probes.jsonl)
#
# Installs pySigma, its SQLite backend and the Sysmon pipeline at the versions pinned in
# tools/lib/sigma-agree-requirements.txt into a venv under target/ (again only when the
# pins change), builds the replay once (profile host) and hands over to
# tools/lib/sigma_agree.py, which runs it per trace and compares. The method, the pins and
# the differences the check accepts: docs/sigma-agreement.md.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=../shared
for d in "$shared/traces" "$shared/sigma/rules"; do
    if [[ ! -d $d ]]; then
        echo "sigma-agree: error: $d is missing: this check needs the development data in ../shared" \
            "(recorded traces and the SigmaHQ rules) beside the repository" >&2
        exit 2
    fi
done
traces=("$shared"/traces/*.jsonl.gz)
if [[ ! -e ${traces[0]} ]]; then
    echo "sigma-agree: error: no trace in $shared/traces" >&2
    exit 2
fi

# The venv: Python 3.10 or newer (pySigma's floor).
venv=target/sigma-venv
req=tools/lib/sigma-agree-requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    python=${PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "sigma-agree: error: $python is missing or older than 3.10 (pySigma needs 3.10+)" >&2
        exit 2
    fi
    rm -rf "$venv"
    mkdir -p target
    if ! "$python" -m venv "$venv" 2>/dev/null; then
        # Debian's python3 keeps venv (ensurepip) in a package of its own.
        sudo=()
        [[ $(id -u) == 0 ]] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-venv
        rm -rf "$venv"
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$req"
    echo "$want" >"$stamp"
fi
"$venv/bin/python" -c 'import sigma, importlib.metadata as m; print("sigma-agree: pySigma", m.version("pysigma"), "/ SQLite backend", m.version("pysigma-backend-sqlite"), "/ Sysmon pipeline", m.version("pysigma-pipeline-sysmon"))'

build_start=$SECONDS
cargo build --quiet --profile host --example replay
replay=${CARGO_TARGET_DIR:-target}/host/examples/replay
echo "sigma-agree: replay built in $((SECONDS - build_start)) s"

args=()
for a in "$@"; do
    if [[ $a == --probes ]]; then args+=(--probes target/sigma-probes.jsonl); else args+=("$a"); fi
done
exec "$venv/bin/python" tools/lib/sigma_agree.py \
    --replay "$replay" --rules "$shared/sigma/rules" --traces "${traces[@]}" "${args[@]}"
