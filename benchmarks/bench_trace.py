"""Quality and speed of the traceability checks (issue 9) on gen_trace.py data.

    python benchmarks/bench_trace.py --out /tmp/ybqc-trace                 # quality (generates)
    python benchmarks/bench_trace.py --out /tmp/ybqc-trace-1m --lines 1000000 \
        --history-events 20000000 --perf [--runs 1]                        # speed

Quality: runs `ybqc check DIR --history DIR/.history.duckdb` in-process (facility H1) and
matches the YBQC-TRC-*/SPD-* findings to DIR/.truth.csv by (rule, fixmedins_bchno): per defect
class the share found (recall), per rule the share of its findings that are injected defects
(precision), the traps flagged (must be 0), and for duplicates against the history whether the
message names the expected taxonomy (串换 / 回流 / 假码). Prints a Markdown table and a last line
`BENCH {json}`. Targets: >= 95% of each defect class, >= 95% precision, no trap flagged.

Speed (--perf): `ybqc check DIR --history … --select YBQC-TRC --select YBQC-SPD --format json` as a
child process (wall, CPU = user + sys and peak RSS from os.wait4, the 1-minute load average
before; with --runs N the run with the least CPU) and the whole `ybqc check` without --select
(--only-trace skips it).
Target: 1,000,000 sales lines (about 1.5 codes each) against a history of 20,000,000 codes in
<= 30 s, peak RSS <= 4 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import gen_trace  # noqa: E402


def quality(out: Path) -> dict:
    import pandas as pd

    os.environ["YBQC_HISTORY_KEY"] = gen_trace.BENCH_KEY
    from ybqc.config import Config
    from ybqc.engine import run

    t0 = time.perf_counter()
    res = run([str(out)], Config(history=str(out / ".history.duckdb"), facility_code=gen_trace.FACILITY))
    secs = time.perf_counter() - t0
    f = res.findings
    f = f[f["rule"].str.startswith(("YBQC-TRC", "YBQC-SPD"))].copy()
    f["bch"] = f["key"].astype(str).str.split("/").str[0]
    truth = pd.read_csv(out / ".truth.csv", dtype=str, keep_default_na=False)
    found = set(zip(f["rule"], f["bch"]))
    rows, ok = [], True
    defects = truth[truth["rule"] != ""]
    for cls, g in defects.groupby("class", sort=False):
        hit = sum((r, b) in found for r, b in zip(g["rule"], g["fixmedins_bchno"]))
        rec = hit / len(g)
        ok &= rec >= 0.95
        rows.append({"class": cls, "rule": g["rule"].iat[0], "injected": len(g), "found": hit,
                     "recall": round(rec, 4)})
    want = set(zip(defects["rule"], defects["fixmedins_bchno"]))
    prec = []
    for rule, g in f.groupby("rule"):
        tp = sum((rule, b) in want for b in g["bch"])
        p = tp / len(g)
        ok &= p >= 0.95
        prec.append({"rule": rule, "findings": len(g), "true": tp, "precision": round(p, 4)})
    traps = truth[truth["rule"] == ""]
    trap_keys = set(traps["fixmedins_bchno"])
    flagged = f[f["bch"].isin(trap_keys)]
    ok &= len(flagged) == 0
    tax = defects[defects["class"] == "dup_history"]
    msg = dict(zip(f.loc[f["rule"] == "YBQC-TRC-005", "bch"], f.loc[f["rule"] == "YBQC-TRC-005", "message"]))
    tax_ok = sum(t in msg.get(b, "") for b, t in zip(tax["fixmedins_bchno"], tax["taxonomy"]))
    return {"seconds": round(secs, 1), "classes": rows, "precision": prec,
            "traps": {c: int(g["fixmedins_bchno"].isin(set(flagged["bch"])).sum())
                      for c, g in traps.groupby("class")},
            "trap_lines": int(len(traps)), "trap_findings": int(len(flagged)),
            "flagged_traps": flagged[["rule", "bch", "message"]].head(10).to_dict("records"),
            "taxonomy": {"right": tax_ok, "of": len(tax)}, "targets_met": bool(ok)}


def _child(cmd: list[str], env: dict) -> tuple[float, float, int, float]:
    """wall s, peak RSS MB, exit code, CPU s (user + sys) of the child."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode("utf-8", "replace") if p.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        print(err, file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


def perf(out: Path, runs: int, only_trace: bool = False) -> dict:
    env = {**os.environ, "YBQC_HISTORY_KEY": gen_trace.BENCH_KEY, "PYTHONPATH": str(ROOT)}
    res = {}
    todo = (("traceability", ["--select", "YBQC-TRC", "--select", "YBQC-SPD"]), ("full", []))
    for label, extra in todo[:1] if only_trace else todo:
        best = None
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                env["YBQC_CACHE_DIR"] = tmp
                cmd = [sys.executable, "-m", "ybqc.cli", "check", str(out), "--history",
                       str(out / ".history.duckdb"), "--format", "json", "--output",
                       str(Path(tmp) / "r.json"), "--no-progress", *extra]
                load = os.getloadavg()[0]
                wall, rss, code, cpu = _child(cmd, env)
            if code not in (0, 1):
                return {"error": f"ybqc exit {code}"}
            if best is None or cpu < best[2]:
                best = (wall, rss, cpu, load)
        res[label] = {"wall_s": round(best[0], 1), "cpu_s": round(best[2], 1),
                      "peak_rss_mb": round(best[1]), "load_1min_before": round(best[3], 1)}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--defects", type=int, default=40)
    ap.add_argument("--history-events", type=int, default=0)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="use DIR as it is (no generation)")
    ap.add_argument("--only-trace", action="store_true", help="--perf: time only the TRC/SPD run")
    a = ap.parse_args(argv)
    out = Path(a.out)
    print("load:", os.getloadavg())
    if not a.reuse:
        print("generated:", gen_trace.build(out, a.lines, a.defects, a.seed, a.history_events))
    result = {"load_before": os.getloadavg()}
    if a.perf:
        result["perf"] = perf(out, a.runs, a.only_trace)
    else:
        q = quality(out)
        result["quality"] = q
        print("| class | rule | injected | found | recall |\n|---|---|---:|---:|---:|")
        for r in q["classes"]:
            print(f"| {r['class']} | {r['rule']} | {r['injected']} | {r['found']} | {r['recall']:.1%} |")
        print("\n| rule | findings | true | precision |\n|---|---:|---:|---:|")
        for r in q["precision"]:
            print(f"| {r['rule']} | {r['findings']} | {r['true']} | {r['precision']:.1%} |")
        print(f"\ntraps: {q['trap_lines']} lines, {q['trap_findings']} flagged {q['traps']}")
        print(f"taxonomy right: {q['taxonomy']}")
    result["load_after"] = os.getloadavg()
    print("BENCH " + json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
