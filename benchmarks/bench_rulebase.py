"""Speed of the 两库 rule-base checks (issue 10) on the foundation benchmark's upload.

    python benchmarks/bench_rulebase.py --rows 1000000 --rules ../shared/data/nhsa_rules [--keep DIR] [--runs 2]
    python benchmarks/bench_rulebase.py --rows 200000 --rules ../shared/data/nhsa_rules --stages
    python benchmarks/bench_rulebase.py --rules ../shared/data/nhsa_rules --quality [--per-type 200] [--history]

Generates (or reuses, --keep) the upload of benchmarks/gen_upload.py exactly as bench_check.py
does, then times `ybqc check DIR --format json` as a child process, alternating, in the same
session on the same data:

  base       no --catalog (the foundation benchmark, bench_check.py)
  batch1     --catalog RULES --ignore YBQC-RB (the rule tables loaded, batch 1 sex/age only)
  all        --catalog RULES (all eight batches: batch 1 and the YBQC-RB checks), cold parse cache
  warm       the same with the parse cache the `all` run left (how a facility runs it the 2nd time)

and prints the best wall time of each, the overhead of `all` over `base` (the issue's budget:
<= 20%) and of `all` over `batch1` (the YBQC-RB checks alone), the YBQC-RB findings by rule, and a
last line `BENCH {json}`. --quality instead generates the labelled set of gen_rulebase.py and
prints, per rule type, the share of injected breaches found, per category the precision, and the
share of legitimate neighbours flagged (issue 10: >= 95%, >= 95%, <= 1%); with --history the
generator also writes an earlier upload, which is recorded with `ybqc history add` into a fresh
history (a temporary key), and the checked upload's cross-upload scenarios (cycle_hist,
course_hist, pay_course_hist) are counted as rule types of their own. --stages instead runs `all` in-process with a timer around each stage
(bench_check.py --stages), so the time of each rule-base check shows.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_check  # noqa: E402

CONFIGS = {"base": [], "batch1": ["--ignore", "YBQC-RB"], "all": [], "warm": []}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rules", required=True, help="folder of the NHSA rule tables (两库 b1-b8)")
    p.add_argument("--keep", metavar="DIR", help="generate into DIR (or reuse it) and keep it")
    p.add_argument("--encoding", default="gb18030")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--runs", type=int, default=1, help="timed runs per configuration (best reported)")
    p.add_argument("--stages", action="store_true", help="time each stage of the `all` run in-process")
    p.add_argument("--quality", action="store_true", help="found / precision / neighbours on gen_rulebase.py data")
    p.add_argument("--per-type", type=int, default=200, help="--quality: scenarios per rule type")
    p.add_argument("--history", action="store_true", help="--quality: with cross-upload scenarios and a history")
    a = p.parse_args(argv)
    if a.quality:
        return quality(a.rules, a.per_type, a.seed, a.history)

    rules = str(Path(a.rules).resolve())
    tmp = tempfile.mkdtemp(prefix="ybqc-bench-rb-")
    folder = a.keep or os.path.join(tmp, "data")
    out_json = os.path.join(tmp, "report.json")
    try:
        manifest = bench_check.ensure_data(a.rows, folder, a.encoding, a.seed)
        print(f"data: {folder} ({a.rows:,} fee rows, {manifest.get('visits', '?'):,} visits)")
        base_args = bench_check.check_args
        if a.stages:
            bench_check.check_args = lambda f, o: [*base_args(f, o), "--catalog", rules]
            return bench_check.stage_times(folder, out_json, os.path.join(tmp, "cache"))
        exe = bench_check.ybqc_exe()
        best: dict[str, dict] = {}
        for i in range(max(1, a.runs)):
            for name, extra in CONFIGS.items():
                cat = [] if name == "base" else ["--catalog", rules]
                bench_check.check_args = lambda f, o, x=cat + extra: [*base_args(f, o), *x]
                load = os.getloadavg()[0]
                cache = os.path.join(tmp, f"cache-{'all' if name == 'warm' else name}-{i}")
                r = bench_check.time_check(exe, folder, out_json, cache)
                if r["rc"] not in (0, 1):
                    sys.stderr.write(r["stderr"])
                    return r["rc"] if r["rc"] in (2, 3) else 3
                rep = bench_check.read_report(out_json)
                with open(out_json, encoding="utf-8") as fh:
                    doc = json.load(fh)
                r.update(load=load, findings=rep["findings"],
                         rb={k: v for k, v in rep["by_rule"].items() if k.startswith("YBQC-RB")},
                         summary=doc.get("aggregates", {}).get("rulebase", []))
                print(f"run {i + 1} {name:<6}: wall {r['wall']:.2f} s, cpu {r['user'] + r['sys']:.1f} s, "
                      f"peak RSS {r['rss_mb']:.0f} MB, load before {load:.1f}, findings {rep['findings']:,}")
                if name not in best or r["wall"] < best[name]["wall"]:
                    best[name] = r
        b, b1, al, wm = best["base"], best["batch1"], best["all"], best["warm"]
        over = 100 * (al["wall"] / b["wall"] - 1)
        over_cpu = 100 * ((al["user"] + al["sys"]) / (b["user"] + b["sys"]) - 1)
        own = 100 * (al["wall"] / b1["wall"] - 1)
        cpu = {k: v["user"] + v["sys"] for k, v in best.items()}
        over_warm = 100 * (wm["wall"] / b["wall"] - 1)
        over_warm_cpu = 100 * (cpu["warm"] / cpu["base"] - 1)
        print(f"base {b['wall']:.2f} s, batch1 {b1['wall']:.2f} s, all {al['wall']:.2f} s (best of {a.runs})")
        print(f"all eight batches over the foundation: {over:+.1f}% wall, {over_cpu:+.1f}% cpu (budget +20%)")
        print(f"  the same with a warm parse cache:      {over_warm:+.1f}% wall, {over_warm_cpu:+.1f}% cpu")
        print(f"YBQC-RB checks over batch 1 alone:      {own:+.1f}% wall, "
              f"{100 * (cpu['all'] / cpu['batch1'] - 1):+.1f}% cpu")
        print("cpu (user+sys) s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
        print("YBQC-RB findings: " + ", ".join(f"{k} {v:,}" for k, v in al["rb"].items()))
        for s in al["summary"]:
            print(f"  {s['rule_type']:<12} {s['rule']}  rules {s['rules_loaded']:>5}  rows {s['rows_checked']:>8,}"
                  f"  findings {s['findings']:>6,}  amount {s['amount']:>12,.2f}  {s.get('note', '')}")
        print("BENCH " + json.dumps({
            "rows": a.rows, "base_s": round(b["wall"], 2), "batch1_s": round(b1["wall"], 2),
            "all_s": round(al["wall"], 2), "overhead_pct": round(over, 1), "overhead_cpu_pct": round(over_cpu, 1),
            "rb_over_batch1_pct": round(own, 1), "warm_s": round(wm["wall"], 2),
            "overhead_warm_pct": round(over_warm, 1), "overhead_warm_cpu_pct": round(over_warm_cpu, 1),
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()}, "rb_findings": al["rb"],
            "load_before": {k: round(v["load"], 2) for k, v in best.items()}, "nproc": os.cpu_count(),
            "budget_met": over <= 20.0}, ensure_ascii=False))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def quality(rules: str, per_type: int, seed: int, with_history: bool = False) -> int:
    import csv

    import gen_rulebase
    from ybqc.config import Config
    from ybqc.engine import run
    from ybqc.rules import REGISTRY

    tmp = tempfile.mkdtemp(prefix="ybqc-rb-quality-")
    side = tempfile.mkdtemp(prefix="ybqc-rb-quality-history-")
    db = None
    try:
        info = gen_rulebase.generate(rules, tmp, per_type, seed, os.path.join(side, "earlier") if with_history else None)
        with open(os.path.join(tmp, ".labels.csv"), encoding="utf-8") as fh:
            labels = {r["feedetl_sn"]: r for r in csv.DictReader(fh)}
        os.environ.setdefault("YBQC_CACHE_DIR", os.path.join(side, "cache"))
        if with_history:
            from ybqc.cli import main as ybqc_main
            os.environ["YBQC_HISTORY_KEY"] = "bench-" + os.urandom(16).hex()     # a throw-away key
            db = os.path.join(side, "history.duckdb")
            if ybqc_main(["history", "add", os.path.join(side, "earlier"), "--catalog", rules, "--history", db]) != 0:
                return 3
        res = run([tmp], Config(catalogs=[rules], facility_level="二级", select=["YBQC-RB"], history=db))
        f = res.findings[res.findings["rule"].str.startswith("YBQC-RB-0")]
        flagged = {(k, r) for k, r in zip(f["key"], f["rule"])}
        cat = {rid: REGISTRY[rid].category for rid in gen_rulebase.RULE.values()}
        print(f"data: {info['fee_rows']:,} fee rows, {info['visits']:,} visits, {info['labelled']:,} labelled; "
              f"{per_type} scenarios per type, seed {seed}"
              + (f"; history {info['history_fee_rows']:,} fee rows" if with_history else ""))
        out = {"found": {}, "precision": {}, "neighbours_flagged": None}
        ok = True
        present = {l["type"] for l in labels.values()}
        for kind, rid in gen_rulebase.RULE.items():
            if kind not in present:
                continue
            br = [sn for sn, l in labels.items() if l["label"] == "breach" and l["type"] == kind]
            hit = sum((sn, rid) in flagged for sn in br)
            share = hit / len(br) if br else float("nan")
            out["found"][kind] = round(share, 4)
            ok &= share >= 0.95
            print(f"  {kind:<11} {rid}  found {hit:>5}/{len(br):<5} = {100 * share:6.2f}%")
        for c in sorted(set(cat.values())):
            rows = [(k, r) for k, r in flagged if cat.get(r) == c]
            tp = sum(1 for k, r in rows if labels.get(k, {}).get("label") == "breach"
                     and cat.get(labels[k]["rule"]) == c)
            prec = tp / len(rows) if rows else float("nan")
            out["precision"][c] = round(prec, 4)
            ok &= prec >= 0.95
            print(f"  category {c:<14} precision {tp:>5}/{len(rows):<5} = {100 * prec:6.2f}%")
        nb = [sn for sn, l in labels.items() if l["label"] == "neighbour"]
        keys = {k for k, _ in flagged}
        bad = [sn for sn in nb if sn in keys]
        share = len(bad) / len(nb)
        out["neighbours_flagged"] = round(share, 4)
        ok &= share <= 0.01
        print(f"  neighbours flagged {len(bad)}/{len(nb)} = {100 * share:.2f}%")
        print("QUALITY " + json.dumps({**out, "targets_met": ok, "seed": seed, "per_type": per_type,
                                       "history": with_history}))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(side, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
